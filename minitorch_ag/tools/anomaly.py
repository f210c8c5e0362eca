"""Anomaly detection: stop at the first NaN or Inf, forward or backward, and say where it came from.

``with ag.detect_anomaly():`` checks the value every primitive computes and the gradient every
rule returns. The first one holding NaN or Inf raises :class:`AnomalyError`, which names the
primitive, the pass (forward, or backward with the argument position), the shapes and dtypes
involved, and the line of user code that created the node. That line is captured when the
forward pass runs (the innermost frame outside minitorch_ag and NumPy) and found again in the
backward pass through the node's output value, which every gradient rule receives.

``ag.set_detect_anomaly(True)`` switches it on until switched off, and ``MINITORCH_AG_ANOMALY=1``
in the environment switches it on at import. It works by wrapping the primitives' functions
(see ``tools/_switch.py``), so it costs nothing when off; when on, every value is scanned, which
costs about one extra pass over each array.
"""

from __future__ import annotations

import linecache
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..backend import array_module
from ..registry import Primitive
from ..tensor import raw
from . import _switch

__all__ = ["AnomalyError", "detect_anomaly", "set_detect_anomaly"]


class AnomalyError(FloatingPointError):
    """A NaN or Inf appeared in a forward value or a gradient while anomaly detection was on.

    Attributes:
        primitive: the name of the primitive (``"np.log"``).
        phase: ``"forward"`` or ``"backward"``.
        position: the argument whose gradient was bad (backward only), else ``None``.
        site: ``"file:line"`` of the user code that created the node, or ``None``.
    """

    def __init__(self, message: str, primitive: str, phase: str, position: int | None,
                 site: str | None) -> None:
        super().__init__(message)
        self.primitive = primitive
        self.phase = phase
        self.position = position
        self.site = site


# ----------------------------------------------------------------------------------------
# Where a node was created
# ----------------------------------------------------------------------------------------

_LIBRARY_DIRS = tuple(
    os.path.dirname(os.path.abspath(m.__file__)) + os.sep
    for m in (sys.modules[__package__.rpartition(".")[0]], np) if getattr(m, "__file__", None)
)


def _user_frame() -> tuple[str, int, str] | None:
    """(file, line, function) of the innermost frame outside minitorch_ag and NumPy."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_LIBRARY_DIRS):
            return filename, frame.f_lineno, frame.f_code.co_name
        frame = frame.f_back
    return None


def _format_site(where: tuple[str, int, str] | None) -> str | None:
    if where is None:
        return None
    filename, line, func = where
    code = linecache.getline(filename, line).strip()
    text = f"{filename}:{line} in {func}"
    return f"{text}: {code}" if code else text


class _Sites:
    """The creation site of each output value, found again from the value itself.

    Arrays are held weakly (the entry goes with the array); values that cannot be weakly
    referenced (NumPy scalars, tuples of outputs) are held, at most ``limit`` of them, oldest
    dropped first.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self.entries: dict[int, tuple[Any, bool, Any]] = {}
        self.strong = 0
        self.limit = limit
        self.lock = threading.Lock()

    def remember(self, value: Any, where: Any) -> None:
        key = id(value)
        try:
            ref = weakref.ref(value, lambda r, key=key: self._forget(key, r))
            entry = (ref, True, where)
        except TypeError:
            entry = (value, False, where)
        with self.lock:
            old = self.entries.pop(key, None)
            if old is not None and not old[1]:
                self.strong -= 1
            self.entries[key] = entry
            if not entry[1]:
                self.strong += 1
                if self.strong > self.limit:
                    self._drop_oldest_strong()

    def _drop_oldest_strong(self) -> None:
        for key, entry in self.entries.items():
            if not entry[1]:
                del self.entries[key]
                self.strong -= 1
                return

    def _forget(self, key: int, ref: Any) -> None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None and entry[0] is ref:
                del self.entries[key]

    def site(self, value: Any) -> str | None:
        entry = self.entries.get(id(value))
        if entry is None:
            return None
        held = entry[0]() if entry[1] else entry[0]
        return _format_site(entry[2]) if held is value else None

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.strong = 0


# ----------------------------------------------------------------------------------------
# Checking values
# ----------------------------------------------------------------------------------------


def _problem(x: Any) -> str | None:
    """What is wrong with ``x`` ("2 NaN, 1 Inf of 6 elements, first at index (0, 1)"), or None."""
    x = raw(x)
    if x is None or isinstance(x, (bool, int, str, np.bool_, np.integer)):
        return None
    if isinstance(x, (tuple, list)):
        for k, v in enumerate(x):
            p = _problem(v)
            if p is not None:
                return f"{p} in output {k}"
        return None
    if hasattr(x, "values") and hasattr(x, "indices") and hasattr(x, "to_dense"):
        return _problem(x.values)  # a Sparse gradient
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        if isinstance(x, (float, complex)):
            dtype = np.dtype(type(x))
        else:
            return None
    if dtype.kind not in "fc":
        return None
    xp = array_module(x)
    finite = xp.isfinite(x)
    if bool(xp.all(finite)):
        return None
    size = int(np.prod(np.shape(x)))
    nan = int(xp.count_nonzero(xp.isnan(x)))
    inf = size - int(xp.count_nonzero(finite)) - nan
    parts = [f"{nan} NaN" if nan else "", f"{inf} Inf" if inf else ""]
    what = ", ".join(p for p in parts if p)
    if np.ndim(x) == 0:
        return f"{what} (a scalar)"
    first = tuple(int(i) for i in np.unravel_index(int(xp.argmin(finite.ravel())), np.shape(x)))
    return f"{what} of {size} elements, first at index {first}"


