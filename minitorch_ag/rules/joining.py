"""Gradients of joining, splitting, tiling and padding: concatenate (``np.concat``), stack,
vstack, hstack, dstack, column_stack, block, append, split, array_split, hsplit, vsplit,
dsplit, unstack, tile, repeat (one count or one per element, along an axis or flattened),
pad and resize.

Joining functions take one argument per array (an adapter turns NumPy's list argument into
them); the gradient of each array is its slice of ``dy``, reshaped back where the function
first reshaped it (``atleast_2d`` in vstack ...). Splitting functions are primitives that
return a tuple (NumPy returns a list: here it is a tuple with the same items); their gradient
joins the outputs' gradients again, with zeros for outputs that did not reach the result. The
gradients of ``repeat`` with per-element counts and of ``resize`` add repeated copies up
through ``index_put`` (the primitive scatter of ``indexing.py``), so second order holds.

``pad`` (``pad_width`` as a number, pairs or a dict by axis): the modes constant, edge, reflect
and symmetric (both ``reflect_type``), wrap, linear_ramp, mean and empty are linear in the
array, and their gradient is the adjoint of that linear map, applied axis by axis: the middle
of ``dy`` plus the padded part times the padding rows of the map (padding ``eye(n)`` with the
same mode gives them), so the cost grows with the padding, not with the square of the axis.
Skipped on purpose: the modes maximum, minimum and median (which element is chosen depends on
the values, axis after axis) and a callable mode: their gradient raises ``TypeError`` rather
than guessing.
"""

from __future__ import annotations

import numpy as np

from ..backend import array_module
from ..primitive import primitive, raw, register
from .indexing import index_put


def _along(axis, item):
    """The index that applies ``item`` on ``axis`` (``axis`` non-negative)."""
    return (slice(None),) * axis + (item,)


def _slices(dy, widths, axis):
    """``dy`` cut along ``axis`` into consecutive pieces of the given widths."""
    pieces, start = [], 0
    for n in widths:
        pieces.append(dy[_along(axis, slice(start, start + n))])
        start += n
    return pieces


# -- joining: one argument per array -------------------------------------------------------


def _joined(args, kwargs):
    """``np.concatenate(arrays, axis)`` called as ``f(*arrays, axis=axis)``."""
    arrays, *rest = args
    return tuple(arrays), dict(zip(("axis", "out"), rest, strict=False), **kwargs)


def _sequence(name):
    """The adapter of ``name(arrays, **kw)`` (vstack ...), called as ``f(*arrays, **kw)``."""

    def adapter(args, kwargs):
        if len(args) != 1:
            raise TypeError(f"{name}: expected one sequence of arrays as the positional "
                            f"argument, got {len(args)} positional arguments")
        return tuple(args[0]), kwargs

    return adapter


def _concatenate(*arrays, **kwargs):
    return np.concatenate(arrays, **kwargs)


def _stack(*arrays, **kwargs):
    return np.stack(arrays, **kwargs)


def _grad_concatenate(dy, y, *arrays, axis=0, **kwargs):
    if axis is None:
        pieces = _slices(dy, [int(np.size(a)) for a in arrays], 0)
        return [np.reshape(p, np.shape(a)) for p, a in zip(pieces, arrays, strict=True)]
    ax = axis % np.ndim(y)
    return _slices(dy, [np.shape(a)[ax] for a in arrays], ax)


def _grad_stack(dy, y, *arrays, axis=0, **kwargs):
    ax = axis % np.ndim(y)
    return [dy[_along(ax, i)] for i in range(len(arrays))]


def _as_2d(shape):
    return (1,) * (2 - len(shape)) + shape if len(shape) < 2 else shape


def _as_3d(shape):
    return {0: (1, 1, 1), 1: (1, *shape, 1), 2: (*shape, 1)}.get(len(shape), shape)


def _as_column(shape):
    return {0: (1, 1), 1: (*shape, 1)}.get(len(shape), shape)


def _joining(fn, name, block_shape, axis_of):
    """Register ``fn(arrays)``, which reshapes each array with ``block_shape`` and joins the
    blocks along ``axis_of(block shapes)``."""

    def forward(*arrays, **kwargs):
        return fn(arrays, **kwargs)

    def grad_all(dy, y, *arrays, **kwargs):
        shapes = [block_shape(np.shape(a)) for a in arrays]
        ax = axis_of(shapes)
        pieces = _slices(dy, [s[ax] for s in shapes], ax)
        return [np.reshape(p, np.shape(a)) for p, a in zip(pieces, arrays, strict=True)]

    forward.__name__ = forward.__qualname__ = fn.__name__
    register(fn, primitive(forward, grad_all=grad_all, adapter=_sequence(name),
                           name=name).primitive)


