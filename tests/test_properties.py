"""Invariants of differentiation, checked as properties over random inputs (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minitorch_ag as ag

finite = st.floats(-3, 3, allow_nan=False, allow_infinity=False, width=64)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)


@settings(max_examples=40, deadline=None)
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 2**31 - 1))
def test_broadcast_gradients_have_their_argument_shape_and_dtype(shapes2, dtype, seed):
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal(s).astype(dtype) for s in shapes2.input_shapes)
    for f in (lambda x, y: np.sum(x * y + x), lambda x, y: np.sum(np.tanh(x - y) / (1 + y * y))):
        ga, gb = ag.grad(f, argnum=(0, 1))(a, b)
        assert np.shape(ga) == np.shape(a) and np.shape(gb) == np.shape(b)
        assert ga.dtype == dtype and gb.dtype == dtype


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, shapes, elements=finite), finite, finite)
def test_gradient_is_linear_in_the_function(x, alpha, beta):
    f = lambda v: np.sum(np.sin(v) * v)
    g = lambda v: np.sum(v ** 2) + np.max(v)
    combined = ag.grad(lambda v: alpha * f(v) + beta * g(v))(x)
    separate = alpha * ag.grad(f)(x) + beta * ag.grad(g)(x)
    np.testing.assert_allclose(combined, separate, rtol=1e-9, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.lists(hnp.arrays(np.float64, (2,), elements=finite), min_size=1, max_size=5))
def test_gradient_of_a_sum_is_the_sum_of_gradients(xs):
    p = ag.Param(np.array([0.5, -1.5]))
    terms = [lambda x=x: np.sum(np.exp(p * x)) for x in xs]
    total = ag.grad(ag.diff(lambda: sum(t() for t in terms)), p)
    parts = sum(ag.grad(ag.diff(t), p) for t in terms)
    np.testing.assert_allclose(total, parts, rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, shapes, elements=finite))
def test_tape_and_function_interfaces_agree(x):
    f = lambda v: np.sum(np.tanh(v) * np.exp(-v * v))
    p = ag.Param(x.copy())
    np.testing.assert_allclose(ag.grad(ag.diff(f, p), p), ag.grad(f)(x))
    value, back = ag.vjp(f, x)
    np.testing.assert_allclose(back()[0], ag.grad(f)(x))


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, (2, 3), elements=finite), finite, finite, st.integers(0, 2**31 - 1))
def test_pullback_is_linear_in_the_incoming_gradient(x, alpha, beta, seed):
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    f = lambda a: np.tanh(a) * np.exp(np.sin(a)) @ np.ones((3, 3))
    _, back = ag.vjp(f, x)
    combined = back(alpha * u + beta * v)[0]
    np.testing.assert_allclose(combined, alpha * back(u)[0] + beta * back(v)[0],
                               rtol=1e-9, atol=1e-9)
