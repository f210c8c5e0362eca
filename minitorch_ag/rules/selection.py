"""Gradients of functions that choose elements: take, take_along_axis, compress, extract,
choose, select, insert, delete, trim_zeros, diag (vector to matrix and matrix to vector),
diagonal (``np.linalg.diagonal``, ``x.diagonal``), diagflat, triu, tril, sort, partition, the
values of unique (``unique_values``, ``unique_counts``, ``unique_inverse``, ``unique_all``) and
of the set operations (union1d, intersect1d, setdiff1d, setxor1d), and bincount's weights;
plus, with no gradient, the functions that return indices or counts (argwhere, flatnonzero,
argpartition, lexsort, searchsorted, digitize, isin, unravel_index, ravel_multi_index, ix_,
the ``*_indices_from``, packbits and unpackbits).

The gradient of a choice of elements scatters ``dy`` back to where each element came from,
adding repeated choices up; the scatter is ``index_put`` (the primitive of ``indexing.py``,
whose own gradient is indexing again), and gathers are indexing or ``take_along_axis``, so
second order holds. Where the choice is made (the permutation of a sort, the rows of a
condition) is piecewise constant: it is computed once from the plain values.

Conventions at ties, where these functions are not differentiable: ``sort`` and
``partition`` send each output's gradient through the stable permutation (equal inputs keep
their order); a unique value's gradient is shared equally by all its occurrences, in every
array of a set operation (its derivative when they move together, the only direction along
which unique is continuous).
``partition`` computes ``take_along_axis(a, argpartition(a, kth))``, a valid partition that may
order the elements left and right of ``kth`` differently from ``np.partition``.

Skipped on purpose: the functions that write into an existing array (put, put_along_axis,
place, putmask, copyto, fill_diagonal), which cannot be recorded, and ``sort_complex``.
"""

from __future__ import annotations

import numpy as np

from ..backend import array_module
from ..primitive import primitive, raw, register, zerograd
from ._util import dtype_of
from .indexing import index_put


def _xp(v):
    return array_module(raw(v))


def _along(axis, item):
    return (slice(None),) * axis + (item,)


def _flat_scatter(dy, a, source):
    """The gradient of ``ravel(a)[source]``: ``dy`` added back at ``source``, shaped as ``a``."""
    size = int(np.size(a))
    return np.reshape(index_put(dy, (size,), source), np.shape(a))


# -- take, compress, extract ---------------------------------------------------------------


def _grad_take(dy, y, a, indices, axis=None, out=None, mode="raise"):
    xp = _xp(dy)
    idx = xp.asarray(raw(indices))
    n = int(np.size(a)) if axis is None else np.shape(a)[axis]
    if mode == "wrap":
        idx = idx % n
    elif mode == "clip":
        idx = xp.clip(idx, 0, n - 1)
    if axis is None:
        return _flat_scatter(dy, a, idx)
    return index_put(dy, np.shape(a), _along(int(axis) % np.ndim(a), idx))


def _grad_compress(dy, y, condition, a, axis=None, out=None):
    idx = _xp(dy).asarray(np.flatnonzero(raw(condition)))
    if axis is None:
        return _flat_scatter(dy, a, idx)
    return index_put(dy, np.shape(a), _along(int(axis) % np.ndim(a), idx))


def _grad_extract(dy, y, condition, arr):
    return _flat_scatter(dy, arr, _xp(dy).asarray(np.flatnonzero(raw(condition))))


primitive(np.take, _grad_take, None)
primitive(np.compress, None, _grad_compress)
primitive(np.extract, None, _grad_extract)


def _along_axis_index(shape, indices, axis, xp):
    """The integer-array index that makes ``x[index]`` equal ``take_along_axis(x, indices)``."""
    ndim = len(shape)
    return tuple(
        xp.asarray(indices) if d == axis
        else xp.arange(n).reshape((1,) * d + (n,) + (1,) * (ndim - d - 1))
        for d, n in enumerate(shape)
    )


def _grad_take_along_axis(dy, y, arr, indices, axis=-1):
    xp = _xp(dy)
    if axis is None:
        return _flat_scatter(dy, arr, xp.asarray(raw(indices)))
    shape = np.shape(arr)
    return index_put(dy, shape, _along_axis_index(shape, raw(indices), int(axis) % len(shape),
                                                  xp))


