"""``ag.delta`` and ``ag.compile``: generated gradient code, cached per call signature.

A call first computes its *signature*: for each argument its type, shape, dtype and device (the
value itself for a constant that is not an array), the Params the function reaches with their
shapes and dtypes, and the ``training`` switches of the objects it reaches. Each signature keeps
up to ``max_variants`` compiled programs, one per set of branch decisions seen. A call runs the
most recent program of its signature; when a guard inside it fails (a branch or an integer came
out differently), the call is traced again and the new program kept beside the old ones.

A trace that cannot be replayed faithfully (randomness drawn from a generator, an attribute or
an array written as a side effect, a gradient the code cannot express) is not replayed: the
call runs eagerly (``ag.vjp``) and a warning says why, once per signature; ``explain()`` lists
every such reason.
"""

from __future__ import annotations

import builtins
import functools
import os
import time
import types
import warnings
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import api, walk
from ..backend import array_module, is_array, to_host
from ..sparse import Sparse
from ..tape import STATE, seed_like
from ..tensor import Param, Tensor
from ._emit import Program, Unsupported, emit
from ._trace import (
    Trace,
    _leaves_of,
    differentiable,
    referenced_globals,
    suspect_rules,
    trace_call,
)

__all__ = ["Delta", "delta", "Compiled", "compile", "checkdiff"]


# Why a program was refused when it disagrees with recording on other inputs.
_FROZEN = ("its results depend on a value the trace took from the data outside the tape (a "
           "gradient rule or the function reads a plain copy of an input), which the generated "
           "code would freeze")


class Variant:
    """One compiled program: the functions ``exec`` made from its source, and its trace facts."""

    __slots__ = ("program", "forward", "backward", "value_and_grad", "params", "failed_guard",
                 "GuardFailed", "trace_ms", "emit_ms", "n_ops")

    def __init__(self, program: Program, params: list[Param], trace_ms: float,
                 emit_ms: float, n_ops: int) -> None:
        namespace: dict[str, Any] = {"np": np, "__name__": "minitorch_ag_generated",
                                     "CONSTANTS": dict(program.constants)}
        namespace.update(program.namespace)
        code = builtins.compile(program.text, "<minitorch_ag generated>", "exec")
        exec(code, namespace)  # noqa: S102 - our own generated code, see _emit.py
        self.program = program
        self.forward = namespace.get("forward")
        self.backward = namespace.get("backward")
        self.value_and_grad = namespace.get("value_and_grad")
        self.GuardFailed = namespace["GuardFailed"]
        self.params = params
        self.trace_ms = trace_ms
        self.emit_ms = emit_ms
        self.n_ops = n_ops


def _describe(x: Any) -> Any:
    """One argument's part of the signature."""
    if isinstance(x, Tensor):
        return ("tensor", id(x))
    if is_array(x):
        return (type(x), x.shape, x.dtype.str, getattr(getattr(x, "device", None), "id", None))
    if isinstance(x, (bool, np.bool_)):
        return ("bool", bool(x))
    if isinstance(x, (int, float, complex, np.generic)):
        return (type(x),)
    if isinstance(x, (list, tuple)):
        return (type(x), tuple(_describe(v) for v in x))
    if isinstance(x, dict):
        return (type(x), tuple((k, _describe(v)) for k, v in x.items()))
    try:
        hash(x)
    except TypeError:
        return ("object", id(x))
    return ("object", type(x), x) if isinstance(x, (str, bytes, type(None))) else ("object", id(x))


def _const_describe(x: Any) -> Any:
    """A constant argument's part: arrays by type/shape/dtype, other values by value."""
    if is_array(x):
        return _describe(x)
    if isinstance(x, (int, float, complex, str, bytes, bool, type(None), np.generic)):
        return ("value", type(x), x)
    if isinstance(x, (list, tuple)):
        return (type(x), tuple(_const_describe(v) for v in x))
    return _describe(x)


def _walk_state(roots: Any, args: Any = ()) -> tuple[list[Param], tuple]:
    """The Params reachable from ``roots``, and what else the code depends on: the numbers
    and strings on the way (layers' settings such as ``training``, globals: literals of the
    generated code) and the identity, shape and dtype of every plain array reached
    (constants of the generated code). Arrays reached through the call's
    ``args`` are its inputs, not constants: they do not count."""
    found: list[Param] = []
    switches: list[Any] = []
    seen: set[int] = set()
    todo: list[tuple[Any, bool]] = [(args, False), (roots, True)]
    while todo:
        x, constants = todo.pop()
        if isinstance(x, Param):
            if id(x) not in seen:
                seen.add(id(x))
                found.append(x)
            continue
        if is_array(x):
            # an array the code holds as a constant: rebinding the variable that held it
            # (a global, an attribute) must not replay the old one
            if constants:
                switches.append((id(x), x.shape, x.dtype.str))
            continue
        if constants and isinstance(x, (bool, int, float, complex, str, np.generic)):
            # a number the function holds (a global, a layer's setting) is written into the
            # code as a literal: another value must re-trace
            switches.append(("value", type(x), x))
            continue
        if x is None or isinstance(x, Tensor) or walk.is_atom(x) or id(x) in seen:
            continue
        seen.add(id(x))
        more = [v for _, v, _ in walk.children(x)]
        if isinstance(x, types.FunctionType):
            more += referenced_globals(x)
            more += list(x.__defaults__ or ())
            more += list((x.__kwdefaults__ or {}).values())
        todo.extend((c, constants) for c in reversed(more))
    return found, tuple(switches)


