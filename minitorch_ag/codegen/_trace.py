"""Tracing one call: the forward pass and its pullback, recorded as one list of primitives.

How a trace is taken (the recording machinery of ``tape.py``, used twice over):

1. An outer tape ``T1`` starts, and each differentiable argument becomes a leaf on it (a copy
   of the argument, so that a captured array and ``ag.value(arg)`` can be told apart later).
2. An inner tape ``T2`` starts with leaves whose values are the ``T1`` leaves, and ``f`` runs.
   Every primitive is recorded on ``T2``; its argument values are ``T1`` Tensors, so it is
   recorded on ``T1`` too (this is how gradients of gradients work, see ``tape.py``).
3. ``T2`` stops, and its backward sweep runs from cotangents that are ``T1`` leaves: the
   gradient rules compute with ``T1`` Tensors, so every step of every rule (and every
   unbroadcast sum and accumulation) is recorded on ``T1`` as well.
4. ``T1``'s node list is then the whole program, forward then backward, one primitive per node,
   in execution order: ``_emit.py`` writes it out as Python source.

While tracing, three things are switched in and restored afterwards (under a lock: one trace at
a time): piecewise-constant primitives (comparisons, ``floor``, ``argmax`` ...) are recorded
instead of computed on plain values, so that a mask or a branch condition is code, not a frozen
constant; ``bool()``, ``int()`` and ``operator.index()`` of a tracked value record a guard (the
branch the trace took); and the node lists record where each node came from (the user's line,
or the gradient rule of which primitive). The switches are process-wide: another thread that
records while a trace runs sees them too (the docs say so).
"""

from __future__ import annotations

import linecache
import os
import pickle
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import api, walk
from .. import tape as tape_mod
from ..backend import array_module, is_array
from ..registry import PRIMITIVES, Primitive
from ..tape import ITEM, backward, pop_tape, push_tape, seed_like
from ..tensor import Param, Result, Tensor, call, new_leaf, node_on, peel, raw

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__))
_BACKWARD_CODES = {tape_mod.backward.__code__, tape_mod._propagate_special.__code__}
_ACCUMULATE_CODES = {tape_mod._add_grad.__code__, tape_mod.unbroadcast.__code__,
                     tape_mod._unbroadcast_general.__code__}

# Piecewise-constant primitives whose results are recorded while tracing: each returns an array
# (or a tuple of arrays) computed from its arguments' values, so it can be code in the
# generated source. The others (np.shape, np.zeros_like, ...) depend on shapes and dtypes only,
# which the guards fix, so their results are constants of the trace.
_RECORDED_ZEROGRAD = {
    "np.less", "np.less_equal", "np.greater", "np.greater_equal", "np.equal", "np.not_equal",
    "np.logical_and", "np.logical_or", "np.logical_not", "np.logical_xor", "np.bitwise_and",
    "np.bitwise_or", "np.bitwise_xor", "np.invert", "np.floor_divide", "np.floor", "np.ceil",
    "np.trunc", "np.fix", "np.rint", "np.round", "np.around", "np.sign", "np.signbit",
    "np.isnan", "np.isinf", "np.isfinite", "np.isclose", "np.argmax", "np.argmin",
    "np.argsort", "np.all", "np.any", "np.count_nonzero", "np.searchsorted", "np.digitize",
    "np.isin", "np.nonzero", "np.flatnonzero", "np.argwhere",
}

_LOCK = threading.RLock()
_FUNCTIONS = (types.FunctionType, types.MethodType, types.BuiltinFunctionType)


def _no_grads(dy: Any, y: Any, *args: Any, **kwargs: Any) -> tuple[None, ...]:
    """The rule of a recorded piecewise-constant primitive: no argument gets a gradient."""
    return (None,) * len(args)


