"""Array backends: which array module (NumPy or CuPy) a value belongs to.

This is the only module that may mention CuPy, and it never imports it eagerly: a CuPy array
is recognised by the module its type comes from, so a CPU-only install pays nothing. Every
allocation made by the library goes through :func:`array_module` (or NumPy's ``*_like``
functions, which dispatch to CuPy by themselves), so that results stay on the device of their
inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "array_module", "is_array", "scatter_add", "to_device", "to_host", "parse_device",
    "device_name", "gpu_available", "TransferCount", "count_transfers",
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
