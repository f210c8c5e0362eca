"""Gradients of special functions: ``logsumexp``/``softmax``/``log_softmax`` and SciPy's ufuncs.

Covers, always (NumPy only): :func:`logsumexp` (``axis``, ``keepdims``, weights ``b``,
``return_sign``), :func:`softmax` and :func:`log_softmax`, with the signatures of their
``scipy.special`` namesakes. SciPy's versions are plain Python functions that convert their
arguments with ``np.asarray``, which NumPy's protocols cannot intercept, so called on tracked
Tensors they raise ``TypeError``; call these instead::

    from minitorch_ag.rules.special import logsumexp, softmax, log_softmax

Covers, when SciPy is installed (it is optional: without it this part registers nothing):
the ``scipy.special`` ufuncs erf, erfc, erfinv, erfcinv, gamma, gammaln, digamma (psi),
expit, logit, log_expit, xlogy, xlog1py, entr, i0, i1, i0e, i1e, iv and ive (gradient with
respect to ``z``; the order ``v`` gets none). Ufuncs dispatch through ``__array_ufunc__``, so
``scipy.special.erf(x)`` on a Tensor records like ``np.exp(x)``. ``scipy.special.polygamma``
(the derivative of digamma) is a Python function too: :func:`polygamma` here differentiates
with respect to ``x`` (never ``n``), to every order.

Conventions: ``xlogy(0, y)`` and ``xlog1py(0, y)`` pass no gradient to ``y`` (also where
``y = 0``, the 0 * log 0 = 0 convention); the derivative of ``xlogy`` with respect to ``x`` is
``log(y)`` (``-inf`` at ``y = 0``, as it is). i0e, i1e and ive, scaled by ``exp(-|z|)``, have a
kink at 0, where the gradient of ``|z|`` is taken as 0.

Skipped, on purpose: complex arguments (not differentiated anywhere in minitorch_ag); the
remaining hundreds of ``scipy.special`` functions (Airy, elliptic, hypergeometric, ...), which
models rarely use: each is one ``ag.primitive`` line away, and gives a clear ``TypeError``
naming it until then; gradients with respect to integer orders (``polygamma``'s ``n``,
``iv``'s ``v``), which are not defined (or need functions SciPy lacks).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..backend import array_module
from ..primitive import primitive, raw
from ._util import reduced_axes

try:
    import scipy.special as _sc
except ImportError:  # SciPy is optional: the NumPy-only functions below still work
    _sc = None

__all__ = ["logsumexp", "softmax", "log_softmax", "polygamma", "HAVE_SCIPY"]

HAVE_SCIPY = _sc is not None


def _kept(v: Any, shape: tuple, axis: Any, keepdims: bool) -> Any:
    """``v``, reduced from ``shape`` over ``axis``, reshaped as if ``keepdims=True``."""
    if keepdims:
        return v
    axes = reduced_axes(len(shape), axis)
    return np.reshape(v, tuple(1 if i in axes else n for i, n in enumerate(shape)))


# -- logsumexp, softmax, log_softmax (NumPy only) -------------------------------------------


def logsumexp(a: Any, axis: Any = None, b: Any = None, keepdims: bool = False,
              return_sign: bool = False) -> Any:
    """``log(sum(b * exp(a), axis))`` without overflow, as ``scipy.special.logsumexp``.

    Differentiable with respect to ``a`` and ``b``. With ``return_sign=True`` the result is
    ``(log|s|, sign(s))`` for the weighted sum ``s`` (the sign has no gradient); without it a
    negative sum gives NaN, as in SciPy.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> from minitorch_ag.rules.special import logsumexp
        >>> x = ag.Param(np.log(np.array([1.0, 3.0])))
        >>> tape = ag.diff(lambda: logsumexp(x))
        >>> round(float(ag.value(tape)), 6), np.round(ag.grad(tape, x), 6).tolist()
        (1.386294, [0.25, 0.75])
    """
    xp = array_module(a)
    a = xp.asarray(a)
    if b is not None:
        a, b = xp.broadcast_arrays(a, xp.asarray(b))
    top: Any = 0.0  # the largest term, shifted out so that exp cannot overflow
    if a.size:
        top = xp.max(a, axis=axis, keepdims=True)
        top = xp.where(xp.isfinite(top), top, 0)
    terms = xp.exp(a - top)
    if b is not None:
        terms = terms * b
    s = xp.sum(terms, axis=axis, keepdims=keepdims)
    if a.size and not keepdims:
        top = xp.reshape(top, s.shape)
    with np.errstate(invalid="ignore", divide="ignore"):  # log(0) = -inf, log(-1) = nan
        if return_sign:
            return xp.log(xp.abs(s)) + top, xp.sign(s)
        return xp.log(s) + top


def _logsumexp_weights(dy, y, a, axis, b, keepdims, return_sign):
    """``dy * d logsumexp / d(b * exp(a))``: ``dy * sign * exp(a - y)``, on a's broadcast."""
    if return_sign:
        (dy, _), (y, sign) = dy, y
        if dy is None:
            return None
    shape = np.shape(a) if b is None else np.broadcast_shapes(np.shape(a), np.shape(b))
    w = _kept(dy, shape, axis, keepdims) * np.exp(a - _kept(y, shape, axis, keepdims))
    return w * _kept(raw(sign), shape, axis, keepdims) if return_sign else w


def _grad_logsumexp_a(dy, y, a, axis=None, b=None, keepdims=False, return_sign=False):
    w = _logsumexp_weights(dy, y, a, axis, b, keepdims, return_sign)
    return w if w is None or b is None else w * b


