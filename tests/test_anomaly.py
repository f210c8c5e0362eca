"""Anomaly detection (minitorch_ag/anomaly.py): the first NaN or Inf, forward or backward."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import Param, diff, grad, primitive, registry
from minitorch_ag.tools.anomaly import _problem, _Sites

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's own log(0) warnings

HERE = os.path.abspath(__file__)


def _line_of(text: str) -> int:
    """The line number of the first line of this file containing ``text`` (after this one)."""
    lines, _ = inspect.getsourcelines(sys.modules[__name__])
    for i, line in enumerate(lines):
        if text in line and "_line_of" not in line:
            return i + 1
    raise AssertionError(text)


def test_forward_nan_names_the_primitive_the_shapes_and_the_line():
    x = Param(np.array([[2.0, 0.5, 3.0]]))
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError) as info:
        diff(lambda: np.sum(np.log(x - 1.0)))  # log of -0.5: NaN
    e = info.value
    assert (e.primitive, e.phase, e.position) == ("np.log", "forward", None)
    msg = str(e)
    assert msg.startswith("np.log (forward) produced 1 NaN of 3 elements, first at index (0, 1)")
    assert "argument 0: ndarray float64 (1, 3)" in msg
    assert "its arguments were all finite, so this primitive made it" in msg
    line = _line_of("diff(lambda: np.sum(np.log(x - 1.0)))")
    assert e.site.startswith(f"{HERE}:{line} in <lambda>: diff(lambda")
    assert f"node created at {HERE}:{line}" in msg


def test_forward_says_when_an_argument_already_held_nan():
    x = Param(np.array([1.0, 2.0]))
    bad = np.array([np.nan, 1.0])
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError, match=r"(?s)np.multiply \(forward\) "
                                            r"produced 1 NaN.*argument 1: ndarray float64 \(2,\) "
                                            r"\(not finite\).*argument\(s\) \[1\] already held"):
        diff(lambda: np.sum(x * bad))


def test_backward_inf_names_the_rule_argument_and_the_line_that_made_the_node():
    x = Param(np.array([4.0, 0.0, 1.0], dtype=np.float32))

    def loss():
        root = np.sqrt(x)  # finite forward, infinite derivative at 0
        return np.sum(root * 3.0)

    with ag.detect_anomaly():
        tape = diff(loss)
        with pytest.raises(ag.AnomalyError) as info:
            grad(tape, x)
    e = info.value
    assert (e.primitive, e.phase, e.position) == ("np.sqrt", "backward", 0)
    msg = str(e)
    assert msg.startswith("np.sqrt (backward, gradient for argument 0, ndarray float32 (3,)) "
                          "produced 1 Inf of 3 elements, first at index (1,)")
    assert "incoming dy: ndarray float32 (3,); output y: ndarray float32 (3,)" in msg
    assert "the incoming gradient dy was finite, so this rule made it" in msg
    line = _line_of("root = np.sqrt(x)")
    assert e.site == f"{HERE}:{line} in loss: root = np.sqrt(x)  # finite forward, infinite " \
                     f"derivative at 0"


def test_backward_checks_variadic_rules_and_scalar_outputs():
    def pair_sum(a, b):
        return np.sum(a) + np.sum(b)

    def bad_grads(dy, y, a, b):
        return dy * np.ones_like(a), dy * np.full_like(b, np.nan)

    f = primitive(pair_sum, grad_all=bad_grads)
    try:
        a, b = Param(np.ones(2)), Param(np.ones((2, 2)))
        with ag.detect_anomaly():
            tape = diff(lambda: f(a, b) * 1.0)  # pair_sum returns a NumPy scalar: held strongly
            with pytest.raises(ag.AnomalyError) as info:
                grad(tape, a)
        e = info.value
        assert e.phase == "backward" and e.position == 1 and e.primitive.endswith("pair_sum")
        assert "produced 4 NaN of 4 elements, first at index (0, 0)" in str(e)
        assert e.site is not None and "tape = diff(lambda: f(a, b) * 1.0)" in e.site
    finally:
        registry.PRIMITIVES.pop(pair_sum, None)


def test_no_false_alarm_and_same_gradients_including_second_order():
    w = Param(np.linspace(-1.0, 1.0, 4))
    expected = grad(diff(lambda: np.sum(np.tanh(w) ** 2)), w)
    with ag.detect_anomaly():
        got = grad(diff(lambda: np.sum(np.tanh(w) ** 2)), w)
        g2 = grad(lambda v: np.sum(grad(lambda u: np.sum(np.sin(u) ** 2))(v)))(np.array([0.2]))
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(g2, [2 * np.cos(0.4)])


def test_forward_false_checks_only_gradients():
    x = Param(np.array([0.0, 1.0]))
    with ag.detect_anomaly(forward=False):
        tape = diff(lambda: np.sum(np.log(x)))  # -inf forward: let through
        with pytest.raises(ag.AnomalyError, match=r"np.log \(backward, gradient for argument 0"):
            grad(tape, x)
    with ag.detect_anomaly(backward=False):
        tape = diff(lambda: np.sum(np.sqrt(x)))
        assert np.isinf(grad(tape, x)[0])


def test_set_detect_anomaly_switches_on_and_off():
    x = Param(np.array([-1.0]))
    before = {k: (p.fn, p.grads, p.grad_all) for k, p in registry.PRIMITIVES.items()}
    ag.set_detect_anomaly(True)
    try:
        with pytest.raises(ag.AnomalyError):
            diff(lambda: np.sum(np.sqrt(x)))
    finally:
        ag.set_detect_anomaly(False)
    diff(lambda: np.sum(np.sqrt(x)))  # off again: NaN passes silently, as NumPy does
    after = {k: (p.fn, p.grads, p.grad_all) for k, p in registry.PRIMITIVES.items()}
    assert all(all(a is b for a, b in zip(before[k], after[k], strict=True)) for k in before)


def test_environment_variable_switches_detection_on():
    script = ("import numpy as np, minitorch_ag as ag\n"
              "x = ag.Param(np.array([-1.0]))\n"
              "try:\n"
              "    ag.diff(lambda: np.sum(np.log(x)))\n"
              "except ag.AnomalyError as e:\n"
              "    print('caught', e.primitive, e.phase)\n")
    env = dict(os.environ, MINITORCH_AG_ANOMALY="1", PYTHONPATH=os.getcwd())
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", script], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "caught np.log forward"


def test_problem_descriptions():
    assert _problem(np.ones(3)) is None and _problem(np.arange(3)) is None
    assert _problem(np.array([1.0, np.inf, -np.inf, np.nan])) == \
        "1 NaN, 2 Inf of 4 elements, first at index (1,)"
    assert _problem(float("nan")) == "1 NaN (a scalar)"
    assert _problem((np.ones(2), np.array([np.inf]))) == \
        "1 Inf of 1 elements, first at index (0,) in output 1"
    assert _problem(np.array([1 + 0j, complex(0, np.nan)])) == \
        "1 NaN of 2 elements, first at index (1,)"


def test_sites_forget_dead_arrays_and_bound_the_rest():
    sites = _Sites(limit=3)
    a = np.ones(2)
    sites.remember(a, ("f.py", 1, "f"))
    assert sites.site(a) == "f.py:1 in f"
    del a
    assert sites.entries == {}  # the weak reference went with the array
    scalars = [np.float64(i) for i in range(5)]
    for k, s in enumerate(scalars):
        sites.remember(s, ("g.py", k, "g"))
    assert sites.strong == 3 and sites.site(scalars[0]) is None
    assert sites.site(scalars[4]) == "g.py:4 in g"