class Where:
    """Where a node of the trace came from: the user's line, or a gradient rule."""

    __slots__ = ("file", "line", "text", "rule_of", "position", "function")

    def __init__(self, file: str, line: int, text: str, rule_of: Any = None,
                 position: int | None = None, function: str = "") -> None:
        self.file = file
        self.line = line
        self.text = text
        self.rule_of = rule_of  # the inner-tape node whose rule made this one (backward)
        self.position = position
        self.function = function  # "f, line 2" where the source text cannot be read

    def label(self) -> str:
        """``file.py:12: the line's text``, or ``f, line 2`` for code without a file."""
        if self.text:
            return f"{os.path.basename(self.file)}:{self.line}: {self.text}"
        if self.function:
            return self.function
        return f"{os.path.basename(self.file)}:{self.line}"

    def short(self) -> str:
        """``file.py:12``, or ``f, line 2``."""
        if self.text or not self.function:
            return f"{os.path.basename(self.file)}:{self.line}"
        return self.function


class _NodeList(list):
    """A tape's node list that also records where each appended node came from.

    The inner tape's node for a primitive is appended just after the outer tape's node for the
    same call, so it reuses that location instead of walking the stack again.
    """

    def __init__(self, trace: Trace, inner: bool = False) -> None:
        super().__init__()
        self.trace = trace
        self.inner = inner

    def append(self, node: Any) -> None:
        super().append(node)
        trace = self.trace
        if self.inner and trace.last_where is not None:
            trace.where[id(node)] = trace.last_where
            return
        where = _locate(sys._getframe(1), trace.in_backward)
        trace.where[id(node)] = trace.last_where = where


def _user_frame(frame: Any) -> Any:
    while frame is not None:
        name = frame.f_code.co_filename
        if not (name.startswith(_PACKAGE_DIR) or name.startswith(_NUMPY_DIR)
                or name.startswith("<__array_function__")):
            return frame
        frame = frame.f_back
    return None


def _locate(frame: Any, in_backward: bool) -> Where | None:
    rule_of = None
    position = None
    f = frame if in_backward else None
    while f is not None:
        if f.f_code in _BACKWARD_CODES:
            local = f.f_locals
            rule_of = local.get("node")
            position = local.get("pos")
            break
        f = f.f_back
    if rule_of is not None:
        f = frame
        while f is not None and f.f_code not in _BACKWARD_CODES:
            if f.f_code in _ACCUMULATE_CODES:
                kind = "sum" if f.f_code.co_name == "_add_grad" else "fit"
                return Where("", 0, kind, rule_of, position)
            f = f.f_back
        # the rule's own line: the innermost frame in a rules file or a user's rule
        f = frame
        while f is not None and f.f_code not in _BACKWARD_CODES:
            name = f.f_code.co_filename
            if not (name.startswith(_NUMPY_DIR) or name.endswith(("tensor.py", "tape.py"))):
                return Where(name, f.f_lineno, "", rule_of, position)
            f = f.f_back
        return Where("", 0, "", rule_of, position)
    user = _user_frame(frame)
    if user is None:
        return None
    file, line = user.f_code.co_filename, user.f_lineno
    key = (user.f_code, line)
    where = _WHERE_CACHE.get(key)
    if where is None:
        code = user.f_code
        function = f"{code.co_name}, line {line - code.co_firstlineno + 1}"
        where = _WHERE_CACHE[key] = Where(file, line, linecache.getline(file, line).strip(),
                                          function=function)
        if len(_WHERE_CACHE) > 4096:
            _WHERE_CACHE.clear()
    return where


_WHERE_CACHE: dict[tuple[Any, int], Where] = {}


class Guard:
    """A branch decision the trace saw: ``kind(node) == outcome`` (``kind``: bool, int, index)."""

    __slots__ = ("node", "kind", "outcome", "where")

    def __init__(self, node: Any, kind: str, outcome: Any, where: Where | None) -> None:
        self.node = node
        self.kind = kind
        self.outcome = outcome
        self.where = where


