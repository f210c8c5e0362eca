"""Tensors: ``Param`` (user parameters) and ``Result`` (recorded values), and how calls record.

A Tensor wraps a value. Outside ``diff`` it behaves like that value: operators and NumPy
functions return plain NumPy results. While recording, every call that involves a tracked
Tensor goes through :func:`call`, which unwraps the arguments by one level, computes the
primitive and appends a ``Result`` node to the innermost tape involved (see ``tape.py`` for the
whole algorithm). Python operators reach :func:`call` directly; ``np.*`` functions reach it
through NumPy's ``__array_ufunc__`` and ``__array_function__`` protocols, looked up in the
registry of primitives.

While recording, an in-place update of a tracked Tensor (``x[i] = v``, ``x += y``, ``x.fill``,
``np.put(x, ...)`` ...) is recorded copy-on-write by :func:`update`: the new value is computed
into a new array by a primitive, the node state of the old value moves into a fresh ``Result``
that the earlier nodes are re-pointed to, and the Python object ``x`` takes the new node's
state. Nothing the tape saved is overwritten, and ``x`` stands for the new value afterwards.
"""

from __future__ import annotations

import inspect
import operator
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .backend import is_array, on_default_device
from .registry import PRIMITIVES, Primitive, _name_of
from .tape import ITEM, STATE, Tape, TapeMark, freeze

__all__ = ["Tensor", "Param", "Result", "call", "raw", "is_tracked", "dispatch", "update",
           "IN_PLACE"]

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

    # Piecewise constant: no gradient to lose, and control flow needs them (API.md §9).
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

    __hash__ = object.__hash__  # identity, as for torch.Tensor: == is elementwise

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
            if _is_own_view(self, index, v):
                return  # x[i] = x[i], the last step of x[i] += y (see update): nothing changes
            setitem = PRIMITIVES[operator.setitem]
            update(self, lambda x: call(setitem, (x, index, v)), "x[...] = v", index)
            return
        raw(self)[index] = raw(v)

    # -- in-place methods of ndarray: copy-on-write while recording ------------------------

    def fill(self, value: Any) -> None:
        """Set every element to ``value``, as ``ndarray.fill`` (recorded while tracked)."""
        self[...] = value

    def sort(self, axis: int = -1, kind: Any = None, order: Any = None) -> None:
        """Sort in place, as ``ndarray.sort`` (recorded as ``x = np.sort(x)`` while tracked)."""
        if STATE.stack and is_tracked(self):
            update(self, lambda x: dispatch(np.sort, (x,), _kw(axis=axis, kind=kind,
                                                               order=order)), "x.sort()")
        else:
            raw(self).sort(axis=axis, kind=kind, order=order)

    def partition(self, kth: Any, axis: int = -1, kind: str = "introselect",
                  order: Any = None) -> None:
        """Partition in place, as ``ndarray.partition`` (recorded as ``np.partition``)."""
        if STATE.stack and is_tracked(self):
            update(self, lambda x: dispatch(np.partition, (x, kth),
                                            _kw(axis=axis, order=order)), "x.partition()")
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

    # -- methods that mirror ndarray's -------------------------------------------------

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
        return call(PRIMITIVES[_astype], (self, np.dtype(dtype)), _NOKW)

    def flatten(self, order: str = "C") -> Any:
        """A 1-d copy of the value, as ``ndarray.flatten``."""
        return dispatch(np.ravel, (self,), {"order": order} if order != "C" else _NOKW)

    def __copy__(self) -> Any:
        new = object.__new__(type(self))
        for cls in type(self).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if slot != "__weakref__" and hasattr(self, slot):
                    setattr(new, slot, getattr(self, slot))
        return new


def _method(func: Any, name: str) -> Any:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        return dispatch(func, (self, *args), kwargs)

    method.__name__ = name
    method.numpy_function = func  # type: ignore[attr-defined]  (read by ag.coverage())
    method.__doc__ = f"Same as ``np.{func.__name__}(x, ...)``."
    return method


