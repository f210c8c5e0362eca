"""``ag.defdelta``: a hand-written ``(value, pullback)`` function as a building block.

AutoDiffSource.jl lets a user write ``δdiv(x, y) = (x/y, z -> (z/y, -z*x/y^2))`` and use ``div``
inside differentiated code. The pullback is a closure over the forward pass, so it can reuse
values the forward pass computed, which the flat ``rule(dy, y, *args)`` of ``ag.primitive``
cannot. Here a call on tracked values runs the user's function one level down (on the values
the innermost tape sees, which may themselves be tracked by outer tapes, so its forward pass
and its pullback are recorded there: gradients of gradients, and ``ag.delta`` traces, see
through it) and records one node whose only rule calls the saved pullback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..registry import Primitive
from ..tape import STATE
from ..tensor import Param, Result, Tensor, param_leaf, peel, raw

__all__ = ["defdelta"]


def _pullback_rule(dy: Any, y: Any, pullback: Any, *args: Any) -> list[Any]:
    """All argument gradients at once: the saved pullback applied to ``dy``."""
    grads = pullback(dy)
    if not isinstance(grads, tuple):
        grads = (grads,)
    if len(grads) != len(args):
        raise TypeError(f"defdelta: the pullback returned {len(grads)} gradient(s) for "
                        f"{len(args)} argument(s); return one per argument (None for none)")
    return [None, *grads]


def defdelta(dfn: Callable[..., tuple[Any, Callable[..., Any]]],
             name: str | None = None) -> Callable[..., Any]:
    """Turn ``dfn(*args) -> (value, pullback)`` into a differentiable function of ``args``.

    ``pullback(dz)`` returns one gradient per argument (``None`` for an argument without one;
    a single argument's gradient may be returned bare). Gradients of broadcast arguments are
    summed back to the argument's shape by the framework. The result works under ``diff``,
    ``grad``, ``vjp`` and ``ag.delta`` (whose generated code contains the pullback's
    operations), and outside them it simply returns the value.

    Args:
        dfn: the value-and-pullback function (AutoDiffSource.jl's ``δdiv``).
        name: the name used in messages and generated code comments.

    Returns:
        The differentiable function.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> div = ag.defdelta(lambda x, y: (x / y, lambda z: (z / y, -z * x / y ** 2)))
        >>> ag.grad(lambda a: div(a, 4.0))(2.0)
        0.25
    """
    label = name or getattr(dfn, "__name__", "defdelta").lstrip("δ") or "defdelta"
    prim = Primitive(lambda *a: dfn(*a)[0], name=label, grad_all=_pullback_rule)

    @functools.wraps(dfn)
    def wrapper(*args: Any) -> Any:
        stack = STATE.stack
        if not stack:
            return dfn(*(raw(a) if isinstance(a, Tensor) else a for a in args))[0]
        top = None
        for a in args:  # the innermost live tape any argument is tracked on
            a = peel(a)
            if isinstance(a, Param):
                top = stack[-1]
            elif isinstance(a, Result) and (top is None or a.mark.level > top.level):
                top = stack[a.mark.level - 1]
        if top is None:
            return dfn(*(peel(a) for a in args))[0]
        values: list[Any] = []
        parents: list[Any] = []
        for a in args:
            a = peel(a)
            if isinstance(a, Param):
                node = param_leaf(a, top)
            elif isinstance(a, Result) and a.mark is top.mark:
                node = a
            else:
                node = None
            parents.append(node)
            values.append(node.value if node is not None else a)
        value, pullback = dfn(*values)
        node = Result(value, top, prim, (pullback, *values), {}, (None, *parents))
        top.nodes.append(node)
        return node

    wrapper.primitive = prim  # type: ignore[attr-defined]
    return wrapper