class Trace:
    """One traced call: the program on tape ``T1``, its inputs, outputs, gradients and guards.

    Attributes:
        tape: the outer tape ``T1`` (its ``nodes`` are the program, in order).
        backward_start: the index in ``tape.nodes`` where the pullback's nodes begin.
        arg_leaves: ``(path, T1 leaf)`` for every differentiable argument leaf, where ``path``
            is ``(argument index, *container keys)``.
        param_leaves: ``(Param, T1 leaf)`` for every Param the call reached.
        cot_leaves: one ``T1`` leaf per output with a cotangent (``None`` where it has none).
        outputs: per output of ``f``, its ``T1`` node or a constant.
        several: ``f`` returned a tuple.
        arg_grads: ``(path, T1 node | constant | None)`` for each argument leaf.
        param_grads: ``(Param, T1 node | constant | None)`` for each Param reached.
        guards: the branch decisions (see ``Guard``).
        problems: reasons the trace cannot be replayed faithfully (empty when it can).
        where: ``id(node) -> Where`` for the nodes of both tapes.
    """

    def __init__(self) -> None:
        self.tape: Any = None
        self.backward_start = 0
        self.arg_leaves: list[tuple[tuple, Any]] = []
        self.param_leaves: list[tuple[Param, Any]] = []
        self.cot_leaves: list[Any] = []
        self.outputs: list[Any] = []
        self.out_type: Any = None
        self.several = False
        self.arg_grads: list[tuple[tuple, Any]] = []
        self.param_grads: list[tuple[Param, Any]] = []
        self.guards: list[Guard] = []
        self.problems: list[str] = []
        self.where: dict[int, Where | None] = {}
        self.inner_mark: Any = None
        self.in_backward = False
        self.last_where: Where | None = None
        # ids of the plain arrays f reaches (closure, globals, defaults): the code refers to
        # them by name, never copies their values, so in-place changes are seen on replay
        self.reachable: set[int] = set()


# ----------------------------------------------------------------------------------------
# Switches in effect while tracing
# ----------------------------------------------------------------------------------------

_ORIGINAL = {name: Tensor.__dict__[name] for name in ("__bool__", "__int__", "__index__")}
_CURRENT: list[Trace] = []


def _guarded(name: str, kind: str) -> Callable[[Any], Any]:
    original = _ORIGINAL[name]

    def conversion(self: Any) -> Any:
        outcome = original(self)
        if _CURRENT:
            _CURRENT[-1].note_guard(self, kind, outcome)
        return outcome

    conversion.__name__ = name
    return conversion


_GUARDED = {name: _guarded(name, kind) for name, kind in
            (("__bool__", "bool"), ("__int__", "int"), ("__index__", "index"))}


class _Switches:
    """Switch the tracing behaviour in (``__enter__``) and restore everything (``__exit__``)."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.replaced: list[tuple[Any, Primitive]] = []

    def __enter__(self) -> _Switches:
        _LOCK.acquire()
        _CURRENT.append(self.trace)
        for fn, prim in list(PRIMITIVES.items()):
            if prim.zerograd and prim.name in _RECORDED_ZEROGRAD:
                PRIMITIVES[fn] = Primitive(prim.fn, name=prim.name, grad_all=_no_grads,
                                           ufunc=prim.ufunc, adapter=prim.adapter)
                self.replaced.append((fn, prim))
        for name, fn in _GUARDED.items():
            setattr(Tensor, name, fn)
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            for name, fn in _ORIGINAL.items():
                setattr(Tensor, name, fn)
            for fn, prim in self.replaced:
                PRIMITIVES[fn] = prim
            _CURRENT.pop()
        finally:
            _LOCK.release()


def _t1_node(x: Any, trace: Trace) -> Any:
    """The node on ``T1`` that stands for tracked value ``x`` (``None`` when it is plain)."""
    mark = trace.tape.mark
    while isinstance(x, Tensor):
        if isinstance(x, Param):
            return trace.tape.leaves.get(id(x))
        if isinstance(x, Result) and x.mark is mark:
            return x
        x = x.value
    return None


def _note_guard(self: Trace, x: Any, kind: str, outcome: Any) -> None:
    node = _t1_node(x, self)
    if node is not None:
        self.guards.append(Guard(node, kind, outcome, _locate(sys._getframe(2), False)))


Trace.note_guard = _note_guard  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------------
# State the trace must leave alone: random generators and arrays reachable from f and args
# ----------------------------------------------------------------------------------------


def _reachable(roots: Any) -> tuple[list[np.random.Generator], list[np.ndarray], list[Any]]:
    """Generators, plain arrays and attribute-holding objects reachable from ``roots``."""
    gens: list[np.random.Generator] = []
    arrays: list[np.ndarray] = []
    objects: list[Any] = []
    seen: set[int] = set()
    todo = [roots]
    while todo:
        x = todo.pop()
        if id(x) in seen or x is None:
            continue
        seen.add(id(x))
        if isinstance(x, np.random.Generator):
            gens.append(x)
            continue
        if isinstance(x, Tensor):
            continue
        if is_array(x):
            if x.dtype != object:
                arrays.append(x)
            continue
        if walk.is_atom(x) or isinstance(x, tape_mod.Tape):
            continue
        if isinstance(x, types.FunctionType):
            todo.extend(referenced_globals(x))
            todo.extend(x.__defaults__ or ())
            todo.extend((x.__kwdefaults__ or {}).values())
        if isinstance(getattr(x, "__dict__", None), dict) and not isinstance(x, _FUNCTIONS):
            objects.append(x)
        todo.extend(v for _, v, _ in walk.children(x))
    return gens, arrays, objects


def referenced_globals(fn: types.FunctionType) -> list[Any]:
    """The global variables ``fn``'s code names (not modules, classes or builtins)."""
    if (fn.__module__ or "").startswith("minitorch_ag"):
        return []  # the library's own module state is not the user's function's state
    g = fn.__globals__
    out = []
    for name in fn.__code__.co_names:
        v = g.get(name)
        if v is not None and not isinstance(v, (types.ModuleType, type, threading.local)):
            out.append(v)
    return out


