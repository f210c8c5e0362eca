"""Gradients of indexing, ``x[index]``: integers, slices, ``None``, ``...``, integer arrays
(repeated indices add up) and boolean masks, alone or combined.

The gradient scatters ``dy`` into zeros of the argument's shape; that scatter is a primitive
too, whose own gradient is indexing again, so higher-order gradients work. Skipped here, on
purpose: assignment into tracked Tensors and sparse gradients (the NumPy-coverage issue).
"""

from __future__ import annotations

import operator

import numpy as np

from ..backend import array_module, scatter_add
from ..primitive import primitive


def _is_advanced(item) -> bool:
    """True for an index part that may repeat positions (an integer array or list)."""
    if isinstance(item, (int, np.integer, slice)) or item is None or item is Ellipsis:
        return False
    dtype = getattr(item, "dtype", None)
    return dtype is None or dtype.kind != "b"


def index_put(dy, shape, index):
    """Zeros of ``shape`` with ``dy`` added at ``index`` (repeated positions add up)."""
    xp = array_module(dy)
    out = xp.zeros(shape, dtype=np.result_type(dy))
    parts = index if type(index) is tuple else (index,)
    if any(_is_advanced(p) for p in parts):
        scatter_add(out, index, dy)
    else:
        out[index] = dy
    return out


index_put = primitive(index_put, lambda ddx, y, dy, shape, index: ddx[index], None, None,
                      name="index_put")
primitive(operator.getitem, lambda dy, y, x, index: index_put(dy, np.shape(x), index), None,
          name="getindex")
