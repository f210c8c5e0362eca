"""Gradient table of ``minitorch_ag/rules/selection.py``: take (``x.take``), take_along_axis,
compress (``x.compress``), extract, choose, select, insert, delete, trim_zeros, diag (both
directions), diagonal (``x.diagonal``, ``np.linalg.diagonal``), diagflat, triu, tril, sort,
partition, the unique functions and bincount's weights, in float64 and float32 and to second
order; the sample calls of the index-returning functions that have no gradient; and the
conventions at ties (stable sort, unique values shared by their occurrences).
"""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_ag as ag

from ._cases import Spec, case, check, real, shape, strided, table_tests, transposed

S23, S34, S234 = shape(2, 3), shape(3, 4), shape(2, 3, 4)
T43, ST43 = transposed(4, 3), strided(4, 3)
EVERY_OTHER5 = Spec("every-other(5,)", (10,), lambda a: a[::2])  # a 1-d non-contiguous view
MASK43 = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 0], [0, 1, 1]], dtype=bool)

TABLE = [
    # -- take and take_along_axis (repeated indices add up)
    case("take", lambda x: np.take(x, [0, 0, -1]), real, covers=np.take,
         grid=[[shape()], [shape(1)], [S23], [ST43]], method=lambda x: x.take([0, 0, -1])),
    case("take-axis", lambda x: np.take(x, [2, 0, 2], axis=1), real, covers=np.take,
         grid=[[S34], [T43], [ST43]], method=lambda x: x.take([2, 0, 2], axis=1)),
    case("take-2d-indices", lambda x: np.take(x, np.array([[1, 1], [0, 3]]), axis=-1), real,
         covers=np.take, grid=[[shape(4)], [S234]], method=lambda x: x.take([[1, 1], [0, 3]], -1)),
    case("take-scalar-index", lambda x: np.take(x, -2, axis=0), real, covers=np.take,
         grid=[[shape(3)], [T43]]),
    case("take-wrap", lambda x: np.take(x, [5, -4, 1], axis=0, mode="wrap"), real,
         covers=np.take, grid=[[shape(1)], [shape(3, 2)], [ST43]]),
    case("take-clip", lambda x: np.take(x, [7, -3, 1], mode="clip"), real, covers=np.take,
         grid=[[shape(3)], [ST43]], method=lambda x: x.take([7, -3, 1], mode="clip")),
    case("take_along_axis", lambda x: np.take_along_axis(x, np.array([[0, 2, 2], [1, 1, 0]]), 1),
         real, covers=np.take_along_axis, grid=[[S23], [shape(2, 4)], [strided(2, 3)]]),
    case("take_along_axis-broadcast",
         lambda x: np.take_along_axis(x, np.array([[3], [0], [3]]), axis=0), real,
         covers=np.take_along_axis, grid=[[shape(4, 1)], [T43], [ST43]]),
    case("take_along_axis-None", lambda x: np.take_along_axis(x, np.array([1, 1, 0]), None),
         real, covers=np.take_along_axis, grid=[[shape(2)], [S23], [ST43]]),
    case("take_along_axis-argsort", lambda x: np.take_along_axis(x, np.argsort(x, 0), 0), real,
         covers=np.take_along_axis, grid=[[shape(3)], [S234], [T43]]),
    # -- compress, extract, choose, select
    case("compress", lambda x: np.compress([True, False, True], x, axis=0), real,
         covers=np.compress, grid=[[shape(3)], [shape(3, 2)], [T43]],
         method=lambda x: x.compress([True, False, True], axis=0)),
    case("compress-flat-short", lambda x: np.compress([False, True, True], x), real,
         covers=np.compress, grid=[[shape(3)], [S23], [ST43]],
         method=lambda x: x.compress([False, True, True])),
    case("compress-axis-minus-one", lambda x: np.compress([1, 0, 1], x, -1), real,
         covers=np.compress, grid=[[S23], [ST43]]),
    case("extract", lambda x: np.extract(MASK43, x), real, covers=np.extract,
         grid=[[shape(4, 3)], [T43], [ST43]]),
    case("extract-from-values", lambda x: np.extract(x > 0, x), real, covers=np.extract,
         grid=[[shape(5)], [ST43]]),
    case("choose", lambda x, y, z: np.choose(np.array([[0, 1, 2], [2, 2, 0]]), [x, y, z]),
         real, real, real, covers=np.choose,
         grid=[[shape(), shape(3), S23], [S23, shape(2, 1), strided(2, 3)]]),
    case("choose-wrap", lambda x, y: np.choose([3, 0, -1], (x, y), mode="wrap"), real, real,
         covers=np.choose, grid=[[shape(3), shape(1)], [shape(2, 3), shape(3)]]),
    case("choose-clip", lambda x, y: np.choose(np.array([[5], [-1], [1], [0]]), [x, y],
                                               mode="clip"), real, real,
         covers=np.choose, grid=[[ST43, T43]]),
    case("choose-from-array", lambda x: np.choose([1, 0, 1], x), real, covers=np.choose,
         grid=[[shape(2, 3)], [shape(2, 1)]]),
    case("select", lambda x, y: np.select([MASK43, ~MASK43[::-1]], [x, y]), real, real,
         covers=np.select, grid=[[shape(), shape(3)], [T43, ST43]]),
    case("select-default", lambda x, y, d: np.select([MASK43, MASK43[::-1]], [x, y], d), real,
         real, real, covers=np.select, grid=[[shape(4, 3), shape(3), shape()],
                                             [ST43, T43, shape(4, 1)]]),
    # -- insert, delete, trim_zeros
    case("insert", lambda x, v: np.insert(x, [1, 3, 3], v), real, real, covers=np.insert,
         grid=[[shape(4), shape(3)], [S23, shape()], [ST43, shape(1)]]),
    case("insert-axis", lambda x, v: np.insert(x, 1, v, axis=1), real, real, covers=np.insert,
         grid=[[S23, shape(2)], [T43, shape()], [ST43, shape(4, 1)]]),
    case("insert-slice", lambda x, v: np.insert(x, slice(0, 3), v, axis=0), real, real,
         covers=np.insert, grid=[[shape(3), shape(3)], [shape(3, 2), shape(1, 2)]]),
    case("insert-scalar-many", lambda x, v: np.insert(x, -1, v, axis=-1), real, real,
         covers=np.insert, grid=[[shape(1, 3), shape(2, 1)], [ST43, transposed(2, 4)]]),
    case("delete", lambda x: np.delete(x, [0, 2]), real, covers=np.delete,
         grid=[[shape(3)], [S23], [ST43]]),
    case("delete-axis", lambda x: np.delete(x, 1, axis=-1), real, covers=np.delete,
         grid=[[S234], [T43]]),
    case("delete-slice-mask", lambda x: np.delete(x, np.array([True, False, False, True]), 0),
         real, covers=np.delete, grid=[[shape(4)], [ST43], [shape(4, 2)]]),
    case("trim_zeros", lambda x: np.trim_zeros(x * np.array([0, 1, 1, 0, 1, 0, 0])), real,
         covers=np.trim_zeros, grid=[[shape(7)], [shape(1)]]),
    case("trim_zeros-view", lambda x: np.trim_zeros(x * np.array([0, 1, 0, 1, 0])), real,
         covers=np.trim_zeros, grid=[[EVERY_OTHER5]]),
    case("trim_zeros-front", lambda x: np.trim_zeros(np.concatenate([[0.0], x, [0.0]]), "f"),
         real, covers=np.trim_zeros, grid=[[shape(3)], [shape(1)]]),
    case("trim_zeros-2d", lambda x: np.trim_zeros(x * MASK43[:, :2] * MASK43[:, 1:]), real,
         covers=np.trim_zeros, grid=[[shape(4, 2)]]),
    # -- diagonals and triangles
    case("diag-vector", np.diag, real, grid=[[shape(1)], [shape(4)], [EVERY_OTHER5]]),
    case("diag-vector-k", lambda x: np.diag(x, -2), real, covers=np.diag, grid=[[shape(3)]]),
    case("diag-matrix", np.diag, real, covers=np.diag, grid=[[shape(1, 1)], [S34], [ST43]]),
    case("diag-matrix-k", lambda x: np.diag(x, 1), real, covers=np.diag,
         grid=[[S34], [T43]]),
    case("diag-matrix-k-negative", lambda x: np.diag(x, -2), real, covers=np.diag,
         grid=[[S34], [ST43]]),
    case("diagonal", np.diagonal, real, grid=[[shape(1, 1)], [S34], [ST43]],
         method=lambda x: x.diagonal()),
    case("diagonal-offset-axes", lambda x: np.diagonal(x, 1, 2, 0), real, covers=np.diagonal,
         grid=[[S234]], method=lambda x: x.diagonal(1, 2, 0)),
    case("diagonal-negative-offset", lambda x: np.diagonal(x, offset=-1, axis1=-1, axis2=-2),
         real, covers=np.diagonal, grid=[[S234], [T43]],
         method=lambda x: x.diagonal(-1, -1, -2)),
    case("linalg.diagonal", np.linalg.diagonal, real, grid=[[shape(1, 1)], [S234], [ST43]]),
    case("linalg.diagonal-offset", lambda x: np.linalg.diagonal(x, offset=-1), real,
         covers=np.linalg.diagonal, grid=[[S34], [T43]]),
    case("diagflat", np.diagflat, real, grid=[[shape()], [shape(3)], [ST43]]),
    case("diagflat-k", lambda x: np.diagflat(x, 2), real, covers=np.diagflat,
         grid=[[shape(1, 2)], [T43]]),
    case("triu", np.triu, real, grid=[[shape(3)], [S34], [ST43]]),
    case("triu-k-stacked", lambda x: np.triu(x, -1), real, covers=np.triu,
         grid=[[S234], [T43]]),
    case("tril", np.tril, real, grid=[[shape(1)], [S34], [T43]]),
    case("tril-k-stacked", lambda x: np.tril(x, 2), real, covers=np.tril,
         grid=[[S234], [ST43]]),
    # -- sort and partition
    case("sort", np.sort, real, grid=[[shape(1)], [shape(5)], [S234], [ST43]]),
    case("sort-axis0", lambda x: np.sort(x, axis=0, kind="stable"), real, covers=np.sort,
         grid=[[S34], [T43]]),
    case("sort-None", lambda x: np.sort(x, axis=None), real, covers=np.sort,
         grid=[[shape()], [S23], [ST43]]),
    case("sort-stable-keyword", lambda x: np.sort(x, stable=True), real, covers=np.sort,
         grid=[[S23]]),
    case("partition", lambda x: np.partition(x, 1), real, covers=np.partition,
         grid=[[shape(2)], [S234], [ST43]]),
    case("partition-kths-axis", lambda x: np.partition(x, [0, 2], axis=0), real,
         covers=np.partition, grid=[[shape(4, 2)], [T43]]),
    case("partition-None", lambda x: np.partition(x, -1, axis=None), real,
         covers=np.partition, grid=[[shape()], [S23], [ST43]]),
    # -- unique values (distinct random inputs here; ties are tested below)
    case("unique", np.unique, real, grid=[[shape()], [shape(5)], [ST43]]),
    case("unique-with-counts", lambda x: np.unique(x, return_index=True, return_inverse=True,
                                                   return_counts=True)[0],
         real, covers=np.unique, grid=[[S23], [T43]]),
    case("unique-axis", lambda x: np.unique(x, axis=1), real, covers=np.unique,
         grid=[[S34], [ST43]]),
    case("unique_values", np.unique_values, real, grid=[[shape(1)], [S23], [ST43]]),
    case("unique_counts", lambda x: np.unique_counts(x).values, real,
         covers=np.unique_counts, grid=[[shape(3)], [T43]]),
    case("unique_inverse", lambda x: np.unique_inverse(x).values, real,
         covers=np.unique_inverse, grid=[[shape(3)], [ST43]]),
    case("unique_all", lambda x: np.unique_all(x)[0], real, covers=np.unique_all,
         grid=[[shape(4)], [T43]]),
    # -- set operations: values shared by both arguments move together (intersect1d(x, x))
    case("union1d", np.union1d, real, real, grid=[[shape(), shape(3)], [ST43, EVERY_OTHER5]]),
    case("union1d-shared", lambda x, y: np.union1d(x, np.concatenate([y, x[:2]])), real, real,
         covers=np.union1d, grid=[[shape(3), shape(2)], [EVERY_OTHER5, shape(1)]]),
    case("intersect1d", lambda x, y: np.intersect1d(np.concatenate([x, y]), x[::-1]), real,
         real, covers=np.intersect1d, grid=[[shape(3), shape(2)], [EVERY_OTHER5, shape(1)]]),
    case("intersect1d-indices",
         lambda x, y: np.intersect1d(np.ravel(x), np.concatenate([y, np.ravel(x)[1::2]]),
                                     return_indices=True)[0] * np.sum(y),
         real, real, covers=np.intersect1d, grid=[[S23, shape(2)], [ST43, shape(1)]]),
    case("setdiff1d", np.setdiff1d, real, real,
         grid=[[shape(4), shape(2)], [ST43, EVERY_OTHER5]]),
    case("setxor1d", np.setxor1d, real, real, grid=[[shape(4), shape()], [T43, EVERY_OTHER5]]),
    case("bincount", lambda w: np.bincount(np.array([3, 0, 3, 1, 1]), w), real,
         covers=np.bincount, grid=[[shape(5)], [EVERY_OTHER5]]),
    case("bincount-minlength", lambda w: np.bincount([1, 1], weights=w, minlength=4), real,
         covers=np.bincount, grid=[[shape(2)]]),
]


