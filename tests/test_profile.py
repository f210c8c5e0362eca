"""Per-primitive profiling (minitorch_ag/profile.py) and the run-time switching it relies on."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import Param, api, diff, grad, primitive, registry, tape, tensor
from minitorch_ag.tools.profile import Profile


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
    assert calls["np.tanh"] == 1 and calls["np.tanh[0]"] == 1
    calls = {r.name: r.calls for r in inner.rows()}
    assert calls["np.tanh"] == 2 and calls["np.tanh[0]"] == 2


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
    for name in ("np.multiply", "np.multiply[0]", "np.multiply[1]", "np.tanh", "np.tanh[0]",
                 "np.sum", "np.sum[0]", "(backward sweep)"):
        assert calls[name] == 3, name
    assert calls["(record)"] >= 9
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
    assert rows["np.exp[0]"].bytes == 160
    assert rows["np.sum"].bytes == 8


def test_variadic_rules_and_second_order():
    a = Param(np.array([1.0, 2.0]))
    with ag.profile() as prof:
        t = diff(lambda: np.sum(np.concatenate([a, a * 3.0]) ** 2))
        grad(t, a)
        g2 = grad(lambda v: np.sum(grad(lambda u: np.sum(np.sin(u)))(v)))(np.array([0.3, 0.4]))
    names = {r.name for r in prof.rows()}
    assert {"np.concatenate", "np.concatenate[*]", "np.sin[0]", "np.cos", "np.cos[0]"} <= names
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
        assert calls["cube"] == 1 and calls["cube[0]"] == 1
        assert registry.PRIMITIVES[cube].fn is cube  # restored to the function itself
    finally:
        registry.PRIMITIVES.pop(cube, None)


def test_table_text():
    w = Param(np.linspace(-1, 1, 5))
    with ag.profile() as prof:
        grad(diff(_loss, w), w)
    text = str(prof)
    lines = text.splitlines()
    assert lines[0].startswith("minitorch_ag profile: ") and "measured in" in lines[0]
    assert lines[1].split() == ["section", "calls", "time", "%tot", "mean", "alloc"]
    assert any(line.split()[0] == "np.tanh[0]" for line in lines[3:])
    assert "... " in prof.table(top=2) and len(prof.table(top=2).splitlines()) == 6
    prof.reset()
    assert prof.rows() == [] and repr(prof).startswith("<Profile: 0 sections")


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
    rows = {line.split()[0]: line.split()[1] for line in out.stderr.splitlines()[3:]}
    assert rows["np.exp"] == "1" and rows["np.exp[0]"] == "1" and rows["np.sum[0]"] == "1"
    assert out.stderr.startswith("minitorch_ag profile: ")
