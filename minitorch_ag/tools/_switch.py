"""Switching tools in and out at run time, through what the core offers, so they cost nothing off.

The engine calls ``prim.fn`` to compute a primitive and ``prim.grads[k]`` / ``prim.grad_all``
to differentiate it. A tool (the profiler, the anomaly detector) is a :class:`Hook` that knows
how to wrap those three things, and optionally the engine's two own steps: the recording call
and the backward sweep. While at least one hook is active:

* every registered :class:`~minitorch_ag.registry.Primitive` has its ``fn``, ``grads`` and
  ``grad_all`` replaced by wrappers composed from the active hooks; primitives registered
  meanwhile are wrapped as they arrive, because this module listens to the registry
  (:class:`~minitorch_ag.registry.Listener`);
* the recording call and the sweep are replaced through the core's own switches,
  :func:`minitorch_ag.tensor.set_call` and :func:`minitorch_ag.api.set_sweep`.

When the last hook leaves, every record gets back the very objects it had (the same function,
the same ``grads`` tuple), the listener is removed and both switches are reset: the engine runs
exactly the code it ran before, and no flag is ever tested on the hot path. Nothing here sets
an attribute of another module.

Hooks may nest and overlap (a profile inside an anomaly check, two profiles at once): each
change of the active set rebuilds the wrappers from the saved originals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .. import api, registry, tensor
from ..registry import Primitive

__all__ = ["Hook", "activate", "deactivate", "active_hooks", "original_fn"]


class Hook:
    """What a tool wraps; every method returns its input unchanged unless overridden.

    ``wrap_engine`` wraps the engine's own steps: ``"record"`` is ``tensor.call`` (the path
    from a call on Tensors to the primitive, recording the node) and ``"sweep"`` is the
    backward sweep as ``grad`` and ``vjp`` run it.
    """

    def wrap_forward(self, prim: Primitive, fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn

    def wrap_rule(self, prim: Primitive, position: int,
                  rule: Callable[..., Any]) -> Callable[..., Any]:
        return rule

    def wrap_grad_all(self, prim: Primitive, rule: Callable[..., Any]) -> Callable[..., Any]:
        return rule

    def wrap_engine(self, kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn


class _Registrations(registry.Listener):
    """Wraps each primitive registered while hooks are active."""

    def registered(self, prim: Primitive) -> None:
        with _lock:
            if _hooks:
                _wrap(prim)


_lock = threading.RLock()
_hooks: list[Hook] = []
_listener = _Registrations()
# id(prim) -> (prim, fn, grads, grad_all): the records as they were before the first hook.
_saved: dict[int, tuple[Primitive, Any, Any, Any]] = {}


def active_hooks() -> tuple[Hook, ...]:
    """The hooks now active, oldest first."""
    return tuple(_hooks)


def original_fn(prim: Primitive) -> Any:
    """``prim``'s own function, whether or not tools have wrapped it."""
    saved = _saved.get(id(prim))
    return saved[1] if saved is not None else prim.fn


def activate(hook: Hook) -> None:
    """Add ``hook``: from now on every primitive runs through its wrappers."""
    with _lock:
        if not _hooks:
            registry.add_listener(_listener)
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
# Wrapping and restoring
# ----------------------------------------------------------------------------------------


def _save(prim: Primitive) -> tuple[Primitive, Any, Any, Any]:
    saved = _saved.get(id(prim))
    if saved is None:
        saved = _saved[id(prim)] = (prim, prim.fn, prim.grads, prim.grad_all)
    return saved


def _wrap(prim: Primitive) -> None:
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


def _engine(kind: str, own: Callable[..., Any]) -> Callable[..., Any]:
    fn = own
    for hook in _hooks:
        fn = hook.wrap_engine(kind, fn)
    return fn


def _rewrap_all() -> None:
    registered = list(registry.PRIMITIVES.values())
    for prim in registered:
        _wrap(prim)
    seen = {id(p) for p in registered}
    for prim, *_ in list(_saved.values()):  # records replaced in the registry meanwhile
        if id(prim) not in seen:
            _wrap(prim)
    record = _engine("record", tensor.ENGINE_CALL)
    sweep = _engine("sweep", api.ENGINE_SWEEP)
    tensor.set_call(None if record is tensor.ENGINE_CALL else record)
    api.set_sweep(None if sweep is api.ENGINE_SWEEP else sweep)


def _restore_all() -> None:
    for prim, fn, grads, grad_all in _saved.values():
        prim.fn = fn
        prim.grads = grads
        prim.grad_all = grad_all
    _saved.clear()
    registry.remove_listener(_listener)
    tensor.set_call(None)
    api.set_sweep(None)
