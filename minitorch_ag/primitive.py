"""The rule author's whole surface: everything a gradient rule file or a layer needs.

``primitive(fn, *grads)`` builds the :class:`~minitorch_ag.registry.Primitive` record, registers
it under ``fn`` (so that ``fn`` called through NumPy's protocols on Tensors records too) and
returns a wrapper that records when called directly; ``zerograd(fn)`` registers a
function whose result is never tracked. Besides those, this module gathers, from the core
modules that own them, what rules and layers use:

* registering: ``register(fn, Primitive(...))`` for a record built by hand (a gufunc whose
  rules need its keywords), ``lookup(fn)``;
* values: ``raw(x)`` (the plain value under any Tensor wrappers, for shapes and dtypes),
  ``constant(x)`` (a value marked constant to every tape, what ``ag.value`` does),
  ``is_tracked(x)``, ``recording()``, the types ``Tensor``, ``Param`` and ``Sparse``, and
  ``astype`` (``x.astype(dtype)`` as a function);
* ``refuse_higher_order(...)`` for a rule that computes on plain values;
* axes of reductions: ``reduced_axes``, ``keep_dims``;
* in-place NumPy functions: ``in_place(fn, writer)`` and ``update`` (copy-on-write);
* ``on_default_device(x)`` for layers' initial arrays.

Rules files (``rules/``) and ``nn`` import only this module, ``backend`` and NumPy
(``tests/test_imports.py`` checks it). Does not own any of the machinery it re-exports.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from . import tensor as _tensor
from .device import on_default_device
from .inplace import update
from .registry import IN_PLACE, Primitive, lookup, register
from .sparse import Sparse
from .tape import STATE, Tape, freeze, recording
from .tensor import Param, Tensor, astype, is_tracked, raw

__all__ = [
    "primitive", "zerograd", "defjvp", "register", "lookup", "Primitive", "raw", "constant",
    "is_tracked",
    "recording", "Tensor", "Param", "Sparse", "astype", "refuse_higher_order", "reduced_axes",
    "keep_dims", "in_place", "update", "on_default_device",
]


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
    position; ``None`` in place of a rule, or leaving trailing rules out, marks an argument
    with no gradient. Rules need not
    sum over broadcast axes: the framework fits each gradient to its argument's shape. A
    ``fn`` returning a tuple receives a tuple ``dy`` (``None`` for unused outputs). Written
    with ``np.*`` calls on their inputs, rules are themselves differentiable, so higher-order
    gradients work too.

    Args:
        fn: the function on plain values.
        *grads: one gradient rule per positional argument; trailing arguments whose rules
            are left out get no gradient, as an omitted gradient expression in AutoGrad.jl.
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


def defjvp(fn: Any, *jvps: Callable[..., Any] | None,
           jvp_all: Callable[..., Any] | None = None) -> None:
    """Give the registered primitive of ``fn`` native forward-mode (JVP) rules.

    Each rule is called as ``jvp(t, y, *args, **kwargs)``: the tangent ``t`` of its argument,
    the output ``y`` and the arguments, and returns the output's tangent due to ``t`` (the
    framework broadcasts it to ``y``'s shape and adds the arguments' contributions); ``None``
    marks an argument without one. ``jvp_all(ts, y, *args, **kwargs)`` takes every argument's
    tangent at once (``None`` for constants), for variadic primitives. Primitives without
    native rules still work in forward mode: ``ag.jvp`` derives their rules from the
    gradient rules. Registering ``fn`` again drops these rules with the old record.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> from minitorch_ag.primitive import defjvp
        >>> cube = ag.primitive(lambda x: x ** 3, lambda dy, y, x: dy * 3 * x ** 2)
        >>> defjvp(cube, lambda t, y, x: t * 3 * x ** 2)
        >>> ag.jvp(cube, (2.0,), (1.0,))
        (8.0, 12.0)
    """
    prim = lookup(_underlying(fn))
    if prim is None or prim.zerograd:
        raise TypeError(f"defjvp: {getattr(fn, '__name__', fn)!r} is not a differentiable "
                        f"primitive; register it with ag.primitive first")
    if jvps and jvp_all is not None:
        raise TypeError(f"defjvp({prim.name}, ...): give either one rule per argument or "
                        f"jvp_all=, not both")
    prim.jvps = tuple(jvps)
    prim.jvp_all = jvp_all


# ----------------------------------------------------------------------------------------
# Helpers for rules and layers
# ----------------------------------------------------------------------------------------


def constant(x: Any) -> Any:
    """The value inside a Tensor or Tape (a Sparse gradient densified), a constant to every tape.

    What ``ag.value`` does. Inside ``diff`` this detaches: the value is a constant to the
    innermost tape, which keeps that array, so it is read-only until recording stops.
    """
    if isinstance(x, (Tensor, Tape)):
        v = x.value
        if STATE.stack and v.__class__ is np.ndarray:
            freeze(v)
        return v
    if isinstance(x, Sparse):
        return x.to_dense()
    return x


def refuse_higher_order(name: str, why: str, *values: Any, fix: str = "") -> None:
    """Raise ``TypeError`` when a rule that computes on plain values is being recorded.

    Such a rule gives an exact first derivative, but its plain intermediate values would be
    constants to the outer tapes: their second derivative would be silently wrong.
    """
    if any(isinstance(v, Tensor) for v in values):
        shape = next((np.shape(raw(v)) for v in values if v is not None), ())
        raise TypeError(
            f"{name}: higher-order gradients {why} (argument of shape {shape}) are not "
            f"supported (the first derivative is exact); "
            f"{fix or 'differentiate once, or avoid this case'}"
        )


def reduced_axes(ndim: int, axis: Any) -> tuple[int, ...]:
    """``axis`` (``None``, an int or a tuple, negatives allowed) as sorted non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(sorted(int(a) % ndim for a in axis)) if ndim else ()
    return (int(axis) % ndim,) if ndim else ()


def keep_dims(v: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    """``v``, the result of reducing ``x`` over ``axis``, reshaped as if ``keepdims=True``.

    The result broadcasts against ``x``; the framework broadcasts a rule's gradient up to its
    argument's shape, so reduction rules can return this directly.
    """
    if axis is None or (keepdims is not np._NoValue and keepdims):
        return v
    shape = np.shape(x)
    axes = reduced_axes(len(shape), axis)
    return np.reshape(v, tuple(1 if i in axes else n for i, n in enumerate(shape)))


def in_place(fn: Any, writer: Callable[..., Any]) -> None:
    """Record NumPy function ``fn``, which writes into an argument, with ``writer`` while a
    tracked Tensor is involved; ``writer`` takes ``fn``'s arguments and calls :func:`update`.
    """
    IN_PLACE[fn] = writer

