"""Jacobians, Hessians, Hessian-vector products, elementwise_grad, value_and_grad, grad over
several arguments and gradcheck over a closure's Params, against ``torch.func``."""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import nn

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(14)
A = RNG.standard_normal((3, 5))


def wide(x):  # R^5 -> R^3: more inputs than outputs
    return np.tanh(A @ x) * np.sum(x ** 2)


def torch_wide(x):
    return torch.tanh(torch.tensor(A) @ x) * torch.sum(x ** 2)


def tall(x):  # R^(2x2) -> R^(3x4): more outputs than inputs, a matrix argument
    return np.sin(A[:, :2] @ x @ A[:2, :4]) + np.exp(x[0, 0]) * np.ones((3, 4))


def torch_tall(x):
    a = torch.tensor(A)
    ones = torch.ones(3, 4, dtype=torch.float64)
    return torch.sin(a[:, :2] @ x @ a[:2, :4]) + torch.exp(x[0, 0]) * ones


@pytest.mark.parametrize("mode", ["auto", "fwd", "rev"])
@pytest.mark.parametrize(("f", "tf", "shape"), [(wide, torch_wide, (5,)),
                                                (tall, torch_tall, (2, 2))],
                         ids=["wide", "tall"])
def test_jacobian_matches_jacrev_and_jacfwd(f, tf, shape, mode):
    x = RNG.standard_normal(shape)
    got = ag.jacobian(f, mode=mode)(x)
    want_rev = torch.func.jacrev(tf)(torch.tensor(x)).numpy()
    want_fwd = torch.func.jacfwd(tf)(torch.tensor(x)).numpy()
    assert got.shape == np.shape(f(x)) + shape
    np.testing.assert_allclose(got, want_rev, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, want_fwd, rtol=1e-12, atol=1e-12)


def test_jacobian_over_several_arguments_and_numbers():
    f = lambda a, b, c: a @ b * c  # noqa: E731
    a, b = RNG.standard_normal((2, 3)), RNG.standard_normal(3)
    ja, jb, jc = ag.jacobian(f, argnum=(0, 1, 2))(a, b, 2.0)
    ta, tb, tc = torch.func.jacrev(lambda a, b, c: a @ b * c, argnums=(0, 1, 2))(
        torch.tensor(a), torch.tensor(b), torch.tensor(2.0, dtype=torch.float64))
    for got, want in ((ja, ta), (jb, tb), (jc, tc)):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ag.jacobian(np.sin)(0.5), np.cos(0.5))
    with pytest.raises(ValueError, match="mode must be one of"):
        ag.jacobian(np.sin, mode="sideways")


def rosen(x):
    return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2) + np.sum(np.sin(x) * x)


def torch_rosen(x):
    return (torch.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
            + torch.sum(torch.sin(x) * x))


def test_hessian_matches_torch_to_float64_precision():
    x = RNG.standard_normal(6)
    got = ag.hessian(rosen)(x)
    want = torch.func.hessian(torch_rosen)(torch.tensor(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(got, got.T, rtol=1e-13)


def test_hessian_of_a_matrix_argument_with_respect_to_the_second_argument():
    c = RNG.standard_normal((2, 3))
    f = lambda c, w: np.sum(np.tanh(c @ w) ** 2)  # noqa: E731
    w = RNG.standard_normal((3, 2))
    got = ag.hessian(f, argnum=1)(c, w)
    want = torch.func.hessian(lambda w: torch.sum(torch.tanh(torch.tensor(c) @ w) ** 2))(
        torch.tensor(w)).numpy()
    assert got.shape == (3, 2, 3, 2)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_hvp_matches_the_hessian_and_torch(mode):
    x, v = RNG.standard_normal(6), RNG.standard_normal(6)
    got = ag.hvp(rosen, mode=mode)(x, v)
    _, want = torch.func.jvp(torch.func.grad(torch_rosen), (torch.tensor(x),),
                             (torch.tensor(v),))
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, ag.hessian(rosen)(x) @ v, rtol=1e-12, atol=1e-12)


def test_hvp_is_differentiable_again():
    """The third derivative through forward over reverse: grad of <v, H v> of sum(x^4)."""
    x, v = np.array([1.0, -2.0]), np.array([0.5, 1.5])
    third = ag.grad(lambda x: np.sum(ag.hvp(lambda y: np.sum(y ** 4))(x, v) * v))(x)
    np.testing.assert_allclose(third, 24 * x * v ** 2, rtol=1e-12)


def test_elementwise_grad_and_value_and_grad():
    x = np.linspace(-2, 2, 7)
    np.testing.assert_allclose(ag.elementwise_grad(np.tanh)(x), 1 - np.tanh(x) ** 2)
    tx = torch.tensor(x)
    want = torch.func.vmap(torch.func.grad(torch.tanh))(tx).numpy()
    np.testing.assert_allclose(ag.elementwise_grad(np.tanh)(x), want, rtol=1e-12)
    loss, g = ag.value_and_grad(lambda w, b: np.sum((w * b) ** 2), argnum=(0, 1))(x, 2.0)
    assert loss == pytest.approx(np.sum((2 * x) ** 2))
    np.testing.assert_allclose(g[0], 8 * x)
    assert g[1] == pytest.approx(np.sum(2 * x ** 2 * 2))


def test_grad_over_several_argnums_at_once():
    f = lambda a, b, c: np.sum(a * b) + c ** 2  # noqa: E731
    ga, gc = ag.grad(f, argnum=(0, 2))(np.ones(2), np.array([3.0, 4.0]), 5.0)
    np.testing.assert_allclose(ga, [3.0, 4.0])
    assert gc == 10.0


def test_gradcheck_over_the_params_a_closure_reaches():
    model = nn.Linear(3, 2)
    x = RNG.standard_normal((4, 3)).astype(np.float32)
    before = [p.value.copy() for p in ag.params(model)]
    assert ag.gradcheck(lambda: np.sum(np.tanh(model(x)) ** 2))
    for p, b in zip(ag.params(model), before, strict=True):  # values put back exactly
        assert p.value.dtype == np.float32
        np.testing.assert_array_equal(p.value, b)
    wrong = ag.primitive(lambda v: v ** 2, lambda dy, y, v: dy * v)  # the factor 2 forgotten
    with pytest.raises(AssertionError, match=r"Param 0 \(shape"):
        ag.gradcheck(lambda: np.sum(wrong(model(x))))
    with pytest.raises(ValueError, match="reaches no Param"):
        ag.gradcheck(lambda: np.sum(x))


def test_per_example_gradients_are_the_rows_of_a_reverse_jacobian():
    xs, ys = RNG.standard_normal((6, 3)), RNG.standard_normal(6)
    w = RNG.standard_normal(3)
    losses = lambda w: (np.tanh(xs @ w) - ys) ** 2  # noqa: E731
    got = ag.jacobian(losses, mode="rev")(w)
    tx, ty = torch.tensor(xs), torch.tensor(ys)
    per_example = torch.func.vmap(torch.func.grad(
        lambda w, x, y: (torch.tanh(x @ w) - y) ** 2), in_dims=(None, 0, 0))
    np.testing.assert_allclose(got, per_example(torch.tensor(w), tx, ty).numpy(), rtol=1e-12)
