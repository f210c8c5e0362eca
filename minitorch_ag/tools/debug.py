"""Looking inside a tape: listing its nodes, inspecting them one by one, drawing the graph.

``ag.show(tape)`` prints the nodes in creation order, line for line in the format of the
AutoGrad.jl README's listing (``1. P(Array{Float64,2}(2,3)) ∇=Array{Float64,2}(2,3)``)::

    1. P(ndarray{float64,2}(2,3)) ∇=ndarray{float64,2}(2,3)
    2. ndarray{float64,2}(2,4) = np.matmul(ndarray{float64,2}(2,3), ndarray{float64,2}(3,4)) ...
    6. 14.695603907991153 = np.sum(ndarray{float64,2}(2,4)) ∇=1.0

Each line gives the node's number, a summary of its value (array type, dtype, number of
dimensions and dimensions, as Julia's ``Array{Float64,2}(2,3)``; a scalar in full precision),
then for a Param's leaf ``P(...)`` and for any other node ``= primitive(summaries of the
arguments)``, and, where the backward pass has left one, ``∇=`` with the gradient's summary
(``∇=1.0`` on the result's line). ``refs=True`` writes the arguments computed on the tape as
``#k`` references to their lines instead. ``print(tape)`` keeps the short ``T(14.0)``.

The listing formats what the tape holds: gradients appear on the nodes the backward sweep has
reached and kept. ``ag.show(tape, grads=True)`` runs the sweep itself first when it has not
run yet, keeping every node and its gradient; ``grad`` afterwards returns the very same
gradients without sweeping again.

``ag.nodes(tape)`` gives the nodes as :class:`NodeView` objects (value, parents, children,
gradient, primitive, ``dump()``) for interactive digging; ``ag.nodes(tape, reverse=True)`` is
the README's ``collect(J.list)``, newest first. ``ag.draw(tape, path)`` writes the graph as
Graphviz DOT, or renders it as PNG/SVG/PDF with Graphviz's ``dot`` when that is installed.

``ag.set_gcnode(fn)`` is AutoGrad.jl's ``gcnode`` hook: ``fn(node)`` decides what happens to
each node the backward pass is done with; ``ag.set_gcnode(lambda node: None)`` keeps them all
(the README's ``AutoGrad.gcnode(::AutoGrad.Node)=nothing``), so that ``show`` after ``grad``
lists every node with its gradient.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, TextIO

import numpy as np

from ..backend import array_module
from ..tape import ITEM, Tape, backward, seed_like
from ..tensor import Param, raw
from . import _switch

__all__ = ["NodeView", "Listing", "nodes", "listing", "show", "draw", "to_dot", "set_gcnode",
           "free_node"]


# ----------------------------------------------------------------------------------------
# Summaries of values
# ----------------------------------------------------------------------------------------


def _scalar(v: Any) -> str:
    """A number as AutoGrad.jl's listing prints it: every digit (``14.695603907991153``)."""
    if isinstance(v, (np.generic, int, float, complex, bool)):
        return str(v)  # NumPy's shortest round-tripping form, in the scalar's own precision
    text = repr(v)
    return text if len(text) <= 30 else text[:27] + "..."


def summary(v: Any) -> str:
    """A short description of a value, as AutoGrad.jl's listing writes ``Array{Float64,2}(2,3)``.

    An array gives its type, dtype, number of dimensions and dimensions (with ``cupy.`` in
    front of a GPU array's type); a scalar or a 0-d array gives the number itself, in full
    precision; tuples and lists give their items' summaries.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.tools.debug import summary
        >>> summary(np.zeros((2, 3), dtype=np.float32)), summary(np.float64(2.5)), summary(2)
        ('ndarray{float32,2}(2,3)', '2.5', '2')
    """
    v = raw(v)
    if v is None:
        return "None"
    if isinstance(v, (tuple, list)):
        inner = ", ".join(summary(x) for x in v[:4]) + (", ..." if len(v) > 4 else "")
        return f"({inner})" if isinstance(v, tuple) else f"[{inner}]"
    if hasattr(v, "to_dense") and hasattr(v, "indices"):  # a Sparse gradient
        return f"Sparse({summary(v.values)} at {len(v.indices)} rows)"
    shape = getattr(v, "shape", None)
    dtype = getattr(v, "dtype", None)
    if shape is None or dtype is None or isinstance(v, np.generic):
        return _scalar(v)
    if len(shape) == 0:  # a 0-d array is a number to the reader (the README's ∇=1.0)
        return _scalar((v if array_module(v) is np else v.get())[()])
    kind = type(v).__name__
    if array_module(v) is not np:
        kind = f"{type(v).__module__.split('.')[0]}.{kind}"
    return f"{kind}{{{dtype},{len(shape)}}}({','.join(str(n) for n in shape)})"


