"""``minitorch_ag.numpy``: lists of tracked values record; everything else is NumPy's own."""

from __future__ import annotations

import numpy
import pytest

import minitorch_ag as ag
import minitorch_ag.numpy as np

X = numpy.array([1.0, 2.0])


def test_array_of_tracked_values_records():
    assert ag.grad(lambda x: np.sum(np.array([x, 2 * x]) ** 2))(3.0) == 30.0
    g = ag.grad(lambda x: np.sum(np.asarray([[x[0], 1.0], [x[1], x[0]]], dtype=float) ** 2))(X)
    numpy.testing.assert_allclose(g, [4 * X[0], 2 * X[1]])


def test_functions_given_lists_of_tracked_values():
    g = ag.grad(lambda x: np.mean([x[0] * x[1], np.sin(x[0])]))(X)
    numpy.testing.assert_allclose(g, [(X[1] + numpy.cos(X[0])) / 2, X[0] / 2])
    g = ag.grad(lambda x: np.sum(np.exp([x[0], 1.0])))(X)
    numpy.testing.assert_allclose(g, [numpy.exp(X[0]), 0.0])
    # a function that takes a sequence of arrays on purpose is NumPy's own, and records
    assert np.concatenate is numpy.concatenate
    numpy.testing.assert_allclose(ag.grad(lambda x: np.sum(np.concatenate([x, x])))(X), [2, 2])


def test_index_tricks():
    g = ag.grad(lambda x: np.sum(np.r_[x, x[0], 0:2] * numpy.arange(5.0)))(X)
    numpy.testing.assert_allclose(g, [2.0, 1.0])
    w = numpy.array([[1.0, 2.0], [3.0, 4.0]])
    numpy.testing.assert_allclose(ag.grad(lambda x: np.sum(np.c_[x, 2 * x] * w))(X), [5, 11])
    with pytest.raises(TypeError, match="string directives"):
        ag.grad(lambda x: np.sum(np.r_["0,2", x, x]))(X)


def test_everything_else_is_numpy():
    assert np.float64 is numpy.float64 and np.ndarray is numpy.ndarray
    assert np.linalg is numpy.linalg and np.pi == numpy.pi
    numpy.testing.assert_array_equal(np.array([1, 2]), [1, 2])
    numpy.testing.assert_array_equal(np.r_[1:3, 5], [1, 2, 5])
    numpy.testing.assert_array_equal(np.c_[[1, 2], [3, 4]], [[1, 3], [2, 4]])
    assert np.exp.nin == 1 and np.add.reduce([1, 2]) == 3
    assert "exp" in dir(np)
    with pytest.raises(AttributeError):
        np.no_such_function  # noqa: B018
