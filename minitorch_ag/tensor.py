"""Tensors: ``Param`` (user parameters) and ``Result`` (recorded values), and how calls record.

Owns the Tensor types, their operators and NumPy's protocols, and the recording call. Does not
own the tape and the backward sweep (``tape.py``), copy-on-write for in-place updates
(``inplace.py``, found through ``registry.IN_PLACE``), gradient rules (``rules/``) or the
default device (``device.py``).

A Tensor wraps a value. Outside ``diff`` it behaves like that value: operators and NumPy
functions return plain NumPy results. While recording, every call that involves a tracked
Tensor goes through :func:`call`, which unwraps the arguments by one level, computes the
primitive and appends a ``Result`` node to the innermost tape involved (see ``tape.py`` for the
whole algorithm). Python operators reach :func:`call` directly; ``np.*`` functions reach it
through NumPy's ``__array_ufunc__`` and ``__array_function__`` protocols, looked up in the
registry of primitives. Every operator and ndarray method is written in the class body.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .backend import is_array
from .device import on_default_device
from .registry import IN_PLACE, PRIMITIVES, Primitive, _name_of, missing_rule
from .tape import ITEM, STATE, Tape, TapeMark, freeze

__all__ = ["Tensor", "Param", "Result", "call", "set_call", "raw", "is_tracked", "dispatch",
           "astype", "METHODS"]

_ndarray = np.ndarray

_NOKW: dict[str, Any] = {}  # the shared empty keyword arguments; never mutated


# ----------------------------------------------------------------------------------------
# The types
# ----------------------------------------------------------------------------------------


class Tensor:
    """Base type of every tracked value; ``.value`` is the wrapped value."""

    __slots__ = ("value",)
    __array_priority__ = 1000.0  # ndarray's operators defer to ours

    # -- NumPy's protocols -------------------------------------------------------------

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method == "__call__":
            prim = PRIMITIVES.get(ufunc)
            if prim is not None:
                return call(prim, inputs, kwargs)
            name = f"np.{ufunc.__name__}"
        else:
            name = f"np.{ufunc.__name__}.{method}"
        _refuse_if_tracked(name, (inputs, kwargs))
        return getattr(ufunc, method)(*_raw_deep(inputs), **_raw_deep(kwargs))

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        return dispatch(func, args, kwargs)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        _refuse_conversion(self, "np.asarray()/np.array()",
                           "np.stack([...]) for a list of them (a plain array cannot hold a "
                           "tracked value: a[i] = t needs a tracked a, e.g. a = x * 0)")
        v = raw(self)
        if copy:
            return np.array(v, dtype=dtype, copy=True)
        return np.asarray(v, dtype=dtype)

    # -- conversions -------------------------------------------------------------------

    def __float__(self) -> float:
        _refuse_conversion(self, "float()")
        return float(raw(self))

    def __complex__(self) -> complex:
        _refuse_conversion(self, "complex()")
        return complex(raw(self))

    def item(self, *args: Any) -> Any:
        """The value as a Python number (refused while the Tensor is tracked)."""
        _refuse_conversion(self, ".item()")
        v = raw(self)
        return v.item(*args) if hasattr(v, "item") else v

    def tolist(self) -> Any:
        """The value as nested Python lists (refused while the Tensor is tracked)."""
        _refuse_conversion(self, ".tolist()")
        v = raw(self)
        return v.tolist() if hasattr(v, "tolist") else v

    # Piecewise constant: no gradient to lose, and control flow needs them.
    def __bool__(self) -> bool:
        return bool(raw(self))

    def __int__(self) -> int:
        return int(raw(self))

    def __index__(self) -> int:
        return operator.index(raw(self))

    def __round__(self, ndigits: int | None = None) -> Any:
        v = raw(self)
        v = v.item() if isinstance(v, np.ndarray) else v
        return round(v, ndigits) if ndigits is not None else round(v)

    def __floor__(self) -> int:
        return int(np.floor(raw(self)))

    def __ceil__(self) -> int:
        return int(np.ceil(raw(self)))

    def __trunc__(self) -> int:
        return int(np.trunc(raw(self)))

    def __format__(self, spec: str) -> str:
        return format(raw(self), spec) if spec else repr(self)

    # -- array attributes --------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return np.shape(raw(self))

    @property
    def dtype(self) -> np.dtype:
        v = raw(self)
        return v.dtype if hasattr(v, "dtype") else np.result_type(v)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    @property
    def T(self) -> Any:
        return dispatch(np.transpose, (self,), _NOKW)

    @property
    def mT(self) -> Any:  # noqa: N802 - NumPy's name
        """The last two axes swapped, as ``ndarray.mT``."""
        return dispatch(np.matrix_transpose, (self,), _NOKW)

    @property
    def real(self) -> Any:
        return dispatch(np.real, (self,), _NOKW)

    @property
    def imag(self) -> Any:
        return dispatch(np.imag, (self,), _NOKW)

    def __len__(self) -> int:
        return len(raw(self))

    def __iter__(self) -> Iterator[Any]:
        if not is_tracked(self):
            return iter(raw(self))
        return (self[i] for i in range(len(self)))

    def __contains__(self, item: Any) -> bool:
        return raw(item) in raw(self)

    # -- indexing ----------------------------------------------------------------------

    def __getitem__(self, index: Any) -> Any:
        return call(PRIMITIVES[operator.getitem], (self, _plain_index(index)), _NOKW)

    def __setitem__(self, index: Any, v: Any) -> None:
        index = _plain_index(index)
        if STATE.stack and (is_tracked(self) or is_tracked(v)):
            IN_PLACE["x[...] = v"](self, index, v)  # copy-on-write (inplace.py)
        else:
            raw(self)[index] = raw(v)

    # -- in-place methods of ndarray: copy-on-write while recording (inplace.py) -----------

    def fill(self, value: Any) -> None:
        """Set every element to ``value``, as ``ndarray.fill`` (recorded while tracked)."""
        self[...] = value

    def sort(self, axis: int = -1, kind: Any = None, order: Any = None) -> None:
        """Sort in place, as ``ndarray.sort`` (recorded as ``x = np.sort(x)`` while tracked)."""
        if STATE.stack and is_tracked(self):
            IN_PLACE["x.sort()"](self, axis, kind, order)
        else:
            raw(self).sort(axis=axis, kind=kind, order=order)

    def partition(self, kth: Any, axis: int = -1, kind: str = "introselect",
                  order: Any = None) -> None:
        """Partition in place, as ``ndarray.partition`` (recorded as ``np.partition``)."""
        if STATE.stack and is_tracked(self):
            IN_PLACE["x.partition()"](self, kth, axis, order)
        else:
            raw(self).partition(kth, axis=axis, kind=kind, order=order)

    def put(self, indices: Any, values: Any, mode: str = "raise") -> None:
        """``x.flat[indices] = values``, as ``ndarray.put`` / ``np.put``."""
        dispatch(np.put, (self, indices, values), {"mode": mode})

    def resize(self, *shape: Any, refcheck: bool = True) -> None:
        """Change the shape in place, as ``ndarray.resize`` (refused while tracked)."""
        if STATE.stack and is_tracked(self):
            raise TypeError(
                f"x.resize(): resizing a tracked Tensor ({_describe(self)}) in place while "
                f"recording is not supported; use y = np.resize(x, shape) or np.pad, which "
                f"make a new value"
            )
        raw(self).resize(*shape, refcheck=refcheck)

    # -- methods that mirror ndarray's: each is its NumPy function (see METHODS) -----------

    def reshape(self, *shape: Any, order: str = "C") -> Any:
        """Same as ``np.reshape(x, shape)``; accepts ``x.reshape(2, 3)`` and ``((2, 3))``."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return dispatch(np.reshape, (self, shape), {"order": order} if order != "C" else _NOKW)

    def transpose(self, *axes: Any) -> Any:
        """Same as ``np.transpose(x, axes)``; accepts ``x.transpose(1, 0)``."""
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return dispatch(np.transpose, (self, tuple(axes) if axes else None), _NOKW)

    def astype(self, dtype: Any, **kwargs: Any) -> Any:
        """The value cast to ``dtype`` (differentiable between float dtypes)."""
        return call(PRIMITIVES[astype], (self, np.dtype(dtype)), _NOKW)

    def flatten(self, order: str = "C") -> Any:
        """A 1-d copy of the value, as ``ndarray.flatten``."""
        return dispatch(np.ravel, (self,), {"order": order} if order != "C" else _NOKW)

    def compress(self, condition: Any, axis: Any = None, out: Any = None) -> Any:
        """Same as ``np.compress(condition, x, axis)`` (the condition comes first there)."""
        return dispatch(np.compress, (condition, self), {"axis": axis, "out": out})

    def sum(self, *a: Any, **k: Any) -> Any: return dispatch(np.sum, (self, *a), k)
    def mean(self, *a: Any, **k: Any) -> Any: return dispatch(np.mean, (self, *a), k)
    def max(self, *a: Any, **k: Any) -> Any: return dispatch(np.max, (self, *a), k)
    def min(self, *a: Any, **k: Any) -> Any: return dispatch(np.min, (self, *a), k)
    def prod(self, *a: Any, **k: Any) -> Any: return dispatch(np.prod, (self, *a), k)
    def std(self, *a: Any, **k: Any) -> Any: return dispatch(np.std, (self, *a), k)
    def var(self, *a: Any, **k: Any) -> Any: return dispatch(np.var, (self, *a), k)
    def dot(self, *a: Any, **k: Any) -> Any: return dispatch(np.dot, (self, *a), k)
    def ravel(self, *a: Any, **k: Any) -> Any: return dispatch(np.ravel, (self, *a), k)
    def squeeze(self, *a: Any, **k: Any) -> Any: return dispatch(np.squeeze, (self, *a), k)
    def clip(self, *a: Any, **k: Any) -> Any: return dispatch(np.clip, (self, *a), k)
    def copy(self, *a: Any, **k: Any) -> Any: return dispatch(np.copy, (self, *a), k)
    def argmax(self, *a: Any, **k: Any) -> Any: return dispatch(np.argmax, (self, *a), k)
    def argmin(self, *a: Any, **k: Any) -> Any: return dispatch(np.argmin, (self, *a), k)
    def argsort(self, *a: Any, **k: Any) -> Any: return dispatch(np.argsort, (self, *a), k)
    def all(self, *a: Any, **k: Any) -> Any: return dispatch(np.all, (self, *a), k)
    def any(self, *a: Any, **k: Any) -> Any: return dispatch(np.any, (self, *a), k)
    def cumsum(self, *a: Any, **k: Any) -> Any: return dispatch(np.cumsum, (self, *a), k)
    def cumprod(self, *a: Any, **k: Any) -> Any: return dispatch(np.cumprod, (self, *a), k)
    def round(self, *a: Any, **k: Any) -> Any: return dispatch(np.round, (self, *a), k)
    def repeat(self, *a: Any, **k: Any) -> Any: return dispatch(np.repeat, (self, *a), k)
    def take(self, *a: Any, **k: Any) -> Any: return dispatch(np.take, (self, *a), k)
    def trace(self, *a: Any, **k: Any) -> Any: return dispatch(np.trace, (self, *a), k)
    def diagonal(self, *a: Any, **k: Any) -> Any: return dispatch(np.diagonal, (self, *a), k)
    def nonzero(self, *a: Any, **k: Any) -> Any: return dispatch(np.nonzero, (self, *a), k)
    def swapaxes(self, *a: Any, **k: Any) -> Any: return dispatch(np.swapaxes, (self, *a), k)
    def conj(self, *a: Any, **k: Any) -> Any: return dispatch(np.conjugate, (self, *a), k)
    def conjugate(self, *a: Any, **k: Any) -> Any: return dispatch(np.conjugate, (self, *a), k)
    def choose(self, *a: Any, **k: Any) -> Any: return dispatch(np.choose, (self, *a), k)
    def searchsorted(self, *a: Any, **k: Any) -> Any: return dispatch(np.searchsorted, (self, *a), k)  # noqa: E501
    def argpartition(self, *a: Any, **k: Any) -> Any: return dispatch(np.argpartition, (self, *a), k)  # noqa: E501

    # -- operators: ``x op y`` is the ufunc's primitive; ``x op= y`` is copy-on-write ------

    def __add__(self, y: Any) -> Any: return call(PRIMITIVES[np.add], (self, y), _NOKW)
    def __radd__(self, y: Any) -> Any: return call(PRIMITIVES[np.add], (y, self), _NOKW)
    def __iadd__(self, y: Any) -> Any: return _in_place(self, y, np.add, "x += y")
    def __sub__(self, y: Any) -> Any: return call(PRIMITIVES[np.subtract], (self, y), _NOKW)
    def __rsub__(self, y: Any) -> Any: return call(PRIMITIVES[np.subtract], (y, self), _NOKW)
    def __isub__(self, y: Any) -> Any: return _in_place(self, y, np.subtract, "x -= y")
    def __mul__(self, y: Any) -> Any: return call(PRIMITIVES[np.multiply], (self, y), _NOKW)
    def __rmul__(self, y: Any) -> Any: return call(PRIMITIVES[np.multiply], (y, self), _NOKW)
    def __imul__(self, y: Any) -> Any: return _in_place(self, y, np.multiply, "x *= y")
    def __truediv__(self, y: Any) -> Any: return call(PRIMITIVES[np.true_divide], (self, y), _NOKW)
    def __rtruediv__(self, y: Any) -> Any: return call(PRIMITIVES[np.true_divide], (y, self), _NOKW)
    def __itruediv__(self, y: Any) -> Any: return _in_place(self, y, np.true_divide, "x /= y")
    def __floordiv__(self, y: Any) -> Any: return call(PRIMITIVES[np.floor_divide], (self, y), _NOKW)  # noqa: E501
    def __rfloordiv__(self, y: Any) -> Any: return call(PRIMITIVES[np.floor_divide], (y, self), _NOKW)  # noqa: E501
    def __ifloordiv__(self, y: Any) -> Any: return _in_place(self, y, np.floor_divide, "x //= y")
    def __mod__(self, y: Any) -> Any: return call(PRIMITIVES[np.remainder], (self, y), _NOKW)
    def __rmod__(self, y: Any) -> Any: return call(PRIMITIVES[np.remainder], (y, self), _NOKW)
    def __imod__(self, y: Any) -> Any: return _in_place(self, y, np.remainder, "x %= y")
    def __matmul__(self, y: Any) -> Any: return call(PRIMITIVES[np.matmul], (self, y), _NOKW)
    def __rmatmul__(self, y: Any) -> Any: return call(PRIMITIVES[np.matmul], (y, self), _NOKW)
    def __imatmul__(self, y: Any) -> Any: return _in_place(self, y, np.matmul, "x @= y")
    def __pow__(self, y: Any, mod: Any = None) -> Any: return _power(self, y, mod)
    def __rpow__(self, y: Any) -> Any: return call(PRIMITIVES[np.power], (y, self), _NOKW)
    def __ipow__(self, y: Any) -> Any: return _in_place(self, y, np.power, "x **= y")
    def __and__(self, y: Any) -> Any: return call(PRIMITIVES[np.bitwise_and], (self, y), _NOKW)
    def __rand__(self, y: Any) -> Any: return call(PRIMITIVES[np.bitwise_and], (y, self), _NOKW)
    def __iand__(self, y: Any) -> Any: return _in_place(self, y, np.bitwise_and, "x &= y")
    def __or__(self, y: Any) -> Any: return call(PRIMITIVES[np.bitwise_or], (self, y), _NOKW)
    def __ror__(self, y: Any) -> Any: return call(PRIMITIVES[np.bitwise_or], (y, self), _NOKW)
    def __ior__(self, y: Any) -> Any: return _in_place(self, y, np.bitwise_or, "x |= y")
    def __xor__(self, y: Any) -> Any: return call(PRIMITIVES[np.bitwise_xor], (self, y), _NOKW)
    def __rxor__(self, y: Any) -> Any: return call(PRIMITIVES[np.bitwise_xor], (y, self), _NOKW)
    def __ixor__(self, y: Any) -> Any: return _in_place(self, y, np.bitwise_xor, "x ^= y")
    def __lshift__(self, y: Any) -> Any: return call(PRIMITIVES[np.left_shift], (self, y), _NOKW)
    def __rlshift__(self, y: Any) -> Any: return call(PRIMITIVES[np.left_shift], (y, self), _NOKW)
    def __ilshift__(self, y: Any) -> Any: return _in_place(self, y, np.left_shift, "x <<= y")
    def __rshift__(self, y: Any) -> Any: return call(PRIMITIVES[np.right_shift], (self, y), _NOKW)
    def __rrshift__(self, y: Any) -> Any: return call(PRIMITIVES[np.right_shift], (y, self), _NOKW)
    def __irshift__(self, y: Any) -> Any: return _in_place(self, y, np.right_shift, "x >>= y")
    def __divmod__(self, y: Any) -> tuple[Any, Any]: return self // y, self % y
    def __rdivmod__(self, y: Any) -> tuple[Any, Any]: return y // self, y % self
    def __lt__(self, y: Any) -> Any: return call(PRIMITIVES[np.less], (self, y), _NOKW)
    def __le__(self, y: Any) -> Any: return call(PRIMITIVES[np.less_equal], (self, y), _NOKW)
    def __gt__(self, y: Any) -> Any: return call(PRIMITIVES[np.greater], (self, y), _NOKW)
    def __ge__(self, y: Any) -> Any: return call(PRIMITIVES[np.greater_equal], (self, y), _NOKW)
    def __eq__(self, y: Any) -> Any: return call(PRIMITIVES[np.equal], (self, y), _NOKW)
    def __ne__(self, y: Any) -> Any: return call(PRIMITIVES[np.not_equal], (self, y), _NOKW)
    def __neg__(self) -> Any: return call(PRIMITIVES[np.negative], (self,), _NOKW)
    def __pos__(self) -> Any: return call(PRIMITIVES[np.positive], (self,), _NOKW)
    def __abs__(self) -> Any: return call(PRIMITIVES[np.absolute], (self,), _NOKW)
    def __invert__(self) -> Any: return call(PRIMITIVES[np.invert], (self,), _NOKW)

    __hash__ = object.__hash__  # identity, as for torch.Tensor: == is elementwise

    def __copy__(self) -> Any:
        new = object.__new__(type(self))
        for cls in type(self).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if slot != "__weakref__" and hasattr(self, slot):
                    setattr(new, slot, getattr(self, slot))
        return new


