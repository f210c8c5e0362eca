"""Gradients of functions that rearrange the elements of one array without choosing among them:
reshape, ravel (and ``x.flatten``), transpose (``x.T``), swapaxes, moveaxis, rollaxis,
matrix_transpose (``np.linalg.matrix_transpose``, ``x.mT``), expand_dims and squeeze (an int or
a tuple of axes), broadcast_to, broadcast_arrays, atleast_1d/2d/3d, meshgrid, flip, fliplr,
flipud, roll, rot90, copy and ``astype`` (the method and NumPy 2's ``np.astype``); plus, with no
gradient, the shape and dtype queries and the ``*_like`` constructors.

Each of these is linear and its gradient is the inverse rearrangement of ``dy`` (summed back
where the forward broadcast), written with the same NumPy functions, so second order works.
``reshape`` and ``ravel`` take every index order (``"A"`` and ``"K"`` follow the argument's
memory layout, as NumPy does). The several-array forms (``atleast_1d(a, b)``,
``broadcast_arrays``, ``meshgrid``) are primitives returning a tuple.

Joining and splitting live in ``joining.py``, choosing elements (sort, take, diag ...) in
``selection.py``. Skipped here, on purpose: the ndarray methods that work in place
(``sort``, ``partition``, ``resize``, ``fill``): a Tensor does not offer them, since they would
overwrite a value the tape may hold (``np.sort`` and ``np.resize`` have rules). ``np.row_stack``
needs no rule of its own: it is not a NumPy array function but calls ``np.vstack``.
"""

from __future__ import annotations

import numpy as np

from ..primitive import astype, primitive, raw, register, zerograd


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


def _inverse_axes(perm):
    """The permutation that undoes ``transpose(., perm)``."""
    return tuple(int(i) for i in np.argsort(perm))


def _grad_transpose(dy, y, a, axes=None):
    if axes is None:
        return np.transpose(dy)
    ndim = np.ndim(a)
    return np.transpose(dy, _inverse_axes([int(ax) % ndim for ax in axes]))


def _grad_rollaxis(dy, y, a, axis, start=0):
    """``rollaxis`` is a transpose: undo the permutation it applies (NumPy's own rule)."""
    n = np.ndim(a)
    axis, start = int(axis) % n, int(start)
    start = start + n if start < 0 else start
    perm = list(range(n))
    if axis < start:
        start -= 1
    if axis != start:
        perm.remove(axis)
        perm.insert(start, axis)
    return np.transpose(dy, _inverse_axes(perm))


def _negated(shift):
    return tuple(-int(s) for s in shift) if np.ndim(shift) else -int(shift)


primitive(np.reshape, _grad_reshape)
primitive(np.ravel, _grad_ravel)
primitive(np.transpose, _grad_transpose)
primitive(np.swapaxes, lambda dy, y, a, axis1, axis2: np.swapaxes(dy, axis1, axis2))
primitive(np.moveaxis, lambda dy, y, a, source, destination: np.moveaxis(dy, destination, source))
primitive(np.rollaxis, _grad_rollaxis)
for _fn in (np.matrix_transpose, np.linalg.matrix_transpose):
    primitive(_fn, lambda dy, y, x: np.swapaxes(dy, -1, -2))
primitive(np.expand_dims, _same_shape)
primitive(np.squeeze, _same_shape)
primitive(np.broadcast_to, lambda dy, y, a, shape, subok=False: dy)  # summed back by the framework
primitive(np.flip, lambda dy, y, m, axis=None: np.flip(dy, axis))
primitive(np.fliplr, lambda dy, y, m: np.fliplr(dy))
primitive(np.flipud, lambda dy, y, m: np.flipud(dy))
primitive(np.roll, lambda dy, y, a, shift, axis=None: np.roll(dy, _negated(shift), axis))
primitive(np.rot90, lambda dy, y, m, k=1, axes=(0, 1): np.rot90(dy, -k, axes))
primitive(np.copy, lambda dy, y, a, order="K", subok=False: dy)


def _astype_call(args, kwargs):
    """``np.astype(x, dtype, copy=..., device=...)`` as the method's ``astype(x, dtype)``."""
    x, dtype = args
    return (x, np.dtype(dtype)), {}


# One primitive for ``x.astype(dtype)`` and NumPy 2's ``np.astype(x, dtype)``.
register(np.astype, primitive(astype, lambda dy, y, a, dtype: dy, None, name="astype",
                              adapter=_astype_call).primitive)


# -- several arrays in, a tuple out --------------------------------------------------------


def _grad_atleast(dy, y, *arys):
    """Each output is its argument reshaped: reshape each incoming gradient back."""
    if len(arys) == 1:
        return [np.reshape(dy, np.shape(arys[0]))]
    return [None if g is None else np.reshape(g, np.shape(a)) for g, a in zip(dy, arys,
                                                                             strict=True)]


def _grad_broadcast_arrays(dy, y, *args, subok=False):
    return list(dy)  # each summed back to its argument's shape by the framework


def _meshgrid_axis(k, n, indexing):
    """The output axis along which the ``k``-th of ``n`` inputs varies."""
    if indexing == "xy" and n > 1 and k < 2:
        return 1 - k
    return k


def _grad_meshgrid(dy, y, *xi, copy=True, sparse=False, indexing="xy"):
    grads = []
    for k, (g, x) in enumerate(zip(dy, xi, strict=True)):
        if g is None:
            grads.append(None)
            continue
        keep = _meshgrid_axis(k, len(xi), indexing)
        others = tuple(i for i in range(len(xi)) if i != keep)
        grads.append(np.reshape(np.sum(g, axis=others) if others else g, np.shape(x)))
    return grads


def _tuple_of_arrays(fn):
    """``fn`` returning a tuple where it returns several arrays: CuPy's ``atleast_*d`` return a
    list, which the tape would take for one output."""

    def call(*arys):
        out = fn(*arys)
        return tuple(out) if isinstance(out, list) else out

    return call


for _fn in (np.atleast_1d, np.atleast_2d, np.atleast_3d):
    register(_fn, primitive(_tuple_of_arrays(_fn), grad_all=_grad_atleast,
                            name=f"np.{_fn.__name__}").primitive)
primitive(np.broadcast_arrays, grad_all=_grad_broadcast_arrays)
def _meshgrid(*xi, **kwargs):
    """``np.meshgrid`` on every device: NumPy flattens its inputs, CuPy wants them 1-d, and CuPy
    returns a list where NumPy returns a tuple."""
    return tuple(np.meshgrid(*(x if np.ndim(x) == 1 else np.ravel(x) for x in xi), **kwargs))


register(np.meshgrid, primitive(_meshgrid, grad_all=_grad_meshgrid, name="np.meshgrid").primitive)

# -- no gradient: shape, dtype and memory queries, constructors of the same shape ----------

for _fn in (np.shape, np.ndim, np.size, np.zeros_like, np.ones_like, np.empty_like,
            np.full_like, np.argmax, np.argmin, np.argsort, np.nonzero, np.count_nonzero,
            np.all, np.any, np.iscomplexobj, np.isrealobj, np.result_type, np.can_cast,
            np.min_scalar_type, np.common_type, np.may_share_memory, np.shares_memory):
    zerograd(_fn)