def _rng_state(state: Any) -> bytes:
    """A random generator's state as bytes (states hold arrays, which ``==`` cannot compare)."""
    return pickle.dumps(state)


def _fingerprint(obj: Any) -> tuple:
    d = getattr(obj, "__dict__", {})
    return tuple((k, id(v)) for k, v in d.items())


def _library_generators() -> list[np.random.Generator]:
    """The random generators the library's own modules keep (dropout's default one ...)."""
    out = []
    for name, module in list(sys.modules.items()):
        if name.startswith("minitorch_ag") and module is not None:
            out.extend(v for v in vars(module).values() if isinstance(v, np.random.Generator))
    return out


class _StateWatch:
    """Notices what a call changed outside its result: random states, arrays, attributes.

    It sees what ``f`` can reach: its closure, the globals it names, its default arguments,
    its arguments, and the library's own generators; state hidden anywhere else is not seen
    (the docs say so).
    """

    def __init__(self, roots: Any) -> None:
        self.gens, self.arrays, self.objects = _reachable(roots)
        known = {id(g) for g in self.gens}
        self.gens += [g for g in _library_generators() if id(g) not in known]
        self.global_rng = _rng_state(np.random.get_state())
        self.gen_states = [_rng_state(g.bit_generator.state) for g in self.gens]
        self.array_copies = [a.copy() for a in self.arrays]
        self.attrs = [_fingerprint(o) for o in self.objects]

    def changes(self) -> list[str]:
        out = []
        if _rng_state(np.random.get_state()) != self.global_rng:
            out.append("it draws random numbers from NumPy's global generator (np.random.*), "
                       "which a replay would not redraw")
        if any(_rng_state(g.bit_generator.state) != s for g, s in zip(self.gens, self.gen_states,
                                                          strict=True)):
            out.append("it draws random numbers from a np.random.Generator (dropout ...), "
                       "which a replay would not redraw")
        for a, c in zip(self.arrays, self.array_copies, strict=True):
            if a.shape != c.shape or not array_module(a).array_equal(a, c, equal_nan=a.dtype.kind
                                                                      in "fc"):
                out.append(f"it writes into an array it can reach (shape {a.shape}), a side "
                           f"effect a replay would not repeat (running statistics ...)")
                break
        for o, fp in zip(self.objects, self.attrs, strict=True):
            if _fingerprint(o) != fp:
                out.append(f"it sets an attribute of a {type(o).__name__} object, a side "
                           f"effect a replay would not repeat")
                break
        return out


# ----------------------------------------------------------------------------------------
# The trace itself
# ----------------------------------------------------------------------------------------


def _is_leaf(x: Any) -> bool:
    """An input of the generated code: a number or an array of any dtype (a boolean mask is
    an input too, never a constant frozen into the code)."""
    if isinstance(x, Tensor):
        return False
    return api._is_differentiable_leaf(x) or is_array(x)


