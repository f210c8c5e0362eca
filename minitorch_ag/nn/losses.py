"""Losses and accuracy, as functions on arrays.

Owns nll (Knet's: scores in, log-softmax inside), nll_loss (PyTorch's: log-probabilities
in), cross_entropy, mse, l1, bce, bce_with_logits, logistic and accuracy. Conventions:
batch first; class scores along axis 1 (``(N, C)`` or ``(N, C, d1, ...)``); class labels are
0-based integer arrays, and a label equal to ``ignore_index`` (default -100, as PyTorch) is
skipped by the losses and by ``accuracy``. ``cross_entropy`` is one fused primitive (logsumexp
forward, softmax minus targets backward); the other losses are short compositions of recorded
NumPy calls. The softmax family they build on is in ``activations.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..backend import array_module
from ..primitive import is_tracked, primitive, raw
from .activations import _lse, _softmax, _softplus

__all__ = ["nll", "nll_loss", "cross_entropy", "mse", "l1", "bce", "bce_with_logits", "logistic",
           "accuracy"]


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
        hint = (" (they have the scores' shape: one-hot rows? pass labels.argmax(axis=1))"
                if ls == xs and len(xs) >= 2 else "")
        raise TypeError(f"{fn}: labels must be integers (0-based class indices); got dtype "
                        f"{ldtype}{hint}")
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
    if not smoothing and weight is None:  # one-hot rows, built by one comparison (on a GPU,
        hit = xp.where(valid, labels, -1)[:, None] == xp.arange(c)  # a few kernels, not ten)
        return hit.astype(x.dtype)
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


def nll_loss(logp: Any, labels: Any, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean") -> Any:
    """Negative log-likelihood of log-probabilities, as PyTorch's ``nll_loss``:
    ``-weight[label] * logp[label]`` for each label (:func:`nll` takes raw scores, as Knet).

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
        >>> logp = np.log(np.array([[0.5, 0.5], [0.1, 0.9]]))
        >>> float(F.nll_loss(logp, np.array([0, 1])).round(4))
        0.3993
    """
    fn = "nll_loss"
    rows, flat, lshape = _class_rows(logp, labels, ignore_index, fn)
    w = _class_weights(weight, np.shape(rows)[1], rows, fn)
    xp = array_module(raw(rows))
    picked = rows[xp.arange(flat.shape[0]), xp.where(flat != ignore_index, flat, 0)]
    scale = _row_weights(flat, ignore_index, w, raw(rows).dtype)
    losses = -picked * scale
    if reduction == "none":
        return np.reshape(losses, lshape)
    return _reduce(losses, reduction, fn, scale.sum())


def nll(scores: Any, labels: Any = None, *, average: bool = True, ignore_index: int = -100,
        data: Iterable[Any] | None = None) -> Any:
    """Knet's ``nll``: the negative log-likelihood of unnormalised ``scores`` for ``labels``.

    The scores go through ``log_softmax`` over the classes inside (one fused primitive, as
    :func:`cross_entropy`), so ``nll(scores, labels)`` is Knet's ``nll(scores, labels)`` with
    the instances in rows: Knet's scores are ``(classes, instances)`` (``dims=1``), ours
    ``(N, C)`` (or ``(N, C, d1, ...)``), batch first. Labels are 0-based here (Knet's are
    1-based), and a label equal to ``ignore_index`` is skipped, as Knet skips label 0. PyTorch's
    form, which takes log-probabilities, is :func:`nll_loss`.

    ``nll(model, data)`` (or Knet's ``nll(model, data=data)``) is the same over a dataset:
    ``data`` yields ``(x, labels)`` batches and ``model(x)`` gives the scores; the total over
    all batches divided by the count of labels not skipped.

    Args:
        scores: unnormalised class scores, classes on axis 1; or a model.
        labels: 0-based integer labels, shape ``(N, ...)``; or the batches, for a model.
        average: ``True`` gives ``total / count``; ``False`` the pair ``(total, count)``, as
            Knet (``total`` is recorded when the scores are, ``count`` is an int).
        ignore_index: a label value to skip.
        data: the batches for a model (Knet's keyword form).

    Returns:
        The mean negative log-likelihood, or ``(total, count)``; a plain float for a model.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> scores = np.array([[12.2, 2.0, 0.0], [0.3, 21.5, -21.0]])  # Knet's example, in rows
        >>> labels = np.array([0, 1])
        >>> p = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
        >>> bool(np.isclose(F.nll(scores, labels), -np.mean(np.log(p[[0, 1], labels]))))
        True
        >>> total, count = F.nll(scores, labels, average=False)
        >>> count
        2
    """
    if callable(scores) and not hasattr(scores, "shape"):
        return _model_nll(scores, _batches("nll", labels, data), average, ignore_index)
    if labels is None:
        raise TypeError("nll(scores, labels): the labels are missing")
    if average:
        return cross_entropy(scores, labels, ignore_index=ignore_index, reduction="mean")
    total = cross_entropy(scores, labels, ignore_index=ignore_index, reduction="sum")
    return total, int(np.sum(raw(labels) != ignore_index))


def _batches(fn: str, positional: Any, data: Any) -> Iterable[Any]:
    """The dataset of ``fn(model, data)`` / ``fn(model, data=data)``: exactly one of them."""
    if (positional is None) == (data is None):
        raise TypeError(f"{fn}(model, data): give the (x, labels) batches once, as the second "
                        f"argument or as data=")
    return positional if data is None else data


def _model_nll(model: Callable[[Any], Any], data: Iterable[Any], average: bool,
               ignore_index: int) -> Any:
    total, count = 0.0, 0
    for x, y in data:
        t, n = nll(model(x), y, average=False, ignore_index=ignore_index)
        total, count = total + float(raw(t)), count + n
    if not average:
        return total, count
    return total / count if count else math.nan


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


def accuracy(scores: Any, labels: Any = None, ignore_index: int = -100, *,
             average: bool = True, data: Iterable[Any] | None = None) -> Any:
    """The fraction of labels whose class has the largest score (a plain number).

    ``accuracy(model, data)`` (or Knet's ``accuracy(model, data=data)``), with ``data`` an
    iterable of ``(x, labels)`` batches, is the accuracy of ``model(x)`` over all of them.

    Args:
        scores: shape ``(N, C, ...)`` (classes on axis 1) or ``(C,)``; or a model.
        labels: 0-based integer labels, shape ``(N, ...)``; or the batches, for a model.
        ignore_index: labels with this value are not counted.
        average: ``False`` gives Knet's pair ``(ncorrect, count)`` instead of the ratio.
        data: the batches for a model (Knet's keyword form).

    Returns:
        A Python float in [0, 1] (NaN when every label is ignored), or ``(ncorrect, count)``;
        never tracked.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> F.accuracy(np.array([[2.0, 0.0], [3.0, 1.0]]), np.array([0, 1]))
        0.5
    """
    if callable(scores) and not hasattr(scores, "shape"):
        right, total = _model_hits(scores, _batches("accuracy", labels, data), ignore_index)
    else:
        if labels is None:
            raise TypeError("accuracy(scores, labels): the labels are missing")
        right, total = _hits(scores, labels, ignore_index)
    if not average:
        return right, total
    return right / total if total else math.nan


def _hits(scores: Any, labels: Any, ignore_index: int) -> tuple[int, int]:
    s, lab = raw(scores), raw(labels)
    if np.ndim(s) == 1:
        s, lab = s[None], np.reshape(lab, (1,))
    if np.shape(lab) != np.shape(s)[:1] + np.shape(s)[2:]:
        hint = (" (these look one-hot: pass labels.argmax(axis=1))"
                if np.shape(lab) == np.shape(s) else "")
        raise ValueError(f"accuracy: scores of shape (N, C, ...) need labels of shape (N, ...); "
                         f"got scores {np.shape(s)} and labels {np.shape(lab)}{hint}")
    valid = lab != ignore_index
    right = (s.argmax(axis=1) == lab) & valid
    return int(right.sum()), int(valid.sum())


def _model_hits(model: Callable[[Any], Any], data: Iterable[Any],
                ignore_index: int) -> tuple[int, int]:
    right = total = 0
    for batch in data:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            got = (f"a {type(batch).__name__} of {len(batch)}"
                   if isinstance(batch, (tuple, list)) else f"a {type(batch).__name__}")
            raise TypeError(f"accuracy(model, data): each batch of data must be an (x, labels) "
                            f"pair; got {got}. Make the batches with labels, e.g. "
                            f"minibatch(x, y, batchsize)")
        x, y = batch
        r, t = _hits(model(x), y, ignore_index)
        right, total = right + r, total + t
    return right, total
