"""Small helpers shared by the gradient tables (axis bookkeeping for reductions).

``reduced_axes``, ``keep_dims`` and ``refuse_higher_order`` belong to the rule author's surface
(``primitive.py``) and are re-exported here for the tables that import them with the rest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..primitive import keep_dims, raw, reduced_axes, refuse_higher_order

__all__ = ["reduced_axes", "keep_dims", "count", "dtype_of", "along", "pad_axis",
           "refuse_higher_order"]


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