# np.concatenate and np.stack dispatch to these variadic primitives (one argument per array).
register(np.concatenate, primitive(_concatenate, grad_all=_grad_concatenate, adapter=_joined,
                                   name="np.concatenate").primitive)
register(np.stack, primitive(_stack, grad_all=_grad_stack, adapter=_joined,
                             name="np.stack").primitive)
_joining(np.vstack, "np.vstack", _as_2d, lambda shapes: 0)
_joining(np.hstack, "np.hstack", lambda s: s or (1,),
         lambda shapes: 0 if shapes and len(shapes[0]) == 1 else 1)
_joining(np.dstack, "np.dstack", _as_3d, lambda shapes: 2)
_joining(np.column_stack, "np.column_stack", _as_column, lambda shapes: 1)


def _grad_append_arr(dy, y, arr, values, axis=None):
    if axis is None:
        return np.reshape(dy[:int(np.size(arr))], np.shape(arr))
    return dy[_along(axis % np.ndim(y), slice(0, np.shape(arr)[axis]))]


def _grad_append_values(dy, y, arr, values, axis=None):
    if axis is None:
        return np.reshape(dy[int(np.size(arr)):], np.shape(values))
    return dy[_along(axis % np.ndim(y), slice(np.shape(arr)[axis], None))]


primitive(np.append, _grad_append_arr, _grad_append_values)


# -- block: nested lists of arrays ---------------------------------------------------------


def _block_leaves(nested, leaves):
    """The nesting of ``nested`` with each array replaced by its position in ``leaves``."""
    if isinstance(nested, list):
        return [_block_leaves(item, leaves) for item in nested]
    leaves.append(nested)
    return len(leaves) - 1


def _block_args(args, kwargs):
    """``np.block(nested)`` called as ``f(*arrays, layout=nesting)``."""
    (nested,) = args
    leaves: list = []
    layout = _block_leaves(nested, leaves)
    return tuple(leaves), {"layout": layout, **kwargs}


def _block(*arrays, layout):
    def build(item):
        return [build(i) for i in item] if isinstance(item, list) else arrays[item]

    return np.block(build(layout))


def _depth(layout):
    return 1 + _depth(layout[0]) if isinstance(layout, list) and layout else 0


def _grad_block(dy, y, *arrays, layout):
    """Each array's gradient is the box of ``dy`` it filled: find the boxes level by level."""
    ndim, depth = np.ndim(y), _depth(layout)

    def shape_of(item, level):  # (shape, [(leaf, offsets)]) of a sub-block at ``level``
        if not isinstance(item, list):
            s = np.shape(arrays[item])
            return (1,) * (ndim - len(s)) + s, [(item, (0,) * ndim)]
        axis = ndim - (depth - level)
        parts = [shape_of(i, level + 1) for i in item]
        shape, boxes, start = list(parts[0][0]), [], 0
        for s, inner in parts:
            boxes += [(leaf, tuple(o + start * (d == axis) for d, o in enumerate(off)))
                      for leaf, off in inner]
            start += s[axis]
        shape[axis] = start
        return tuple(shape), boxes

    grads = [None] * len(arrays)
    for leaf, off in shape_of(layout, 0)[1]:
        s = np.shape(arrays[leaf])
        full = (1,) * (ndim - len(s)) + s
        box = tuple(slice(o, o + n) for o, n in zip(off, full, strict=True))
        grads[leaf] = np.reshape(dy[box], s)
    return grads


register(np.block, primitive(_block, grad_all=_grad_block, adapter=_block_args,
                             name="np.block").primitive)


# -- splitting: a tuple out ----------------------------------------------------------------


def _joined_back(dy, y, join):
    """Join the outputs' gradients (zeros where an output did not reach the result)."""
    return join([np.zeros_like(v) if g is None else g for g, v in zip(dy, y, strict=True)])


def _splitting(fn, name, axis_of):
    def forward(*args, **kwargs):
        return tuple(fn(*args, **kwargs))

    def grad(dy, y, ary, *args, **kwargs):
        ax = axis_of(np.ndim(ary), *args, **kwargs)
        return _joined_back(dy, y, lambda parts: np.concatenate(parts, axis=ax))

    forward.__name__ = forward.__qualname__ = fn.__name__
    register(fn, primitive(forward, grad, None, None, name=name).primitive)


def _split_axis(ndim, indices_or_sections=None, axis=0):
    return int(axis) % ndim


_splitting(np.split, "np.split", _split_axis)
_splitting(np.array_split, "np.array_split", _split_axis)
_splitting(np.hsplit, "np.hsplit", lambda ndim, *args: 1 if ndim > 1 else 0)
_splitting(np.vsplit, "np.vsplit", lambda ndim, *args: 0)
_splitting(np.dsplit, "np.dsplit", lambda ndim, *args: 2)
primitive(np.unstack,
          lambda dy, y, x, axis=0: _joined_back(dy, y, lambda parts: np.stack(parts, axis)))


