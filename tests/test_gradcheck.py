"""gradcheck: finite-difference checking of gradients, on arrays, numbers and containers."""

import numpy as np
import pytest

import minitorch_ag as ag


def test_gradcheck_containers_and_numbers():
    w = {"a": np.array([0.5, -0.2]), "b": [1.5, np.array([[0.1, 0.2]])]}
    f = lambda w, k: np.sum(w["a"] * w["b"][0] + w["b"][1] ** 2) * k
    assert ag.gradcheck(f, w, 3)  # the int 3 is held constant


def test_gradcheck_reports_the_container_path():
    bad = ag.primitive(lambda x: np.sin(x), lambda dy, y, x: dy * np.sin(x))
    where = r"argument 0\['b'\]\[1\].*index \(0, 0\): analytic 0 vs numeric 1"
    with pytest.raises(AssertionError, match=where):
        ag.gradcheck(lambda w: np.sum(bad(w["b"][1])), {"b": [1.0, np.array([[0.0, 1.0]])]})


def test_gradcheck_float32_and_dtype_check():
    x = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32)
    assert ag.gradcheck(lambda v: np.sum(np.tanh(v) * v), x)
    leaky = ag.primitive(lambda v: v * 1, lambda dy, y, v: (dy * 1).astype(np.float64))
    # the framework casts gradients to the argument's dtype, so this still holds
    assert ag.gradcheck(lambda v: np.sum(leaky(v)), x)


def test_gradcheck_second_order_catches_a_wrong_second_derivative():
    # first derivative right, but its rule is not differentiable as written: it calls value()
    cube = ag.primitive(lambda x: x ** 3, lambda dy, y, x: dy * 3 * ag.value(x) ** 2)
    x = np.array([0.5, 1.5])
    assert ag.gradcheck(lambda v: np.sum(cube(v)), x)
    with pytest.raises(AssertionError):
        ag.gradcheck(lambda v: np.sum(cube(v)), x, order=2)


def test_gradcheck_arguments():
    with pytest.raises(ValueError, match="no floating-point argument"):
        ag.gradcheck(lambda k: k * 2, 3)
    with pytest.raises(ValueError, match="order"):
        ag.gradcheck(np.sin, 1.0, order=3)


def test_gradcheck_transposed_and_0d_arguments_and_nan():
    x = np.arange(1.0, 7.0).reshape(3, 2).T  # Fortran-ordered
    assert ag.gradcheck(lambda a: np.sum(a * a), x)
    assert ag.gradcheck(lambda a: a[()] ** 2, np.array(0.5))
    assert ag.gradcheck(lambda a: (a + 100.0) ** 2 * np.float32(1.0),
                        np.array(0.5, dtype=np.float32))
    nan_rule = ag.primitive(lambda v: np.cos(v), lambda dy, y, v: dy * np.nan)
    with pytest.raises(AssertionError, match="analytic nan"):
        ag.gradcheck(lambda a: np.sum(nan_rule(a)), np.array([0.3, 0.5]))
