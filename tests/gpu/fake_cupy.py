"""A strict CPU stand-in for CuPy, to check device handling on machines without a GPU.

It is not CuPy: it runs NumPy underneath and knows nothing of CuPy's coverage of NumPy or of
its numerics. It copies the properties of CuPy that device bugs break on, and records what a
GPU would have had to do:

* its ``ndarray`` lives in a module named ``cupy`` (so ``backend.array_module`` sends
  allocations to this module) and has ``.device.id``, ``.get()`` and ``flags`` without
  ``writeable`` (as CuPy's);
* a ufunc or NumPy function that mixes it with a host ``numpy.ndarray`` raises ``TypeError``
  (CuPy refuses host arrays), and so does the implicit conversion ``np.asarray(x)``;
* reductions give 0-d arrays, not host scalars (as CuPy's);
* every host-to-device copy (``cupy.asarray`` of a host array, a host array used as an index
  or assigned into a slice) and every synchronising read (``.get()``, ``float()``, ``int()``,
  ``bool()``, ``.item()``, ``.tolist()``) is recorded in :data:`LOG`;
* what CuPy 14 lacks, as a real GPU showed (see :data:`MISSING_FUNCTIONS`,
  :data:`MISSING_UFUNCS`, :data:`MISSING_KEYWORDS`), is refused with CuPy's errors, and an
  assignment through repeated positions keeps the first value written where NumPy keeps the
  last (CuPy keeps an unspecified one), so code that relies on NumPy's order fails here too.

Install it with :func:`installed` (a context manager that puts ``cupy`` and ``cupyx`` into
``sys.modules`` and takes them out again).
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin


class _Log:
    """What the stand-in device did: copies each way and synchronising reads, with a reason."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.host_to_device: list[str] = []
        self.device_to_host: list[str] = []

    def h2d(self, why: str) -> None:
        self.host_to_device.append(f"{why} at {_caller()}")

    def d2h(self, why: str) -> None:
        self.device_to_host.append(f"{why} at {_caller()}")


def _caller() -> str:
    """``file:line`` of the innermost frame in minitorch_ag (or else outside this module)."""
    frame = sys._getframe(2)
    fallback = None
    while frame is not None:
        name = frame.f_code.co_filename
        if "minitorch_ag" in name and "/tests/" not in name:
            return f"{name.rsplit('minitorch_ag', 1)[1].lstrip('/')}:{frame.f_lineno}"
        if fallback is None and not name.endswith("fake_cupy.py"):
            fallback = f"{name.rsplit('/', 1)[-1]}:{frame.f_lineno}"
        frame = frame.f_back
    return fallback or "?"


