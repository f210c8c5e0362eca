"""Gradient checkpointing: ``checkpoint(f)`` keeps only ``f``'s inputs and output on the tape
and recomputes its inner values during the backward pass.

Owns the checkpoint primitive and the recomputation. Does not own recording or the sweep
(``tensor.py``, ``tape.py``), which it uses as they are.

How it works, in three steps:

1. **Forward, in isolation.** While recording, ``checkpoint(f)(*args)`` runs ``f`` on the plain
   values of its arguments on a private tape, with this thread's recording stack set aside:
   nothing reaches the tapes outside, and the private tape, dropped as soon as ``f`` returns,
   tells which Params ``f`` used. The states of the random generators ``f`` reaches (through
   its closure, bound object and arguments, as ``ag.params`` walks them) and NumPy's global
   one are saved first.
2. **One node.** The enclosing tape records a single node for the call: its arguments are
   ``f``'s arguments and those Params, its value ``f``'s output. Only these are kept, not the
   values inside ``f``: that is the memory saved.
3. **Backward, recomputed.** When the sweep reaches the node, ``f`` runs again on a new tape
   whose leaves are the saved arguments and the Params' saved values, with the random
   generators put back in their saved states (a dropout mask comes out the same), and that
   tape is swept from the node's incoming gradient. Its gradients are the node's. The
   recomputation records like any backward pass, so nested ``diff`` (higher order) works.

Costs: one more forward pass of ``f`` per backward pass. State that ``f`` updates as a side
effect (BatchNorm's running statistics) is updated again by the recomputation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from .registry import Primitive
from .tape import STATE, backward, pop_tape, push_tape
from .tensor import Result, Tensor, call, new_leaf, node_on, raw
from .walk import children, is_opaque

__all__ = ["checkpoint"]

_NOKW: dict[str, Any] = {}


def _generators(objs: tuple) -> list[Any]:
    """The NumPy random generators reachable from ``objs``, each once, and NumPy's global one
    (``None`` stands for it: ``np.random.rand`` and its kin)."""
    found: list[Any] = [None]
    seen: set[int] = set()
    todo = list(objs)
    while todo:
        x = todo.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, (np.random.Generator, np.random.RandomState)):
            found.append(x)
        elif not is_opaque(x):
            todo.extend(v for _, v, _ in children(x))
    return found


def _state(g: Any) -> Any:
    if g is None:
        return np.random.get_state()
    return g.bit_generator.state if isinstance(g, np.random.Generator) else g.get_state()


def _set_state(g: Any, state: Any) -> None:
    if g is None:
        np.random.set_state(state)
    elif isinstance(g, np.random.Generator):
        g.bit_generator.state = state
    else:
        g.set_state(state)


def _run_isolated(f: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[Any, list[Any]]:
    """``f(*args)`` on plain values on a private tape: its output and the Params it used."""
    outer_stack, outer_frozen = STATE.stack, STATE.frozen
    STATE.stack, STATE.frozen = [], {}
    try:
        tape = push_tape()
        try:
            out = f(*args, **kwargs)
            node = node_on(out, tape)
            value = raw(out) if node is None else node.value
        finally:
            pop_tape(tape)
    finally:
        STATE.stack, STATE.frozen = outer_stack, outer_frozen
    used = [leaf.args[0] for leaf in tape.leaves.values()]
    return value, used


def _is_input(a: Any) -> bool:
    """Arguments that become the node's inputs (the rest are held as constants)."""
    if isinstance(a, Tensor):
        return True
    return isinstance(a, np.ndarray) and a.dtype.kind in "fc"


def checkpoint(f: Callable[..., Any]) -> Callable[..., Any]:
    """``f`` with its inner values recomputed during the backward pass instead of kept.

    While recording, a call keeps only ``f``'s array arguments, the Params it uses and its
    output on the tape; the backward pass runs ``f`` again to differentiate it. Peak memory
    falls from the sum of all inner values to those of one checkpointed piece at a time, for
    one more forward pass. Outside ``diff`` it is ``f`` itself. ``f`` must return one array;
    random generators ``f`` reaches (a ``Dropout`` layer's, or one passed to it) and NumPy's
    global one are replayed, so the recomputation draws the same numbers.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> w = ag.Param(np.array([0.5, -1.0]))
        >>> block = ag.checkpoint(lambda x: np.tanh(x * w) * x)
        >>> tape = ag.diff(lambda: np.sum(block(block(np.array([1.0, 2.0])))))
        >>> np.round(ag.grad(tape, w), 6)
        array([0.553443, 0.616704])
    """
    name = getattr(f, "__name__", type(f).__name__)

    @functools.wraps(f)
    def checkpointed(*args: Any, **kwargs: Any) -> Any:
        if not STATE.stack:
            return f(*args, **kwargs)
        inputs = [i for i, a in enumerate(args) if _is_input(a)]
        generators = _generators((f, args, kwargs))
        states = [_state(g) for g in generators]
        plain = tuple(raw(a) if i in inputs else a for i, a in enumerate(args))
        value, used = _run_isolated(f, plain, kwargs)
        if isinstance(value, tuple):
            raise TypeError(f"checkpoint({name}): f must return one array, not a tuple")
        n = len(inputs)

        def recompute(dy: Any, y: Any, *vals: Any) -> list[Any]:
            now = [_state(g) for g in generators]
            for g, s in zip(generators, states, strict=True):
                _set_state(g, s)
            tape = push_tape()
            try:
                point = list(args)
                leaves = []
                for i, v in zip(inputs, vals[:n], strict=True):
                    leaves.append(new_leaf(v, tape))
                    point[i] = leaves[-1]
                for p, v in zip(used, vals[n:], strict=True):  # the Params at their saved values
                    leaf = Result(v, tape, None, (p,), _NOKW, ())
                    tape.leaves[id(p)] = leaf
                    tape.nodes.append(leaf)
                    leaves.append(leaf)
                node = node_on(f(*point, **kwargs), tape)
            finally:
                pop_tape(tape)
                for g, s in zip(generators, now, strict=True):
                    _set_state(g, s)
            if node is None:
                return [None] * len(vals)
            backward(tape, [(node, dy)])
            return [leaf.outgrad for leaf in leaves]

        prim = Primitive(lambda *vals: value, grad_all=recompute, name=f"checkpoint({name})")
        return call(prim, (*(args[i] for i in inputs), *used), _NOKW)

    return checkpointed
