"""Gradient table of ``minitorch_ag/rules/products.py``: matmul (``@``), dot, vdot, inner, outer,
tensordot, einsum (explicit and implicit output, ellipses, repeated indices, several operands,
the sublist form, ``optimize=``), kron, cross, vecdot, matvec, vecmat and ``np.linalg``'s
matmul, outer, tensordot, vecdot, cross and multi_dot, for vectors, matrices, stacks and
broadcast batches, through every calling form, in float64 and float32 and to second order.
"""

from __future__ import annotations

import operator
import warnings

import numpy as np
import pytest

import minitorch_ag as ag

from ._cases import (
    Spec,
    case,
    real,
    shape,
    strided,
    table_tests,
    transposed,
)


def swapped(*dims: int) -> Spec:
    """A stack of matrices with its last two axes swapped (not contiguous)."""
    base = (*dims[:-2], dims[-1], dims[-2])
    return Spec("swapped(" + ",".join(map(str, dims)) + ")", base, lambda a: np.swapaxes(a, -1, -2))


# (a, b) shapes for a @ b; the last one of each list is what the entry-point tests use.
MATMUL_SHAPES = {
    "matrix-matrix": [[(3, 4), (4, 2)], [(1, 1), (1, 1)], [strided(4, 3), transposed(3, 2)],
                      [transposed(2, 4), strided(4, 3)], [(3, 4), (4, 2)]],
    "vector-matrix": [[(1,), (1, 3)], [(4,), transposed(4, 2)], [(4,), (4, 2)]],
    "matrix-vector": [[(3, 4), (4,)], [strided(2, 3), (3,)]],
    "vector-vector": [[(1,), (1,)], [(5,), (5,)]],
    "batch-matrix": [[(2, 3, 4), (4, 2)], [swapped(2, 3, 4), (4, 2)]],
    "batch-batch": [[(2, 3, 4), (2, 4, 2)]],
    "broadcast-batch": [[(1, 3, 4), (2, 4, 2)], [(2, 1, 2, 3), (3, 3, 2)]],
    "batch-vector": [[(2, 3, 4), (4,)]],
    "vector-batch": [[(4,), (2, 4, 3)]],
}
DOT_SHAPES = {
    **{k: MATMUL_SHAPES[k] for k in ("matrix-matrix", "vector-matrix", "matrix-vector",
                                     "vector-vector", "batch-matrix")},
    "array-scalar": [[(5,), ()], [(2, 3), ()]],
    "batch-batch": MATMUL_SHAPES["batch-batch"],
    "vector-batch": MATMUL_SHAPES["vector-batch"],
    "matrix-batch": [[(3, 4), (2, 4, 2)], [strided(3, 4), swapped(2, 4, 2)]],
    "broadcast-batch": MATMUL_SHAPES["broadcast-batch"][:1],
}

# A constant (3, 4) matrix for products with one tracked side.
CONST = np.arange(12.0).reshape(3, 4) / 10.0

S23, S34, S3 = shape(2, 3), shape(3, 4), shape(3)


def _quiet(fn):
    """``fn`` with NumPy's deprecation of 2-vectors in ``np.cross`` silenced."""

    def quiet(*args):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return fn(*args)

    return quiet


def _einsum(spec, **kwargs):
    return lambda *ops: np.einsum(spec, *ops, **kwargs)


EMBED = "einsum_embed"  # the primitive that writes gradients on a repeated index's diagonal