def _phase() -> str:
    """``"backward"`` inside the backward sweep of a tape, ``"forward"`` otherwise."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "backward" and frame.f_code.co_filename.endswith("tape.py"):
            return "backward"
        frame = frame.f_back
    return "forward"


LOG = _Log()


class _Flags:
    def __init__(self, a: np.ndarray) -> None:
        self.c_contiguous = a.flags.c_contiguous
        self.f_contiguous = a.flags.f_contiguous
        self.owndata = a.flags.owndata


class _Device:
    def __init__(self, index: int = 0) -> None:
        self.id = index

    def __enter__(self) -> _Device:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


# -- what CuPy lacks --------------------------------------------------------------------------
# Seen on a real GPU (CuPy 14.2 with NumPy 2.5, NVIDIA H200, 2026-12-04): NumPy functions with
# no CuPy implementation ("no implementation found for 'numpy.block' on types that implement
# __array_function__"), NumPy ufuncs and scipy.special ufuncs CuPy does not dispatch, and
# keywords CuPy's versions do not take ("amax() got an unexpected keyword argument 'where'").
MISSING_FUNCTIONS = frozenset({
    "numpy.block", "numpy.insert", "numpy.unstack", "numpy.nanpercentile", "numpy.nanquantile",
    "numpy.linalg.vector_norm", "numpy.linalg.matrix_norm", "numpy.linalg.outer",
    "numpy.linalg.svdvals", "numpy.linalg.tensordot", "numpy.linalg.trace",
    "numpy.linalg.vecdot", "numpy.linalg.diagonal", "numpy.linalg.multi_dot",
})
MISSING_UFUNCS = frozenset({"matvec", "vecmat", "vecdot", "iv", "ive"})
_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin", "max", "min", "std", "var", "nansum",
               "nanprod", "nanmean", "nanmax", "nanmin", "nanstd", "nanvar")
MISSING_KEYWORDS: dict[str, frozenset[str]] = {
    **{name: frozenset({"where"}) for name in _REDUCTIONS},
    **{name: frozenset({"where", "initial"}) for name in ("prod", "amax", "amin", "max", "min")},
    **{name: frozenset({"where", "correction", "mean"})
       for name in ("std", "var", "nanstd", "nanvar")},
    "argpartition": frozenset({"kind", "order"}),
    "take": frozenset({"mode"}),
    "svd": frozenset({"hermitian"}),
    "pinv": frozenset({"hermitian"}),
    "cholesky": frozenset({"upper"}),
    "clip": frozenset({"min", "max"}),
    "reshape": frozenset({"shape"}),
    "sort": frozenset({"stable"}),
}


def _check_supported(qualname: str, kwargs: dict) -> None:
    """Refuse, as CuPy does, a function it lacks or a keyword its version does not take."""
    if qualname in MISSING_FUNCTIONS:
        raise TypeError(f"fake cupy: no implementation found for {qualname!r} on types that "
                        f"implement __array_function__ (CuPy 14 has none)")
    name = qualname.rsplit(".", 1)[-1]
    bad = MISSING_KEYWORDS.get(name, frozenset()) & kwargs.keys()
    if bad:
        raise TypeError(f"fake cupy: {name}() got an unexpected keyword argument "
                        f"{sorted(bad)[0]!r} (CuPy's {name} does not take it)")


def _repeats(key: Any) -> bool:
    """True when ``key`` has an integer-array part (which may repeat a position)."""
    for k in key if type(key) is tuple else (key,):
        if type(k) is list or (isinstance(k, np.ndarray) and k.dtype.kind in "iu"):
            return True
    return False


def _assign_first_wins(a: np.ndarray, key: Any, value: Any) -> None:
    """``a[key] = value`` where a repeated position keeps the first value written: one of the
    orders CuPy may take, and not NumPy's, so that code relying on NumPy's shows up."""
    pos = np.arange(a.size).reshape(a.shape)[key]
    if np.unique(pos).size == pos.size:
        a[key] = value
        return
    vals = np.broadcast_to(np.asarray(value, dtype=a.dtype), pos.shape)
    a.flat[pos.ravel()[::-1]] = vals.ravel()[::-1]


def _host_error(where: str, a: np.ndarray) -> TypeError:
    return TypeError(f"fake cupy: {where} got a host numpy.ndarray (shape {a.shape}, {a.dtype}) "
                     f"at {_caller()} ({_phase()}); CuPy refuses host arrays: it was allocated "
                     f"on the CPU")


def _unwrap(x: Any, where: str) -> Any:
    if type(x) is ndarray:
        return x._a
    if isinstance(x, np.ndarray):
        raise _host_error(where, x)
    if type(x) in (list, tuple):
        return type(x)(_unwrap(v, where) for v in x)
    if type(x) is dict:
        return {k: _unwrap(v, where) for k, v in x.items()}
    return x


def _wrap(r: Any) -> Any:
    if type(r) is np.ndarray:
        return ndarray(r)
    if isinstance(r, np.generic) and r.dtype.kind in "biufc":
        return ndarray(np.asarray(r))  # CuPy's reductions give 0-d arrays
    if isinstance(r, tuple):  # also NumPy's named results (SVDResult, UniqueCountsResult ...)
        items = [_wrap(v) for v in r]
        return type(r)(*items) if hasattr(r, "_fields") else tuple(items)
    if type(r) is list:
        return [_wrap(v) for v in r]
    return r


def _foreign(values: Any) -> bool:
    """True when a value of a type other than ours or NumPy's takes part (a Tensor): defer."""
    for v in values:
        if type(v) in (list, tuple):
            if _foreign(v):
                return True
        elif hasattr(type(v), "__array_ufunc__") and not isinstance(v, (ndarray, np.ndarray,
                                                                        np.generic)):
            return True
    return False


def _index(key: Any) -> Any:
    """An index with our arrays unwrapped; host index arrays are copied over (recorded)."""
    if type(key) is tuple:
        return tuple(_index(k) for k in key)
    if type(key) is ndarray:
        return key._a
    if isinstance(key, np.ndarray):
        LOG.h2d(f"host index array {key.shape}")
        return key
    if type(key) is list:
        LOG.h2d("host index list")
        return key
    return key


