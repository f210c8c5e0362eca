"""Gradients of gradients: nested diff, grad(grad(f)), third derivatives, Hessian-vector
products, and no perturbation confusion."""

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import Param, diff, grad, value


def test_no_perturbation_confusion():
    # AutoGrad.jl returns 2.0 here and marks its own test broken.
    assert grad(lambda x: x * grad(lambda y: x + y)(x))(5.0) == 1.0
    # the classic form (Siskind and Pearlmutter): d/dx [x * d/dy (x * y)] = 2x
    assert grad(lambda x: x * grad(lambda y: x * y)(3.0))(5.0) == 10.0


def test_second_and_third_derivatives_of_scalars():
    assert grad(grad(np.sin))(0.5) == pytest.approx(-np.sin(0.5))
    assert grad(grad(grad(np.sin)))(0.5) == pytest.approx(-np.cos(0.5))
    assert grad(grad(grad(lambda x: x ** 4)))(2.0) == pytest.approx(48.0)
    assert grad(grad(np.tanh))(0.3) == pytest.approx(-2 * np.tanh(0.3) / np.cosh(0.3) ** 2)
    assert grad(grad(lambda x: np.exp(x) * np.log(x)))(2.0) == pytest.approx(
        np.exp(2) * (np.log(2) + 2 / 2 - 1 / 4))


def test_nested_diff_with_params():
    p = Param(np.array([1.0, 2.0, 3.0]))
    outer = diff(lambda: np.sum(grad(diff(lambda: np.sum(p ** 3)), p)))
    np.testing.assert_allclose(grad(outer, p), 6 * p.value)
    assert value(outer) == pytest.approx(np.sum(3 * p.value ** 2))


def test_hessian_vector_product():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 4))
    a = a + a.T
    w = rng.standard_normal(4)
    v = rng.standard_normal(4)
    f = lambda x: 0.5 * x @ a @ x + np.sum(np.sin(x))
    hvp = grad(lambda x: np.sum(grad(f)(x) * v))(w)
    np.testing.assert_allclose(hvp, a @ v - np.sin(w) * v)


def test_newton_step_solves_a_quadratic():
    rng = np.random.default_rng(2)
    m = rng.standard_normal((3, 3))
    a = m @ m.T + 3 * np.eye(3)
    b = rng.standard_normal(3)
    f = lambda x: 0.5 * x @ a @ x - b @ x
    x = np.zeros(3)
    g = grad(f)(x)
    hess = np.stack([grad(lambda z, e=e: np.sum(grad(f)(z) * e))(x) for e in np.eye(3)])
    x = x - np.linalg.solve(hess, g)
    np.testing.assert_allclose(x, np.linalg.solve(a, b))


@pytest.mark.parametrize("f", [
    lambda x: np.sum(np.tanh(x) ** 2),
    lambda x: np.sum(x[1:] * x[:-1]),
    lambda x: np.mean(np.maximum(x, 0.1) * np.exp(x)),
    lambda x: np.sum(np.concatenate([x, x * x]) ** 2),
    lambda x: np.sum(x.reshape(2, 2) @ x.reshape(2, 2)),
    lambda x: np.sum(np.sqrt(x * x + 1) / (1 + x ** 2)),
], ids=["tanh2", "shifted", "relu-exp", "concat", "matmul", "ratio"])
def test_second_order_gradcheck(f):
    x = np.array([0.3, -0.7, 1.2, 0.5])
    assert ag.gradcheck(f, x, order=2)


def test_gradient_returned_inside_an_outer_diff_is_tracked():
    p = Param(np.array([2.0]))
    seen = []

    def outer():
        g = grad(diff(lambda: np.sum(p ** 2)), p)
        seen.append(type(g))
        return np.sum(g * g)  # (2p)^2 = 4p^2, derivative 8p

    t = diff(outer)
    assert seen == [ag.Result]
    np.testing.assert_allclose(grad(t, p), [16.0])


def test_grad_of_inner_tape_after_outer_finished_is_plain():
    p = Param(np.array([2.0]))
    keep = []
    diff(lambda: (keep.append(diff(lambda: np.sum(p ** 3))), np.sum(p))[1])
    g = grad(keep[0], p)
    assert not isinstance(g, ag.Tensor)
    np.testing.assert_allclose(g, [12.0])


def test_multiple_output_primitive_second_order():
    sincos = ag.primitive(lambda x: (np.sin(x), np.cos(x)),
                          lambda dy, y, x: (0 if dy[0] is None else dy[0] * np.cos(x))
                          - (0 if dy[1] is None else dy[1] * np.sin(x)))
    f = lambda x: np.sum(sincos(x)[0] * 2 + sincos(x)[1])
    x = np.array([0.1, 0.9])
    assert ag.gradcheck(f, x)
    assert ag.gradcheck(f, x, order=2)


def test_mixed_partial_derivatives_with_params():
    a, b = Param(np.array([2.0])), Param(np.array([3.0]))
    outer = diff(lambda: np.sum(grad(diff(lambda: np.sum(a * a * b)), a)))  # 2ab
    np.testing.assert_allclose(grad(outer, b), [4.0])  # 2a
    np.testing.assert_allclose(grad(outer, a), [6.0])  # 2b


def test_outer_value_used_inside_inner_diff():
    a = Param(np.array([1.5, -2.0]))

    def outer():
        r = a * a  # recorded on the outer tape only
        return np.sum(grad(diff(lambda: np.sum(r * a)), a))  # d/da (r a) = r, as a constant

    np.testing.assert_allclose(grad(diff(outer), a), 2 * a.value)


def test_inner_gradient_without_outer_dependence():
    a, b = Param(np.array([1.0])), Param(np.array([2.0]))
    outer = diff(lambda: np.sum(grad(diff(lambda: np.sum(a * 3 + b)), a)) + np.sum(b))
    assert grad(outer, a) is None
    np.testing.assert_allclose(grad(outer, b), [1.0])
