"""Gradients of NumPy's statistics: weighted averages, order statistics, covariance, correlation
and the 1-d convolutions.

Covers: average (``weights``, ``returned=True``, ``keepdims``); median, nanmedian, percentile,
quantile, nanpercentile, nanquantile (``axis``, ``keepdims``, ``q`` a number or an array, and
every ``method``); cov (``rowvar``, ``bias``, ``ddof``, ``fweights``, ``aweights``, ``y``) and
corrcoef (``rowvar``, ``y``); convolve and correlate (modes full, same, valid).

Order statistics: the result interpolates between the two order statistics that bracket it
(``(1 - g) * lo + g * hi``, with ``g`` fixed by ``q`` and the group size), so the gradient
flows to those two, and elements tied with one of them share its part equally; NaN entries
get no gradient. With the default 'linear' method the gradient with respect to ``q`` is
``(hi - lo) * (n - 1)`` (over 100 for percentiles); the other discrete methods are piecewise
constant in ``q`` (zero gradient); for the other continuous methods a tracked ``q`` is refused
with an error. ``overwrite_input=True`` is ignored (it would scramble a value the tape holds).
NumPy's nanquantile/nanpercentile order their result differently from quantile when ``q`` has
two or more dimensions and ``axis`` names several (not all) axes; that case is refused with an
error rather than given a gradient in the wrong layout.

Skipped here, on purpose: gradients with respect to the ``weights`` of the order statistics
and the ``fweights``/``aweights`` of cov (a tracked one is refused with an error), and complex
inputs (no conjugation rules).
"""

from __future__ import annotations

import numpy as np

from ..backend import array_module
from ..primitive import Tensor, primitive, raw
from ._util import count, dtype_of, keep_dims, pad_axis, reduced_axes

# -- average ----------------------------------------------------------------------------------


def _weights_along(w, a, axis):
    """``average``'s ``weights`` laid out to broadcast against ``a`` (as NumPy does)."""
    if np.shape(w) == np.shape(a):
        return w
    nd = np.ndim(a)
    axes = tuple(int(ax) % nd for ax in (axis if isinstance(axis, (tuple, list)) else (axis,)))
    w = np.transpose(w, tuple(np.argsort(axes)))
    return np.reshape(w, tuple(n if i in axes else 1 for i, n in enumerate(np.shape(a))))


def _average_parts(dy, y, a, axis, weights, returned, keepdims):
    """The incoming gradients of the average and of the weight sums (keepdims-shaped, or
    ``None``), the average, and the weights' sum, laid out along ``a``."""
    keep = keepdims is not np._NoValue and keepdims
    dy_avg, dy_sum = dy if returned else (dy, None)
    avg = y[0] if returned else y
    g_avg = None if dy_avg is None else keep_dims(dy_avg, a, axis, keep)
    g_sum = None if dy_sum is None else keep_dims(dy_sum, a, axis, keep)
    return g_avg, g_sum, keep_dims(avg, a, axis, keep)


def _grad_average_a(dy, y, a, axis=None, weights=None, returned=False, *, keepdims=np._NoValue):
    g, _, _ = _average_parts(dy, y, a, axis, weights, returned, keepdims)
    if g is None:
        return None
    if weights is None:
        return g / count(a, axis)
    w = _weights_along(weights, a, axis)
    return g * w / np.sum(w, axis=axis, keepdims=True)


def _grad_average_weights(dy, y, a, axis=None, weights=None, returned=False, *,
                          keepdims=np._NoValue):
    g_avg, g_sum, avg = _average_parts(dy, y, a, axis, weights, returned, keepdims)
    w = _weights_along(weights, a, axis)
    g = 0
    if g_avg is not None:
        g = g_avg * (a - avg) / np.sum(w, axis=axis, keepdims=True)
    if g_sum is not None:
        g = g + g_sum
    g = np.broadcast_to(g, np.broadcast_shapes(np.shape(a), np.shape(g)))
    if np.shape(weights) == np.shape(a):
        return g
    nd = np.ndim(a)  # weights along ``axis`` only: sum the others, undo the layout
    axes = tuple(int(ax) % nd for ax in (axis if isinstance(axis, (tuple, list)) else (axis,)))
    g = np.sum(g, axis=tuple(i for i in range(nd) if i not in axes))
    return np.transpose(g, tuple(np.argsort(np.argsort(axes))))


