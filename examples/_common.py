"""What the example scripts share: the command-line flags, data loading, progress bars, plots.

Every example takes the same flags: ``--epochs``, ``--device``, ``--seed``, ``--no-plot`` and
``--no-download`` (scripts that load no data accept it too, so that one command line fits them
all). Figures go to ``examples/out/`` (ignored by git), or to ``$MINITORCH_AG_EXAMPLES_OUT``
when that is set. Errors a user can fix (no GPU, data not available, inputs too small) end the
script with a one-paragraph message on stderr and exit status 1, never a traceback. Kept small
on purpose: each script should still read top to bottom as a self-contained lesson, with only
this plumbing out of the way.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Figures go here; the tests point MINITORCH_AG_EXAMPLES_OUT at a temporary directory.
OUT_VAR = "MINITORCH_AG_EXAMPLES_OUT"
OUT = Path(os.environ.get(OUT_VAR) or Path(__file__).resolve().parent / "out")

# The flags every script accepts (tests/test_examples.py checks each script against this).
SHARED_FLAGS = ("--epochs", "--device", "--seed", "--no-plot", "--no-download")

EXTRA = "pip install -e '.[examples]' (from the repository root: tqdm and matplotlib)"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that also checks, before any work starts, that the optional
    packages the run needs are installed: tqdm always, matplotlib unless ``--no-plot``."""

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed = super().parse_args(args, namespace)
        needed = [("tqdm", "progress bars")]
        if not getattr(parsed, "no_plot", True):
            needed.append(("matplotlib", "figures"))
        missing = []
        for module, what in needed:
            try:
                importlib.import_module(module)
            except ImportError:
                missing.append(f"{module} (for the {what})")
        if missing:
            also = " or pass --no-plot" if all("figures" in m for m in missing) else ""
            fail(f"this example needs {' and '.join(missing)}, which "
                 f"{'is' if len(missing) == 1 else 'are'} not installed: {EXTRA}{also}")
        return parsed


def parser(doc: str, epochs: int, lr: float | None = None, *, data: bool = True,
           epoch: str = "one pass over the training data", lr_help: str = "learning rate"
           ) -> argparse.ArgumentParser:
    """An argument parser with the flags every example has.

    ``doc`` is the script's docstring: its first line is the description, the rest (how to
    run it, what it prints) the epilog of ``--help``. ``data`` says whether the script loads a
    data set (otherwise ``--no-download`` is accepted but has nothing to do). ``epoch`` says
    what one of ``--epochs`` is in this script, for its help ("one Newton step", ...).
    """
    first, _, rest = doc.strip().partition("\n")
    p = _Parser(description=first, epilog=rest.strip() or None,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=positive, default=epochs,
                   help=f"number of epochs; an epoch here is {epoch} (default {epochs})")
    if lr is not None:
        p.add_argument("--lr", type=float, default=lr, help=f"{lr_help} (default {lr})")
    p.add_argument("--device", default="cpu",
                   help="where arrays live: cpu (default), gpu or gpu:N (needs CuPy)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--no-plot", action="store_true",
                   help=f"do not write figures (they go to examples/out/, or to ${OUT_VAR})")
    p.add_argument("--no-download", action="store_true",
                   help="use only data files already on disk ($MINITORCH_AG_DATA or the cache);"
                        " never try the network" if data else
                   "never try the network (this example needs no data files: accepted so "
                   "that every example takes the same flags)")
    return p


def positive(text: str) -> int:
    """An argparse type: a positive integer."""
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {n}")
    return n


def plural(n: int, word: str, words: str | None = None) -> str:
    """``"1 epoch"``, ``"3 epochs"``: a count with its noun (``words`` when the plural is not
    ``word + "s"``: ``plural(2, "batch", "batches")``)."""
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


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


def check_limit(limit: int | None, batchsize: int) -> None:
    """Exit with a clear message when ``--limit`` leaves less than one whole batch."""
    if limit is not None and limit < batchsize:
        fail(f"--limit {limit} is smaller than one batch (--batchsize {batchsize}): nothing "
             f"to train on; use --limit {batchsize} or more, or a smaller --batchsize")


def to_device(obj, device: str):
    """``ag.to_device(obj, device)``: a model, Param, array or container of them on
    ``device`` (Params and models move in place; arrays and tuples come back as new ones)."""
    import minitorch_ag as ag

    return ag.to_device(obj, device)


# ----------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------


