"""Higher-order derivatives: Hessian-vector products and Newton's method, by nesting ``grad``.

Gradient rules in minitorch_ag are themselves recorded, so a gradient computed inside an
outer ``diff`` (or an outer ``grad``) can be differentiated again. This script

1. takes derivatives of derivatives of a scalar function (``grad(grad(grad(np.tanh)))``) and
   compares them with their closed forms;
2. computes Hessian-vector products ``H v = d/dx <grad f(x), v>`` in both interfaces (the
   function interface, and ``Param``s with nested ``diff``) for the Rosenbrock function and a
   quadratic, checked against the closed-form Hessians and against central differences of
   the gradient;
3. builds a whole Hessian from ``n`` products and takes (damped) Newton steps
   ``x <- x - t H^-1 grad f(x)`` on the Rosenbrock function from the classic start (-1.2, 1);
4. fits a logistic regression by Newton's method without ever forming the Hessian
   (Hessian-free: conjugate gradients on ``H p = -g`` using only Hessian-vector products).

``--epochs`` is the largest number of Newton steps (each stops once the gradient norm is
below 1e-10). The last line is the summary:

    higher_order: derivatives checked; newton: rosenbrock gradient norm 0 after 22 steps,
    logistic regression gradient norm 2.6e-13 after 6 steps
"""

import numpy as np
from _common import bar, check_device, fail, parser, plot, to_device

from minitorch_ag import Param, diff, grad, value

TOL = 1e-10  # Newton's method stops once the gradient norm is below this

# ----------------------------------------------------------------------------------------
# 1. Derivatives of derivatives
# ----------------------------------------------------------------------------------------


def check_scalar_derivatives():
    x = 0.7
    t = np.tanh(x)
    d1, d2, d3 = grad(np.tanh), grad(grad(np.tanh)), grad(grad(grad(np.tanh)))
    closed = (1 - t**2, -2 * t * (1 - t**2), (1 - t**2) * (6 * t**2 - 2))
    np.testing.assert_allclose((d1(x), d2(x), d3(x)), closed, rtol=1e-12)
    print(f"tanh at {x}: first, second and third derivatives {d1(x):.6f}, {d2(x):.6f}, "
          f"{d3(x):.6f} match their closed forms")


# ----------------------------------------------------------------------------------------
# 2. Hessian-vector products
# ----------------------------------------------------------------------------------------


def rosenbrock(x):
    return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rosenbrock_hessian(x):
    """The closed-form Hessian of ``rosenbrock``, for checking."""
    n = len(x)
    h = np.zeros((n, n))
    a, b = x[:-1], x[1:]
    i = np.arange(n - 1)
    h[i, i] += 1200 * a**2 - 400 * b + 2
    h[i + 1, i + 1] += 200
    h[i, i + 1] = h[i + 1, i] = -400 * a
    return h


def hvp(f, x, v):
    """``H v`` by the function interface: the gradient of ``<grad f(x), v>``."""
    return grad(lambda x: np.sum(grad(f)(x) * v))(x)


def hvp_tape(f, w, v):
    """``H v`` with a Param and nested ``diff``: the inner gradient is recorded by the outer
    tape (it is a tracked value), so the outer ``grad`` differentiates through it."""
    outer = diff(lambda: np.sum(grad(diff(lambda: f(w)), w) * v))
    return grad(outer, w)


