"""Switching debugging tools in and out at run time, so that they cost nothing when off.

The engine calls ``prim.fn`` to compute a primitive and ``prim.grads[k]`` / ``prim.grad_all``
to differentiate it. A tool (the profiler, the anomaly detector) is a *hook* that knows how to
wrap those three things. While at least one hook is active, every registered
:class:`~minitorch_ag.registry.Primitive` has its ``fn``, ``grads`` and ``grad_all`` replaced by
wrappers composed from the active hooks; primitives registered meanwhile are wrapped as they
arrive. When the last hook leaves, every record gets back the very objects it had (the same
function, the same ``grads`` tuple), and the engine runs exactly the code it ran before: no flag
is ever tested on the hot path.

Hooks may nest and overlap (a profile inside an anomaly check, two profiles at once): each
change of the active set rebuilds the wrappers from the saved originals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from . import primitive as _primitive_module
from . import registry

__all__ = ["Hook", "activate", "deactivate", "active_hooks", "original_fn"]


class Hook:
    """What a tool wraps; every method returns its input unchanged unless overridden.

    ``wrap_engine`` wraps the engine's own functions: ``"record"`` is ``tensor.call`` (the
    path from a call on Tensors to the primitive, recording the node) and ``"sweep"`` is the
    backward sweep as ``grad`` and ``vjp`` run it.
    """

    def wrap_forward(self, prim: registry.Primitive, fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn

    def wrap_rule(self, prim: registry.Primitive, position: int,
                  rule: Callable[..., Any]) -> Callable[..., Any]:
        return rule

    def wrap_grad_all(self, prim: registry.Primitive,
                      rule: Callable[..., Any]) -> Callable[..., Any]:
        return rule

    def wrap_engine(self, kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn


_lock = threading.RLock()
_hooks: list[Hook] = []
# id(prim) -> (prim, fn, grads, grad_all): the records as they were before the first hook.
_saved: dict[int, tuple[registry.Primitive, Any, Any, Any]] = {}
# (module, attribute name, original object) for the module-level functions replaced.
_patched: list[tuple[Any, str, Any]] = []


def active_hooks() -> tuple[Hook, ...]:
    """The hooks now active, oldest first."""
    return tuple(_hooks)


def original_fn(prim: registry.Primitive) -> Any:
    """``prim``'s own function, whether or not tools have wrapped it."""
    saved = _saved.get(id(prim))
    return saved[1] if saved is not None else prim.fn


def activate(hook: Hook) -> None:
    """Add ``hook``: from now on every primitive runs through its wrappers."""
    with _lock:
        if not _hooks:
            _install_patches()
        _hooks.append(hook)
        _rewrap_all()


def deactivate(hook: Hook) -> None:
    """Remove ``hook``; with the last one gone, every record is restored exactly."""
    with _lock:
        for i in range(len(_hooks) - 1, -1, -1):
            if _hooks[i] is hook:
                del _hooks[i]
                break
        else:
            return
        if _hooks:
            _rewrap_all()
        else:
            _restore_all()


# ----------------------------------------------------------------------------------------
# Wrapping and restoring records
# ----------------------------------------------------------------------------------------


def _save(prim: registry.Primitive) -> tuple[registry.Primitive, Any, Any, Any]:
    saved = _saved.get(id(prim))
    if saved is None:
        saved = _saved[id(prim)] = (prim, prim.fn, prim.grads, prim.grad_all)
    return saved


def _wrap(prim: registry.Primitive) -> None:
    _, fn, grads, grad_all = _save(prim)
    rules = list(grads)
    whole = grad_all
    for hook in _hooks:
        fn = hook.wrap_forward(prim, fn)
        rules = [None if r is None else hook.wrap_rule(prim, k, r) for k, r in enumerate(rules)]
        if whole is not None:
            whole = hook.wrap_grad_all(prim, whole)
    prim.fn = fn
    prim.grads = tuple(rules)
    prim.grad_all = whole


def _rewrap_all() -> None:
    registered = list(registry.PRIMITIVES.values())
    for prim in registered:
        _wrap(prim)
    seen = {id(p) for p in registered}
    for prim, *_ in list(_saved.values()):  # records replaced in the registry meanwhile
        if id(prim) not in seen:
            _wrap(prim)
    _wrap_engine()


def _restore_all() -> None:
    for prim, fn, grads, grad_all in _saved.values():
        prim.fn = fn
        prim.grads = grads
        prim.grad_all = grad_all
    _saved.clear()
    for module, name, original in reversed(_patched):
        setattr(module, name, original)
    _patched.clear()


# ----------------------------------------------------------------------------------------
# Module-level functions: registration (so new primitives get wrapped) and the sweep
# ----------------------------------------------------------------------------------------


def _engine_functions() -> list[tuple[Any, str, str]]:
    """(module, attribute, kind) of each engine function a hook may wrap."""
    from . import api, tensor  # noqa: PLC0415 - api imports the rules, which import this package

    found = [(tensor, "call", "record"), (_primitive_module, "call", "record"),
             (api, "backward", "sweep")]
    return [(m, name, kind) for m, name, kind in found if hasattr(m, name)]


def _install_patches() -> None:
    original_register = registry.register

    def register(fn: Any, prim: registry.Primitive) -> registry.Primitive:
        out = original_register(fn, prim)
        with _lock:
            if _hooks:
                _wrap(prim)
        return out

    _patched.append((registry, "register", original_register))
    registry.register = register
    if getattr(_primitive_module, "register", None) is original_register:
        _patched.append((_primitive_module, "register", original_register))
        _primitive_module.register = register
    for module, name, _ in _engine_functions():
        _patched.append((module, name, getattr(module, name)))


def _wrap_engine() -> None:
    kinds = {(id(m), name): kind for m, name, kind in _engine_functions()}
    for module, name, original in _patched:
        kind = kinds.get((id(module), name))
        if kind is not None:
            fn = original
            for hook in _hooks:
                fn = hook.wrap_engine(kind, fn)
            setattr(module, name, fn)