def _finish_grad(g: Any, like: Any) -> Any:
    """A gradient as the function interface returns it: a float for a float argument, and a
    writable array of its own (a broadcast view the code returned is copied, as eager does)."""
    if (isinstance(like, (int, float, complex)) and not isinstance(like, (bool, np.generic))
            and isinstance(g, (np.ndarray, np.generic))):
        return complex(g) if isinstance(like, complex) else float(g)
    if is_array(g) and not getattr(g.flags, "writeable", True):
        return g.copy()
    return g


def _rebuild_grads(args: tuple, leaves: list[tuple[tuple, Any]], grads: Sequence[Any],
                   const: frozenset[int]) -> tuple:
    by_path = {path: (g, v) for (path, v), g in zip(leaves, grads, strict=True)}

    def build(x: Any, path: tuple) -> Any:
        if path in by_path:
            g, v = by_path[path]
            return _finish_grad(g, v)
        if isinstance(x, dict):
            return type(x)((k, build(v, (*path, k))) for k, v in x.items())
        if isinstance(x, tuple):
            items = [build(v, (*path, k)) for k, v in enumerate(x)]
            return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
        if isinstance(x, list):
            return type(x)(build(v, (*path, k)) for k, v in enumerate(x))
        return None

    return tuple(None if i in const else build(a, (i,)) for i, a in enumerate(args))