# The four checks of every table (see _cases.table_tests).
test_gradient, test_second_order, test_views_match_contiguous, test_entry_points = (
    table_tests(TABLE))

# Sample calls of the zerograd primitives (see test_coverage_meta.py): x, y float Tensors of
# shape (2, 3); i, j integer Tensors of the same shape.
ZEROGRAD_CALLS = [
    ("argwhere", np.argwhere, lambda x, y, i, j: np.argwhere(x > 0)),
    ("flatnonzero", np.flatnonzero, lambda x, y, i, j: np.flatnonzero(x)),
    ("argpartition", np.argpartition, lambda x, y, i, j: np.argpartition(x, 1)),
    ("argpartition-method", np.argpartition, lambda x, y, i, j: x.argpartition(0, axis=0)),
    ("lexsort", np.lexsort, lambda x, y, i, j: np.lexsort((x, y))),
    ("searchsorted", np.searchsorted, lambda x, y, i, j: np.searchsorted(np.sort(x[0]), y)),
    ("searchsorted-method", np.searchsorted, lambda x, y, i, j: np.sort(x[1]).searchsorted(
        y[0], side="right")),
    ("digitize", np.digitize, lambda x, y, i, j: np.digitize(x, [-1.0, 0.0, 1.0])),
    ("isin", np.isin, lambda x, y, i, j: np.isin(i, j)),
    ("unravel_index", np.unravel_index, lambda x, y, i, j: np.unravel_index(i, (2, 3))),
    ("ravel_multi_index", np.ravel_multi_index,
     lambda x, y, i, j: np.ravel_multi_index((i % 2, j), (2, 3))),
    ("ix_", np.ix_, lambda x, y, i, j: np.ix_(i[0], j[1])),
    ("diag_indices_from", np.diag_indices_from, lambda x, y, i, j: np.diag_indices_from(
        x[:, :2])),
    ("tril_indices_from", np.tril_indices_from, lambda x, y, i, j: np.tril_indices_from(x)),
    ("triu_indices_from", np.triu_indices_from, lambda x, y, i, j: np.triu_indices_from(x, 1)),
    ("packbits", np.packbits, lambda x, y, i, j: np.packbits(x > 0, axis=-1)),
    ("unpackbits", np.unpackbits, lambda x, y, i, j: np.unpackbits(i.astype(np.uint8))),
    ("can_cast", np.can_cast, lambda x, y, i, j: np.can_cast(x, np.float32)),
    ("min_scalar_type", np.min_scalar_type, lambda x, y, i, j: np.min_scalar_type(i)),
    ("common_type", np.common_type, lambda x, y, i, j: np.common_type(x, y)),
    ("may_share_memory", np.may_share_memory, lambda x, y, i, j: np.may_share_memory(x, y)),
    ("shares_memory", np.shares_memory, lambda x, y, i, j: np.shares_memory(x, x)),
]


