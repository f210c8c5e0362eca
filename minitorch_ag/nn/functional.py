"""Functional neural-network operations: activations, the softmax family, losses, accuracy,
dropout; and (re-exported from ``conv`` and ``norm``) convolution, pooling and normalisation.

Conventions: batch first; images NCHW; class scores along axis 1 (``(N, C)`` or ``(N, C, d1,
...)``); class labels are 0-based integer arrays, and a label equal to ``ignore_index``
(default -100, as PyTorch) is skipped by the losses and by ``accuracy``.

The activations used at every step are primitives with one-line rules (one tape node each
instead of several), and every rule is written with differentiable calls, so second and higher
derivatives are exact: relu, leaky_relu, elu, selu, gelu (exact and tanh form), sigmoid,
softplus, swish/silu, softmax, log_softmax, logsumexp. ``cross_entropy`` is one fused
primitive (logsumexp forward, softmax minus targets backward). The other losses are short
compositions of recorded NumPy calls.

Example:
    >>> import numpy as np
    >>> from minitorch_ag.nn import functional as F
    >>> float(F.cross_entropy(np.array([[2.0, 0.0], [0.0, 2.0]]), np.array([0, 1])).round(4))
    0.1269
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..backend import array_module
from ..primitive import is_tracked, keep_dims, primitive, raw, recording
from .conv import avg_pool2d, conv2d, conv_transpose2d, max_pool2d
from .norm import batch_norm, layer_norm

__all__ = [
    "linear",
    "relu", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "softplus", "swish", "silu", "tanh",
    "softmax", "log_softmax", "logsumexp",
    "nll", "cross_entropy", "mse", "l1", "bce", "bce_with_logits", "logistic",
    "accuracy", "dropout",
    "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "batch_norm", "layer_norm",
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


# ----------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------


def _reduce(losses: Any, reduction: str, fn: str, count: Any = None) -> Any:
    """Mean (over ``count`` items, default all), sum, or the losses themselves."""
    if reduction == "mean":
        if count is None:
            n = np.size(losses)
            return np.sum(losses) * (1.0 / n if n else math.nan)
        # count is a 0-d array (on the losses' device): dividing by it reads nothing back.
        # No label counted (all ignored): 0 / 0 is NaN, as in PyTorch.
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sum(losses) / count
    if reduction == "sum":
        return np.sum(losses)
    if reduction == "none":
        return losses
    raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none'; got {reduction!r}")


def _same_shape(fn: str, x: Any, y: Any, names: tuple[str, str] = ("x", "y")) -> None:
    if np.shape(x) != np.shape(y):
        raise ValueError(f"{fn}: {names[0]} and {names[1]} must have the same shape; got "
                         f"{np.shape(x)} and {np.shape(y)}")


def _float(x: Any, fn: str, name: str) -> None:
    v = raw(x)
    dtype = v.dtype if hasattr(v, "dtype") else np.result_type(v)
    if dtype.kind != "f":
        raise TypeError(f"{fn}: {name} must be a floating-point array; got dtype {dtype}")


def _class_rows(x: Any, labels: Any, ignore_index: int, fn: str) -> tuple[Any, Any, tuple]:
    """Scores as rows ``(M, C)`` (the class axis moved last), labels as ``(M,)``, and the
    labels' shape. Checks shapes, the labels' dtype and their range."""
    _float(x, fn, "scores")
    labels = array_module(raw(x)).asarray(raw(labels))  # on the device of the scores
    xs, ls = np.shape(x), np.shape(labels)
    ldtype = getattr(labels, "dtype", np.result_type(labels))
    if ldtype.kind not in "iu":
        raise TypeError(f"{fn}: labels must be integers (0-based class indices); got dtype "
                        f"{ldtype}")
    if len(xs) == 1 and ls == ():
        x, labels, xs = np.reshape(x, (1, xs[0])), np.reshape(labels, (1,)), (1, xs[0])
    elif len(xs) < 2 or ls != xs[:1] + xs[2:]:
        raise ValueError(f"{fn}: scores of shape (N, C, ...) need labels of shape (N, ...); "
                         f"got scores {xs} and labels {ls}")
    c = xs[1]
    if len(xs) > 2:
        x = np.reshape(np.moveaxis(x, 1, -1), (-1, c))
    flat = labels.reshape(-1)
    # Checked for host labels only: on a GPU the check would read the device every step.
    bad = ((flat < 0) | (flat >= c)) & (flat != ignore_index) if array_module(flat) is np else None
    if bad is not None and bad.any():
        raise ValueError(f"{fn}: labels must be in [0, {c}) or ignore_index={ignore_index}; "
                         f"got {flat[bad][0]}")
    return x, flat, ls


def _class_weights(weight: Any, c: int, like: Any, fn: str) -> Any:
    """``weight`` as a plain (C,) array of ``like``'s dtype and module, or None; checked."""
    if weight is None:
        return None
    if is_tracked(weight):
        raise TypeError(f"{fn}: weight (the class weights) is a constant and gets no gradient, "
                        f"but a tracked Tensor was given; pass ag.value(weight)")
    w = raw(weight)
    if np.shape(w) != (c,):
        raise ValueError(f"{fn}: weight must have shape ({c},) (one per class); got shape "
                         f"{np.shape(w)}")
    v = raw(like)
    return array_module(v).asarray(w, dtype=v.dtype)


