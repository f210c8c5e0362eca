"""params(): walking models for their parameters."""

import functools

import numpy as np

import minitorch_ag as ag
from minitorch_ag import Param, params


class Dense:
    def __init__(self, n, m):
        self.w = Param(np.zeros((n, m)))
        self.b = Param(np.zeros(m))
        self.act = np.tanh
        self.name = "dense"

    def __call__(self, x):
        return self.act(x @ self.w + self.b)


class Chain:
    def __init__(self, *layers):
        self.layers = list(layers)


class Slotted:
    __slots__ = ("p", "q")

    def __init__(self):
        self.p = Param(np.ones(1))
        self.q = {"inner": (Param(np.ones(2)), 3.0)}


def test_attributes_lists_tuples_dicts_in_stable_order():
    a, b = Dense(2, 3), Dense(3, 1)
    c = Chain(a, b)
    assert params(c) == [a.w, a.b, b.w, b.b] or [id(p) for p in params(c)] == [
        id(a.w), id(a.b), id(b.w), id(b.b)]
    assert [id(p) for p in params({"x": [a, (b,)]})] == [id(a.w), id(a.b), id(b.w), id(b.b)]


def test_each_param_once_and_cycles_are_safe():
    a = Dense(2, 2)
    c = Chain(a, a)
    c.me = c
    c.layers.append(c.layers)
    shared = Param(np.ones(1))
    c.extra = [shared, shared, {"s": shared}]
    found = params(c)
    assert [id(p) for p in found] == [id(a.w), id(a.b), id(shared)]


def test_slots_closures_methods_partials():
    s = Slotted()
    assert [id(p) for p in params(s)] == [id(s.p), id(s.q["inner"][0])]
    w = Param(np.ones(3))
    f = lambda x: x @ w
    assert [id(p) for p in params(f)] == [id(w)]
    d = Dense(1, 1)
    assert [id(p) for p in params(d.__call__)] == [id(d.w), id(d.b)]
    g = functools.partial(lambda x, v: x, v=w)
    assert [id(p) for p in params(g)] == [id(w)]


def test_a_param_itself_and_plain_values():
    p = Param(np.ones(1))
    assert params(p)[0] is p
    assert params(np.ones(3)) == [] and params(3.0) == [] and params(None) == []


def test_params_of_a_tape_are_the_params_it_recorded_in_order():
    w, b, unused = Param(np.ones((2, 2))), Param(np.zeros(2)), Param(np.ones(3))
    x = np.array([1.0, 2.0])
    tape = ag.diff(lambda: np.sum(np.tanh(w @ x + b) * (w @ x)))
    found = params(tape)
    assert len(found) == 2 and found[0] is w and found[1] is b  # each once, in meeting order
    assert all(p is not unused for p in found)
    g = [ag.grad(tape, p) for p in found]  # Knet's minimize: update every recorded Param
    assert g[0].shape == (2, 2) and g[1].shape == (2,)
    assert params(ag.diff(lambda: 3.0)) == []