# -- values and conventions -------------------------------------------------------------------


def test_take_repeated_indices_add_up():
    g = ag.grad(lambda a: np.sum(np.take(a, [2, 2, 0, 2]) * [1.0, 2.0, 3.0, 4.0]))(np.zeros(3))
    np.testing.assert_array_equal(g, [3.0, 0.0, 7.0])
    g = ag.grad(lambda a: np.sum(np.take_along_axis(a, np.array([[1, 1]]), 1)))(np.zeros((1, 3)))
    np.testing.assert_array_equal(g, [[0.0, 2.0, 0.0]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_sort_sends_tied_gradients_through_the_stable_permutation(dtype):
    x = np.array([2.0, 1.0, 2.0, 1.0], dtype=dtype)
    w = np.array([10.0, 20.0, 30.0, 40.0], dtype=dtype)  # sorted: x[1], x[3], x[0], x[2]
    g = ag.grad(lambda a: np.sum(np.sort(a) * w))(x)
    np.testing.assert_array_equal(g, [30.0, 10.0, 40.0, 20.0])
    assert g.dtype == dtype


def test_unique_shares_a_tied_value_among_its_occurrences():
    x = np.array([[3.0, 1.0, 3.0], [2.0, 3.0, 1.0]])
    w = np.array([1.0, 2.0, 3.0])  # unique: 1, 2, 3 (counts 2, 1, 3)
    g = ag.grad(lambda a: np.sum(np.unique(a) * w))(x)
    np.testing.assert_allclose(g, [[1.0, 0.5, 1.0], [2.0, 1.0, 0.5]])
    # That is the derivative along the moves that keep the ties (all copies move together).
    direction = np.array([[0.3, -1.0, 0.3], [2.0, 0.3, -1.0]])
    eps = 1e-6
    f = lambda a: np.sum(np.unique(a) * w)
    numeric = (f(x + eps * direction) - f(x - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(np.sum(g * direction), numeric, rtol=1e-6)


def test_unique_index_outputs_carry_no_gradient():
    x = np.array([2.0, 1.0, 2.0])

    def f(a):
        values, index, inverse, counts = np.unique(a, return_index=True, return_inverse=True,
                                                   return_counts=True)
        assert not isinstance(index, ag.Tensor) or index.dtype.kind == "i"
        return np.sum(values[inverse] * counts[inverse])

    # f = v1 + 4 v2 with v2 shared by x[0] and x[2]
    np.testing.assert_allclose(ag.grad(f)(x), [2.0, 1.0, 2.0])


def test_partition_puts_the_kth_element_in_place():
    x = np.array([5.0, 1.0, 4.0, 2.0, 3.0])
    w = np.array([0.0, 0.0, 1.0, 0.0, 0.0])
    g = ag.grad(lambda a: np.sum(np.partition(a, 2) * w))(x)
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0, 0.0, 1.0])  # the median, 3.0, is x[4]


def test_diag_round_trip_and_second_order():
    v = np.array([1.0, -2.0, 0.5])
    check(lambda a: np.diag(np.diag(a, 1) @ np.diag(a, 1).T, 0), [v], order=2)
    g = ag.grad(lambda m: np.sum(np.diag(m, -1) * [1.0, 2.0]))(np.zeros((3, 4)))
    np.testing.assert_array_equal(g, [[0, 0, 0, 0], [1, 0, 0, 0], [0, 2, 0, 0]])


def test_insert_gradient_of_broadcast_values_adds_up():
    g = ag.grad(lambda v: np.sum(np.insert(np.zeros((2, 2)), 1, v, axis=1) * [[1.0, 2.0, 0.0],
                                                                           [3.0, 4.0, 0.0]]))(
        np.array(0.0))
    assert g == 6.0


def test_set_operations_share_values_among_all_their_occurrences():
    x, y = np.array([1.0, 2.0, 2.0]), np.array([[2.0, 3.0]])
    gx, gy = ag.grad(lambda a, b: np.sum(np.union1d(a, b) * [1.0, 10.0, 100.0]),
                     argnum=(0, 1))(x, y)
    np.testing.assert_allclose(gx, [1.0, 10.0 / 3, 10.0 / 3])
    np.testing.assert_allclose(gy, [[10.0 / 3, 100.0]])
    gx, gy = ag.grad(lambda a, b: np.sum(np.intersect1d(a, b) * 6.0), argnum=(0, 1))(x, y)
    np.testing.assert_allclose(gx, [0.0, 2.0, 2.0])
    np.testing.assert_allclose(gy, [[2.0, 0.0]])


def test_choose_method_of_an_index_tensor():
    idx = ag.Param(np.array([1, 0, 1]))
    g = ag.grad(lambda x, y: np.sum(idx.choose([x, y]) * [1.0, 2.0, 3.0]), argnum=(0, 1))(
        np.zeros(3), np.zeros(3))
    np.testing.assert_array_equal(g[0], [0.0, 2.0, 0.0])
    np.testing.assert_array_equal(g[1], [1.0, 0.0, 3.0])


def test_select_and_choose_route_each_element():
    c = np.array([True, False, False])
    gx, gy, gd = ag.grad(lambda x, y, d: np.sum(np.select([c, [True, True, False]], [x, y], d)),
                         argnum=(0, 1, 2))(np.zeros(3), np.zeros(3), np.zeros(3))
    np.testing.assert_array_equal(gx, [1, 0, 0])
    np.testing.assert_array_equal(gy, [0, 1, 0])
    np.testing.assert_array_equal(gd, [0, 0, 1])
    gx, gy = ag.grad(lambda x, y: np.sum(np.choose([1, 0, 1], [x, y])), argnum=(0, 1))(
        np.zeros(3), np.zeros(3))
    np.testing.assert_array_equal(gx, [0, 1, 0])
    np.testing.assert_array_equal(gy, [1, 0, 1])