def differentiable(x: Any) -> bool:
    """An input that gets a gradient (numbers and numeric arrays; not masks)."""
    return api._is_differentiable_leaf(x)


def _leaves_of(x: Any, path: tuple) -> list[tuple[tuple, Any]]:
    """Differentiable leaves of argument structure ``x`` with their paths."""
    if _is_leaf(x):
        return [(path, x)]
    if isinstance(x, dict):
        return [item for k, v in x.items() for item in _leaves_of(v, (*path, k))]
    if isinstance(x, (list, tuple)):
        return [item for k, v in enumerate(x) for item in _leaves_of(v, (*path, k))]
    return []


def _rebuild(x: Any, path: tuple, table: dict[tuple, Any]) -> Any:
    """``x`` with each differentiable leaf replaced by ``table[path]``."""
    if _is_leaf(x):
        return table[path]
    if isinstance(x, dict):
        return type(x)((k, _rebuild(v, (*path, k), table)) for k, v in x.items())
    if isinstance(x, tuple):
        items = [_rebuild(v, (*path, k), table) for k, v in enumerate(x)]
        return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
    if isinstance(x, list):
        return type(x)(_rebuild(v, (*path, k), table) for k, v in enumerate(x))
    return x


def _private_copy(v: Any) -> Any:
    """A copy of an argument leaf that no other object refers to (see the module docstring)."""
    if is_array(v):
        return v.copy()
    return v


def trace_call(f: Callable[..., Any], args: tuple, const: frozenset[int],
               seed_mask: tuple[bool, ...] | str | None = None,
               with_params: bool = False, opaque: set[str] | bool = False) -> Trace:
    """Trace ``f(*args)``: its forward pass, then its pullback from the outputs in ``seed_mask``.

    Args:
        f: the function.
        args: its arguments (arrays, numbers, containers of them, anything else as a constant).
        const: positions of arguments that get no gradient (they are inputs, not constants).
        seed_mask: which outputs get a cotangent (all when ``None``; ``"first"``: only the
            first, the loss of a training step whose other outputs are auxiliary).
        with_params: also differentiate with respect to the Params the call reaches.
        opaque: primitives (by name; ``True``: all) whose gradient rules are recorded as one
            call each, run on plain values on replay, instead of step by step (see
            ``opaque_rules``).

    Returns:
        The ``Trace``; ``trace.problems`` lists what makes it unfit for replay.
    """
    trace = Trace()
    watch = _StateWatch((f, args))
    with _Switches(trace):
        t1 = push_tape()
        trace.tape = t1
        t1.nodes = _NodeList(trace)
        try:
            table1: dict[tuple, Any] = {}
            for i, a in enumerate(args):
                for path, v in _leaves_of(a, (i,)):
                    leaf = new_leaf(_private_copy(v), t1)
                    trace.arg_leaves.append((path, leaf))
                    table1[path] = leaf
            t2 = push_tape()
            t2.nodes = _NodeList(trace, inner=True)
            trace.inner_mark = t2.mark
            try:
                # constant arguments are inputs of the program (T1 leaves) that T2 does not
                # differentiate: to f they are constants, as ag.vjp's const= makes them
                table2 = {path: new_leaf(leaf, t2) for path, leaf in table1.items()
                          if path[0] not in const and differentiable(leaf.value)}
                seen_by_f = {**table1, **table2}
                wrapped = tuple(_rebuild(a, (i,), seen_by_f) for i, a in enumerate(args))
                out = f(*wrapped)
                trace.several = isinstance(out, tuple)
                trace.out_type = type(out)
                outs = tuple(out) if trace.several else (out,)
                nodes2 = [node_on(o, t2) for o in outs]
            finally:
                pop_tape(t2)
            trace.outputs = [(n.value if n is not None else peel(o)) for n, o in
                             zip(nodes2, outs, strict=True)]
            trace.outputs = [_t1_node(o, trace) if isinstance(o, Tensor) else o
                             for o in trace.outputs]
            if seed_mask == "first":  # a training step: the loss, then auxiliary outputs
                mask = (True,) + (False,) * (len(outs) - 1)
            else:
                mask = seed_mask or (True,) * len(outs)
            trace.backward_start = len(t1.nodes)
            seeds = []
            for n, o, wanted in zip(nodes2, trace.outputs, mask, strict=True):
                if not wanted:
                    trace.cot_leaves.append(None)
                    continue
                value = raw(o) if o is not None else None
                cot = new_leaf(seed_like(value) if value is not None else 1.0, t1)
                trace.cot_leaves.append(cot)
                if n is not None:
                    seeds.append((n, cot))
            backward_start = len(t1.nodes)
            trace.in_backward = True
            if opaque:
                for node in t2.nodes:
                    prim = getattr(node, "prim", None)
                    if (prim is not None and prim is not ITEM
                            and (opaque is True or prim.name in opaque)):
                        node.prim = opaque_rules(prim)
            backward(t2, seeds)
            # leaves made above belong to the inputs, not to the pullback's code
            trace.backward_start = backward_start
            for path, leaf2 in table2.items():
                g = leaf2.outgrad
                trace.arg_grads.append((path, _as_t1(g, trace)))
            for i, leaf2 in _renamed_args(t2, table2):
                trace.arg_grads[i] = (trace.arg_grads[i][0], _as_t1(leaf2.outgrad, trace))
            for pid, leaf2 in t2.leaves.items():
                p = leaf2.args[0]
                trace.param_leaves.append((p, t1.leaves[pid]))
                if with_params:
                    trace.param_grads.append((p, _as_t1(leaf2.outgrad, trace)))
        finally:
            pop_tape(t1)
    trace.problems.extend(watch.changes())
    trace.reachable = {id(a) for a in watch.arrays}
    return trace