EINSUM = [
    # (name, subscripts, grid, covers the diagonal primitive)
    ("matmul", "ij,jk->ik", [[S34, shape(4, 2)], [strided(3, 4), transposed(4, 2)]], False),
    ("implicit-matmul", "ij,jk", [[S34, shape(4, 2)]], False),
    ("implicit-transpose", "ji", [[S23], [transposed(3, 4)]], False),
    ("implicit-uppercase", "bA,c", [[S23, shape(4)]], False),
    ("sum-all", "ij->", [[S23], [strided(3, 4)]], False),
    ("row-sums", "ij->i", [[S23]], False),
    ("inner", "i,i", [[shape(4), shape(4)], [shape(1), shape(1)]], False),
    ("outer", "i,j->ij", [[shape(3), shape(4)]], False),
    ("scalar-operand", ",ij->ij", [[shape(), S23]], False),
    ("batched", "bij,bjk->bik", [[shape(2, 3, 4), shape(2, 4, 2)]], False),
    ("ellipsis", "...ij,jk->...ik", [[shape(2, 3, 4), shape(4, 2)], [S34, shape(4, 2)]], False),
    ("ellipsis-broadcast", "...ij,...jk", [[shape(1, 3, 4), shape(2, 4, 2)],
                                           [shape(3, 4), shape(2, 4, 2)]], False),
    ("three-operands", "ij,jk,kl->il", [[S23, S34, shape(4, 2)]], False),
    ("chain-trace", "ij,jk,ki", [[S23, S34, shape(4, 2)]], False),
    ("summed-in-one", "ijk,jl->il", [[shape(2, 3, 4), shape(3, 2)]], False),
    ("diagonal", "ii->i", [[shape(3, 3)], [transposed(3, 3)]], True),
    ("trace", "ii", [[shape(3, 3)], [shape(1, 1)]], True),
    ("repeated-then-free", "iij->j", [[shape(3, 3, 2)]], True),
    ("triple-diagonal", "iii->i", [[shape(2, 2, 2)]], True),
    ("batched-diagonal", "...ii->...i", [[shape(2, 3, 3)], [shape(3, 3)]], True),
    ("diagonal-times", "ii,i->i", [[shape(3, 3), shape(3)]], True),
    ("diagonal-kept", "ij,jj->ij", [[S23, shape(3, 3)]], True),
]

