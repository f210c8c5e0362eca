"""Initializers (``minitorch_ag/nn/init.py``): fans, gains, the distributions' bounds and
spreads, dtypes, reproducibility from a seed or a Generator, and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from minitorch_ag.nn import init

RANDOM = [init.xavier_uniform, init.xavier_normal, init.kaiming_uniform, init.kaiming_normal,
          init.gaussian, init.uniform]


def test_fans():
    assert init.fans((7,)) == (7, 7)
    assert init.fans((30, 20)) == (20, 30)
    assert init.fans((8, 3, 5, 5)) == (75, 200)
    assert init.fans(4) == (4, 4)


def test_gains():
    assert init.calculate_gain("linear") == init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / 1.0001))
    with pytest.raises(ValueError, match="unknown nonlinearity 'swoosh'"):
        init.calculate_gain("swoosh")


@pytest.mark.parametrize("fn", RANDOM + [init.zeros, init.ones])
def test_shape_dtype_and_reproducibility(fn):
    a = fn((40, 30), rng=1)
    assert a.shape == (40, 30) and a.dtype == np.float32
    assert fn((3,), rng=1, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(a, fn((40, 30), rng=1))
    np.testing.assert_array_equal(a, fn((40, 30), rng=np.random.default_rng(1)))
    if fn in RANDOM:
        assert not np.array_equal(a, fn((40, 30), rng=2))
        g = np.random.default_rng(5)
        assert not np.array_equal(fn((4, 4), rng=g), fn((4, 4), rng=g))  # the stream moves on


def test_xavier():
    shape = (300, 200)
    bound = math.sqrt(6 / 500)
    u = init.xavier_uniform(shape, rng=0, dtype=np.float64)
    assert np.abs(u).max() <= bound and np.abs(u).max() > 0.99 * bound
    assert u.std() == pytest.approx(math.sqrt(2 / 500), rel=0.02)
    n = init.glorot_normal(shape, gain=2.0, rng=0, dtype=np.float64)
    assert n.std() == pytest.approx(2 * math.sqrt(2 / 500), rel=0.02)
    assert abs(n.mean()) < 0.01


def test_kaiming():
    shape = (64, 16, 3, 3)  # fan_in 144, fan_out 576
    u = init.kaiming_uniform(shape, rng=0, dtype=np.float64)
    assert np.abs(u).max() <= math.sqrt(2) * math.sqrt(3 / 144)
    assert u.std() == pytest.approx(math.sqrt(2 / 144), rel=0.02)
    n = init.he_normal(shape, mode="fan_out", rng=0, dtype=np.float64)
    assert n.std() == pytest.approx(math.sqrt(2 / 576), rel=0.02)
    t = init.kaiming_normal(shape, nonlinearity="tanh", rng=0, dtype=np.float64)
    assert t.std() == pytest.approx(5 / 3 / 12, rel=0.02)
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_uniform(shape, mode="fan_avg")


def test_gaussian_uniform_zeros_ones():
    g = init.gaussian((500, 400), rng=0, dtype=np.float64)
    assert g.std() == pytest.approx(0.01, rel=0.01)
    assert init.gaussian(10_000, std=2.0, mean=3.0, rng=0).mean() == pytest.approx(3.0, abs=0.1)
    u = init.uniform((1000,), -2, 3, rng=0)
    assert u.min() >= -2 and u.max() < 3
    assert np.all(init.zeros((2, 3)) == 0) and np.all(init.ones(4, dtype=np.float64) == 1)


def test_errors():
    with pytest.raises(TypeError, match="dtype must be a floating-point type; got int64"):
        init.xavier_uniform((2, 2), dtype=np.int64)
    with pytest.raises(ValueError, match="negative dimension"):
        init.zeros((2, -1))
    with pytest.raises(TypeError, match="rng must be an np.random.Generator"):
        init.gaussian(3, rng="seed")