def _row_weights(labels, ignore_index, weight, dtype):
    """The weight of each row: its class's weight (1 without class weights), 0 if ignored."""
    valid = labels != ignore_index
    if weight is None:
        return valid.astype(dtype)
    return weight[array_module(labels).where(valid, labels, 0)] * valid


def _targets(x, labels, ignore_index, smoothing, weight):
    """Each row's target: ``(1 - smoothing) w[label]`` on its label plus ``smoothing / C`` times
    each class's weight ``w[c]`` (w = 1 without class weights); zero rows where ignored."""
    xp = array_module(x)
    m, c = x.shape
    valid = labels != ignore_index
    t = xp.full((m, c), smoothing / c, dtype=x.dtype)
    if weight is not None:
        t *= weight
    t[xp.arange(m), xp.where(valid, labels, 0)] += (1 - smoothing) * _row_weights(
        labels, ignore_index, weight, x.dtype)
    t *= valid[:, None]
    return t


def _cross_entropy_rows(x, labels, ignore_index, smoothing, weight):
    """Per-row cross-entropy of logits ``x`` (M, C): ``sum_c t_c (logsumexp(x) - x_c)``."""
    t = _targets(x, labels, ignore_index, smoothing, weight)
    return np.sum(t * (_lse(x, -1) - x), axis=-1)


def _grad_cross_entropy_rows(dy, y, x, labels, ignore_index, smoothing, weight):
    # d/dx of sum_c t_c (lse - x_c) is (sum_c t_c) softmax(x) - t; t is a constant.
    t = _targets(raw(x), labels, ignore_index, smoothing, weight)
    if weight is None:
        total = (labels != ignore_index).astype(t.dtype)[:, None]
    else:
        total = t.sum(axis=-1, keepdims=True)
    return np.expand_dims(dy, -1) * (total * _softmax(x, -1) - t)


_cross_entropy_rows = primitive(_cross_entropy_rows, _grad_cross_entropy_rows,
                                name="nn.cross_entropy")


def cross_entropy(x: Any, labels: Any, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Any:
    """Softmax cross-entropy of logits against class labels, as PyTorch's ``cross_entropy``.

    Args:
        x: unnormalised scores (logits), shape ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``.
        labels: 0-based integer class labels, shape ``(N,)``, ``(N, d1, ...)`` or ``()``.
        weight: optional class weights, shape ``(C,)`` (a constant: no gradient).
        ignore_index: a label value to skip (no loss, no gradient, not counted in the mean).
        reduction: ``"mean"`` over the labels not ignored (weighted by their class weights),
            ``"sum"``, or ``"none"`` (a loss per label, 0 where ignored).
        label_smoothing: ``eps`` in [0, 1]: the target is ``(1 - eps)`` on the label plus
            ``eps / C`` on every class.

    Returns:
        The loss: a scalar, or an array of ``labels``' shape for ``reduction="none"``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> x = np.array([[2.0, 0.0], [0.0, 2.0]])
        >>> float(F.cross_entropy(x, np.array([0, -100])).round(4))
        0.1269
    """
    fn = "cross_entropy"
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1]; got {label_smoothing!r}")
    rows, flat, lshape = _class_rows(x, labels, ignore_index, fn)
    w = _class_weights(weight, np.shape(rows)[1], rows, fn)
    losses = _cross_entropy_rows(rows, flat, ignore_index, float(label_smoothing), w)
    if reduction == "none":
        return np.reshape(losses, lshape)
    return _reduce(losses, reduction, fn, _total_weight(flat, ignore_index, w, rows))


def _total_weight(labels: Any, ignore_index: int, weight: Any, like: Any) -> Any:
    """The divisor of a mean: how many labels count, or the sum of their class weights (a 0-d
    array on the labels' device)."""
    return _row_weights(labels, ignore_index, weight, raw(like).dtype).sum()


def nll(logp: Any, labels: Any, weight: Any = None, ignore_index: int = -100,
        reduction: str = "mean") -> Any:
    """Negative log-likelihood of log-probabilities, as PyTorch's ``nll_loss``:
    ``-weight[label] * logp[label]`` for each label (use ``cross_entropy`` for raw scores).

    Args:
        logp: log-probabilities (``log_softmax`` of scores), shape ``(N, C, ...)`` or ``(C,)``.
        labels: 0-based integer labels, shape ``(N, ...)`` or ``()``.
        weight: optional class weights, shape ``(C,)`` (a constant: no gradient).
        ignore_index: a label value to skip.
        reduction: ``"mean"`` over the labels not ignored (weighted by their class weights),
            ``"sum"`` or ``"none"``.

    Returns:
        The loss.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> float(F.nll(np.log(np.array([[0.5, 0.5], [0.1, 0.9]])), np.array([0, 1])).round(4))
        0.3993
    """
    fn = "nll"
    rows, flat, lshape = _class_rows(logp, labels, ignore_index, fn)
    w = _class_weights(weight, np.shape(rows)[1], rows, fn)
    xp = array_module(raw(rows))
    picked = rows[xp.arange(flat.shape[0]), xp.where(flat != ignore_index, flat, 0)]
    scale = _row_weights(flat, ignore_index, w, raw(rows).dtype)
    losses = -picked * scale
    if reduction == "none":
        return np.reshape(losses, lshape)
    return _reduce(losses, reduction, fn, scale.sum())