TABLE = [
    # -- matmul and dot
    *[case(f"matmul-{k}", np.matmul, real, real, grid=g, op=operator.matmul,
           rop=lambda a, b: b.__rmatmul__(a))
      for k, g in MATMUL_SHAPES.items()],
    *[case(f"linalg.matmul-{k}", np.linalg.matmul, real, real, grid=g)
      for k, g in MATMUL_SHAPES.items() if k in ("matrix-matrix", "vector-batch")],
    case("matmul-axes", lambda a, b: np.matmul(a, b, axes=[(0, 1), (-2, -1), (1, 0)]), real,
         real, covers=np.matmul, grid=[[S34, shape(4, 2)], [shape(3, 2, 4), shape(4, 2, 5)]]),
    *[case(f"dot-{k}", np.dot, real, real, grid=g, method=lambda a, b: a.dot(b))
      for k, g in DOT_SHAPES.items()],
    # (no method form: gradcheck passes a 0-d argument as a Python float, a core bug)
    case("dot-scalar-array", np.dot, real, real,
         grid=[[(), ()], [(), (2, 3)], [(), strided(4, 3)]]),
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
    # -- vdot, inner, outer
    case("vdot", np.vdot, real, real,
         grid=[[shape(4), shape(4)], [S23, shape(3, 2)], [strided(4, 3), transposed(4, 3)]]),
    case("inner", np.inner, real, real,
         grid=[[shape(4), shape(4)], [S34, shape(2, 4)], [shape(2, 3, 4), shape(4)],
               [shape(), S23], [S23, shape()], [strided(4, 3), transposed(2, 3)]]),
    case("outer", np.outer, real, real,
         grid=[[shape(3), shape(4)], [S23, shape(2)], [shape(), shape(3)],
               [strided(4, 3), transposed(2, 2)]]),
    case("linalg.outer", np.linalg.outer, real, real,
         grid=[[shape(3), shape(4)], [shape(1), shape(2)]]),
    # -- tensordot
    case("tensordot-default", np.tensordot, real, real,
         grid=[[shape(2, 3, 4), shape(3, 4, 2)], [strided(4, 3), transposed(4, 3)]]),
    case("tensordot-int", lambda a, b: np.tensordot(a, b, 1), real, real,
         covers=np.tensordot, grid=[[S34, shape(4, 2)], [shape(2, 3), shape(3)]],
         keyword=lambda a, b: np.tensordot(a, b, axes=1)),
    case("tensordot-zero", lambda a, b: np.tensordot(a, b, 0), real, real,
         covers=np.tensordot, grid=[[shape(2), S23]]),
    case("tensordot-pairs", lambda a, b: np.tensordot(a, b, axes=([1, 0], [0, 2])), real, real,
         covers=np.tensordot, grid=[[shape(3, 4, 2), shape(4, 5, 3)]]),
    case("tensordot-int-pair", lambda a, b: np.tensordot(a, b, axes=(0, -1)), real, real,
         covers=np.tensordot, grid=[[S23, shape(4, 2)], [transposed(3, 2), strided(4, 3)]]),
    case("linalg.tensordot", np.linalg.tensordot, real, real,
         grid=[[shape(2, 3, 4), shape(3, 4, 2)], [strided(4, 3), transposed(4, 3)]]),
    case("linalg.tensordot-axes", lambda a, b: np.linalg.tensordot(a, b, axes=([0], [1])), real,
         real, covers=np.linalg.tensordot, grid=[[S23, shape(3, 2)]],
         int=lambda a, b: np.linalg.tensordot(a, b, axes=1)),
    # -- einsum
    *[case(f"einsum-{name}", _einsum(spec), *[real] * len(g[0]), grid=g,
           covers=(np.einsum, EMBED) if embed else (np.einsum,))
      for name, spec, g, embed in EINSUM],
    case("einsum-optimize", _einsum("ij,jk,kl->il", optimize=True), real, real, real,
         covers=np.einsum, grid=[[S23, S34, shape(4, 2)]],
         greedy=_einsum("ij,jk,kl->il", optimize="greedy"),
         path=_einsum("ij,jk,kl->il", optimize=["einsum_path", (1, 2), (0, 1)]),
         no=_einsum("ij,jk,kl->il", optimize=False)),
    case("einsum-sublist", lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [0, 2]), real, real,
         covers=np.einsum, grid=[[S34, shape(4, 2)]],
         implicit=lambda a, b: np.einsum(a, [0, 1], b, [1, 2]),
         ellipsis=lambda a, b: np.einsum(a, [Ellipsis, 0, 1], b, [1, 2], [Ellipsis, 0, 2])),
    case("einsum-sublist-diagonal", lambda a: np.einsum(a, [0, 0], [0]), real,
         covers=(np.einsum, EMBED), grid=[[shape(3, 3)]]),
    case("einsum-constant", lambda x: np.einsum("ij,jk->ik", CONST, x), real,
         covers=np.einsum, grid=[[shape(4, 2)]],
         right=lambda x: np.einsum("ji,kj->ik", x, CONST)),
    # -- kron
    case("kron", np.kron, real, real,
         grid=[[S23, shape(2, 2)], [shape(3), shape(2)], [shape(4), S23], [shape(), S23],
               [shape(2, 1, 2), S23], [strided(2, 3), transposed(2, 2)]]),
    # -- cross
    case("cross-3", np.cross, real, real,
         grid=[[shape(3), shape(3)], [shape(4, 3), shape(3)], [strided(2, 3), transposed(2, 3)]]),
    case("cross-2", _quiet(np.cross), real, real, covers=np.cross,
         grid=[[shape(2), shape(2)], [shape(4, 2), shape(2)]]),
    case("cross-2-3", _quiet(np.cross), real, real, covers=np.cross,
         grid=[[shape(4, 2), shape(3)], [shape(3), shape(2)]]),
    case("cross-axes", _quiet(lambda a, b: np.cross(a, b, axisa=0, axisb=1, axisc=0)), real, real,
         covers=np.cross, grid=[[shape(3, 4), shape(4, 3)], [shape(2, 4), shape(4, 3)]]),
    case("cross-axis", lambda a, b: np.cross(a, b, axis=0), real, real, covers=np.cross,
         grid=[[shape(3, 4), shape(3, 1)]]),
    case("cross-2-axis", _quiet(lambda a, b: np.cross(a, b, axisa=0, axisb=0)), real, real,
         covers=np.cross, grid=[[shape(2, 4), shape(2, 4)]]),
    case("linalg.cross", np.linalg.cross, real, real,
         grid=[[shape(3), shape(3)], [shape(2, 3), shape(2, 1, 3)]]),
    case("linalg.cross-axis", lambda a, b: np.linalg.cross(a, b, axis=0), real, real,
         covers=np.linalg.cross,
         grid=[[shape(3, 4), shape(3, 1)], [transposed(3, 2), strided(3, 2)]]),
    # -- vecdot, matvec, vecmat
    case("vecdot", np.vecdot, real, real,
         grid=[[shape(3), shape(3)], [shape(4, 3), shape(3)], [strided(4, 3), transposed(4, 3)]]),
    case("vecdot-axis", lambda a, b: np.vecdot(a, b, axis=0), real, real, covers=np.vecdot,
         grid=[[shape(3, 4), shape(3, 1)]],
         axes=lambda a, b: np.vecdot(a, b, axes=[(0,), (0,)])),
    case("vecdot-keepdims", lambda a, b: np.vecdot(a, b, keepdims=True), real, real,
         covers=np.vecdot, grid=[[shape(4, 3), shape(3)]]),
    case("vecdot-axis-keepdims", lambda a, b: np.vecdot(a, b, axis=0, keepdims=True), real,
         real, covers=np.vecdot, grid=[[shape(3, 4), shape(3, 1)]]),
    case("linalg.vecdot", np.linalg.vecdot, real, real,
         grid=[[shape(3), shape(3)], [shape(2, 1, 3), shape(4, 3)]]),
    case("linalg.vecdot-axis", lambda a, b: np.linalg.vecdot(a, b, axis=0), real, real,
         covers=np.linalg.vecdot, grid=[[shape(3, 4), shape(3, 1)], [strided(3, 2), shape(3, 2)]]),
    case("matvec", np.matvec, real, real,
         grid=[[S34, shape(4)], [shape(2, 3, 4), shape(4)], [shape(3, 4), shape(2, 4)],
               [strided(3, 4), shape(4)]]),
    case("matvec-axes", lambda a, b: np.matvec(a, b, axes=[(0, 1), 0, 0]), real, real,
         covers=np.matvec, grid=[[shape(4, 3, 2), shape(3, 2)]]),
    case("vecmat", np.vecmat, real, real,
         grid=[[shape(3), S34], [shape(3), shape(2, 3, 4)], [shape(2, 3), S34],
               [shape(3), transposed(3, 4)]]),
    case("vecmat-axes", lambda a, b: np.vecmat(a, b, axes=[-1, (-1, -2), -1]), real, real,
         covers=np.vecmat, grid=[[shape(2, 3), shape(2, 4, 3)]]),
    # -- multi_dot
    case("multi_dot-matrices", lambda a, b, c: np.linalg.multi_dot([a, b, c]), real, real, real,
         covers=np.linalg.multi_dot, grid=[[S23, S34, shape(4, 2)],
                                           [strided(2, 3), transposed(3, 4), shape(4, 1)]],
         tuple=lambda a, b, c: np.linalg.multi_dot((a, b, c))),
    case("multi_dot-vectors", lambda a, b, c: np.linalg.multi_dot([a, b, c]), real, real, real,
         covers=np.linalg.multi_dot, grid=[[shape(2), S23, shape(3)], [S23, S34, shape(4)],
                                           [shape(2), S23, S34]]),
    case("multi_dot-two", lambda a, b: np.linalg.multi_dot([a, b]), real, real,
         covers=np.linalg.multi_dot, grid=[[S23, S34], [shape(2), shape(2)]]),
    case("multi_dot-five", lambda a, b, c, d, e: np.linalg.multi_dot([a, b, c, d, e]),
         real, real, real, real, real, covers=np.linalg.multi_dot,
         grid=[[shape(2), S23, S34, shape(4, 2), shape(2, 3)]]),
]

