"""``primitive`` and ``zerograd``: how a function becomes differentiable (API.md §5).

``primitive(fn, *grads)`` builds the :class:`~minitorch_ag.registry.Primitive` record, registers
it under ``fn`` (so that ``fn`` called through NumPy's protocols on Tensors records too) and
returns a wrapper that records when called directly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from . import inplace as _inplace  # noqa: F401  (puts the copy-on-write writers in the registry)
from . import tensor as _tensor
from .registry import Primitive, register

__all__ = ["primitive", "zerograd"]


def _wrap(prim: Primitive) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _tensor.call(prim, args, kwargs)  # looked up per call: tools may set_call

    try:
        functools.update_wrapper(wrapper, prim.fn)
    except AttributeError:
        wrapper.__name__ = prim.name
    wrapper.__name__ = getattr(prim.fn, "__name__", prim.name)
    wrapper.primitive = prim  # type: ignore[attr-defined]
    return wrapper


def _underlying(fn: Any) -> Any:
    prim = getattr(fn, "primitive", None)
    return prim.fn if isinstance(prim, Primitive) else fn


def primitive(
    fn: Callable[..., Any],
    *grads: Callable[..., Any] | None,
    grad_all: Callable[..., Any] | None = None,
    adapter: Callable[[tuple, dict], tuple[tuple, dict]] | None = None,
    name: str | None = None,
) -> Callable[..., Any]:
    """Make ``fn`` differentiable with the given gradient rules, and register it.

    Each rule is called as ``rule(dy, y, *args, **kwargs)``: the gradient ``dy`` of the output,
    the output ``y``, and ``fn``'s arguments, and returns the gradient of the argument in its
    position; ``None`` in place of a rule marks an argument with no gradient. Rules need not
    sum over broadcast axes: the framework fits each gradient to its argument's shape. A
    ``fn`` returning a tuple receives a tuple ``dy`` (``None`` for unused outputs). Written
    with ``np.*`` calls on their inputs, rules are themselves differentiable, so higher-order
    gradients work too.

    Args:
        fn: the function on plain values.
        *grads: one gradient rule per positional argument.
        grad_all: instead of ``grads``, one rule returning every argument's gradient at once.
        adapter: maps the ``(args, kwargs)`` of a call through NumPy's protocols to ``fn``'s.
        name: the name used in messages (defaults to ``fn``'s).

    Returns:
        The differentiable version of ``fn``.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> hypot = ag.primitive(np.hypot,
        ...                      lambda dy, y, x1, x2: dy * x1 / y,
        ...                      lambda dy, y, x1, x2: dy * x2 / y)
        >>> float(ag.grad(lambda a: hypot(a, 4.0))(3.0))
        0.6
    """
    _check_rules(fn, grads, grad_all)
    fn = _underlying(fn)
    prim = Primitive(fn, grads, name=name, grad_all=grad_all, ufunc=isinstance(fn, np.ufunc),
                     adapter=adapter)
    register(fn, prim)
    return _wrap(prim)


def _check_rules(fn: Any, grads: tuple, grad_all: Any) -> None:
    """Refuse, at registration, what would otherwise fail obscurely in a backward pass."""
    label = getattr(fn, "__name__", type(fn).__name__)
    if not callable(fn):
        raise TypeError(f"primitive(fn, ...): fn must be a function; got {type(fn).__name__}")
    for k, rule in enumerate(grads):
        if rule is not None and not callable(rule):
            raise TypeError(
                f"primitive({label}, ...): the gradient rule for argument {k} must be a "
                f"function rule(dy, y, *args) or None; got {type(rule).__name__}"
            )
    if grad_all is not None and grads:
        raise TypeError(
            f"primitive({label}, ...): give either one rule per argument or grad_all=, not both"
        )
    if grad_all is not None and not callable(grad_all):
        raise TypeError(
            f"primitive({label}, grad_all=...): grad_all must be a function returning every "
            f"argument's gradient; got {type(grad_all).__name__}"
        )


def zerograd(fn: Callable[..., Any], name: str | None = None) -> Callable[..., Any]:
    """Register ``fn`` as a function whose result is never tracked (zero gradient).

    For piecewise-constant functions (``np.floor``, comparisons, ``argmax`` ...): called on
    Tensors, even while recording, they compute on plain values and return plain values.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> floor = ag.zerograd(np.floor)
        >>> floor(ag.Param(np.array([1.5, -0.5])))
        array([ 1., -1.])
    """
    if not callable(fn):
        raise TypeError(f"zerograd(fn): fn must be a function; got {type(fn).__name__}")
    fn = _underlying(fn)
    prim = Primitive(fn, (), name=name, zerograd=True, ufunc=isinstance(fn, np.ufunc))
    register(fn, prim)
    return _wrap(prim)
