"""Gradients of indexing, ``x[index]``, and of in-place updates, ``x[index] = v``.

Covered: every NumPy index kind, alone or combined in a tuple: integers (negative too), slices
(negative steps and bounds), ``None``, ``...``, integer arrays and lists (any shape; several
broadcast together; repeated positions add up in the gradient), boolean masks (0-d, 1-d and
multi-dimensional), Tensors as indices (their values; indices have no gradient), and mixes of
basic and advanced indexing, including non-adjacent advanced indices, whose axes NumPy moves to
the front. The gradient scatters ``dy`` into zeros of the argument's shape (``index_put``, a
primitive whose gradient is indexing again, so higher orders work).

Sparse gradients: a lookup of rows ``W[ids]`` (``ids`` an integer array of any shape, ``W`` with
two or more axes) gives a :class:`~minitorch_ag.sparse.Sparse` gradient (the rows looked up and
their gradients), as AutoGrad.jl does for embeddings; the backward sweep keeps it sparse only
when it reaches a leaf (``grad(tape, W)``). When the incoming gradient is itself tracked
(higher order) the rule scatters densely, so that it stays differentiable.

Assignment ``x[index] = v`` (and so ``x[index] += v`` and ``x.fill(v)``) while recording is
``index_set(x, index, v)``: a copy of ``x`` with ``v`` written at ``index`` (see
``inplace.update`` for how the Python object ``x`` then stands for it). Its gradient is ``dy``
with the written positions zeroed for ``x``, and ``dy[index]`` for ``v`` (summed back to ``v``'s
shape by the framework); where an integer index repeats a position, only the element of ``v``
that NumPy leaves there (the last) gets its gradient.

NumPy's writing functions ``np.put``, ``np.put_along_axis``, ``np.place``, ``np.putmask``,
``np.copyto`` and ``np.fill_diagonal`` are recorded the same way when a tracked Tensor is
involved while recording (``primitive.in_place``). Skipped on purpose: ``ndarray.resize`` of a
tracked Tensor (refused: it changes the shape), and assigning a tracked Tensor into a plain
ndarray (NumPy converts it to a constant: refused, the gradient would be lost).
"""

from __future__ import annotations

import operator

import numpy as np

from ..backend import array_module, assign, scatter_add, write_order
from ..primitive import Sparse, Tensor, in_place, primitive, raw, register, update


def _is_advanced(item) -> bool:
    """True for an index part that may repeat positions (an integer array or list)."""
    if isinstance(item, (int, np.integer, slice)) or item is None or item is Ellipsis:
        return False
    dtype = getattr(item, "dtype", None)
    return dtype is None or dtype.kind != "b"


def _parts(index) -> tuple:
    return index if type(index) is tuple else (index,)


# -- x[index] -----------------------------------------------------------------------------


def index_put(dy, shape, index):
    """Zeros of ``shape`` with ``dy`` added at ``index`` (repeated positions add up)."""
    xp = array_module(dy)
    out = xp.zeros(shape, dtype=np.result_type(dy))
    if any(_is_advanced(p) for p in _parts(index)):
        scatter_add(out, index, dy)
    else:
        out[index] = dy
    return out


index_put = primitive(index_put, lambda ddx, y, dy, shape, index: ddx[index], None, None,
                      name="index_put")


def _grad_getitem(dy, y, x, index):
    shape = np.shape(x)
    if (len(shape) >= 2 and getattr(index, "dtype", None) is not None
            and index.dtype.kind in "iu" and not isinstance(dy, Tensor)
            and not isinstance(x, Tensor)):
        rows = dy.reshape(-1, *shape[1:])  # rows looked up from the first axis: sparse
        return Sparse(shape, index, rows)
    return index_put(dy, shape, index)


primitive(operator.getitem, _grad_getitem, None, name="getindex")


# -- x[index] = v ---------------------------------------------------------------------------


def index_set(x, index, v):
    """A copy of ``x`` with ``v`` written at ``index``: what ``x[index] = v`` leaves in ``x``."""
    out = array_module(x).array(x, copy=True)
    assign(out, index, v, repeats=any(_is_advanced(p) for p in _parts(index)))
    return out


def _winners(shape, index, xp):
    """Where an integer index repeats a position: a boolean array of ``x[index]``'s shape that
    is True for the elements of ``v`` that NumPy's assignment left in place; else ``None``."""
    if not any(_is_advanced(p) for p in _parts(index)):
        return None
    ids, order = write_order(shape, index, xp)
    won = ids[index] == order
    if xp is np and won.all():  # on a device, no read back: the mask costs one product
        return None
    return won


def _grad_index_set_v(dy, y, x, index, v):
    dv = dy[index]
    won = _winners(np.shape(x), index, array_module(raw(dy)))
    return dv if won is None else dv * won


index_set = primitive(index_set, lambda dy, y, x, index, v: index_set(dy, index, 0), None,
                      _grad_index_set_v, name="index_set")
register(operator.setitem, index_set.primitive)  # how tensor.py finds it for x[i] = v


# -- NumPy functions that write into an argument ---------------------------------------------