def astype(x: Any, dtype: Any) -> Any:
    """``x.astype(dtype)`` as a function, so that it can be a primitive (``rules/shape.py``)."""
    return x.astype(dtype)


# The NumPy function behind each Tensor method or operator that mirrors one: ``ag.coverage()``
# lists a method as differentiable when its function has a gradient rule.
METHODS: dict[str, Any] = {
    "reshape": np.reshape, "transpose": np.transpose, "astype": astype, "flatten": np.ravel,
    "compress": np.compress, "__getitem__": operator.getitem,
    "sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
    "std": np.std, "var": np.var, "dot": np.dot, "ravel": np.ravel, "squeeze": np.squeeze,
    "clip": np.clip, "copy": np.copy, "argmax": np.argmax, "argmin": np.argmin,
    "argsort": np.argsort, "all": np.all, "any": np.any, "cumsum": np.cumsum,
    "cumprod": np.cumprod, "round": np.round, "repeat": np.repeat, "take": np.take,
    "trace": np.trace, "diagonal": np.diagonal, "nonzero": np.nonzero,
    "swapaxes": np.swapaxes, "conj": np.conjugate, "conjugate": np.conjugate,
    "choose": np.choose, "searchsorted": np.searchsorted, "argpartition": np.argpartition,
    "__add__": np.add, "__radd__": np.add, "__iadd__": np.add,
    "__sub__": np.subtract, "__rsub__": np.subtract, "__isub__": np.subtract,
    "__mul__": np.multiply, "__rmul__": np.multiply, "__imul__": np.multiply,
    "__truediv__": np.true_divide, "__rtruediv__": np.true_divide,
    "__itruediv__": np.true_divide, "__floordiv__": np.floor_divide,
    "__rfloordiv__": np.floor_divide, "__ifloordiv__": np.floor_divide,
    "__mod__": np.remainder, "__rmod__": np.remainder, "__imod__": np.remainder,
    "__matmul__": np.matmul, "__rmatmul__": np.matmul, "__imatmul__": np.matmul,
    "__pow__": np.power, "__rpow__": np.power, "__ipow__": np.power,
    "__and__": np.bitwise_and, "__rand__": np.bitwise_and, "__iand__": np.bitwise_and,
    "__or__": np.bitwise_or, "__ror__": np.bitwise_or, "__ior__": np.bitwise_or,
    "__xor__": np.bitwise_xor, "__rxor__": np.bitwise_xor, "__ixor__": np.bitwise_xor,
    "__lshift__": np.left_shift, "__rlshift__": np.left_shift, "__ilshift__": np.left_shift,
    "__rshift__": np.right_shift, "__rrshift__": np.right_shift,
    "__irshift__": np.right_shift, "__lt__": np.less, "__le__": np.less_equal,
    "__gt__": np.greater, "__ge__": np.greater_equal, "__eq__": np.equal,
    "__ne__": np.not_equal, "__neg__": np.negative, "__pos__": np.positive,
    "__abs__": np.absolute, "__invert__": np.invert,
}


