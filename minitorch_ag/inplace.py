"""Copy-on-write: how an in-place update of a tracked Tensor is recorded.

Owns :func:`update` and the in-place writers of the Tensor's own syntax (``x[i] = v``,
``x += y``, ``x.sort()``, ``x.partition()``); ``rules/indexing.py`` adds those of NumPy's
writing functions (``np.put``, ``np.copyto`` ...) through :func:`minitorch_ag.primitive.in_place`.
Does not own the Tensor types or the recording call (``tensor.py``), nor the tape
(``tape.py``). ``tensor.py`` never imports this module: it finds the writers in the registry
(``registry.IN_PLACE``), where importing this module puts them, so no import cycle forms.

While recording, an in-place update of a tracked Tensor is recorded copy-on-write by
:func:`update`: the new value is computed into a new array by a primitive, the node state of
the old value moves into a fresh ``Result`` that the earlier nodes are re-pointed to, and the
Python object ``x`` takes the new node's state. Nothing the tape saved is overwritten, and
``x`` stands for the new value afterwards.
"""

from __future__ import annotations

import gc
import operator
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from . import tensor as _tensor
from .registry import IN_PLACE, PRIMITIVES
from .tape import ITEM, STATE, Tape
from .tensor import (
    _NOKW,
    Param,
    Result,
    Tensor,
    _describe,
    _new_result,
    astype,
    dispatch,
    peel,
    raw,
)

__all__ = ["update"]

_ndarray = np.ndarray


# ----------------------------------------------------------------------------------------
# The writers of the Tensor's own in-place syntax (tensor.py calls them while recording)
# ----------------------------------------------------------------------------------------


def _setitem(x: Tensor, index: Any, v: Any) -> None:
    """``x[index] = v`` while recording, with ``x`` or ``v`` tracked."""
    if _is_own_view(x, index, v):
        return  # x[i] = x[i], the last step of x[i] += y (see update): nothing changes
    setitem = PRIMITIVES[operator.setitem]
    update(x, lambda t: _tensor.call(setitem, (t, index, v)), "x[...] = v", index)


def _operator(x: Tensor, y: Any, ufunc: np.ufunc, what: str) -> None:
    """``x op= y`` while recording: ``x`` becomes ``x op y``, cast to ``x``'s dtype."""
    prim = PRIMITIVES[ufunc]
    name = f"np.{ufunc.__name__}"
    update(x, lambda t: _same_kind(_tensor.call(prim, (t, y), _NOKW), t, name), what)


def _sort(x: Tensor, axis: int, kind: Any, order: Any) -> None:
    """``x.sort()`` while recording: ``x`` becomes ``np.sort(x)``."""
    update(x, lambda t: dispatch(np.sort, (t,), _kw(axis=axis, kind=kind, order=order)),
           "x.sort()")


def _partition(x: Tensor, kth: Any, axis: int, order: Any) -> None:
    """``x.partition(kth)`` while recording: ``x`` becomes ``np.partition(x, kth)``."""
    update(x, lambda t: dispatch(np.partition, (t, kth), _kw(axis=axis, order=order)),
           "x.partition()")


IN_PLACE.update({"x[...] = v": _setitem, "x op= y": _operator, "x.sort()": _sort,
                 "x.partition()": _partition})


# ----------------------------------------------------------------------------------------
# Copy-on-write
# ----------------------------------------------------------------------------------------


def _kw(**kwargs: Any) -> dict[str, Any]:
    """The keyword arguments that are not ``None`` (NumPy's defaults)."""
    return {k: v for k, v in kwargs.items() if v is not None}


def _same_kind(new: Any, x: Any, name: str) -> Any:
    """``new`` cast to ``x``'s dtype, as NumPy's ``out=`` does with ``casting='same_kind'``."""
    have, want = np.result_type(raw(new)), np.result_type(raw(x))
    if have == want:
        return new
    if not np.can_cast(have, want, "same_kind"):
        raise TypeError(
            f"{name}: cannot cast the result from {have} to the dtype {want} of the Tensor "
            f"updated in place (casting rule 'same_kind')"
        )
    return _tensor.call(PRIMITIVES[astype], (new, want), _NOKW)


def _is_own_view(x: Tensor, index: Any, v: Any) -> bool:
    """True when ``v`` is the live view ``x[index]`` (so ``x[index] = v`` changes nothing)."""
    if not (isinstance(v, Result) and v.prim is PRIMITIVES.get(operator.getitem)
            and v.parents and v.parents[0] is x):
        return False
    other = v.args[1]
    if other is index:
        return True
    try:
        return type(other) is type(index) and bool(other == index)
    except (ValueError, TypeError):  # indices holding arrays: compare no further
        return False


