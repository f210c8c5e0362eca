"""Tapes, the recording stack and the backward sweep.

Owns the Tape, this thread's stack of recording tapes, freezing saved arrays, ``unbroadcast``
and the one reverse loop of the backward pass. Does not own the nodes' type or how a call
records (``tensor.py``), nor copy-on-write (``inplace.py``).

How differentiation works, in four steps:

1. ``diff`` pushes a new :class:`Tape` on this thread's stack of active tapes. Its *level* is
   its position in the stack (1 for the outermost).
2. While it is active, every primitive called with a tracked argument appends one node to the
   innermost tape among those its arguments are tracked on. A node *is* the ``Result`` the
   primitive returns: it holds the output value, the primitive, the argument values and the
   ``parents`` tuple (aligned with the arguments: the node of each tracked argument, ``None``
   for constants). A ``Param`` is tracked on every active tape; the first time a tape meets
   one it adds a leaf node for it.
3. Argument values are unwrapped *one level only*: on tape ``k`` a value may itself be a
   Tensor tracked on an outer tape ``j < k``. Calling the primitive on those values records it
   on tape ``j`` too, so the forward pass of tape ``k`` is data on tape ``j``, and so is its
   backward pass: gradient rules run with the same values, which is what makes gradients of
   gradients work, and what keeps the levels apart (no perturbation confusion).
4. The backward sweep is one reverse loop over the node list, which is in creation order and
   so already topologically sorted. Each node with an incoming gradient calls its rules, fits
   each result to its parent's shape and dtype (:func:`unbroadcast`) and adds it to the parent.
   No recursion, so chains of any length work; a node's gradient and saved arguments are
   released as soon as the loop is past it.

Two invariants keep saved arrays intact while recording. In-place updates of tracked values
(``x[i] = v``, ``x += y``) are recorded copy-on-write (see ``inplace.py``), and the plain NumPy
arrays a tape saves (constant arguments, the values of Params and of the function interface's
arguments) are made read-only (:func:`freeze`) until the outermost recording stops, when their
``writeable`` flags are restored exactly as they were.

A gradient may be :class:`~minitorch_ag.sparse.Sparse` (rows looked up from a large array): the
sweep keeps it sparse when it reaches a leaf, adds it to other gradients (sparse + sparse stays
sparse, sparse + dense is dense) and densifies it before it reaches any other node's rules.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

import numpy as np

from .backend import array_module
from .sparse import Sparse

__all__ = ["Tape", "recording", "active_tapes", "backward", "unbroadcast", "freeze"]


class _State(threading.local):
    """Per-thread recording state: two threads differentiating at once never share tapes.

    ``frozen`` maps ``id(array)`` to ``(array, depth)`` for every ndarray :func:`freeze` made
    read-only (``depth``: how many views deep it is, so that bases are thawed first); arrays
    that were read-only already are kept with depth ``-1`` and left alone.
    """

    def __init__(self) -> None:
        self.stack: list[Tape] = []
        self.frozen: dict[int, tuple[np.ndarray, int]] = {}


STATE = _State()


def recording() -> bool:
    """True while a ``diff`` is running in this thread (layers such as dropout use it).

    Example:
        >>> import minitorch_ag as ag
        >>> ag.recording()
        False
    """
    return bool(STATE.stack)


def active_tapes() -> tuple[Tape, ...]:
    """This thread's active tapes, outermost first."""
    return tuple(STATE.stack)


class TapeMark:
    """The identity of a tape, which its nodes hold instead of the tape itself.

    A node that held its tape would make a reference cycle (the tape holds its nodes), and
    only the cyclic garbage collector could then free a dropped tape; with marks, reference
    counting frees a tape and all its arrays as soon as the last reference to it goes.
    """

    __slots__ = ("level",)

    def __init__(self, level: int) -> None:
        self.level = level