def mse(x: Any, y: Any, reduction: str = "mean") -> Any:
    """Mean squared error ``mean((x - y) ** 2)``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> float(F.mse(np.array([1.0, 2.0]), np.array([1.0, 4.0])))
        2.0
    """
    _same_shape("mse", x, y)
    d = x - y
    return _reduce(d * d, reduction, "mse")


def l1(x: Any, y: Any, reduction: str = "mean") -> Any:
    """Mean absolute error ``mean(|x - y|)``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> float(F.l1(np.array([1.0, 2.0]), np.array([1.0, 4.0])))
        1.0
    """
    _same_shape("l1", x, y)
    return _reduce(np.abs(x - y), reduction, "l1")


def bce(p: Any, y: Any, reduction: str = "mean") -> Any:
    """Binary cross-entropy of probabilities ``p`` against targets ``y`` in [0, 1]:
    ``-(y log p + (1 - y) log(1 - p))``, each log clamped at -100 as PyTorch does.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> float(F.bce(np.array([0.5]), np.array([1.0])).round(4))
        0.6931
    """
    _same_shape("bce", p, y, ("p", "y"))
    _float(p, "bce", "p")
    with np.errstate(divide="ignore"):  # log(0) = -inf, clamped just below
        logp = np.maximum(np.log(p), -100)
        log1mp = np.maximum(np.log(1 - p), -100)
    return _reduce(-(y * logp + (1 - y) * log1mp), reduction, "bce")


def bce_with_logits(x: Any, y: Any, reduction: str = "mean", pos_weight: Any = None) -> Any:
    """Binary cross-entropy of logits ``x`` (``sigmoid`` inside, computed stably):
    ``(1 - y) x + (1 + (pos_weight - 1) y) softplus(-x)``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> float(F.bce_with_logits(np.array([0.0]), np.array([1.0])).round(4))
        0.6931
    """
    _same_shape("bce_with_logits", x, y)
    _float(x, "bce_with_logits", "x")
    sp = _softplus(-x, 1.0, math.inf)
    weight = 1 if pos_weight is None else 1 + (pos_weight - 1) * y
    return _reduce((1 - y) * x + weight * sp, reduction, "bce_with_logits")


def logistic(x: Any, y: Any, reduction: str = "mean") -> Any:
    """Knet's logistic loss ``log(1 + exp(-y x))`` for labels ``y`` in {-1, 1}.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> float(F.logistic(np.array([0.0]), np.array([1.0])).round(4))
        0.6931
    """
    _same_shape("logistic", x, y)
    return _reduce(_softplus(-(y * x), 1.0, math.inf), reduction, "logistic")


# ----------------------------------------------------------------------------------------
# Accuracy and dropout
# ----------------------------------------------------------------------------------------


def accuracy(scores: Any, labels: Any, ignore_index: int = -100) -> float:
    """The fraction of labels whose class has the largest score (a plain number).

    ``accuracy(model, data)``, with ``data`` an iterable of ``(x, labels)`` batches, is the
    accuracy of ``model(x)`` over all of them (Knet's form).

    Args:
        scores: shape ``(N, C, ...)`` (classes on axis 1) or ``(C,)``; or a model.
        labels: 0-based integer labels, shape ``(N, ...)``; or the batches, for a model.
        ignore_index: labels with this value are not counted.

    Returns:
        A Python float in [0, 1] (NaN when every label is ignored); never tracked.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> F.accuracy(np.array([[2.0, 0.0], [3.0, 1.0]]), np.array([0, 1]))
        0.5
    """
    if callable(scores) and not hasattr(scores, "shape"):
        return _model_accuracy(scores, labels, ignore_index)
    right, total = _hits(scores, labels, ignore_index)
    return right / total if total else math.nan


def _hits(scores: Any, labels: Any, ignore_index: int) -> tuple[int, int]:
    s, lab = raw(scores), raw(labels)
    if np.ndim(s) == 1:
        s, lab = s[None], np.reshape(lab, (1,))
    if np.shape(lab) != np.shape(s)[:1] + np.shape(s)[2:]:
        raise ValueError(f"accuracy: scores of shape (N, C, ...) need labels of shape (N, ...); "
                         f"got scores {np.shape(s)} and labels {np.shape(lab)}")
    valid = lab != ignore_index
    right = (s.argmax(axis=1) == lab) & valid
    return int(right.sum()), int(valid.sum())


def _model_accuracy(model: Callable[[Any], Any], data: Iterable[Any], ignore_index: int) -> float:
    right = total = 0
    for x, y in data:
        r, t = _hits(model(x), y, ignore_index)
        right, total = right + r, total + t
    return right / total if total else math.nan


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
