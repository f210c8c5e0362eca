"""Writing a trace out as Python source: a forward function, a pullback, and both fused.

The program is the outer tape's node list (see ``_trace.py``). Emission:

1. Name the inputs (the function's own argument names, ``p0, p1 ...`` for Params, ``dz`` for
   cotangents) and give every other node a temporary ``t<k>``, in order.
2. Keep only the nodes the outputs, the gradients and the guards need (a rule's work for an
   argument that needs no gradient is dropped here).
3. Write one line per node: infix operators for ``+ - * / @`` on arrays, ``x[...]`` for
   indexing, ``np.<name>(...)`` otherwise, each with a comment naming the user's line (forward)
   or the primitive whose gradient rule it belongs to (pullback). A piecewise-constant value
   the program branched on is followed by a guard that raises ``GuardFailed``.
4. After the last use of a temporary, ``del`` it, so that memory is freed as eagerly as the
   tape's backward sweep frees it.

Constants that the trace met are written as literals when small; an all-zeros or all-ones array
becomes ``np.zeros``/``np.ones``; any other array becomes a named constant ``c<k>`` (kept in
the replay's namespace, and written to a ``.npz`` file beside a saved ``.py``).
"""

from __future__ import annotations

import builtins
import dis
import importlib
import inspect
import keyword
import operator
import re
import textwrap
import types
from typing import Any

import numpy as np

from .. import tensor as tensor_mod
from ..tape import ITEM
from ..tensor import Result
from ._trace import Trace, Where

_INFIX = {np.add: "+", np.subtract: "-", np.multiply: "*", np.true_divide: "/",
          np.matmul: "@"}
_UNARY = {np.negative: "-"}
_SMALL = 8  # arrays up to this many elements are written as literals
# Primitives whose result's shape depends on the values of their arguments.
_DATA_SHAPED = {"np.nonzero", "np.argwhere", "np.flatnonzero", "np.compress", "np.extract",
                "np.unique", "np.trim_zeros"}


class Unsupported(Exception):
    """The trace holds something the source cannot express (the reason is the message)."""


def _is_arrayish(v: Any) -> bool:
    return isinstance(v, (np.ndarray, np.generic)) or type(v).__name__ == "ndarray"


class Program:
    """Generated source for one trace, with the namespace it runs in.

    Attributes:
        text: the module source (what ``source()`` shows).
        namespace: the names the code refers to besides ``np`` (constants, imported helpers).
        inputs: input names in order: argument leaves, then Params.
        cotangents: cotangent names, one per output with a cotangent.
        standalone: True when the text runs with NumPy alone (no minitorch_ag import).
        n_forward, n_backward: lines of code in each function (primitives and rule steps).
    """

    def __init__(self) -> None:
        self.text = ""
        self.namespace: dict[str, Any] = {}
        self.inputs: list[str] = []
        self.cotangents: list[str] = []
        self.standalone = True
        self.n_forward = 0
        self.n_backward = 0
        self.constants: dict[str, Any] = {}


def _identifier(name: str, taken: set[str]) -> str:
    if name not in taken and name[:1] == "t" and name[1:].isdigit():
        taken.add(name)  # the common case: a temporary
        return name
    base = "".join(c if c.isalnum() or c == "_" else "_" for c in str(name)) or "a"
    if base[0].isdigit():
        base = "a" + base
    if keyword.iskeyword(base) or base in ("np", "GuardFailed") or hasattr(builtins, base):
        base += "_"
    out = base
    k = 1
    while out in taken:
        out = f"{base}{k}"
        k += 1
    taken.add(out)
    return out


def _arg_names(f: Any, n: int) -> list[str]:
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = []
    for i in range(n):
        if i < len(params) and params[i].kind in (params[i].POSITIONAL_ONLY,
                                                  params[i].POSITIONAL_OR_KEYWORD):
            names.append(params[i].name)
        elif params and params[-1].kind == params[-1].VAR_POSITIONAL:
            names.append(f"{params[-1].name}{i - len(params) + 1}")
        else:
            names.append(f"a{i}")
    return names