class Tape:
    """The record of one ``diff``: its nodes in creation order, its result and its gradients.

    ``value(tape)`` is the result; ``grad(tape, p)`` the gradient of the result with respect to
    a ``Param`` ``p``. The backward sweep runs the first time a gradient is asked for.
    """

    __slots__ = ("nodes", "level", "mark", "leaves", "moved", "renamed", "frozen", "result",
                 "value", "swept", "__weakref__")

    def __init__(self, level: int) -> None:
        self.nodes: list[Any] = []
        self.level = level
        self.mark = TapeMark(level)
        self.leaves: dict[int, Any] = {}  # id(param) -> its leaf node on this tape
        # moved: id(node) -> Tensor, for the nodes an in-place update moved out of the Tensor
        # object the program holds, which now stands for the updated value (inplace.update);
        # renamed: id(that Tensor) -> the moved node, for the function interface's arguments,
        # whose gradient is read from their leaf.
        self.moved: dict[int, Any] = {}
        self.renamed: dict[int, Any] = {}
        self.frozen = STATE.frozen  # this recording's read-only arrays (see freeze), by id
        self.result: Any = None  # the node of the result, None when it is a constant
        self.value: Any = None
        self.swept = False

    def __repr__(self) -> str:
        v = self.value
        text = str(v) if isinstance(v, (int, float, complex, np.generic)) else repr(v)
        return f"T({text})"

    def __float__(self) -> float:
        return float(self.value)

    def __getattr__(self, name: str) -> Any:
        # Reached only for names the class lacks: a PyTorch habit gets a pointer to our way.
        if name in ("backward", "grad", "zero_grad"):
            raise AttributeError(
                f"Tape has no {name}: minitorch_ag runs the backward pass when a gradient is "
                f"asked for. Call grad(tape, p) for each Param p (ag.params(tape) lists them; "
                f"optim.update_ or the training loops such as optim.adam do it for a model)")
        raise AttributeError(f"'Tape' object has no attribute {name!r}")

    def item(self) -> Any:
        """The result as a Python number."""
        return self.value.item() if hasattr(self.value, "item") else self.value

    def is_live(self) -> bool:
        """True while this tape is recording in the calling thread."""
        stack = STATE.stack
        lvl = self.level
        return lvl <= len(stack) and stack[lvl - 1] is self


def push_tape() -> Tape:
    """Start recording on a new innermost tape."""
    stack = STATE.stack
    tape = Tape(len(stack) + 1)
    stack.append(tape)
    _pause_gc()
    return tape


def pop_tape(tape: Tape) -> None:
    """Stop recording on ``tape`` (and on any inner tape an exception left behind).

    When the outermost tape stops, the arrays frozen while recording are writable again.
    """
    _resume_gc()
    stack = STATE.stack
    while stack:
        if stack.pop() is tape:
            break
    if not stack and STATE.frozen:
        _thaw()


# ----------------------------------------------------------------------------------------
# Read-only saved arrays
# ----------------------------------------------------------------------------------------


def freeze(a: np.ndarray) -> None:
    """Make ndarray ``a``, and the arrays it is a view of, read-only while anything records.

    A tape saves the arrays it is given: writing into one later (``r *= 2`` after ``x * r``,
    ``p.value *= 2`` inside ``diff``) would silently change the gradient, so NumPy refuses
    the write instead ("assignment destination is read-only"). Each array is handled once per
    recording; the flags come back as they were when the outermost recording stops.
    """
    frozen = STATE.frozen
    if id(a) in frozen:
        return
    chain = []
    while isinstance(a, np.ndarray) and id(a) not in frozen:
        chain.append(a)
        a = a.base
    for depth, arr in enumerate(reversed(chain)):
        flags = arr.flags
        if flags.writeable:
            flags.writeable = False
            frozen[id(arr)] = (arr, depth)
        else:
            frozen[id(arr)] = (arr, -1)


def _thaw() -> None:
    """Restore the ``writeable`` flags :func:`freeze` cleared, bases before their views."""
    frozen = STATE.frozen
    STATE.frozen = {}
    for arr, depth in sorted(frozen.values(), key=lambda item: item[1]):
        if depth >= 0:
            arr.flags.writeable = True


# While anything records, Python's cyclic garbage collector is paused. A tape holds no
# reference cycles (see TapeMark), so reference counting alone frees it; but each node is an
# object the collector tracks, and its full collections, triggered as a long tape grows, walk
# every node again and again: the cost per operation would grow with the length of the chain.
# Cyclic garbage the user's code makes while recording is collected once recording stops.
_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


def _pause_gc() -> None:
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1