primitive(np.average, _grad_average_a, None, _grad_average_weights)

# -- order statistics -------------------------------------------------------------------------

# Methods whose result is piecewise constant in q (it picks an order statistic, or the mean
# of two): their gradient with respect to q is zero.
_STEP_METHODS = ("lower", "higher", "nearest", "midpoint", "inverted_cdf",
                 "averaged_inverted_cdf", "closest_observation")


def _order_weights(a, q, y, axis, method, scale, name):
    """How the result depends on each element of ``a``: weights of shape ``q.shape + a.shape``
    (summing to one in each group), and the parts ``lo``, ``hi`` and ``n - 1`` of the result.
    """
    v = raw(a)
    qdims, nd = np.ndim(q), v.ndim
    axes = reduced_axes(nd, axis)
    kept = tuple(1 if i in axes else n for i, n in enumerate(v.shape))
    at = np.reshape(raw(y), np.shape(q) + kept)
    groups = tuple(qdims + ax for ax in axes)
    xp = array_module(v)
    if not isinstance(q, Tensor) and np.ndim(q):
        q = xp.asarray(q)  # a host constant meets device values below
    v = np.broadcast_to(v, np.shape(q) + v.shape)
    # masked max and min through where(): CuPy's reductions take no where= or initial=
    lo = np.max(np.where(v <= at, v, -xp.inf), axis=groups, keepdims=True)
    hi = np.min(np.where(v >= at, v, xp.inf), axis=groups, keepdims=True)
    n1 = np.sum(~np.isnan(v), axis=groups, keepdims=True) - 1
    if method == "linear":
        virtual = n1 * (q if qdims == 0 else np.reshape(q, np.shape(q) + (1,) * nd)) / scale
        g = virtual - np.floor(virtual)
    else:
        if isinstance(q, Tensor) and method not in _STEP_METHODS:
            raise TypeError(f"{name}: the gradient with respect to q is only supported "
                            f"for the 'linear' method and the discrete ones, not {method!r}")
        wide = (hi > lo) & np.isfinite(lo) & np.isfinite(hi)  # not an all-NaN group
        g = np.where(wide, (at - lo) / np.where(wide, hi - lo, 1), 0)
    dtype = dtype_of(y)
    hit_lo, hit_hi = v == lo, v == hi
    share_lo = hit_lo / np.maximum(np.sum(hit_lo, axis=groups, keepdims=True), 1)
    share_hi = hit_hi / np.maximum(np.sum(hit_hi, axis=groups, keepdims=True), 1)
    weights = (1 - g) * share_lo.astype(dtype) + g * share_hi.astype(dtype)
    return weights, share_lo.astype(dtype), share_hi.astype(dtype), n1


def _quantile_grads(name, scale, median=False):
    """The rules (for ``a`` and ``q``) of a quantile function that takes ``q`` over ``scale``."""

    def incoming(dy, a, q, axis):
        """``dy`` laid out as ``q.shape`` followed by ``a``'s shape with the groups as 1s."""
        axes = reduced_axes(np.ndim(a), axis)
        if name.startswith("np.nan") and np.ndim(q) > 1 and 1 < len(axes) < np.ndim(a):
            raise ValueError(
                f"{name}: with a q of {np.ndim(q)} dimensions and several (not all) axes, "
                f"NumPy lays the result out in another order than quantile does; its gradient "
                f"is not supported there (reshape a so that one axis is reduced, or loop over q)")
        kept = tuple(1 if i in axes else n for i, n in enumerate(np.shape(a)))
        return np.reshape(dy, np.shape(q) + kept)

    def grad_a(dy, y, a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False, *, weights=None):
        w, _, _, _ = _order_weights(a, q, y, axis, method, scale, name)
        return np.sum(incoming(dy, a, q, axis) * w, axis=tuple(range(np.ndim(q))))

    def grad_q(dy, y, a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False, *, weights=None):
        if method in _STEP_METHODS:
            return np.zeros_like(q, dtype=dtype_of(dy))
        if method != "linear":
            raise TypeError(f"{name}: the gradient with respect to q is only supported "
                            f"for the 'linear' method and the discrete ones, not {method!r}")
        _, share_lo, share_hi, n1 = _order_weights(a, raw(q), y, axis, method, scale, name)
        qdims = np.ndim(q)
        groups = tuple(qdims + ax for ax in reduced_axes(np.ndim(a), axis))
        known = np.where(np.isnan(a), 0, a)
        spread = np.sum((share_hi - share_lo) * known, axis=groups, keepdims=True)  # hi - lo
        per_group = incoming(dy, a, q, axis) * spread * (n1 / scale)
        return np.sum(per_group, axis=tuple(range(qdims, qdims + np.ndim(a))))

    if median:
        return (lambda dy, y, a, axis=None, out=None, overwrite_input=False, keepdims=False:
                grad_a(dy, y, a, 0.5, axis))
    return grad_a, grad_q