class _Base:
    """What ``Delta`` and ``Compiled`` share: signatures, variants, tracing and explaining."""

    functions: tuple[str, ...] = ("forward", "backward")

    def __init__(self, f: Callable[..., Any], const: Sequence[int], max_variants: int,
                 with_params: bool) -> None:
        self.f = f
        self.const_spec = tuple(const)
        self.max_variants = max_variants
        self.with_params = with_params
        self.cache: OrderedDict[Any, list[Variant]] = OrderedDict()
        self.eager: dict[Any, list[str]] = {}
        self.events: deque[str] = deque(maxlen=20)
        self.traces = 0
        functools.update_wrapper(self, f)  # type: ignore[arg-type]

    def _const(self, n: int) -> frozenset[int]:
        return frozenset(i % n for i in self.const_spec) if n else frozenset()

    def _signature(self, args: tuple) -> tuple[Any, list[Param]]:
        const = self._const(len(args))
        parts = tuple(_const_describe(a) if i in const else _describe(a)
                      for i, a in enumerate(args))
        found, switches = _walk_state(self.f, args)
        pkey = tuple((id(p), type(p.value), np.shape(p.value), np.result_type(p.value).str)
                     for p in found)
        return (parts, pkey, switches), found

    def _trace(self, args: tuple, key: Any,
               seed_mask: tuple[bool, ...] | str | None) -> Variant | None:
        """Trace and compile; ``None`` (and a recorded reason) when the call must run eagerly.

        Up to three attempts: gradient rules spelled out step by step; when the check on other
        inputs shows a value frozen from the data, the rules that handed the pullback plain
        arrays recorded as one call each (see ``opaque_rules``); then every rule so. A
        program is kept only when it reproduces the trace and agrees with recording on other
        inputs.
        """
        self.traces += 1
        reasons: list[str] = []
        attempts: list[set[str] | bool] = [False]
        while attempts:
            opaque = attempts.pop(0)
            variant, why, trace = self._attempt(args, seed_mask, opaque)
            if variant is not None:
                if opaque:
                    self.events.append(f"rules recorded as calls: "
                                       f"{'all' if opaque is True else sorted(opaque)}")
                return variant
            reasons = reasons + [r for r in why if r not in reasons]
            if trace is None or not any(_FROZEN in r for r in why):
                break
            if opaque is False:
                suspects = suspect_rules(trace)
                attempts = ([suspects] if suspects else []) + [True]
        self._go_eager(key, reasons)
        return None

    def _attempt(self, args: tuple, seed_mask: tuple[bool, ...] | str | None,
                 opaque: set[str] | bool) -> tuple[Variant | None, list[str], Trace | None]:
        """One trace, code generation and both checks: (program or None, reasons, trace)."""
        t0 = time.perf_counter()
        const = self._const(len(args))
        try:
            trace = trace_call(self.f, args, const, seed_mask, with_params=self.with_params,
                               opaque=opaque)
        except Exception as e:  # noqa: BLE001 - the eager call reports a genuine error itself
            return None, [f"tracing it failed ({type(e).__name__}: {e})"], None
        if trace.problems:
            return None, list(trace.problems), None
        if self.with_params:  # as diff: a training step's loss must be a scalar
            first = trace.outputs[0]
            api._scalar_check("ag.compile", first.value if isinstance(first, Tensor) else first)
        t1 = time.perf_counter()
        names = _param_names(self.f, [p for p, _ in trace.param_leaves])
        try:
            program = emit(trace, self.f, len(args), _title(self.f, args, const), names,
                           self.functions)
        except Unsupported as e:
            return None, [str(e)], trace
        t2 = time.perf_counter()
        try:
            variant = Variant(program, [p for p, _ in trace.param_leaves], (t1 - t0) * 1e3,
                              (t2 - t1) * 1e3, len(trace.tape.nodes))
            _self_check(variant, trace, args)
        except Exception as e:  # noqa: BLE001 - any failure means eager
            return None, [f"the generated code does not reproduce the trace: {e}"], trace
        problem = self._cross_check(variant, trace, args)
        if problem:
            return None, [problem], trace
        return variant, [], trace

    def _cross_check(self, variant: Variant, trace: Trace, args: tuple) -> str | None:
        """Run the program and the eager recording on *other* inputs; ``None`` when they agree.

        The self-check reruns the traced inputs, so it cannot see a value the trace took from
        the data outside the tape: a gradient rule that reads a plain copy of its argument
        (a one-hot of the labels, an argmax mask, a sort order), or ``ag.value(x)`` in the
        function. Those become constants of the code. Here every input is changed, and the
        program must give what recording gives for the new inputs; a frozen value shows as
        a difference. First every array is shuffled and its floats scaled by up to 10% (new
        orders, new masks); where that leaves a domain (an error) or flips a branch, only
        integers are shuffled; then floats are only scaled by 1e-4, then only upwards (an
        ``int(n)`` of a whole number keeps its value), then only in arrays. Two draws must
        agree (a small array can land in the traced order by chance), up to three per kind
        of change. Returns the reason when the program disagrees, or when no change of the
        inputs could be checked.
        """
        rng = np.random.default_rng(len(trace.tape.nodes))
        failures: list[str] = []
        agreed = 0
        levels = ((0.1, "all"), (0.1, "ints"), (1e-4, ""), (1e-4, "up"), (1e-4, "up arrays"))
        for scale, shuffle in levels:
            for _ in range(3):  # a small array may land in the traced order by chance
                outcome = self._compare_once(variant, trace, args, rng, scale, shuffle)
                if outcome is True:
                    agreed += 1
                    if agreed == 2:
                        return None
                elif outcome is False:
                    return _FROZEN
                else:
                    failures.append(outcome)
                    break  # this kind of change leaves the domain: change the inputs less
        if agreed:
            return None
        return "it could not be checked on other inputs (" + "; ".join(failures) + ")"

    def _compare_once(self, variant: Variant, trace: Trace, args: tuple,
                      rng: np.random.Generator, scale: float, shuffle: str) -> bool | str:
        """One draw of changed inputs: True when the program agrees with recording, False
        when it does not, or why it could not be compared (a guard, an error)."""
        new_args = tuple(_perturb(a, rng, scale, shuffle) for a in args)
        saved = [(p, p.value) for p in variant.params]
        # arrays the function holds (closure, globals) are inputs too, by reference: a value
        # derived from them must not be frozen either; changed in place, then restored
        held = [(c, c.copy()) for c in _captured_bases(variant.program.constants, trace)]
        try:
            for p, v in saved:
                p.value = _perturb(v, rng, scale, shuffle)
            for c, copy in held:
                c[...] = _perturb(copy, rng, scale, shuffle)
            try:
                # made dense and host-side now: a Sparse gradient refers to its indices,
                # which may be an array changed here and restored below
                got = [ag_host(g) for g in self._run_variant(variant, new_args, trace)]
            except variant.GuardFailed:
                return "a branch went the other way"
            want = [ag_host(w) for w in self._reference(new_args, trace)]
        except Exception as e:  # noqa: BLE001 - out of a domain: change the inputs less
            return f"{type(e).__name__}: {e}"
        finally:
            for p, v in saved:
                p.value = v
            for c, copy in held:
                c[...] = copy
        return all(_close(g, w) for g, w in zip(got, want, strict=True))

    def _run_variant(self, v: Variant, args: tuple, trace: Trace) -> list[Any]:
        """Outputs then gradients, from the generated code, with the trace's cotangents."""
        inputs = self._inputs(args, v)
        if v.forward is not None:
            outs, saved = v.forward(*inputs)
            cots = [seed_like(o) for o, c in zip(outs, trace.cot_leaves, strict=True)
                    if c is not None]
            grads = v.backward(saved, *cots)
        else:
            outs, grads = v.value_and_grad(*inputs)
        return [*outs, *grads]

    def _reference(self, args: tuple, trace: Trace) -> list[Any]:
        """Outputs then gradients, recorded eagerly (``ag.vjp`` or ``ag.diff``)."""
        if self.with_params:
            aux: list[Any] = []

            def loss() -> Any:
                out = self.f(*args)
                if isinstance(out, tuple):
                    aux.extend(api.value(o) for o in out[1:])
                    return out[0]
                return out

            tape = api.diff(loss)
            grads = [api.value(api.grad(tape, p)) for p, _ in trace.param_leaves]
            return [api.value(tape), *aux, *grads]
        const = self._const(len(args))
        out, back = api.vjp(self.f, *args, const=const)
        outs = list(out) if trace.several else [out]
        cots = [seed_like(o) if c is not None else None
                for o, c in zip(outs, trace.cot_leaves, strict=True)]
        grads = back(*cots)
        flat = []
        for path, _ in trace.arg_grads:
            g = grads[path[0]]
            for key in path[1:]:
                g = g[key]
            flat.append(g)
        return [*outs, *flat]

    def _go_eager(self, key: Any, reasons: list[str]) -> None:
        if key not in self.eager:
            name = getattr(self.f, "__name__", "f")
            text = "; ".join(reasons)
            what = "ag.compile" if self.with_params else "ag.delta"
            warnings.warn(f"{what}({name}): this call signature runs eagerly (recorded, not "
                          f"replayed) because {text}", RuntimeWarning, stacklevel=4)
            self.events.append(f"eager: {text}")
        self.eager[key] = reasons

    def _variants(self, key: Any) -> list[Variant]:
        vs = self.cache.get(key)
        if vs is None:
            vs = self.cache[key] = []
            while len(self.cache) > 64:
                self.cache.popitem(last=False)
        return vs

    def _remember(self, key: Any, variant: Variant) -> None:
        vs = self._variants(key)
        vs.insert(0, variant)
        del vs[self.max_variants:]

    def _inputs(self, args: tuple, variant: Variant) -> list[Any]:
        values = []
        for i, a in enumerate(args):
            values.extend(v for _, v in _leaves_of(a, (i,)))
        values.extend(p.value for p in variant.params)
        return values

    def explain(self) -> str:
        """What happened so far: traces, replays kept per signature, and why any call was eager."""
        lines = [f"{getattr(self.f, '__name__', 'f')}: {self.traces} trace(s); "
                 f"{sum(len(v) for v in self.cache.values())} program(s) kept for "
                 f"{len(self.cache)} signature(s)"]
        for vs in self.cache.values():
            for v in vs:
                alone = ("runs with NumPy alone" if v.program.standalone
                         else "calls minitorch_ag for some lines")
                lines.append(f"  program: {v.program.n_forward} forward primitives, "
                             f"{v.program.n_backward} pullback steps ({alone}); traced in "
                             f"{v.trace_ms:.1f} ms, generated in {v.emit_ms:.1f} ms")
        for reasons in self.eager.values():
            lines.append("  eager: " + "; ".join(reasons))
        lines.extend(f"  {e}" for e in self.events if not e.startswith("eager"))
        return "\n".join(lines)

    def _program_for(self, args: tuple) -> Variant | None:
        """The program a call with ``args`` runs (its guards checked), traced if need be."""
        key, _ = self._signature(args)
        for v in self.cache.get(key) or ():
            try:
                if v.forward is not None:
                    v.forward(*self._inputs(args, v))
                else:
                    v.value_and_grad(*self._inputs(args, v))
            except v.GuardFailed:
                continue
            return v
        if key in self.eager:
            return None
        v = self._trace(args, key, "first" if self.with_params else None)
        if v is not None:
            self._remember(key, v)
        return v

    def source(self, *args: Any) -> str:
        """The generated source for a call with ``args`` (traced now unless already cached).

        Raises:
            RuntimeError: when that call cannot be replayed (the reasons are in the message).
        """
        v = self._program_for(args)
        if v is None:
            key, _ = self._signature(args)
            raise RuntimeError("no generated code for this call: " +
                               "; ".join(self.eager.get(key, ["it runs eagerly"])))
        return v.program.text

    def save(self, path: str, *args: Any) -> str:
        """Write the source for a call with ``args`` to ``path`` (``.py``), its constants to
        the ``.npz`` beside it; return the path."""
        v = self._program_for(args)
        if v is None:
            raise RuntimeError("no generated code for this call: it runs eagerly")
        if not path.endswith(".py"):
            path += ".py"
        with open(path, "w") as fh:
            fh.write(v.program.text)
        if v.program.constants:
            np.savez(path[:-3] + ".npz",
                     **{k: np.asarray(c) for k, c in v.program.constants.items()})
        elif os.path.exists(path[:-3] + ".npz"):
            os.remove(path[:-3] + ".npz")
        return path


