"""Gradients of NumPy's elementwise functions: the math ufuncs and their array-function kin.

Covers (differentiable): add, subtract, multiply, true_divide (divide), remainder (mod), fmod,
divmod, negative, positive, reciprocal, power, float_power, square, sqrt, cbrt, exp, exp2,
expm1, log, log2, log10, log1p, logaddexp, logaddexp2, sin, cos, tan, arcsin, arccos, arctan,
arctan2, hypot, sinh, cosh, tanh, arcsinh, arccosh, arctanh, deg2rad, rad2deg, degrees, radians,
sinc, i0, absolute (abs), fabs, maximum, minimum, fmax, fmin, copysign, heaviside, ldexp, frexp,
modf, nextafter, nan_to_num, clip, where, unwrap, and (for real inputs) real, imag,
conjugate (conj), angle, real_if_close.

Covers (zero gradient, results never tracked): the comparisons, logical and bitwise functions,
floor_divide, floor, ceil, trunc, fix, rint, round, around, sign, signbit, spacing, isnan,
isinf, isfinite, isneginf, isposinf, iscomplex, isreal, isnat, isclose, allclose, array_equal,
array_equiv, gcd, lcm, bitwise_count.

Conventions, where a function is not differentiable everywhere: at a kink the gradient is the
one of the branch NumPy's own comparison picks (abs and fabs: 0 at 0; clip: the inside), except
that maximum/minimum/fmax/fmin share it equally between tied arguments (as PyTorch does);
fmax/fmin give it to the argument that is not NaN; the exponent of power/float_power gets 0
where the base is not positive; heaviside(x1, x2) gets no gradient through x1 and passes it to
x2 where x1 == 0; ldexp, frexp, divmod and the integer parts of modf have no gradient through
their integer values (np.select, which the table also tests, lives in selection.py).
nextafter(x1, x2) moves x1 by one unit in the last place, so
its gradient is 1 for x1 (0 for x2), not 0. sinc's derivative is a Taylor polynomial near 0,
so that all orders are exact there too; i0's derivative is the modified Bessel function I1,
computed by its power series (:func:`bessel_i`, a primitive itself, so every order works).

Skipped, on purpose: complex differentiation. real, imag, conjugate, angle and real_if_close
raise ``TypeError`` in the backward pass for complex inputs (their rules here are right for
real inputs only); the other rules follow no complex convention and are checked for real inputs
only. matvec, vecmat and vecdot are ufuncs but belong to the linear-algebra table. interp (its
gradient with respect to fp is a scatter-add into fp, which needs an indexing primitive) and
piecewise (it calls arbitrary functions on masked pieces) are left to the NumPy-coverage issue.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..backend import array_module
from ..primitive import is_tracked, primitive, raw, zerograd

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_DEG2RAD = math.pi / 180.0
_RAD2DEG = 180.0 / math.pi

# -- arithmetic ---------------------------------------------------------------------------

primitive(np.add, lambda dy, y, a, b: dy, lambda dy, y, a, b: dy)
primitive(np.subtract, lambda dy, y, a, b: dy, lambda dy, y, a, b: -dy)
primitive(np.multiply, lambda dy, y, a, b: dy * b, lambda dy, y, a, b: dy * a)
primitive(np.true_divide, lambda dy, y, a, b: dy / b, lambda dy, y, a, b: -dy * y / b)
primitive(np.negative, lambda dy, y, a: -dy)
primitive(np.positive, lambda dy, y, a: dy)
primitive(np.reciprocal, lambda dy, y, a: -dy * y * y)
primitive(np.remainder, lambda dy, y, a, b: dy, lambda dy, y, a, b: -dy * np.floor_divide(a, b))
# fmod(a, b) = a - b * trunc(a / b); the quotient is piecewise constant (a constant here).
primitive(np.fmod, lambda dy, y, a, b: dy, lambda dy, y, a, b: -dy * np.trunc(raw(a) / raw(b)))


def _grad_divmod_divisor(dy, y, a, b):
    # divmod(a, b) = (a // b, a % b): only the remainder depends on b, by -(a // b).
    return None if dy[1] is None else -dy[1] * raw(y[0])


primitive(np.divmod, lambda dy, y, a, b: dy[1], _grad_divmod_divisor)


def _grad_power_base(dy, y, a, b):
    if isinstance(b, (int, float)):  # the common case: a constant exponent
        return None if b == 0 else dy * b * a ** (b - 1)
    return np.where(b == 0, 0, dy * b * a ** (b - 1))


def _grad_power_exponent(dy, y, a, b):
    # d(a**b)/db = a**b log(a); where a <= 0 it is undefined (or complex): taken as 0.
    return dy * y * np.log(np.where(a > 0, a, 1))


primitive(np.power, _grad_power_base, _grad_power_exponent)


def _grad_float_power_base(dy, y, a, b):
    if isinstance(b, (int, float)):
        return None if b == 0 else dy * b * np.float_power(a, b - 1)
    return np.where(b == 0, 0, dy * b * np.float_power(a, b - 1))


primitive(np.float_power, _grad_float_power_base, _grad_power_exponent)
primitive(np.square, lambda dy, y, a: dy * 2 * a)
primitive(np.sqrt, lambda dy, y, a: dy / (2 * y))
primitive(np.cbrt, lambda dy, y, a: dy / (3 * y * y))

# -- exponentials and logarithms -----------------------------------------------------------

primitive(np.exp, lambda dy, y, a: dy * y)
primitive(np.exp2, lambda dy, y, a: dy * y * _LN2)
primitive(np.expm1, lambda dy, y, a: dy * (y + 1))
primitive(np.log, lambda dy, y, a: dy / a)
primitive(np.log2, lambda dy, y, a: dy / (a * _LN2))
primitive(np.log10, lambda dy, y, a: dy / (a * _LN10))
primitive(np.log1p, lambda dy, y, a: dy / (a + 1))
primitive(np.logaddexp,
          lambda dy, y, a, b: dy * np.exp(a - y),
          lambda dy, y, a, b: dy * np.exp(b - y))
primitive(np.logaddexp2,
          lambda dy, y, a, b: dy * np.exp2(a - y),
          lambda dy, y, a, b: dy * np.exp2(b - y))
primitive(np.ldexp, lambda dy, y, a, e: np.ldexp(dy, e), None)  # a * 2**e; e is an integer
# frexp(a) = (m, e) with a = m * 2**e: m = a * 2**-e, and e is piecewise constant.
primitive(np.frexp, lambda dy, y, a: None if dy[0] is None else np.ldexp(dy[0], -raw(y[1])))

# -- trigonometric and hyperbolic ----------------------------------------------------------

primitive(np.sin, lambda dy, y, a: dy * np.cos(a))
primitive(np.cos, lambda dy, y, a: -dy * np.sin(a))
primitive(np.tan, lambda dy, y, a: dy * (1 + y * y))
primitive(np.arcsin, lambda dy, y, a: dy / np.sqrt(1 - a * a))
primitive(np.arccos, lambda dy, y, a: -dy / np.sqrt(1 - a * a))
primitive(np.arctan, lambda dy, y, a: dy / (1 + a * a))
primitive(np.arctan2,
          lambda dy, y, a, b: dy * b / (a * a + b * b),
          lambda dy, y, a, b: -dy * a / (a * a + b * b))
primitive(np.hypot, lambda dy, y, a, b: dy * a / y, lambda dy, y, a, b: dy * b / y)
primitive(np.sinh, lambda dy, y, a: dy * np.cosh(a))
primitive(np.cosh, lambda dy, y, a: dy * np.sinh(a))
primitive(np.tanh, lambda dy, y, a: dy * (1 - y * y))
primitive(np.arcsinh, lambda dy, y, a: dy / np.sqrt(a * a + 1))
primitive(np.arccosh, lambda dy, y, a: dy / np.sqrt(a * a - 1))
primitive(np.arctanh, lambda dy, y, a: dy / (1 - a * a))
primitive(np.deg2rad, lambda dy, y, a: dy * _DEG2RAD)
primitive(np.radians, lambda dy, y, a: dy * _DEG2RAD)
primitive(np.rad2deg, lambda dy, y, a: dy * _RAD2DEG)
primitive(np.degrees, lambda dy, y, a: dy * _RAD2DEG)

# -- sinc and the modified Bessel functions ------------------------------------------------

# sinc'(x) = sum_{k>=1} c_k x^(2k-1), c_k = (-1)^k 2k pi^(2k) / (2k+1)!. Six terms are exact
# to double precision for |x| < 0.1, where (cos(pi x) - sinc(x)) / x loses digits to
# cancellation (all of them at x = 0).
_SINC_SMALL = 0.1
_DSINC_TAYLOR = tuple((-1) ** k * 2 * k * math.pi ** (2 * k) / math.factorial(2 * k + 1)
                      for k in range(1, 7))


def _dsinc(a, y):
    """sinc'(a) (``y`` is sinc(a)), written with differentiable calls so that all orders work."""
    small = np.abs(raw(a)) < _SINC_SMALL
    a2 = a * a
    series = _DSINC_TAYLOR[-1]
    for c in reversed(_DSINC_TAYLOR[:-1]):
        series = series * a2 + c
    exact = (np.cos(math.pi * a) - y) / np.where(small, 1, a)
    return np.where(small, a * series, exact)