def _power(x: Tensor, y: Any, mod: Any) -> Any:
    """``x ** y``; the three-argument ``pow(x, y, mod)`` has no gradient and is refused."""
    if mod is not None:
        raise TypeError(
            f"pow(x, y, mod): the three-argument form has no gradient rule (x: "
            f"{_describe(x)}); write (x ** y) % mod instead"
        )
    return call(PRIMITIVES[np.power], (x, y), _NOKW)


def _in_place(x: Tensor, y: Any, ufunc: np.ufunc, what: str) -> Tensor:
    """``x op= y``: copy-on-write while recording (inplace.py), into ``x.value`` otherwise."""
    if STATE.stack and (is_tracked(x) or is_tracked(y)):
        IN_PLACE["x op= y"](x, y, ufunc, what)
        return x
    v = x.value
    if is_array(v):
        ufunc(v, raw(y), out=v)
    else:
        x.value = ufunc(raw(v), raw(y))
    return x


class Param(Tensor):
    """A user parameter: a leaf that every ``diff`` differentiates with respect to.

    Outside ``diff`` a Param acts like its value (``x + 1`` is a plain array). ``p.value`` may
    be reassigned or updated in place, except while a ``diff`` that uses ``p`` records (the
    tape holds the old value: reassigning raises ``TypeError``, and the array is read-only
    then); ``p.opt`` holds an optimizer's state for it. While the default device is a GPU
    (``ag.set_device("gpu")``), a NumPy value is moved there; other values stay as given.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import Param
        >>> x = Param(np.array([1.0, 2.0, 3.0]))
        >>> x
        P(array([1., 2., 3.]))
        >>> x + 1
        array([2., 3., 4.])
    """

    __slots__ = ("opt", "__weakref__")

    def __init__(self, value: Any) -> None:
        if isinstance(value, Tensor):
            raise TypeError(
                f"Param(x): x is already a {type(value).__name__}; wrap the plain value "
                f"(ag.value(x)) instead"
            )
        if isinstance(value, (list, tuple)):
            value = np.asarray(value)
        self.value = on_default_device(value)  # a host array goes to a GPU default device
        self.opt: Any = None

    def __repr__(self) -> str:
        return f"P({self.value!r})"

    @property
    def value(self) -> Any:
        return _value_slot.__get__(self, Param)

    @value.setter
    def value(self, v: Any) -> None:
        stack = STATE.stack
        if stack and any(id(self) in tape.leaves for tape in stack):
            raise TypeError(
                f"p.value = ...: p is a Param ({_describe(_value_slot.__get__(self, Param))}) "
                f"that the recording diff uses; the tape keeps its old value, so reassigning "
                f"it now would make the gradient wrong. Update it after diff returns"
            )
        _value_slot.__set__(self, v)


