"""Gradients of grids, interpolation and polynomials: linspace, logspace, interp, polyval.

Covers: ``linspace`` and ``logspace`` with tracked endpoints (``start``/``stop``, scalars or
arrays, any ``axis``, ``endpoint``), ``interp(x, xp, fp)`` with respect to ``x`` and ``fp``,
``polyval(p, x)`` with respect to both, to every order.

Skipped, on purpose: ``retstep=True`` (a tuple whose step would need its own rule: compute
``(stop - start) / (num - 1)`` instead), ``logspace``'s ``base`` and ``interp``'s ``xp`` (no
gradient: the grid is data), ``interp`` with ``period=`` (refused while tracked), and
``poly1d`` objects (they call ``np.asarray`` on their coefficients).

Conventions: ``interp`` is piecewise linear, so with respect to ``x`` its gradient is the
slope of the piece ``x`` falls in, taken from the right at a knot (where NumPy's own
search puts ``x``), and zero outside ``[xp[0], xp[-1]]`` where the value is the constant
``left``/``right``.
"""

from __future__ import annotations

import numpy as np

from ..backend import array_module
from ..primitive import primitive, raw

# -- linspace, logspace ----------------------------------------------------------------------


def _fractions(y, num, endpoint, axis, dtype):
    """``t`` in ``y = start + (stop - start) * t``, shaped to broadcast along ``axis``."""
    xp = array_module(raw(y))
    div = (num - 1) if endpoint else num
    t = xp.arange(num, dtype=dtype) / div if div > 0 else xp.zeros(num, dtype=dtype)
    ndim = np.ndim(raw(y))
    shape = [1] * ndim
    shape[axis % ndim] = num
    return t.reshape(shape)


def _grad_linspace(which):
    def rule(dy, y, start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
        if retstep:
            raise TypeError("np.linspace(..., retstep=True): no gradient through the step; "
                            "compute it as (stop - start) / (num - 1)")
        t = _fractions(y, num, endpoint, axis, np.result_type(raw(dy)))
        return np.sum(dy * (t if which else 1 - t), axis=axis)
    return rule


def _grad_logspace(which):
    def rule(dy, y, start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
        t = _fractions(y, num, endpoint, axis, np.result_type(raw(dy)))
        return np.sum(dy * y * np.log(base) * (t if which else 1 - t), axis=axis)
    return rule


primitive(np.linspace, _grad_linspace(0), _grad_linspace(1))
primitive(np.logspace, _grad_logspace(0), _grad_logspace(1))

# -- interp ----------------------------------------------------------------------------------


def _piece(x, xp):
    """Index ``i`` of the piece ``[xp[i], xp[i + 1]]`` holding each ``x``, and whether inside."""
    v, grid = raw(x), raw(xp)
    xm = array_module(v)
    i = xm.clip(xm.searchsorted(grid, v, side="right") - 1, 0, len(grid) - 2)
    inside = (v >= grid[0]) & (v <= grid[-1])
    return i, inside


def _refuse_period(period):
    if period is not None:
        raise TypeError("np.interp(..., period=...): gradients are not supported with period; "
                        "wrap x into one period first")


def _grad_interp_x(dy, y, x, xp, fp, left=None, right=None, period=None):
    _refuse_period(period)
    i, inside = _piece(x, xp)
    slope = (fp[i + 1] - fp[i]) / (xp[i + 1] - xp[i])
    return dy * slope * inside


def _grad_interp_fp(dy, y, x, xp, fp, left=None, right=None, period=None):
    _refuse_period(period)
    i, inside = _piece(x, xp)
    v, grid = raw(x), raw(xp)
    n = len(grid)
    t = (x - grid[i]) / (grid[i + 1] - grid[i])  # x itself: fp's gradient depends on it
    dy = dy * np.ones_like(v)  # one weight per x, also where x broadcasts a scalar dy
    low = np.where(inside, dy * (1 - t), 0.0)
    high = np.where(inside, dy * t, 0.0)
    # beyond the ends the value is fp[0] / fp[-1] unless left/right replace it
    low = low + (np.where(v < grid[0], dy, 0.0) if left is None else 0.0)
    high = high + (np.where(v > grid[-1], dy, 0.0) if right is None else 0.0)
    idx = np.ravel(i)
    return (np.bincount(idx, np.ravel(low), n)
            + np.bincount(idx + 1, np.ravel(high), n))


primitive(np.interp, _grad_interp_x, None, _grad_interp_fp)

# -- polyval ---------------------------------------------------------------------------------


def _powers(x, n):
    """``x ** (n - 1), ..., x, 1`` stacked on a new last axis (recorded: exact to every order)."""
    return np.stack([x ** (n - 1 - k) for k in range(n)], axis=-1)


def _grad_polyval_p(dy, y, p, x):
    n = np.shape(p)[0]
    w = dy * np.ones_like(raw(x))  # one weight per x
    return np.reshape(np.sum(np.reshape(_powers(x, n) * w[..., None], (-1, n)), axis=0), (n,))


def _grad_polyval_x(dy, y, p, x):
    n = np.shape(p)[0]
    if n < 2:
        return None
    xp = array_module(raw(p))  # on p's device
    dp = p[:-1] * xp.arange(n - 1, 0, -1, dtype=np.result_type(raw(p), float))
    return dy * np.polyval(dp, x)


primitive(np.polyval, _grad_polyval_p, _grad_polyval_x)