class ndarray(NDArrayOperatorsMixin):  # noqa: N801 - CuPy's name
    """A device array of the stand-in: a NumPy array behind CuPy's interface."""

    __array_priority__ = 100.0  # below the Tensor's 1000: a Tensor's operators win, as on CuPy

    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    # -- interface --------------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    flags = property(lambda self: _Flags(self._a))
    device = property(lambda self: _Device(0))
    T = property(lambda self: ndarray(self._a.T))
    real = property(lambda self: _wrap(self._a.real))
    imag = property(lambda self: _wrap(self._a.imag))
    base = property(lambda self: None)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # no __array_interface__ & co: NumPy must not see the data
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)

        def method(*args: Any, **kwargs: Any) -> Any:
            where = f"ndarray.{name}"
            _check_supported(name, kwargs)
            return _wrap(attr(*_unwrap(args, where), **_unwrap(kwargs, where)))

        return method

    def __repr__(self) -> str:
        return f"fakecupy.{self._a!r}"

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Iterator[Any]:
        return (_wrap(v) for v in self._a)

    def __getitem__(self, key: Any) -> Any:
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        if type(value) is ndarray:
            value = value._a
        elif isinstance(value, np.ndarray):
            LOG.h2d(f"host array {value.shape} assigned into a device array")
        key = _index(key)
        if _repeats(key):
            _assign_first_wins(self._a, key, value)
        else:
            self._a[key] = value

    # -- synchronising reads ----------------------------------------------------------------
    def get(self, *args: Any, **kwargs: Any) -> np.ndarray:
        LOG.d2h(f"get() {self.shape}")
        return self._a.copy()

    def item(self) -> Any:
        LOG.d2h("item()")
        return self._a.item()

    def tolist(self) -> Any:
        LOG.d2h("tolist()")
        return self._a.tolist()

    def __float__(self) -> float:
        LOG.d2h("float()")
        return float(self._a)

    def __int__(self) -> int:
        LOG.d2h("int()")
        return int(self._a)

    def __index__(self) -> int:
        LOG.d2h("__index__")
        return self._a.__index__()

    def __bool__(self) -> bool:
        LOG.d2h("bool()")
        return bool(self._a)

    def __complex__(self) -> complex:
        LOG.d2h("complex()")
        return complex(self._a)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("fake cupy: implicit conversion to a NumPy array is not allowed "
                        "(as on CuPy); use .get() or ag.to_device(x, 'cpu')")

    # -- NumPy protocols --------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if _foreign(inputs) or _foreign(kwargs.get("out", ())):
            return NotImplemented
        if ufunc.__name__ in MISSING_UFUNCS:
            return NotImplemented  # as CuPy: NumPy then raises its TypeError
        where = f"np.{ufunc.__name__}"
        out = kwargs.get("out")
        args = _unwrap(inputs, where)
        kw = _unwrap(kwargs, where)
        if method == "at":  # np.add.at: CuPy has no ufunc.at (backend.scatter_add avoids it)
            raise TypeError(f"fake cupy: {where}.at is not available on CuPy")
        result = getattr(ufunc, method)(*args, **kw)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func: Any, types_: Any, args: tuple, kwargs: dict) -> Any:
        if _foreign(args) or _foreign(tuple(kwargs.values())):
            return NotImplemented
        _check_supported(f"{func.__module__}.{func.__name__}", kwargs)
        where = f"np.{func.__name__}"
        out = kwargs.get("out")
        result = func(*_unwrap(args, where), **_unwrap(kwargs, where))
        return out if out is not None else _wrap(result)