for _name, _func in (
    ("sum", np.sum), ("mean", np.mean), ("max", np.max), ("min", np.min), ("prod", np.prod),
    ("std", np.std), ("var", np.var), ("dot", np.dot), ("ravel", np.ravel),
    ("squeeze", np.squeeze), ("clip", np.clip), ("copy", np.copy), ("argmax", np.argmax),
    ("argmin", np.argmin), ("argsort", np.argsort), ("all", np.all), ("any", np.any),
    ("cumsum", np.cumsum), ("cumprod", np.cumprod), ("round", np.round), ("repeat", np.repeat),
    ("take", np.take), ("trace", np.trace), ("diagonal", np.diagonal), ("nonzero", np.nonzero),
    ("swapaxes", np.swapaxes), ("conj", np.conjugate), ("conjugate", np.conjugate),
    ("choose", np.choose), ("searchsorted", np.searchsorted),
    ("argpartition", np.argpartition),
):
    setattr(Tensor, _name, _method(_func, _name))


def _compress(self: Tensor, condition: Any, axis: Any = None, out: Any = None) -> Any:
    """Same as ``np.compress(condition, x, axis)`` (the condition comes first there)."""
    return dispatch(np.compress, (condition, self), {"axis": axis, "out": out})


_compress.numpy_function = np.compress  # type: ignore[attr-defined]
Tensor.compress = _compress  # type: ignore[attr-defined]


def _astype(x: Any, dtype: Any) -> Any:
    """``x.astype(dtype)`` as a function, so that it can be a primitive."""
    return x.astype(dtype)


for _name, _func in (("reshape", np.reshape), ("transpose", np.transpose), ("flatten", np.ravel),
                     ("astype", _astype), ("__getitem__", operator.getitem)):
    getattr(Tensor, _name).numpy_function = _func


def _binary(ufunc: np.ufunc) -> tuple[Any, Any]:
    prims = PRIMITIVES

    def op(self: Tensor, other: Any) -> Any:
        return call(prims[ufunc], (self, other), _NOKW)

    def rop(self: Tensor, other: Any) -> Any:
        return call(prims[ufunc], (other, self), _NOKW)

    op.numpy_function = rop.numpy_function = ufunc  # type: ignore[attr-defined]
    return op, rop


def _unary(ufunc: np.ufunc) -> Any:
    prims = PRIMITIVES

    def op(self: Tensor) -> Any:
        return call(prims[ufunc], (self,), _NOKW)

    op.numpy_function = ufunc  # type: ignore[attr-defined]
    return op


_SYMBOLS = {"add": "+=", "subtract": "-=", "multiply": "*=", "true_divide": "/=",
            "divide": "/=", "floor_divide": "//=", "remainder": "%=", "matmul": "@=",
            "bitwise_and": "&=", "bitwise_or": "|=", "bitwise_xor": "^=", "left_shift": "<<=",
            "right_shift": ">>=", "power": "**="}


def _inplace(ufunc: np.ufunc) -> Any:
    """``x op= y``: copy-on-write while recording (see :func:`update`), in place otherwise."""
    prims = PRIMITIVES
    name = f"np.{ufunc.__name__}"
    symbol = _SYMBOLS.get(ufunc.__name__, "op=")

    def iop(self: Tensor, other: Any) -> Any:
        if STATE.stack and (is_tracked(self) or is_tracked(other)):
            update(self, lambda x: _same_kind(call(prims[ufunc], (x, other), _NOKW), x, name),
                   f"x {symbol} y")
            return self
        v = self.value
        if is_array(v):
            ufunc(v, raw(other), out=v)
        else:
            self.value = ufunc(raw(v), raw(other))
        return self

    iop.numpy_function = ufunc  # type: ignore[attr-defined]
    return iop