def _kept(keepdims):
    return keepdims is not np._NoValue and bool(keepdims)


def _no_overwrite(position):
    """An adapter that turns ``overwrite_input`` (at ``position`` or by name) off."""

    def adapter(args, kwargs):
        if len(args) > position:
            args = (*args[:position], False, *args[position + 1:])
        if kwargs.get("overwrite_input"):
            kwargs = dict(kwargs, overwrite_input=False)
        return args, kwargs

    return adapter


for _fn, _scale in ((np.quantile, 1), (np.nanquantile, 1), (np.percentile, 100),
                    (np.nanpercentile, 100)):
    primitive(_fn, *_quantile_grads(f"np.{_fn.__name__}", _scale), adapter=_no_overwrite(4))
for _fn in (np.median, np.nanmedian):
    primitive(_fn, _quantile_grads(f"np.{_fn.__name__}", 1, median=True),
              adapter=_no_overwrite(3))

# -- covariance and correlation ---------------------------------------------------------------


def _transposed(m, rowvar, first):
    """Whether ``cov`` transposes ``m`` (``first``) or ``y`` to put one variable per row."""
    if rowvar:
        return False
    return np.ndim(m) != 1 if first else (np.ndim(m) >= 2 and np.shape(m)[0] != 1)


def _rows(m, rowvar, first):
    """``m`` as a 2-d array with one variable per row (``cov``'s layout of ``m`` and ``y``)."""
    x = np.reshape(m, (1, -1)) if np.ndim(m) < 2 else m
    return np.transpose(x) if _transposed(m, rowvar, first) else x