class _Emitter:
    def __init__(self, trace: Trace, f: Any, n_args: int, param_names: dict[int, str],
                 out_names: list[str] | None = None) -> None:
        self.trace = trace
        self.nodes = list(trace.tape.nodes)
        self.prog = Program()
        self.taken: set[str] = set()
        self.names: dict[int, str] = {}
        self.by_value: dict[int, Any] = {}
        self.imports: dict[str, str] = {}  # alias -> import line
        self.const_k = 0
        self.temps = 0
        self.fn_names: dict[int, str] = {}
        self.inlined: dict[int, str] = {}
        # Params' gradients that may stay row-sparse (see call_text's index_put)
        self.sparse_ok: set[int] = set()
        self.helper_defs: list[str] = []
        self.f = f
        arg_names = _arg_names(f, n_args)
        for path, leaf in trace.arg_leaves:
            name = arg_names[path[0]] + "".join(f"_{k}" for k in path[1:])
            self.names[id(leaf)] = _identifier(name, self.taken)
        for p, leaf in trace.param_leaves:
            self.names[id(leaf)] = _identifier(param_names.get(id(p), "p"), self.taken)
        several = len(trace.cot_leaves) > 1
        for k, leaf in enumerate(trace.cot_leaves):
            if leaf is not None:
                stem = (out_names[k] if out_names else (f"out{k}" if several else "z"))
                self.names[id(leaf)] = _identifier("d" + stem, self.taken)
        for node in self.nodes:
            if node is None:
                continue
            v = node.value
            if isinstance(v, np.ndarray) or type(v).__name__ == "ndarray":
                self.by_value.setdefault(id(v), node)
        leaf_ids = set(self.names)
        for node in self.nodes:
            if node is not None and node.prim is None and id(node) not in leaf_ids:
                raise Unsupported("a leaf on the trace that is no input (an inner diff?)")

    # -- names and literals ------------------------------------------------------------

    def name(self, node: Any) -> str:
        key = id(node)
        n = self.names.get(key)
        if n is None:
            n = self.names[key] = _identifier(f"t{self.temps}", self.taken)
            self.temps += 1
        return n

    def deps(self, node: Any) -> list[Any]:
        """The nodes ``node``'s code reads: parents and constants that are node values."""
        out = [p for p in (node.parents or ()) if p is not None]
        stack = [a for a, p in zip(node.args, node.parents, strict=False) if p is None]
        stack.extend(node.kwargs.values())
        while stack:
            a = stack.pop()
            if isinstance(a, (tuple, list)):
                stack.extend(a)
            elif isinstance(a, dict):
                stack.extend(a.values())
            elif isinstance(a, slice):
                stack.extend((a.start, a.stop, a.step))
            elif _is_arrayish(a):
                hit = self.by_value.get(id(a))
                if hit is not None and hit is not node:
                    out.append(hit)
                elif isinstance(a, np.ndarray) and a.base is not None:
                    view = self.view_of(a)
                    if view is not None:
                        out.append(view[0])
        return out

    def view_of(self, a: np.ndarray) -> tuple[Any, str] | None:
        """For a plain array that is a view of a value the program computes: that value's node
        and the expression that makes the view from it (``{}`` stands for its name).

        Only contiguous pieces of a contiguous value can be re-made (with ``np.ravel``, which
        gives the same elements whatever the layout on replay); any other view is refused.
        """
        base = a.base
        while base is not None and id(base) not in self.by_value:
            base = getattr(base, "base", None)
        if base is None:
            return None
        node = self.by_value[id(base)]
        if (isinstance(base, np.ndarray) and base.flags.c_contiguous and a.flags.c_contiguous
                and a.dtype == base.dtype):
            start = (a.__array_interface__["data"][0] - base.__array_interface__["data"][0])
            k, rem = divmod(start, a.itemsize)
            if rem == 0 and k >= 0 and k + a.size <= base.size:
                if k == 0 and a.size == base.size:
                    return node, f"np.reshape({{}}, {a.shape!r})"
                return node, f"np.reshape(np.ravel({{}})[{k}:{k + a.size}], {a.shape!r})"
        raise Unsupported(
            f"a plain array of shape {a.shape} that is a strided view of a value the program "
            f"computed (ag.value(x)[...] or similar) is used as a constant: a replay could "
            f"not recompute it")

    def lit(self, a: Any) -> str:
        if a is None or isinstance(a, (bool, str)) or a is Ellipsis:
            return "..." if a is Ellipsis else repr(a)
        if isinstance(a, Result):
            raise Unsupported("a tracked value hidden inside a constant argument")
        if isinstance(a, int) and type(a) is int:
            return repr(a)
        if type(a) is float:
            return repr(a) if np.isfinite(a) else f"float({str(a)!r})"
        if type(a) is complex:
            return repr(a)
        if isinstance(a, tuple):
            inner = ", ".join(self.lit(x) for x in a)
            return f"({inner},)" if len(a) == 1 else f"({inner})"
        if isinstance(a, list):
            return "[" + ", ".join(self.lit(x) for x in a) + "]"
        if isinstance(a, dict):
            return "{" + ", ".join(f"{self.lit(k)}: {self.lit(v)}" for k, v in a.items()) + "}"
        if isinstance(a, slice):
            return f"slice({self.lit(a.start)}, {self.lit(a.stop)}, {self.lit(a.step)})"
        if isinstance(a, np.dtype):
            return f"np.dtype({str(a)!r})"
        if isinstance(a, type) and a.__module__ == "numpy" and getattr(np, a.__name__,
                                                                        None) is a:
            return f"np.{a.__name__}"
        if isinstance(a, type) and getattr(builtins, a.__name__, None) is a:
            return a.__name__
        if _is_arrayish(a):
            hit = self.by_value.get(id(a))
            if hit is not None:
                return self.name(hit)
            if isinstance(a, np.ndarray) and a.base is not None:
                view = self.view_of(a)
                if view is not None:
                    return view[1].format(self.name(view[0]))
            if isinstance(a, np.generic):
                if a.dtype.kind in "biufc":
                    item = a.item()
                    finite = not (isinstance(item, float) and not np.isfinite(item))
                    text = repr(item) if finite else f"float({str(item)!r})"
                    return f"np.{a.dtype.name}({text})"
            elif self.captured(a):
                return self.constant(a)  # a captured array: by reference, as eager code
            elif isinstance(a, np.ndarray) and a.dtype.kind in "biuf":
                dt = f"np.{a.dtype.name}"
                if a.size and not a.any():
                    return f"np.zeros({a.shape!r}, dtype={dt})"
                if a.size and bool((a == 1).all()):
                    return f"np.ones({a.shape!r}, dtype={dt})"
                if a.size <= _SMALL and bool(np.isfinite(a).all()) if a.dtype.kind == "f" \
                        else a.size <= _SMALL:
                    return f"np.array({a.tolist()!r}, dtype={dt})"
        return self.constant(a)

    def constant(self, a: Any) -> str:
        for name, v in self.prog.constants.items():
            if v is a:
                return name
        name = _identifier(f"c{self.const_k}", self.taken)
        self.const_k += 1
        self.prog.constants[name] = a
        return name

    def index_lit(self, index: Any) -> str:
        parts = index if isinstance(index, tuple) else (index,)
        out = []
        for p in parts:
            if isinstance(p, slice):
                s = "" if p.start is None else self.lit(p.start)
                s += ":" + ("" if p.stop is None else self.lit(p.stop))
                if p.step is not None:
                    s += ":" + self.lit(p.step)
                out.append(s)
            else:
                out.append(self.lit(p))
        text = ", ".join(out)
        return text + "," if isinstance(index, tuple) and len(index) == 1 else (text or "()")

    def captured(self, a: Any) -> bool:
        """``a`` is an array the function holds, or a view of one (read by reference)."""
        while a is not None:
            if id(a) in self.trace.reachable:
                return True
            a = getattr(a, "base", None)
        return False

    def shape_depends_on_data(self, node: Any) -> bool:
        """True when ``node``'s shape is decided by values, not shapes (``x[x > 0]``,
        ``np.nonzero``): the generated code then checks it, as it checks a branch."""
        prim = node.prim
        if not hasattr(node.value, "shape"):
            return False
        if prim is ITEM:
            return getattr(node.parents[0].prim, "name", "") in _DATA_SHAPED
        if prim.name in _DATA_SHAPED:
            return True
        if prim.fn is operator.getitem:
            parts = node.args[1] if isinstance(node.args[1], tuple) else (node.args[1],)
            for p in parts:
                if _is_arrayish(p) and (getattr(p, "dtype", None) == np.bool_
                                        or id(p) in self.by_value):
                    return True
        return False

    # -- functions ---------------------------------------------------------------------

    def function(self, prim: Any) -> str:
        """The name the code calls ``prim.fn`` by (resolved once per primitive)."""
        key = id(prim)
        name = self.fn_names.get(key)
        if name is None:
            name = self.fn_names[key] = self._function_name(prim)
        return name

    def _function_name(self, prim: Any) -> str:
        fn = prim.fn
        name = prim.name
        if name.startswith("np."):
            try:
                obj = eval(name, {"np": np})  # noqa: S307 - our own names, np only
            except (AttributeError, SyntaxError, NameError):
                obj = None
            if obj is fn:
                return name
        if name.startswith("scipy.special.") or name.startswith("special."):
            short = name.rsplit(".", 1)[-1]
            special = importlib.import_module("scipy.special")
            if getattr(special, short, None) is fn:
                self.imports["scipy"] = "import scipy.special"
                return f"scipy.special.{short}"
        module = getattr(fn, "__module__", None)
        qual = getattr(fn, "__qualname__", None)
        inlined = self.inline(fn) if (module or "").startswith("minitorch_ag") else None
        if inlined is not None:
            return inlined
        if module and qual and "<" not in qual:
            try:
                obj = importlib.import_module(module)
                for part in qual.split("."):
                    obj = getattr(obj, part)
            except (ImportError, AttributeError):
                obj = None
            prim_of = getattr(obj, "primitive", None)
            if obj is fn or getattr(prim_of, "fn", None) is fn:
                alias = _identifier(qual.replace(".", "_").lstrip("_"), self.taken)
                self.imports[alias] = f"from {module} import {qual} as {alias}"
                if module.startswith("minitorch_ag"):
                    self.prog.standalone = False
                self.prog.namespace[alias] = obj
                return alias
        alias = _identifier(getattr(fn, "__name__", "fn").lstrip("_") or "fn", self.taken)
        self.prog.namespace[alias] = fn
        self.prog.standalone = False
        what = getattr(fn, "description", None) or f"{getattr(fn, '__qualname__', fn)!s}"
        self.imports[alias] = f"# {alias}: {what} (not importable)"
        return alias

    def inline(self, fn: Any, depth: int = 0) -> str | None:
        """Copy a small library helper into the generated module, so that the code needs no
        minitorch_ag import: only for a module-level function whose globals are ``np`` and
        other such helpers, with literal defaults and no closure. Returns its name there."""
        key = id(fn)
        if key in self.inlined:
            return self.inlined[key]
        if (depth > 3 or not isinstance(fn, types.FunctionType) or fn.__closure__
                or "<" in fn.__qualname__ or "." in fn.__qualname__):
            return None
        if any(not isinstance(d, (int, float, str, bool, type(None)))
               for d in (fn.__defaults__ or ())) or fn.__kwdefaults__:
            return None
        try:
            source = textwrap.dedent(inspect.getsource(fn))
        except (OSError, TypeError):
            return None
        if not source.startswith(f"def {fn.__name__}("):
            return None  # decorated, or not a plain def
        helpers: dict[str, str] = {}
        for name in _global_names(fn.__code__):
            value = fn.__globals__.get(name, getattr(builtins, name, None))
            if name in ("np", "numpy") and value is np:
                continue
            if value is getattr(builtins, name, None) and name not in fn.__globals__:
                continue
            if (isinstance(value, types.FunctionType)
                    and value.__module__ == fn.__module__):
                inner = self.inline(value, depth + 1)
                if inner is None:
                    return None
                helpers[name] = inner
                continue
            return None
        alias = _identifier(fn.__name__.lstrip("_") or "helper", self.taken)
        text = re.sub(rf"\bdef {re.escape(fn.__name__)}\(", f"def {alias}(", source, count=1)
        for old, new in helpers.items():
            text = re.sub(rf"\b{re.escape(old)}\(", f"{new}(", text)
        self.inlined[key] = alias
        self.helper_defs.append(f"# {alias}: {fn.__module__}.{fn.__name__}, copied\n{text}")
        namespace: dict[str, Any] = {"np": np}
        for other in self.inlined.values():
            if other in self.prog.namespace:
                namespace[other] = self.prog.namespace[other]
        exec(builtins.compile(text, f"<{alias}>", "exec"), namespace)  # noqa: S102 - its own source
        self.prog.namespace[alias] = namespace[alias]
        return alias

    def call_text(self, node: Any) -> list[str]:
        """The statement(s) computing ``node`` (the last assigns its name)."""
        prim = node.prim
        target = self.name(node)
        args = [self.name(p) if p is not None else self.lit(a)
                for a, p in zip(node.args, node.parents, strict=False)]
        if prim is ITEM:
            return [f"{target} = {self.name(node.parents[0])}[{node.args[1]}]"]
        fn = prim.fn
        kwargs = node.kwargs
        kw = "".join(f", {k}={self.lit(v)}" for k, v in kwargs.items())
        values = node.args
        if fn is operator.getitem:
            return [f"{target} = {args[0]}[{self.index_lit(values[1])}]"]
        if fn is tensor_mod.astype:
            return [f"{target} = {args[0]}.astype({args[1]})"]
        fname = getattr(fn, "__name__", "")
        module = getattr(fn, "__module__", "") or ""
        if module == "minitorch_ag.rules.indexing" and fname == "index_put":
            dy, shape, index = values
            parents = node.parents
            if (id(node) in self.sparse_ok and len(shape) >= 2 and _is_arrayish(index)
                    and getattr(index, "dtype", np.dtype(float)).kind in "iu"):
                # a Param's gradient from one row lookup W[ids]: row-sparse, as eager gives it
                self.imports["Sparse"] = "from minitorch_ag.sparse import Sparse"
                self.prog.namespace["Sparse"] = _sparse_class()
                self.prog.standalone = False
                rows = f"{args[0]}.reshape(-1, {', '.join(str(n) for n in shape[1:])})"
                return [f"{target} = Sparse({self.lit(shape)}, {self.lit(index)}, {rows})"]
            if isinstance(node.value, np.ndarray) and parents[2] is None:
                lines = [f"{target} = np.zeros_like({args[0]}, shape={self.lit(shape)})"]
                advanced = any(_is_arrayish(p) or isinstance(p, list) for p in
                               (index if isinstance(index, tuple) else (index,)))
                if advanced:
                    lines.append(f"np.add.at({target}, {self.lit(index)}, {args[0]})")
                else:
                    lines.append(f"{target}[{self.index_lit(index)}] = {args[0]}")
                return lines
        if (module == "minitorch_ag.rules.indexing" and fname == "index_set"
                and isinstance(node.value, np.ndarray) and node.parents[1] is None):
            return [f"{target} = np.array({args[0]}, copy=True)",
                    f"{target}[{self.index_lit(values[1])}] = {args[2]}"]
        if not kwargs and len(args) == 2 and fn in _INFIX and any(
                _is_arrayish(v) for v in values):
            return [f"{target} = {args[0]} {_INFIX[fn]} {args[1]}"]
        if not kwargs and len(args) == 1 and fn in _UNARY and _is_arrayish(values[0]):
            return [f"{target} = {_UNARY[fn]}{args[0]}"]
        if (module.startswith("minitorch_ag.rules") and prim.name.startswith("np.")
                and _varargs_arrays(fn, prim.name)):
            seq = ", ".join(args) + ("," if len(args) == 1 else "")
            return [f"{target} = {prim.name}(({seq}){kw})"]
        return [f"{target} = {self.function(prim)}({', '.join(args)}{kw})"]

    # -- comments ----------------------------------------------------------------------

    def comment(self, node: Any) -> str:
        where: Where | None = self.trace.where.get(id(node))
        if where is None:
            return ""
        if where.rule_of is not None:
            inner = where.rule_of
            prim = inner.prim
            pname = getattr(prim, "name", "?")
            own = self.trace.where.get(id(inner))
            at = f" at {own.short()}" if own and own.file else ""
            which = "" if where.position is None else f", argument {where.position}"
            if where.text == "sum":
                return f"  # add up the gradients of an input of {pname}{at}"
            if where.text == "fit":
                return f"  # fit to the argument's shape (unbroadcast), {pname}{which}{at}"
            return f"  # grad of {pname}{which}{at}"
        return f"  # {where.label()}"