def _title(f: Any, args: tuple, const: frozenset[int]) -> str:
    name = getattr(f, "__qualname__", getattr(f, "__name__", "f"))
    parts = []
    for i, a in enumerate(args):
        d = f"{a.dtype}{list(a.shape)}" if is_array(a) else type(a).__name__
        parts.append(d + (" (constant)" if i in const else ""))
    return f"Gradient code of {name} for arguments: {', '.join(parts) or '(none)'}."


def _param_names(f: Any, ps: list[Param]) -> dict[int, str]:
    """Readable names for Params: the attribute or closure path that reaches them."""
    wanted = {id(p) for p in ps}
    names: dict[int, str] = {}
    seen: set[int] = set()
    code = getattr(f, "__code__", None)
    freevars = code.co_freevars if code is not None else ()
    todo: list[tuple[Any, str]] = []
    for name, cell in zip(freevars, getattr(f, "__closure__", None) or (), strict=False):
        if walk._cell_filled(cell):
            todo.append((cell.cell_contents, name))
    if isinstance(f, types.FunctionType):
        for name in f.__code__.co_names:
            if name in f.__globals__:
                todo.append((f.__globals__[name], name))
    if not todo:
        todo.append((f, "self"))
    while todo and len(names) < len(wanted):
        x, path = todo.pop(0)
        if isinstance(x, Param):
            if id(x) in wanted and id(x) not in names:
                names[id(x)] = path
            continue
        if x is None or isinstance(x, Tensor) or walk.is_atom(x) or is_array(x) or id(x) in seen:
            continue
        seen.add(id(x))
        d = getattr(x, "__dict__", None)
        if isinstance(x, dict):
            todo.extend((v, f"{path}_{k}") for k, v in x.items())
        elif isinstance(x, (list, tuple)):
            todo.extend((v, f"{path}_{k}") for k, v in enumerate(x))
        elif isinstance(d, dict):
            todo.extend((v, f"{path}_{k}") for k, v in d.items())
    for k, p in enumerate(ps):
        names.setdefault(id(p), f"p{k}")
    return names