primitive(np.take_along_axis, _grad_take_along_axis, None)

# -- choose and select ---------------------------------------------------------------------


def _choose_args(args, kwargs):
    """``np.choose(a, choices, out, mode)`` called as ``f(a, *choices, mode=mode)``."""
    a, choices, *rest = args
    kwargs = dict(zip(("out", "mode"), rest, strict=False), **kwargs)
    return (a, *tuple(choices)), kwargs


def _choose(a, *choices, out=None, mode="raise"):
    xp = array_module(a)
    if xp is not np:  # CuPy's choose takes the choices as one array, not a sequence
        choices = xp.stack(xp.broadcast_arrays(*(xp.asarray(c) for c in choices)))
    return np.choose(a, choices, out=out, mode=mode)


def _grad_choose(dy, y, a, *choices, out=None, mode="raise"):
    k, n = _xp(dy).asarray(raw(a)), len(choices)
    if mode == "wrap":
        k = k % n
    elif mode == "clip":
        k = k.clip(0, n - 1)
    return [None] + [np.where(k == j, dy, 0) for j in range(n)]


register(np.choose, primitive(_choose, grad_all=_grad_choose, adapter=_choose_args,
                              name="np.choose").primitive)


def _select_args(args, kwargs):
    """``np.select(condlist, choicelist, default)`` as ``f(*choices, default, condlist=...)``."""
    names = ("condlist", "choicelist", "default")
    bound = dict(zip(names, args, strict=False), **kwargs)
    conds = [raw(c) for c in bound["condlist"]]
    return (*tuple(bound["choicelist"]), bound.get("default", 0)), {"condlist": conds}


def _select(*args, condlist):
    *choices, default = args
    return np.select(condlist, choices, default)


def _grad_select(dy, y, *args, condlist):
    """Each element's gradient goes to the first choice whose condition holds, else default."""
    xp = _xp(dy)
    n = len(args) - 1
    first = xp.full(np.shape(y), n)
    for j in range(n - 1, -1, -1):
        first = xp.where(xp.asarray(condlist[j]), j, first)
    return [np.where(first == j, dy, 0) for j in range(n + 1)]


register(np.select, primitive(_select, grad_all=_grad_select, adapter=_select_args,
                              name="np.select").primitive)

# -- insert, delete, trim_zeros ------------------------------------------------------------


def _codes(a):
    """Each element of ``a`` replaced by its flat position (plain NumPy: index bookkeeping)."""
    shape = np.shape(a)
    return np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)


def _insert_layout(arr, obj, values, axis):
    """Where ``insert`` puts each element: the flat output positions of ``arr``'s elements (in
    their order) and, for the inserted ones, which element of ``values`` each one is."""
    vshape = np.shape(values)
    vcodes = -1 - np.arange(int(np.prod(vshape, dtype=np.int64))).reshape(vshape)
    code = np.ravel(np.insert(_codes(arr), raw(obj), vcodes, axis))
    kept = np.flatnonzero(code >= 0)
    new = np.flatnonzero(code < 0)
    return kept[np.argsort(code[kept])], new, -1 - code[new]


def _grad_insert_arr(dy, y, arr, obj, values, axis=None):
    kept, _, _ = _insert_layout(arr, obj, values, axis)
    return np.reshape(np.ravel(dy)[_xp(dy).asarray(kept)], np.shape(arr))


def _grad_insert_values(dy, y, arr, obj, values, axis=None):
    _, new, source = _insert_layout(arr, obj, values, axis)
    xp = _xp(dy)
    return _flat_scatter(np.ravel(dy)[xp.asarray(new)], values, xp.asarray(source))


def _grad_delete(dy, y, arr, obj, axis=None):
    kept = np.ravel(np.delete(_codes(arr), raw(obj), axis))
    return _flat_scatter(np.ravel(dy), arr, _xp(dy).asarray(kept))


def _grad_trim_zeros(dy, y, filt, trim="fb", axis=None):
    v = raw(filt)
    nonzero = v != 0
    box = []
    for ax in range(v.ndim):
        if axis is not None and ax != int(axis) % v.ndim:
            box.append(slice(None))
            continue
        hits = np.flatnonzero(np.any(nonzero, axis=tuple(d for d in range(v.ndim) if d != ax)))
        start = int(hits[0]) if hits.size and "f" in trim.lower() else 0
        box.append(slice(start, start + np.shape(y)[ax]))
    return index_put(dy, v.shape, tuple(box))


