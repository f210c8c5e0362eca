"""``broadcast`` (copy the model from one rank) and ``allreduce_grads`` (average gradients).

Who does what in one step of ``allreduce_grads``, on every rank, in the same order:

1. describe the gradients: per entry its shape, dtype and device kind (a ``None`` entry takes
   its Param's, when ``params=`` is given); a 16-bit checksum ``h`` of that layout;
2. one small float64 all-reduce (the *meta* buffer) sums ``[h, h*h, loss, present_i...,
   sparse_i...]``: the layouts agree exactly when ``size * sum(h*h) == sum(h)**2``; otherwise
   every rank sees it at once, gathers the layouts and raises the same ``ValueError`` naming the
   first difference. The same call sums the losses (for the mean loss of the global batch) and
   counts, per gradient, how many ranks have one and how many have a ``Sparse`` one;
3. a gradient no rank has stays ``None``. A ``Sparse`` gradient (embedding rows) that every rank
   holding it holds sparse is gathered, not summed: rank r's coalesced rows go to everyone
   (``Allgatherv``; NCCL's ``allGather`` with padding on GPUs), unless the rows of all ranks
   together would outnumber the table's rows, in which case it is densified and summed (fewer
   bytes). The result is a ``Sparse`` with every rank's rows, values divided by ``size``;
4. every other gradient is packed with the others of its dtype (and device) into *one* buffer
   (Horovod's tensor fusion): one all-reduce per dtype per step, through MPI for NumPy arrays
   and NCCL for CuPy arrays; a rank without a gradient contributes zeros. The sums are divided
   by ``size`` and handed back as views of that buffer.

The mean is over ranks (``sum / size``): with equal shards of one global batch it is the
gradient of the global batch's mean loss, as one process would compute it.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from ..api import params as find_params
from ..api import value
from ..backend import array_module, is_array
from ..sparse import Sparse
from ..tensor import Param, Tensor
from ._world import World, world

__all__ = ["broadcast", "allreduce_grads", "params_of"]


# ----------------------------------------------------------------------------------------
# Layouts: what each rank has, and the first difference between two ranks
# ----------------------------------------------------------------------------------------


def _device_kind(x: Any) -> str:
    return "cpu" if array_module(x) is np else "gpu"


def _describe(x: Any) -> tuple[Any, ...]:
    """(shape, dtype, device kind) of an array, a Sparse gradient or a number."""
    if isinstance(x, Sparse):
        return (x.shape, x.dtype.name, _device_kind(x.values))
    if is_array(x):
        return (tuple(x.shape), x.dtype.name, _device_kind(x))
    return ((), np.asarray(x).dtype.name, "cpu")


def _show(entry: Any) -> str:
    if entry is None:
        return "None (and no params= to give its shape)"
    shape, dtype, kind = entry
    return f"shape {shape} {dtype} on the {kind.upper()}"


def _first_difference(layouts: list[list[Any]], root: int, noun: str) -> str | None:
    """A sentence naming the first way a rank's layout differs from root's, or None."""
    reference = layouts[root]
    for r, layout in enumerate(layouts):
        if layout == reference:
            continue
        if len(layout) != len(reference):
            return (f"rank {root} has {len(reference)} {noun}s but rank {r} has {len(layout)} "
                    f"(shapes on rank {root}: {[e[0] if e else None for e in reference]}, "
                    f"on rank {r}: {[e[0] if e else None for e in layout]})")
        for i, (a, b) in enumerate(zip(reference, layout, strict=True)):
            if a != b:
                return f"{noun} {i} has {_show(a)} on rank {root} but {_show(b)} on rank {r}"
    return None


def _checksum(layout: list[Any]) -> int:
    """A 16-bit checksum of a layout, in 1..65536 (so that its square stays exact in float64)."""
    return (zlib.crc32(repr(layout).encode()) & 0xFFFF) + 1


def params_of(obj: Any, who: str) -> list[Param]:
    """The Params of a model, a list of Params or one Param; a clear error when there are none."""
    ps = [obj] if isinstance(obj, Param) else find_params(obj)
    if not ps:
        raise ValueError(f"{who}: found no Params in the {type(obj).__name__} given")
    return ps


# ----------------------------------------------------------------------------------------
# Transports: MPI for host buffers, NCCL for GPU buffers
# ----------------------------------------------------------------------------------------


def _transport(w: World, buf: Any) -> Any:
    """The object that moves ``buf``: the World (MPI) for NumPy, NCCL for CuPy arrays."""
    xp = array_module(buf)
    if xp is np:
        return w
    from ._nccl import nccl_for  # noqa: PLC0415 - GPU only

    return nccl_for(w, xp, buf.device.id)


def _group_key(x: Any) -> tuple[str, Any]:
    return (x.dtype.name, "cpu" if array_module(x) is np else x.device.id)


# ----------------------------------------------------------------------------------------
# broadcast
# ----------------------------------------------------------------------------------------


def broadcast(obj: Any, root: int = 0) -> Any:
    """Copy the Params of ``obj`` from rank ``root`` to every rank, in place; returns ``obj``.

    Every rank must call it with the same model (the same Params in the same order, as
    ``ag.params`` finds them, with the same shapes, dtypes and kind of device); otherwise every
    rank raises the same ``ValueError``, naming the first Param (or the count) that differs,
    before any value is copied. Values are packed into one buffer per dtype and broadcast
    through MPI (NumPy arrays) or NCCL (CuPy arrays); each Param's array is overwritten in
    place, so views of it and optimizer states tied to it stay valid. One process: no-op.

    Args:
        obj: a model (any object holding Params), a list of Params, or a Param.
        root: the rank whose values everyone gets.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> from minitorch_ag import distributed as dist
        >>> w = ag.Param(np.full(3, float(dist.rank())))
        >>> _ = dist.broadcast([w])       # rank 0's values on every rank
        >>> w.value
        array([0., 0., 0.])
    """
    ps = params_of(obj, "broadcast")
    w = world()
    if int(root) != root or not 0 <= root < w.size:
        raise ValueError(f"broadcast: root must be a rank in 0..{w.size - 1}; got {root!r}")
    if w.size > 1:
        broadcast_params(w, ps, root)
    return obj


def broadcast_params(w: World, ps: list[Param], root: int) -> None:
    """The work of :func:`broadcast` (also on one process, where it runs the same packing and
    transports, for the GPU check)."""
    layouts = w.allgather_object([_describe(p.value) for p in ps], "broadcast (model layouts)")
    problem = _first_difference(layouts, root, "Param")
    if problem is not None:
        raise ValueError(f"broadcast: the ranks hold different models: {problem}. Every rank "
                         f"must build the same model before broadcast")
    groups: dict[tuple[str, Any], list[int]] = {}
    for i, p in enumerate(ps):
        groups.setdefault(_group_key(_as_array(p.value)), []).append(i)
    for members in groups.values():
        arrays = [_as_array(ps[i].value) for i in members]
        xp = array_module(arrays[0])
        buf = xp.concatenate([a.reshape(-1) for a in arrays])
        _transport(w, buf).bcast_(buf, root, "broadcast")
        offset = 0
        for i, a in zip(members, arrays, strict=True):
            part = buf[offset: offset + a.size].reshape(a.shape)
            offset += a.size
            v = ps[i].value
            if is_array(v):
                v[...] = part
            else:  # a number: stored back as the same type
                ps[i].value = type(v)(part[()]) if isinstance(v, np.generic) else float(part)


def _as_array(v: Any) -> Any:
    """An array for a Param value or gradient that is a number (Python ints become float64)."""
    return v if is_array(v) else np.asarray(v, dtype=np.float64 if isinstance(v, int) else None)


# ----------------------------------------------------------------------------------------
# allreduce_grads
# ----------------------------------------------------------------------------------------


def allreduce_grads(grads: list[Any], *, params: Any = None, fuse: bool = True) -> list[Any]:
    """Average a list of gradients over the ranks, in place; returns the same list.

    Each entry of ``grads`` is replaced by the mean over the ranks of that entry (``sum /
    size``): dense arrays become views of one buffer per dtype, reduced in a single all-reduce
    (MPI for NumPy, NCCL for CuPy arrays); ``Sparse`` gradients (embedding rows) stay sparse
    where that sends fewer bytes; an entry that is ``None`` on every rank stays ``None``. The
    arrays passed in are not written to. Every rank must call it at the same point with
    gradients of the same shapes; otherwise every rank raises the same ``ValueError`` naming
    the first difference. One process: returned unchanged.

    Args:
        grads: the gradients, e.g. ``[grad(tape, p) for p in params(model)]``.
        params: the Params the gradients belong to (a model or a list), needed only when some
            entries may be ``None`` on some ranks but not others (a branch of the model that a
            rank's batch did not use): that rank then contributes zeros of the Param's shape.
        fuse: ``False`` reduces each gradient with its own call (slower; for measurements).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import distributed as dist
        >>> g = [np.full(2, 1.0 + dist.rank())]
        >>> dist.allreduce_grads(g)[0]      # the mean over ranks; one process: unchanged
        array([1., 1.])
    """
    reduce_gradients(grads, params, None, fuse)
    return grads


def reduce_gradients(grads: list[Any], params: Any, loss: float | None,
                     fuse: bool = True) -> float | None:
    """:func:`allreduce_grads`, also averaging ``loss`` over the ranks (returned) in the same
    call. The engine of ``allreduce_grads`` and of ``DataParallel``."""
    if not isinstance(grads, list):
        raise TypeError(f"allreduce_grads: grads must be a list (it is updated in place); got "
                        f"{type(grads).__name__}")
    ps = None if params is None else params_of(params, "allreduce_grads")
    if ps is not None and len(ps) != len(grads):
        raise ValueError(f"allreduce_grads: {len(grads)} gradients for {len(ps)} params")
    w = world()
    if w.size == 1:
        return loss
    return reduce_on(w, grads, ps, loss, fuse)


def reduce_on(w: World, grads: list[Any], ps: list[Param] | None, loss: float | None,
              fuse: bool = True) -> float | None:
    """The work of :func:`reduce_gradients` on world ``w`` (also on one process, where it runs
    the same packing and transports, for the GPU check)."""
    entries = [value(g) if isinstance(g, Tensor) else g for g in grads]
    entries = [g.coalesce() if isinstance(g, Sparse) else g for g in entries]
    layout = [_describe(g) if g is not None else
              (None if ps is None else _describe(ps[i].value)) for i, g in enumerate(entries)]
    n = len(entries)
    h = float(_checksum(layout))
    meta = np.zeros(3 + 2 * n)
    meta[:3] = h, h * h, 0.0 if loss is None else float(loss)
    meta[3: 3 + n] = [g is not None for g in entries]
    meta[3 + n:] = [isinstance(g, Sparse) for g in entries]
    w.allreduce_(meta, "allreduce_grads (layout check)")
    if w.size * meta[1] != meta[0] * meta[0]:
        layouts = w.allgather_object(layout, "allreduce_grads (layouts)")
        problem = _first_difference(layouts, 0, "gradient")
        raise ValueError(f"allreduce_grads: the ranks passed different gradients: {problem}")
    present, sparse = meta[3: 3 + n], meta[3 + n:]

    dense: list[int] = []
    gathered: list[int] = []
    for i in range(n):
        if present[i] == 0:
            grads[i] = None
        elif sparse[i] == present[i]:
            gathered.append(i)
        else:
            dense.append(i)
    if gathered:
        dense += _gather_sparse(w, grads, entries, gathered, ps)
    if dense:
        _reduce_dense(w, grads, entries, sorted(dense), ps, fuse)
    return None if loss is None else meta[2] / w.size


def _gather_sparse(w: World, grads: list[Any], entries: list[Any], which: list[int],
                   ps: list[Param] | None) -> list[int]:
    """Gather the Sparse gradients ``which`` (every rank's rows, values / size) into ``grads``;
    returns those whose rows together outnumber their table's, left for the dense all-reduce."""
    counts = np.zeros((len(which), w.size))
    for k, i in enumerate(which):
        counts[k, w.rank] = 0 if entries[i] is None else len(entries[i].indices)
    w.allreduce_(counts, "allreduce_grads (sparse row counts)")
    densify = []
    for k, i in enumerate(which):
        rows = counts[k].astype(np.int64).tolist()
        mine = entries[i]
        if mine is None:  # no lookups on this rank (the layout check made sure ps is given)
            table = ps[i].value
            xp = array_module(table)
            mine = Sparse(table.shape, xp.zeros(0, dtype=np.int64),
                          xp.zeros((0, *table.shape[1:]), dtype=table.dtype))
        if sum(rows) >= mine.shape[0]:  # more rows than the table has: dense sends fewer bytes
            densify.append(i)
            continue
        t = _transport(w, mine.values)
        indices = t.allgatherv(mine.indices.astype(np.int64), rows,
                               "allreduce_grads (sparse indices)")
        values = t.allgatherv(mine.values, rows, "allreduce_grads (sparse values)")
        grads[i] = Sparse(mine.shape, indices, values / w.size)
    return densify


def _reduce_dense(w: World, grads: list[Any], entries: list[Any], which: list[int],
                  ps: list[Param] | None, fuse: bool) -> None:
    """Sum the gradients ``which`` over the ranks, one buffer per dtype and device (or one
    call each when not ``fuse``), and put ``sum / size`` back into ``grads`` as views."""
    groups: dict[Any, list[tuple[int, Any]]] = {}
    for i in which:
        g = entries[i]
        if isinstance(g, Sparse):
            g = g.to_dense()
        elif g is None:  # another rank has this gradient: contribute zeros (ps is given)
            table = _as_array(ps[i].value)
            g = array_module(table).zeros_like(table)
        elif not is_array(g):
            g = _as_array(g)
        key = _group_key(g) if fuse else i
        groups.setdefault(key, []).append((i, g))
    scale = 1.0 / w.size
    for members in groups.values():
        xp = array_module(members[0][1])
        if len(members) == 1:
            buf = xp.array(members[0][1], copy=True).reshape(-1)
        else:
            buf = xp.concatenate([g.reshape(-1) for _, g in members])
        _transport(w, buf).allreduce_(buf, "allreduce_grads")
        buf *= buf.dtype.type(scale)
        offset = 0
        for i, g in members:
            part = buf[offset: offset + g.size].reshape(g.shape)
            offset += g.size
            original = grads[i]
            if original is None or is_array(original) or isinstance(original, (Sparse, Tensor)):
                grads[i] = part
            elif isinstance(original, np.generic):
                grads[i] = part[()]
            else:  # a Python number
                grads[i] = float(part)