primitive(np.sinc, lambda dy, y, a: dy * _dsinc(a, y))


def _bessel_i_values(n: int, x: Any) -> Any:
    """I_n(x), the modified Bessel function of the first kind of integer order ``n >= 0``.

    Its power series, sum_k (x/2)^(2k+n) / (k! (k+n)!), has terms of one sign, so summing it
    loses no digits; it stops once every term is below double precision of its sum. Computed
    in float64, returned in the argument's float dtype. Differentiable with respect to ``x``
    to any order (``n`` has no gradient); ``np.i0``'s rule uses it for I_1.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.rules.elementwise import bessel_i
        >>> bool(np.isclose(bessel_i(0, 1.5), np.i0(1.5)))
        True
    """
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"bessel_i: the order n must be an integer >= 0; got {n!r}")
    xp = array_module(x)
    x = xp.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    half = x.astype(np.float64) / 2
    quarter_sq = half * half
    term = half ** n / math.factorial(n)
    total = term.copy()
    for k in range(1, 100_000):  # stops after about |x| / 2 + 10 sqrt(|x|) + 20 terms
        term = term * quarter_sq / (k * (k + n))
        total += term
        if not bool(xp.any(xp.abs(term) > 1e-17 * xp.abs(total))):
            break
    return total.astype(dtype)