# ----------------------------------------------------------------------------------------
# Gradient rules recorded as one call (for rules that read plain copies of their inputs)
# ----------------------------------------------------------------------------------------


class _RuleCall:
    """A gradient rule as a function of plain values, a Sparse result made dense."""

    def __init__(self, rule: Callable[..., Any], name: str, of: str) -> None:
        self.rule = rule
        self.__name__ = name
        self.__qualname__ = name
        self.description = (f"the gradient rule of {of}, run as one call (it reads plain "
                            f"values of its inputs); from minitorch_ag")

    def __call__(self, n_dy: int, n_y: int, *args: Any, **kwargs: Any) -> Any:
        """``rule(dy, y, *rest)``, with a tuple ``dy`` or ``y`` (a primitive with several
        outputs) passed flat, its length first (-1: not a tuple), so that each item is an
        argument of the recorded call (and so a value on the tape)."""
        dy, args = _unflatten(n_dy, args)
        y, args = _unflatten(n_y, args)
        out = self.rule(dy, y, *args, **kwargs)
        if isinstance(out, (list, tuple)):
            return tuple(_dense(v) for v in out)
        return _dense(out)


def _flatten(v: Any) -> tuple[int, tuple]:
    return (len(v), tuple(v)) if isinstance(v, tuple) else (-1, (v,))


def _unflatten(n: int, args: tuple) -> tuple[Any, tuple]:
    if n < 0:
        return args[0], args[1:]
    return tuple(args[:n]), args[n:]


def _dense(v: Any) -> Any:
    return v.to_dense() if v.__class__.__name__ == "Sparse" else v


_OPAQUE: dict[int, Primitive] = {}


def opaque_rules(prim: Primitive) -> Primitive:
    """``prim`` with each gradient rule recorded as one call on the trace.

    A rule that reads a plain copy of an argument (``raw(x)``: a one-hot of the labels, the
    mask of a maximum) computes part of its result outside the tape; traced step by step,
    that part would be frozen into the generated code. Recorded as one call, the rule runs on
    the replay's own values. The cost: that line of the generated code calls the rule (and so
    imports minitorch_ag) instead of spelling it out.
    """
    hit = _OPAQUE.get(id(prim))
    if hit is not None:
        return hit
    stem = "".join(c if c.isalnum() else "_" for c in prim.name.replace("np.", ""))
    grads = tuple(None if r is None else _recorded_rule(r, f"grad_{stem}_{k}", prim.name)
                  for k, r in enumerate(prim.grads))
    grad_all = (None if prim.grad_all is None
                else _recorded_rule_all(prim.grad_all, f"grad_{stem}", prim.name))
    new = Primitive(prim.fn, grads, name=prim.name, grad_all=grad_all, ufunc=prim.ufunc,
                    adapter=prim.adapter)
    _OPAQUE[id(prim)] = new
    _KEEP.append(prim)  # ids stay unique while the cache refers to them
    return new


