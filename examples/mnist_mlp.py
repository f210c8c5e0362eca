"""An MLP on MNIST: the AutoGrad.jl README's callable ``Linear`` model, trained twice.

The model is a plain Python class holding ``Param``s (no framework base class): a stack of the
README's ``Linear`` layers with ReLUs between them. It is trained

(1) by a hand-written SGD loop: ``loss = diff(...)``, then ``axpy_(-lr, grad(loss, w), w)``
    for every ``w in params(model)``, exactly the README's loop; and
(2) from a fresh start, by ``minitorch_ag.optim.adam``, Knet's lazy training iterator.

Each epoch prints the mean training loss and the held-out accuracy; a learning curve is saved
to examples/out/mnist_mlp.png. The last line is the summary:

    mnist_mlp: sgd 96.55% adam 96.70% held-out accuracy (2000 images) in 10.0 s

Offline, MNIST's training images are not available: the 10,000 test images are then split,
the first 8,000 for training and the last 2,000 for evaluation (a note says so). The default
run reaches at least 95% held-out accuracy on that split with both optimizers (96-97% for
seeds 0, 1 and 2), in about 10 s on two lightly loaded CPU cores. The matrices are small, and
on a busy machine BLAS threads mostly wait for one another: with other jobs on the same two
cores the default run took 97 s with OpenBLAS's default threads and 15-19 s with
``OPENBLAS_NUM_THREADS=1``.
"""

import time

import numpy as np
from _common import (
    RunningMean,
    bar,
    check_device,
    check_limit,
    mnist_split,
    parser,
    plot,
    positive,
    smooth,
    to_device,
)

from minitorch_ag import Param, axpy_, diff, grad, params
from minitorch_ag.datasets import minibatch
from minitorch_ag.nn import accuracy, cross_entropy, relu
from minitorch_ag.optim import adam, progress

# ----------------------------------------------------------------------------------------
# The model: the README's callable Linear, batch-first (rows of x are samples)
# ----------------------------------------------------------------------------------------


class Linear:
    """``x @ w + b``: the README's ``struct Linear; w; b; end`` as a plain callable class."""

    def __init__(self, nin, nout, rng):
        # He initialisation: keeps the scale of ReLU activations steady from layer to layer.
        self.w = Param((rng.standard_normal((nin, nout)) * np.sqrt(2 / nin)).astype(np.float32))
        self.b = Param(np.zeros(nout, np.float32))

    def __call__(self, x):
        return x @ self.w + self.b


class MLP:
    """``Linear`` layers with a ReLU after each but the last; returns class scores."""

    def __init__(self, sizes, rng):
        self.layers = [Linear(m, n, rng) for m, n in zip(sizes[:-1], sizes[1:], strict=True)]

    def __call__(self, x):
        x = x.reshape(len(x), -1)  # images (N, 1, 28, 28) -> rows of 784 pixels
        for layer in self.layers[:-1]:
            x = relu(layer(x))
        return self.layers[-1](x)


# ----------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------


def train_sgd(model, batches, test, epochs, lr, history):
    """The README's loop: record the loss with ``diff``, step every Param with ``axpy_``."""
    running = RunningMean()
    for epoch in range(1, epochs + 1):
        steps = []
        b = bar(batches, desc=f"sgd epoch {epoch}")
        for x, y in b:
            loss = diff(lambda: cross_entropy(model(x), y))  # noqa: B023 (called right away)
            for w in params(model):
                axpy_(-lr, grad(loss, w), w)
            steps.append(loss.item())
            b.set_postfix(loss=f"{running.add(steps[-1]):.4f}", refresh=False)
        report("sgd", epoch, steps, accuracy(model, test), history)


def train_adam(model, batches, test, epochs, lr, history):
    """The same model trained by ``adam``: a lazy iterator taking one step per batch."""
    loss = lambda x, y: cross_entropy(model(x), y)
    for epoch in range(1, epochs + 1):
        steps = progress(adam(loss, batches, lr=lr), desc=f"adam epoch {epoch}", leave=False)
        report("adam", epoch, list(steps), accuracy(model, test), history)


def report(name, epoch, steps, acc, history):
    """Print the epoch's mean loss and held-out accuracy; keep every step's loss to plot."""
    loss = float(np.mean(steps))
    history[name]["loss"].extend(steps)
    history[name]["accuracy"].append(100 * acc)
    print(f"{name:4s} epoch {epoch:2d}: training loss {loss:.4f}  held-out accuracy "
          f"{100 * acc:.2f}%", flush=True)


def main(argv=None):
    p = parser(__doc__, epochs=10)
    p.add_argument("--lr-sgd", type=float, default=0.1, help="SGD learning rate (default 0.1)")
    p.add_argument("--lr-adam", type=float, default=1e-3,
                   help="Adam learning rate (default 0.001)")
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 128],
                   help="hidden layer sizes (default 256 128)")
    p.add_argument("--batchsize", type=positive, default=50, help="minibatch size (default 50)")
    p.add_argument("--limit", type=positive, default=None,
                   help="train on only the first LIMIT images (for quick tests)")
    args = p.parse_args(argv)
    check_limit(args.limit, args.batchsize)
    device = check_device(args.device)
    start = time.perf_counter()

    xtrn, ytrn, xtst, ytst = mnist_split(args.no_download)
    if args.limit:
        xtrn, ytrn = xtrn[: args.limit], ytrn[: args.limit]
    print(f"training on {len(xtrn)} images, evaluating on {len(xtst)}")
    rng = np.random.default_rng(args.seed)
    batches = minibatch(xtrn, ytrn, args.batchsize, shuffle=True, rng=rng, device=device)
    test = minibatch(xtst, ytst, 500, partial=True, device=device)
    sizes = [28 * 28, *args.hidden, 10]
    history = {name: {"loss": [], "accuracy": []} for name in ("sgd", "adam")}

    sgd_model = to_device(MLP(sizes, np.random.default_rng(args.seed)), device)
    train_sgd(sgd_model, batches, test, args.epochs, args.lr_sgd, history)
    adam_model = to_device(MLP(sizes, np.random.default_rng(args.seed)), device)
    train_adam(adam_model, batches, test, args.epochs, args.lr_adam, history)

    if not args.no_plot:
        # the loss of every step, smoothed and drawn in epochs: a curve even for one epoch
        window = max(1, min(50, len(batches) // 4))
        losses = {}
        for name, h in history.items():
            x, y = smooth(h["loss"], window)
            losses[name] = ((x + 1) / len(batches), y)
        path = plot("mnist_mlp.png", f"MLP {sizes} on MNIST", [
            (f"training loss (mean of {window} steps)", losses, "log"),
            ("held-out accuracy (%)", {k: v["accuracy"] for k, v in history.items()}),
        ])
        print(f"learning curve: {path}")
    sgd_acc, adam_acc = (history[k]["accuracy"][-1] for k in ("sgd", "adam"))
    print(f"mnist_mlp: sgd {sgd_acc:.2f}% adam {adam_acc:.2f}% held-out accuracy "
          f"({len(xtst)} images) in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
