"""Gradient table of ``minitorch_ag/rules/linalg.py``: matmul (``@``) and dot for matrices,
vectors, stacks of matrices and broadcast batches, through ``@``, ``np.matmul``, ``np.dot`` and
``x.dot(y)``, in float64 and float32 and to second order.
"""

from __future__ import annotations

import operator

import numpy as np
import pytest

import minitorch_ag as ag

from ._cases import (
    case,
    real,
    shape,
    strided,
    table_tests,
    transposed,
)

# (a, b) shapes for a @ b; the last one of each list is what the entry-point tests use.
MATMUL_SHAPES = {
    "matrix-matrix": [[(3, 4), (4, 2)], [(1, 1), (1, 1)], [strided(4, 3), transposed(3, 2)],
                      [transposed(2, 4), strided(4, 3)], [(3, 4), (4, 2)]],
    "vector-matrix": [[(1,), (1, 3)], [(4,), transposed(4, 2)], [(4,), (4, 2)]],
    "matrix-vector": [[(3, 4), (4,)], [strided(2, 3), (3,)]],
    "vector-vector": [[(1,), (1,)], [(5,), (5,)]],
    "batch-matrix": [[(2, 3, 4), (4, 2)]],
    "batch-batch": [[(2, 3, 4), (2, 4, 2)]],
    "broadcast-batch": [[(1, 3, 4), (2, 4, 2)], [(2, 1, 2, 3), (3, 3, 2)]],
    "batch-vector": [[(2, 3, 4), (4,)]],
    "vector-batch": [[(4,), (2, 4, 3)]],
}
DOT_SHAPES = {
    **{k: MATMUL_SHAPES[k] for k in ("matrix-matrix", "vector-matrix", "matrix-vector",
                                     "vector-vector", "batch-matrix")},
    "array-scalar": [[(5,), ()], [(2, 3), ()]],
}
# np.dot with a b of 3 or more dimensions: first order only (linalg.py skips the second,
# which needs a rule for np.tensordot).
DOT_FIRST_ORDER_SHAPES = {
    "batch-batch": MATMUL_SHAPES["batch-batch"],
    "vector-batch": MATMUL_SHAPES["vector-batch"],
    "matrix-batch": [[(3, 4), (2, 4, 2)]],
    "broadcast-batch": MATMUL_SHAPES["broadcast-batch"][:1],
}

# A constant (3, 4) matrix for products with one tracked side.
CONST = np.arange(12.0).reshape(3, 4) / 10.0

TABLE = [
    *[case(f"matmul-{k}", np.matmul, real, real, grid=g, op=operator.matmul,
           rop=lambda a, b: b.__rmatmul__(a))
      for k, g in MATMUL_SHAPES.items()],
    *[case(f"dot-{k}", np.dot, real, real, grid=g, method=lambda a, b: a.dot(b))
      for k, g in DOT_SHAPES.items()],
    # (no method form: gradcheck passes a 0-d argument as a Python float, a core bug)
    case("dot-scalar-array", np.dot, real, real,
         grid=[[(), ()], [(), (2, 3)], [(), strided(4, 3)]]),
    *[case(f"dot-{k}", np.dot, real, real, grid=g, order2=False,
           method=lambda a, b: a.dot(b))
      for k, g in DOT_FIRST_ORDER_SHAPES.items()],
    case("matmul-constant-left", lambda x: CONST @ x, real, covers=np.matmul, main="op",
         grid=[[(4, 2)], [(4,)]], np=lambda x: np.matmul(CONST, x)),
    case("matmul-constant-right", lambda x: x @ CONST.T, real, covers=np.matmul, main="op",
         grid=[[(3, 4)], [(2, 3, 4)]]),
    case("dot-constant", lambda x: np.dot(x, CONST.T), real, covers=np.dot,
         grid=[[(3, 4)], [(4,)]], method=lambda x: x.dot(CONST.T)),
    case("quadratic-form", lambda x, a: x @ a @ x, real, real, covers=np.matmul, main="op",
         grid=[[shape(3), shape(3, 3)]]),
    case("gram", lambda x: x.T @ x, real, covers=(np.matmul, np.transpose), main="op",
         grid=[[(4, 3)], [strided(4, 3)]]),
]


# The four checks of every table (see _cases.table_tests).
test_gradient, test_second_order, test_views_match_contiguous, test_entry_points = (
    table_tests(TABLE))


# -- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [np.matmul, np.dot], ids=lambda f: f.__name__)
def test_matrix_gradients_are_the_textbook_ones(fn):
    rng = np.random.default_rng(5)
    a, b, w = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal((3, 2))
    da, db = ag.grad(lambda x, y: np.sum(fn(x, y) * w), argnum=(0, 1))(a, b)
    np.testing.assert_allclose(da, w @ b.T)
    np.testing.assert_allclose(db, a.T @ w)


def test_broadcast_batch_gradient_is_summed_over_the_batch():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((1, 3, 4)), rng.standard_normal((2, 4, 2))
    da, db = ag.grad(lambda x, y: np.sum(x @ y), argnum=(0, 1))(a, b)
    assert da.shape == (1, 3, 4) and db.shape == (2, 4, 2)
    np.testing.assert_allclose(da[0], np.ones((3, 2)) @ b.sum(axis=0).T)
