"""update_(w, g, opt): Params keep their own state; arrays and structures of them (Knet's forms)."""

from __future__ import annotations

import numpy as np
import pytest

from minitorch_ag import Param, diff, grad
from minitorch_ag.optim import SGD, Adam, Momentum, update_


def test_param_gets_a_copy_of_the_template():
    template = Adam(lr=0.1)
    p = Param(np.array([1.0, 2.0]))
    assert p.opt is None
    assert update_(p, np.array([1.0, -1.0]), template) is p
    assert isinstance(p.opt, Adam) and p.opt is not template
    assert template.t == 0 and template.m is None  # the template stays empty
    assert p.opt.t == 1 and p.opt.m.shape == (2,)
    np.testing.assert_allclose(p.value, [0.9, 2.1], rtol=1e-7)


def test_param_keeps_its_optimizer_across_calls():
    p = Param(np.zeros(1))
    update_(p, np.ones(1), Momentum(lr=0.1, gamma=0.5))
    update_(p, np.ones(1), SGD(lr=100.0))  # p.opt is set: the template is not used
    assert isinstance(p.opt, Momentum) and p.opt.t == 2
    np.testing.assert_allclose(p.value, [-0.25])
    update_(p, np.ones(1))  # no template: p.opt again
    assert p.opt.t == 3


def test_array_value_is_updated_in_place():
    v = np.ones(3)
    p = Param(v)
    update_(p, np.ones(3), SGD(lr=0.5))
    assert p.value is v
    np.testing.assert_array_equal(v, 0.5)


def test_number_values():
    p = Param(2.0)
    update_(p, 1.0, SGD(lr=0.5))
    assert p.value == 1.5 and type(p.value) is float
    q = Param(np.float32(2.0))
    update_(q, np.float32(1.0), Adam(lr=0.5))
    assert q.value.dtype == np.float32 and q.value == pytest.approx(1.5)
    with pytest.raises(TypeError, match="float array or a number; got str"):
        update_(Param("w"), 1.0)


def test_default_is_sgd():
    w = np.array([1.0])
    update_(w, np.array([1.0]))
    np.testing.assert_allclose(w, [0.9])  # Knet's SGD lr 0.1
    p = Param(np.array([1.0]))
    update_(p, np.array([1.0]))
    np.testing.assert_allclose(p.value, [0.9])
    assert p.opt is None  # a default SGD is not stored


def test_array_uses_the_optimizer_as_its_state():
    w = np.zeros(2)
    opt = Momentum(lr=0.1, gamma=0.5)
    update_(w, np.ones(2), opt)
    update_(w, np.ones(2), opt)
    np.testing.assert_allclose(w, [-0.25, -0.25])
    assert opt.t == 2


def test_structures_with_matching_optimizers():
    ws = (np.zeros(2), [np.zeros(1)], {"a": np.zeros(3)})
    gs = (np.ones(2), [np.ones(1)], {"a": np.ones(3)})
    opts = (Adam(lr=0.1), [SGD(lr=0.5)], {"a": Momentum(lr=0.1)})
    assert update_(ws, gs, opts) is ws
    np.testing.assert_allclose(ws[0], -0.1, rtol=1e-6)
    np.testing.assert_allclose(ws[1][0], -0.5)
    np.testing.assert_allclose(ws[2]["a"], -0.1)


def test_dict_gradient_may_have_fewer_keys_and_none_entries():
    ws = {"a": Param(np.zeros(1)), "b": Param(np.zeros(1)), "c": Param(np.zeros(1))}
    update_(ws, {"a": np.ones(1), "b": None}, SGD(lr=1.0))
    assert ws["a"].value[0] == -1.0
    assert ws["b"].value[0] == 0.0 and ws["b"].opt is None
    assert ws["c"].value[0] == 0.0


def test_one_template_for_many_params_gives_each_its_own_state():
    ps = [Param(np.zeros(2)), Param(np.zeros(3))]
    update_(ps, [np.ones(2), np.ones(3)], Adam())
    assert ps[0].opt is not ps[1].opt
    assert ps[0].opt.m.shape == (2,) and ps[1].opt.m.shape == (3,)


def test_gradients_from_grad_of_a_tape():
    w = Param(np.array([1.0, -2.0]))
    b = Param(np.array(0.5))
    tape = diff(lambda: np.sum(w ** 2) + b * 3.0)
    update_([w, b], [grad(tape, w), grad(tape, b)], SGD(lr=0.25))
    np.testing.assert_allclose(w.value, [0.5, -1.0])
    np.testing.assert_allclose(b.value, -0.25)


def test_errors_name_the_problem():
    with pytest.raises(TypeError, match="one Adam for several arrays of w would mix"):
        update_([np.zeros(1), np.zeros(1)], [np.ones(1), np.ones(1)], Adam())
    with pytest.raises(ValueError, match=r"w has 2 entries but its gradient has 1"):
        update_([np.zeros(1), np.zeros(1)], [np.ones(1)], SGD())
    with pytest.raises(TypeError, match=r"w\[0\] must be a Param, a float array"):
        update_(["x"], [np.ones(1)], SGD())
    with pytest.raises(KeyError, match="no optimizer for w\\['a'\\]"):
        update_({"a": np.zeros(1)}, {"a": np.ones(1)}, {"b": SGD()})
    with pytest.raises(TypeError, match="the optimizer for w must be an Optimizer; got str"):
        update_(np.zeros(1), np.ones(1), "adam")
    p = Param(np.zeros(1))
    p.opt = "adam"
    with pytest.raises(TypeError, match="p.opt must be an Optimizer"):
        update_(p, np.ones(1))


def test_one_optimizer_object_shared_by_two_params_is_refused():
    shared = Adam()
    a, b = Param(np.zeros(2)), Param(np.zeros(2))
    a.opt = b.opt = shared
    update_(a, np.ones(2))
    with pytest.raises(ValueError, match="already holds the state of another Param"):
        update_(b, np.ones(2))
    b.opt = shared.clone()
    update_(b, np.ones(2))  # with its own copy it works
    np.testing.assert_allclose(a.value, b.value)
