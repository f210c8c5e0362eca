"""Small helpers shared by the gradient tables (axis bookkeeping for reductions)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor, raw


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
    if axis is None or (keepdims is not np._NoValue and keepdims):
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


def along(axis: int, index: Any) -> tuple:
    """The index tuple that applies ``index`` (a slice or an int) to axis ``axis`` only."""
    return (slice(None),) * axis + (index,)


def pad_axis(g: Any, axis: int, before: int, after: int) -> Any:
    """``g`` with ``before`` and ``after`` zeros added along ``axis`` (differentiable in ``g``)."""
    shape = list(np.shape(g))
    parts = []
    for n in (before, after):
        shape[axis] = n
        parts.append(np.zeros_like(g, shape=tuple(shape)) if n else None)
    pieces = [p for p in (parts[0], g, parts[1]) if p is not None]
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=axis)


def refuse_higher_order(name: str, why: str, *values: Any, fix: str = "") -> None:
    """Raise ``TypeError`` when a rule that computes on plain values is being recorded.

    Such a rule gives an exact first derivative, but its plain intermediate values would be
    constants to the outer tapes: their second derivative would be silently wrong.
    """
    if any(isinstance(v, Tensor) for v in values):
        shape = next((np.shape(raw(v)) for v in values if v is not None), ())
        raise TypeError(
            f"{name}: higher-order gradients {why} (argument of shape {shape}) are not "
            f"supported (the first derivative is exact); "
            f"{fix or 'differentiate once, or avoid this case'}"
        )
