"""Extending minitorch_ag with a new primitive: the AutoGrad.jl README's ``hypot`` example.

AutoGrad.jl's README defines ``@primitive hypot(x1, x2),dy,y (dy.*x1./y) (dy.*x2./y)``. This
script does the same with ``ag.primitive`` and shows why one would:

- a function the tape cannot see into (here ``math.hypot`` applied element by element, as code
  from a C library would be) cannot be recorded: turning the tracked argument into a plain
  array is refused, since its gradient would be lost;
- a function the tape *can* trace, such as a hypot that scales by the larger magnitude to
  avoid overflow, records every operation inside it (and the gradients of ``max``/``min``);
  as a primitive it is one node with the README's two-line gradient;
- since the rules are written with NumPy operations on their inputs, the primitive's own
  gradients are differentiable: second derivatives work. Everything is checked with
  ``ag.gradcheck`` against finite differences, and against the library's rule for
  ``np.hypot``.

Then the primitive is put to work: the geometric median of a cloud of points (the point whose
mean distance to them is least) is found by ``--epochs`` steps of gradient descent on
``mean(hypot(px - x, py - y))``, and compared with Weiszfeld's fixed-point iteration. The last
line is the summary:

    custom_primitive: gradcheck passed (orders 1 and 2); geometric median within 1.7e-10 of
    Weiszfeld's after 200 steps
"""

import math

import numpy as np
from _common import bar, check_device, fail, parser, plot, to_device

import minitorch_ag as ag
from minitorch_ag import Param, axpy_, diff, grad


def stable_hypot(x1, x2):
    """``sqrt(x1^2 + x2^2)`` without overflow: the larger magnitude times ``sqrt(1 + r^2)``,
    ``r <= 1`` the ratio of the smaller to the larger (plain NumPy: CPU or GPU arrays)."""
    a, b = np.abs(x1), np.abs(x2)
    big, small = np.maximum(a, b), np.minimum(a, b)
    ratio = small / np.where(big == 0, 1.0, big)
    return big * np.sqrt(1 + ratio**2)


# The README's primitive: one gradient rule per argument, dy * x1 / y and dy * x2 / y.
hypot = ag.primitive(stable_hypot,
                     lambda dy, y, x1, x2: dy * x1 / y,
                     lambda dy, y, x1, x2: dy * x2 / y,
                     name="hypot")


def show_the_error_without_a_rule():
    """Recording an opaque function is refused, and the message says how to fix it."""
    opaque = np.vectorize(math.hypot, otypes=[np.float64])  # converts its arguments to arrays
    x = Param(np.array([3.0, 5.0]))
    try:
        diff(lambda: np.sum(opaque(x, 4.0)))
    except TypeError as e:
        print(f"math.hypot element by element, recorded: TypeError: {str(e).split(': ')[0]}")
    else:
        fail("recording an opaque function should have raised TypeError")


def compare_the_tapes():
    """The traced function records every operation; the primitive records one node."""
    x = Param(np.array([3.0, 1e200]))
    y = np.array([4.0, 1e200])
    traced = diff(lambda: np.sum(stable_hypot(x, y)))
    prim = diff(lambda: np.sum(hypot(x, y)))
    print(f"stable_hypot traced: {len(ag.nodes(traced))} nodes; as a primitive: "
          f"{len(ag.nodes(prim))} nodes (the Param, hypot, sum):")
    ag.show(prim)
    g = grad(prim, x)
    np.testing.assert_allclose(g, grad(traced, x), rtol=1e-12)
    np.testing.assert_allclose(g, [0.6, math.sqrt(0.5)], rtol=1e-12)
    print(f"gradient at (3, 4) and (1e200, 1e200): {g} (no overflow)")


def check_gradients(rng):
    """The primitive's gradients, checked by finite differences and against np.hypot's."""
    x1 = rng.standard_normal((3, 4))
    x2 = rng.standard_normal(4) + 2.0  # broadcast: its gradient is summed back to (4,)
    f = lambda a, b: np.sum(np.sin(hypot(a, b)) * a)
    ag.gradcheck(f, x1, x2)
    ag.gradcheck(f, x1, x2, order=2)
    ag.gradcheck(lambda a: hypot(a, 4.0), 3.0)  # numbers too
    ours = grad(f, argnum=(0, 1))(x1, x2)
    builtin = grad(lambda a, b: np.sum(np.sin(np.hypot(a, b)) * a), argnum=(0, 1))(x1, x2)
    for g, h in zip(ours, builtin, strict=True):
        np.testing.assert_allclose(g, h, rtol=1e-12)
    d2 = grad(grad(lambda a: hypot(a, 4.0)))(3.0)
    np.testing.assert_allclose(d2, 16 / 125, rtol=1e-12)
    print(f"hypot(3, 4) = {float(hypot(3.0, 4.0))}, d/dx1 = {grad(lambda a: hypot(a, 4.0))(3.0)}"
          f", d2/dx1^2 = {d2:.4f} (16/125 = 0.128)")
    print("gradcheck: first and second derivatives match finite differences, and the "
          "gradients match np.hypot's built-in rule")


def weiszfeld(px, py, steps=500):
    """The geometric median by Weiszfeld's iteration: the mean weighted by 1 / distance."""
    x, y = px.mean(), py.mean()
    for _ in range(steps):
        w = 1 / np.maximum(np.hypot(px - x, py - y), 1e-12)
        x, y = np.sum(w * px) / np.sum(w), np.sum(w * py) / np.sum(w)
    return np.array([x, y])


def main(argv=None):
    args = parser(__doc__, epochs=200, lr=0.3, data=False,
                  epoch="one gradient-descent step").parse_args(argv)
    device = check_device(args.device)
    rng = np.random.default_rng(args.seed)

    show_the_error_without_a_rule()
    compare_the_tapes()
    check_gradients(rng)

    # a skewed cloud: the median differs from the mean, which outliers pull away
    px = np.concatenate([rng.standard_normal(150), 6 + 2 * rng.standard_normal(50)])
    py = np.concatenate([rng.standard_normal(150), -4 + rng.standard_normal(50)])
    target = weiszfeld(px, py)
    mean = np.array([px.mean(), py.mean()])
    px, py = to_device((px, py), device)
    m = to_device(Param(mean.copy()), device)  # start from the mean
    total = lambda: np.mean(hypot(px - m[0], py - m[1]))  # mean distance to the points
    losses, errors = [float(total())], []
    b = bar(range(args.epochs), desc="geometric median")
    for _ in b:
        loss = diff(total)
        axpy_(-args.lr, grad(loss, m), m)
        losses.append(loss.item())
        b.set_postfix(loss=f"{losses[-1]:.6g}", refresh=False)
        errors.append(float(np.linalg.norm(to_device(ag.value(m), "cpu") - target)))
    found = to_device(ag.value(m), "cpu")
    print(f"mean of the points ({mean[0]:.3f}, {mean[1]:.3f}); geometric median by gradient "
          f"descent ({found[0]:.4f}, {found[1]:.4f}), by Weiszfeld ({target[0]:.4f}, "
          f"{target[1]:.4f})")
    if not args.no_plot:
        path = plot("custom_primitive.png", "Geometric median by gradient descent on hypot", [
            ("mean distance", {"gradient descent": losses}),
            ("distance to Weiszfeld's median", {"gradient descent": errors}, "log"),
        ], xlabel="step", first=0)
        print(f"learning curve: {path}")
    print(f"custom_primitive: gradcheck passed (orders 1 and 2); geometric median within "
          f"{errors[-1]:.2g} of Weiszfeld's after {args.epochs} steps")


if __name__ == "__main__":
    main()