def update(x: Tensor, compute: Callable[[Tensor], Any], what: str, index: Any = Ellipsis) -> None:
    """Record an in-place update of ``x`` as copy-on-write: ``x`` then stands for ``compute(x)``.

    ``compute`` builds the new value from ``x`` with recorded primitives (a fresh array: nothing
    is written into an array the tape holds). The node state of the old value moves into a
    new ``Result`` that the tape and every later node refer to instead of ``x``, and ``x``
    takes over the state of the new node, so that the Python object ``x`` is the new value and
    gradients reach the old value (and whatever ``compute`` wrote into it) as usual.

    NumPy semantics that copy-on-write could not reproduce are refused with a ``TypeError``:
    writing into a ``Param`` (a leaf, as PyTorch refuses), into a Tensor tracked on an outer
    ``diff`` while an inner one records, into a view of another tracked array other than a
    slice (NumPy would write through to that array; for ``t = x[i]`` views the update is
    written back into ``x``), and into ``x`` while a view of it that the program still holds
    would have to change too.

    Args:
        x: the Tensor updated in place.
        compute: ``x -> new value`` (a Result on ``x``'s tape with ``x``'s shape and dtype).
        what: how the update is written, for error messages (``"x[...] = v"``).
        index: the part of ``x`` that changes (all of it by default): views of ``x`` that the
            program holds must not overlap it.
    """
    stack = STATE.stack
    if isinstance(x, Param):
        raise TypeError(
            f"{what}: x is a Param ({_describe(x)}), a leaf that diff differentiates with "
            f"respect to; it cannot be updated in place while recording (PyTorch refuses this "
            f"too). Update a copy (y = np.copy(x); y[...] = v), or update x.value outside diff"
        )
    live = peel(x)
    if not isinstance(live, Result):
        raise TypeError(
            f"{what}: x ({_describe(x)}) is a constant to the recording tape (the result of a "
            f"finished diff), and the value written into it is tracked: its gradient would be "
            f"lost. Make x a tracked value first (x = np.copy(x) inside diff), or write "
            f"ag.value(...) into it"
        )
    tape = stack[-1]
    if live is not x or x.mark is not tape.mark:
        raise TypeError(
            f"{what}: x ({_describe(x)}) is tracked by an outer diff while an inner diff is "
            f"recording; updating it in place there cannot be recorded. Update it before the "
            f"inner diff starts, or update a copy (y = np.copy(x))"
        )
    write_back = _view_parent(x, tape, what)
    new = compute(x)
    if not (isinstance(new, Result) and new.mark is tape.mark):
        raise TypeError(f"{what}: the updated value is not tracked on the recording tape")
    if np.shape(raw(new)) != np.shape(raw(x)):
        raise ValueError(
            f"{what}: the result has shape {np.shape(raw(new))}, but x has shape "
            f"{np.shape(raw(x))}; an in-place update cannot change the shape"
        )
    _become(x, new, tape, what, index)
    if write_back is not None:
        parent, where = write_back
        parent[where] = x  # NumPy writes through a slice into the array it views ...
        _become(x, _tensor.call(PRIMITIVES[operator.getitem], (parent, where)), tape, what)
        # ... and x stays a view of it, so that the next update of x writes through too


def _view_parent(x: Result, tape: Tape, what: str) -> tuple[Result, Any] | None:
    """For ``x`` a view of another tracked array: ``(that node, index)`` when ``x`` came from
    slicing it (the update is written back), else a TypeError. ``None`` when ``x`` is no view.
    """
    v = raw(x.value)
    if x.prim is None or getattr(v, "base", None) is None:
        return None
    if x.prim is ITEM:
        raise TypeError(
            f"{what}: x ({_describe(x)}) is a view of another array (one output of "
            f"{x.parents[0].prim.name}); NumPy would write through to it, which cannot be "
            f"recorded. Update a copy: x = np.copy(x)"
        )
    for pos, p in enumerate(x.parents):
        if p is None or not np.may_share_memory(v, raw(p.value)):
            continue
        if x.prim is PRIMITIVES.get(operator.getitem) and pos == 0:
            # The array x views may have been updated since (in a part x does not overlap,
            # or x would have been refused there): write into its current value.
            p = tape.moved.get(id(p), p)
            if p.prim is None and p.args:
                raise TypeError(
                    f"{what}: x ({_describe(x)}) is a view of a Param (x = p[...]); writing into "
                    f"it would write into the Param, a leaf that cannot be updated in place "
                    f"while recording. Update a copy: x = np.copy(x)"
                )
            return p, x.args[1]
        raise TypeError(
            f"{what}: x ({_describe(x)}) is a view of another tracked array (it came from "
            f"{x.prim.name}); NumPy would write through to that array too, which cannot be "
            f"recorded. Update a copy (x = np.copy(x)), or update the array it views"
        )
    return None