def _same(a: Any, b: Any) -> bool:
    """Exactly equal values (NaN equal to NaN) of the same dtype, on any device."""
    if a is None or b is None:
        return a is None and b is None
    if is_array(a) or is_array(b) or isinstance(a, np.generic) or isinstance(b, np.generic):
        a, b = ag_host(a), ag_host(b)
        if np.result_type(a) != np.result_type(b):
            return False
        equal_nan = np.result_type(a).kind in "fc"
        return bool(np.array_equal(a, b, equal_nan=equal_nan))
    return bool(a == b or (a != a and b != b))


def _captured_bases(constants: dict[str, Any], trace: Trace) -> list[np.ndarray]:
    """The writable arrays the function holds that the program's constants are (views of)."""
    out: dict[int, np.ndarray] = {}
    for c in constants.values():
        while isinstance(c, np.ndarray):
            if id(c) in trace.reachable and c.flags.writeable:
                out[id(c)] = c
            c = c.base
    return list(out.values())


def _perturb(x: Any, rng: np.random.Generator, scale: float, shuffle: str) -> Any:
    """``x`` with its numbers changed (see ``_cross_check``); structure kept. ``shuffle``:
    ``"all"`` permutes every array's elements, ``"ints"`` integer and boolean arrays only;
    ``"up"`` scales upwards only, ``"up arrays"`` too and leaves Python numbers alone."""
    if isinstance(x, Tensor):
        return x
    if is_array(x):
        kind = x.dtype.kind
        if kind in "fc":
            xp = array_module(x)
            if shuffle == "all" and x.size > 1:
                x = x.reshape(-1)[xp.asarray(rng.permutation(x.size))].reshape(x.shape)
            low = 0.0 if shuffle.startswith("up") else -1.0
            u = xp.asarray(rng.uniform(low, 1.0, x.shape).astype(x.dtype))
            return x * (1 + scale * u)
        if kind in "iub" and shuffle in ("all", "ints") and x.size > 1:
            xp = array_module(x)
            order = xp.asarray(rng.permutation(x.size))
            return x.reshape(-1)[order].reshape(x.shape)
        return x
    if isinstance(x, float):
        if shuffle == "up arrays":
            return x
        return x * (1 + scale * rng.uniform(0.0 if shuffle == "up" else -1.0, 1.0))
    if isinstance(x, dict):
        return type(x)((k, _perturb(v, rng, scale, shuffle)) for k, v in x.items())
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(_perturb(v, rng, scale, shuffle) for v in x))
    if isinstance(x, (list, tuple)):
        return type(x)(_perturb(v, rng, scale, shuffle) for v in x)
    return x