def check_hessian_vector_products(rng):
    n = 6
    x = rng.standard_normal(n)
    v = rng.standard_normal(n)
    exact = rosenbrock_hessian(x) @ v
    np.testing.assert_allclose(hvp(rosenbrock, x, v), exact, rtol=1e-10)
    np.testing.assert_allclose(hvp_tape(rosenbrock, Param(x.copy()), v), exact, rtol=1e-10)
    eps = 1e-5
    g = grad(rosenbrock)
    central = (g(x + eps * v) - g(x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hvp(rosenbrock, x, v), central, rtol=1e-6, atol=1e-6)

    a = rng.standard_normal((n, n))
    a = a @ a.T
    quadratic = lambda x: 0.5 * x @ a @ x + np.sum(np.sin(x))
    np.testing.assert_allclose(hvp(quadratic, x, v), a @ v - np.sin(x) * v, rtol=1e-10)
    print(f"Hessian-vector products (n = {n}): both interfaces match the closed-form Hessians "
          f"and central differences of the gradient (|Hv| = {np.linalg.norm(exact):.3f})")


# ----------------------------------------------------------------------------------------
# 3. Newton's method with the full Hessian
# ----------------------------------------------------------------------------------------


def hessian(f, x):
    """The Hessian column by column, one Hessian-vector product per unit vector."""
    eye = np.eye(len(x))
    return np.stack([hvp(f, x, e) for e in eye], axis=1)


def newton_rosenbrock(x, steps):
    """Damped Newton: the Newton direction where it goes downhill (else the gradient's), and
    a step halved until the function falls enough (Armijo's rule); far from the minimum the
    Rosenbrock valley bends too much for full steps, near it they converge quadratically."""
    norms = []
    b = bar(range(steps), desc="newton (rosenbrock)")
    for _ in b:
        g = grad(rosenbrock)(x)
        norms.append(float(np.linalg.norm(g)))
        b.set_postfix(loss=f"{float(rosenbrock(x)):.3g}", grad_norm=f"{norms[-1]:.1e}",
                      refresh=False)
        if norms[-1] < TOL:
            break
        h = hessian(rosenbrock, x)
        np.testing.assert_allclose(h, rosenbrock_hessian(x), rtol=1e-10, atol=1e-10)
        p = -np.linalg.solve(h, g)
        if g @ p >= 0:  # the Hessian is not positive definite here: no descent direction
            p = -g
        t, fx = 1.0, rosenbrock(x)
        while rosenbrock(x + t * p) > fx + 1e-4 * t * (g @ p) and t > 1e-10:
            t /= 2
        x = x + t * p
    else:
        norms.append(float(np.linalg.norm(grad(rosenbrock)(x))))
    return x, norms


# ----------------------------------------------------------------------------------------
# 4. Hessian-free Newton: conjugate gradients on Hessian-vector products
# ----------------------------------------------------------------------------------------


def conjugate_gradient(matvec, b, iters, tol=1e-12):
    """Solve ``A p = b`` for symmetric positive definite ``A`` given only ``p -> A p``."""
    p = np.zeros_like(b)
    r = b.copy()
    d = r.copy()
    rr = r @ r
    for _ in range(iters):
        if rr < tol**2:
            break
        ad = matvec(d)
        alpha = rr / (d @ ad)
        p = p + alpha * d
        r = r - alpha * ad
        rr, rr_old = r @ r, rr
        d = r + (rr / rr_old) * d
    return p


def newton_logistic(rng, steps, device):
    n, k = 500, 20
    w_true = rng.standard_normal(k)
    x = rng.standard_normal((n, k))
    y = (rng.random(n) < 1 / (1 + np.exp(-x @ w_true))).astype(np.float64)
    x, y = to_device((x, y), device)
    # mean logistic loss with a small ridge penalty, so that the minimum is unique
    loss = lambda w: np.mean(np.logaddexp(0, x @ w) - y * (x @ w)) + 0.005 * np.sum(w**2)
    w = to_device(np.zeros(k), device)
    norms = []
    b = bar(range(steps), desc="newton-cg (logistic)")
    for _ in b:
        g = grad(loss)(w)
        norms.append(float(np.linalg.norm(g)))
        b.set_postfix(loss=f"{float(loss(w)):.4g}", grad_norm=f"{norms[-1]:.1e}",
                      refresh=False)
        if norms[-1] < TOL:
            break
        w = w + conjugate_gradient(lambda d, w=w: hvp(loss, w, d), -g, iters=k)
    else:
        norms.append(float(np.linalg.norm(grad(loss)(w))))
    return value(w), norms


def main(argv=None):
    args = parser(__doc__, epochs=30, data=False,
                  epoch="one Newton step (each run stops early once converged)").parse_args(argv)
    device = check_device(args.device)
    rng = np.random.default_rng(args.seed)
    check_scalar_derivatives()
    check_hessian_vector_products(rng)

    x_star, rb = newton_rosenbrock(np.array([-1.2, 1.0]), args.epochs)  # the classic start
    print(f"newton on rosenbrock: gradient norm {' -> '.join(f'{g:.1e}' for g in rb)}; "
          f"x = {np.round(x_star, 6)}")
    _, lr = newton_logistic(rng, args.epochs, device)
    print(f"newton-cg on logistic regression: gradient norm "
          f"{' -> '.join(f'{g:.1e}' for g in lr)}")
    if not args.no_plot:
        path = plot("higher_order.png", "Newton's method", [
            ("gradient norm", {"rosenbrock": np.maximum(rb, 1e-17),
                                           "logistic (Newton-CG)": np.maximum(lr, 1e-17)},
             "log"),
        ], xlabel="Newton step", first=0)
        print(f"learning curve: {path}")
    if not (rb[-1] < rb[0] and lr[-1] < lr[0]):
        fail("Newton's method did not reduce the gradient norm")
    print(f"higher_order: derivatives checked; newton: rosenbrock gradient norm {rb[-1]:.2g} "
          f"after {len(rb) - 1} steps, logistic regression gradient norm {lr[-1]:.2g} after "
          f"{len(lr) - 1} steps")


if __name__ == "__main__":
    main()