# -- tiling and repeating ------------------------------------------------------------------


def _grad_tile(dy, y, a, reps):
    reps = (int(reps),) if np.ndim(reps) == 0 else tuple(int(r) for r in reps)
    shape = np.shape(a)
    d = max(len(shape), len(reps))
    full = (1,) * (d - len(shape)) + shape
    reps = (1,) * (d - len(reps)) + reps
    interleaved = tuple(n for pair in zip(reps, full, strict=True) for n in pair)
    summed = np.sum(np.reshape(dy, interleaved), axis=tuple(range(0, 2 * d, 2)))
    return np.reshape(summed, shape)


def _grad_repeat(dy, y, a, repeats, axis=None):
    shape = np.shape(a)
    flat = axis is None
    shape_in = (int(np.size(a)),) if flat else shape
    ax = 0 if flat else int(axis) % len(shape)
    n = shape_in[ax]
    counts = raw(repeats)
    if np.size(counts) == 1:  # one count: every element's copies are adjacent
        r = int(np.reshape(counts, ()))
        split = shape_in[:ax] + (n, r) + shape_in[ax + 1:]
        dx = np.sum(np.reshape(dy, split), axis=ax + 1)
    else:  # one count per element: add the copies up by their source index
        xp = array_module(raw(dy))
        source = xp.repeat(xp.arange(n), xp.asarray(counts))
        dx = index_put(dy, shape_in, _along(ax, source))
    return np.reshape(dx, shape) if flat else dx


primitive(np.tile, _grad_tile, None)
primitive(np.repeat, _grad_repeat, None)


def _grad_resize(dy, y, a, new_shape):
    """``resize`` repeats the flattened array cyclically: add each element's copies up."""
    size = int(np.size(a))
    if size == 0 or np.size(y) == 0:
        return np.zeros_like(a, dtype=np.result_type(dy))
    xp = array_module(raw(dy))
    source = xp.arange(int(np.size(y))) % size
    return np.reshape(index_put(np.ravel(dy), (size,), source), np.shape(a))


primitive(np.resize, _grad_resize, None)


# -- pad -----------------------------------------------------------------------------------

_LINEAR_PAD_MODES = ("constant", "empty", "edge", "reflect", "symmetric", "wrap",
                     "linear_ramp", "mean")


def _pad_rows(n, before, after, mode, kwargs, xp, dtype):
    """The rows of ``pad``'s matrix along one axis of length ``n`` that make the padding (the
    rows in between are the identity in every mode), with the constants set to zero."""
    kw = {k: v for k, v in kwargs.items() if k in ("reflect_type", "stat_length")}
    if mode == "linear_ramp":
        kw["end_values"] = 0
    m = xp.pad(xp.eye(n, dtype=dtype), ((before, after), (0, 0)), mode=mode, **kw)
    return m[:before], m[before + n:]


def _pad_widths(pad_width, ndim):
    """``pad_width`` in any of its forms (a number, pairs, a dict by axis) as ``(ndim, 2)``."""
    if isinstance(pad_width, dict):
        widths = np.zeros((ndim, 2), dtype=np.int64)
        for axis, w in pad_width.items():
            widths[int(axis) % ndim] = np.broadcast_to(np.asarray(raw(w)), (2,))
        return widths
    return np.broadcast_to(np.asarray(raw(pad_width), dtype=np.int64), (ndim, 2))


def _grad_pad(dy, y, array, pad_width, mode="constant", **kwargs):
    if not isinstance(mode, str) or mode not in _LINEAR_PAD_MODES:
        raise TypeError(
            f"np.pad: mode {mode!r} has no gradient rule (the modes with one are "
            f"{', '.join(_LINEAR_PAD_MODES)})"
        )
    shape = np.shape(array)
    widths = [(int(b), int(a)) for b, a in _pad_widths(pad_width, len(shape))]
    inner = dy[tuple(slice(b, b + n) for (b, _), n in zip(widths, shape, strict=True))]
    if mode in ("constant", "empty"):  # the array is a box of the result
        return inner
    # Axis by axis: the middle of dy plus the padding's gradient (rows of the pad matrix).
    xp = array_module(raw(dy))
    dtype = np.result_type(raw(dy))
    for ax, ((before, after), n) in enumerate(zip(widths, shape, strict=True)):
        if before == 0 and after == 0:
            continue
        first, last = _pad_rows(n, before, after, mode, kwargs, xp, dtype)
        moved = np.moveaxis(dy, ax, -1)
        g = moved[..., before:before + n]
        if before:
            g = g + moved[..., :before] @ first
        if after:
            g = g + moved[..., before + n:] @ last
        dy = np.moveaxis(g, -1, ax)
    return dy


primitive(np.pad, _grad_pad, None)