def load_data(loader: Callable[..., Any], what: str, no_download: bool,
              alternative: str | None = None, note: str | None = None) -> Any:
    """``loader(download=not no_download)``; when its files are not available, exit with a
    message that names every missing file and the command that fixes it for this script.

    ``alternative`` is one more way out for the message (``"pass --file PATH ..."``), ``note``
    a last line (which files are enough).
    """
    from minitorch_ag.datasets import DataUnavailableError, user_cache

    try:
        return loader(download=not no_download)
    except DataUnavailableError as e:
        script = f"python examples/{Path(sys.argv[0]).name}"
        folders = sorted({f.dataset for f in e.missing})
        fixes = []
        if no_download:
            fixes.append(f"run `{script}` without --no-download, with network access, to "
                         f"download them into {user_cache()}")
        fixes.append(f"copy them into <dir>/{'/, <dir>/'.join(folders)}/ and run "
                     f"`MINITORCH_AG_DATA=<dir> {script}` (or export MINITORCH_AG_DATA=<dir>)")
        if alternative:
            fixes.append(alternative)
        how = "\n".join(f"  - {fix}" for fix in fixes)
        fail(f"{what} is not available, so this example cannot run.\n"
             f"{e.describe(fix=f'To fix it, either:{chr(10)}{how}')}" +
             (f"\n{note}" if note else ""))


def mnist_split(no_download: bool):
    """MNIST as ``(xtrn, ytrn, xtst, ytst)``; offline, the 8,000/2,000 split of the test set.

    The loader's warning about the missing training images is printed as a one-line note
    instead of a Python warning with a source line.
    """
    from minitorch_ag.datasets import mnist_offline_split

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_data(mnist_offline_split, "MNIST", no_download,
                         note="The two t10k-* files are enough: without the train-* files the "
                              "example trains on 8,000 of the test images and evaluates on the "
                              "other 2,000.")
    for w in caught:
        print(f"note: {w.message}", file=sys.stderr)
    return data


# ----------------------------------------------------------------------------------------
# Progress bars
# ----------------------------------------------------------------------------------------


def bar(iterable: Iterable[Any], desc: str, total: int | None = None):
    """A tqdm progress bar over ``iterable`` (``tqdm.auto``: a widget in notebooks), removed
    when done. Loops show their running loss on it with ``b.set_postfix(loss=...)``."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False)


def say(message: str) -> None:
    """Print ``message`` above any progress bar (``tqdm.write``), without breaking it."""
    from tqdm.auto import tqdm

    tqdm.write(message)


class RunningMean:
    """The mean of the last ``window`` values: what a progress bar shows as the loss."""

    def __init__(self, window: int = 50) -> None:
        self.values: list[float] = []
        self.window = window

    def add(self, x: float) -> float:
        self.values.append(float(x))
        return self.mean

    @property
    def mean(self) -> float:
        return float(np.mean(self.values[-self.window:]))


# ----------------------------------------------------------------------------------------
# Plots
# ----------------------------------------------------------------------------------------


def smooth(values: Sequence[float], window: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: the mean of each ``window`` consecutive values, drawn at the *last* of them
    (index ``window - 1`` onwards), so that the smoothed curve lines up with the raw one."""
    window = max(1, min(window, len(values)))
    y = np.convolve(np.asarray(values, dtype=np.float64), np.ones(window) / window, mode="valid")
    return window - 1 + np.arange(len(y)), y


Curve = Sequence[float] | tuple[Sequence[float], Sequence[float]]


def plot(path_name: str, title: str, panels: list[tuple], xlabel: str = "epoch",
         first: int = 1) -> Path:
    """Draw one panel per ``(ylabel, {curve name: curve})`` side by side; return the path.

    A curve is a list of values, drawn against ``first, first + 1, ...`` (``first=0`` when a
    curve starts with the value before training), or an ``(x, y)`` pair. A panel given as
    ``(ylabel, curves, "log")`` has a logarithmic y axis when its values span more than a
    factor of ten (losses that fall by orders of magnitude). The plots read well at any
    budget: x ticks are whole numbers, a curve of one point is a labelled dot in the middle of
    a sensible range rather than a dot on an axis from 0.96 to 1.04, and lines with many
    points are drawn without markers.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    OUT.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (ylabel, curves, *scale) in zip(axes[0], panels, strict=True):
        xs_all = []
        for name, curve in curves.items():
            if isinstance(curve, tuple):
                x, y = np.asarray(curve[0], dtype=float), np.asarray(curve[1], dtype=float)
            else:
                y = np.asarray(curve, dtype=float)
                x = first + np.arange(len(y), dtype=float)
            xs_all.extend(x)
            marker = "o" if len(y) <= 30 else None
            ax.plot(x, y, marker=marker, markersize=4, label=name)
            if len(y) == 1:
                ax.annotate(f"{y[0]:.4g}", (x[0], y[0]), textcoords="offset points",
                            xytext=(6, 6))
        ys = [v for line in ax.get_lines() for v in line.get_ydata() if np.isfinite(v)]
        if scale and scale[0] == "log" and ys and min(ys) > 0 and max(ys) > 10 * min(ys):
            ax.set_yscale("log")  # only where the values span a decade: else ticks read badly
        if xs_all and max(xs_all) - min(xs_all) < 1:  # one point, or less than one epoch
            lo, hi = math.floor(min(xs_all)), math.ceil(max(xs_all))
            ax.set_xlim((lo - 1, hi + 1) if lo == hi else (lo, hi))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
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