_value_slot = Tensor.__dict__["value"]  # the slot under Param's checked property


class Result(Tensor):
    """A value computed while recording: a node of its tape.

    ``mark`` identifies the tape it was recorded on (see ``TapeMark``), ``prim`` is the
    primitive (``None`` for a leaf), ``args`` and ``kwargs`` the argument values the gradient
    rules receive, ``parents`` the nodes of the tracked arguments (aligned with ``args``;
    ``None`` for constants), and
    ``outgrad`` the gradient reaching it during the backward sweep.
    """

    __slots__ = ("mark", "prim", "args", "kwargs", "parents", "outgrad", "__weakref__")

    def __init__(self, value: Any, tape: Tape, prim: Any, args: tuple, kwargs: dict,
                 parents: tuple) -> None:
        self.value = value
        self.mark = tape.mark
        self.prim = prim
        self.args = args
        self.kwargs = kwargs
        self.parents = parents
        self.outgrad: Any = None

    def __repr__(self) -> str:
        return f"R({self.value!r})"


# ----------------------------------------------------------------------------------------
# Unwrapping
# ----------------------------------------------------------------------------------------


def raw(x: Any) -> Any:
    """The plain value under any number of Tensor wrappers."""
    while isinstance(x, Tensor):
        x = x.value
    return x


