"""Which NumPy functions differentiate: the coverage report, and a dry run for one function.

``coverage()`` is computed from the registry, so it is always current: every public NumPy
ufunc and array function (``numpy`` and ``numpy.linalg``) is either differentiable (it has
gradient rules), in place (it writes into an argument, and writing into a tracked Tensor is
recorded as a differentiable copy-on-write update), zero-gradient (piecewise constant or not
numeric: its results are never tracked) or missing (calling it on a tracked Tensor while
recording raises ``TypeError``).
``check_differentiable(f, *args)`` runs ``f`` once, recording, and lists the functions without
a rule that it reached, instead of stopping at the first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import registry
from ..api import _differentiate, _is_differentiable_leaf
from ..registry import IN_PLACE, PRIMITIVES
from ..tensor import METHODS

__all__ = ["Coverage", "coverage", "check_differentiable"]

_NAMESPACES = (("np", np), ("np.linalg", np.linalg))


def _numpy_functions() -> dict[str, Any]:
    """Public NumPy ufuncs and array functions by name (each object once, by its own name)."""
    found: dict[str, Any] = {}
    seen: set[int] = set()
    for prefix, module in _NAMESPACES:
        for name in sorted(dir(module)):
            if name.startswith("_"):
                continue
            obj = getattr(module, name)
            if not (isinstance(obj, np.ufunc) or hasattr(obj, "_implementation")):
                continue
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            own = getattr(obj, "__name__", name)  # np.concat is np.concatenate: use its own name
            found[f"{prefix}.{own if getattr(module, own, None) is obj else name}"] = obj
    return found


@dataclass(frozen=True)
class Coverage:
    """The NumPy functions by kind, and the Tensor methods whose function has a rule."""

    differentiable: tuple[str, ...]
    zerograd: tuple[str, ...]
    missing: tuple[str, ...]
    methods: tuple[str, ...]
    in_place: tuple[str, ...] = ()
    jvp_native: tuple[str, ...] = ()  # differentiable ones with native forward-mode rules

    def __str__(self) -> str:
        total = (len(self.differentiable) + len(self.in_place) + len(self.zerograd)
                 + len(self.missing))
        return (
            f"NumPy coverage: {len(self.differentiable)} differentiable, {len(self.in_place)} "
            f"in place (recorded copy-on-write), {len(self.zerograd)} with zero gradient, "
            f"{len(self.missing)} missing, of {total} public NumPy functions; "
            f"{len(self.methods)} Tensor methods differentiate; {len(self.jvp_native)} "
            f"differentiate natively in forward mode (the others derive their JVP from their "
            f"gradient rules)"
        )

    def to_markdown(self) -> str:
        """The report as a Markdown table (one row per function), for the documentation."""
        rows = ["| function | gradient |", "| --- | --- |"]
        kinds = (("differentiable", "rule"),
                 ("in_place", "in place: recorded as a copy-on-write update"),
                 ("zerograd", "zero (never tracked)"),
                 ("missing", "missing: raises while recording"))
        for field, label in kinds:
            rows.extend(f"| `{name}` | {label} |" for name in getattr(self, field))
        return "\n".join([str(self), "", *rows, ""])


def coverage() -> Coverage:
    """The coverage report of NumPy's functions, from the registry of gradient rules.

    Example:
        >>> import minitorch_ag as ag
        >>> report = ag.coverage()
        >>> "np.exp" in report.differentiable and "np.floor" in report.zerograd
        True
    """
    differentiable, in_place, zero, missing, native = [], [], [], [], []
    for name, fn in _numpy_functions().items():
        prim = PRIMITIVES.get(fn)
        if prim is None:
            (in_place if fn in IN_PLACE else missing).append(name)
        else:
            (zero if prim.zerograd else differentiable).append(name)
            if not prim.zerograd and (prim.jvps or prim.jvp_all is not None):
                native.append(name)
    methods = []
    for name, fn in sorted(METHODS.items()):
        prim = PRIMITIVES.get(fn)
        if prim is not None and not prim.zerograd:
            methods.append(f"Tensor.{name}")
    return Coverage(tuple(differentiable), tuple(zero), tuple(missing), tuple(methods),
                    tuple(in_place), tuple(native))


def check_differentiable(f: Callable[..., Any], *args: Any, **kwargs: Any) -> list[str]:
    """Run ``f(*args, **kwargs)`` once, recording, and list the functions it reached that have
    no gradient rule (in the order first reached), instead of raising at the first.

    The numeric arguments are differentiated as ``grad(f)`` would; no backward pass runs.
    An empty list means every NumPy function ``f`` called on tracked values has a rule.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> ag.check_differentiable(lambda x: np.sum(np.exp(x)), np.ones(3))
        []
    """
    listener = _Missing()
    argnums = tuple(i for i, a in enumerate(args) if _has_leaf(a))
    registry.add_listener(listener)
    try:
        _differentiate(f, argnums, args, kwargs)
    finally:
        registry.remove_listener(listener)
    return list(dict.fromkeys(listener.reached))


class _Missing(registry.Listener):
    """Hears of each function without a rule reached, notes it and lets it run plainly."""

    def __init__(self) -> None:
        self.reached: list[str] = []

    def missing_rule(self, name: str) -> bool:
        self.reached.append(name)
        return True


def _has_leaf(x: Any) -> bool:
    if _is_differentiable_leaf(x):
        return True
    if isinstance(x, dict):
        return any(_has_leaf(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return any(_has_leaf(v) for v in x)
    return False
