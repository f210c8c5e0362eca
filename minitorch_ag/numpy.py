"""NumPy's namespace for differentiated code: ``import minitorch_ag.numpy as np``.

Owns the few functions NumPy's protocols cannot intercept: those that receive tracked values
inside a Python list or tuple. ``np.array([x, y])``, ``np.mean([x, y])``, ``np.exp([x, 1.0])``
hand NumPy a list, which it converts with ``np.asarray`` before any Tensor is asked, and the
conversion of a tracked value is refused (its gradient would be lost). Here such a list
becomes a recorded stack first. Everything else is NumPy's own object, unchanged (types,
constants, submodules, and functions called without tracked values in lists), so code written
for ``autograd.numpy`` runs after changing one import.

* ``array``, ``asarray``, ``asanyarray``, ``ascontiguousarray``: a (nested) list or tuple
  holding tracked values becomes ``stack`` of its converted items (a number is a 0-d item).
* ``r_`` and ``c_``: items are joined with ``concatenate`` (``c_`` makes 1-d items columns).
* Any other NumPy function or ufunc: positional arguments that are lists or tuples holding
  tracked values are converted as ``array`` does, except for the functions that take a
  sequence of arrays on purpose (``concatenate``, ``stack``, ``block``, ``einsum`` ...:
  those registered with an argument adapter), which record lists already.

Does not own any gradient rule: the stack and the functions called record through the
registry as everywhere else.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as _np

from .registry import PRIMITIVES
from .tensor import is_tracked

__all__ = ["array", "asarray", "asanyarray", "ascontiguousarray", "r_", "c_"]


def _holds_tracked(x: Any) -> bool:
    """True for a list or tuple with a tracked value anywhere inside."""
    if isinstance(x, (list, tuple)):
        return any(_holds_tracked(v) for v in x)
    return is_tracked(x)


def _stacked(x: Any) -> Any:
    """``x`` with its lists and tuples holding tracked values turned into recorded stacks."""
    if isinstance(x, (list, tuple)) and _holds_tracked(x):
        return _np.stack([_stacked(v) for v in x])
    return x


def array(obj: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> Any:
    """``np.array(obj)``, recording when ``obj`` is a list or tuple holding tracked values.

    Example:
        >>> import numpy, minitorch_ag as ag
        >>> import minitorch_ag.numpy as np
        >>> ag.grad(lambda x: np.sum(np.array([x, 2 * x]) ** 2))(3.0)
        30.0
    """
    if _holds_tracked(obj):
        out = _stacked(obj)
        return out if dtype is None else out.astype(dtype)
    return _np.array(obj, dtype, *args, **kwargs)


def asarray(a: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> Any:
    """``np.asarray(a)``; a tracked value, or a list holding some, stays tracked."""
    if _holds_tracked(a):
        out = _stacked(a)
        return out if dtype is None else out.astype(dtype)
    return _np.asarray(a, dtype, *args, **kwargs)


asanyarray = asarray


def ascontiguousarray(a: Any, dtype: Any = None, **kwargs: Any) -> Any:
    """``np.ascontiguousarray(a)``; a tracked value, or a list holding some, stays tracked."""
    if _holds_tracked(a):
        return asarray(a, dtype)
    return _np.ascontiguousarray(a, dtype, **kwargs)


class _Concatenator:
    """``r_`` (join along the first axis) and ``c_`` (1-d items as columns, the last axis)."""

    def __init__(self, plain: Any, columns: bool) -> None:
        self._plain = plain
        self._columns = columns

    def __getitem__(self, key: Any) -> Any:
        items = key if isinstance(key, tuple) else (key,)
        if not any(is_tracked(i) or _holds_tracked(i) for i in items):
            return self._plain[key]
        pieces = []
        for item in items:
            if isinstance(item, str):
                raise TypeError(f"{'c_' if self._columns else 'r_'}[...]: the string "
                                f"directives ({item!r}) are not supported with tracked values")
            if isinstance(item, slice):
                item = self._plain[item]
            item = asarray(item)
            ndim = _np.ndim(item)
            if self._columns:
                item = _np.reshape(item, (-1, 1)) if ndim < 2 else item
            elif ndim == 0:
                item = _np.reshape(item, (1,))
            pieces.append(item)
        return _np.concatenate(pieces, axis=-1 if self._columns else 0)

    def __len__(self) -> int:
        return 0


r_ = _Concatenator(_np.r_, columns=False)
c_ = _Concatenator(_np.c_, columns=True)


class _Listing:
    """A NumPy function or ufunc whose list arguments holding tracked values are stacked."""

    def __init__(self, fn: Any) -> None:
        self._fn = fn
        self.__name__ = getattr(fn, "__name__", repr(fn))
        self.__doc__ = getattr(fn, "__doc__", None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if any(isinstance(a, (list, tuple)) and _holds_tracked(a) for a in args):
            args = tuple(_stacked(a) for a in args)
        return self._fn(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # a ufunc's reduce, accumulate, nin ...
        return getattr(self._fn, name)

    def __repr__(self) -> str:
        return f"<minitorch_ag.numpy {self.__name__}>"


_CACHE: dict[str, Any] = {}


def _takes_sequences(fn: Any) -> bool:
    prim = PRIMITIVES.get(fn)
    return prim is not None and prim.adapter is not None


def __getattr__(name: str) -> Any:
    """NumPy's own object for ``name``; a function wrapped as :class:`_Listing` describes."""
    found = _CACHE.get(name)
    if found is not None:
        return found
    obj = getattr(_np, name)  # AttributeError for names NumPy lacks, as NumPy raises
    if (isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, _np.ufunc))
            or type(obj).__name__ == "_ArrayFunctionDispatcher") and not _takes_sequences(obj):
        obj = _Listing(obj)
    _CACHE[name] = obj
    return obj


def __dir__() -> list[str]:
    return sorted(set(dir(_np)) | set(__all__))
