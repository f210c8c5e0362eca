"""vjp: value and pullback (AutoDiffSource.jl's API), with its README's examples."""

import numpy as np
import pytest

import minitorch_ag as ag


def rosenbrock(x):
    return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def autoencoder_error(we1, we2, wd, b1, b2, inp):
    first = sigmoid(we1 @ inp + b1)
    encoded = sigmoid(we2 @ first + b2)
    reconstructed = sigmoid(wd @ encoded)
    return np.sum((inp - reconstructed) ** 2)


def test_vjp_rosenbrock_matches_gradcheck():
    x = np.random.default_rng(0).standard_normal(3)
    z, back = ag.vjp(rosenbrock, x)
    assert z == pytest.approx(rosenbrock(x))
    (dx,) = back()
    np.testing.assert_allclose(dx, ag.grad(rosenbrock)(x))
    assert ag.gradcheck(rosenbrock, x)


def test_vjp_autoencoder_with_a_constant_input():
    rng = np.random.default_rng(1)
    args = (rng.standard_normal((3, 3)), rng.standard_normal((3, 3)), rng.random((3, 3)),
            rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(3))
    assert ag.gradcheck(autoencoder_error, *args)
    value, back = ag.vjp(autoencoder_error, *args, const=(5,))
    grads = back()
    assert len(grads) == 6 and grads[5] is None
    for i in range(5):
        np.testing.assert_allclose(grads[i], ag.grad(autoencoder_error, argnum=i)(*args))


def test_pullback_can_be_called_repeatedly_for_a_jacobian():
    a = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    x = np.array([0.5, -1.0])
    y, back = ag.vjp(lambda v: np.tanh(a @ v), x)
    jac = np.stack([back(e)[0] for e in np.eye(3)])
    want = (1 - np.tanh(a @ x) ** 2)[:, None] * a
    np.testing.assert_allclose(jac, want)


def test_several_outputs_and_none_cotangent():
    (s, d), back = ag.vjp(lambda x, y: (x * y, x - y), 2.0, 3.0)
    assert (s, d) == (6.0, -1.0)
    assert back(1.0, None) == (3.0, 2.0)
    assert back(None, 1.0) == (1.0, -1.0)
    with pytest.raises(TypeError, match="one cotangent per output"):
        back(1.0)


def test_unreached_argument_gets_zeros():
    _, back = ag.vjp(lambda x, y: x * 2, np.ones(2), np.ones(3))
    dx, dy = back(np.ones(2))
    np.testing.assert_array_equal(dy, np.zeros(3))


def test_vjp_inside_diff_is_differentiable():
    p = ag.Param(np.array([0.3, 0.8]))

    def f():
        _, back = ag.vjp(lambda x: np.sum(np.sin(x)), p)
        return np.sum(back()[0] ** 2)  # sum cos^2

    t = ag.diff(f)
    np.testing.assert_allclose(ag.grad(t, p), -2 * np.cos(p.value) * np.sin(p.value))