def _raw_deep(x: Any) -> Any:
    """``raw`` applied inside lists, tuples and dicts too."""
    if isinstance(x, Tensor):
        return raw(x)
    t = type(x)
    if t is tuple or t is list:
        return t(_raw_deep(v) for v in x)
    if t is dict:
        return {k: _raw_deep(v) for k, v in x.items()}
    return x


def _is_live(mark: TapeMark, stack: list[Tape]) -> bool:
    lvl = mark.level
    return lvl <= len(stack) and stack[lvl - 1].mark is mark


def peel(x: Any) -> Any:
    """``x`` with the wrappers of finished tapes removed: a live Tensor, or a plain value.

    A Result whose tape has finished is a constant; its value may still be tracked by an outer
    tape that is recording.
    """
    stack = STATE.stack
    while isinstance(x, Result) and not _is_live(x.mark, stack):
        x = x.value
    if isinstance(x, Param) and not stack:
        return x.value
    return x


def is_tracked(x: Any) -> bool:
    """True when ``x`` is a Tensor that a recording tape in this thread differentiates."""
    stack = STATE.stack
    if not stack or not isinstance(x, Tensor):
        return False
    return isinstance(peel(x), Tensor)


def _any_tracked(obj: Any) -> bool:
    if isinstance(obj, Tensor):
        return is_tracked(obj)
    if isinstance(obj, (list, tuple)):
        return any(_any_tracked(v) for v in obj)
    if isinstance(obj, dict):
        return any(_any_tracked(v) for v in obj.values())
    return False