def _become(x: Result, new: Result, tape: Tape, what: str, index: Any = Ellipsis) -> None:
    """Move ``x``'s node state into a fresh Result and give ``x`` the state of ``new``.

    Refuses (before changing anything) when a view of ``x[index]`` recorded since ``x`` is
    still held by the program: NumPy would change it too.
    """
    nodes = tape.nodes
    i = len(nodes) - 1
    while nodes[i] is not x:
        i -= 1
    xv = raw(x.value)
    base = getattr(xv, "base", None)
    base = xv if base is None else base
    written = xv
    parts = index if type(index) is tuple else (index,)
    if xv.__class__ is _ndarray and not any(getattr(part, "ndim", 0) for part in parts):
        # a basic index: the view of the part written (a trailing ... keeps it a view)
        written = xv[parts if any(part is Ellipsis for part in parts) else (*parts, ...)]
    old = _new_result(Result)
    users: list[int] = []  # positions of the nodes that have x among their parents
    views: list[int] = []  # positions of the nodes whose value is a view of the part written
    for j in range(i + 1, len(nodes)):
        n = nodes[j]
        for p in n.parents:
            if p is x:
                users.append(j)
        if n is new or id(n) in tape.moved:
            continue
        v = raw(n.value)
        if (v.__class__ is _ndarray and v.base is not None and (v.base is base or v.base is xv)
                and np.may_share_memory(v, written)):
            views.append(j)
    n = p = v = written = None
    for j in views:
        held = _held_by_program(tape, j)
        if held is not None:
            raise TypeError(
                f"{what}: another tracked value ({_describe(held)}, from {held.prim.name}) is a "
                f"view of x; NumPy would change it too, which copy-on-write cannot record. "
                f"Copy the view first (np.copy), or drop it (del) before updating x"
            )
    for slot in _RESULT_SLOTS:
        setattr(old, slot, getattr(x, slot))
    nodes[i] = old
    for j in users:
        n = nodes[j]
        n.parents = tuple(old if p is x else p for p in n.parents)
    tape.moved[id(old)] = x  # the object that now holds the updated value
    if x.prim is None and not x.args:  # an argument of the function interface: its leaf
        tape.renamed[id(x)] = old
    for slot in _RESULT_SLOTS:
        setattr(x, slot, getattr(new, slot))
    new.args = new.parents = None
    k = len(nodes) - 1
    while nodes[k] is not new:
        k -= 1
    nodes[k] = x


_RESULT_SLOTS = ("value", "mark", "prim", "args", "kwargs", "parents", "outgrad")


def _held_by_program(tape: Tape, j: int) -> Result | None:
    """The node at ``tape.nodes[j]`` if the program still refers to it, else ``None``.

    Asked without reference counts: every reference the tape has to the node (its place in the
    list, later nodes' parents, ``tape.moved``/``tape.renamed``) moves to a copy of it, and a
    weak reference tells whether the node outlived that (after a collection, for Pythons
    whose collector is not immediate). If it did, the program holds it: the tape's
    references move back and the node is returned. If not, the copy takes its place for good.
    """
    node = tape.nodes[j]
    copy = _new_result(Result)
    for slot in _RESULT_SLOTS:
        setattr(copy, slot, getattr(node, slot))
    _repoint(tape, j, node, copy)
    ref = weakref.ref(node)
    node = None
    if ref() is not None:
        gc.collect()
    node = ref()
    if node is None:
        return None
    _repoint(tape, j, copy, node)
    return node


def _repoint(tape: Tape, j: int, old: Result, new: Result) -> None:
    """Make the tape refer to ``new`` wherever it referred to node ``old`` (at position ``j``)."""
    nodes = tape.nodes
    nodes[j] = new
    for k in range(j + 1, len(nodes)):
        parents = nodes[k].parents
        if parents and any(p is old for p in parents):
            nodes[k].parents = tuple(new if p is old else p for p in parents)
    for table in (tape.moved, tape.renamed):
        for key, held in table.items():
            if held is old:
                table[key] = new
