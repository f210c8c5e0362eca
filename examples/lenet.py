"""LeNet on MNIST, trained with Adam: Knet's classic convolutional example.

The model is a plain ``nn.Chain`` of layers (conv 20 5x5, max pool 2, conv 50 5x5, max pool 2,
dense 500, dense 10, ReLU activations); ``model(x, y)`` is its softmax cross-entropy loss, so
training is Knet's one-liner ``progress(adam(model, batches))`` repeated for each epoch (the
Adam moments live on the parameters and carry over from one epoch to the next).

The data come from ``datasets.mnist_offline_split``: the usual 60,000/10,000 split when MNIST's
training images can be had, otherwise (offline, with only the test files, as on the project's CI
machine) the first 8,000 test images for training and the last 2,000 held out. Set
``MINITORCH_AG_DATA`` to a directory that holds ``mnist/t10k-*.gz``.

Prints the model's summary (each layer's output shape and parameter count), a progress bar with
the running loss, the held-out accuracy after each epoch, and a
final summary line::

    lenet: held-out accuracy 97.85% on 2000 images after 3 epochs, 8000 training images, 38.0 s

and writes the learning curve (the loss of each step, the held-out accuracy of each epoch) to
``examples/out/lenet.png`` (or ``$MINITORCH_AG_EXAMPLES_OUT``). Run
``python examples/lenet.py --help`` for the options.

Measured on the project's 2-core machine (under other load), with ``OPENBLAS_NUM_THREADS=1``:
held-out accuracy 97.85% after 3 epochs, 38 s of training. On a machine whose cores are busy,
limit the BLAS to one thread like this: OpenBLAS's waiting threads spin, and with two of them
competing for busy cores a step can take ten times longer.
"""

import time
from pathlib import Path

import numpy as np
from _common import (
    OUT,
    check_device,
    check_limit,
    mnist_split,
    parser,
    plural,
    positive,
    to_device,
)

from minitorch_ag import nn
from minitorch_ag.datasets import minibatch
from minitorch_ag.optim import adam, progress


def lenet(rng: np.random.Generator) -> nn.Chain:
    """LeNet for 1x28x28 images: two convolution + pooling stages, then two dense layers."""
    return nn.Chain(
        nn.Conv2d(1, 20, 5, activation=nn.relu, rng=rng),    # 20 x 24 x 24
        nn.MaxPool2d(2),                                      # 20 x 12 x 12
        nn.Conv2d(20, 50, 5, activation=nn.relu, rng=rng),   # 50 x 8 x 8
        nn.MaxPool2d(2),                                      # 50 x 4 x 4
        nn.Flatten(),                                         # 800
        nn.Linear(800, 500, activation=nn.relu, rng=rng),
        nn.Linear(500, 10, rng=rng),
    )


def plot(losses: list[float], accuracies: list[float], steps_per_epoch: int, path: Path) -> None:
    """The learning curve: the loss of every step, and the held-out accuracy of every epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(np.arange(1, len(losses) + 1), losses, lw=0.8, color="tab:blue", label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (cross-entropy)", color="tab:blue")
    if max(losses) > 10 * min(losses):  # a log axis only where the loss spans a decade
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    acc_ax = ax.twinx()
    ends = steps_per_epoch * np.arange(1, len(accuracies) + 1)
    acc_ax.plot(ends, accuracies, "o-", color="tab:red", label="held-out accuracy")
    for x, a in zip(ends, accuracies, strict=True):  # the values, readable even for one epoch
        acc_ax.annotate(f"{a:.1f}%", (x, a), textcoords="offset points", xytext=(-10, 6),
                        ha="right", color="tab:red")
    acc_ax.set_ylabel("held-out accuracy (%)", color="tab:red")
    acc_ax.set_ylim(max(0, min(accuracies) - 5), min(100, max(accuracies) + 5))
    ax.set_title("LeNet on MNIST, Adam")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> float:
    p = parser(__doc__, epochs=3, lr=1e-3, lr_help="Adam's learning rate")
    p.add_argument("--batchsize", type=positive, default=64, help="minibatch size (default 64)")
    p.add_argument("--limit", type=positive, default=None,
                   help="use only the first LIMIT training images (for quick runs)")
    args = p.parse_args(argv)
    check_limit(args.limit, args.batchsize)
    device = check_device(args.device)

    rng = np.random.default_rng(args.seed)
    model = lenet(rng)
    print(nn.summary(model, np.zeros((1, 1, 28, 28), np.float32)))  # layers, shapes, counts
    model = to_device(model, device)
    xtrn, ytrn, xtst, ytst = mnist_split(args.no_download)
    if args.limit is not None:
        xtrn, ytrn = xtrn[: args.limit], ytrn[: args.limit]
    train = minibatch(xtrn, ytrn, args.batchsize, shuffle=True, rng=rng, device=device)
    test = minibatch(xtst, ytst, 500, partial=True, device=device)

    losses: list[float] = []
    accuracies: list[float] = []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        steps = progress(adam(model, train, lr=args.lr), desc=f"epoch {epoch}", leave=False)
        losses.extend(steps)
        accuracies.append(100 * nn.accuracy(model, test))
        print(f"epoch {epoch}: last loss {losses[-1]:.4f}, held-out accuracy "
              f"{accuracies[-1]:.2f}%", flush=True)
    seconds = time.perf_counter() - start
    curve = ""
    if not args.no_plot:
        path = OUT / "lenet.png"
        plot(losses, accuracies, len(train), path)
        curve = f" (learning curve: {path})"
    print(f"lenet: held-out accuracy {accuracies[-1]:.2f}% on {len(xtst)} images after "
          f"{plural(args.epochs, 'epoch')}, {len(xtrn)} training images, {seconds:.1f} s{curve}")
    return accuracies[-1]


if __name__ == "__main__":
    main()
