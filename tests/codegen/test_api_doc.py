"""API.md §10, run as written, and the docstring examples of minitorch_ag.codegen."""

from __future__ import annotations

import doctest

import numpy as np

import minitorch_ag as ag
from minitorch_ag.codegen import _building, _replay


def f(x, y):
    return (x + 2 * y) * y ** 2


def f2(x, y):
    q = f(x * y, y) * x
    return q + y, q - x


def f4(x, c):
    return np.sum(c * x)


def test_api_section10_as_written() -> None:
    x, y = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    δf = ag.delta(f)
    z, back = δf(x, y)
    dx, dy = back()
    np.testing.assert_array_equal(z, f(x, y))
    want = ag.vjp(f, x, y)[1](np.ones(2))
    np.testing.assert_array_equal(dx, want[0])
    np.testing.assert_array_equal(dy, want[1])
    dz = np.array([2.0, 3.0])
    np.testing.assert_array_equal(back(dz)[0], ag.vjp(f, x, y)[1](dz)[0])

    @ag.delta
    def g(x, y):
        return f(x, y)

    np.testing.assert_array_equal(g(x, y)[0], z)

    z, t, back = ag.delta(f2)(x, y)
    dt = np.array([1.0, -1.0])
    got = back(dz, dt)
    for a, b in zip(got, ag.vjp(f2, x, y)[1](dz, dt), strict=True):
        np.testing.assert_array_equal(a, b)

    dx, dc = ag.delta(f4, const=(1,))(x, y)[1]()
    assert dc is None
    np.testing.assert_array_equal(dx, y)

    text = δf.source(x, y)
    assert "def forward(x, y):" in text and "def backward(saved, dz):" in text
    assert ag.checkdiff(f, δf, x, y) is True


def test_gradients_are_writable_arrays_of_their_own() -> None:
    dx = ag.delta(lambda x: np.sum(x))(np.ones(3))[1]()[0]  # the rule's broadcast view
    dx += 1
    np.testing.assert_array_equal(dx, [2.0, 2.0, 2.0])


def test_delta_on_a_method_binds_the_instance() -> None:
    class Model:
        def __init__(self):
            self.w = ag.Param(np.array([1.0, 2.0]))

        @ag.delta
        def loss(self, x):
            return np.sum((self.w * x) ** 2)

    m = Model()
    x = np.array([3.0, 4.0])
    z, back = m.loss(x)
    assert float(z) == 9.0 + 64.0
    np.testing.assert_array_equal(back()[1], 2 * m.w.value ** 2 * x)


def test_docstring_examples() -> None:
    for module in (_replay, _building):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
        assert result.attempted > 0, module.__name__
