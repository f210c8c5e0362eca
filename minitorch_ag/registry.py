"""The record of every primitive: the function, its gradient rules and how it is called.

Data only, at the bottom of the imports (it imports nothing of the package). ``PRIMITIVES``
maps a function (a NumPy ufunc, a NumPy array function, or a user function given to
:func:`minitorch_ag.primitive`) to its :class:`Primitive`; the Tensor protocols look functions
up here, so registering a rule for ``np.hypot`` makes ``np.hypot(x, y)`` on Tensors
differentiable everywhere. ``IN_PLACE`` holds the copy-on-write writers (``inplace.py``), and
listeners (tools) hear of registrations and of missing rules. Does not own calling or
differentiating anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["PRIMITIVES", "IN_PLACE", "Primitive", "Listener", "lookup", "register",
           "add_listener", "remove_listener", "missing_rule"]


class Primitive:
    """How to call one differentiable function and how to differentiate it.

    Attributes:
        fn: the function computed on plain (untracked) values.
        grads: one gradient rule per positional argument, ``rule(dy, y, *args, **kwargs)``
            returning the gradient for that argument; ``None`` marks an argument that has no
            gradient.
        grad_all: alternatively, one rule returning the gradients of all arguments at once
            (a sequence aligned with the arguments); used by variadic primitives.
        zerograd: the result is never tracked (comparisons, ``floor``, ``argmax`` ...).
        ufunc: ``fn`` is a NumPy ufunc: keyword arguments such as ``dtype`` shape only the
            forward value, so the rules never receive them.
        adapter: turns the ``(args, kwargs)`` of a call through NumPy's protocols into the
            primitive's own ``(args, kwargs)`` (``np.concatenate([a, b])`` becomes a call with
            ``a`` and ``b`` as separate arguments).
        jvps: forward-mode rules, one per positional argument, ``jvp(t, y, *args, **kwargs)``
            returning the output's tangent due to that argument's tangent ``t`` (empty: none
            native; ``forward.py`` then derives them from the gradient rules).
        jvp_all: alternatively, one forward rule ``jvp_all(ts, y, *args, **kwargs)`` taking
            every argument's tangent (``None`` for constants) at once.
    """

    __slots__ = ("fn", "grads", "grad_all", "name", "zerograd", "ufunc", "adapter", "jvps",
                 "jvp_all")

    def __init__(
        self,
        fn: Callable[..., Any],
        grads: tuple[Callable[..., Any] | None, ...] = (),
        *,
        name: str | None = None,
        grad_all: Callable[..., Any] | None = None,
        zerograd: bool = False,
        ufunc: bool = False,
        adapter: Callable[[tuple, dict], tuple[tuple, dict]] | None = None,
    ) -> None:
        self.fn = fn
        self.grads = tuple(grads)
        self.grad_all = grad_all
        self.name = name or _name_of(fn)
        self.zerograd = zerograd
        self.ufunc = ufunc
        self.adapter = adapter
        self.jvps: tuple[Callable[..., Any] | None, ...] = ()
        self.jvp_all: Callable[..., Any] | None = None

    def __repr__(self) -> str:
        kind = "zerograd" if self.zerograd else "primitive"
        return f"<{kind} {self.name}>"


def _name_of(fn: Any) -> str:
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    if module == "numpy" or (not module and type(fn).__name__ == "ufunc"):
        return f"np.{name}"
    if module.startswith("numpy."):
        sub = module.split(".")[1]
        prefix = "np." if sub.startswith("_") or sub == "core" else f"np.{sub}."
        return prefix + name
    return name


PRIMITIVES: dict[Any, Primitive] = {}


def register(fn: Any, prim: Primitive) -> Primitive:
    """Record ``prim`` as the way to differentiate ``fn`` (replacing any earlier rule).

    Every listener is told (:meth:`Listener.registered`), so that a tool which wraps the
    records (the profiler) wraps this one too.
    """
    PRIMITIVES[fn] = prim
    for listener in tuple(_LISTENERS):
        listener.registered(prim)
    return prim


def lookup(fn: Any) -> Primitive | None:
    """The primitive registered for ``fn``, or ``None``."""
    return PRIMITIVES.get(fn)


# How writing into a tracked Tensor is recorded (copy-on-write, ``inplace.py``): NumPy
# functions that write into an argument (``np.put``, ``np.copyto`` ...) map to the function that
# records the same update, and the Tensor's own in-place syntax is found under how it is written
# (``"x[...] = v"``, ``"x op= y"``, ``"x.sort()"``, ``"x.partition()"``). ``tensor.py`` looks the
# writers up here so that it need not import ``inplace.py``; a NumPy function without an entry
# is refused on tracked values like any other function without a gradient rule.
IN_PLACE: dict[Any, Callable[..., Any]] = {}


# ----------------------------------------------------------------------------------------
# Listeners: how tools follow the registry without the core knowing them
# ----------------------------------------------------------------------------------------


class Listener:
    """What a tool hears from the registry; each method does nothing unless overridden."""

    def registered(self, prim: Primitive) -> None:
        """``prim`` was just registered (a rule defined, or replaced, at run time)."""

    def missing_rule(self, name: str) -> bool:
        """Function ``name`` has no gradient rule and was reached on a tracked value.

        Return True to have it computed on plain values (its result is then a constant)
        instead of raising ``TypeError``: ``ag.check_differentiable`` lists such functions.
        """
        return False


_LISTENERS: list[Listener] = []  # empty unless a tool is active: registering pays one test


def add_listener(listener: Listener) -> None:
    """Start telling ``listener`` about registrations and missing rules."""
    _LISTENERS.append(listener)


def remove_listener(listener: Listener) -> None:
    """Stop telling ``listener`` (nothing happens if it was not listening)."""
    for i in range(len(_LISTENERS) - 1, -1, -1):
        if _LISTENERS[i] is listener:
            del _LISTENERS[i]
            return


def missing_rule(name: str) -> bool:
    """True when a listener accepts computing ``name`` without a gradient (see ``Listener``)."""
    return any([listener.missing_rule(name) for listener in tuple(_LISTENERS)])  # all hear it