for _names, _ufunc in (
    (("add", "radd", "iadd"), np.add),
    (("sub", "rsub", "isub"), np.subtract),
    (("mul", "rmul", "imul"), np.multiply),
    (("truediv", "rtruediv", "itruediv"), np.true_divide),
    (("floordiv", "rfloordiv", "ifloordiv"), np.floor_divide),
    (("mod", "rmod", "imod"), np.remainder),
    (("matmul", "rmatmul", "imatmul"), np.matmul),
    (("and", "rand", "iand"), np.bitwise_and),
    (("or", "ror", "ior"), np.bitwise_or),
    (("xor", "rxor", "ixor"), np.bitwise_xor),
    (("lshift", "rlshift", "ilshift"), np.left_shift),
    (("rshift", "rrshift", "irshift"), np.right_shift),
):
    _op, _rop = _binary(_ufunc)
    setattr(Tensor, f"__{_names[0]}__", _op)
    setattr(Tensor, f"__{_names[1]}__", _rop)
    setattr(Tensor, f"__{_names[2]}__", _inplace(_ufunc))

for _name, _ufunc in (("lt", np.less), ("le", np.less_equal), ("gt", np.greater),
                      ("ge", np.greater_equal), ("eq", np.equal), ("ne", np.not_equal)):
    setattr(Tensor, f"__{_name}__", _binary(_ufunc)[0])

for _name, _ufunc in (("neg", np.negative), ("pos", np.positive), ("abs", np.absolute),
                      ("invert", np.invert)):
    setattr(Tensor, f"__{_name}__", _unary(_ufunc))


def _pow(self: Tensor, other: Any, mod: Any = None) -> Any:
    if mod is not None:
        raise TypeError(
            f"pow(x, y, mod): the three-argument form has no gradient rule (x: "
            f"{_describe(self)}); write (x ** y) % mod instead"
        )
    return call(PRIMITIVES[np.power], (self, other), _NOKW)


def _rpow(self: Tensor, other: Any) -> Any:
    return call(PRIMITIVES[np.power], (other, self), _NOKW)


def _divmod(self: Tensor, other: Any) -> tuple[Any, Any]:
    return self // other, self % other


def _rdivmod(self: Tensor, other: Any) -> tuple[Any, Any]:
    return other // self, other % self


_pow.numpy_function = _rpow.numpy_function = np.power  # type: ignore[attr-defined]
Tensor.__pow__ = _pow  # type: ignore[assignment]
Tensor.__rpow__ = _rpow  # type: ignore[attr-defined]
Tensor.__ipow__ = _inplace(np.power)  # type: ignore[attr-defined]
Tensor.__divmod__ = _divmod  # type: ignore[attr-defined]
Tensor.__rdivmod__ = _rdivmod  # type: ignore[attr-defined]


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

    __slots__ = ("mark", "prim", "args", "kwargs", "parents", "outgrad")

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


# When a list (check_differentiable's dry run), functions without a rule reached on tracked
# values are appended to it and computed on plain values instead of raising.
MISSING_RULES: list[str] | None = None


def _refuse_if_tracked(name: Any, args: Any) -> None:
    if STATE.stack and _any_tracked(args):
        if not isinstance(name, str):  # a function: named here, off the path that succeeds
            name = _name_of(name)
        if MISSING_RULES is not None:
            MISSING_RULES.append(name)
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


# ----------------------------------------------------------------------------------------
# In-place updates while recording: copy-on-write
# ----------------------------------------------------------------------------------------

# NumPy functions that write into an argument (np.put, np.copyto ...), mapped to functions that
# record the same update with :func:`update` when a tracked Tensor is involved while recording.
# Filled by ``rules/indexing.py``; without an entry such a function is refused like any other
# function without a gradient rule.
IN_PLACE: dict[Any, Callable[..., Any]] = {}


def _kw(**kwargs: Any) -> dict[str, Any]:
    """The keyword arguments that are not ``None`` (NumPy's defaults)."""
    return {k: v for k, v in kwargs.items() if v is not None}


def _same_kind(new: Any, x: Any, name: str) -> Any:
    """``new`` cast to ``x``'s dtype, as NumPy's ``out=`` does with ``casting='same_kind'``."""
    have, want = np.result_type(raw(new)), np.result_type(raw(x))
    if have == want:
        return new
    if not np.can_cast(have, want, "same_kind"):
        raise TypeError(
            f"{name}: cannot cast the result from {have} to the dtype {want} of the Tensor "
            f"updated in place (casting rule 'same_kind')"
        )
    return call(PRIMITIVES[_astype], (new, want), _NOKW)