primitive(np.insert, _grad_insert_arr, None, _grad_insert_values)
primitive(np.delete, _grad_delete, None)
primitive(np.trim_zeros, _grad_trim_zeros)

# -- diagonals and triangles ---------------------------------------------------------------


def _diagonal_index(length, offset, xp):
    """Rows and columns of the ``offset`` diagonal's first ``length`` elements."""
    r = xp.arange(length)
    return r + max(-offset, 0), r + max(offset, 0)


def _grad_diag(dy, y, v, k=0):
    if np.ndim(v) == 1:
        return np.diagonal(dy, k)
    return index_put(dy, np.shape(v), _diagonal_index(np.shape(y)[0], int(k), _xp(dy)))


def _grad_diagonal(dy, y, a, offset=0, axis1=0, axis2=1):
    """Scatter into the two axes moved last, then move them back."""
    shape = np.shape(a)
    ax1, ax2 = int(axis1) % len(shape), int(axis2) % len(shape)
    moved = tuple(n for d, n in enumerate(shape) if d not in (ax1, ax2)) + (shape[ax1],
                                                                           shape[ax2])
    rows, cols = _diagonal_index(np.shape(y)[-1], int(offset), _xp(dy))
    return np.moveaxis(index_put(dy, moved, (Ellipsis, rows, cols)), (-2, -1), (ax1, ax2))


primitive(np.diag, _grad_diag)
primitive(np.diagonal, _grad_diagonal)
primitive(np.linalg.diagonal, lambda dy, y, x, offset=0: _grad_diagonal(dy, y, x, offset, -2, -1))
primitive(np.diagflat, lambda dy, y, v, k=0: np.reshape(np.diagonal(dy, k), np.shape(v)))
primitive(np.triu, lambda dy, y, m, k=0: np.triu(dy, k))
primitive(np.tril, lambda dy, y, m, k=0: np.tril(dy, k))

# -- sort and partition: through the permutation -------------------------------------------


def _unpermute(dy, a, perm, axis):
    """The gradient of ``take_along_axis(a, perm, axis)`` for a permutation ``perm``."""
    xp = _xp(dy)
    inverse = xp.asarray(np.argsort(perm, axis=axis))
    if axis is None:
        return np.reshape(np.take_along_axis(np.ravel(dy), inverse, 0), np.shape(a))
    return np.take_along_axis(dy, inverse, axis)


def _flat_if(v, axis):
    return (np.ravel(v), 0) if axis is None else (v, axis)


def _grad_sort(dy, y, a, axis=-1, kind=None, order=None, *, stable=None):
    v, ax = _flat_if(raw(a), axis)
    return _unpermute(dy, a, np.argsort(v, axis=ax, kind="stable"), axis)


def _argpartition(a, kth, axis, kind, order):
    v, ax = _flat_if(raw(a), axis)
    extra = {} if (kind, order) == ("introselect", None) else {"kind": kind, "order": order}
    return np.argpartition(v, kth, axis=ax, **extra), v, ax  # CuPy's takes no kind or order


def _partition(a, kth, axis=-1, kind="introselect", order=None):
    perm, v, ax = _argpartition(a, kth, axis, kind, order)
    return np.take_along_axis(v, perm, ax)


def _grad_partition(dy, y, a, kth, axis=-1, kind="introselect", order=None):
    return _unpermute(dy, a, _argpartition(a, kth, axis, kind, order)[0], axis)


primitive(np.sort, _grad_sort)
register(np.partition, primitive(_partition, _grad_partition, None,
                                 name="np.partition").primitive)

# -- unique values -------------------------------------------------------------------------


def _unique_source(x, values, axis, equal_nan):
    """For each element (or slice along ``axis``) of ``x``, the position of its value in the
    output ``values``, and how many elements share that value."""
    v = raw(x)
    if axis is None:
        u, inverse, counts = np.unique(np.ravel(v), return_inverse=True, return_counts=True,
                                       equal_nan=equal_nan)
    else:
        u, inverse, counts = np.unique(v, return_inverse=True, return_counts=True, axis=axis,
                                       equal_nan=equal_nan)
    inverse = np.ravel(inverse)
    got = raw(values)
    if np.array_equal(got, u, equal_nan=True):
        return inverse, counts[inverse]
    if axis is None:  # an unsorted result (unique_values may be): match it to the sorted one
        order = np.argsort(got, kind="stable")
        if np.array_equal(got[order], u, equal_nan=True):
            return order[inverse], counts[inverse]
    raise ValueError("np.unique: cannot match the unique values to the input for the gradient")


