"""Gradient table of ``minitorch_ag/rules/indexing.py``: ``x[index]`` with ints, negative ints,
slices with steps, ``None``, ``...``, integer arrays (repeated indices add up), boolean masks and
mixed tuples, in float64 and float32; second order (through ``index_put``, the scatter that is
the gradient of indexing) for every index.
"""

from __future__ import annotations

import operator

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag.rules.indexing import index_put

from ._cases import (
    case,
    check,
    real,
    shape,
    strided,
    table_tests,
    transposed,
)

S34, S234 = shape(3, 4), shape(2, 3, 4)
NONCONTIGUOUS = [strided(4, 3), transposed(4, 3)]


def index(name, idx, grid, **kwargs):
    """A case for ``x[idx]`` (``idx`` a constant index), also as ``operator.getitem``."""
    return case(name, lambda x: x[idx], real, covers=(operator.getitem, index_put), main="op",
                grid=grid, getitem=lambda x: operator.getitem(x, idx), **kwargs)


# gradcheck hands 0-d arguments to f as Python floats (a core bug): x[()] fails there.

TABLE = [
    # -- basic indexing
    index("int", 1, [[shape(3)], [S34], *[[s] for s in NONCONTIGUOUS]]),
    index("negative-int", -1, [[shape(1)], [S234], *[[s] for s in NONCONTIGUOUS]]),
    index("int-pair", (1, -2), [[S34], [S234]]),
    index("slice", slice(1, 3), [[shape(5)], [S34]]),
    index("slice-step", slice(None, None, 2), [[shape(5)], [S34], *[[s] for s in NONCONTIGUOUS]]),
    index("slice-negative-step", slice(None, None, -1), [[shape(5)], [S34]]),
    index("slice-negative-bounds", slice(-3, -1), [[shape(5)], [S34]]),
    index("slices-2d", (slice(1, None), slice(None, None, 2)),
          [[S34], *[[s] for s in NONCONTIGUOUS]]),
    index("slice-empty", slice(2, 2), [[shape(5)]]),
    index("None", None, [[shape(5)], [S34]]),
    index("ellipsis", Ellipsis, [[S34]]),
    index("ellipsis-int", (Ellipsis, 1), [[S34], [S234]]),
    index("ellipsis-None-int", (Ellipsis, None, 0), [[S34], [S234]]),
    index("int-ellipsis-None", (0, Ellipsis, None), [[S234]]),
    index("0d-empty-tuple", (), [[shape()], [S34]]),
    index("0d-ellipsis", Ellipsis, [[shape()]]),
    index("0d-None", None, [[shape()]]),
    # -- advanced indexing: integer arrays (repeats add up) and boolean masks
    index("int-list-repeated", [0, 0, 1], [[shape(3)], [S34], *[[s] for s in NONCONTIGUOUS]]),
    index("int-array-2d", np.array([[0, 2], [2, 2]]), [[shape(3)], [S34]]),
    index("int-array-negative", np.array([-1, 0, -1]), [[shape(4)], [S34]]),
    index("int-arrays-pair", ([0, 1, 1, 2], [2, 0, 2, 2]), [[S34], [shape(3, 3, 2)]]),
    index("array-and-slice", ([0, 2], slice(1, None)), [[S34], *[[s] for s in NONCONTIGUOUS]]),
    index("slice-and-array", (slice(None), [3, 3, 0]), [[S34], [shape(2, 4, 3)]]),
    index("array-None-slice", ([1, 1], None, slice(None, 2)), [[S34]]),
    index("int-and-array", (1, [0, 0, 2]), [[S34], [S234]]),
    index("bool-mask", np.array([[1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 0, 1]], dtype=bool), [[S34]]),
    index("bool-mask-rows", np.array([True, False, True]), [[shape(3)], [shape(3, 4)]]),
    index("bool-mask-and-slice", (np.array([True, False, True, False]), slice(1, None)),
          [[shape(4, 3)], *[[s] for s in NONCONTIGUOUS]]),
    index("bool-mask-all-false", np.zeros(3, dtype=bool), [[shape(3)]]),
    case("mask-from-tensor", lambda x: x[x > 0], real, covers=(operator.getitem, index_put),
         main="op", grid=[[shape(5)], [S34], *[[s] for s in NONCONTIGUOUS]]),
    case("iterate-first-axis", lambda x: np.stack([(k + 1) * r for k, r in enumerate(x)]), real,
         covers=(operator.getitem, index_put), main="op", grid=[[shape(3)], [S34]]),
    case("index-twice", lambda x: x[1:][[0, 0]][..., ::2], real,
         covers=(operator.getitem, index_put), main="op", grid=[[S34], [S234]]),
]


# The four checks of every table (see _cases.table_tests).
test_gradient, test_second_order, test_views_match_contiguous, test_entry_points = (
    table_tests(TABLE))


# -- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_repeated_indices_add_up(dtype):
    g = ag.grad(lambda x: np.sum(x[[0, 0, 1]]))(np.zeros(3, dtype=dtype))
    np.testing.assert_array_equal(g, [2.0, 1.0, 0.0])
    assert g.dtype == dtype
    g = ag.grad(lambda x: np.sum(x[[0, 2, 0], [1, 1, 1]] * [1.0, 2.0, 3.0]))(np.zeros((3, 2)))
    np.testing.assert_array_equal(g, [[0.0, 4.0], [0.0, 0.0], [0.0, 2.0]])


def test_mask_gradient_scatters_into_place():
    x = np.array([[1.0, -2.0], [-3.0, 4.0]])
    g = ag.grad(lambda a: np.sum(a[a > 0] * [10.0, 20.0]))(x)
    np.testing.assert_array_equal(g, [[10.0, 0.0], [0.0, 20.0]])


def test_index_put_is_the_scatter_and_indexing_is_its_gradient():
    dy = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(index_put(dy, (3,), np.array([0, 0, 2])), [3.0, 0.0, 3.0])
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    check(lambda d: index_put(d, (2, 2), (slice(None), 1)) * w, [np.array([0.5, -1.5])])
    check(lambda d: index_put(d, (3,), np.array([2, 2])), [np.array([0.5, -1.5])], order=2)


def test_second_order_values_through_repeated_indices():
    # f(x) = sum(x[[0, 0, 1]] ** 3): grad = 3 x^2 * counts, and its derivative 6 x * counts.
    def first(x):
        return ag.grad(lambda a: np.sum(a[[0, 0, 1]] ** 3))(x)

    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(first(x), [6.0, 12.0, 0.0])
    np.testing.assert_allclose(ag.grad(lambda a: np.sum(first(a)))(x), [12.0, 12.0, 0.0])