def _is_own_view(x: Tensor, index: Any, v: Any) -> bool:
    """True when ``v`` is the live view ``x[index]`` (so ``x[index] = v`` changes nothing)."""
    if not (isinstance(v, Result) and v.prim is PRIMITIVES.get(operator.getitem)
            and v.parents and v.parents[0] is x):
        return False
    other = v.args[1]
    if other is index:
        return True
    try:
        return type(other) is type(index) and bool(other == index)
    except (ValueError, TypeError):  # indices holding arrays: compare no further
        return False


def update(x: Tensor, compute: Callable[[Tensor], Any], what: str, index: Any = Ellipsis) -> None:
    """Record an in-place update of ``x`` as copy-on-write: ``x`` then stands for ``compute(x)``.

    ``compute`` builds the new value from ``x`` with recorded primitives (a fresh array: nothing
    is written into an array the tape holds). The node state of the old value moves into a
    new ``Result`` that the tape and every later node refer to instead of ``x``, and ``x``
    takes over the state of the new node, so that the Python object ``x`` is the new value and
    gradients reach the old value (and whatever ``compute`` wrote into it) as usual.

    NumPy semantics that copy-on-write could not reproduce are refused with a ``TypeError``:
    writing into a ``Param`` (a leaf, as PyTorch refuses), into a Tensor tracked on an outer
    ``diff`` while an inner one records, into a view of another tracked array other than a
    slice (NumPy would write through to that array; for ``t = x[i]`` views the update is
    written back into ``x``), and into ``x`` while a view of it that the program still holds
    would have to change too.

    Args:
        x: the Tensor updated in place.
        compute: ``x -> new value`` (a Result on ``x``'s tape with ``x``'s shape and dtype).
        what: how the update is written, for error messages (``"x[...] = v"``).
        index: the part of ``x`` that changes (all of it by default): views of ``x`` that the
            program holds must not overlap it.
    """
    stack = STATE.stack
    if isinstance(x, Param):
        raise TypeError(
            f"{what}: x is a Param ({_describe(x)}), a leaf that diff differentiates with "
            f"respect to; it cannot be updated in place while recording (PyTorch refuses this "
            f"too). Update a copy (y = np.copy(x); y[...] = v), or update x.value outside diff"
        )
    live = peel(x)
    if not isinstance(live, Result):
        raise TypeError(
            f"{what}: x ({_describe(x)}) is a constant to the recording tape (the result of a "
            f"finished diff), and the value written into it is tracked: its gradient would be "
            f"lost. Make x a tracked value first (x = np.copy(x) inside diff), or write "
            f"ag.value(...) into it"
        )
    tape = stack[-1]
    if live is not x or x.mark is not tape.mark:
        raise TypeError(
            f"{what}: x ({_describe(x)}) is tracked by an outer diff while an inner diff is "
            f"recording; updating it in place there cannot be recorded. Update it before the "
            f"inner diff starts, or update a copy (y = np.copy(x))"
        )
    write_back = _view_parent(x, tape, what)
    new = compute(x)
    if not (isinstance(new, Result) and new.mark is tape.mark):
        raise TypeError(f"{what}: the updated value is not tracked on the recording tape")
    if np.shape(raw(new)) != np.shape(raw(x)):
        raise ValueError(
            f"{what}: the result has shape {np.shape(raw(new))}, but x has shape "
            f"{np.shape(raw(x))}; an in-place update cannot change the shape"
        )
    _become(x, new, tape, what, index)
    if write_back is not None:
        parent, where = write_back
        parent[where] = x  # NumPy writes through a slice into the array it views ...
        _become(x, call(PRIMITIVES[operator.getitem], (parent, where)), tape, what)
        # ... and x stays a view of it, so that the next update of x writes through too