def _describe(x: Any) -> str:
    v = raw(x)
    dtype = getattr(v, "dtype", type(v).__name__)
    return f"shape {np.shape(v)}, {dtype}"


def _refuse_conversion(x: Tensor, what: str, alternative: str = "") -> None:
    if is_tracked(x):
        also = f", or {alternative}" if alternative else ""
        raise TypeError(
            f"{what} of a tracked Tensor ({_describe(x)}) while recording would lose its "
            f"gradient: the plain value is a constant to the tape. Use ag.value(x) where a "
            f"constant is what you mean{also}; otherwise keep computing with the Tensor"
        )


def _refuse_if_tracked(name: Any, args: Any) -> None:
    if STATE.stack and _any_tracked(args):
        if not isinstance(name, str):  # a function: named here, off the path that succeeds
            name = _name_of(name)
        if missing_rule(name):  # a listener (check_differentiable) computes it plainly instead
            return
        raise TypeError(
            f"{name} has no gradient rule in minitorch_ag, and it was called on a tracked "
            f"Tensor while recording. Define one with ag.primitive({name}, rule, ...) (the "
            f"documentation's \"Extending with primitives\" page shows how), or pass "
            f"ag.value(x) if no gradient should flow through it"
        )


def _plain_index(index: Any) -> Any:
    """An index with Tensors unwrapped and lists made arrays (indices have no gradient)."""
    t = type(index)
    if t is int or t is slice:
        return index
    if t is tuple:
        return tuple(_plain_index_item(i) for i in index)
    return _plain_index_item(index)


def _plain_index_item(i: Any) -> Any:
    if isinstance(i, Tensor):
        i = raw(i)
    elif type(i) is list:
        i = np.asarray(_raw_deep(i))
    if i.__class__ is _ndarray and STATE.stack:
        freeze(i)  # the tape saves the index: it must not change while recording
    return i


# ----------------------------------------------------------------------------------------
# Calling a primitive: the recording path
# ----------------------------------------------------------------------------------------


def _call_plain(prim: Primitive, args: tuple, kwargs: dict) -> Any:
    values = [raw(a) if isinstance(a, Tensor) else a for a in args]
    if kwargs:
        kwargs = _raw_deep(kwargs)
    return prim.fn(*values, **kwargs)