def _summary(x: Any) -> str:
    x = raw(x)
    if x is None:
        return "None"
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    if shape is not None and dtype is not None:
        state = "" if _problem(x) is None else " (not finite)"
        return f"{type(x).__name__} {dtype} {tuple(shape)}{state}"
    if isinstance(x, (tuple, list)):
        return f"{type(x).__name__} of {len(x)}"
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def _arguments(args: tuple) -> str:
    return "; ".join(f"argument {k}: {_summary(a)}" for k, a in enumerate(args))


# ----------------------------------------------------------------------------------------
# The hook
# ----------------------------------------------------------------------------------------


class _Detector(_switch.Hook):
    def __init__(self, forward: bool, backward: bool) -> None:
        self.forward = forward
        self.backward = backward
        self.sites = _Sites()

    def wrap_forward(self, prim: Primitive, fn: Callable[..., Any]) -> Callable[..., Any]:
        sites = self.sites
        check = self.forward

        def checked(*args: Any, **kwargs: Any) -> Any:
            out = fn(*args, **kwargs)
            where = _user_frame()
            sites.remember(out, where)
            if check:
                bad = _problem(out)
                if bad is not None:
                    _raise_forward(prim, bad, args, _format_site(where))
            return out

        return checked

    def wrap_rule(self, prim: Primitive, position: int,
                  rule: Callable[..., Any]) -> Callable[..., Any]:
        if not self.backward:
            return rule
        sites = self.sites

        def checked(dy: Any, y: Any, *args: Any, **kwargs: Any) -> Any:
            dx = rule(dy, y, *args, **kwargs)
            bad = _problem(dx)
            if bad is not None:
                _raise_backward(prim, position, bad, dx, dy, y, args, sites.site(raw(y)))
            return dx

        return checked

    def wrap_grad_all(self, prim: Primitive, rule: Callable[..., Any]) -> Callable[..., Any]:
        if not self.backward:
            return rule
        sites = self.sites

        def checked(dy: Any, y: Any, *args: Any, **kwargs: Any) -> Any:
            grads = rule(dy, y, *args, **kwargs)
            for k, dx in enumerate(grads):
                bad = _problem(dx)
                if bad is not None:
                    _raise_backward(prim, k, bad, dx, dy, y, args, sites.site(raw(y)))
            return grads

        return checked


def _raise_forward(prim: Primitive, bad: str, args: tuple, site: str | None) -> None:
    inputs = [k for k, a in enumerate(args) if _problem(a) is not None]
    cause = (f"argument(s) {inputs} already held NaN/Inf, so look at where they came from"
             if inputs else "its arguments were all finite, so this primitive made it (check "
             "its domain: log or sqrt of a negative or zero, division by zero, overflow)")
    where = f"\n  node created at {site}" if site else ""
    raise AnomalyError(
        f"{prim.name} (forward) produced {bad}.\n  {_arguments(args)}\n  {cause}{where}",
        prim.name, "forward", None, site)


def _raise_backward(prim: Primitive, position: int, bad: str, dx: Any, dy: Any, y: Any,
                    args: tuple, site: str | None) -> None:
    arg = args[position] if position < len(args) else None
    incoming = ("the incoming gradient dy already held NaN/Inf" if _problem(dy) is not None
                else "the incoming gradient dy was finite, so this rule made it (a derivative "
                "that is infinite at this point, e.g. sqrt or log at 0, or 0 * inf)")
    where = f"\n  node created at {site}" if site else ""
    raise AnomalyError(
        f"{prim.name} (backward, gradient for argument {position}, {_summary(arg)}) produced "
        f"{bad}.\n  gradient: {_summary(dx)}; incoming dy: {_summary(dy)}; output y: "
        f"{_summary(y)}\n  {_arguments(args)}\n  {incoming}{where}",
        prim.name, "backward", position, site)


# ----------------------------------------------------------------------------------------
# The public switches
# ----------------------------------------------------------------------------------------


@contextmanager
def detect_anomaly(forward: bool = True, backward: bool = True) -> Iterator[None]:
    """Raise :class:`AnomalyError` at the first NaN or Inf inside the ``with`` block.

    Args:
        forward: check the value every primitive computes.
        backward: check the gradient every rule returns.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> x = ag.Param(np.array([1.0, 0.0]))
        >>> with ag.detect_anomaly():
        ...     t = ag.diff(lambda: np.sum(np.sqrt(x)))
        ...     try:
        ...         ag.grad(t, x)
        ...     except ag.AnomalyError as e:
        ...         print(e.primitive, e.phase, e.position)
        np.sqrt backward 0
    """
    hook = _Detector(forward, backward)
    _switch.activate(hook)
    try:
        yield
    finally:
        _switch.deactivate(hook)
        hook.sites.clear()


_global: _Detector | None = None


def set_detect_anomaly(on: bool) -> None:
    """Switch anomaly detection on (forward and backward) or off, for the whole program.

    Example:
        >>> import minitorch_ag as ag
        >>> ag.set_detect_anomaly(True)
        >>> ag.set_detect_anomaly(False)
    """
    global _global
    if on and _global is None:
        _global = _Detector(True, True)
        _switch.activate(_global)
    elif not on and _global is not None:
        _switch.deactivate(_global)
        _global.sites.clear()
        _global = None


def _from_environment() -> bool:
    """Switch detection on when ``MINITORCH_AG_ANOMALY`` is set (read once, at import)."""
    flag = os.environ.get("MINITORCH_AG_ANOMALY", "").strip().lower()
    on = flag not in ("", "0", "false", "no", "off")
    if on:
        set_detect_anomaly(True)
    return on
