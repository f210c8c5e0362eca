"""Small helpers shared by the gradient tables (axis bookkeeping for reductions)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import raw


def reduced_axes(ndim: int, axis: Any) -> tuple[int, ...]:
    """``axis`` (``None``, an int or a tuple, negatives allowed) as sorted non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(sorted(int(a) % ndim for a in axis)) if ndim else ()
    return (int(axis) % ndim,) if ndim else ()


def keep_dims(v: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    """``v``, the result of reducing ``x`` over ``axis``, reshaped as if ``keepdims=True``.

    The result broadcasts against ``x``; the framework broadcasts a rule's gradient up to its
    argument's shape, so reduction rules can return this directly.
    """
    if keepdims or axis is None:
        return v
    shape = np.shape(x)
    axes = reduced_axes(len(shape), axis)
    return np.reshape(v, tuple(1 if i in axes else n for i, n in enumerate(shape)))


def count(x: Any, axis: Any) -> int:
    """How many elements of ``x`` each result of a reduction over ``axis`` summarises."""
    shape = np.shape(x)
    n = 1
    for a in reduced_axes(len(shape), axis):
        n *= shape[a]
    return n


def dtype_of(v: Any) -> np.dtype:
    """The dtype of a value that may be a Tensor, an array, a NumPy scalar or a number."""
    v = raw(v)
    return v.dtype if hasattr(v, "dtype") else np.result_type(v)
