"""Tape printing, node inspection and graph drawing (minitorch_ag/tools/debug.py).

The listing's reference is the AutoGrad.jl README's: its lines are kept in
``tests/data/autograd_jl_readme.txt`` and parsed here with the same grammar as ours.
"""

from __future__ import annotations

import io
import re
import stat
from pathlib import Path

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import Param, diff, grad
from minitorch_ag.tools import debug as agdebug

README = Path(__file__).parent / "data" / "autograd_jl_readme.txt"


def _seed_model():
    """The AutoGrad.jl README's example, with fixed values: sum(abs2, w*x .+ b - y)."""
    w = Param(np.linspace(0.1, 0.6, 6).reshape(2, 3))
    b = Param(np.array([[0.5], [-0.5]]))
    x = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    y = np.linspace(0.0, 1.0, 8).reshape(2, 4)
    return w, b, lambda: np.sum(np.square(w @ x + b - y))


def _text(tape, **kw):
    out = io.StringIO()
    ag.show(tape, file=out, **kw)
    return out.getvalue()


# One grammar for both listings: "N. P(S) ∇=G" or "N. S = f(A, ...) ∇=G". The README's lines
# close the call with one parenthesis too many ("...(2,4))) ∇="): the grammar allows it.
_LINE = re.compile(r"^(?P<n>\d+)\. (?:P\((?P<param>[^ ]+)\)|(?P<value>[^ ]+) = "
                   r"(?P<fn>[^(]+)\((?P<args>.*)\))(?: ∇=(?P<grad>[^ ]+))?$")
_ARRAY = re.compile(r"^(?:[\w.]+)\{(\w+),(\d+)\}\(([\d,]*)\)$")


def _array(text):
    """('float64', (2, 3)) for 'Array{Float64,2}(2,3)' or 'ndarray{float64,2}(2,3)'; None else."""
    m = _ARRAY.match(text)
    if m is None:
        return None
    dims = tuple(int(d) for d in m.group(3).split(",") if d)
    assert len(dims) == int(m.group(2)), text  # the number of dimensions is stated, and right
    return m.group(1).lower(), dims


def _parse(lines):
    """Each line as (number, kind, value, array arguments, gradient), strictly."""
    out = []
    for line in lines:
        m = _LINE.match(line)
        assert m is not None, f"not in the listing's format: {line!r}"
        if m["param"] is not None:
            kind, value, args = "P", _array(m["param"]), []
            assert value is not None, line
        else:
            kind = "call"
            value = _array(m["value"]) or m["value"]
            text = m["args"]
            if text.count(")") > text.count("("):  # the README's extra parenthesis
                text = text[:-1]
            args = [a for a in (_array(x) for x in text.split(", ")) if a is not None]
        grad_ = m["grad"] and (_array(m["grad"]) or m["grad"])
        out.append((int(m["n"]), kind, value, args, grad_))
    return out


def _readme_listing():
    text = README.read_text(encoding="utf-8")
    block = text.split("## listing\n")[1].split("## ")[0]
    return block.strip().splitlines()


def test_listing_matches_the_autograd_jl_readme_line_for_line():
    # The README's example with its shapes; sum(abs2, .) is one primitive there, so here too.
    sum_abs2 = ag.primitive(lambda a: np.sum(a * a), lambda dy, y, a: 2 * dy * a,
                            name="sum_abs2")
    rng = np.random.default_rng(0)
    w = Param(rng.random((2, 3)))
    b = Param(rng.random((2, 1)))
    x, y = rng.random((3, 4)), rng.random((2, 4))
    J = diff(lambda: sum_abs2(w @ x + b - y))
    ours = _text(J, grads=True).splitlines()
    theirs = _readme_listing()
    assert len(ours) == len(theirs) == 6
    mine, seed = _parse(ours), _parse(theirs)
    for a, s in zip(mine, seed, strict=True):
        assert a[0] == s[0] and a[1] == s[1]  # numbered from 1; Params at the same lines
        if isinstance(s[2], tuple):
            assert a[2] == s[2] and a[4] == s[4]  # the value's and the gradient's summaries
        assert a[3] == s[3]  # the summaries of the array arguments, in order
    # The result's line: the scalar in full precision (it reads back exactly), then ∇=1.0.
    value_text = mine[-1][2]
    assert float(seed[-1][2]) == 14.695603907991153 and repr(float(seed[-1][2])) == seed[-1][2]
    assert float(value_text) == float(ag.value(J)) and repr(float(ag.value(J))) == value_text
    assert mine[-1][4] == seed[-1][4] == "1.0"
    assert ours[1].startswith("2. ndarray{float64,2}(2,4) = np.matmul(ndarray{float64,2}(2,3), ")


