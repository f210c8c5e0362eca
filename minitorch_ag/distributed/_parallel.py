"""Data-parallel training on top of the collectives: ``DataParallel``, ``shard`` and the
rank-0-only helpers (progress bar, printing, logging, checkpoints).

The design, in one paragraph: every rank holds the whole model; ``DataParallel`` broadcasts
rank 0's values once, so that all ranks start equal. Each global batch of one shuffled epoch is
cut into ``size`` equal parts (``shard``), rank r computing the gradient of part r. Before each
update the gradients are averaged over the ranks (``allreduce_grads``: one packed buffer per
dtype), and every rank applies the same optimizer step to the same averaged gradient, so the
models stay equal without ever being sent again, and the training is the one a single process
would do with the global batch (same learning rate, same batch size, same loss curve).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..api import diff, grad
from ..datasets import Minibatch
from ..optim import Adam, Optimizer, update_
from ..optim import progress as _progress
from ..serialization import save as _save
from ..tape import Tape
from ..walk import to_device
from ._collectives import broadcast, params_of, reduce_gradients
from ._world import barrier, is_root, world

__all__ = ["DataParallel", "Shard", "shard", "progress", "log", "root_logging", "save"]


class DataParallel:
    """Make training data-parallel: same start on every rank, averaged gradients every step.

    Built on every rank with the same model, it first broadcasts the model's Params from rank
    ``root`` (refusing, on every rank, a model that differs). Then, per step, ``step(tape)``
    averages the gradients of all the model's Params over the ranks (one packed all-reduce per
    dtype, sparse embedding rows gathered) and applies ``update_`` with ``opt``; ``minimize``
    is the Knet-style lazy training loop (as ``minitorch_ag.optim.minimize``) built on it.
    Any optimizer works: each Param keeps its own state in ``p.opt``, and since every rank
    applies the same update to the same averaged gradient, the states agree too.

    Args:
        model: a model (any object holding Params) or a list of Params.
        opt: the optimizer template (``SGD(lr=0.1)``, ``Adam()``, ...); ``Adam()`` by default.
        root: the rank whose initial values everyone starts from.
        max_norm: clip the averaged gradients of each step together to this global norm.

    Attributes:
        params: the Params trained, in ``ag.params`` order.
        loss: the mean over the ranks of the last step's loss (the global batch's loss).

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> from minitorch_ag import distributed as dist
        >>> from minitorch_ag.optim import SGD
        >>> w = ag.Param(np.array([3.0]))
        >>> dp = dist.DataParallel([w], SGD(lr=0.25))
        >>> [dp.step(ag.diff(lambda: np.sum(w ** 2))) for _ in range(3)]
        [9.0, 2.25, 0.5625]
    """

    def __init__(self, model: Any, opt: Optimizer | None = None, *, root: int = 0,
                 max_norm: float | None = None) -> None:
        if opt is None:
            opt = Adam()
        elif not isinstance(opt, Optimizer):
            raise TypeError(f"DataParallel: opt must be an Optimizer (SGD(), Adam(), ...); got "
                            f"{type(opt).__name__}")
        self.model = model
        self.params = params_of(model, "DataParallel")
        self.opt = opt
        self.max_norm = max_norm
        self.root = root
        self.loss: float | None = None
        broadcast(self.params, root)

    def grads(self, tape: Tape) -> list[Any]:
        """The gradients of every Param from ``tape``, averaged over the ranks (``None`` where
        no rank has one); also sets ``self.loss`` to the ranks' mean loss."""
        if not isinstance(tape, Tape):
            raise TypeError(f"DataParallel: expected the Tape of diff(...); got "
                            f"{type(tape).__name__}")
        grads = [grad(tape, p) for p in self.params]
        self.loss = reduce_gradients(grads, self.params, float(tape.item()))
        return grads

    def step(self, tape: Tape) -> float:
        """One data-parallel update from ``tape``; returns the ranks' mean loss."""
        update_(self.params, self.grads(tape), self.opt, max_norm=self.max_norm)
        return self.loss

    def minimize(self, loss: Callable[..., Any], data: Iterable[Any]) -> Iterator[float]:
        """A lazy iterator that trains, one data-parallel step per item of ``data``, yielding
        the ranks' mean loss (``optim.minimize`` on several processes; pass ``shard(batches)``
        so that each rank gets its part of every global batch).

        Example:
            >>> import numpy as np, minitorch_ag as ag
            >>> from minitorch_ag import distributed as dist
            >>> from minitorch_ag.optim import SGD
            >>> w = ag.Param(np.array([3.0]))
            >>> list(dist.DataParallel(w, SGD(lr=0.25)).minimize(lambda: np.sum(w ** 2),
            ...                                                   [()] * 2))
            [9.0, 2.25]
        """
        if not callable(loss):
            raise TypeError(f"DataParallel.minimize: loss must be a function; got "
                            f"{type(loss).__name__}")
        return _Steps(self, loss, data)

    def __repr__(self) -> str:
        return (f"DataParallel({len(self.params)} Params, {self.opt!r}, rank {world().rank} of "
                f"{world().size})")


