"""Value and pullback, AutoDiffSource.jl's API: ``z, back = ag.vjp(f, x, y)``.

AutoDiffSource.jl's ``@δ f(x, y)`` generates ``δf``, which returns the value and a closure
``∇f`` that maps the gradient of the output(s) to the gradients of the arguments. In
minitorch_ag that is ``ag.vjp``. This script goes through the README's examples in order:

- ``f(x, y) = (x + 2y) y^2``: one output; ``∂x, ∂y = back(1.0)``;
- ``f2(x, y)`` with two outputs ``q + y, q - x``: ``back(∂z, ∂t)`` takes one cotangent each;
- ``div`` with a hand-written gradient (``δdiv`` in the README) is ``ag.primitive``, and a
  building block for ``f3(x, y) = div(x, y) + y``;
- the Rosenbrock function, through slices ``x[:-1]`` and ``x[1:]``;
- ``f4(x, c) = sum(c * x)`` with ``const=(1,)``: ``c``'s gradient is not computed (None);
- the autoencoder's reconstruction error with the input held constant, ``const=(5,)``.

Every pullback is checked: with ``ag.gradcheck`` (finite differences) on the function it
differentiates, and against closed forms where the README's functions have simple ones. Then
the autoencoder is trained for ``--epochs`` steps of gradient descent using only ``back()``,
and the Rosenbrock function minimised the same way. The last line is the summary:

    vjp: 6 examples checked; autoencoder error 1.35 -> 0.0712, rosenbrock 15 -> 2.94 in
    300 steps
"""

import numpy as np
from _common import bar, check_device, parser, plot, plural, to_device

import minitorch_ag as ag

# ----------------------------------------------------------------------------------------
# The README's functions, as plain NumPy code
# ----------------------------------------------------------------------------------------


def f(x, y):
    return (x + 2 * y) * y**2


def f2(x, y):
    q = f(x * y, y) * x
    return q + y, q - x


# δdiv(x, y) = (x/y, z -> (z/y, -z*x/y^2)): a function with its own gradient is a primitive
div = ag.primitive(lambda x, y: x / y,
                   lambda dz, z, x, y: dz / y,
                   lambda dz, z, x, y: -dz * x / y**2,
                   name="div")


def f3(x, y):
    return div(x, y) + y


def rosenbrock(x):
    a, b = x[:-1], x[1:]
    return np.sum(100 * (b - a**2) ** 2 + (1 - a) ** 2)


def f4(x, c):
    return np.sum(c * x)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def autoencoder(We1, We2, Wd, b1, b2, input):
    """Encode to two sigmoid layers, decode with one; batch-first (``x @ W.T`` is ``W x``)."""
    first = sigmoid(input @ We1.T + b1)
    encoded = sigmoid(first @ We2.T + b2)
    return sigmoid(encoded @ Wd.T)


def autoencoder_error(We1, We2, Wd, b1, b2, input):
    return np.sum((input - autoencoder(We1, We2, Wd, b1, b2, input)) ** 2)


# ----------------------------------------------------------------------------------------
# The checks
# ----------------------------------------------------------------------------------------


def close(a, b, what):
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=what)


def check_f(rng):
    x, y = rng.standard_normal(2)
    z, back = ag.vjp(f, x, y)
    dx, dy = back(1.0)
    close(z, (x + 2 * y) * y**2, "f's value")
    close((dx, dy), (y**2, 2 * y**2 + 2 * y * (x + 2 * y)), "f's pullback, closed form")
    ag.gradcheck(f, x, y, order=2)
    print(f"f(x, y) = (x + 2y) y^2 at ({x:.3f}, {y:.3f}): z = {z:.4f}, (∂x, ∂y) = "
          f"({dx:.4f}, {dy:.4f})")


def check_f2(rng):
    x, y = rng.standard_normal((2, 3))  # arrays work as numbers do
    dz, dt = rng.standard_normal((2, 3))
    (z, t), back = ag.vjp(f2, x, y)
    dx, dy = back(dz, dt)
    weighted = lambda x, y: np.sum(dz * f2(x, y)[0] + dt * f2(x, y)[1])
    ag.gradcheck(weighted, x, y, order=2)
    for got, want in zip((dx, dy), ag.grad(weighted, argnum=(0, 1))(x, y), strict=True):
        close(got, want, "f2's pullback")
    _, back_z_only = ag.vjp(f2, x, y)
    dx_z, _ = back_z_only(dz, None)  # None: that output's cotangent is zero
    close(dx_z, ag.grad(lambda x: np.sum(dz * f2(x, y)[0]))(x), "f2 with ∂t = None")
    print(f"f2: two outputs of shape {z.shape}; back(∂z, ∂t) checked, and back(∂z, None)")