def _sparse_class() -> Any:
    from ..sparse import Sparse  # noqa: PLC0415 - only programs with an embedding need it

    return Sparse


def _scatter(node: Any) -> bool:
    """``node`` is an ``index_put`` into zeros at a basic index (written as zeros + x[s] = dy)."""
    fn = getattr(node.prim, "fn", None)
    if getattr(fn, "__name__", "") != "index_put" or not isinstance(node.value, np.ndarray):
        return False
    if getattr(fn, "__module__", "") != "minitorch_ag.rules.indexing" or node.parents[2]:
        return False
    index = node.args[2]
    parts = index if isinstance(index, tuple) else (index,)
    return not any(_is_arrayish(p) or isinstance(p, list) for p in parts)


def _fuse_slice_sums(nodes: list[Any], deps: dict[int, list[Any]], roots: list[Any],
                     em: _Emitter) -> tuple[dict[int, tuple[Any, Any]], set[int]]:
    """Gradients of disjoint slices of one array, added up, written into one buffer.

    The gates of an LSTM cell are four slices of one array; the backward sweep gives each
    slice's gradient as zeros of the whole shape with the slice filled in, and adds the four
    up: four allocations and three full-size sums. When each such array is used only by the
    sum, and the slices do not overlap, the same values come from one zeros buffer with each
    slice assigned (adding zeros changes no value; only the sign of a zero can differ).

    Returns ``id(add) -> (buffer node, index_put node)`` and the index_put nodes no longer
    written on their own.
    """
    users: dict[int, int] = {}
    for n in nodes:
        for d in deps.get(id(n), ()):
            users[id(d)] = users.get(id(d), 0) + 1
    for r in roots:
        users[id(r)] = users.get(id(r), 0) + 2  # an output or a guard is never a buffer
    fused: dict[int, tuple[Any, Any]] = {}
    skipped: set[int] = set()
    covered: dict[int, np.ndarray] = {}  # buffer node's id -> the elements written so far
    head: dict[int, Any] = {}  # id of a node that is a buffer (or a sum fused into one)
    for n in nodes:
        if _scatter(n):
            mask = np.zeros(n.value.shape, dtype=bool)
            mask[n.args[2]] = True
            covered[id(n)] = mask
            head[id(n)] = n
            continue
        if getattr(n.prim, "fn", None) is not np.add or n.kwargs or len(n.parents) != 2:
            continue
        a, b = n.parents
        if a is None or b is None:
            continue
        for buf, part in ((a, b), (b, a)):
            if (id(buf) in head and _scatter(part) and users.get(id(buf)) == 1
                    and users.get(id(part)) == 1 and id(part) not in fused
                    and n.value.shape == buf.value.shape == part.value.shape
                    and n.value.dtype == buf.value.dtype == part.value.dtype):
                region = np.zeros(part.value.shape, dtype=bool)
                region[part.args[2]] = True
                mask = covered[id(buf)]
                if (mask & region).any():
                    continue
                root = head[id(buf)]
                fused[id(n)] = (root, part)
                skipped.add(id(part))
                covered[id(n)] = mask | region
                head[id(n)] = root
                head.pop(id(part), None)
                break
    return fused, skipped


