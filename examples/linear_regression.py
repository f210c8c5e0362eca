"""Linear regression, the example from AutoGrad.jl's README, in both interfaces.

The data are synthetic, shaped like the UCI housing table (13 standardized features, a target
around 22.5): ``y = x @ w_true + b_true + noise``. The same model is trained twice by minibatch
SGD on the mean squared error:

(a) the new interface: a callable ``Linear`` model whose weights are ``Param``s, a loss recorded
    with ``diff``, and ``grad(loss, w)`` / ``axpy_`` over ``params(model)``;
(b) the old interface: a plain ``loss(w, x, y)`` function of a list ``w = [W, b]`` of arrays,
    differentiated with ``gradfun = grad(loss)``.

Run ``python examples/linear_regression.py --help`` for the options. The script exits with an
error if either run fails to lower the loss at least tenfold.
"""

import argparse

import numpy as np

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


def train_new(x, y, epochs, lr, rng):
    """New interface: Params in a callable model, ``diff`` then ``grad(loss, w)``."""
    model = Linear(NFEATURES, 1, rng)
    mse = lambda: float(np.mean((model(x) - y) ** 2))  # outside diff(): plain NumPy values
    losses = [mse()]
    print(f"new interface: epoch {0:3d}  loss {losses[0]:.4f}")
    for epoch in range(1, epochs + 1):
        for xb, yb in minibatches(x, y, rng):
            loss = sgd_step(model, xb, yb, lr)
        losses.append(mse())
        if should_report(epoch, epochs):
            print(
                f"new interface: epoch {epoch:3d}  loss {losses[-1]:.4f}"
                f"  (last batch {float(value(loss)):.4f})"
            )
    return losses


def loss(w, x, y):
    """Mean squared error of the linear model ``w = [W, b]`` on ``(x, y)``."""
    ypred = x @ w[0] + w[1]
    return np.mean((ypred - y) ** 2)


def train_old(x, y, epochs, lr, rng):
    """Old interface: ``gradfun = grad(loss)`` gives d loss / d w with w's structure."""
    w = [0.1 * rng.standard_normal((NFEATURES, 1)), np.zeros(1)]
    gradfun = grad(loss)
    losses = [float(loss(w, x, y))]
    print(f"old interface: epoch {0:3d}  loss {losses[0]:.4f}")
    for epoch in range(1, epochs + 1):
        for xb, yb in minibatches(x, y, rng):
            g = gradfun(w, xb, yb)
            for i in range(len(w)):
                w[i] -= lr * g[i]
        losses.append(float(loss(w, x, y)))
        if should_report(epoch, epochs):
            print(f"old interface: epoch {epoch:3d}  loss {losses[-1]:.4f}")
    return losses


def summarize(name, losses, epochs):
    first, last = losses[0], losses[-1]
    print(f"{name} interface: loss {first:.4g} -> {last:.4g} in {epochs} epochs")
    if not np.isfinite(last) or last * 10 > first:
        raise SystemExit(f"{name} interface: the loss did not fall tenfold ({first} -> {last})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="passes over the data (20)")
    parser.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (0.1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")

    rng = np.random.default_rng(args.seed)
    x, y = make_data(rng)
    new = train_new(x, y, args.epochs, args.lr, rng)
    old = train_old(x, y, args.epochs, args.lr, rng)
    summarize("new", new, args.epochs)
    summarize("old", old, args.epochs)


if __name__ == "__main__":
    main()