def check_div_f3(rng):
    x, y = rng.standard_normal(2) + np.array([0.0, 3.0])  # keep y away from 0
    z, back = ag.vjp(f3, x, y)
    dx, dy = back(1.0)
    close((dx, dy), (1 / y, -x / y**2 + 1), "f3's pullback, closed form")
    ag.gradcheck(f3, x, y, order=2)
    print(f"f3(x, y) = div(x, y) + y with div's own gradient: (∂x, ∂y) = ({dx:.4f}, {dy:.4f})")


def check_rosenbrock(rng):
    x = rng.standard_normal(3)
    z, back = ag.vjp(rosenbrock, x)
    (dx,) = back()  # no cotangent: 1 for a scalar output
    ag.gradcheck(rosenbrock, x, order=2)
    close(dx, ag.grad(rosenbrock)(x), "rosenbrock's pullback")
    print(f"rosenbrock at {np.round(x, 3)}: {z:.4f}, gradient {np.round(dx, 4)}")


def check_f4(rng):
    x, c = rng.standard_normal((2, 4))
    z, back = ag.vjp(f4, x, c, const=(1,))
    dx, dc = back()
    assert dc is None, "a const argument gets no gradient"
    close(dx, c, "f4's pullback")
    print("f4(x, c) = sum(c x) with const=(1,): ∂x = c, and ∂c is None")


def autoencoder_weights(rng, n, h1, h2):
    return [rng.standard_normal((h1, n)), rng.standard_normal((h2, h1)),
            rng.standard_normal((n, h2)), rng.standard_normal(h1), rng.standard_normal(h2)]


def check_autoencoder(rng):
    weights = autoencoder_weights(rng, 3, 3, 3)
    x = rng.random(3)
    ag.gradcheck(autoencoder_error, *weights, x)
    value, back = ag.vjp(autoencoder_error, *weights, x, const=(5,))
    grads = back()
    assert grads[5] is None
    want = ag.grad(autoencoder_error, argnum=(0, 1, 2, 3, 4))(*weights, x)
    for g, w in zip(grads[:5], want, strict=True):
        close(g, w, "autoencoder's pullback")
    print(f"autoencoder error {value:.4f}; gradients of We1, We2, Wd, b1, b2 checked, input "
          f"const")


# ----------------------------------------------------------------------------------------
# Training with pullbacks
# ----------------------------------------------------------------------------------------


def descend(fun, args, lr, epochs, desc, const=()):
    """Gradient descent on ``fun(*args)``, with gradients from ``ag.vjp``'s pullback."""
    args = list(args)
    losses = []
    b = bar(range(epochs), desc=desc)
    for _ in b:
        value, back = ag.vjp(fun, *args, const=const)
        losses.append(float(value))
        b.set_postfix(loss=f"{losses[-1]:.4g}", refresh=False)
        for i, g in enumerate(back()):
            if g is not None:
                args[i] = args[i] - lr * g
    losses.append(float(fun(*args)))
    return losses


def main(argv=None):
    args = parser(__doc__, epochs=300, data=False,
                  epoch="one gradient-descent step").parse_args(argv)
    device = check_device(args.device)
    rng = np.random.default_rng(args.seed)
    checks = [check_f, check_f2, check_div_f3, check_rosenbrock, check_f4, check_autoencoder]
    for check in checks:
        check(rng)

    # Data near a 2-D surface in 8-D: an autoencoder with a 2-unit code can reconstruct it.
    codes = rng.random((200, 2))
    data = sigmoid(4 * (codes @ rng.standard_normal((2, 8))))
    weights = [w * 0.5 for w in autoencoder_weights(rng, 8, 6, 2)]
    data, weights = to_device((data, weights), device)
    mean_error = lambda *a: autoencoder_error(*a) / len(data)
    ae = descend(mean_error, [*weights, data], 2.0, args.epochs, "autoencoder", const=(5,))
    rb = descend(rosenbrock, [to_device(np.array([-0.5, 0.5, 0.5]), device)], 1e-3,
                 args.epochs, "rosenbrock")
    if not args.no_plot:
        path = plot("vjp.png", "Gradient descent with pullbacks", [
            ("autoencoder error per sample", {"autoencoder": ae}),
            ("rosenbrock", {"rosenbrock": rb}, "log"),
        ], xlabel="gradient-descent step", first=0)
        print(f"learning curve: {path}")
    print(f"vjp: {len(checks)} examples checked; autoencoder error {ae[0]:.3g} -> {ae[-1]:.3g}, "
          f"rosenbrock {rb[0]:.3g} -> {rb[-1]:.3g} in {plural(args.epochs, 'step')}")


if __name__ == "__main__":
    main()