def _grad_bessel_i(dy, y, n, x):
    # I_0' = I_1, and I_n' = (I_{n-1} + I_{n+1}) / 2 for n >= 1.
    if n == 0:
        return dy * bessel_i(1, x)
    return dy * (bessel_i(n - 1, x) + bessel_i(n + 1, x)) * 0.5


bessel_i = primitive(_bessel_i_values, None, _grad_bessel_i, name="bessel_i")
primitive(np.i0, lambda dy, y, a: dy * bessel_i(1, a))

# -- piecewise linear and selections -------------------------------------------------------

primitive(np.absolute, lambda dy, y, a: dy * np.sign(a))
primitive(np.fabs, lambda dy, y, a: dy * np.sign(a))


def _split(dy, win, tie):
    """``dy`` where an argument wins, half of it where the two tie (as PyTorch does)."""
    return dy * win + (dy * tie) * 0.5


primitive(np.maximum,
          lambda dy, y, a, b: _split(dy, a > b, a == b),
          lambda dy, y, a, b: _split(dy, b > a, a == b))
primitive(np.minimum,
          lambda dy, y, a, b: _split(dy, a < b, a == b),
          lambda dy, y, a, b: _split(dy, b < a, a == b))
# fmax/fmin ignore NaN: the argument that is not NaN wins (the first when both are NaN).
primitive(np.fmax,
          lambda dy, y, a, b: _split(dy, (a > b) | np.isnan(b), a == b),
          lambda dy, y, a, b: _split(dy, (b > a) | (np.isnan(a) & ~np.isnan(b)), a == b))