ZEROGRAD_CALLS = [
    ("einsum_path", np.einsum_path, lambda x, y, i, j: np.einsum_path("ij,kj->ik", x, y)),
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


def test_einsum_trace_gradient_is_the_identity():
    x = np.random.default_rng(7).standard_normal((3, 3))
    np.testing.assert_array_equal(ag.grad(lambda a: np.einsum("ii", a))(x), np.eye(3))


def test_einsum_only_computes_the_tracked_operands_gradient():
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    p = ag.Param(a)
    tape = ag.diff(lambda: np.sum(np.einsum("ij,jk->ik", p, b)))
    np.testing.assert_allclose(ag.grad(tape, p), np.broadcast_to(b.sum(axis=1), (2, 3)))



def test_einsum_sublist_labels_keep_numpy_order():
    a = np.random.default_rng(9).standard_normal((2, 3))
    p = ag.Param(a)
    seen = []

    def loss():
        y = np.einsum(p, [30, 1], [1, 30])  # label 30 ('e') comes after 1 ('B')
        seen.append(ag.value(y))
        return np.sum(y * np.arange(6.0).reshape(3, 2))

    tape = ag.diff(loss)
    np.testing.assert_array_equal(seen[0], a.T)
    np.testing.assert_array_equal(ag.grad(tape, p), np.arange(6.0).reshape(3, 2).T)
    implicit = np.einsum(a, [30, 1])  # NumPy orders the output by label: a.T
    np.testing.assert_array_equal(ag.grad(lambda x: np.sum(np.einsum(x, [30, 1]) * implicit))(a),
                                  implicit.T)
