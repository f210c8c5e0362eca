"""Linear regression, the example from AutoGrad.jl's README, in both interfaces.

The data are synthetic, shaped like the UCI housing table (13 standardized features, a target
around 22.5): ``y = x @ w_true + b_true + noise``. The same model is trained twice by minibatch
SGD on the mean squared error:

(a) the new interface: a callable ``Linear`` model whose weights are ``Param``s, a loss recorded
    with ``diff``, and ``grad(loss, w)`` / ``axpy_`` over ``params(model)``;
(b) the old interface: a plain ``loss(w, x, y)`` function of a list ``w = [W, b]`` of arrays,
    differentiated with ``gradfun = grad(loss)``.

Each interface prints its loss every few epochs and a summary line,

    new interface: loss 525.5 -> 0.2524 in 20 epochs

and both learning curves are drawn into examples/out/linear_regression.png. The script exits
with an error if either run fails to lower the loss at least tenfold.
"""

import numpy as np
from _common import bar, check_device, parser, plot, plural, say, to_device

from minitorch_ag import Param, axpy_, diff, grad, params, value

NSAMPLES, NFEATURES, BATCHSIZE = 1000, 13, 100


class Linear:
    """A callable model ``x @ w + b``; batch-first input: rows of ``x`` are samples."""

    def __init__(self, nin, nout, rng):
        self.w = Param(0.1 * rng.standard_normal((nin, nout)))
        self.b = Param(np.zeros(nout))

    def __call__(self, x):
        return x @ self.w + self.b


def make_data(rng):
    """Synthetic regression data: ``x`` is (NSAMPLES, NFEATURES), ``y`` is (NSAMPLES, 1)."""
    x = rng.standard_normal((NSAMPLES, NFEATURES))
    w_true = rng.standard_normal((NFEATURES, 1))
    b_true = 22.5
    y = x @ w_true + b_true + 0.5 * rng.standard_normal((NSAMPLES, 1))
    return x, y


def minibatches(x, y, rng):
    """Yield shuffled ``(x, y)`` batches of BATCHSIZE rows covering the data once."""
    order = rng.permutation(len(x))
    for start in range(0, len(x), BATCHSIZE):
        idx = order[start : start + BATCHSIZE]
        yield x[idx], y[idx]


def should_report(epoch, epochs):
    """Report the first epoch, about five more, and the last."""
    return epoch == 1 or epoch == epochs or epoch % max(1, epochs // 5) == 0


def sgd_step(model, x, y, lr):
    """One SGD step on a batch: record the loss with ``diff``, then update every Param."""
    loss = diff(lambda: np.mean((model(x) - y) ** 2))
    for w in params(model):
        axpy_(-lr, grad(loss, w), w)  # w.value += -lr * gradient, in place
    return loss


def train_new(x, y, epochs, lr, rng, device="cpu"):
    """New interface: Params in a callable model, ``diff`` then ``grad(loss, w)``."""
    model = to_device(Linear(NFEATURES, 1, rng), device)
    mse = lambda: float(np.mean((model(x) - y) ** 2))  # outside diff(): plain NumPy values
    losses = [mse()]
    say(f"new interface: epoch {0:3d}  loss {losses[0]:.4f}")
    b = bar(range(1, epochs + 1), desc="new interface")
    for epoch in b:
        for xb, yb in minibatches(x, y, rng):
            loss = sgd_step(model, xb, yb, lr)
        losses.append(mse())
        b.set_postfix(loss=f"{losses[-1]:.4g}", refresh=False)
        if should_report(epoch, epochs):
            say(
                f"new interface: epoch {epoch:3d}  loss {losses[-1]:.4f}"
                f"  (last batch {float(value(loss)):.4f})"
            )
    return losses


def loss(w, x, y):
    """Mean squared error of the linear model ``w = [W, b]`` on ``(x, y)``."""
    ypred = x @ w[0] + w[1]
    return np.mean((ypred - y) ** 2)


def train_old(x, y, epochs, lr, rng, device="cpu"):
    """Old interface: ``gradfun = grad(loss)`` gives d loss / d w with w's structure."""
    w = to_device([0.1 * rng.standard_normal((NFEATURES, 1)), np.zeros(1)], device)
    gradfun = grad(loss)
    losses = [float(loss(w, x, y))]
    say(f"old interface: epoch {0:3d}  loss {losses[0]:.4f}")
    b = bar(range(1, epochs + 1), desc="old interface")
    for epoch in b:
        for xb, yb in minibatches(x, y, rng):
            g = gradfun(w, xb, yb)
            for i in range(len(w)):
                w[i] -= lr * g[i]
        losses.append(float(loss(w, x, y)))
        b.set_postfix(loss=f"{losses[-1]:.4g}", refresh=False)
        if should_report(epoch, epochs):
            say(f"old interface: epoch {epoch:3d}  loss {losses[-1]:.4f}")
    return losses


def summarize(name, losses, epochs):
    first, last = losses[0], losses[-1]
    print(f"{name} interface: loss {first:.4g} -> {last:.4g} in {plural(epochs, 'epoch')}")
    if not np.isfinite(last) or last * 10 > first:
        raise SystemExit(f"{name} interface: the loss did not fall tenfold ({first} -> {last})")


def main(argv=None):
    args = parser(__doc__, epochs=20, lr=0.1, data=False).parse_args(argv)
    device = check_device(args.device)

    rng = np.random.default_rng(args.seed)
    x, y = to_device(make_data(rng), device)
    new = train_new(x, y, args.epochs, args.lr, rng, device)
    old = train_old(x, y, args.epochs, args.lr, rng, device)
    if not args.no_plot:
        curves = {"new interface": new, "old interface": old}
        path = plot("linear_regression.png", "Linear regression (synthetic data)",
                    [("mean squared error", curves, "log")], first=0)
        print(f"learning curve: {path}")
    summarize("new", new, args.epochs)
    summarize("old", old, args.epochs)


if __name__ == "__main__":
    main()