def test_show_lists_nodes_in_order_with_params_and_summaries():
    w, b, loss = _seed_model()
    tape = diff(loss)
    assert repr(tape).startswith("T(")  # print(tape) keeps the short form (API.md)
    lines = _text(tape).splitlines()
    total = repr(float(ag.value(tape)))
    a23, a24, a21, a34 = ("ndarray{float64,2}(2,3)", "ndarray{float64,2}(2,4)",
                          "ndarray{float64,2}(2,1)", "ndarray{float64,2}(3,4)")
    assert lines == [
        f"1. P({a23})",
        f"2. {a24} = np.matmul({a23}, {a34})",
        f"3. P({a21})",
        f"4. {a24} = np.add({a24}, {a21})",
        f"5. {a24} = np.subtract({a24}, {a24})",
        f"6. {a24} = np.square({a24})",
        f"7. {total} = np.sum({a24})",
    ]
    refs = _text(tape, refs=True).splitlines()
    assert refs[1] == f"2. {a24} = np.matmul(#1, {a34})" and refs[3] == f"4. {a24} = np.add(#2, #3)"
    assert refs[6] == f"7. {total} = np.sum(#6)"


def test_show_with_grads_keeps_every_node_and_grad_returns_the_same_gradients():
    w, b, loss = _seed_model()
    expected_w, expected_b = grad(diff(loss), w), grad(diff(loss), b)
    tape = diff(loss)
    lines = _text(tape, grads=True).splitlines()
    assert lines[0] == "1. P(ndarray{float64,2}(2,3)) ∇=ndarray{float64,2}(2,3)"
    assert lines[1].endswith(" ∇=ndarray{float64,2}(2,4)")
    assert lines[-1].endswith(" ∇=1.0") and len(lines) == 7
    assert tape.swept and all(n is not None for n in tape.nodes)
    np.testing.assert_array_equal(grad(tape, w), expected_w)
    np.testing.assert_array_equal(grad(tape, b), expected_b)
    # The gradient of every intermediate node is there to read: d/d(square input) = 2 * r.
    views = ag.nodes(tape)
    r = views[4].value
    np.testing.assert_allclose(views[4].gradient, 2 * r)


def test_show_prints_the_gradients_the_tape_holds():
    w, b, loss = _seed_model()
    tape = diff(loss)
    grad(tape, w)
    lines = _text(tape).splitlines()  # whatever the sweep kept shows its gradient
    kept = [n for n in tape.nodes if n is not None]
    assert len([line for line in lines if line[0].isdigit()]) == len(kept)
    assert lines[0] == "1. P(ndarray{float64,2}(2,3)) ∇=ndarray{float64,2}(2,3)"
    assert all(" ∇=" in line for line in lines if line[0].isdigit())
    released = len(tape.nodes) - len(kept)
    if released:
        assert f"{released} intermediate nodes were released" in lines[-1]
        assert "ag.show(tape, grads=True) before the first grad()" in lines[-1]


def test_nodes_are_inspectable_objects_walkable_both_ways():
    w, b, loss = _seed_model()
    tape = diff(loss)
    listing = ag.listing(tape, grads=True)
    node = listing[5]
    assert node.number == 5 and node.primitive == "np.subtract" and not node.is_leaf
    assert node.parents[0] is listing[4] and node.parents[1] is None
    assert node.children == (listing[6],) and listing[7].children == ()
    assert listing[1].children == (listing[2],) and listing[3].children == (listing[4],)
    np.testing.assert_array_equal(node.value, listing[4].value - node.args[1])
    assert listing[1].param is w and listing[1].is_leaf and listing[1].primitive is None
    assert listing[1].parents == () and listing[1].args == ()
    np.testing.assert_array_equal(listing[1].gradient, grad(tape, w))
    assert [v.number for v in listing] == list(range(1, 8)) and len(listing) == 7
    # collect(J.list): newest first
    assert [v.number for v in ag.nodes(tape, reverse=True)] == list(range(7, 0, -1))
    out = io.StringIO()
    node.dump(file=out)
    dumped = out.getvalue()
    assert dumped.startswith("node 5: np.subtract\n  value:    ndarray{float64,2}(2,4)  [[")
    assert "  arg 0:    #4 ndarray{float64,2}(2,4)" in dumped
    assert "  arg 1:    constant ndarray{float64,2}(2,4)" in dumped
    assert "  children: #6\n" in dumped
    assert "  gradient: ndarray{float64,2}(2,4)" in dumped
    assert repr(node).startswith("<node 5. ndarray{float64,2}(2,4) = np.subtract(#4,")
    with pytest.raises(KeyError, match=r"listing\[9\]: no node numbered 9 \(numbers shown: 1, 2"):
        listing[9]