primitive(np.fmin,
          lambda dy, y, a, b: _split(dy, (a < b) | np.isnan(b), a == b),
          lambda dy, y, a, b: _split(dy, (b < a) | (np.isnan(a) & ~np.isnan(b)), a == b))
# copysign(a, b) = |a| sign(b): the gradient flips where the signs differ; none through b.
primitive(np.copysign, lambda dy, y, a, b: np.where(np.signbit(a) == np.signbit(b), dy, -dy),
          None)
primitive(np.heaviside, None, lambda dy, y, a, b: dy * (a == 0))
primitive(np.nextafter, lambda dy, y, a, b: dy, None)
primitive(np.modf, lambda dy, y, a: dy[0])  # (a - trunc(a), trunc(a))
primitive(np.where,
          None,
          lambda dy, y, c, a, b: np.where(c, dy, 0),
          lambda dy, y, c, a, b: np.where(c, 0, dy))


def _nan_to_num_args(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    copy = kwargs.get("copy", args[1] if len(args) > 1 else True)
    if not copy and args and is_tracked(args[0]):
        raise TypeError(
            "np.nan_to_num(x, copy=False): replacing values in place would overwrite a value "
            "the tape needs for the backward pass; call it with copy=True while differentiating"
        )
    return args, kwargs


primitive(np.nan_to_num, lambda dy, y, a, *args, **kwargs: dy * np.isfinite(a),
          adapter=_nan_to_num_args)
# unwrap adds multiples of the period, piecewise constant in p.
primitive(np.unwrap, lambda dy, y, p, *args, **kwargs: dy)


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

# -- real and complex parts (real inputs only) ----------------------------------------------


def _real_only(name: str, a: Any) -> None:
    """Refuse a complex argument: the rules below are right for real inputs only."""
    dtype = getattr(raw(a), "dtype", None)
    if (dtype is not None and dtype.kind == "c") or isinstance(raw(a), complex):
        raise TypeError(
            f"{name}: the argument is complex ({dtype or 'complex'}); minitorch_ag does not "
            f"differentiate complex values (no conjugation conventions): differentiate real "
            f"and imaginary parts as separate real arrays instead"
        )


def _grad_identity_if_real(name: str) -> Any:
    def rule(dy, y, a, *args, **kwargs):
        _real_only(name, a)
        return dy

    rule.__name__ = f"_grad_{name.removeprefix('np.')}"
    return rule


def _grad_none_if_real(name: str) -> Any:
    def rule(dy, y, a, *args, **kwargs):
        _real_only(name, a)
        return None  # the imaginary part and the angle of a real number are constants

    rule.__name__ = f"_grad_{name.removeprefix('np.')}"
    return rule


primitive(np.real, _grad_identity_if_real("np.real"))
primitive(np.conjugate, _grad_identity_if_real("np.conjugate"))
primitive(np.real_if_close, _grad_identity_if_real("np.real_if_close"))
primitive(np.imag, _grad_none_if_real("np.imag"))
primitive(np.angle, _grad_none_if_real("np.angle"))

# -- zero gradient: piecewise constant, integer or boolean results --------------------------

for _fn in (
    np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal,
    np.logical_and, np.logical_or, np.logical_not, np.logical_xor,
    np.bitwise_and, np.bitwise_or, np.bitwise_xor, np.invert, np.left_shift, np.right_shift,
    np.bitwise_count, np.gcd, np.lcm,
    np.floor_divide, np.floor, np.ceil, np.trunc, np.fix, np.rint, np.round, np.around,
    np.sign, np.signbit, np.spacing,
    np.isnan, np.isinf, np.isfinite, np.isneginf, np.isposinf, np.iscomplex, np.isreal,
    np.isnat, np.isclose, np.allclose, np.array_equal, np.array_equiv,
):
    zerograd(_fn)
