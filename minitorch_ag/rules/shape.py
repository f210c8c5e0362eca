"""Gradients of shape manipulation: reshape, ravel, transpose, swapaxes, moveaxis,
expand_dims, squeeze, broadcast_to, concatenate, stack, copy and ``astype``; plus, with no
gradient, the shape queries and the ``*_like`` constructors. ``reshape`` and ``ravel`` take
every index order (``"A"`` and ``"K"`` follow the argument's memory layout, as NumPy does).

Skipped here, on purpose: the rest of NumPy's shape functions (split, tile, pad, flip, ...),
which the NumPy-coverage issue adds.
"""

from __future__ import annotations

import numpy as np

from ..primitive import primitive, zerograd
from ..registry import register
from ..tensor import _astype, raw


def _same_shape(dy, y, a, *args, **kwargs):
    return np.reshape(dy, np.shape(a))


def _index_order(a, order):
    """``order`` "A" as the "C" or "F" that NumPy reads ``a`` in (it depends on the layout)."""
    if order != "A":
        return order
    flags = raw(a).flags
    return "F" if flags.f_contiguous and not flags.c_contiguous else "C"


def _memory_axes(a):
    """The axes of ``a`` in the order ``ravel(a, "K")`` reads them, outermost first.

    NumPy's iterator order: a stable insertion sort by decreasing ``|stride|``, in which an
    axis of stride 0 (broadcast, or of length 1) compares with none and keeps its place.
    """
    v = raw(a)
    strides = [0 if n == 1 else abs(s) for n, s in zip(v.shape, v.strides, strict=True)]
    inner = list(range(v.ndim - 1, -1, -1))  # innermost first, as NumPy's iterator sorts
    for i in range(1, len(inner)):
        s, pos = strides[inner[i]], i
        for j in range(i - 1, -1, -1):
            if s and strides[inner[j]]:
                if s >= strides[inner[j]]:
                    break
                pos = j
        inner.insert(pos, inner.pop(i))
    return tuple(reversed(inner))


def _grad_reshape(dy, y, a, shape=None, order="C", **kwargs):
    return np.reshape(dy, np.shape(a), order=_index_order(a, order))


def _grad_ravel(dy, y, a, order="C"):
    if order != "K":
        return np.reshape(dy, np.shape(a), order=_index_order(a, order))
    axes = _memory_axes(a)  # ravel(a, "K") is ravel(transpose(a, axes))
    dy = np.reshape(dy, tuple(np.shape(a)[i] for i in axes))
    return np.transpose(dy, tuple(np.argsort(axes)))


def _grad_transpose(dy, y, a, axes=None):
    if axes is None:
        return np.transpose(dy)
    ndim = np.ndim(a)
    return np.transpose(dy, tuple(np.argsort([int(ax) % ndim for ax in axes])))


primitive(np.reshape, _grad_reshape)
primitive(np.ravel, _grad_ravel)
primitive(np.transpose, _grad_transpose)
primitive(np.swapaxes, lambda dy, y, a, axis1, axis2: np.swapaxes(dy, axis1, axis2))
primitive(np.moveaxis, lambda dy, y, a, source, destination: np.moveaxis(dy, destination, source))
primitive(np.expand_dims, _same_shape)
primitive(np.squeeze, _same_shape)
primitive(np.broadcast_to, lambda dy, y, a, shape, subok=False: dy)  # summed back by the framework
primitive(np.copy, lambda dy, y, a, order="K", subok=False: dy)
primitive(_astype, lambda dy, y, a, dtype: dy, None, name="astype")


# -- joining: one argument per array -------------------------------------------------------


def _joined(args, kwargs):
    """``np.concatenate(arrays, axis)`` called as ``f(*arrays, axis=axis)``."""
    arrays, *rest = args
    return tuple(arrays), dict(zip(("axis", "out"), rest, strict=False), **kwargs)


def _concatenate(*arrays, **kwargs):
    return np.concatenate(arrays, **kwargs)


def _stack(*arrays, **kwargs):
    return np.stack(arrays, **kwargs)


def _grad_concatenate(dy, y, *arrays, axis=0, **kwargs):
    if axis is None:
        pieces, start = [], 0
        for a in arrays:
            n = int(np.size(a))
            pieces.append(np.reshape(dy[start:start + n], np.shape(a)))
            start += n
        return pieces
    ax = axis % np.ndim(y)
    pieces, start = [], 0
    for a in arrays:
        n = np.shape(a)[ax]
        pieces.append(dy[(slice(None),) * ax + (slice(start, start + n),)])
        start += n
    return pieces


def _grad_stack(dy, y, *arrays, axis=0, **kwargs):
    ax = axis % np.ndim(y)
    return [dy[(slice(None),) * ax + (i,)] for i in range(len(arrays))]


# np.concatenate and np.stack dispatch to these variadic primitives (one argument per array).
register(np.concatenate, primitive(_concatenate, grad_all=_grad_concatenate, adapter=_joined,
                                   name="np.concatenate").primitive)
register(np.stack, primitive(_stack, grad_all=_grad_stack, adapter=_joined,
                             name="np.stack").primitive)

# -- no gradient ---------------------------------------------------------------------------

for _fn in (np.shape, np.ndim, np.size, np.zeros_like, np.ones_like, np.empty_like,
            np.full_like, np.argmax, np.argmin, np.argsort, np.nonzero, np.count_nonzero,
            np.all, np.any, np.iscomplexobj, np.isrealobj, np.result_type):
    zerograd(_fn)
