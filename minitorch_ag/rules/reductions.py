"""Gradients of reductions, their NaN-ignoring and cumulative versions, differences and norms.

Covers: sum, mean, max/amax, min/amin, prod, var, std, ptp; nansum, nanmean, nanmax, nanmin,
nanprod, nanvar, nanstd; cumsum, cumprod, cumulative_sum, cumulative_prod (``include_initial``),
nancumsum, nancumprod; trace and linalg.trace; diff (``n``, ``prepend``, ``append``), ediff1d,
trapezoid (``x`` or ``dx``); linalg.norm, linalg.vector_norm, linalg.matrix_norm.

Each reduction takes ``axis`` (an int, a negative int, a tuple or None) and ``keepdims``
where NumPy has them, and honours ``where=`` (and ``initial=``). Conventions:

- Ties in max/min (and in ptp, the inf-norms and the 1/inf matrix norms) share the gradient
  equally; NaN entries get zero gradient in the nan-functions.
- prod and cumprod are exact at inputs containing zeros; their second derivative there is
  refused with an error (from plain intermediate values it would be silently wrong).
- The 2-norm's gradient at 0 is 0 (PyTorch's subgradient), not NaN.
- The 'nuc', 2 and -2 matrix norms need an SVD: their gradient (sums of ``u v^T``) is
  differentiable when ``np.linalg.svd`` has a rule; without one their second derivative is
  refused with an error.

Skipped here, on purpose: complex inputs (no conjugation rules) and the gradient with respect
to ``initial=`` (a constant: NumPy does not dispatch on it, so it cannot be tracked).
Order statistics, average, cov, corrcoef and convolutions are in ``statistics.py``.
"""

from __future__ import annotations

import numpy as np

from ..backend import array_module
from ..primitive import primitive, raw
from ._util import (
    along,
    count,
    dtype_of,
    keep_dims,
    pad_axis,
    reduced_axes,
    refuse_higher_order,
)

# -- sum, mean, max, min ----------------------------------------------------------------------


def _grad_sum(dy, y, a, axis=None, dtype=None, out=None, keepdims=False, initial=None,
              where=True):
    g = keep_dims(dy, a, axis, keepdims)
    return g if where is True else g * np.broadcast_to(where, np.shape(a))