def _grad_unique_values(dy, values, x, axis=None, equal_nan=True):
    xp = _xp(dy)
    source, counts = _unique_source(x, values, axis, equal_nan)
    share = xp.asarray(1.0 / counts, dtype=dtype_of(dy))
    if axis is None:
        return np.reshape(np.take(dy, xp.asarray(source)) * share, np.shape(x))
    ax = int(axis) % np.ndim(x)
    share = share.reshape((1,) * ax + (-1,) + (1,) * (np.ndim(x) - ax - 1))
    return np.take(dy, xp.asarray(source), axis=ax) * share


def _grad_unique(dy, y, ar, return_index=False, return_inverse=False, return_counts=False,
                 axis=None, *, equal_nan=True, sorted=True):
    values = y[0] if isinstance(y, tuple) else y
    g = dy[0] if isinstance(y, tuple) else dy
    return None if g is None else _grad_unique_values(g, values, ar, axis, equal_nan)


def _grad_unique_tuple(dy, y, x):
    """unique_counts, unique_inverse, unique_all: tuples whose first item is the values."""
    return None if dy[0] is None else _grad_unique_values(dy[0], y[0], x)


primitive(np.unique, _grad_unique)
primitive(np.unique_values, lambda dy, y, x: _grad_unique_values(dy, y, x))
for _fn in (np.unique_counts, np.unique_inverse, np.unique_all):
    primitive(_fn, _grad_unique_tuple)


def _grad_set_values(dy, y, *arrays):
    """Gradients of set operations (union1d, intersect1d, setdiff1d, setxor1d), whose result
    is sorted distinct values taken from the arrays: each output value's gradient is shared
    by every element of every array that equals it."""
    out = raw(y[0] if isinstance(y, tuple) else y)
    xp = _xp(out)  # not dy's: a tuple of gradients when indices are returned too
    g = dy[0] if isinstance(y, tuple) else dy
    if g is None:
        return [None] * len(arrays)
    if np.any(out[1:] <= out[:-1]):
        raise ValueError("set operation: the result is not sorted distinct values (was "
                         "assume_unique=True given arrays with repeated values?)")
    found = []
    counts = xp.zeros(out.shape, dtype=np.int64)
    for a in arrays:
        v = xp.asarray(np.ravel(raw(a)))
        pos = xp.clip(xp.searchsorted(out, v), 0, max(out.size - 1, 0))
        hit = (out[pos] == v) if out.size else xp.zeros(v.shape, dtype=bool)
        counts += xp.bincount(pos[hit], minlength=out.size)
        found.append((pos, hit))
    share = xp.asarray(1.0 / xp.maximum(counts, 1), dtype=dtype_of(g))
    return [np.reshape(np.where(hit, np.take(g, pos) * share[pos], 0), np.shape(a))
            if out.size else np.zeros_like(a, dtype=dtype_of(g))
            for (pos, hit), a in zip(found, arrays, strict=True)]


def _grad_set_pair(k):
    return lambda dy, y, ar1, ar2, *args, **kwargs: _grad_set_values(dy, y, ar1, ar2)[k]


for _fn in (np.union1d, np.intersect1d, np.setdiff1d, np.setxor1d):
    primitive(_fn, _grad_set_pair(0), _grad_set_pair(1))

# -- bincount: differentiable in its weights -----------------------------------------------


def _grad_bincount_weights(dy, y, x, weights=None, minlength=0):
    return dy[_xp(dy).asarray(raw(x))]


primitive(np.bincount, None, _grad_bincount_weights)

# -- no gradient: indices, counts and membership -------------------------------------------

for _fn in (np.argwhere, np.flatnonzero, np.argpartition, np.lexsort, np.searchsorted,
            np.digitize, np.isin, np.unravel_index, np.ravel_multi_index, np.ix_,
            np.diag_indices_from, np.tril_indices_from, np.triu_indices_from, np.packbits,
            np.unpackbits):
    zerograd(_fn)