def _target(name, a, what="a"):
    if not isinstance(a, Tensor):
        raise TypeError(
            f"{name}: {what} is a plain array and a value written into it is a tracked Tensor; "
            f"its gradient would be lost. Make {what} a tracked value (np.copy of a Tensor, or "
            f"build it with np.stack / np.concatenate)"
        )
    return a


def _cycled(name, values, count):
    """The first ``count`` elements of ``values`` repeated as often as needed (flat order)."""
    flat = np.ravel(values)
    n = int(np.size(raw(flat)))
    if n == 0:
        if count:
            raise ValueError(f"{name}: cannot write {count} elements from an empty array")
        return flat
    return flat[np.arange(count) % n]


def _flat_positions(name, shape, ind, mode):
    size = int(np.prod(shape))
    ind = np.asarray(raw(ind), dtype=np.intp).ravel()
    if mode == "raise":
        if ind.size and (ind.min() < -size or ind.max() >= size):
            raise IndexError(f"{name}: index out of range for an array of size {size}")
        ind = ind % size if size else ind
    elif mode == "wrap":
        ind = ind % size
    elif mode == "clip":
        ind = np.clip(ind, 0, size - 1)
    else:
        raise ValueError(f"{name}: mode must be 'raise', 'wrap' or 'clip'; got {mode!r}")
    return np.unravel_index(ind, shape)


def _put(a, ind, v, mode="raise"):
    a = _target("np.put", a)
    where = _flat_positions("np.put", np.shape(a), ind, mode)
    vals = _cycled("np.put", v, len(where[0]))
    update(a, lambda x: index_set(x, where, vals), "np.put(a, ind, v)")


def _place(arr, mask, vals):
    arr = _target("np.place", arr, "arr")
    mask = np.asarray(raw(mask), dtype=bool)
    if mask.shape != np.shape(arr):
        raise ValueError(f"np.place: mask has shape {mask.shape}, arr {np.shape(arr)}")
    values = _cycled("np.place", vals, int(mask.sum()))
    update(arr, lambda x: index_set(x, mask, values), "np.place(arr, mask, vals)")


def _putmask(a, mask, values):
    a = _target("np.putmask", a)
    shape = np.shape(a)
    mask = np.broadcast_to(np.asarray(raw(mask), dtype=bool), shape)
    positions = np.flatnonzero(mask)
    flat = np.ravel(values)
    n = int(np.size(raw(flat)))
    if n == 0 and positions.size:
        raise ValueError("np.putmask: values is empty")
    vals = flat[positions % n] if positions.size else flat[:0]
    update(a, lambda x: index_set(x, mask, vals), "np.putmask(a, mask, values)")


def _copyto(dst, src, casting="same_kind", where=True):
    dst = _target("np.copyto", dst, "dst")
    have, want = np.result_type(raw(src)), np.result_type(raw(dst))
    if not np.can_cast(have, want, casting):
        raise TypeError(f"np.copyto: cannot cast {have} to {want} with casting={casting!r}")
    shape = np.shape(dst)
    if np.broadcast_shapes(np.shape(raw(src)), shape) != shape:
        raise ValueError(
            f"np.copyto: src of shape {np.shape(raw(src))} does not broadcast to dst's {shape}"
        )
    mask = np.broadcast_to(np.asarray(raw(where), dtype=bool), shape)
    full = np.broadcast_to(src, shape)
    update(dst, lambda x: index_set(x, mask, full[mask]), "np.copyto(dst, src)")


def _fill_diagonal(a, val, wrap=False):
    a = _target("np.fill_diagonal", a)
    mask = np.zeros(np.shape(a), dtype=bool)
    np.fill_diagonal(mask, True, wrap=wrap)
    values = _cycled("np.fill_diagonal", val, int(mask.sum()))
    update(a, lambda x: index_set(x, mask, values), "np.fill_diagonal(a, val)")


def _put_along_axis(arr, indices, values, axis):
    arr = _target("np.put_along_axis", arr, "arr")
    shape = np.shape(arr)
    ind = np.asarray(raw(indices))
    if ind.dtype.kind not in "iu":
        raise IndexError("np.put_along_axis: indices must be integers")
    if axis is None:
        where = _flat_positions("np.put_along_axis", shape, ind, "raise")
        vals = np.reshape(np.broadcast_to(values, ind.shape), (-1,))
    else:
        axis = axis + len(shape) if axis < 0 else axis
        if ind.ndim != len(shape):
            raise ValueError(
                f"np.put_along_axis: indices has {ind.ndim} dimensions, arr {len(shape)}"
            )
        where = tuple(ind if d == axis else
                      np.arange(n).reshape((1,) * d + (n,) + (1,) * (len(shape) - d - 1))
                      for d, n in enumerate(shape))
        vals = values
    update(arr, lambda x: index_set(x, where, vals), "np.put_along_axis(arr, indices, values)")


for _fn, _writer in ((np.put, _put), (np.place, _place), (np.putmask, _putmask),
                    (np.copyto, _copyto), (np.fill_diagonal, _fill_diagonal),
                    (np.put_along_axis, _put_along_axis)):
    in_place(_fn, _writer)