def test_a_node_used_twice_has_two_children_and_one_entry_per_child():
    x = Param(np.array([1.0, 2.0]))
    tape = diff(lambda: np.sum(x * x + np.exp(x)))
    listing = ag.listing(tape)
    assert [c.primitive for c in listing[1].children] == ["np.multiply", "np.exp"]
    assert listing[4].parents == (listing[2], listing[3])


def test_keyword_arguments_constants_and_multiple_outputs_are_shown():
    x = Param(np.arange(6.0).reshape(2, 3))
    tape = diff(lambda: np.sum(np.mean(x, axis=0) ** 2))
    text = _text(tape)
    assert "2. ndarray{float64,1}(3) = np.mean(ndarray{float64,2}(2,3), axis=0)" in text
    assert "3. ndarray{float64,1}(3) = np.power(ndarray{float64,1}(3), 2)" in text
    a = Param(np.array([[2.0, 1.0], [1.0, 3.0]]))
    tape = diff(lambda: np.sum(np.linalg.eigh(a)[0] * 2.0))
    lines = _text(tape, grads=True, refs=True).splitlines()
    assert lines[1] == ("2. (ndarray{float64,1}(2), ndarray{float64,2}(2,2)) = "
                        "np.linalg.eigh(#1) ∇=[ndarray{float64,1}(2), None]")
    assert lines[2] == "3. ndarray{float64,1}(2) = #2[0] ∇=ndarray{float64,1}(2)"
    assert lines[3] == "4. ndarray{float64,2}(2,2) = #2[1]"  # unused output: no gradient
    assert lines[4].startswith("5. ndarray{float64,1}(2) = np.multiply(#3, 2.0)")
    plain = _text(tape).splitlines()
    assert plain[2].startswith("3. ndarray{float64,1}(2) = (ndarray{float64,1}(2), "
                               "ndarray{float64,2}(2,2))[0]")


def test_float32_and_nested_tapes():
    x = Param(np.ones(3, dtype=np.float32))
    inner = []

    def f():
        t = diff(lambda: np.sum(np.sin(x)))
        inner.append(t)
        return np.sum(grad(t, x))

    outer = diff(f)
    assert _text(inner[0], refs=True).startswith("1. P(ndarray{float32,1}(3))")
    text = _text(outer, grads=True, refs=True)
    assert "1. P(ndarray{float32,1}(3)) ∇=ndarray{float32,1}(3)" in text
    assert "= np.cos(#1)" in text and "np.sin(#1)" in text
    np.testing.assert_allclose(grad(outer, x), -np.sin(np.ones(3)), rtol=1e-6)
    y = Param(np.array([0.1, 0.2], dtype=np.float32))
    last = _text(diff(lambda: np.sum(y)), grads=True).splitlines()[-1]
    assert last == f"2. {str(np.sum(np.array([0.1, 0.2], dtype=np.float32)))} = " \
                   "np.sum(ndarray{float32,1}(2)) ∇=1.0"  # float32 printed as float32


def test_listing_of_a_live_tape_and_of_a_constant_result():
    x = Param(np.array([1.0, 2.0]))
    seen = []

    def f():
        y = np.exp(x)
        seen.append(str(ag.listing(ag.tape.active_tapes()[-1], grads=True, refs=True)))
        return np.sum(y)

    diff(f)
    assert "2. ndarray{float64,1}(2) = np.exp(#1)" in seen[0]
    assert "the tape is still recording" in seen[0]
    const = diff(lambda: 3.0)
    assert "the result does not depend on any Param" in _text(const, grads=True)
    with pytest.raises(TypeError, match="expected the Tape returned by ag.diff; got Param"):
        ag.show(x)


def test_summary_of_values():
    s = agdebug.summary
    assert s(np.zeros((2, 3), dtype=np.float32)) == "ndarray{float32,2}(2,3)"
    assert s(np.float64(2.5)) == "2.5" and s(np.float64(1 / 3)) == "0.3333333333333333"
    assert s(np.array(1.0)) == "1.0" and s(np.float32(0.1)) == "0.1"
    assert s(np.array([7.0])) == "ndarray{float64,1}(1)"
    assert s(3) == "3" and s(None) == "None"
    assert s(np.zeros((4, 5))[:, ::2]) == "ndarray{float64,2}(4,3)"
    assert s(np.zeros(0)) == "ndarray{float64,1}(0)"


# ----------------------------------------------------------------------------------------
# Drawing
# ----------------------------------------------------------------------------------------