def _cov_parts(m, y, rowvar, bias, ddof, fweights, aweights):
    """The centred variables (one per row), the weights (or ``None``) and the divisor."""
    x = _rows(m, rowvar, True)
    if y is not None:
        x = np.concatenate([x, _rows(y, rowvar, False)], axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    xp = array_module(raw(m))
    w = None
    for extra in (fweights, aweights):
        if extra is not None:
            extra = xp.asarray(raw(extra), dtype=float)
            w = extra if w is None else w * extra
    if w is None:
        return x - np.mean(x, axis=1, keepdims=True), None, np.shape(x)[1] - ddof
    total = np.sum(w)
    if ddof == 0:
        fact = total
    elif aweights is None:
        fact = total - ddof
    else:
        fact = total - ddof * np.sum(w * xp.asarray(raw(aweights), dtype=float)) / total
    return x - np.sum(x * w, axis=1, keepdims=True) / total, w, fact


def _cov_vjp(dc, m, y, rowvar, bias, ddof, fweights, aweights):
    """The gradients of ``m`` and ``y`` for the incoming gradient ``dc`` of ``cov``."""
    xc, w, fact = _cov_parts(m, y, rowvar, bias, ddof, fweights, aweights)
    k = np.shape(xc)[0]
    dc = np.reshape(dc, (k, k))
    gx = (dc + np.transpose(dc)) @ (xc if w is None else xc * w) / fact
    grads = []
    start = 0
    for v, first in ((m, True), (y, False)):
        if v is None:
            break
        rows = np.shape(_rows(raw(v), rowvar, first))[0]
        g = gx[start:start + rows]
        start += rows
        flipped = _transposed(v, rowvar, first)
        grads.append(np.reshape(np.transpose(g) if flipped else g, np.shape(v)))
    return grads


def _grad_cov_m(dy, c, m, y=None, rowvar=True, bias=False, ddof=None, fweights=None,
                aweights=None, *, dtype=None):
    return _cov_vjp(dy, m, y, rowvar, bias, ddof, fweights, aweights)[0]


def _grad_cov_y(dy, c, m, y=None, rowvar=True, bias=False, ddof=None, fweights=None,
                aweights=None, *, dtype=None):
    return _cov_vjp(dy, m, y, rowvar, bias, ddof, fweights, aweights)[1]


def _refuse_weights(dy, c, *args, **kwargs):
    raise TypeError("np.cov: gradients with respect to fweights/aweights are not supported; "
                    "pass ag.value(w) to use them as constants")


primitive(np.cov, _grad_cov_m, _grad_cov_y, None, None, None, _refuse_weights, _refuse_weights)


def _corr_to_cov(dr, r, c):
    """The gradient of the covariance ``c`` for the gradient ``dr`` of ``r = corr(c)``."""
    k = np.shape(c)[0] if np.ndim(c) else 1
    c, r, dr = np.reshape(c, (k, k)), np.reshape(r, (k, k)), np.reshape(dr, (k, k))
    idx = array_module(raw(c)).arange(k)
    var = c[idx, idx]
    sd = np.sqrt(var)
    h = dr * r
    shift = (np.sum(h, axis=1) + np.sum(h, axis=0)) / (2 * var)
    eye = array_module(raw(c)).eye(k, dtype=bool)
    return dr / (sd[:, None] * sd[None, :]) - shift[:, None] * eye


def _grad_corrcoef(which):
    def rule(dy, r, x, y=None, rowvar=True, *, dtype=None):
        dc = _corr_to_cov(dy, r, np.cov(x, y, rowvar))
        return _cov_vjp(dc, x, y, rowvar, False, None, None, None)[which]

    return rule


primitive(np.corrcoef, _grad_corrcoef(0), _grad_corrcoef(1))

# -- convolve and correlate -------------------------------------------------------------------


def _full_cotangent(dy, n, m, mode, correlating):
    """``dy`` of a mode 'same' or 'valid' result, padded with zeros to the 'full' length."""
    if mode in ("full", 2):
        return dy
    if mode in ("valid", 0):
        start = min(n, m) - 1
    elif correlating and n < m:
        start = min(n, m) // 2
    else:
        start = (min(n, m) - 1) // 2
    return pad_axis(dy, 0, start, n + m - 1 - np.shape(dy)[0] - start)


def _conv_parts(dy, a, v, mode, correlating):
    n, m = int(np.size(a)), int(np.size(v))
    dy = _full_cotangent(dy, n, m, mode, correlating)
    return dy, np.reshape(a, (n,)), np.reshape(v, (m,))


def _grad_convolve_a(dy, y, a, v, mode="full"):
    dy, _, v1 = _conv_parts(dy, a, v, mode, False)
    return np.reshape(np.correlate(dy, v1, "valid"), np.shape(a))


def _grad_convolve_v(dy, y, a, v, mode="full"):
    dy, a1, _ = _conv_parts(dy, a, v, mode, False)
    return np.reshape(np.correlate(dy, a1, "valid"), np.shape(v))


def _grad_correlate_a(dy, y, a, v, mode="valid"):
    dy, _, v1 = _conv_parts(dy, a, v, mode, True)
    return np.reshape(np.correlate(dy, v1[::-1], "valid"), np.shape(a))


def _grad_correlate_v(dy, y, a, v, mode="valid"):
    dy, a1, _ = _conv_parts(dy, a, v, mode, True)
    return np.reshape(np.correlate(dy, a1, "valid")[::-1], np.shape(v))


primitive(np.convolve, _grad_convolve_a, _grad_convolve_v)
primitive(np.correlate, _grad_correlate_a, _grad_correlate_v)
