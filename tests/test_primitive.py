"""Extending: primitive() and zerograd(), tuple outputs, unbroadcasting by the framework."""

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import Param, diff, grad


def test_user_function_primitive_with_broadcasting_left_to_the_framework():
    def scale_add(x, s):
        return x * s + 1.0

    f = ag.primitive(scale_add, lambda dy, y, x, s: dy * s, lambda dy, y, x, s: dy * x)
    x = np.arange(6.0).reshape(2, 3)
    s = np.array([1.0, 2.0, 3.0])
    gx, gs = grad(lambda a, b: np.sum(f(a, b)), argnum=(0, 1))(x, s)
    assert gx.shape == (2, 3) and gs.shape == (3,)
    np.testing.assert_array_equal(gs, x.sum(axis=0))
    assert ag.gradcheck(lambda a, b: np.sum(f(a, b) ** 2), x, s)


def test_none_marks_an_argument_without_gradient():
    f = ag.primitive(lambda x, k: x * k, lambda dy, y, x, k: dy * k, None)
    gx, gk = grad(lambda a, b: np.sum(f(a, b)), argnum=(0, 1))(np.ones(2), np.full(2, 3.0))
    np.testing.assert_array_equal(gx, [3.0, 3.0])
    assert gk is None


def test_omitted_trailing_rules_mean_no_gradient_as_in_autograd_jl():
    # "Non-existent or zero gradients can be specified by omitting a gradient expression."
    f = ag.primitive(lambda x, k: x * k, lambda dy, y, x, k: dy * k, name="scaled")
    assert grad(lambda a, b: np.sum(f(a, b)), argnum=1)(np.ones(2), np.ones(2)) is None
    gx, gk = grad(lambda a, b: np.sum(f(a, b)), argnum=(0, 1))(np.ones(2), np.full(2, 3.0))
    np.testing.assert_array_equal(gx, [3.0, 3.0])
    assert gk is None
    # The same through a multi-output primitive, whose rules take the special path.
    two = ag.primitive(lambda x, k: (x * k, x + k), lambda dy, y, x, k: dy[0] * k + dy[1],
                       name="two")
    a, b = Param(np.array([1.0, 2.0])), Param(np.array([5.0, 7.0]))

    def both():
        first, second = two(a, b)
        return np.sum(first) + np.sum(second)

    t = diff(both)
    np.testing.assert_array_equal(grad(t, a), [6.0, 8.0])
    assert grad(t, b) is None
    # With no rule at all, nothing flows (as @primitive f(x) with no expression).
    g = ag.primitive(lambda x: x * 2.0, name="opaque")
    assert grad(lambda u: np.sum(g(u) + 0.0 * u))(np.ones(3)).tolist() == [0.0, 0.0, 0.0]


def test_tuple_outputs_get_a_tuple_dy_with_none_for_unused():
    got = []

    def rule(dy, y, x):
        got.append(tuple(d is None for d in dy))
        return (0 if dy[0] is None else dy[0] * 2) + (0 if dy[1] is None else dy[1] * 3)

    two = ag.primitive(lambda x: (x * 2, x * 3), rule)
    p = Param(np.array([1.0, 2.0]))
    t = diff(lambda: np.sum(two(p)[1]))
    np.testing.assert_array_equal(grad(t, p), [3.0, 3.0])
    assert got == [(True, False)]
    t = diff(lambda: np.sum(two(p)[0] + two(p)[1] * 0 + sum(two(p))))
    np.testing.assert_array_equal(grad(t, p), [2.0 + 0 + 5.0] * 2)


def test_namedtuple_outputs_keep_their_type():
    p = Param(np.array([[2.0, 1.0], [1.0, 3.0]]))
    ag.primitive(np.linalg.slogdet, lambda dy, y, a: dy[1] * np.linalg.inv(a).T)
    try:
        t = diff(lambda: np.linalg.slogdet(p).logabsdet)
        np.testing.assert_allclose(grad(t, p), np.linalg.inv(p.value).T)
    finally:
        del ag.registry.PRIMITIVES[np.linalg.slogdet]


def test_registration_makes_the_numpy_function_differentiable():
    saved = ag.registry.PRIMITIVES.pop(np.arctan, None)  # the elementwise table's rule
    try:
        p = Param(np.array([0.5]))
        with pytest.raises(TypeError, match="np.arctan has no gradient rule"):
            diff(lambda: np.sum(np.arctan(p)))
        ag.primitive(np.arctan, lambda dy, y, x: dy / (1 + x * x))
        np.testing.assert_allclose(grad(diff(lambda: np.sum(np.arctan(p))), p), [0.8])
    finally:
        ag.registry.PRIMITIVES.pop(np.arctan, None)
        if saved is not None:
            ag.registry.PRIMITIVES[np.arctan] = saved


def test_primitive_of_a_primitive_wrapper_replaces_the_rule():
    f = ag.primitive(lambda x: 2 * x, lambda dy, y, x: dy * 2)
    g = ag.primitive(f, lambda dy, y, x: dy * 5)  # a deliberately different rule
    assert grad(lambda x: g(x))(1.0) == 5.0


def test_zerograd_user_function():
    rounded = ag.zerograd(lambda x: np.round(x, 1))
    p = Param(np.array([1.26]))
    seen = []
    t = diff(lambda: (seen.append(rounded(p)), np.sum(p * seen[0]))[1])
    assert type(seen[0]) is np.ndarray
    np.testing.assert_allclose(grad(t, p), [1.3])


def test_rules_receive_keyword_arguments():
    got = {}

    def power_sum(x, p=2):
        return np.sum(x ** p)

    def rule(dy, y, x, p=2):
        got["p"] = p
        return dy * p * x ** (p - 1)

    f = ag.primitive(power_sum, rule)
    assert grad(lambda x: f(x, p=3))(2.0) == 12.0
    assert got == {"p": 3}