def _grad_mean(dy, y, a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    g = keep_dims(dy, a, axis, keepdims)
    if where is True:
        return g / count(a, axis)
    mask = np.broadcast_to(where, np.shape(a))
    n = np.sum(mask, axis=axis, keepdims=True).astype(dtype_of(dy))
    return g * mask / n


def _share(hit, axis, dtype):
    """``hit`` (where the extreme is reached) divided by the ties in each group."""
    ties = np.maximum(np.sum(hit, axis=axis, keepdims=True), 1)
    return (hit / ties).astype(dtype)


def _grad_extreme(dy, y, a, axis=None, out=None, keepdims=False, initial=None, where=True):
    hit = a == keep_dims(y, a, axis, keepdims)  # never true at NaN: nanmax/nanmin too
    if where is not True:
        hit = hit & where
    return keep_dims(dy, a, axis, keepdims) * _share(hit, axis, dtype_of(dy))


def _grad_ptp(dy, y, a, axis=None, out=None, keepdims=False):
    v = raw(a)
    top = v == np.max(v, axis=axis, keepdims=True)
    bottom = v == np.min(v, axis=axis, keepdims=True)
    dtype = dtype_of(dy)
    return keep_dims(dy, a, axis, keepdims) * (_share(top, axis, dtype)
                                               - _share(bottom, axis, dtype))


primitive(np.sum, _grad_sum)
primitive(np.mean, _grad_mean)
for _fn in (np.max, np.amax, np.min, np.amin, np.nanmax, np.nanmin):
    primitive(_fn, _grad_extreme)
primitive(np.ptp, _grad_ptp)


def _grad_nansum(dy, y, a, axis=None, dtype=None, out=None, keepdims=False, initial=None,
                 where=True):
    return _grad_sum(dy, y, a, axis, dtype, out, keepdims, initial, where) * ~np.isnan(a)


def _grad_nanmean(dy, y, a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    mask = ~np.isnan(a) & where
    n = np.maximum(np.sum(mask, axis=axis, keepdims=True), 1).astype(dtype_of(dy))
    return keep_dims(dy, a, axis, keepdims) * mask / n


primitive(np.nansum, _grad_nansum)
primitive(np.nanmean, _grad_nanmean)

# -- prod -------------------------------------------------------------------------------------


def _products_of_others(a, axis):
    """For each element, the product of the other elements in its reduction group."""
    v = raw(a)
    axes = reduced_axes(v.ndim, axis)
    dest = tuple(range(v.ndim - len(axes), v.ndim))
    moved = np.moveaxis(v, axes, dest)
    flat = moved.reshape(moved.shape[: v.ndim - len(axes)] + (-1,))
    ones = np.ones_like(flat[..., :1])
    left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return np.moveaxis((left * right).reshape(moved.shape), dest, axes)


def _grad_prod(dy, y, a, axis=None, dtype=None, out=None, keepdims=False, initial=None,
               where=True):
    g = keep_dims(dy, a, axis, keepdims)
    if where is not True:  # the elements left out count as ones and get no gradient
        g = g * np.broadcast_to(where, np.shape(a))
        a = np.where(where, a, 1)
    if not np.any(raw(a) == 0):
        return g * keep_dims(y, a, axis, keepdims) / a
    refuse_higher_order("np.prod", "at an input that contains zeros", a, dy,
                        fix="for positive inputs write np.exp(np.sum(np.log(x)))")
    others = _products_of_others(a, axis)
    return g * (others if initial is None else others * initial)


def _grad_nanprod(dy, y, a, axis=None, dtype=None, out=None, keepdims=False, initial=None,
                  where=True):
    nan = np.isnan(a)  # NaN counts as one, and gets no gradient
    return _grad_prod(dy, y, np.where(nan, 1, a), axis, dtype, out, keepdims, initial,
                      ~nan & where)


primitive(np.prod, _grad_prod)
primitive(np.nanprod, _grad_nanprod)

# -- var, std ---------------------------------------------------------------------------------


def _centred(a, axis, ddof, kwargs, where, nan=False):
    """``a`` minus its mean over ``axis`` (zero where it is left out), the divisor, and the
    mask of the elements counted (``True`` for all)."""
    correction = kwargs.get("correction", np._NoValue)
    ddof = ddof if correction is np._NoValue else correction
    mean = kwargs.get("mean", np._NoValue)
    mask = ~np.isnan(a) & where if nan else where
    if mask is True:
        if mean is np._NoValue:
            mean = np.mean(a, axis=axis, keepdims=True)
        return a - mean, count(a, axis) - ddof, True
    mask = np.broadcast_to(mask, np.shape(a))
    n = np.sum(mask, axis=axis, keepdims=True).astype(dtype_of(a))
    if mean is np._NoValue:
        # a masked mean written with sum: CuPy's reductions take no where= (an empty group
        # gives 0 here, NaN in NumPy's mean; its elements are all masked out below anyway)
        mean = np.sum(np.where(mask, a, 0), axis=axis, keepdims=True) / np.maximum(n, 1)
    return np.where(mask, a - mean, 0), np.where(n == 0, 1, n - ddof), mask  # 1: no 0/0


def _moment_grads(nan):
    """The rules of var and std (``nan``: of nanvar and nanstd)."""

    def grad_var(dy, y, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *,
                 where=True, **kwargs):
        centred, n, mask = _centred(a, axis, ddof, kwargs, where, nan)
        g = keep_dims(dy, a, axis, keepdims) * centred * (2 / n)
        return g if mask is True else np.where(mask, g, 0)  # 0, not 0/0, in empty groups

    def grad_std(dy, y, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *,
                 where=True, **kwargs):
        centred, n, mask = _centred(a, axis, ddof, kwargs, where, nan)
        g = keep_dims(dy, a, axis, keepdims) * centred / (keep_dims(y, a, axis, keepdims) * n)
        return g if mask is True else np.where(mask, g, 0)

    return grad_var, grad_std


for _var, _std, _nan in ((np.var, np.std, False), (np.nanvar, np.nanstd, True)):
    _grad_var, _grad_std = _moment_grads(_nan)
    primitive(_var, _grad_var)
    primitive(_std, _grad_std)

# -- cumulative sums and products -------------------------------------------------------------


def _reverse_cumsum(g, axis):
    """``sum(g[k:])`` along ``axis`` for every ``k``: the adjoint of ``cumsum``."""
    flip = along(axis, slice(None, None, -1))
    return np.cumsum(g[flip], axis=axis)[flip]


def _flat_axis(dy, a, axis):
    """The axis a cumulative function ran along, and ``a`` as the function saw it."""
    if axis is None:
        return 0, np.ravel(a)
    return int(axis) % np.ndim(a), a


def _cumprod_vjp(dy, y, a, axis, name):
    """The gradient of ``y = cumprod(a, axis)``: exact at zeros too."""
    if not np.any(raw(a) == 0):
        return _reverse_cumsum(dy * y, axis) / a
    refuse_higher_order(name, "at an input that contains zeros", a, dy)
    a, dy, y = raw(a), raw(dy), raw(y)
    zeros = np.cumsum(a == 0, axis=axis)
    before = zeros == 0  # before the first zero: y / a is well defined
    first = (a == 0) & (zeros == 1)  # the first zero: products of the others from there on
    after_first = np.cumprod(np.where(first, 1, a), axis=axis)
    return np.where(before, _reverse_cumsum(dy * y, axis) / np.where(before, a, 1),
                    np.where(first, _reverse_cumsum(dy * after_first, axis), 0))


def _grad_cumsum(dy, y, a, axis=None, dtype=None, out=None):
    ax, _ = _flat_axis(dy, a, axis)
    return np.reshape(_reverse_cumsum(dy, ax), np.shape(a))


def _grad_cumprod(dy, y, a, axis=None, dtype=None, out=None):
    ax, flat = _flat_axis(dy, a, axis)
    return np.reshape(_cumprod_vjp(dy, y, flat, ax, "np.cumprod"), np.shape(a))


def _grad_nancumsum(dy, y, a, axis=None, dtype=None, out=None):
    return _grad_cumsum(dy, y, a, axis) * ~np.isnan(a)


def _grad_nancumprod(dy, y, a, axis=None, dtype=None, out=None):
    ax, flat = _flat_axis(dy, a, axis)
    nan = np.isnan(flat)
    g = _cumprod_vjp(dy, y, np.where(nan, 1, flat), ax, "np.nancumprod")
    return np.reshape(np.where(nan, 0, g), np.shape(a))


def _cumulative(dy, y, x, axis, include_initial):
    """Axis, incoming gradient and result of ``cumulative_*`` without the initial element."""
    ax = 0 if axis is None else int(axis) % max(np.ndim(x), 1)
    if include_initial:
        rest = along(ax, slice(1, None))
        return ax, dy[rest], y[rest]
    return ax, dy, y


def _grad_cumulative_sum(dy, y, x, *, axis=None, dtype=None, out=None, include_initial=False):
    ax, dy, _ = _cumulative(dy, y, x, axis, include_initial)
    return np.reshape(_reverse_cumsum(dy, ax), np.shape(x))


def _grad_cumulative_prod(dy, y, x, *, axis=None, dtype=None, out=None, include_initial=False):
    ax, dy, y = _cumulative(dy, y, x, axis, include_initial)
    flat = np.reshape(x, np.shape(y))  # a 0-d x is seen as one element
    return np.reshape(_cumprod_vjp(dy, y, flat, ax, "np.cumulative_prod"), np.shape(x))


primitive(np.cumsum, _grad_cumsum)
primitive(np.cumprod, _grad_cumprod)
primitive(np.nancumsum, _grad_nancumsum)
primitive(np.nancumprod, _grad_nancumprod)
primitive(np.cumulative_sum, _grad_cumulative_sum)
primitive(np.cumulative_prod, _grad_cumulative_prod)

# -- trace ------------------------------------------------------------------------------------


def _grad_trace(dy, y, a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    shape = np.shape(a)
    ax1, ax2 = int(axis1) % len(shape), int(axis2) % len(shape)
    eye = array_module(raw(a)).eye(shape[ax1], shape[ax2], k=offset, dtype=bool)
    if ax1 > ax2:
        eye = eye.T
    eye = eye.reshape(tuple(n if i in (ax1, ax2) else 1 for i, n in enumerate(shape)))
    return np.expand_dims(dy, tuple(sorted((ax1, ax2)))) * eye


primitive(np.trace, _grad_trace)
primitive(np.linalg.trace, lambda dy, y, x, *, offset=0, dtype=None:
          _grad_trace(dy, y, x, offset, -2, -1))

# -- differences and the trapezoidal rule -----------------------------------------------------


def _diff_adjoint(g, axis):
    """The adjoint of one ``np.diff`` along ``axis``: ``out[k] = g[k - 1] - g[k]``."""
    return pad_axis(g, axis, 1, 0) - pad_axis(g, axis, 0, 1)


def _diff_vjp(dy, a, n, axis, prepend, append):
    """The gradient of ``diff`` with respect to the joined ``prepend, a, append``, and where
    ``a`` starts in it and ends."""
    ax = int(axis) % np.ndim(a)
    for _ in range(n):
        dy = _diff_adjoint(dy, ax)
    start = 0
    if prepend is not np._NoValue:
        start = 1 if np.ndim(prepend) == 0 else np.shape(prepend)[ax]
    return dy, ax, start, start + np.shape(a)[ax]


def _grad_diff_a(dy, y, a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    g, ax, start, stop = _diff_vjp(dy, a, n, axis, prepend, append)
    return g[along(ax, slice(start, stop))]


def _grad_diff_prepend(dy, y, a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    g, ax, start, _ = _diff_vjp(dy, a, n, axis, prepend, append)
    return g[along(ax, slice(0, start))]


def _grad_diff_append(dy, y, a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    g, ax, _, stop = _diff_vjp(dy, a, n, axis, prepend, append)
    return g[along(ax, slice(stop, None))]


primitive(np.diff, _grad_diff_a, None, None, _grad_diff_prepend, _grad_diff_append)


def _ediff1d_parts(dy, to_end, to_begin):
    begin = 0 if to_begin is None else int(np.size(to_begin))
    end = int(np.size(dy)) - (0 if to_end is None else int(np.size(to_end)))
    return begin, end


def _grad_ediff1d(dy, y, ary, to_end=None, to_begin=None):
    begin, end = _ediff1d_parts(dy, to_end, to_begin)
    return np.reshape(_diff_adjoint(dy[begin:end], 0), np.shape(ary))


def _grad_ediff1d_end(dy, y, ary, to_end=None, to_begin=None):
    return np.reshape(dy[_ediff1d_parts(dy, to_end, to_begin)[1]:], np.shape(to_end))


def _grad_ediff1d_begin(dy, y, ary, to_end=None, to_begin=None):
    return np.reshape(dy[:_ediff1d_parts(dy, to_end, to_begin)[0]], np.shape(to_begin))


primitive(np.ediff1d, _grad_ediff1d, _grad_ediff1d_end, _grad_ediff1d_begin)


def _trapezoid_parts(dy, y, x, dx, axis):
    """The axis, the step widths ``d`` (shaped along it) and ``dy`` with that axis kept."""
    ax = int(axis) % np.ndim(y)
    if x is None:
        d = dx
    elif np.ndim(x) == 1:
        d = np.reshape(np.diff(x), tuple(-1 if i == ax else 1 for i in range(np.ndim(y))))
    else:
        d = np.diff(x, axis=axis)
    return ax, d, np.expand_dims(dy, ax)


def _mids(y, ax):
    """The mean of each pair of neighbours along ``ax``."""
    return (y[along(ax, slice(1, None))] + y[along(ax, slice(None, -1))]) / 2


def _grad_trapezoid_y(dy, out, y, x=None, dx=1.0, axis=-1):
    ax, d, g = _trapezoid_parts(dy, y, x, dx, axis)
    shape = list(np.shape(y))
    shape[ax] -= 1
    half = np.broadcast_to(g * d / 2, np.broadcast_shapes(tuple(shape), np.shape(g * d)))
    return pad_axis(half, ax, 1, 0) + pad_axis(half, ax, 0, 1)


def _grad_trapezoid_x(dy, out, y, x=None, dx=1.0, axis=-1):
    ax, d, g = _trapezoid_parts(dy, y, x, dx, axis)
    gd = g * _mids(y, ax)  # the gradient with respect to the step widths
    if np.ndim(x) == 1:
        gd = np.sum(gd, axis=tuple(i for i in range(np.ndim(gd)) if i != ax))
        return _diff_adjoint(gd, 0)
    return _diff_adjoint(gd, int(axis) % np.ndim(gd))


def _grad_trapezoid_dx(dy, out, y, x=None, dx=1.0, axis=-1):
    ax, d, g = _trapezoid_parts(dy, y, x, dx, axis)
    return g * _mids(y, ax)  # the framework sums it to dx's shape (a number, or an array)


primitive(np.trapezoid, _grad_trapezoid_y, _grad_trapezoid_x, _grad_trapezoid_dx)

# -- norms ------------------------------------------------------------------------------------


def _over_nonzero(x, norm):
    """``x / norm``, and 0 where the norm is 0 (PyTorch's subgradient of the 2-norm)."""
    zero = norm == 0
    return np.where(zero, 0, x / np.where(zero, 1, norm))


def _vector_norm_vjp(dy, y, x, ord, axis, keepdims):
    g = keep_dims(dy, x, axis, keepdims)
    norm = keep_dims(y, x, axis, keepdims)
    if ord is None or ord == 2:
        return g * _over_nonzero(x, norm)
    if ord == 1:
        return g * np.sign(x)
    if ord == 0:  # the number of nonzero entries: piecewise constant
        return g * np.zeros_like(x)
    if ord in (np.inf, -np.inf):
        size = np.abs(raw(x))
        best = (np.max if ord > 0 else np.min)(size, axis=axis, keepdims=True)
        return g * np.sign(x) * _share(size == best, axis, dtype_of(dy))
    p = float(ord)
    return g * np.sign(x) * _over_nonzero(np.abs(x) ** (p - 1), norm ** (p - 1))


def _svd_norm_vjp(x, ord):
    """The gradient of the 'nuc', 2 or -2 norm of the matrices on the last two axes of ``x``."""
    u, _, vh = np.linalg.svd(x, full_matrices=False)
    if ord == "nuc":
        return u @ vh
    k = slice(0, 1) if ord == 2 else slice(-1, None)  # the largest or the smallest
    return u[..., :, k] @ vh[..., k, :]


def _matrix_norm_vjp(dy, y, x, ord, row, col, keepdims, name):
    nd = np.ndim(x)
    row, col = int(row) % nd, int(col) % nd
    g = keep_dims(dy, x, (row, col), keepdims)
    if ord in ("fro", None):
        return g * _over_nonzero(x, keep_dims(y, x, (row, col), keepdims))
    if ord in (1, -1, np.inf, -np.inf):  # max/min over one axis of sums over the other
        summed, picked = (row, col) if ord in (1, -1) else (col, row)
        sums = np.sum(np.abs(raw(x)), axis=summed, keepdims=True)
        best = (np.max if ord > 0 else np.min)(sums, axis=picked, keepdims=True)
        return g * np.sign(x) * _share(sums == best, picked, dtype_of(dy))
    if ord in ("nuc", 2, -2):
        moved = np.moveaxis(x, (row, col), (-2, -1))
        return g * np.moveaxis(_svd_norm_vjp(moved, ord), (-2, -1), (row, col))
    raise ValueError(f"{name}: invalid norm order {ord!r} for matrices")


def _grad_norm(dy, y, x, ord=None, axis=None, keepdims=False):
    nd = np.ndim(x)
    if axis is None:
        if ord is None or nd == 1:
            return _vector_norm_vjp(dy, y, x, ord, None, keepdims)
        return _matrix_norm_vjp(dy, y, x, ord, 0, 1, keepdims, "np.linalg.norm")
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    if len(axes) == 1:
        return _vector_norm_vjp(dy, y, x, ord, axes[0], keepdims)
    return _matrix_norm_vjp(dy, y, x, ord, axes[0], axes[1], keepdims, "np.linalg.norm")


def _grad_vector_norm(dy, y, x, *, axis=None, keepdims=False, ord=2):
    return _vector_norm_vjp(dy, y, x, ord, axis, keepdims)


def _grad_matrix_norm(dy, y, x, *, keepdims=False, ord="fro"):
    return _matrix_norm_vjp(dy, y, x, ord, -2, -1, keepdims, "np.linalg.matrix_norm")


primitive(np.linalg.norm, _grad_norm)
primitive(np.linalg.vector_norm, _grad_vector_norm)
primitive(np.linalg.matrix_norm, _grad_matrix_norm)
