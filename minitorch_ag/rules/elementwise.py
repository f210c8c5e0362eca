"""Gradients of NumPy's elementwise functions (ufuncs) and of ``np.where`` / ``np.clip``.

Covers: add, subtract, multiply, true_divide (divide), negative, positive, power, square, sqrt,
exp, log, tanh, sin, cos, absolute (abs), maximum, minimum, remainder (mod), where, clip; and,
with zero gradient, the comparisons, logical and bitwise functions, floor_divide, floor, ceil,
trunc, rint, round, sign, signbit, isnan, isinf, isfinite, isclose, allclose, array_equal.
Skipped here, on purpose: the rest of NumPy's math ufuncs (the NumPy-coverage issue adds them
to this table). Complex inputs are not differentiated (no conjugation rules yet).
"""

from __future__ import annotations

import numpy as np

from ..primitive import primitive, zerograd

# -- arithmetic ---------------------------------------------------------------------------

primitive(np.add, lambda dy, y, a, b: dy, lambda dy, y, a, b: dy)
primitive(np.subtract, lambda dy, y, a, b: dy, lambda dy, y, a, b: -dy)
primitive(np.multiply, lambda dy, y, a, b: dy * b, lambda dy, y, a, b: dy * a)
primitive(np.true_divide, lambda dy, y, a, b: dy / b, lambda dy, y, a, b: -dy * y / b)
primitive(np.negative, lambda dy, y, a: -dy)
primitive(np.positive, lambda dy, y, a: dy)
primitive(np.remainder, lambda dy, y, a, b: dy, lambda dy, y, a, b: -dy * np.floor_divide(a, b))


def _grad_power_base(dy, y, a, b):
    if isinstance(b, (int, float)):  # the common case: a constant exponent
        return None if b == 0 else dy * b * a ** (b - 1)
    return np.where(b == 0, 0, dy * b * a ** (b - 1))


def _grad_power_exponent(dy, y, a, b):
    # d(a**b)/db = a**b log(a); where a <= 0 it is undefined (or complex): taken as 0.
    return dy * y * np.log(np.where(a > 0, a, 1))


primitive(np.power, _grad_power_base, _grad_power_exponent)
primitive(np.square, lambda dy, y, a: dy * 2 * a)
primitive(np.sqrt, lambda dy, y, a: dy / (2 * y))

# -- exponentials, logarithms, trigonometry ------------------------------------------------

primitive(np.exp, lambda dy, y, a: dy * y)
primitive(np.log, lambda dy, y, a: dy / a)
primitive(np.tanh, lambda dy, y, a: dy * (1 - y * y))
primitive(np.sin, lambda dy, y, a: dy * np.cos(a))
primitive(np.cos, lambda dy, y, a: -dy * np.sin(a))

# -- piecewise linear ----------------------------------------------------------------------

primitive(np.absolute, lambda dy, y, a: dy * np.sign(a))


def _split(dy, win, tie):
    """``dy`` where an argument wins, half of it where the two tie (as PyTorch does)."""
    return dy * win + (dy * tie) * 0.5


primitive(np.maximum,
          lambda dy, y, a, b: _split(dy, a > b, a == b),
          lambda dy, y, a, b: _split(dy, b > a, a == b))
primitive(np.minimum,
          lambda dy, y, a, b: _split(dy, a < b, a == b),
          lambda dy, y, a, b: _split(dy, b < a, a == b))
primitive(np.where,
          None,
          lambda dy, y, c, a, b: np.where(c, dy, 0),
          lambda dy, y, c, a, b: np.where(c, 0, dy))


def _clip_bounds(a_min, a_max, kwargs):
    lo = kwargs.get("min", a_min)
    hi = kwargs.get("max", a_max)
    return (None if lo is np._NoValue else lo), (None if hi is np._NoValue else hi)


def _grad_clip(dy, y, a, a_min=None, a_max=None, out=None, **kwargs):
    lo, hi = _clip_bounds(a_min, a_max, kwargs)
    inside = True
    if lo is not None:
        inside = inside & (a >= lo)
    if hi is not None:
        inside = inside & (a <= hi)
    return dy * inside


def _grad_clip_min(dy, y, a, a_min=None, a_max=None, out=None, **kwargs):
    return dy * (a < _clip_bounds(a_min, a_max, kwargs)[0])


def _grad_clip_max(dy, y, a, a_min=None, a_max=None, out=None, **kwargs):
    return dy * (a > _clip_bounds(a_min, a_max, kwargs)[1])


primitive(np.clip, _grad_clip, _grad_clip_min, _grad_clip_max)

# -- zero gradient: piecewise constant or boolean results ---------------------------------

for _fn in (
    np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal,
    np.logical_and, np.logical_or, np.logical_not, np.logical_xor,
    np.bitwise_and, np.bitwise_or, np.bitwise_xor, np.invert, np.left_shift, np.right_shift,
    np.floor_divide, np.floor, np.ceil, np.trunc, np.rint, np.round, np.sign, np.signbit,
    np.isnan, np.isinf, np.isfinite, np.isclose, np.allclose, np.array_equal,
):
    zerograd(_fn)
