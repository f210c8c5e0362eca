"""LeNet on MNIST, trained with Adam: Knet's classic convolutional example.

The model is a plain ``nn.Chain`` of layers (conv 20 5x5, max pool 2, conv 50 5x5, max pool 2,
dense 500, dense 10, ReLU activations); ``model(x, y)`` is its softmax cross-entropy loss, so
training is Knet's one-liner ``progress(adam(model, batches))`` repeated for each epoch (the
Adam moments live on the parameters and carry over from one epoch to the next).

The data come from ``datasets.mnist_offline_split``: the usual 60,000/10,000 split when MNIST's
training images can be had, otherwise (offline, with only the test files, as on the project's CI
machine) the first 8,000 test images for training and the last 2,000 held out. Set
``MINITORCH_AG_DATA`` to a directory that holds ``mnist/t10k-*.gz``.

Prints a progress bar with the running loss, the held-out accuracy after each epoch, and a
final summary line::

    lenet: held-out accuracy 0.9xxx on 2000 images after 3 epochs, 8000 training images, NN.N s

and writes the learning curve (the loss of each step, the held-out accuracy of each epoch) to
``examples/out/lenet.png``. Run ``python examples/lenet.py --help`` for the options.

Measured on the project's 2-core machine (under other load), with ``OPENBLAS_NUM_THREADS=1``:
held-out accuracy 0.9785 after 3 epochs, 38 s of training. On a machine whose cores are busy,
limit the BLAS to one thread like this: OpenBLAS's waiting threads spin, and with two of them
competing for busy cores a step can take ten times longer.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

import minitorch_ag as ag
from minitorch_ag import nn
from minitorch_ag.datasets import DataUnavailableError, minibatch, mnist_offline_split
from minitorch_ag.optim import adam, progress

OUT = Path(__file__).resolve().parent / "out"


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


def load(limit: int | None) -> tuple[np.ndarray, ...]:
    """``(xtrn, ytrn, xtst, ytst)``, float32 images in [0, 1] of shape (N, 1, 28, 28)."""
    with warnings.catch_warnings(record=True) as caught:  # the offline fallback warns: say so
        warnings.simplefilter("always")
        xtrn, ytrn, xtst, ytst = mnist_offline_split()
    for w in caught:
        print(f"note: {w.message}")
    if limit is not None:
        xtrn, ytrn = xtrn[:limit], ytrn[:limit]
    return xtrn, ytrn, xtst, ytst


def plot(losses: list[float], accuracies: list[float], steps_per_epoch: int, path: Path) -> None:
    """The learning curve: the loss of every step, and the held-out accuracy of every epoch."""
    import matplotlib  # noqa: PLC0415 - only needed here

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(np.arange(1, len(losses) + 1), losses, lw=0.8, color="tab:blue", label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (cross-entropy)", color="tab:blue")
    ax.set_yscale("log")
    acc_ax = ax.twinx()
    ends = steps_per_epoch * np.arange(1, len(accuracies) + 1)
    acc_ax.plot(ends, accuracies, "o-", color="tab:red", label="held-out accuracy")
    acc_ax.set_ylabel("held-out accuracy", color="tab:red")
    ax.set_title("LeNet on MNIST, Adam")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="passes over the data (3)")
    parser.add_argument("--batchsize", type=int, default=64, help="minibatch size (64)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (1e-3)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first LIMIT training images (for quick runs)")
    parser.add_argument("--device", default="cpu", help="cpu, gpu or gpu:N (cpu)")
    parser.add_argument("--plot", type=Path, default=OUT / "lenet.png",
                        help="where to write the learning curve (examples/out/lenet.png)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.batchsize < 1:
        parser.error("--batchsize must be at least 1")
    if args.limit is not None and args.limit < args.batchsize:
        parser.error(f"--limit must be at least the batch size ({args.batchsize})")

    rng = np.random.default_rng(args.seed)
    try:  # a GPU needs CuPy and a visible device: say so instead of a traceback
        model = ag.to_device(lenet(rng), args.device)
    except (RuntimeError, ValueError) as e:
        parser.error(f"--device {args.device}: {e}")
    try:
        xtrn, ytrn, xtst, ytst = load(args.limit)
    except DataUnavailableError as e:
        raise SystemExit(f"lenet: MNIST is not available.\n{e}") from None
    train = minibatch(xtrn, ytrn, args.batchsize, shuffle=True, rng=rng, device=args.device)
    test = minibatch(xtst, ytst, 500, partial=True, device=args.device)

    losses: list[float] = []
    accuracies: list[float] = []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        steps = progress(adam(model, train, lr=args.lr), desc=f"epoch {epoch}", leave=False)
        losses.extend(steps)
        accuracies.append(nn.accuracy(model, test))
        print(f"epoch {epoch}: last loss {losses[-1]:.4f}, held-out accuracy "
              f"{accuracies[-1]:.4f}")
    seconds = time.perf_counter() - start
    plot(losses, accuracies, len(train), args.plot)
    print(f"lenet: held-out accuracy {accuracies[-1]:.4f} on {len(xtst)} images after "
          f"{args.epochs} epochs, {len(xtrn)} training images, {seconds:.1f} s "
          f"(learning curve: {args.plot})")
    return accuracies[-1]


if __name__ == "__main__":
    main()
