"""Activations, the affine map, the softmax family and dropout, as functions on arrays.

Owns relu, leaky_relu, elu, selu, gelu (exact and tanh form), sigmoid, softplus, swish/silu,
tanh, linear, softmax, log_softmax, logsumexp and dropout. The activations used at every step
are primitives with one-line rules (one tape node each instead of several), and every rule is
written with differentiable calls, so second and higher derivatives are exact. Losses are in
``losses.py``; ``functional.py`` is the face that gathers both with convolution and
normalisation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..backend import array_module
from ..primitive import keep_dims, primitive, raw, recording

__all__ = [
    "linear",
    "relu", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "softplus", "swish", "silu", "tanh",
    "softmax", "log_softmax", "logsumexp", "dropout",
]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715


# ----------------------------------------------------------------------------------------
# Elementwise activations (primitives; constants are positional arguments without rules)
# ----------------------------------------------------------------------------------------


def _relu(x):
    return np.maximum(x, 0)


def _leaky_relu(x, slope):
    return np.where(x > 0, x, x * slope)


def _elu(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _selu(x):
    return _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0)))


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _erf(x):
    try:
        from scipy.special import erf  # noqa: PLC0415 - optional, and only needed here
    except ImportError:  # exact, if slower: Python's math.erf on each element
        return np.vectorize(math.erf, otypes=[x.dtype])(x)
    return erf(x)


def _normal_cdf(x):
    """The standard normal distribution function Phi(x)."""
    return 0.5 * (1 + _erf(x / _SQRT_2))


def _gelu(x):
    return x * _normal_cdf(x)


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(_GELU_C * (x + _GELU_K * x ** 3)))


def _softplus(x, beta, threshold):
    bx = x * beta
    return np.where(bx > threshold, x, np.logaddexp(0, bx) / beta)


def _swish(x, beta):
    return x * _sigmoid(x * beta)


_relu = primitive(_relu, lambda dy, y, x: dy * (x > 0), name="nn.relu")
_leaky_relu = primitive(_leaky_relu, lambda dy, y, x, s: np.where(x > 0, dy, dy * s),
                        name="nn.leaky_relu")
_elu = primitive(_elu, lambda dy, y, x, a: np.where(x > 0, dy, dy * (y + a)), name="nn.elu")
_selu = primitive(_selu, lambda dy, y, x: np.where(
    x > 0, dy * _SELU_SCALE, dy * (y + _SELU_SCALE * _SELU_ALPHA)), name="nn.selu")
_sigmoid = primitive(_sigmoid, lambda dy, y, x: dy * y * (1 - y), name="nn.sigmoid")
_normal_cdf = primitive(_normal_cdf, lambda dy, y, x: dy * np.exp(-0.5 * x * x) / _SQRT_2PI,
                        name="nn.normal_cdf")
_gelu = primitive(_gelu, lambda dy, y, x: dy * (
    _normal_cdf(x) + x * np.exp(-0.5 * x * x) / _SQRT_2PI), name="nn.gelu")


def _grad_gelu_tanh(dy, y, x):
    t = np.tanh(_GELU_C * (x + _GELU_K * x ** 3))
    return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _GELU_C * (1 + 3 * _GELU_K * x * x))


_gelu_tanh = primitive(_gelu_tanh, _grad_gelu_tanh, name="nn.gelu_tanh")
_softplus = primitive(_softplus, lambda dy, y, x, b, t: np.where(
    x * b > t, dy, dy * _sigmoid(x * b)), name="nn.softplus")
_swish = primitive(_swish, lambda dy, y, x, b: dy * (
    _sigmoid(x * b) + b * y * (1 - _sigmoid(x * b))), name="nn.swish")


# -- the affine map --------------------------------------------------------------------------


def _affine(x: Any, w: Any) -> Any:
    """``x @ w.T`` for a matrix ``x`` (samples in rows) and a weight ``w`` of shape (out, in)."""
    return x @ w.T


# One node instead of a transpose and a product, and a weight gradient computed as
# ``dy.T @ x``: a contiguous (out, in) array, not the transposed view that differentiating
# ``x @ w.T`` through np.transpose gives (updates and optimizers stride through such a view
# several times slower).
_affine = primitive(_affine, lambda dy, y, x, w: dy @ w,
                    lambda dy, y, x, w: np.swapaxes(dy, -1, -2) @ x, name="nn.linear")


def linear(x: Any, weight: Any, bias: Any = None) -> Any:
    """The affine map ``x @ weight.T + bias`` of PyTorch's ``linear``, batch-first.

    Args:
        x: input of shape ``(..., in_features)``.
        weight: shape ``(out_features, in_features)``.
        bias: optional, shape ``(out_features,)``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> F.linear(np.ones((1, 2)), np.array([[1.0, 2.0]]), np.array([0.5]))
        array([[3.5]])
    """
    shape = np.shape(raw(x))
    if len(shape) == 2:
        y = _affine(x, weight)
    else:  # one matrix product over all leading axes, not a batch of them
        rows = np.reshape(x, (-1, shape[-1]) if shape else (1, 1))
        y = np.reshape(_affine(rows, weight), (*shape[:-1], np.shape(raw(weight))[0]))
    return y if bias is None else y + bias


def relu(x: Any) -> Any:
    """``max(x, 0)``; the gradient at 0 is 0 (as PyTorch).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> F.relu(np.array([-1.0, 2.0]))
        array([0., 2.])
    """
    return _relu(x)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """``x`` where positive, ``negative_slope * x`` elsewhere.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> F.leaky_relu(np.array([-1.0, 2.0]), 0.1)
        array([-0.1,  2. ])
    """
    return _leaky_relu(x, float(negative_slope))


def elu(x: Any, alpha: float = 1.0) -> Any:
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> np.round(F.elu(np.array([-1.0, 2.0])), 4)
        array([-0.6321,  2.    ])
    """
    return _elu(x, float(alpha))


