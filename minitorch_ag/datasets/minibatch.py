"""``minibatch``: an iterator over batches of the first axis, as Knet's ``minibatch``.

The data stay where they are (host arrays); each batch is sliced (or gathered, when shuffling),
cast to the requested dtype and moved to the requested device as it is yielded, so an epoch
over a large data set costs one batch of memory at a time. The device is fixed when the
iterator is made: the one given, or else the default device of that moment (``ag.set_device``,
``with ag.device(...)``), so batches made in a ``with ag.device("gpu"):`` block keep going to
the GPU after it ends. Iterating again starts a new epoch,
with a new permutation when shuffling, drawn from the iterator's own generator: the same seed
gives the same batches in the same order on every machine and device.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..backend import to_device
from ..device import checked_device, default_device

__all__ = ["Minibatch", "minibatch"]


class Minibatch:
    """Batches of ``x`` (and ``y``) along the first axis; see :func:`minibatch`."""

    def __init__(self, x: Any, y: Any = None, batchsize: int = 100, *, shuffle: bool = False,
                 partial: bool = False, dtype: Any = None, device: str | None = None,
                 rng: np.random.Generator | int | None = None) -> None:
        if int(batchsize) != batchsize or batchsize < 1:
            raise ValueError(f"minibatch: batchsize must be a positive integer, got {batchsize}")
        n = _length(x, "x")
        if y is not None and _length(y, "y") != n:
            raise ValueError(
                f"minibatch: x and y must have the same number of samples along the first "
                f"axis, got {n} and {_length(y, 'y')}"
            )
        self.x = x
        self.y = y
        self.batchsize = int(batchsize)
        self.shuffle = shuffle
        self.partial = partial
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.device = default_device() if device is None else checked_device(device, "minibatch")
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.n = n

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batchsize)
        return full + (1 if self.partial and rest else 0)

    def __iter__(self) -> Iterator[Any]:
        order = self.rng.permutation(self.n) if self.shuffle else None
        for k in range(len(self)):
            start = k * self.batchsize
            stop = min(start + self.batchsize, self.n)
            index = slice(start, stop) if order is None else order[start:stop]
            xb = self._prepare(self.x[index], cast=True)
            if self.y is None:
                yield xb
            else:
                yield xb, self._prepare(self.y[index], cast=False)

    def _prepare(self, batch: Any, *, cast: bool) -> Any:
        if cast and self.dtype is not None and batch.dtype != self.dtype:
            batch = batch.astype(self.dtype)
        return to_device(batch, self.device)

    def __repr__(self) -> str:
        return (f"minibatch({self.n} samples, batchsize={self.batchsize}, {len(self)} batches"
                f"{', shuffled' if self.shuffle else ''})")


def _length(a: Any, name: str) -> int:
    shape = getattr(a, "shape", None)
    if not shape:
        raise TypeError(f"minibatch: {name} must be an array with a first (sample) axis, "
                        f"got {type(a).__name__} of shape {shape}")
    return int(shape[0])


def minibatch(x: Any, y: Any = None, batchsize: int = 100, *, shuffle: bool = False,
              partial: bool = False, dtype: Any = None, device: str | None = None,
              rng: np.random.Generator | int | None = None) -> Minibatch:
    """An iterable over minibatches of ``x`` (and ``y``) along their first axis.

    Args:
        x: inputs, samples along the first axis (NumPy arrays, batch-first).
        y: optional targets with as many samples; batches are then ``(xb, yb)`` pairs.
        batchsize: samples per batch.
        shuffle: draw a new random order at the start of every epoch (every iteration).
        partial: also yield the last, smaller batch (dropped by default, as Knet does).
        dtype: cast ``x``'s batches to this dtype (labels in ``y`` keep theirs).
        device: move batches to ``"cpu"``, ``"gpu"`` or ``"gpu:N"`` as they are yielded;
            ``None``: the default device when ``minibatch`` is called.
        rng: a ``numpy.random.Generator`` or a seed, for reproducible shuffling.

    Returns:
        A re-iterable object; ``len()`` is the number of batches per epoch.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.datasets import minibatch
        >>> x, y = np.arange(10).reshape(5, 2), np.arange(5)
        >>> batches = minibatch(x, y, 2)
        >>> len(batches), [yb.tolist() for _, yb in batches]
        (2, [[0, 1], [2, 3]])
    """
    return Minibatch(x, y, batchsize, shuffle=shuffle, partial=partial, dtype=dtype,
                     device=device, rng=rng)
