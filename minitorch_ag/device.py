"""The default device: where new Params, initializers and minibatches put their arrays.

Owns the process-wide default (``set_device``), this thread's stack of scoped overrides
(``with device(...)``) and :func:`on_default_device`, which ``Param`` and the initializers call.
Does not own moving arrays (``backend.py``) or moving whole objects (``to_device`` in
``walk.py``). Imports only ``backend``, so that ``tensor.py`` can use it.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from . import backend

__all__ = ["set_device", "device", "default_device", "checked_device", "on_default_device"]


_GLOBAL_DEFAULT = ["cpu"]  # a one-item list so that set_device changes it in place
_LOCAL = threading.local()  # .stack: this thread's ``with device(...)`` scopes, innermost last


def default_device() -> str:
    """The device new Params, initializers and minibatches go to: ``"cpu"`` or ``"gpu:N"``.

    The innermost ``with minitorch_ag.device(...)`` of this thread if any, else the device
    last given to ``minitorch_ag.set_device`` (``"cpu"`` at start).
    """
    stack = getattr(_LOCAL, "stack", None)
    return stack[-1] if stack else _GLOBAL_DEFAULT[0]


def checked_device(device: str | None, who: str) -> str:
    """The canonical name of ``device``, after checking that a GPU asked for is usable."""
    name = backend.device_name(device)
    if name != "cpu":
        try:
            backend._cupy_for(backend.parse_device(name)[1])
        except RuntimeError as e:
            raise RuntimeError(f"{who}({device!r}): {e}") from e
    return name


def set_default(device: str | None) -> str:
    """Set the process-wide default device (checked); return the previous one."""
    name = checked_device(device, "set_device")
    previous = _GLOBAL_DEFAULT[0]
    _GLOBAL_DEFAULT[0] = name
    return previous


def push_default(name: str) -> None:
    """Enter a scoped default device on this thread (``name`` already checked)."""
    stack = getattr(_LOCAL, "stack", None)
    if stack is None:
        stack = _LOCAL.stack = []
    stack.append(name)


def pop_default() -> None:
    """Leave the innermost scoped default device of this thread."""
    _LOCAL.stack.pop()


def on_default_device(x: Any) -> Any:
    """A host (NumPy) array ``x`` moved to the default device when that is a GPU.

    Anything else is returned as it is: numbers, arrays already on a GPU (a CuPy array given
    to ``Param`` stays where the user put it), and everything while the default is the CPU.
    Called where the library creates arrays for the user (Params, initializers); on the CPU it
    costs one thread-local look-up and does not count as a transfer.
    """
    name = default_device()
    if name == "cpu" or not isinstance(x, np.ndarray):
        return x
    return backend.to_device(x, name)


def set_device(device: str | None) -> str:
    """Make ``device`` the default for new Params, initializers and minibatches.

    Process-wide (every thread sees it, unless inside its own ``with device(...)``). ``None``
    means the CPU. Existing arrays are not moved: use :func:`to_device` for those.

    Args:
        device: ``"cpu"``, ``"gpu"``, ``"gpu:N"`` or None.

    Returns:
        The previous default (``"cpu"`` or ``"gpu:N"``), to restore it later.

    Raises:
        RuntimeError: a GPU is asked for and CuPy is not installed, or sees no such GPU.

    Example:
        >>> import minitorch_ag as ag
        >>> previous = ag.set_device("cpu")
        >>> ag.default_device()
        'cpu'
    """
    return set_default(device)


class device:  # noqa: N801 - a context manager used as ``with ag.device("gpu"):``
    """Within the ``with`` block, this thread's default device is ``device``.

    Scopes nest; leaving one restores the previous default. Other threads are not affected.

    Example:
        >>> import numpy as np
        >>> import minitorch_ag as ag
        >>> with ag.device("cpu"):
        ...     ag.default_device()
        'cpu'
    """

    def __init__(self, device: str | None) -> None:
        self.name = checked_device(device, "device")

    def __enter__(self) -> str:
        push_default(self.name)
        return self.name

    def __exit__(self, *exc: Any) -> None:
        pop_default()

    def __repr__(self) -> str:
        return f"device({self.name!r})"
