"""Per-primitive profiling (minitorch_ag/profile.py) and the run-time switching it relies on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import Param, api, diff, grad, primitive, registry, tape, tensor
from minitorch_ag.tools.profile import Profile, _memory, _percent, _time


def _engine_snapshot():
    """Everything the hot path calls, by identity: records, their rules, engine functions."""
    records = {key: (p, p.fn, p.grads, p.grad_all) for key, p in registry.PRIMITIVES.items()}
    functions = (tensor.call, tape.backward, api.backward, registry.register,
                 ag.primitive.__globals__["register"], tensor.dispatch, tensor.Tensor.__add__,
                 tensor.Tensor.__array_ufunc__)
    return records, functions


def _assert_same(before, after):
    rec_b, fun_b = before
    rec_a, fun_a = after
    assert rec_a.keys() == rec_b.keys()
    for key, old in rec_b.items():
        new = rec_a[key]
        assert all(x is y for x, y in zip(old, new, strict=True)), key
    assert all(x is y for x, y in zip(fun_b, fun_a, strict=True))
    assert not registry._LISTENERS  # nothing listens: registering costs one empty-list test


def _loss(w):
    return np.sum(np.tanh(w * 2.0 + 1.0))


def test_profiling_off_leaves_the_very_same_objects_in_place():
    w = Param(np.linspace(-1, 1, 5))
    before = _engine_snapshot()
    with ag.profile():
        inside = _engine_snapshot()
        grad(diff(_loss, w), w)
    _assert_same(before, _engine_snapshot())
    assert inside[0][np.tanh][1] is not before[0][np.tanh][1]  # it was switched in
    with pytest.raises(RuntimeError), ag.profile():  # an exception in the block restores too
        raise RuntimeError
    _assert_same(before, _engine_snapshot())


def test_nested_and_overlapping_tools_restore_exactly():
    w = Param(np.linspace(-1, 1, 5))
    before = _engine_snapshot()
    outer = Profile().start()
    with ag.detect_anomaly():
        inner = Profile().start()
        grad(diff(_loss, w), w)
        outer.stop()  # not in nesting order
        grad(diff(_loss, w), w)
    inner.stop()
    _assert_same(before, _engine_snapshot())
    calls = {r.name: r.calls for r in outer.rows()}
    assert calls["np.tanh"] == 1 and calls["np.tanh[1]"] == 1
    calls = {r.name: r.calls for r in inner.rows()}
    assert calls["np.tanh"] == 2 and calls["np.tanh[1]"] == 2


def test_rows_forward_and_backward_per_argument():
    w = Param(np.linspace(-1, 1, 5))
    b = Param(np.array(0.5))
    expected = grad(diff(lambda: np.sum(np.tanh(w * b))), w)
    with ag.profile() as prof:
        for _ in range(3):
            t = diff(lambda: np.sum(np.tanh(w * b)))
            g = grad(t, w)
            grad(t, b)
    np.testing.assert_array_equal(g, expected)
    calls = {r.name: r.calls for r in prof.rows()}
    for name in ("np.multiply", "np.multiply[1]", "np.multiply[2]", "np.tanh", "np.tanh[1]",
                 "np.sum", "np.sum[1]", "sum_outgrads"):
        assert calls[name] == 3, name
    assert calls["record"] >= 9
    rows = prof.rows()
    assert [r.seconds for r in rows] == sorted((r.seconds for r in rows), reverse=True)
    assert sum(r.share for r in rows) == pytest.approx(1.0)
    assert all(r.seconds >= 0 and r.mean == pytest.approx(r.seconds / r.calls) for r in rows)
    assert prof.total() == pytest.approx(sum(r.seconds for r in rows))


def test_bytes_count_new_outputs_not_views():
    x = Param(np.ones((4, 5)))
    with ag.profile() as prof:
        t = diff(lambda: np.sum(np.reshape(np.exp(x), (5, 4)).T))
        grad(t, x)
    rows = {r.name: r for r in prof.rows()}
    assert rows["np.exp"].bytes == 160  # 20 float64
    assert rows["np.reshape"].bytes == 0 and rows["np.transpose"].bytes == 0  # views
    assert rows["np.exp[1]"].bytes == 160
    assert rows["np.sum"].bytes == 8


def test_variadic_rules_and_second_order():
    a = Param(np.array([1.0, 2.0]))
    with ag.profile() as prof:
        t = diff(lambda: np.sum(np.concatenate([a, a * 3.0]) ** 2))
        grad(t, a)
        g2 = grad(lambda v: np.sum(grad(lambda u: np.sum(np.sin(u)))(v)))(np.array([0.3, 0.4]))
    names = {r.name for r in prof.rows()}
    assert {"np.concatenate", "np.concatenate[*]", "np.sin[1]", "np.cos", "np.cos[1]"} <= names
    np.testing.assert_allclose(g2, -np.sin([0.3, 0.4]))


def test_primitives_registered_while_profiling_are_timed_and_restored():
    def cube(x):
        return x ** 3

    with ag.profile() as prof:
        fast_cube = primitive(cube, lambda dy, y, x: dy * 3 * x ** 2)
        x = Param(np.array([1.0, 2.0]))
        assert grad(diff(lambda: np.sum(fast_cube(x))), x).tolist() == [3.0, 12.0]
    try:
        calls = {r.name.split(".")[-1]: r.calls for r in prof.rows()}  # <locals>.cube
        assert calls["cube"] == 1 and calls["cube[1]"] == 1
        assert registry.PRIMITIVES[cube].fn is cube  # restored to the function itself
    finally:
        registry.PRIMITIVES.pop(cube, None)


README = Path(__file__).parent / "data" / "autograd_jl_readme.txt"

# The cells of a TimerOutputs table, as the README's (and ours) write them.
_TIME = re.compile(r"^(\d+|\d+\.\d|\d\.\d\d)(s|ms|μs|ns)$")  # three significant digits
_MEMORY = re.compile(r"^(\d+|\d+\.\d|\d\.\d\d)(B|KiB|MiB|GiB)$")
_PERCENT = re.compile(r"^(\d+\.\d|\d\.\d\d)%$")
_RULE = re.compile(r"^(?P<fn>.+)\[(?P<k>\d+|\*)\]$")


def _timer_table(lines):
    """Header, rows {name: cells} and the 'Tot / % measured' cells, checked cell by cell."""
    lines = [line.strip() for line in lines if line.strip() and set(line.strip()) - set("─ ")]
    tot = next(line for line in lines if line.startswith("Tot / % measured:"))
    measured = tot.removeprefix("Tot / % measured:").split()
    assert _TIME.match(measured[0]) and measured[1] == "/" and _PERCENT.match(measured[2]), tot
    assert _MEMORY.match(measured[3]), tot
    head = next(line for line in lines if line.startswith("Section"))
    rows = {}
    for line in lines[lines.index(head) + 1:]:
        cells = line.split()
        assert len(cells) == 8, line
        name, ncalls, time_, tot_, avg, alloc, atot, aavg = cells
        assert ncalls.isdigit() and int(ncalls) >= 1, line
        assert _TIME.match(time_) and _TIME.match(avg), line
        assert _PERCENT.match(tot_) and _PERCENT.match(atot), line
        assert _MEMORY.match(alloc) and _MEMORY.match(aavg), line
        rows.setdefault(name, []).append(cells)
    return head.split(), rows


def _rule_positions(rows, fn):
    return {int(m["k"]) for m in map(_RULE.match, rows) if m and m["fn"] == fn}


def test_table_matches_autograd_jl_timer_outputs():
    text = README.read_text(encoding="utf-8").split("## profile\n")[1]
    seed_head, seed_rows = _timer_table(text.splitlines())
    # The README's example: J = @diff sum(abs2, w*x .+ b - y), here with np.sum(np.square(.)).
    rng = np.random.default_rng(0)
    w, b = Param(rng.random((2, 3))), Param(rng.random((2, 1)))
    x, y = rng.random((3, 4)), rng.random((2, 4))
    with ag.profile() as prof:
        J = diff(lambda: np.sum(np.square(w @ x + b - y)))
        grad(J, w)
    head, rows = _timer_table(str(prof).splitlines())
    assert head == seed_head == ["Section", "ncalls", "time", "%tot", "avg", "alloc", "%tot",
                                 "avg"]
    # The library's own rows carry AutoGrad.jl's names.
    own = {"record", "sum_outgrads"}
    assert own <= seed_rows.keys() and own <= rows.keys()
    # Rules count arguments from 1: w*x differentiates argument 1 only (x is a constant),
    # .+ both, - the first (y is a constant).
    for theirs, ours in (("*", "np.matmul"), ("+.", "np.add"), ("-", "np.subtract")):
        assert _rule_positions(seed_rows, theirs) == _rule_positions(rows, ours), ours
    assert _rule_positions(seed_rows, "sum") == {2} and _rule_positions(rows, "np.sum") == {1}
    # Each forward pass is a row under the function's own name, called once.
    assert all(rows[name][0][1] == "1" for name in ("np.matmul", "np.add", "np.sum"))


def test_table_text():
    w = Param(np.linspace(-1, 1, 5))
    with ag.profile() as prof:
        grad(diff(_loss, w), w)
    lines = str(prof).splitlines()
    assert lines[0] == lines[6] == lines[-1] and set(lines[0]) == {"─"}
    assert lines[1].split() == ["Time", "Allocations"]
    assert lines[5].split() == ["Section", "ncalls", "time", "%tot", "avg", "alloc", "%tot", "avg"]
    assert any(line.split()[0] == "np.tanh[1]" for line in lines[7:-1])
    assert lines[4] == ""  # TimerOutputs' blank line between the totals and the header
    short = prof.table(top=2).splitlines()
    assert short[-2].strip() == f"... {len(prof.rows()) - 2} more sections" and len(short) == 11
    rows = {r.name: r for r in prof.rows()}
    line = next(x for x in lines[7:-1] if x.split()[0] == "np.tanh[1]").split()
    assert line[1] == str(rows["np.tanh[1]"].calls)
    assert _percent(rows["np.tanh[1]"].share) == line[3]
    assert _memory(rows["np.tanh[1]"].bytes) == line[5] == "40.0B"
    prof.reset()
    assert prof.rows() == [] and repr(prof).startswith("<Profile: 0 sections")


def test_timer_outputs_number_formats():
    t, m, p = _time, _memory, _percent
    assert [t(0.328), t(0.0388), t(0.00178), t(282e-6), t(4.62), t(5e-7)] == \
        ["328ms", "38.8ms", "1.78ms", "282μs", "4.62s", "500ns"]
    assert [m(46.4 * 2**20), m(595 * 1024), m(5.64 * 1024), m(0), m(80)] == \
        ["46.4MiB", "595KiB", "5.64KiB", "0.00B", "80.0B"]
    assert [p(0.233), p(0.0276), p(0.001), p(1.0)] == ["23.3%", "2.76%", "0.10%", "100.0%"]


def test_gpu_values_are_synchronised(monkeypatch):
    """A CuPy result makes the profiler wait for the GPU (a stand-in CuPy counts the waits)."""
    waits = []
    stream = types.SimpleNamespace(synchronize=lambda: waits.append(1))
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(get_current_stream=lambda: stream)
    fake.may_share_memory = lambda a, b: False
    monkeypatch.setitem(sys.modules, "cupy", fake)
    device_array = type("ndarray", (), {"__module__": "cupy", "shape": (3,), "nbytes": 24,
                                        "base": None})

    def on_gpu(x):
        return device_array()

    wrapped = primitive(on_gpu, lambda dy, y, x: dy)
    try:
        with ag.profile() as prof:
            wrapped(Param(np.ones(3)))  # outside diff: plain call, still timed
        assert len(waits) == 2  # after the primitive, and after the (record) path around it
        row = {r.name.split(".")[-1]: r for r in prof.rows()}["on_gpu"]
        assert row.calls == 1 and row.bytes == 24
    finally:
        registry.PRIMITIVES.pop(on_gpu, None)


def test_environment_variable_profiles_a_whole_script():
    script = ("import numpy as np, minitorch_ag as ag\n"
              "w = ag.Param(np.ones(3))\n"
              "ag.grad(ag.diff(lambda: np.sum(np.exp(w))), w)\n")
    env = dict(os.environ, MINITORCH_AG_TIMER="1", PYTHONPATH=os.getcwd())
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    _, rows = _timer_table(out.stderr.splitlines())
    assert rows["np.exp"][0][1] == "1" and rows["np.exp[1]"][0][1] == "1"
    assert rows["np.sum[1]"][0][1] == "1" and out.stderr.startswith("─")