def _close(got: Any, want: Any) -> bool:
    """Agreement of the generated code with recording on the same new inputs: equal up to
    the last bits that ``ndarray.__pow__``'s fast paths may change (see tests/codegen)."""
    if got is None or want is None:
        other = want if got is None else got
        return other is None or not np.any(ag_host(other))
    got, want = ag_host(got), ag_host(want)
    if np.shape(got) != np.shape(want):
        return False
    dtype = np.result_type(got)
    rtol = 1e-4 if dtype in (np.float32, np.complex64) else 1e-9
    return bool(np.allclose(got, want, rtol=rtol, atol=rtol * float(np.max(np.abs(want),
                                                                           initial=0.0)),
                            equal_nan=True))


def ag_host(x: Any) -> Any:
    """``x`` as a NumPy value (a Sparse gradient made dense, a device array copied)."""
    if isinstance(x, Sparse):
        x = x.to_dense()
    if is_array(x) and array_module(x) is not np:
        return to_host(x)
    return x


def _self_check(variant: Variant, trace: Trace, args: tuple) -> None:
    """Run the generated code on the traced inputs; it must give the trace's values exactly."""
    from ..tensor import raw

    inputs = [raw(leaf.value) for _, leaf in trace.arg_leaves]
    inputs += [raw(leaf.value) for _, leaf in trace.param_leaves]
    cots = [raw(c.value) for c in trace.cot_leaves if c is not None]
    if variant.forward is not None:
        outs, saved = variant.forward(*inputs)
        grads = variant.backward(saved, *cots)
    else:  # value_and_grad seeds with ones, as the trace did
        outs, grads = variant.value_and_grad(*inputs)
    want_outs = [raw(o.value) if isinstance(o, Tensor) else o for o in trace.outputs]
    for k, (got, want) in enumerate(zip(outs, want_outs, strict=True)):
        if not _same(got, want):
            raise Unsupported(f"output {k} differs from the traced value")
    want_grads = [g for _, g in trace.arg_grads] + [g for _, g in trace.param_grads]
    for k, (got, want) in enumerate(zip(grads, want_grads, strict=True)):
        if want is None:
            continue
        want = raw(want.value) if isinstance(want, Tensor) else want
        if not _same(got, want):
            raise Unsupported(f"gradient {k} differs from the traced gradient")


# ----------------------------------------------------------------------------------------
# ag.delta
# ----------------------------------------------------------------------------------------


class Delta(_Base):
    """A function's value-and-pullback from generated code (AutoDiffSource.jl's ``δf``).

    Made by ``delta``; see there.
    """

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        """``@ag.delta`` on a method: the instance is the first argument (a constant whose
        Params the code reads)."""
        if obj is None:
            return self
        return functools.partial(self, obj)

    def __call__(self, *args: Any) -> tuple[Any, ...]:
        if STATE.stack or any(isinstance(a, Tensor) for a in args):
            # Differentiating through δf: record f itself (higher order works as for vjp);
            # a Param given as an argument is differentiated as ag.vjp does, by recording.
            return self._eager(args)
        key, _ = self._signature(args)
        if key in self.eager:
            return self._eager(args)
        for v in self._variants(key):
            try:
                outs, saved = v.forward(*self._inputs(args, v))
            except v.GuardFailed as e:
                self.events.append(f"guard failed: {e}")
                continue
            return self._pack(args, key, v, outs, saved)
        v = self._trace(args, key, None)
        if v is None:
            return self._eager(args)
        self._remember(key, v)
        outs, saved = v.forward(*self._inputs(args, v))
        return self._pack(args, key, v, outs, saved)

    def _eager(self, args: tuple) -> tuple[Any, ...]:
        out, back = api.vjp(self.f, *args, const=self._const(len(args)))
        if isinstance(out, tuple):
            return (*out, back)
        return out, back

    def _pack(self, args: tuple, key: Any, v: Variant, outs: tuple, saved: tuple) -> tuple:
        const = self._const(len(args))
        leaves = [(path, val) for i, a in enumerate(args) if i not in const
                  for path, val in _leaves_of(a, (i,)) if differentiable(val)]
        n_out = len(outs)

        def back(*cotangents: Any) -> tuple[Any, ...]:
            if not cotangents:
                cotangents = tuple(seed_like(o) for o in outs)
            if len(cotangents) != n_out:
                raise TypeError(f"δ{getattr(self.f, '__name__', 'f')}: the pullback takes one "
                                f"cotangent per output: {n_out} expected, {len(cotangents)} "
                                f"given")
            if all(c is not None for c in cotangents):
                try:
                    grads = v.backward(saved, *cotangents)
                except v.GuardFailed as e:  # a rule branched on a value: record this one
                    self.events.append(f"guard failed in the pullback: {e}")
                    _, eager_back = api.vjp(self.f, *args, const=const)
                    return eager_back(*cotangents)
            else:
                grads = self._masked(args, key, cotangents)
                if grads is None:
                    _, eager_back = api.vjp(self.f, *args, const=const)
                    return eager_back(*cotangents)
            grads = grads[:len(leaves)]
            return _rebuild_grads(args, leaves, grads, const)

        return (*outs, back)

    def _masked(self, args: tuple, key: Any, cotangents: tuple) -> Any:
        """Gradients for a pullback called with ``None`` for some outputs: its own program."""
        mask = tuple(c is not None for c in cotangents)
        mkey = (key, mask)
        if mkey in self.eager:
            return None
        for v in self._variants(mkey):
            try:
                _, saved = v.forward(*self._inputs(args, v))
            except v.GuardFailed:
                continue
            return v.backward(saved, *(c for c in cotangents if c is not None))
        v = self._trace(args, mkey, mask)
        if v is None:
            return None
        self._remember(mkey, v)
        _, saved = v.forward(*self._inputs(args, v))
        return v.backward(saved, *(c for c in cotangents if c is not None))