def _resume_gc() -> None:
    global _gc_pauses
    with _gc_lock:
        _gc_pauses -= 1
        if _gc_pauses == 0 and _gc_was_enabled:
            gc.enable()


# ----------------------------------------------------------------------------------------
# Fitting a gradient to its argument
# ----------------------------------------------------------------------------------------

_ndarray = np.ndarray


def _shape(x: Any) -> tuple[int, ...]:
    shape = getattr(x, "shape", None)
    return () if shape is None else tuple(shape)


def unbroadcast(dx: Any, like: Any, who: Any = None, position: int = 0) -> Any:
    """Fit gradient ``dx`` to the shape and dtype of the argument value ``like``.

    Sums over the axes that broadcasting added or stretched, broadcasts a gradient a rule left
    smaller (``sum``'s rule returns ``dy`` with the reduced axes kept), and casts to the
    argument's float dtype so that a float32 parameter gets a float32 gradient.
    """
    if type(dx) is _ndarray and type(like) is _ndarray and dx.shape == like.shape:
        if dx.dtype == like.dtype or like.dtype.kind not in "fc":
            return dx
        return dx.astype(like.dtype)
    return _unbroadcast_general(dx, like, who, position)


def _unbroadcast_general(dx: Any, like: Any, who: Any, position: int) -> Any:
    if dx.__class__ is Sparse:  # a row-sparse gradient of the whole argument stays sparse
        if dx.shape != _shape(like):
            dx = dx.to_dense()
        else:
            dtype = getattr(like, "dtype", None)
            if dtype is not None and dtype.kind in "fc" and dx.dtype != dtype:
                dx = dx.astype(dtype)
            return dx
    target = _shape(like)
    have = _shape(dx)
    if have != target:
        try:
            full = np.broadcast_shapes(have, target)
        except ValueError:
            name = getattr(who, "name", "a primitive")
            raise ValueError(
                f"{name}: the gradient rule for argument {position} returned shape {have}, "
                f"which does not fit the argument's shape {target}"
            ) from None
        if full != have:
            dx = np.broadcast_to(dx, full)
        lead = len(full) - len(target)
        if lead:
            dx = np.sum(dx, axis=tuple(range(lead)))
        axes = tuple(i for i, n in enumerate(target) if n == 1 and full[lead + i] != 1)
        if axes:
            dx = np.sum(dx, axis=axes, keepdims=True)
    dtype = getattr(like, "dtype", None)
    if dtype is not None and dtype.kind in "fc" and getattr(dx, "dtype", dtype) != dtype:
        dx = dx.astype(dtype)
    return dx


# ----------------------------------------------------------------------------------------
# The backward sweep
# ----------------------------------------------------------------------------------------


def _add_grad(node: Any, dx: Any, owned: set[int]) -> None:
    """Accumulate ``dx`` into ``node.outgrad``, copying only when it must.

    The first gradient is stored as it is (it may be shared with another node, so it is never
    written to). The second is added into a new array, which the sweep then owns (``owned``
    holds the ids of such nodes), so that the third and later ones are added in place.
    """
    old = node.outgrad
    if old is None:
        node.outgrad = dx
    elif id(node) in owned:
        if dx.__class__ is Sparse:
            dx.add_to_(old)
        else:
            old += dx
    else:
        total = old + dx
        node.outgrad = total
        if type(total) is _ndarray or array_module(total) is not np:
            owned.add(id(node))


def seed_like(v: Any) -> Any:
    """The gradient of a raw result value with respect to itself: ones, in a float dtype."""
    xp = array_module(v)
    kind = getattr(getattr(v, "dtype", None), "kind", "f")
    return xp.ones_like(v, dtype=None if kind in "fc" else float)


def _position(nodes: list[Any], node: Any) -> int:
    for i in range(len(nodes) - 1, -1, -1):
        if nodes[i] is node:
            return i
    raise ValueError(
        f"backward: a seed node (shape {_shape(node.value)}) is not on this tape: it was "
        f"recorded by another diff, or this tape's backward pass already released it; seed "
        f"only the tape's own result or outputs"
    )


