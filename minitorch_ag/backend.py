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

__all__ = ["array_module", "is_array", "scatter_add", "to_device", "parse_device"]


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
        return x.get() if on_gpu else x
    cupy = _cupy_for(index)
    if on_gpu and x.device.id == index:
        return x
    with cupy.cuda.Device(index):
        return cupy.asarray(x)