def delta(f: Callable[..., Any] | None = None, *, const: Sequence[int] = (),
          max_variants: int = 8) -> Any:
    """``f``'s value and pullback from generated, readable NumPy code (AutoDiffSource's ``@δ``).

    ``δf = ag.delta(f)`` (or ``@ag.delta``); ``z, back = δf(x, y)``; ``dx, dy = back()`` with
    ones as the cotangent, or ``back(dz)``. A function returning a tuple unpacks flat:
    ``z, t, back = δf2(x, y)`` and ``back(dz, dt)`` (``None`` for an output with no
    cotangent). Arguments listed in ``const`` get ``None`` gradients (AutoDiffSource.jl's
    ``δf4_const2``). ``δf.source(x, y)`` is the generated code for that call signature.

    The first call with a new signature traces ``f`` once (recording it, forward pass and
    gradient rules alike), writes the forward pass and the pullback as straight-line Python and
    compiles it; later calls with the same argument shapes, dtypes, devices,
    Params and branch decisions run that code without recording anything. A branch or integer
    that comes out differently re-traces (up to ``max_variants`` programs per signature). A call
    that cannot be replayed faithfully (random numbers drawn inside ``f``, side effects on
    reachable arrays or attributes) runs eagerly, with a warning, and ``δf.explain()`` says why.
    What a trace cannot see: values read with ``ag.value()`` and then used in plain Python
    (``if ag.value(x) > 0``), and state ``f`` does not reach through its closure, the globals
    it names, its defaults or its arguments; keep ``f`` pure.

    Called while a ``diff`` records (differentiating through ``δf``), it records ``f`` itself,
    eagerly, so that higher-order gradients work as for ``ag.vjp``; so does a call with a
    ``Param`` among the arguments (Params ``f`` reaches through its closure are inputs of the
    generated code, read at each call).

    Args:
        f: the function (arrays, numbers and containers of them as arguments).
        const: positions of arguments that get no gradient.
        max_variants: programs kept per signature (one per set of branch decisions).

    Returns:
        A ``Delta`` (or a decorator making one, when ``f`` is not given).

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> @ag.delta
        ... def f(x, y):
        ...     return (x + 2 * y) * y ** 2
        >>> z, back = f(np.array(1.0), np.array(2.0))
        >>> float(z), [float(g) for g in back()]
        (20.0, [4.0, 28.0])
    """
    if f is None:
        return lambda g: Delta(g, const, max_variants, with_params=False)
    return Delta(f, const, max_variants, with_params=False)


# ----------------------------------------------------------------------------------------
# ag.compile: training steps
# ----------------------------------------------------------------------------------------


class Compiled(_Base):
    """A loss function of data, compiled to return the loss and its Params' gradients.

    Made by ``compile``; see there.
    """

    _last_params: list[Param] | None = None
    functions = ("value_and_grad",)

    def __call__(self, *args: Any) -> tuple[Any, list[Any]]:
        key, found = self._signature(args)
        if STATE.stack or key in self.eager:
            return self._eager(args, found)
        for v in self._variants(key):
            try:
                outs, grads = v.value_and_grad(*self._inputs(args, v))
            except v.GuardFailed as e:
                self.events.append(f"guard failed: {e}")
                continue
            return self._pack(v, outs, grads, found, len(args))
        v = self._trace(args, key, "first")
        if v is None:
            return self._eager(args, found)
        outs, grads = v.value_and_grad(*self._inputs(args, v))
        self._remember(key, v)
        return self._pack(v, outs, grads, found, len(args))

    @property
    def params(self) -> list[Param]:
        """The Params the loss reaches through its closure and the globals it names (the
        order of the gradients returned)."""
        return self._last_params or _walk_state(self.f)[0]

    def _pack(self, v: Variant, outs: tuple, grads: tuple, found: list[Param],
              n_args: int) -> tuple[Any, list[Any]]:
        n_leaves = len(grads) - len(v.params)
        by_param = {id(p): _finish_grad(g, None)
                    for p, g in zip(v.params, grads[n_leaves:], strict=True)}
        loss = tuple(outs) if len(outs) > 1 else outs[0]
        known = {id(p) for p in found}
        order = found + [p for p in v.params if id(p) not in known]
        self._last_params = order
        return loss, [by_param.get(id(p)) for p in order]

    def _eager(self, args: tuple, found: list[Param]) -> tuple[Any, list[Any]]:
        aux: list[Any] = []

        def loss() -> Any:
            out = self.f(*args)
            if isinstance(out, tuple):
                aux.extend(api.value(o) for o in out[1:])
                return out[0]
            return out

        tape = api.diff(loss)
        value = api.value(tape)
        return ((value, *aux) if aux else value), [api.grad(tape, p) for p in found]