def test_draw_writes_graphviz_dot(tmp_path):
    w, b, loss = _seed_model()
    tape = diff(loss)
    path = ag.draw(tape, tmp_path / "g.dot", grads=True)
    text = Path(path).read_text(encoding="utf-8")
    assert text.startswith("digraph tape {") and text.rstrip().endswith("}")
    assert 'n1 [label="#1 P\\nndarray{float64,2}(2,3)\\n∇ ndarray{float64,2}(2,3)", ' \
           'shape=ellipse' in text
    assert "n7 [label=\"#7 np.sum" in text and "peripheries=2" in text
    edges = [line for line in text.splitlines() if "->" in line]
    assert "  n1 -> n2 [label=\"0\"];" in edges and "  n3 -> n4 [label=\"1\"];" in edges
    assert any(e.startswith("  c2_1 -> n2") and "dashed" in e for e in edges)  # constant x
    assert len(edges) == 8  # 6 tracked edges + the constants x and y
    assert agdebug.to_dot(tape, grads=True) == text


@pytest.mark.parametrize("ext", [".png", ".svg", ".pdf"])
def test_draw_without_graphviz_says_what_to_install(tmp_path, monkeypatch, ext):
    monkeypatch.setattr(agdebug.shutil, "which", lambda name: None)
    x = Param(np.array([[1.0, 2.0], [3.0, 4.0]]))
    tape = diff(lambda: np.sum(np.tanh(x @ x) * 0.5))
    with pytest.raises(RuntimeError, match=f"rendering \\{ext} needs Graphviz's dot"):
        ag.draw(tape, str(tmp_path / f"g{ext}"), grads=True)
    assert not (tmp_path / f"g{ext}").exists()


def test_draw_uses_graphviz_when_installed(tmp_path, monkeypatch):
    fake = tmp_path / "dot"
    fake.write_text('#!/bin/sh\n# args: -Tfmt input -o output\ncp "$2" "$4"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(agdebug.shutil, "which", lambda name: str(fake))
    x = Param(np.array([1.0, 2.0]))
    tape = diff(lambda: np.sum(x * x))
    path = ag.draw(tape, tmp_path / "g.svg")
    assert Path(path).read_text(encoding="utf-8") == agdebug.to_dot(tape)


def test_draw_refuses_an_unknown_extension(tmp_path):
    x = Param(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"draw\(tape, path\): cannot tell the format from "
                                         r"the extension '.jpg'.*use .dot or .gv"):
        ag.draw(diff(lambda: np.sum(x)), tmp_path / "g.jpg")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_docstring_examples_of_the_tools_run():
    import doctest
    import importlib

    # ag.profile is the function; the module of the same name is reached by its full name.
    profile = importlib.import_module("minitorch_ag.tools.profile")
    anomaly = importlib.import_module("minitorch_ag.tools.anomaly")
    for module in (agdebug, profile, anomaly):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__


# ----------------------------------------------------------------------------------------
# gcnode
# ----------------------------------------------------------------------------------------


def test_gcnode_that_keeps_nodes_lets_show_list_every_gradient_after_grad():
    from minitorch_ag import api

    w, b, loss = _seed_model()
    expected = grad(diff(loss), w)
    ag.set_gcnode(lambda node: None)  # AutoGrad.gcnode(::AutoGrad.Node) = nothing
    try:
        assert api.backward is not api.ENGINE_SWEEP
        tape = diff(loss)
        np.testing.assert_array_equal(grad(tape, w), expected)
        lines = _text(tape).splitlines()
        assert len(lines) == 7 and all(" ∇=" in line for line in lines)
        assert lines[-1].endswith(" ∇=1.0")
        views = ag.nodes(tape)
        np.testing.assert_allclose(views[4].gradient, 2 * views[4].value)  # d square / d r
    finally:
        ag.set_gcnode(None)
    assert api.backward is api.ENGINE_SWEEP  # the engine's own sweep is back


def test_gcnode_sees_each_node_newest_first_and_may_free_some():
    w, b, loss = _seed_model()
    seen = []

    def gcnode(node):
        seen.append(node.prim.name)
        if node.prim.name != "np.subtract":
            agdebug.free_node(node)

    ag.set_gcnode(gcnode)
    try:
        tape = diff(loss)
        grad(tape, b)
    finally:
        ag.set_gcnode(agdebug.free_node)  # the default, by name, restores too
    assert seen == ["np.sum", "np.square", "np.subtract", "np.add", "np.matmul"]
    listing = ag.listing(tape)
    assert [v.number for v in listing] == [1, 3, 5]  # the leaves and the node it kept
    assert listing[5].gradient is not None and "4 intermediate nodes were released" in \
        str(listing)
    with pytest.raises(TypeError, match="set_gcnode"):
        ag.set_gcnode(3)
