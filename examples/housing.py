"""The AutoGrad.jl README's linear regression on the UCI housing table, in both interfaces.

The README's code, nearly word for word: ``loss(w)`` reads the training data from globals,
``train(w)`` makes ``gradfun = grad(loss)`` and steps ``w[i] -= lr * g[i]`` (the old
interface). Then the same model is written the new way: a callable ``Linear`` object holding
``Param``s, ``diff`` to record the loss and ``axpy_`` to step each of ``params(model)``. Both
use full-batch gradient descent on the mean squared error, 80% of the 506 rows for training
and 20% held out, and print the error as a root mean square in $1000s, every few epochs and
in a summary line per interface:

    housing: old interface rmse train <rmse> test <rmse> ($1000s) after 100 epochs

The learning curves go to examples/out/housing.png.

Data: ``minitorch_ag.datasets.housing`` downloads the table (housing.data, from the UCI
archive) on first use and caches it. Offline, with the table not cached, the script prints the
loader's message (which file is missing, where it was looked for, how to provide it) and exits
with status 1: it does not fall back to made-up data, since a regression fitted to synthetic
numbers would say nothing about house prices (examples/linear_regression.py is that example).
``--file PATH`` reads the table from a local copy of housing.data instead.
"""

import numpy as np
from _common import bar, check_device, fail, load_data, parser, plot, plural, say, to_device

from minitorch_ag import Param, axpy_, diff, grad, params
from minitorch_ag.datasets import housing, read_housing

xtrn = ytrn = None  # the training data, global as in the README's example

# ----------------------------------------------------------------------------------------
# Old interface: the README's loss(w) and train(w)
# ----------------------------------------------------------------------------------------


def loss(w):
    """The mean squared error of ``w = [W, b]`` on the (global) training data."""
    ypred = xtrn @ w[0] + w[1]
    return np.sum((ypred - ytrn) ** 2) / len(ypred)


def train(w, lr=0.1, epochs=20, callback=None):
    """Gradient descent: ``gradfun`` returns d loss / d w with the structure of ``w``."""
    gradfun = grad(loss)
    b = bar(range(1, epochs + 1), desc="old interface")
    for epoch in b:
        g = gradfun(w)
        for i in range(len(w)):
            w[i] -= lr * g[i]
        b.set_postfix(loss=f"{float(loss(w)):.4g}", refresh=False)
        if callback:
            callback(epoch)
    return w


# ----------------------------------------------------------------------------------------
# New interface: a callable model with Params
# ----------------------------------------------------------------------------------------


class Linear:
    """``x @ w + b``, the README's ``struct Linear; w; b; end``, batch-first."""

    def __init__(self, w, b):
        self.w, self.b = Param(w), Param(b)

    def __call__(self, x):
        return x @ self.w + self.b


def train_model(model, x, y, lr=0.1, epochs=20, callback=None):
    """The README's SGD loop, over one batch holding all the training rows."""
    b = bar(range(1, epochs + 1), desc="new interface")
    for epoch in b:
        loss = diff(lambda: np.mean((model(x) - y) ** 2))
        for w in params(model):
            axpy_(-lr, grad(loss, w), w)
        b.set_postfix(loss=f"{loss.item():.4g}", refresh=False)
        if callback:
            callback(epoch)
    return model


# ----------------------------------------------------------------------------------------
# Data, reporting, main
# ----------------------------------------------------------------------------------------


def load(args):
    """Standardized features ``(506, 13)`` and prices ``(506, 1)``."""
    if args.file:
        try:
            table = read_housing(args.file)
        except (OSError, ValueError) as e:
            fail(f"cannot read the housing table from {args.file}: {e}")
        x, y = table[:, :13], table[:, 13]
        x = (x - x.mean(axis=0)) / x.std(axis=0)
    else:
        x, y = load_data(housing, "The housing table", args.no_download,
                         alternative="pass --file PATH to a copy of housing.data")
    return x, y[:, None]


def rmse(predict, x, y):
    return float(np.sqrt(np.mean((predict(x) - y) ** 2)))


def main(argv=None):
    p = parser(__doc__, epochs=100, lr=0.1,
               epoch="one gradient-descent step on all the training rows")
    p.add_argument("--file", help="read the table from this copy of housing.data")
    args = p.parse_args(argv)
    device = check_device(args.device)

    global xtrn, ytrn
    x, y = load(args)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(x))
    ntrn = int(0.8 * len(x))
    xtrn, ytrn, xtst, ytst = to_device(
        (x[order[:ntrn]], y[order[:ntrn]], x[order[ntrn:]], y[order[ntrn:]]), device)
    print(f"housing: {ntrn} training and {len(x) - ntrn} test rows, 13 features")
    w0 = [0.1 * rng.standard_normal((13, 1)), np.zeros(1)]
    report_every = max(1, args.epochs // 5)
    curves = {}

    def tracker(name, predict):
        curve = curves[name] = {"train": [], "test": []}

        def callback(epoch):
            curve["train"].append(rmse(predict, xtrn, ytrn))
            curve["test"].append(rmse(predict, xtst, ytst))
            if epoch % report_every == 0 or epoch in (0, args.epochs):
                say(f"{name} interface: epoch {epoch:3d}  rmse train "
                           f"{curve['train'][-1]:.3f} test {curve['test'][-1]:.3f}")
        return callback

    w = to_device([a.copy() for a in w0], device)
    old = tracker("old", lambda x: x @ w[0] + w[1])
    old(0)
    train(w, lr=args.lr, epochs=args.epochs, callback=old)

    model = to_device(Linear(*(a.copy() for a in w0)), device)
    new = tracker("new", model)
    new(0)
    train_model(model, xtrn, ytrn, lr=args.lr, epochs=args.epochs, callback=new)

    if not args.no_plot:
        panels = [(f"rmse ($1000s), {split}", {f"{k} interface": v[split] for k, v in
                                               curves.items()}) for split in ("train", "test")]
        print(f"learning curve: {plot('housing.png', 'Housing', panels, first=0)}")
    for name, curve in curves.items():
        print(f"housing: {name} interface rmse train {curve['train'][-1]:.2f} test "
              f"{curve['test'][-1]:.2f} ($1000s) after {plural(args.epochs, 'epoch')}")
        if not curve["train"][-1] < curve["train"][0]:
            fail(f"the {name} interface did not lower the training error")


if __name__ == "__main__":
    main()