def compile(f: Callable[..., Any], *, max_variants: int = 8) -> Compiled:  # noqa: A001
    """Compile a training step: ``loss, grads = step(x, y)`` for the Params ``f`` reaches.

    ``f`` computes a scalar loss from data arguments, reaching a model's Params through its
    closure (``step = ag.compile(lambda x, y: loss(model, x, y))``). The first call with a new
    signature traces it (see ``delta``); later calls run generated NumPy code that
    computes the loss and the gradients with no per-operation dispatch. ``grads`` is aligned
    with ``step.params`` (``ag.params(f)``; ``None`` for a Param the loss does not reach), so
    a Knet-style loop updates with ``for p, g in zip(step.params, grads): ag.axpy_(-lr, g, p)``.
    Data arguments are inputs, never gradients; their shapes and dtypes are part of the
    signature. Updating ``p.value`` in place between calls is what training does and is
    seen by the next call; replacing a Param by another changes the signature (re-trace).
    ``f`` may return ``(loss, *aux)`` (an accuracy, a prediction): only the loss is
    differentiated, and ``step`` returns ``((loss, *aux), grads)``. A step that draws random
    numbers (dropout) or updates state (batch-norm running statistics) runs eagerly, with a
    warning (see ``delta``).

    Args:
        f: the loss function of the data arguments.
        max_variants: programs kept per signature.

    Returns:
        A ``Compiled`` step.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> w = ag.Param(np.array([1.0, 2.0]))
        >>> step = ag.compile(lambda x: np.sum((x * w) ** 2))
        >>> loss, (gw,) = step(np.array([1.0, 1.0]))
        >>> float(loss), gw
        (5.0, array([2., 4.]))
    """
    n = _n_positional(f)
    return Compiled(f, const=tuple(range(n)), max_variants=max_variants, with_params=True)


def _n_positional(f: Any) -> int:
    import inspect

    try:
        ps = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return 64
    if any(p.kind == p.VAR_POSITIONAL for p in ps):
        return 64
    return sum(1 for p in ps if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


# ----------------------------------------------------------------------------------------
# checkdiff
# ----------------------------------------------------------------------------------------


def checkdiff(f: Callable[..., Any], df: Callable[..., Any], *args: Any, eps: float = 1e-6,
              rtol: float = 1e-5, atol: float = 1e-7) -> bool:
    """Check ``df``'s gradients against central finite differences of ``f`` (AutoDiffSource.jl's
    ``checkdiff``): ``True``, or an ``AssertionError`` naming the argument and the index.

    ``df`` is a value-and-pullback function (``ag.delta(f)``, or a hand-written ``δf``) and
    ``f`` has a scalar result; every array or number argument is checked, in float64.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> f = lambda x: np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
        >>> ag.checkdiff(f, ag.delta(f), np.array([0.5, -0.3, 1.2]))
        True
    """
    out = df(*args)
    grads = out[-1]()
    for i, a in enumerate(args):
        if not (is_array(a) or isinstance(a, (int, float))) or isinstance(a, bool):
            continue
        g = grads[i]
        base = np.array(a, dtype=np.float64)
        num = np.zeros_like(base)
        flat = base.reshape(-1)
        for j in range(flat.size):
            plus, minus = flat.copy(), flat.copy()
            plus[j] += eps
            minus[j] -= eps
            fp = f(*_replace(args, i, plus.reshape(base.shape), a))
            fm = f(*_replace(args, i, minus.reshape(base.shape), a))
            num.reshape(-1)[j] = (float(np.sum(fp)) - float(np.sum(fm))) / (2 * eps)
        got = np.zeros_like(base) if g is None else np.asarray(g, dtype=np.float64)
        if got.shape != base.shape or not np.allclose(got, num, rtol=rtol, atol=atol):
            bad = np.unravel_index(int(np.argmax(np.abs(np.broadcast_to(got, base.shape) - num))),
                                   base.shape) if base.ndim else ()
            raise AssertionError(
                f"checkdiff: argument {i}, index {bad}: δf gives "
                f"{np.broadcast_to(got, base.shape)[bad]!r}, finite differences give "
                f"{num[bad]!r}")
    return True


def _replace(args: tuple, i: int, v: np.ndarray, like: Any) -> tuple:
    new = v if is_array(like) else float(v)
    return (*args[:i], new, *args[i + 1:])
