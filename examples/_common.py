"""What the example scripts share: the common command-line flags, data loading, plots.

Every example takes ``--epochs``, ``--device`` and ``--seed`` (and ``--no-download`` when it
loads data); figures go to ``examples/out/`` (ignored by git), or to
``$MINITORCH_AG_EXAMPLES_OUT`` when that is set. Kept small on purpose: each script should
still read top to bottom as a self-contained lesson, with only this plumbing out of the way.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np

# Figures go here; the tests point MINITORCH_AG_EXAMPLES_OUT at a temporary directory.
OUT = Path(os.environ.get("MINITORCH_AG_EXAMPLES_OUT") or Path(__file__).resolve().parent / "out")


def parser(doc: str, epochs: int, lr: float | None = None, *, data: bool = True,
           plot: bool = True) -> argparse.ArgumentParser:
    """An argument parser with the flags every example has.

    ``doc`` is the script's docstring: its first line is the description, the rest (how to
    run it, what it prints) the epilog of ``--help``. ``data`` adds ``--no-download`` (for
    scripts that load a data set), ``plot`` adds ``--no-plot`` (for scripts that draw).
    """
    first, _, rest = doc.strip().partition("\n")
    p = argparse.ArgumentParser(description=first, epilog=rest.strip() or None,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=_positive, default=epochs,
                   help=f"passes over the training data (default {epochs})")
    if lr is not None:
        p.add_argument("--lr", type=float, default=lr, help=f"learning rate (default {lr})")
    p.add_argument("--device", default="cpu",
                   help="where arrays live: cpu (default), gpu or gpu:N (needs CuPy)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    if data:
        p.add_argument("--no-download", action="store_true",
                       help="use only data files already on disk (MINITORCH_AG_DATA or the "
                            "cache); never try the network")
    if plot:
        p.add_argument("--no-plot", action="store_true",
                       help="do not write the learning-curve PNG to examples/out/")
    return p


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {n}")
    return n


def fail(message: str) -> None:
    """Print ``message`` on stderr and exit with status 1 (no traceback)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def check_device(device: str) -> str:
    """``device`` if this machine can use it; otherwise a clear exit (status 1).

    The CPU always works. A GPU needs CuPy and a device; asking for one without them ends the
    script with a message rather than a traceback from deep inside the first batch.
    """
    import minitorch_ag as ag
    from minitorch_ag.backend import parse_device

    try:
        kind, _ = parse_device(device)
    except ValueError as e:
        fail(f"--device: {e}")
    if kind == "gpu" and not ag.gpu_available(device):
        fail(f"--device {device}: no usable GPU here (the GPU needs CuPy and a CUDA device: "
             f"pip install 'minitorch_ag[gpu]')")
    return device


def to_device(obj, device: str):
    """``ag.to_device(obj, device)``: a model, Param, array or container of them on
    ``device`` (Params and models move in place; arrays and tuples come back as new ones)."""
    import minitorch_ag as ag

    return ag.to_device(obj, device)


def mnist_split(no_download: bool):
    """MNIST as ``(xtrn, ytrn, xtst, ytst)``; offline, the 8,000/2,000 split of the test set.

    The loader's warning about the missing training images is printed as a one-line note
    instead of a Python warning with a source line.
    """
    from minitorch_ag.datasets import DataUnavailableError, mnist_offline_split

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            data = mnist_offline_split(download=not no_download)
        except DataUnavailableError as e:
            fail(f"MNIST is not available.\n{e}")
    for w in caught:
        print(f"note: {w.message}", file=sys.stderr)
    return data


def plot(path_name: str, title: str, panels: list[tuple[str, dict[str, list[float]]]],
         xlabel: str = "epoch", first: int = 1) -> Path:
    """Draw one panel per ``(ylabel, {curve name: values})`` side by side; return the path.

    Values are plotted against ``first, first + 1, ...`` (``first=0`` when a curve starts with
    the value before training).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    OUT.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (ylabel, curves) in zip(axes[0], panels, strict=True):
        for name, values in curves.items():
            ax.plot(first + np.arange(len(values)), values, marker="o", markersize=3, label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if len(curves) > 1:
            ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path = OUT / path_name
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