def selu(x: Any) -> Any:
    """Scaled ELU with the self-normalising constants of Klambauer et al. (2017).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> np.round(F.selu(np.array([-1.0, 2.0])), 4)
        array([-1.1113,  2.1014])
    """
    return _selu(x)


def gelu(x: Any, approximate: str = "none") -> Any:
    """Gaussian error linear unit ``x * Phi(x)``; ``approximate="tanh"`` for the tanh form.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> np.round(F.gelu(np.array([-1.0, 2.0])), 4)
        array([-0.1587,  1.9545])
    """
    if approximate == "none":
        return _gelu(x)
    if approximate == "tanh":
        return _gelu_tanh(x)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh'; got {approximate!r}")


def sigmoid(x: Any) -> Any:
    """The logistic function ``1 / (1 + exp(-x))``, without overflow for large ``|x|``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> F.sigmoid(np.array([0.0]))
        array([0.5])
    """
    return _sigmoid(x)


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> np.round(F.softplus(np.array([0.0, 30.0])), 4)
        array([ 0.6931, 30.    ])
    """
    return _softplus(x, float(beta), float(threshold))


def swish(x: Any, beta: float = 1.0) -> Any:
    """``x * sigmoid(beta * x)`` (Ramachandran et al., 2017); ``silu`` is ``beta = 1``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> np.round(F.swish(np.array([-1.0, 2.0])), 4)
        array([-0.2689,  1.7616])
    """
    return _swish(x, float(beta))


def silu(x: Any) -> Any:
    """``x * sigmoid(x)`` (the sigmoid linear unit; ``swish`` with ``beta = 1``).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> np.round(F.silu(np.array([1.0])), 4)
        array([0.7311])
    """
    return _swish(x, 1.0)


def tanh(x: Any) -> Any:
    """The hyperbolic tangent (``np.tanh``, listed here with the other activations).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> F.tanh(np.array([0.0]))
        array([0.])
    """
    return np.tanh(x)


# ----------------------------------------------------------------------------------------
# Softmax family (numerically stable: the maximum is subtracted before exponentiating)
# ----------------------------------------------------------------------------------------


def _shifted(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    return x - np.where(np.isfinite(m), m, 0)


def _softmax(x, axis):
    e = np.exp(_shifted(x, axis))
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def _log_softmax(x, axis):
    z = _shifted(x, axis)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def _lse(x, axis):
    """``log(sum(exp(x)))`` over ``axis``, keeping the reduced axes."""
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    return np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m


def _logsumexp(x, axis, keepdims):
    s = _lse(x, axis)
    return s if keepdims else np.squeeze(s, axis=axis)


_softmax = primitive(_softmax, lambda dy, y, x, axis: y * (
    dy - np.sum(dy * y, axis=axis, keepdims=True)), name="nn.softmax")
_log_softmax = primitive(_log_softmax, lambda dy, y, x, axis: dy - np.exp(y) * np.sum(
    dy, axis=axis, keepdims=True), name="nn.log_softmax")
_logsumexp = primitive(_logsumexp, lambda dy, y, x, axis, keepdims: keep_dims(
    dy, x, axis, keepdims) * np.exp(x - keep_dims(y, x, axis, keepdims)), name="nn.logsumexp")


def softmax(x: Any, axis: int = -1) -> Any:
    """``exp(x) / sum(exp(x))`` along ``axis``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> F.softmax(np.array([0.0, 0.0]))
        array([0.5, 0.5])
    """
    return _softmax(x, axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """``x - logsumexp(x)`` along ``axis``: log-probabilities.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> np.round(F.log_softmax(np.array([0.0, 0.0])), 4)
        array([-0.6931, -0.6931])
    """
    return _log_softmax(x, axis)


def logsumexp(x: Any, axis: Any = -1, keepdims: bool = False) -> Any:
    """``log(sum(exp(x)))`` along ``axis`` (an int, a tuple or ``None`` for all).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> float(np.round(F.logsumexp(np.array([1000.0, 1000.0])), 4))
        1000.6931
    """
    axis = tuple(axis) if isinstance(axis, list) else axis
    return _logsumexp(x, axis, bool(keepdims))


_default_rng = np.random.default_rng()


def dropout(x: Any, p: float = 0.5, rng: np.random.Generator | None = None,
            training: bool | None = None) -> Any:
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by
    ``1 / (1 - p)``, so that the expected value is unchanged and inference needs no scaling.

    Active only while recording (``ag.recording()``): inside ``diff`` during training, and a
    no-op for inference outside it, with no mode switch (``training`` overrides that).

    Args:
        x: any array.
        p: the probability of dropping an element, in [0, 1].
        rng: a NumPy ``Generator`` for the mask, for reproducibility (default: a module-wide
            one).
        training: force dropout on (``True``) or off (``False``).

    Returns:
        ``x`` itself when inactive; otherwise ``x`` times the scaled random mask.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> F.dropout(np.ones(3), 0.5)  # not recording: unchanged
        array([1., 1., 1.])
        >>> F.dropout(np.ones(4), 0.5, np.random.default_rng(0), training=True)
        array([2., 0., 0., 0.])
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1]; got {p!r}")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"dropout: rng must be a numpy.random.Generator (np.random."
                        f"default_rng(seed)) or None; got {type(rng).__name__}")
    if training is None:
        training = recording()
    if not training or p == 0:
        return x
    v = raw(x)
    dtype = v.dtype if getattr(v, "dtype", np.dtype(float)).kind == "f" else np.dtype(float)
    keep = (rng or _default_rng).random(np.shape(v)) >= p
    mask = keep.astype(dtype) * (1.0 / (1.0 - p)) if p < 1 else keep.astype(dtype)
    return x * array_module(v).asarray(mask)