class _Steps:
    """The iterator of ``DataParallel.minimize``: lazy, with the length of its data."""

    def __init__(self, dp: DataParallel, loss: Callable[..., Any], data: Iterable[Any]) -> None:
        self._it = self._run(dp, loss, data)
        try:
            self._len: int | None = len(data)  # type: ignore[arg-type]
        except TypeError:
            self._len = None

    @staticmethod
    def _run(dp: DataParallel, loss: Callable[..., Any], data: Iterable[Any]) -> Iterator[float]:
        for d in data:
            tape = diff(loss, *d) if isinstance(d, tuple) else diff(loss, d)
            value = dp.step(tape)
            del tape  # free the recording before the caller runs
            yield value

    def __iter__(self) -> _Steps:
        return self

    def __next__(self) -> float:
        return next(self._it)

    def __len__(self) -> int:
        if self._len is None:
            raise TypeError("this iterator's length is unknown (its data has no len())")
        return self._len


# ----------------------------------------------------------------------------------------
# Sharding minibatches
# ----------------------------------------------------------------------------------------


class Shard:
    """This rank's part of every batch of a ``minibatch``; see :func:`shard`."""

    def __init__(self, batches: Minibatch, rank: int, size: int) -> None:
        self.batches = batches
        self.rank = rank
        self.size = size

    def _bounds(self, m: int) -> tuple[int, int]:
        """This rank's rows of a batch of ``m`` samples: contiguous, sizes differing by <= 1."""
        q, extra = divmod(m, self.size)
        lo = self.rank * q + min(self.rank, extra)
        return lo, lo + q + (self.rank < extra)

    def _global_batches(self) -> list[tuple[int, int]]:
        b = self.batches
        spans = [(k * b.batchsize, min((k + 1) * b.batchsize, b.n)) for k in range(len(b))]
        return [(a, z) for a, z in spans if z - a >= self.size]  # every rank gets a sample

    def __len__(self) -> int:
        return len(self._global_batches())

    def __iter__(self) -> Iterator[Any]:
        b = self.batches
        order = b.rng.permutation(b.n) if b.shuffle else None  # the draw Minibatch makes
        for start, stop in self._global_batches():
            lo, hi = self._bounds(stop - start)
            if order is None:
                index: Any = slice(start + lo, start + hi)
            else:
                index = order[start + lo: start + hi]
            x = b.x[index]
            if b.dtype is not None and x.dtype != b.dtype:
                x = x.astype(b.dtype)
            x = to_device(x, b.device)
            yield x if b.y is None else (x, to_device(b.y[index], b.device))

    def __repr__(self) -> str:
        return f"shard({self.batches!r}, rank {self.rank} of {self.size})"