_KEEP: list[Primitive] = []


def _recorded_rule(rule: Callable[..., Any], name: str, of: str) -> Callable[..., Any]:
    record = Primitive(_RuleCall(rule, name, of), name=name, grad_all=_no_grads)

    def recorded(dy: Any, y: Any, *args: Any, **kwargs: Any) -> Any:
        (n_dy, dys), (n_y, ys) = _flatten(dy), _flatten(y)
        out = call(record, (n_dy, n_y, *dys, *ys, *args), kwargs)
        return None if raw(out) is None else out

    return recorded


def _recorded_rule_all(rule: Callable[..., Any], name: str, of: str) -> Callable[..., Any]:
    record = Primitive(_RuleCall(rule, name, of), name=name, grad_all=_no_grads)

    def recorded(dy: Any, y: Any, *args: Any, **kwargs: Any) -> list[Any]:
        (n_dy, dys), (n_y, ys) = _flatten(dy), _flatten(y)
        out = call(record, (n_dy, n_y, *dys, *ys, *args), kwargs)
        if not isinstance(out, tuple):
            out = tuple(out[k] for k in range(len(raw(out))))
        return [None if raw(v) is None else v for v in out]

    return recorded


def _base_chain(a: Any) -> list[Any]:
    """``a`` and the arrays it is a view of."""
    out = []
    while a is not None:
        out.append(a)
        a = getattr(a, "base", None)
    return out


def suspect_rules(trace: Trace) -> set[str]:
    """Primitives whose rules handed the pullback a plain array made while tracing (not a
    value on the tape, not an array the function holds): likely read from the data."""
    values = {id(n.value) for n in trace.tape.nodes if n is not None}
    # a constant the forward pass used too was made by f (np.zeros for a first state ...), not
    # by a rule: rules that merely use it read nothing from the data
    for node in trace.tape.nodes[:trace.backward_start]:
        if node is not None and node.prim is not None and node.parents is not None:
            stack = [a for a, p in zip(node.args, node.parents, strict=False) if p is None]
            while stack:
                a = stack.pop()
                if isinstance(a, (tuple, list)):
                    stack.extend(a)
                elif is_array(a):
                    values.add(id(a))
    found: set[str] = set()
    for node in trace.tape.nodes[trace.backward_start:]:
        if node is None or node.prim is None or node.parents is None:
            continue
        stack = [a for a, p in zip(node.args, node.parents, strict=False) if p is None]
        while stack:
            a = stack.pop()
            if isinstance(a, (tuple, list)):
                stack.extend(a)
            elif (is_array(a) and getattr(a, "size", 0) > 1
                  and not any(id(b) in values or id(b) in trace.reachable
                              for b in _base_chain(a))):
                where = trace.where.get(id(node))
                inner = getattr(where, "rule_of", None)
                if inner is not None and inner.prim is not None:
                    found.add(inner.prim.name)
    return found


def _renamed_args(t2: Any, table2: dict[tuple, Any]) -> list[tuple[int, Any]]:
    """Argument leaves that ``f`` updated in place: their gradient is on the moved leaf."""
    out = []
    for i, leaf in enumerate(table2.values()):
        moved = t2.renamed.get(id(leaf))
        if moved is not None:
            out.append((i, moved))
    return out


def _as_t1(g: Any, trace: Trace) -> Any:
    """A gradient as the trace keeps it: a ``T1`` node, ``None``, or a constant."""
    if g is None:
        return None
    if isinstance(g, Tensor):
        node = _t1_node(g, trace)
        if node is None:
            return raw(g)
        return node
    if g.__class__.__name__ == "Sparse":
        trace.problems.append("a gradient is row-sparse (an embedding lookup) while tracing; "
                              "the generated code makes dense gradients only")
    return g
