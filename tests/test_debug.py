"""Tape printing, node inspection and graph drawing (minitorch_ag/debug.py)."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import Param, diff, grad
from minitorch_ag.tools import debug as agdebug


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


def test_show_lists_nodes_in_order_with_params_and_argument_numbers():
    w, b, loss = _seed_model()
    tape = diff(loss)
    assert repr(tape).startswith("T(")  # print(tape) keeps the short form (API.md)
    lines = _text(tape).splitlines()
    total = f"{float(ag.value(tape)):.6g}"
    assert lines == [
        f"Tape at level 1: 7 nodes, value {total} (float64) (node 7)",
        "1. P(ndarray float64 (2, 3) cpu)",
        "2. ndarray float64 (2, 4) cpu = np.matmul(#1, ndarray float64 (3, 4) cpu)",
        "3. P(ndarray float64 (2, 1) cpu)",
        "4. ndarray float64 (2, 4) cpu = np.add(#2, #3)",
        "5. ndarray float64 (2, 4) cpu = np.subtract(#4, ndarray float64 (2, 4) cpu)",
        "6. ndarray float64 (2, 4) cpu = np.square(#5)",
        f"7. {total} (float64) = np.sum(#6)",
    ]


def test_show_with_grads_keeps_every_node_and_grad_returns_the_same_gradients():
    w, b, loss = _seed_model()
    expected_w, expected_b = grad(diff(loss), w), grad(diff(loss), b)
    tape = diff(loss)
    text = _text(tape, grads=True)
    assert "2. ndarray float64 (2, 4) cpu = np.matmul(#1, ndarray float64 (3, 4) cpu)  " \
           "∇=ndarray float64 (2, 4) cpu" in text
    assert "1. P(ndarray float64 (2, 3) cpu)  ∇=ndarray float64 (2, 3) cpu" in text
    assert "∇=ndarray float64 () cpu [1]" in text.splitlines()[-1]
    assert tape.swept and all(n is not None for n in tape.nodes)
    np.testing.assert_array_equal(grad(tape, w), expected_w)
    np.testing.assert_array_equal(grad(tape, b), expected_b)
    # The gradient of every intermediate node is there to read: d/d(square input) = 2 * r.
    views = ag.nodes(tape)
    r = views[4].value
    np.testing.assert_allclose(views[4].gradient, 2 * r)


def test_show_after_grad_says_the_intermediate_nodes_were_released():
    w, b, loss = _seed_model()
    tape = diff(loss)
    grad(tape, w)
    text = _text(tape, grads=True)  # too late to keep them: says so, shows the leaves
    lines = text.splitlines()
    assert lines[1] == "1. P(ndarray float64 (2, 3) cpu)  ∇=ndarray float64 (2, 3) cpu"
    assert lines[2] == "3. P(ndarray float64 (2, 1) cpu)  ∇=ndarray float64 (2, 1) cpu"
    assert "5 intermediate nodes were released" in text
    assert "ag.show(tape, grads=True) before the first grad()" in text


def test_nodes_are_inspectable_objects():
    w, b, loss = _seed_model()
    tape = diff(loss)
    listing = ag.listing(tape, grads=True)
    node = listing[5]
    assert node.number == 5 and node.primitive == "np.subtract" and not node.is_leaf
    assert node.parents[0] is listing[4] and node.parents[1] is None
    np.testing.assert_array_equal(node.value, listing[4].value - node.args[1])
    assert listing[1].param is w and listing[1].is_leaf and listing[1].primitive is None
    assert listing[1].parents == () and listing[1].args == ()
    np.testing.assert_array_equal(listing[1].gradient, grad(tape, w))
    assert [v.number for v in listing] == list(range(1, 8)) and len(listing) == 7
    out = io.StringIO()
    node.dump(file=out)
    dumped = out.getvalue()
    assert dumped.startswith("node 5: np.subtract\n  value:    ndarray float64 (2, 4) cpu  [[")
    assert "  arg 0:    #4 ndarray float64 (2, 4) cpu" in dumped
    assert "  arg 1:    constant ndarray float64 (2, 4) cpu" in dumped
    assert "  gradient: ndarray float64 (2, 4) cpu" in dumped
    assert repr(node).startswith("<node 5. ndarray float64 (2, 4) cpu = np.subtract(#4,")
    with pytest.raises(KeyError, match=r"listing\[9\]: no node numbered 9 \(numbers shown: 1, 2"):
        listing[9]


def test_keyword_arguments_constants_and_multiple_outputs_are_shown():
    x = Param(np.arange(6.0).reshape(2, 3))
    tape = diff(lambda: np.sum(np.mean(x, axis=0) ** 2))
    text = _text(tape)
    assert "2. ndarray float64 (3,) cpu = np.mean(#1, axis=0)" in text
    assert "3. ndarray float64 (3,) cpu = np.power(#2, 2 (int))" in text
    a = Param(np.array([[2.0, 1.0], [1.0, 3.0]]))
    tape = diff(lambda: np.sum(np.linalg.eigh(a)[0] * 2.0))
    lines = _text(tape, grads=True).splitlines()
    assert lines[2].startswith("2. (ndarray float64 (2,) cpu, ndarray float64 (2, 2) cpu) = "
                               "np.linalg.eigh(#1)  ∇=[ndarray float64 (2,) cpu, None]")
    assert lines[3] == "3. ndarray float64 (2,) cpu = #2[0]  ∇=ndarray float64 (2,) cpu"
    assert lines[4] == "4. ndarray float64 (2, 2) cpu = #2[1]"  # unused output: no gradient
    assert lines[5].startswith("5. ndarray float64 (2,) cpu = np.multiply(#3, 2 (float))")


def test_float32_and_nested_tapes():
    x = Param(np.ones(3, dtype=np.float32))
    inner = []

    def f():
        t = diff(lambda: np.sum(np.sin(x)))
        inner.append(t)
        return np.sum(grad(t, x))

    outer = diff(f)
    assert "Tape at level 2: 3 nodes" in _text(inner[0])
    text = _text(outer, grads=True)
    assert "1. P(ndarray float32 (3,) cpu)  ∇=ndarray float32 (3,) cpu" in text
    assert "= np.cos(#1)" in text and "np.sin(#1)" in text
    np.testing.assert_allclose(grad(outer, x), -np.sin(np.ones(3)), rtol=1e-6)


def test_listing_of_a_live_tape_and_of_a_constant_result():
    x = Param(np.array([1.0, 2.0]))
    seen = []

    def f():
        y = np.exp(x)
        seen.append(str(ag.listing(ag.tape.active_tapes()[-1], grads=True)))
        return np.sum(y)

    diff(f)
    assert "2. ndarray float64 (2,) cpu = np.exp(#1)" in seen[0]
    assert "the tape is still recording" in seen[0]
    const = diff(lambda: 3.0)
    assert "the result does not depend on any Param" in _text(const, grads=True)
    with pytest.raises(TypeError, match="expected the Tape returned by ag.diff; got Param"):
        ag.show(x)


def test_summary_of_values():
    s = agdebug.summary
    assert s(np.zeros((2, 3), dtype=np.float32)) == "ndarray float32 (2, 3) cpu"
    assert s(np.float64(2.5)) == "2.5 (float64)"
    assert s(np.array([7.0])) == "ndarray float64 (1,) cpu [7]"
    assert s(3) == "3 (int)" and s(None) == "None"
    assert s(np.zeros((4, 5))[:, ::2]) == "ndarray float64 (4, 3) cpu"


# ----------------------------------------------------------------------------------------
# Drawing
# ----------------------------------------------------------------------------------------


def test_draw_writes_graphviz_dot(tmp_path):
    w, b, loss = _seed_model()
    tape = diff(loss)
    path = ag.draw(tape, tmp_path / "g.dot", grads=True)
    text = Path(path).read_text(encoding="utf-8")
    assert text.startswith("digraph tape {") and text.rstrip().endswith("}")
    assert 'n1 [label="#1 P\\nndarray float64 (2, 3) cpu\\n∇ ndarray float64 (2, 3) cpu", ' \
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