def _module_function(name: str, fn: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        where = f"cupy.{name}"
        _check_supported(f"numpy.{name}", kwargs)
        out = kwargs.get("out")
        result = fn(*_unwrap(args, where), **_unwrap(kwargs, where))
        return out if out is not None else _wrap(result)

    call.__name__ = name
    return call


def asarray(x: Any, dtype: Any = None, order: Any = None) -> ndarray:
    """Our array for ``x``; a host array is copied over (recorded)."""
    if type(x) is ndarray:
        return x if dtype is None or x.dtype == dtype else ndarray(x._a.astype(dtype))
    if isinstance(x, np.ndarray):
        LOG.h2d(f"asarray {x.shape}")
    return ndarray(np.array(x, dtype=dtype, order=order or "K"))


def array(x: Any, dtype: Any = None, copy: bool = True, order: Any = "K") -> ndarray:
    """A new array of ``x`` (``copy=False`` may return ``x`` itself, as CuPy's)."""
    if type(x) is ndarray:
        if not copy and (dtype is None or x.dtype == dtype):
            return x
        return ndarray(np.array(x._a, dtype=dtype, order=order))
    return asarray(x, dtype=dtype, order=order)


def asnumpy(x: Any) -> np.ndarray:
    if type(x) is ndarray:
        return x.get()
    return np.asarray(x)


class ElementwiseKernel:
    """CuPy's ``ElementwiseKernel`` for operations that read as Python too (assignments of
    arithmetic and ``sqrt``/``exp``/``log`` separated by ``;``): run with NumPy on the arrays
    behind ours, outputs written in place. Arrays must be ours, as on CuPy."""

    def __init__(self, in_params: str, out_params: str, operation: str, name: str) -> None:
        self.ins = [p.split()[-1] for p in in_params.split(",")]
        self.outs = [p.split()[-1] for p in out_params.split(",")]
        statements = "\n".join(s.strip() for s in operation.split(";") if s.strip())
        try:
            self.code = compile(statements, f"<kernel {name}>", "exec")
        except SyntaxError:
            raise NotImplementedError(f"fake cupy: kernel {name} is C code; the stand-in runs "
                                      f"only kernels that read as Python") from None
        self.name = name

    def __call__(self, *args: Any) -> None:
        if len(args) != len(self.ins) + len(self.outs):
            raise TypeError(f"fake cupy: kernel {self.name} takes {len(self.ins)} inputs and "
                            f"{len(self.outs)} outputs, got {len(args)} arguments")
        for a in args:
            if isinstance(a, np.ndarray):
                raise _host_error(f"kernel {self.name}", a)
        outs = args[len(self.ins):]
        names = dict(zip(self.ins + self.outs, args, strict=True))
        env = {k: (v._a.copy() if type(v) is ndarray else v) for k, v in names.items()}
        exec(self.code, {"sqrt": np.sqrt, "exp": np.exp, "log": np.log}, env)  # noqa: S102
        for name, out in zip(self.outs, outs, strict=True):
            out._a[...] = env[name]


class _FakeModule(types.ModuleType):
    """CuPy's namespace (and its submodules ``linalg``, ``lib.stride_tricks`` ...) over
    NumPy's: every function unwraps our arrays, calls NumPy's and wraps the results."""

    def __init__(self, name: str, target: types.ModuleType = np) -> None:
        super().__init__(name)
        self._target = target

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        fn = getattr(self._target, name)
        if isinstance(fn, types.ModuleType):
            return _FakeModule(f"{self.__name__}.{name}", fn)
        if isinstance(fn, type):
            return fn  # dtypes (cupy.float32 ...)
        if callable(fn):
            return _module_function(name, fn)
        return fn


def _make_modules() -> tuple[types.ModuleType, types.ModuleType]:
    cupy = _FakeModule("cupy")
    cupy.ndarray = ndarray
    cupy.asarray = asarray
    cupy.array = array
    cupy.asnumpy = asnumpy
    cupy.ElementwiseKernel = ElementwiseKernel
    cupy.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1), Device=_Device)
    cupyx = types.ModuleType("cupyx")

    def scatter_add(target: ndarray, index: Any, values: Any) -> None:
        v = values._a if type(values) is ndarray else values
        if isinstance(values, np.ndarray):
            raise _host_error("cupyx.scatter_add", values)
        np.add.at(target._a, _index(index), v)

    def scatter_max(target: ndarray, index: Any, values: Any) -> None:
        v = values._a if type(values) is ndarray else values
        if isinstance(values, np.ndarray):
            raise _host_error("cupyx.scatter_max", values)
        np.maximum.at(target._a, _index(index), v)

    cupyx.scatter_add = scatter_add
    cupyx.scatter_max = scatter_max
    return cupy, cupyx


ndarray.__module__ = "cupy"  # what backend.array_module recognises a CuPy array by


@contextlib.contextmanager
def installed() -> Iterator[types.ModuleType]:
    """``cupy``/``cupyx`` importable as this stand-in inside the block; the log starts empty."""
    cupy, cupyx = _make_modules()
    saved = {k: sys.modules.get(k) for k in ("cupy", "cupyx")}
    sys.modules["cupy"], sys.modules["cupyx"] = cupy, cupyx
    LOG.reset()
    try:
        yield cupy
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