# ----------------------------------------------------------------------------------------
# Nodes
# ----------------------------------------------------------------------------------------


class NodeView:
    """One node of a tape, for reading: what it holds and where it came from.

    Nodes can be walked both ways: ``parents`` are the nodes of the arguments (as AutoGrad.jl's
    ``Node.parents``), ``children`` the nodes that used this one (``Node.children``).

    Attributes:
        number: its position on the tape, counting from 1 (as printed by ``show``).
        node: the underlying ``Result``.
    """

    __slots__ = ("number", "node", "_numbers", "_views", "_children")

    def __init__(self, number: int, node: Any, numbers: dict[int, int],
                 views: dict[int, NodeView]) -> None:
        self.number = number
        self.node = node
        self._numbers = numbers
        self._views = views
        self._children: list[NodeView] = []

    @property
    def value(self) -> Any:
        """The value the node computed (the plain array, whatever tape it is on)."""
        return raw(self.node.value)

    @property
    def primitive(self) -> str | None:
        """The name of the primitive (``"np.matmul"``); ``None`` for a leaf."""
        prim = self.node.prim
        return None if prim is None else prim.name

    @property
    def param(self) -> Param | None:
        """The ``Param`` this leaf stands for, if it is one."""
        args = self.node.args
        if self.node.prim is None and args and isinstance(args[0], Param):
            return args[0]
        return None

    @property
    def is_leaf(self) -> bool:
        """True for a Param's leaf or an argument of the function interface."""
        return self.node.prim is None

    @property
    def parents(self) -> tuple[NodeView | None, ...]:
        """The nodes of the tracked arguments, aligned with ``args`` (``None`` for constants)."""
        if self.is_leaf or self.node.parents is None:
            return ()
        return tuple(None if p is None else self._views.get(id(p)) for p in self.node.parents)

    @property
    def children(self) -> tuple[NodeView, ...]:
        """The nodes that took this one as an argument, in creation order, each once."""
        return tuple(self._children)

    @property
    def args(self) -> tuple[Any, ...]:
        """The argument values the gradient rules receive (``()`` once released)."""
        if self.is_leaf or self.node.args is None:
            return ()
        return tuple(raw(a) for a in self.node.args)

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the call."""
        return dict(self.node.kwargs or {})

    @property
    def gradient(self) -> Any:
        """The gradient that reached this node in the backward pass, or ``None``."""
        g = self.node.outgrad
        return g if isinstance(g, list) else raw(g)

    def _argument(self, value: Any, parent: Any, refs: bool) -> str:
        if parent is not None and refs:
            return f"#{self._numbers.get(id(parent), '?')}"
        return summary(value)

    def _call(self, refs: bool) -> str:
        node = self.node
        if node.prim is None:
            p = self.param
            return f"P({summary(self.value)})" if p is not None else f"leaf({summary(self.value)})"
        if node.args is None:
            return f"{summary(self.value)} = {node.prim.name}(released)"
        if node.prim is ITEM:  # one output of a primitive returning a tuple
            parent = node.parents[0]
            source = self._argument(None if parent is None else parent.value, parent, refs)
            return f"{summary(self.value)} = {source}[{node.args[1]}]"
        parents = node.parents or ()
        parts = [self._argument(a, parents[pos] if pos < len(parents) else None, refs)
                 for pos, a in enumerate(node.args)]
        parts += [f"{k}={_short(v)}" for k, v in (node.kwargs or {}).items()]
        return f"{summary(self.value)} = {node.prim.name}({', '.join(parts)})"

    def line(self, refs: bool = False) -> str:
        """The node as one line of ``show`` (arguments on the tape as ``#k`` with ``refs``)."""
        g = self.node.outgrad
        grad = "" if g is None else f" ∇={summary(self.gradient)}"
        return f"{self.number}. {self._call(refs)}{grad}"

    def dump(self, file: TextIO | None = None) -> None:
        """Print everything the node holds (AutoGrad.jl's ``dump``), values abbreviated."""
        lines = [f"node {self.number}: {self.primitive or ('Param' if self.param else 'leaf')}",
                 f"  value:    {summary(self.value)}  {_preview(self.value)}"]
        for pos, a in enumerate(self.args):
            parent = self.parents[pos] if self.parents else None
            ref = f"#{parent.number} " if parent is not None else "constant "
            lines.append(f"  arg {pos}:    {ref}{summary(a)}  {_preview(a)}")
        for k, v in self.kwargs.items():
            lines.append(f"  {k}= {_short(v)}")
        lines.append(f"  children: {', '.join(f'#{c.number}' for c in self._children) or '-'}")
        lines.append(f"  gradient: {summary(self.gradient)}  {_preview(self.gradient)}")
        print("\n".join(lines), file=file or sys.stdout)

    def __repr__(self) -> str:
        return f"<node {self.line(refs=True)}>"


def _short(v: Any) -> str:
    v = raw(v)
    if hasattr(v, "shape") and not isinstance(v, np.generic):
        return summary(v)
    text = repr(v)
    return text if len(text) <= 30 else text[:27] + "..."


def _preview(v: Any) -> str:
    v = raw(v)
    if v is None or isinstance(v, (tuple, list)):
        return ""
    with np.printoptions(precision=4, threshold=8, edgeitems=2, linewidth=60):
        text = str(v if array_module(v) is np else v.get()).replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


class Listing:
    """What ``show`` prints: the nodes, one line each, and notes on what cannot be shown.

    ``str(listing)`` is the text; ``listing[k]`` is node number ``k`` (as printed, from 1);
    iterating gives the :class:`NodeView` objects in order. ``refs`` chooses ``#k`` references
    for the arguments computed on the tape instead of their summaries.
    """

    def __init__(self, tape: Tape, views: list[NodeView], notes: list[str],
                 refs: bool = False) -> None:
        self.tape = tape
        self.nodes = views
        self.notes = notes
        self.refs = refs

    def __getitem__(self, number: int) -> NodeView:
        for v in self.nodes:
            if v.number == number:
                return v
        raise KeyError(
            f"listing[{number}]: no node numbered {number} (numbers shown: "
            f"{', '.join(str(v.number) for v in self.nodes) or 'none'})"
        )

    def __iter__(self) -> Iterator[NodeView]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __str__(self) -> str:
        lines = [v.line(self.refs) for v in self.nodes]
        return "\n".join([*lines, *(f"({n})" for n in self.notes)])

    __repr__ = __str__


def _views(tape: Tape) -> tuple[list[NodeView], int]:
    numbers: dict[int, int] = {}
    views: dict[int, NodeView] = {}
    out = []
    released = 0
    for i, node in enumerate(tape.nodes):
        if node is None:
            released += 1
            continue
        numbers[id(node)] = i + 1
        view = NodeView(i + 1, node, numbers, views)
        views[id(node)] = view
        out.append(view)
        if node.prim is not None:
            for parent in dict.fromkeys(id(p) for p in (node.parents or ()) if p is not None):
                up = views.get(parent)
                if up is not None:
                    up._children.append(view)
    return out, released


def _sweep_keeping(tape: Tape) -> None:
    """The backward pass ``grad`` would run, but keeping every node and its gradient."""
    backward(tape, [(tape.result, seed_like(raw(tape.value)))], retain=True)
    tape.swept = True


def nodes(tape: Tape, grads: bool = False, reverse: bool = False) -> list[NodeView]:
    """The nodes of ``tape`` in creation order, as :class:`NodeView` objects.

    With ``grads=True`` the backward pass is run first, keeping every gradient (see ``show``).
    With ``reverse=True`` the newest node comes first, as AutoGrad.jl's ``collect(J.list)``.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> x = ag.Param(np.array([1.0, 2.0]))
        >>> t = ag.diff(lambda: np.sum(x * x))
        >>> [n.primitive for n in ag.nodes(t)], [n.number for n in ag.nodes(t, reverse=True)]
        ([None, 'np.multiply', 'np.sum'], [3, 2, 1])
    """
    views = listing(tape, grads=grads).nodes
    return views[::-1] if reverse else views


def listing(tape: Tape, grads: bool = False, refs: bool = False) -> Listing:
    """The nodes of ``tape`` as a :class:`Listing` (what :func:`show` prints).

    Args:
        tape: a Tape from ``diff``.
        grads: run the backward pass first, keeping every node's gradient, when it has not
            run yet. ``grad(tape, p)`` then returns the same gradients without a new sweep.
        refs: write arguments computed on the tape as ``#k`` (the line that computed them)
            instead of their summaries.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> x = ag.Param(np.array([1.0, 2.0]))
        >>> print(ag.listing(ag.diff(lambda: np.sum(np.exp(x))), grads=True))
        1. P(ndarray{float64,1}(2)) ∇=ndarray{float64,1}(2)
        2. ndarray{float64,1}(2) = np.exp(ndarray{float64,1}(2)) ∇=ndarray{float64,1}(2)
        3. 10.107337927389695 = np.sum(ndarray{float64,1}(2)) ∇=1.0
    """
    if not isinstance(tape, Tape):
        raise TypeError(
            f"show/listing/nodes(tape): expected the Tape returned by ag.diff; got "
            f"{type(tape).__name__}"
        )
    notes = []
    if tape.is_live():
        notes.append("the tape is still recording: nodes so far, no gradients yet")
    elif grads and not tape.swept:
        if tape.result is not None:
            _sweep_keeping(tape)
        else:
            notes.append("the result does not depend on any Param: there are no gradients")
    views, released = _views(tape)
    if released:
        notes.append(
            f"{released} intermediate nodes were released by the backward pass that "
            f"grad(tape, ...) ran; call ag.show(tape, grads=True) before the first grad() to "
            f"keep them"
        )
    return Listing(tape, views, notes, refs)


def show(tape: Tape, grads: bool = False, refs: bool = False,
         file: TextIO | None = None) -> None:
    """Print the nodes of ``tape`` in order, one line each, as the AutoGrad.jl README does.

    Args:
        tape: a Tape from ``diff``.
        grads: run the backward pass first (keeping every node) so that each node shows the
            gradient that reached it; without it, gradients show where a sweep has already
            left them.
        refs: write arguments computed on the tape as ``#k`` references.
        file: where to print (default ``sys.stdout``).

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> x = ag.Param(np.array([1.0, 2.0]))
        >>> ag.show(ag.diff(lambda: np.sum(np.exp(x))), refs=True)
        1. P(ndarray{float64,1}(2))
        2. ndarray{float64,1}(2) = np.exp(#1)
        3. 10.107337927389695 = np.sum(#2)
    """
    print(listing(tape, grads=grads, refs=refs), file=file or sys.stdout)


# ----------------------------------------------------------------------------------------
# gcnode: what the backward pass does with a node it is done with
# ----------------------------------------------------------------------------------------


def free_node(node: Any) -> None:
    """The default ``gcnode``: release the node's gradient, saved arguments and parent links.

    This is what the backward pass does to every node once past it, so that memory stays flat
    on long chains; the node's slot on the tape is released with it.
    """
    node.outgrad = node.args = node.parents = None


class _GCNode(_switch.Hook):
    """Runs the sweep keeping every node, then hands each one to ``gcnode``, newest first."""

    def __init__(self, gcnode: Callable[[Any], None]) -> None:
        self.gcnode = gcnode

    def wrap_engine(self, kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        if kind != "sweep":
            return fn
        gcnode = self.gcnode

        def sweep(tape: Tape, seeds: list[tuple[Any, Any]], retain: bool = False) -> None:
            fn(tape, seeds, retain=True)
            if retain:  # a pullback that sweeps again keeps its nodes whatever gcnode says
                return
            nodes = tape.nodes
            for i in range(len(nodes) - 1, -1, -1):
                node = nodes[i]
                if node is None or node.prim is None:  # released already, or a leaf
                    continue
                gcnode(node)
                if node.args is None:  # freed: its slot goes too, as the sweep's own release
                    nodes[i] = None

        return sweep


_gcnode_hook: _GCNode | None = None


def set_gcnode(fn: Callable[[Any], None] | None) -> None:
    """Choose what the backward pass does with each node it is done with (AutoGrad.jl's gcnode).

    ``fn(node)`` is called with every node that is not a leaf (the ``Result``: ``value``,
    ``prim``, ``args``, ``parents``, ``outgrad``), newest first, once the sweep that ``grad``
    runs has finished; a node whose ``args`` it set to ``None`` is released from the tape, any
    other is kept. ``lambda node: None`` keeps every node (the README's
    ``AutoGrad.gcnode(::AutoGrad.Node)=nothing``); :func:`free_node` is what happens by default.
    ``None`` (or ``free_node``) puts the engine's own sweep back, which releases each node as soon
    as it is past it. While another ``fn`` is set, the sweep is switched in through the same
    mechanism as the profiler's, and peak memory is that of a sweep that keeps every node.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> x = ag.Param(np.array([1.0, 2.0]))
        >>> ag.set_gcnode(lambda node: None)
        >>> t = ag.diff(lambda: np.sum(np.exp(x)))
        >>> g = ag.grad(t, x)
        >>> ag.show(t, refs=True)
        1. P(ndarray{float64,1}(2)) ∇=ndarray{float64,1}(2)
        2. ndarray{float64,1}(2) = np.exp(#1) ∇=ndarray{float64,1}(2)
        3. 10.107337927389695 = np.sum(#2) ∇=1.0
        >>> ag.set_gcnode(None)
    """
    global _gcnode_hook
    if fn is not None and not callable(fn):
        raise TypeError(f"set_gcnode(fn): fn must be a function of a node, or None; got "
                        f"{type(fn).__name__}")
    if _gcnode_hook is not None:
        _switch.deactivate(_gcnode_hook)
        _gcnode_hook = None
    if fn is not None and fn is not free_node:
        _gcnode_hook = _GCNode(fn)
        _switch.activate(_gcnode_hook)


# ----------------------------------------------------------------------------------------
# Drawing
# ----------------------------------------------------------------------------------------


def _label(view: NodeView, grads: bool) -> str:
    if view.is_leaf:
        head = f"#{view.number} {'P' if view.param is not None else 'leaf'}"
    elif view.node.prim is ITEM:
        head = f"#{view.number} output {view.node.args[1]}"
    else:
        head = f"#{view.number} {view.primitive}"
    text = f"{head}\n{summary(view.value)}"
    if grads and view.node.outgrad is not None:
        text += f"\n∇ {summary(view.gradient)}"
    return text


def _graph(tape: Tape, grads: bool) -> tuple[list[NodeView], list[tuple[str, str, str, bool]],
                                               dict[str, str]]:
    """Nodes, edges (source id, target id, label, from a constant) and constants' labels."""
    views = listing(tape, grads=grads).nodes
    edges = []
    constants = {}
    for v in views:
        node = v.node
        if v.is_leaf or node.args is None:
            continue
        if node.prim is ITEM:
            parent = node.parents[0]
            edges.append((f"n{v._numbers.get(id(parent), 0)}", f"n{v.number}", "", False))
            continue
        for pos, a in enumerate(node.args):
            parent = node.parents[pos] if node.parents else None
            if parent is not None:
                edges.append((f"n{v._numbers.get(id(parent), 0)}", f"n{v.number}", str(pos),
                              False))
            elif hasattr(raw(a), "shape") and not isinstance(raw(a), np.generic):
                cid = f"c{v.number}_{pos}"
                constants[cid] = summary(a)
                edges.append((cid, f"n{v.number}", str(pos), True))
    return views, edges, constants


def _dot_text(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(tape: Tape, grads: bool = False) -> str:
    """The computational graph of ``tape`` as Graphviz DOT source.

    Params are blue ellipses, the result has a double border, constant array arguments are
    grey; edges carry the argument position.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> x = ag.Param(np.array([1.0, 2.0]))
        >>> print(ag.tools.debug.to_dot(ag.diff(lambda: np.sum(x * 2.0))).splitlines()[0])
        digraph tape {
    """
    views, edges, constants = _graph(tape, grads)
    out = ["digraph tape {", '  rankdir=TB;',
           '  node [fontname="Helvetica", fontsize=10, shape=box, style="rounded,filled", '
           'fillcolor="#f5f5f5"];', '  edge [fontname="Helvetica", fontsize=8];']
    for v in views:
        attrs = [f'label="{_dot_text(_label(v, grads))}"']
        if v.is_leaf:
            attrs += ["shape=ellipse", 'fillcolor="#cfe2ff"']
        if v.node is tape.result:
            attrs += ["peripheries=2", 'fillcolor="#d1e7dd"']
        out.append(f"  n{v.number} [{', '.join(attrs)}];")
    for cid, text in constants.items():
        out.append(f'  {cid} [label="{_dot_text(text)}", shape=plaintext, style="", '
                   f'fontcolor="#666666"];')
    for src, dst, label, const in edges:
        style = ', style=dashed, color="#999999"' if const else ""
        out.append(f'  {src} -> {dst} [label="{label}"{style}];')
    out.append("}")
    return "\n".join(out) + "\n"


def draw(tape: Tape, path: str | os.PathLike[str], grads: bool = False) -> str:
    """Draw the computational graph of ``tape`` into ``path``; return the path.

    ``.dot`` / ``.gv`` writes Graphviz DOT source. ``.png``, ``.svg`` and ``.pdf`` are rendered
    by Graphviz's ``dot``, which must be installed for them (``RuntimeError`` otherwise).

    Args:
        tape: a Tape from ``diff``.
        path: the file to write; its extension chooses the format.
        grads: run the backward pass first and label every node with its gradient.

    Example:
        >>> import os, tempfile, numpy as np, minitorch_ag as ag
        >>> x = ag.Param(np.array([1.0, 2.0]))
        >>> path = os.path.join(tempfile.mkdtemp(), "graph.dot")
        >>> ag.draw(ag.diff(lambda: np.sum(x * x)), path) == path
        True
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext in (".dot", ".gv"):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(to_dot(tape, grads))
        return path
    if ext not in (".png", ".svg", ".pdf"):
        raise ValueError(
            f"draw(tape, path): cannot tell the format from the extension {ext!r} of {path!r}; "
            f"use .dot or .gv (Graphviz source), .png, .svg or .pdf"
        )
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(
            f"draw(tape, {path!r}): rendering {ext} needs Graphviz's dot program, which is not "
            f"installed (e.g. apt install graphviz); write a .dot file instead, or install it"
        )
    _render_graphviz(dot, to_dot(tape, grads), path, ext[1:])
    return path


def _render_graphviz(dot: str, source: str, path: str, fmt: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".dot", delete=False, encoding="utf-8") as fh:
        fh.write(source)
    try:
        subprocess.run([dot, f"-T{fmt}", fh.name, "-o", path], check=True,
                       capture_output=True, timeout=60)
    finally:
        os.unlink(fh.name)