def call(prim: Primitive, args: tuple, kwargs: dict = _NOKW) -> Any:
    """Call ``prim`` on ``args``, recording it when a tracked Tensor is among them.

    The innermost live tape any argument is tracked on receives the node; arguments tracked on
    it are unwrapped to their values, and those values may still be Tensors of outer tapes, in
    which case the computation recurses and records there too.
    """
    stack = STATE.stack
    if not stack:
        return _call_plain(prim, args, kwargs)
    if prim.zerograd:
        return prim.fn(*_raw_deep(args), **_raw_deep(kwargs))
    if kwargs:
        args, kwargs = _recordable_kwargs(prim, args, kwargs)
        for v in kwargs.values():
            if v.__class__ is _ndarray:
                freeze(v)
    if len(stack) > 1:
        return _call_nested(prim, args, kwargs, stack)

    # One tape recording (the common case): every live Tensor is tracked on it. Arguments
    # that are Results of that tape take the shortest path; anything else (Params, Results of
    # finished tapes) goes through _gather.
    tape = stack[0]
    mark = tape.mark
    parents = None
    n = len(args)
    if n == 2:
        a, b = args
        if a.__class__ is Result and a.mark is mark:
            if b.__class__ is Result and b.mark is mark:
                parents = (a, b)
                values = (a.value, b.value)
            elif not isinstance(b, Tensor):
                parents = (a, None)
                values = (a.value, b)
                if b.__class__ is _ndarray and id(b) not in tape.frozen:
                    freeze(b)  # a saved constant must not change while recording
        elif b.__class__ is Result and b.mark is mark and not isinstance(a, Tensor):
            parents = (None, b)
            values = (a, b.value)
            if a.__class__ is _ndarray and id(a) not in tape.frozen:
                freeze(a)
    elif n == 1:
        a = args[0]
        if a.__class__ is Result and a.mark is mark:
            parents = (a,)
            values = (a.value,)
    if parents is None:
        values, parents = _gather(args, tape)
        if values is None:  # a Result of a finished tape is a constant: retry without it
            return call(prim, tuple(peel(x) for x in args), kwargs)
        if parents is None:  # nothing tracked
            return prim.fn(*args, **kwargs)
    if kwargs:
        out = prim.fn(*values, **kwargs)
        if prim.ufunc:
            kwargs = _NOKW
    else:
        out = prim.fn(*values)
    if out.__class__ is tuple or isinstance(out, tuple):
        return _record_outputs(out, tape, prim, values, kwargs, parents)
    node = _new_result(Result)  # what Result(...) does, without the cost of a Python __init__
    node.value = out
    node.mark = mark
    node.prim = prim
    node.args = values
    node.kwargs = kwargs
    node.parents = parents
    node.outgrad = None
    tape.nodes.append(node)
    return node


def _gather(args: tuple, tape: Tape) -> tuple[Any, Any]:
    """Argument values and parent nodes on ``tape``, the only tape recording.

    Returns ``(values, None)`` when nothing is tracked, and ``(None, None)`` when an argument
    is the Result of a finished tape (the caller retries with it peeled).
    """
    parents = None
    values = list(args)
    mark = tape.mark
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            if a.__class__ is Result and a.mark is mark:
                node = a
            elif isinstance(a, Param):
                node = tape.leaves.get(id(a))
                if node is None:
                    node = param_leaf(a, tape)
            elif isinstance(a, Result) and a.mark is mark:
                node = a
            else:
                return None, None
            if parents is None:
                parents = [None] * len(args)
            parents[i] = node
            values[i] = node.value
        elif a.__class__ is _ndarray:
            freeze(a)
    return tuple(values), (None if parents is None else tuple(parents))


_new_result = object.__new__


def _call_nested(prim: Primitive, args: tuple, kwargs: dict, stack: list[Tape]) -> Any:
    """``call`` while several tapes record: find the innermost one involved, then recurse."""
    depth = len(stack)
    top = None
    toplevel = 0
    for a in args:
        if isinstance(a, Tensor):
            if isinstance(a, Param):
                top = stack[-1]
                toplevel = depth
                continue
            m = a.mark
            lvl = m.level
            if lvl <= depth and stack[lvl - 1].mark is m:
                if lvl > toplevel:
                    toplevel = lvl
                    top = stack[lvl - 1]
            else:  # the Result of a finished tape is a constant: retry without it
                return call(prim, tuple(peel(x) for x in args), kwargs)
    if top is None:
        return prim.fn(*args, **kwargs)
    values = list(args)
    parents: list[Any] = [None] * len(args)
    for i, a in enumerate(args):
        if a.__class__ is _ndarray:
            freeze(a)
        if isinstance(a, Tensor):
            if isinstance(a, Param):
                node = param_leaf(a, top)
            elif a.mark is top.mark:
                node = a
            else:  # tracked on an outer tape only: a constant on this one
                continue
            parents[i] = node
            values[i] = node.value
    vals = tuple(values)
    out = call(prim, vals, kwargs) if toplevel > 1 else prim.fn(*vals, **kwargs)
    if prim.ufunc:
        kwargs = _NOKW
    if isinstance(out, tuple):
        return _record_outputs(out, top, prim, vals, kwargs, tuple(parents))
    node = Result(out, top, prim, vals, kwargs, tuple(parents))
    top.nodes.append(node)
    return node


def _record_outputs(out: tuple, tape: Tape, prim: Primitive, vals: tuple, kwargs: dict,
                    parents: tuple) -> tuple:
    """Record a primitive with several outputs: one node for the tuple, one for each item."""
    whole = Result(out, tape, prim, vals, kwargs, parents)
    tape.nodes.append(whole)
    items = []
    for k, v in enumerate(out):
        item = Result(v, tape, ITEM, (None, k), _NOKW, (whole,))
        tape.nodes.append(item)
        items.append(item)
    return type(out)(*items) if hasattr(out, "_fields") else tuple(items)


