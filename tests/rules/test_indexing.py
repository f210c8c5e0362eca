"""Gradient table of ``minitorch_ag/rules/indexing.py``: ``x[index]`` with ints, negative ints,
slices with steps, ``None``, ``...``, integer arrays and lists (repeated indices add up; several
broadcasting together; non-adjacent ones, whose axes NumPy moves to the front), boolean masks
(0-d, 1-d, multi-dimensional), Tensor indices and mixed tuples; ``x[index] = v`` (``index_set``),
``x[index] += v``, ``x.fill`` and NumPy's writing functions (``np.put`` ...), recorded
copy-on-write; in float64 and float32, second order for every case.
"""

from __future__ import annotations

import operator

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag.rules.indexing import index_put, index_set

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


def assign(name, write, grid, covers=(index_set, operator.getitem), **kwargs):
    """A case for ``y = np.copy(x); write(y, v); y``: an in-place update of a tracked copy."""

    def fn(x, v):
        y = np.copy(x)  # a tracked copy; a 0-d array, not a NumPy scalar, for 0-d x
        write(y, v)
        return y

    return case(name, fn, real, real, covers=covers, main="op",
                grid=grid, **kwargs)


def _iadd_slice(y, v):
    y[1:] += v * v


def _imul(y, v):
    y *= v


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
    # -- more index kinds
    index("advanced-axes-to-front", ([0, 1, 1], slice(None), [3, 0, 3]), [[S234]]),
    index("advanced-split-by-int", (slice(None), 0, [2, 0, 2]), [[shape(2, 3, 4, 3)]]),
    index("int-arrays-broadcast", (np.array([[0], [2]]), np.array([1, 3, 3])), [[S34]]),
    index("int-list-of-lists", [[0, 1], [1, 1]], [[shape(3)], [S34]]),
    index("array-and-negative-step", (np.array([2, 2, 0]), slice(None, None, -2)),
          [[S34], *[[s] for s in NONCONTIGUOUS]]),
    index("ellipsis-None-array", (Ellipsis, None, np.array([0, 3, 3])), [[S34], [S234]]),
    index("bool-0d-true", True, [[shape()], [shape(3)], [S34]]),
    index("bool-0d-false", np.array(False), [[shape(3)], [S34]]),
    index("bool-mask-2d-of-3d", np.array([[1, 0, 1], [0, 1, 1]], dtype=bool), [[S234]]),
    index("bool-mask-and-int-array", (np.array([True, False, True]), [3, 3]), [[S34]]),
    index("rows-2d-ids", np.array([[2, 0], [2, 2], [-1, 1]]), [[S34], [shape(3, 2, 2)]]),
    case("tensor-index", lambda x: x[ag.Param(np.array([2, 0, 2]))], real,
         covers=(operator.getitem, index_put), main="op", grid=[[shape(3)], [S34]]),
    case("argmax-index", lambda x: x[np.argmax(x, axis=0), np.arange(x.shape[1])], real,
         covers=(operator.getitem, index_put), main="op", grid=[[S34]]),
    # -- assignment, recorded copy-on-write (x is copied first: a Param cannot be assigned into)
    assign("set-int", lambda y, v: y.__setitem__(1, v), [[shape(3), shape()], [S34, shape(4)],
                                                         [strided(4, 3), shape()]]),
    assign("set-slice-broadcast", lambda y, v: y.__setitem__(slice(None, None, -2), v),
           [[shape(5), shape(3)], [S34, shape(1, 4)], [transposed(4, 3), shape()]]),
    assign("set-repeated-ids", lambda y, v: y.__setitem__([0, 2, 0], v),
           [[shape(3), shape(3)], [S34, shape(3, 1)]]),
    assign("set-advanced-to-front", lambda y, v: y.__setitem__(([0, 1], slice(None), [1, 1]), v),
           [[S234, shape(2, 3)], [S234, shape(3)]]),
    assign("set-mask", lambda y, v: y.__setitem__(np.array([True, False, True]), v),
           [[shape(3), shape()], [S34, shape(4)]]),
    assign("set-0d", lambda y, v: y.__setitem__((), v), [[shape(), shape()]]),
    assign("iadd-slice", _iadd_slice, [[shape(5), shape()], [S34, shape(4)]]),
    assign("imul-whole", _imul, [[S34, shape(4)], [shape(), shape()]], covers=(np.multiply,)),
    assign("fill", lambda y, v: y.fill(v), [[S34, shape()]]),
    assign("np.put", lambda y, v: np.put(y, [0, -1, 0], v, mode="raise"),
           [[shape(5), shape(2)], [S34, shape(3)]]),
    assign("np.place", lambda y, v: np.place(y, np.arange(y.size).reshape(y.shape) % 2 == 0, v),
           [[shape(5), shape(2)], [S34, shape(4)]]),
    assign("np.putmask", lambda y, v: np.putmask(y, np.arange(y.size).reshape(y.shape) > 1, v),
           [[shape(5), shape(3)], [S34, shape(5)]]),
    assign("np.copyto", lambda y, v: np.copyto(y, v, where=np.array([1, 0, 1, 1], dtype=bool)),
           [[S34, shape(4)], [S34, shape(3, 1)]]),
    assign("np.fill_diagonal", lambda y, v: np.fill_diagonal(y, v, wrap=True),
           [[shape(5, 3), shape(2)], [S34, shape()]]),
    assign("np.put_along_axis",
           lambda y, v: np.put_along_axis(y, np.array([[0], [2], [2]]), v, axis=1),
           [[S34, shape(3, 1)], [S34, shape()]]),
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