def _global_names(code: Any) -> list[str]:
    """The global names ``code`` (and the code nested in it) loads."""
    out = [i.argval for i in dis.get_instructions(code) if i.opname == "LOAD_GLOBAL"]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            out.extend(_global_names(const))
    return out


def _varargs_arrays(fn: Any, name: str) -> bool:
    """True for a wrapper whose whole body is ``return np.<name>(arrays, **kwargs)``."""
    try:
        text = inspect.getsource(fn)
    except (OSError, TypeError):
        return False
    return f"return {name}(arrays, **kwargs)" in text and text.count("\n") <= 3


def _guard_lines(guard: Any, name: str) -> list[str]:
    where = guard.where
    at = where.label() if where else "a branch"
    why = repr(f"{at} went the other way")
    if guard.kind == "bool":
        test = f"not {name}" if guard.outcome else name
        return [f"if {test}:  # the trace took this branch", f"    raise GuardFailed({why})"]
    return [f"if int({name}) != {int(guard.outcome)}:  # the trace saw this integer",
            f"    raise GuardFailed({why})"]


def emit(trace: Trace, f: Any, n_args: int, title: str, param_names: dict[int, str],
         functions: tuple[str, ...] = ("forward", "backward", "value_and_grad")) -> Program:
    """Write ``trace`` as a module of ``forward``, ``backward`` and/or ``value_and_grad``.

    ``forward(*inputs)`` returns ``(outputs, saved)``; ``backward(saved, *cotangents)`` the
    gradients; ``value_and_grad(*inputs)`` both at once, with ones as the cotangents.

    Args:
        trace: the trace.
        f: the traced function (its argument names name the inputs).
        n_args: how many arguments the call had.
        title: the module docstring's first line.
        param_names: ``id(Param) -> name`` for the Params the call reached.
        functions: which of ``forward``, ``backward`` and ``value_and_grad`` to write.

    Returns:
        The ``Program`` (raises ``Unsupported`` when the trace cannot be written).
    """
    em = _Emitter(trace, f, n_args, param_names)
    prog = em.prog
    nodes = [n for n in em.nodes if n is not None and n.prim is not None]
    position = {id(n): i for i, n in enumerate(em.nodes) if n is not None}
    start = trace.backward_start

    # 1. what is needed
    outputs = list(trace.outputs)
    grads = [g for _, g in trace.arg_grads] + [g for _, g in trace.param_grads]
    roots = [x for x in outputs + grads if isinstance(x, Result)]
    roots += [g.node for g in trace.guards]
    deps = {id(n): em.deps(n) for n in nodes}
    live: set[int] = set()
    todo = list(roots)
    while todo:
        n = todo.pop()
        if id(n) in live:
            continue
        live.add(id(n))
        todo.extend(deps.get(id(n), ()))
    guards_at: dict[int, list[Any]] = {}
    for g in trace.guards:
        guards_at.setdefault(id(g.node), []).append(g)

    # 2. input names
    inputs = [em.name(leaf) for _, leaf in trace.arg_leaves]
    inputs += [em.name(leaf) for _, leaf in trace.param_leaves]
    prog.inputs = inputs
    cots = [em.name(c) for c in trace.cot_leaves if c is not None]
    prog.cotangents = cots

    def body(section: list[Any]) -> list[Statement]:
        out = []
        for n in section:
            lines = em.call_text(n)
            lines[-1] += em.comment(n)
            for g in guards_at.get(id(n), ()):
                lines.extend(_guard_lines(g, em.name(n)))
            if em.shape_depends_on_data(n):
                shape = tuple(n.value.shape)
                lines += [f"if {em.name(n)}.shape != {shape!r}:  # a shape the data decided",
                          f"    raise GuardFailed({em.comment(n)[4:] + ': another shape'!r})"]
            out.append(Statement(lines, em.name(n), [em.name(d) for d in deps[id(n)]]))
        return out

    fwd_nodes = [n for n in nodes if id(n) in live and position[id(n)] < start]
    bwd_nodes = [n for n in nodes if id(n) in live and position[id(n)] >= start]
    fused, skipped = _fuse_slice_sums(bwd_nodes, deps, roots, em)
    readers: dict[int, int] = {}
    for n in fwd_nodes + bwd_nodes:
        for d in deps.get(id(n), ()):
            readers[id(d)] = readers.get(id(d), 0) + 1
    em.sparse_ok = {id(g) for _, g in trace.param_grads
                    if isinstance(g, Result) and not readers.get(id(g))
                    and sum(1 for _, h in trace.param_grads if h is g) == 1}
    bwd_nodes = [n for n in bwd_nodes if id(n) not in skipped]
    fwd = body(fwd_nodes)
    bwd = []
    for n in bwd_nodes:
        if id(n) in fused:  # A[s] = dy into the buffer A already is: see _fuse_slice_sums
            buffer, part = fused[id(n)]
            em.names[id(n)] = em.name(buffer)
            dy = em.name(part.parents[0])
            line = f"{em.name(buffer)}[{em.index_lit(part.args[2])}] = {dy}" + em.comment(part)
            bwd.append(Statement([line], None, [em.name(buffer), dy]))
        else:
            bwd.extend(body([n]))
    for g in trace.guards:
        if id(g.node) in live and g.node.prim is None:  # a guard on an input itself
            name = em.name(g.node)
            fwd.insert(0, Statement(_guard_lines(g, name), None, [name]))
    prog.n_forward = len(fwd_nodes)
    prog.n_backward = len(bwd_nodes)

    def value_text(x: Any) -> tuple[str, list[str]]:
        if isinstance(x, Result):
            return em.name(x), [em.name(x)]
        return em.lit(x), []

    outs = [value_text(o) for o in outputs]
    out_texts = [t for t, _ in outs]
    out_uses = [u for _, us in outs for u in us]
    grad_texts: list[str] = []
    grad_uses: list[str] = []
    seen_names: set[str] = set()
    leaf_names = set(inputs) | set(cots)
    leaf_by_path = dict(trace.arg_leaves)
    pairs = [(g, leaf_by_path[path]) for path, g in trace.arg_grads]
    if trace.param_grads:  # a training step: the Params' gradients, in their leaves' order
        pairs += [(g, leaf) for (_, g), (_, leaf) in zip(trace.param_grads, trace.param_leaves,
                                                         strict=True)]
    for g, leaf in pairs:
        text, uses = _grad_text(em, g, em.name(leaf), leaf, seen_names, leaf_names)
        grad_texts.append(text)
        grad_uses.extend(uses)

    # 3. which forward names the pullback reads (saved by forward for backward)
    defined_fwd = set(inputs) | {em.name(n) for n in fwd_nodes}
    saved: list[str] = []
    seen_saved: set[str] = set()
    for st in bwd:
        for name in st.uses:
            if name in defined_fwd and name not in seen_saved:
                seen_saved.add(name)
                saved.append(name)
    for name in grad_uses:
        if name in defined_fwd and name not in seen_saved:
            seen_saved.add(name)
            saved.append(name)

    # 4. the text
    header = [f'"""{title}', "",
              "Generated by minitorch_ag.delta: straight-line NumPy code for this call",
              "signature; it runs without minitorch_ag when it imports nothing else below.",
              '"""', "", "import numpy as np"]
    header += sorted(v for v in em.imports.values() if v.startswith(("import", "from")))
    header += ["", "", "class GuardFailed(Exception):",
               '    """A branch or integer the trace saw came out differently: trace again."""']
    for text in em.helper_defs:
        header += ["", ""] + text.rstrip("\n").splitlines()
    notes = [v for v in em.imports.values() if v.startswith("#")]
    if prog.constants:
        header += ["", "", "# Constants of the traced call (arrays saved beside this file by "
                   "save(), or given", "# in the namespace on replay):"]
        for name, v in prog.constants.items():
            desc = (f"{getattr(v, 'dtype', type(v).__name__)} array {tuple(v.shape)}"
                    if _is_arrayish(v) else type(v).__name__)
            header.append(f"# {name}: {desc}")
        header += ["CONSTANTS = globals().get('CONSTANTS') or dict(np.load(__file__[:-3] + "
                   "'.npz', allow_pickle=False))"]
        header += [f"{name} = CONSTANTS[{name!r}]" for name in prog.constants]
    if notes:
        header += ["", "# Functions given to the replay's namespace (no source to import):"]
        header += notes

    parts = []
    if "forward" in functions:
        parts.append(_function("forward", inputs, fwd,
                               f"({_tuple(out_texts)}), ({_tuple(saved)})", out_uses + saved))
    if "backward" in functions:
        head = [Statement([f"{_tuple(saved)} = saved"], None, [])] if saved else []
        parts.append(_function("backward", ["saved", *cots], head + bwd,
                               f"({_tuple(grad_texts)})", grad_uses, defined=saved))
    if "value_and_grad" in functions:
        seeds = []
        for c, (o, _) in zip(trace.cot_leaves, outs, strict=True):
            if c is None:
                continue
            kind = _dtype_of(c.value).kind
            line = f"{em.name(c)} = np.ones_like({o}{'' if kind in 'fc' else ', dtype=float'})"
            seeds.append(Statement([line], em.name(c), [o]))
        parts.append(_function("value_and_grad", inputs, fwd + seeds + bwd,
                               f"({_tuple(out_texts)}), ({_tuple(grad_texts)})",
                               out_uses + grad_uses))
    counts = f"# forward: {prog.n_forward} primitives; backward: {prog.n_backward} rule steps"
    prog.text = "\n".join(header) + "\n\n\n" + counts + "\n" + "\n\n".join(parts)
    return prog


