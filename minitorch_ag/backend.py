"""Array backends: which array module (NumPy or CuPy) a value belongs to.

This is the only module that may mention CuPy, and it never imports it eagerly: a CuPy array
is recognised by the module its type comes from, so a CPU-only install pays nothing. Every
allocation made by the library goes through :func:`array_module` (or NumPy's ``*_like``
functions, which dispatch to CuPy by themselves), so that results stay on the device of their
inputs. Owns moving one array and counting moves; the default device is ``device.py``'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "array_module", "is_array", "scatter_add", "write_order", "assign", "fused_kernel",
    "to_device", "to_host", "parse_device", "device_name", "gpu_available", "TransferCount",
    "count_transfers",
]


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


def write_order(shape: tuple, index: Any, xp: ModuleType) -> tuple[Any, Any]:
    """Who stays where in ``x[index] = v`` with ``x`` of ``shape``: ``(ids, order)``, where
    ``order`` numbers the elements of ``x[index]`` in flat order and ``ids`` holds, at each
    position of ``x``, the number of the element left there (-1 where nothing is written).

    NumPy's rule decides, on every device: where an index repeats a position, the last write
    wins. (CuPy's own assignment keeps an unspecified one, which may change from run to run;
    a gradient rule that guessed differently from the forward pass would be silently wrong.)
    """
    ids = xp.full(shape, -1, dtype=np.int32)
    sub = ids[index].shape
    count = int(np.prod(sub, dtype=np.int64))
    if count >= 2**31 - 1:
        raise ValueError(f"an indexed assignment writes {count} elements: over the 2**31 - 1 "
                         f"this library can order on a device")
    order = xp.arange(count, dtype=np.int32).reshape(sub)
    if xp is np:
        ids[index] = order
    else:
        import cupyx  # noqa: PLC0415

        cupyx.scatter_max(ids, index, order)
    return ids, order


def assign(target: Any, index: Any, values: Any, repeats: bool = True) -> None:
    """``target[index] = values`` in place, where a repeated position keeps the last value
    written, as NumPy does, on every device. ``repeats=False`` says the index cannot repeat a
    position (basic indexing, masks): a plain assignment then."""
    xp = array_module(target)
    if xp is np or not repeats or target.dtype.kind != "f":
        target[index] = values  # NumPy's order; or a dtype with no gradient to get wrong
        return
    import cupyx  # noqa: PLC0415

    ids, order = write_order(target.shape, index, xp)
    values = xp.asarray(values, dtype=target.dtype)
    while values.ndim > order.ndim and values.shape[0] == 1:  # as assignment drops them
        values = values[0]
    kept = xp.where(ids[index] == order, values, 0)
    target[index] = 0  # every write of a repeated position writes the same zero
    cupyx.scatter_add(target, index, kept.astype(target.dtype, copy=False))


_KERNELS: dict[tuple, Any] = {}


def fused_kernel(xp: ModuleType, name: str, in_params: str, out_params: str,
                 operation: str) -> Any:
    """One elementwise kernel doing ``operation`` (C statements over the named parameters) on
    ``xp``'s device, compiled once and kept; None where ``xp`` has no such kernels (NumPy).

    A GPU pays a launch for every array operation, so an update that NumPy does in ten calls
    (Adam's) is one kernel there. Parameters follow CuPy's ``ElementwiseKernel``: ``"T g, T
    lr"`` in, ``"T w"`` out; an output passed in is read and written in place; ``raw`` arrays
    are indexed by hand, with ``i`` the output element's flat index. None also where the module
    cannot build this kernel (the CPU stand-in for CuPy runs only kernels that read as Python).
    """
    make = getattr(xp, "ElementwiseKernel", None)
    if make is None:
        return None
    key = (xp.__name__, name, in_params, out_params, operation)
    kernel = _KERNELS.get(key)
    if kernel is None:
        try:
            kernel = make(in_params, out_params, operation, name)
        except NotImplementedError:  # a module that cannot build this kernel: the caller's
            return None              # plain array code does the work
        _KERNELS[key] = kernel
    return kernel


def parse_device(device: str | None) -> tuple[str, int]:
    """``"cpu"``, ``"gpu"``, ``"gpu:1"`` (or ``"cuda:1"``) as ``(kind, index)``; None is CPU."""
    if device is None:
        return "cpu", 0
    text = str(device).strip().lower()
    kind, _, index = text.partition(":")
    if kind == "cuda":
        kind = "gpu"
    if kind not in ("cpu", "gpu") or (index and not index.isdigit()):
        raise ValueError(
            f"to_device: device {device!r}: expected 'cpu', 'gpu' or 'gpu:<index>' (e.g. 'gpu:0')"
        )
    return kind, int(index or 0)


def device_name(device: str | None) -> str:
    """The canonical name of ``device``: ``"cpu"`` or ``"gpu:N"`` (``"gpu"`` is ``"gpu:0"``)."""
    kind, index = parse_device(device)
    return "cpu" if kind == "cpu" else f"gpu:{index}"


def _cupy_for(index: int) -> ModuleType:
    """CuPy, checked to be importable and to see GPU ``index``; a clear error otherwise."""
    try:
        import cupy  # noqa: PLC0415 - optional dependency
    except ImportError as e:
        raise RuntimeError(
            "the GPU needs CuPy, which is not installed: pip install 'minitorch_ag[gpu]'"
        ) from e
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDA driver missing or broken: CuPy raises its own error types
        raise RuntimeError(f"CuPy is installed but no GPU is usable: {e}") from e
    if index >= count:
        raise RuntimeError(f"device gpu:{index} does not exist: CuPy sees {count} GPU(s)")
    return cupy


def gpu_available(device: str | None = "gpu") -> bool:
    """True when CuPy is installed and sees the GPU ``device`` (``"gpu"``, ``"gpu:N"``).

    Never raises: a missing CuPy, a missing or broken CUDA driver, or an index beyond the
    GPUs present all give False (a CPU device name gives False too).
    """
    try:
        kind, index = parse_device(device)
        if kind != "gpu":
            return False
        _cupy_for(index)
    except Exception:  # noqa: BLE001 - a yes/no question: any failure means "no"
        return False
    return True


# ----------------------------------------------------------------------------------------
# Moving arrays, and counting the moves
# ----------------------------------------------------------------------------------------


class TransferCount:
    """What :func:`count_transfers` saw: calls of ``to_device``/``to_host`` and real copies.

    Attributes:
        calls: every ``to_device``/``to_host`` call on an array, including those that found
            the array already in place (on the CPU these are the places that would copy on a
            GPU).
        host_to_device: copies from host memory to a GPU.
        device_to_host: copies from a GPU to host memory.
        device_to_device: copies between two GPUs.
        nbytes: the bytes those copies moved.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.host_to_device = 0
        self.device_to_host = 0
        self.device_to_device = 0
        self.nbytes = 0

    @property
    def copies(self) -> int:
        """Every real copy, in whichever direction."""
        return self.host_to_device + self.device_to_host + self.device_to_device

    def __repr__(self) -> str:
        return (f"TransferCount(calls={self.calls}, host_to_device={self.host_to_device}, "
                f"device_to_host={self.device_to_host}, device_to_device="
                f"{self.device_to_device}, nbytes={self.nbytes})")


_COUNTERS: list[TransferCount] = []  # the active counters (nested ones all count); empty: off


@contextmanager
def count_transfers() -> Iterator[TransferCount]:
    """Count the array moves made through the library inside the ``with`` block.

    Counts ``to_device``/``to_host`` calls (so ``ag.to_device``, ``minibatch(device=...)``,
    Param creation on a GPU default) and the copies they make. It does not see copies made
    behind the library's back, such as ``float()`` of a CuPy scalar: the GPU test module checks
    for those with CuPy's synchronisation guard. Off (an empty list test) when not in use.

    Example:
        >>> import numpy as np
        >>> import minitorch_ag as ag
        >>> with ag.count_transfers() as c:
        ...     _ = ag.to_device(np.ones(3), "cpu")
        >>> c.calls, c.copies
        (1, 0)
    """
    counter = TransferCount()
    _COUNTERS.append(counter)
    try:
        yield counter
    finally:
        _COUNTERS.remove(counter)


def _count(kind: str | None, x: Any) -> None:
    for c in _COUNTERS:
        c.calls += 1
        if kind is not None:
            setattr(c, kind, getattr(c, kind) + 1)
            c.nbytes += int(x.nbytes)


def to_device(x: Any, device: str | None) -> Any:
    """Array ``x`` on ``device`` (``"cpu"``, ``"gpu"``, ``"gpu:N"``); numbers pass through.

    A NumPy array asked for on the CPU, or a CuPy array already on the GPU asked for, is
    returned as it is (no copy).
    """
    kind, index = parse_device(device)
    if not is_array(x):
        return x
    on_gpu = array_module(x) is not np
    if kind == "cpu":
        if _COUNTERS:
            _count("device_to_host" if on_gpu else None, x)
        return x.get() if on_gpu else x
    cupy = _cupy_for(index)
    if on_gpu and x.device.id == index:
        if _COUNTERS:
            _count(None, x)
        return x
    if _COUNTERS:
        _count("device_to_device" if on_gpu else "host_to_device", x)
    with cupy.cuda.Device(index):
        return cupy.asarray(x)


def to_host(x: Any) -> Any:
    """Array ``x`` as a NumPy array (a copy from the GPU, counted; NumPy arrays as they are)."""
    return to_device(x, "cpu")
