"""Array backends: which array module (NumPy or CuPy) a value belongs to.

This is the only module that may mention CuPy, and it never imports it eagerly: a CuPy array
is recognised by the module its type comes from, so a CPU-only install pays nothing. Every
allocation made by the library goes through :func:`array_module` (or NumPy's ``*_like``
functions, which dispatch to CuPy by themselves), so that results stay on the device of their
inputs.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["array_module", "is_array", "scatter_add"]


def _is_cupy_type(cls: type) -> bool:
    return cls.__module__.startswith("cupy")


def array_module(x: Any) -> ModuleType:
    """The array module (``numpy`` or ``cupy``) that owns ``x``; NumPy for numbers and lists."""
    cls = type(x)
    if cls is np.ndarray or not _is_cupy_type(cls):
        return np
    import cupy  # noqa: PLC0415 - imported lazily on purpose: CuPy is optional

    return cupy


def is_array(x: Any) -> bool:
    """True for a NumPy or CuPy array (not for numbers or Tensors)."""
    cls = type(x)
    return cls is np.ndarray or isinstance(x, np.ndarray) or (
        _is_cupy_type(cls) and cls.__name__ == "ndarray"
    )


def scatter_add(target: Any, index: Any, values: Any) -> None:
    """``target[index] += values`` in place, adding up repeated indices (NumPy's ``add.at``)."""
    xp = array_module(target)
    if xp is np:
        np.add.at(target, index, values)
    else:
        import cupyx  # noqa: PLC0415

        cupyx.scatter_add(target, index, values)