def backward(tape: Tape, seeds: list[tuple[Any, Any]], retain: bool = False) -> None:
    """Sweep ``tape`` backwards from ``seeds`` (pairs of node and incoming gradient).

    Leaves keep their gradients in ``outgrad``. Unless ``retain`` is set, every other node
    drops its gradient, its saved arguments and its place on the tape as soon as the sweep is
    past it; with ``retain`` the tape can be swept again (``vjp``'s pullback does so).
    """
    nodes = tape.nodes
    if retain:
        for n in nodes:
            n.outgrad = None
    owned: set[int] = set()  # nodes whose gradient is an array this sweep made (see _add_grad)
    start = -1
    for node, dy in seeds:
        if dy is None:
            continue
        _add_grad(node, dy, owned)
        start = max(start, _position(nodes, node))
    ndarray = _ndarray
    for i in range(start, -1, -1):
        node = nodes[i]
        prim = node.prim
        if prim is None:  # a leaf: keeps its gradient
            continue
        g = node.outgrad
        if g is not None:
            if prim is ITEM or prim.grad_all is not None or type(g) is list:
                _propagate_special(node, prim, g, owned)
            else:
                # The common case, inlined: one rule per tracked argument.
                args = node.args
                kwargs = node.kwargs
                y = node.value
                rules = prim.grads
                for pos, parent in enumerate(node.parents):
                    if parent is None:
                        continue
                    try:
                        rule = rules[pos]
                    except IndexError:  # a rule left out: no gradient (AutoGrad.jl's omitted one)
                        continue
                    if rule is None:
                        continue
                    dx = rule(g, y, *args, **kwargs) if kwargs else rule(g, y, *args)
                    if dx is None:
                        continue
                    if dx is g and parent.prim is None and hasattr(dx, "copy"):
                        dx = dx.copy()  # a leaf keeps its gradient: never share it
                    pv = parent.value
                    if not (type(dx) is ndarray and type(pv) is ndarray
                            and dx.shape == pv.shape and dx.dtype is pv.dtype):
                        dx = unbroadcast(dx, pv, prim, pos)
                        if dx.__class__ is Sparse and parent.prim is not None:
                            dx = dx.to_dense()  # only leaves keep sparse gradients
                    if parent.outgrad is None:
                        parent.outgrad = dx
                    else:
                        _add_grad(parent, dx, owned)
            if owned:
                owned.discard(id(node))  # the node is done: its id may be reused from now on
        if not retain:
            node.outgrad = node.args = node.parents = None
            nodes[i] = None
    tape.swept = True


def _propagate_special(node: Any, prim: Any, g: Any, owned: set[int]) -> None:
    """Backward through a multi-output primitive, one of its outputs, or a variadic one."""
    parents = node.parents
    args = node.args
    y = node.value
    if prim is ITEM:  # an output of a multi-output primitive: fill its slot in the tuple
        source = parents[0]
        k = args[1]
        slots = source.outgrad
        if slots is None:
            slots = source.outgrad = [None] * len(source.value)
        slots[k] = g if slots[k] is None else slots[k] + g
        return
    if type(g) is list:  # a primitive with several outputs gets a tuple
        g = tuple(g)
    kwargs = node.kwargs
    if prim.grad_all is not None:
        grads = prim.grad_all(g, y, *args, **kwargs)
    else:
        grads = [None] * len(parents)
        for pos, parent in enumerate(parents):
            if parent is not None and pos < len(prim.grads):  # rules left out: no gradient
                rule = prim.grads[pos]
                if rule is not None:
                    grads[pos] = rule(g, y, *args, **kwargs)
    for pos, parent in enumerate(parents):
        dx = grads[pos]
        if parent is not None and dx is not None:
            if dx is g and parent.prim is None and hasattr(dx, "copy"):
                dx = dx.copy()
            dx = unbroadcast(dx, parent.value, prim, pos)
            if dx.__class__ is Sparse and parent.prim is not None:
                dx = dx.to_dense()
            _add_grad(parent, dx, owned)


class _Item:
    """Marker primitive of the nodes that pick one output of a multi-output primitive."""

    __slots__ = ()
    name = "getindex"
    grads = ()
    grad_all = None
    zerograd = False
    ufunc = False
    adapter = None

    def __repr__(self) -> str:
        return "<output of a multi-output primitive>"


ITEM = _Item()