def _grad_logsumexp_b(dy, y, a, axis=None, b=None, keepdims=False, return_sign=False):
    return _logsumexp_weights(dy, y, a, axis, b, keepdims, return_sign)


logsumexp = primitive(logsumexp, _grad_logsumexp_a, None, _grad_logsumexp_b,
                      name="special.logsumexp")


def softmax(x: Any, axis: Any = None) -> Any:
    """``exp(x) / sum(exp(x), axis)``, as ``scipy.special.softmax`` (all axes by default).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.rules.special import softmax
        >>> np.round(softmax(np.log(np.array([1.0, 3.0]))), 6).tolist()
        [0.25, 0.75]
    """
    xp = array_module(x)
    x = xp.asarray(x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


softmax = primitive(
    softmax,
    lambda dy, y, x, axis=None: y * (dy - np.sum(dy * y, axis=axis, keepdims=True)),
    name="special.softmax")


def log_softmax(x: Any, axis: Any = None) -> Any:
    """``x - logsumexp(x, axis)``, as ``scipy.special.log_softmax`` (all axes by default).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.rules.special import log_softmax
        >>> np.round(np.exp(log_softmax(np.log(np.array([1.0, 3.0])))), 6).tolist()
        [0.25, 0.75]
    """
    xp = array_module(x)
    x = xp.asarray(x)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


log_softmax = primitive(
    log_softmax,
    lambda dy, y, x, axis=None: dy - np.exp(y) * np.sum(dy, axis=axis, keepdims=True),
    name="special.log_softmax")

# -- scipy.special (optional) ------------------------------------------------------------------


def _no_scipy(*args: Any, **kwargs: Any) -> Any:
    raise ImportError("minitorch_ag.rules.special.polygamma needs SciPy (pip install scipy)")


polygamma: Any = _no_scipy

if _sc is not None:
    _TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
    _SQRT_PI_OVER_TWO = math.sqrt(math.pi) / 2.0

    def _scipy(fn: Any, *grads: Any) -> Any:
        return primitive(fn, *grads, name=f"scipy.special.{fn.__name__}")

    def _safe_ratio(a: Any, b: Any) -> Any:
        """``a / b``, and 0 where ``a == 0`` (also where ``b == 0``), at every order."""
        zero = a == 0
        return np.where(zero, 0, a / np.where(zero, 1, b))

    def _over(a: Any, x: Any, at_zero: float) -> Any:
        """``a / x``, and ``at_zero`` (the limit) where ``x == 0``, at every order."""
        zero = x == 0
        return np.where(zero, at_zero, a / np.where(zero, 1, x))

    polygamma = _scipy(_sc.polygamma, None, lambda dy, y, n, x: dy * polygamma(n + 1, x))

    _scipy(_sc.erf, lambda dy, y, x: dy * _TWO_OVER_SQRT_PI * np.exp(-x * x))
    _scipy(_sc.erfc, lambda dy, y, x: -dy * _TWO_OVER_SQRT_PI * np.exp(-x * x))
    _scipy(_sc.erfinv, lambda dy, y, x: dy * _SQRT_PI_OVER_TWO * np.exp(y * y))
    _scipy(_sc.erfcinv, lambda dy, y, x: -dy * _SQRT_PI_OVER_TWO * np.exp(y * y))
    _scipy(_sc.gamma, lambda dy, y, x: dy * y * _sc.digamma(x))
    _scipy(_sc.gammaln, lambda dy, y, x: dy * _sc.digamma(x))
    _scipy(_sc.digamma, lambda dy, y, x: dy * polygamma(1, x))
    _scipy(_sc.expit, lambda dy, y, x: dy * y * (1 - y))
    _scipy(_sc.logit, lambda dy, y, x: dy / (x * (1 - x)))
    _scipy(_sc.log_expit, lambda dy, y, x: dy * _sc.expit(-x))
    _scipy(_sc.xlogy,
           lambda dy, y, a, b: dy * np.log(b),
           lambda dy, y, a, b: dy * _safe_ratio(a, b))
    _scipy(_sc.xlog1py,
           lambda dy, y, a, b: dy * np.log1p(b),
           lambda dy, y, a, b: dy * _safe_ratio(a, b + 1))
    _scipy(_sc.entr, lambda dy, y, x: -dy * (np.log(x) + 1))
    # Modified Bessel functions: I_v' = (I_{v-1} + I_{v+1}) / 2 (I_0' = I_1); the scaled ones
    # are exp(-|z|) I_v(z), whose derivative also has -sign(z) times the function itself.
    _scipy(_sc.i0, lambda dy, y, x: dy * _sc.i1(x))
    # I_1' = (I_0 + I_2) / 2 = I_0 - I_1 / z (1/2 at 0), written without iv: CuPy has i0 and
    # i1 but no iv
    _scipy(_sc.i1, lambda dy, y, x: dy * (_sc.i0(x) - _over(y, x, 0.5)))
    _scipy(_sc.iv, None, lambda dy, y, v, z: dy * (_sc.iv(v - 1, z) + _sc.iv(v + 1, z)) * 0.5)
    _scipy(_sc.i0e, lambda dy, y, x: dy * (_sc.i1e(x) - np.sign(x) * y))
    _scipy(_sc.i1e, lambda dy, y, x: dy * (_sc.i0e(x) - _over(y, x, 0.5) - np.sign(x) * y))
    _scipy(_sc.ive, None,
           lambda dy, y, v, z: dy * ((_sc.ive(v - 1, z) + _sc.ive(v + 1, z)) * 0.5
                                     - np.sign(z) * y))