class Statement:
    """Lines of generated code with the name they define and the names they read."""

    __slots__ = ("lines", "defines", "uses")

    def __init__(self, lines: list[str], defines: str | None, uses: list[str]) -> None:
        self.lines = lines
        self.defines = defines
        self.uses = uses


def _grad_text(em: _Emitter, g: Any, leaf_name: str, leaf: Any, seen: set[str],
               leaf_names: set[str]) -> tuple[str, list[str]]:
    if g is None:
        v = leaf.value
        if _is_arrayish(v):
            kind = _dtype_of(v).kind
            return (f"np.zeros_like({leaf_name}{'' if kind in 'fc' else ', dtype=float'})",
                    [leaf_name])
        return "0.0", []
    if isinstance(g, Result):
        name = em.name(g)
        text = name
        if (name in seen or name in leaf_names) and _is_arrayish(g.value):
            text = f"{name}.copy()"
        seen.add(name)
        return text, [name]
    return em.lit(g), []


def _dtype_of(v: Any) -> np.dtype:
    """``v``'s dtype without converting it (a CuPy array must not become a NumPy one)."""
    dtype = getattr(v, "dtype", None)
    return np.dtype(dtype) if dtype is not None else np.result_type(v)


def _tuple(items: list[str]) -> str:
    return ", ".join(items) + ("," if len(items) == 1 else "")


def _function(name: str, params: list[str], body: list[Statement], returns: str,
              returned: list[str], defined: list[str] | None = None) -> str:
    """A function of the statements ``body``, deleting each temporary after its last use."""
    keep = set(params) | set(returned)
    last: dict[str, int] = {}
    for i, st in enumerate(body):
        for u in st.uses:
            last[u] = i
    dying: dict[int, list[str]] = {}
    for u, i in last.items():
        if u not in keep:
            dying.setdefault(i, []).append(u)
    lines = [f"def {name}({', '.join(params)}):"]
    for i, st in enumerate(body):
        lines.extend("    " + s for s in st.lines)
        dead = dying.get(i)
        if dead:
            lines.append(f"    del {', '.join(sorted(dead))}")
    lines.append(f"    return {returns}")
    return "\n".join(lines) + "\n"