def shard(batches: Minibatch, *, root: int = 0) -> Shard | Minibatch:
    """Each rank's part of every batch of ``batches``, so that the ranks together see each
    global batch of one shuffled epoch exactly once, in disjoint parts.

    Batch k of an epoch (``batchsize`` samples, in the order of this epoch's permutation) is
    cut into ``size()`` contiguous parts of equal size (differing by one sample at most when
    ``batchsize`` is not a multiple of ``size()``); rank r gets part r. The shuffling
    generator's state is broadcast from ``root`` first, so every rank draws the same
    permutation even when the ranks were seeded differently, and each epoch draws exactly as
    the unsharded ``minibatch`` does: sharded training on N ranks sees the same global batches
    as one process. A last partial batch smaller than ``size()`` is skipped on every rank.
    One process: ``batches`` itself.

    Averaging the ranks' gradients weighs the ranks equally, which is the global batch's mean
    when the parts are equal: take a ``batchsize`` divisible by the number of ranks (a batch
    that does not split evenly gives its samples slightly unequal weights).

    Args:
        batches: a ``minitorch_ag.datasets.minibatch`` object (its ``batchsize`` is the global
            batch size).
        root: the rank whose generator state everyone uses.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import distributed as dist
        >>> from minitorch_ag.datasets import minibatch
        >>> parts = dist.shard(minibatch(np.arange(8.0), None, 4))
        >>> [xb.tolist() for xb in parts]     # one process: the batches themselves
        [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]
    """
    if not isinstance(batches, Minibatch):
        raise TypeError(f"shard: expected a minibatch(...) object; got {type(batches).__name__}"
                        f" (to split other data, index it with dist.rank() and dist.size())")
    w = world()
    if w.size == 1:
        return batches
    if batches.batchsize < w.size:
        raise ValueError(f"shard: batchsize {batches.batchsize} is smaller than the {w.size} "
                         f"ranks; every rank needs at least one sample per batch")
    state = w.bcast_object(batches.rng.bit_generator.state, root, "shard (generator state)")
    batches.rng.bit_generator.state = state
    return Shard(batches, w.rank, w.size)


# ----------------------------------------------------------------------------------------
# Rank 0 speaks: progress bars, printing, logging, checkpoints
# ----------------------------------------------------------------------------------------


def progress(iterator: Iterable[Any], **kw: Any) -> Iterator[Any]:
    """``minitorch_ag.optim.progress`` on rank 0; the same iterator, without a bar, elsewhere.

    Example:
        >>> from minitorch_ag import distributed as dist
        >>> list(dist.progress([3.0, 2.0], disable=True))
        [3.0, 2.0]
    """
    kw["disable"] = bool(kw.get("disable", False)) or not is_root()
    return _progress(iterator, **kw)


def log(*args: Any, **kwargs: Any) -> None:
    """``print`` on rank 0 only (flushed, so that lines from a job appear as they happen).

    Example:
        >>> from minitorch_ag import distributed as dist
        >>> dist.log("epoch", 1, "done")
        epoch 1 done
    """
    if is_root():
        kwargs.setdefault("flush", True)
        print(*args, **kwargs)


def root_logging(logger: logging.Logger | None = None) -> logging.Logger:
    """Let ``logger`` (the root logger by default) emit records on rank 0 only; returns it.

    Example:
        >>> import logging
        >>> from minitorch_ag import distributed as dist
        >>> dist.root_logging(logging.getLogger("train")).name
        'train'
    """
    logger = logging.getLogger() if logger is None else logger
    if not any(getattr(f, "_minitorch_ag_root_only", False) for f in logger.filters):
        def root_only(record: logging.LogRecord) -> bool:
            return is_root()

        root_only._minitorch_ag_root_only = True  # type: ignore[attr-defined]
        logger.addFilter(root_only)
    return logger


def save(path: str | os.PathLike, model: Any, **kwargs: Any) -> None:
    """Write a checkpoint of ``model`` from rank 0 only (``ag.save``: atomic), then wait until
    it is written, so that every rank may read it once ``save`` returns.

    Example:
        >>> import numpy as np, minitorch_ag as ag, tempfile, os
        >>> from minitorch_ag import distributed as dist
        >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
        >>> dist.save(path, {"w": ag.Param(np.arange(2.0))})
        >>> ag.load(path)["w"]
        array([0., 1.])
    """
    try:
        if is_root():
            _save(path, model, **kwargs)
    finally:
        barrier()