def param_leaf(p: Param, tape: Tape) -> Result:
    """The leaf node of Param ``p`` on ``tape``, created the first time the tape meets ``p``.

    On tape ``k`` the leaf's value is ``p``'s leaf on tape ``k - 1``, so that gradients computed
    on tape ``k`` are themselves recorded on the tapes outside it.
    """
    leaf = tape.leaves.get(id(p))
    if leaf is None:
        lvl = tape.level
        inner = param_leaf(p, STATE.stack[lvl - 2]) if lvl > 1 else p.value
        if inner.__class__ is _ndarray:
            freeze(inner)  # p.value *= 2 inside diff would change what the tape saved
        leaf = Result(inner, tape, None, (p,), _NOKW, ())
        tape.leaves[id(p)] = leaf
        tape.nodes.append(leaf)
    return leaf


def new_leaf(value: Any, tape: Tape) -> Result:
    """A fresh leaf on ``tape`` (the function interface's arguments)."""
    if value.__class__ is _ndarray:
        freeze(value)
    leaf = Result(value, tape, None, (), _NOKW, ())
    tape.nodes.append(leaf)
    return leaf


def lower(x: Any) -> Any:
    """How ``x`` looks to the innermost active tape: a live node, or a plain value."""
    x = peel(x)
    if isinstance(x, Param):
        return param_leaf(x, STATE.stack[-1])
    return x


def node_on(x: Any, tape: Tape) -> Result | None:
    """The node that represents ``x`` on ``tape`` (which must still be live), if any."""
    x = peel(x)
    if isinstance(x, Param):
        return param_leaf(x, tape)
    if isinstance(x, Result) and x.mark is tape.mark:
        return x
    return None


def _recordable_kwargs(prim: Primitive, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Keyword arguments of a recorded call: constants unwrapped, tracked ones made positional.

    ``out=`` cannot be recorded (it writes into an array the tape may hold), so it is refused
    when anything is tracked.
    """
    out = kwargs.get("out")
    if out is not None and (_any_tracked(args) or _any_tracked(out)):
        raise TypeError(
            f"{prim.name}(..., out=...): writing the result into an existing array cannot be "
            f"recorded while differentiating; write y = {prim.name}(...) instead"
        )
    if not any(isinstance(v, Tensor) for v in kwargs.values()):
        return args, kwargs
    if not any(is_tracked(v) for v in kwargs.values()):
        return args, {k: raw(v) for k, v in kwargs.items()}
    try:
        bound = inspect.signature(prim.fn).bind(*args, **kwargs)
    except (TypeError, ValueError):
        bound = None
    if bound is not None:
        positional: list[Any] = []
        rest: dict[str, Any] = {}
        for name, param in bound.signature.parameters.items():
            if name not in bound.arguments:
                if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                    positional.append(param.default)
                continue
            v = bound.arguments[name]
            if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                positional.append(v)
            elif param.kind == param.VAR_POSITIONAL:
                positional.extend(v)
            elif param.kind == param.VAR_KEYWORD:
                rest.update(v)
            else:
                rest[name] = v
        if not any(is_tracked(v) for v in rest.values()):
            while positional and positional[-1] is inspect.Parameter.empty:
                positional.pop()
            return tuple(positional), rest
    names = ", ".join(f"{k} ({_describe(v)})" for k, v in kwargs.items() if is_tracked(v))
    raise TypeError(
        f"{prim.name}: the tracked Tensor given as keyword argument {names} cannot be "
        f"differentiated there; pass it positionally"
    )


def dispatch(func: Any, args: tuple, kwargs: dict) -> Any:
    """Call NumPy function ``func`` on arguments that may hold Tensors (``__array_function__``).

    A registered primitive records; an unregistered function runs on plain values, unless a
    tracked Tensor is among its arguments while recording, which would silently drop its
    gradient, so that raises ``TypeError``.
    """
    prim = PRIMITIVES.get(func)
    if prim is not None:
        if prim.adapter is not None:
            args, kwargs = prim.adapter(args, kwargs)
        return call(prim, args, kwargs)
    in_place = IN_PLACE.get(func)
    if in_place is not None and STATE.stack and _any_tracked((args, kwargs)):
        return in_place(*args, **kwargs)
    _refuse_if_tracked(func, (args, kwargs))  # named as np.linalg.eig, not np.eig
    return func(*_raw_deep(args), **_raw_deep(kwargs))


ENGINE_CALL = call  # the engine's own; set_call(None) puts it back


def set_call(fn: Callable[..., Any] | None) -> None:
    """Make ``fn`` the recording call that operators, NumPy's protocols and primitives use.

    ``fn(prim, args, kwargs)`` must do what :func:`call` does (a tool such as the profiler
    passes a wrapper around ``ENGINE_CALL``); ``None`` restores the engine's own. While
    nothing has been set the engine runs exactly its own code: this costs nothing when unused.
    """
    global call
    call = ENGINE_CALL if fn is None else fn