def _view_parent(x: Result, tape: Tape, what: str) -> tuple[Result, Any] | None:
    """For ``x`` a view of another tracked array: ``(that node, index)`` when ``x`` came from
    slicing it (the update is written back), else a TypeError. ``None`` when ``x`` is no view.
    """
    v = raw(x.value)
    if x.prim is None or getattr(v, "base", None) is None:
        return None
    if x.prim is ITEM:
        raise TypeError(
            f"{what}: x ({_describe(x)}) is a view of another array (one output of "
            f"{x.parents[0].prim.name}); NumPy would write through to it, which cannot be "
            f"recorded. Update a copy: x = np.copy(x)"
        )
    for pos, p in enumerate(x.parents):
        if p is None or not np.may_share_memory(v, raw(p.value)):
            continue
        if x.prim is PRIMITIVES.get(operator.getitem) and pos == 0:
            # The array x views may have been updated since (in a part x does not overlap,
            # or x would have been refused there): write into its current value.
            p = tape.moved.get(id(p), p)
            if p.prim is None and p.args:
                raise TypeError(
                    f"{what}: x ({_describe(x)}) is a view of a Param (x = p[...]); writing into "
                    f"it would write into the Param, a leaf that cannot be updated in place "
                    f"while recording. Update a copy: x = np.copy(x)"
                )
            return p, x.args[1]
        raise TypeError(
            f"{what}: x ({_describe(x)}) is a view of another tracked array (it came from "
            f"{x.prim.name}); NumPy would write through to that array too, which cannot be "
            f"recorded. Update a copy (x = np.copy(x)), or update the array it views"
        )
    return None


def _become(x: Result, new: Result, tape: Tape, what: str, index: Any = Ellipsis) -> None:
    """Move ``x``'s node state into a fresh Result and give ``x`` the state of ``new``.

    Refuses (before changing anything) when a view of ``x[index]`` recorded since ``x`` is
    still held by the program: NumPy would change it too.
    """
    nodes = tape.nodes
    i = len(nodes) - 1
    while nodes[i] is not x:
        i -= 1
    xv = raw(x.value)
    base = getattr(xv, "base", None)
    base = xv if base is None else base
    written = xv
    parts = index if type(index) is tuple else (index,)
    if xv.__class__ is _ndarray and not any(getattr(part, "ndim", 0) for part in parts):
        # a basic index: the view of the part written (a trailing ... keeps it a view)
        written = xv[parts if any(part is Ellipsis for part in parts) else (*parts, ...)]
    old = _new_result(Result)
    users: list[int] = []  # positions of the nodes that have x among their parents
    views: dict[int, list[Any]] = {}  # id -> [node, references from later nodes' parents]
    for j in range(i + 1, len(nodes)):
        n = nodes[j]
        for p in n.parents:
            if p is x:
                users.append(j)
            elif views and id(p) in views:
                views[id(p)][1] += 1
        if n is new or id(n) in tape.moved:
            continue
        v = raw(n.value)
        if (v.__class__ is _ndarray and v.base is not None and (v.base is base or v.base is xv)
                and np.may_share_memory(v, written)):
            views[id(n)] = [n, 0]
    n = p = written = None
    if views:
        for holder in tape.moved.values():
            if id(holder) in views:
                views[id(holder)][1] += 1
        holder = None
    for node, refs in views.values():
        # References: the tape's list, the later nodes' parents, tape.moved, views' entry,
        # getrefcount's argument and the loop variable; more means the program holds it.
        if sys.getrefcount(node) > refs + 4:
            raise TypeError(
                f"{what}: another tracked value ({_describe(node)}, from {node.prim.name}) is a "
                f"view of x; NumPy would change it too, which copy-on-write cannot record. "
                f"Copy the view first (np.copy), or drop it (del) before updating x"
            )
    node = views = None
    for slot in _RESULT_SLOTS:
        setattr(old, slot, getattr(x, slot))
    nodes[i] = old
    for j in users:
        n = nodes[j]
        n.parents = tuple(old if p is x else p for p in n.parents)
    tape.moved[id(old)] = x  # the object that now holds the updated value
    if x.prim is None and not x.args:  # an argument of the function interface: its leaf
        tape.renamed[id(x)] = old
    for slot in _RESULT_SLOTS:
        setattr(x, slot, getattr(new, slot))
    new.args = new.parents = None
    k = len(nodes) - 1
    while nodes[k] is not new:
        k -= 1
    nodes[k] = x


_RESULT_SLOTS = ("value", "mark", "prim", "args", "kwargs", "parents", "outgrad")
