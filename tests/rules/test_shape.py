"""Gradient table of ``minitorch_ag/rules/shape.py``: reshape, ravel (``x.flatten``),
transpose, swapaxes, moveaxis, rollaxis, matrix_transpose (``np.linalg``'s, ``x.mT``),
expand_dims, squeeze, broadcast_to, broadcast_arrays, atleast_1d/2d/3d, meshgrid, flip, fliplr,
flipud, roll, rot90, copy and astype (``x.astype``, ``np.astype``), through the NumPy functions
and the Tensor methods (``x.reshape(2, 3)``, ``x.T`` ...), in float64 and float32 and to second
order.
"""

from __future__ import annotations

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

S23, S234 = shape(2, 3), shape(2, 3, 4)


def _combine(outputs):
    """The outputs of a tuple-valued function, all used, joined in one vector."""
    assert isinstance(outputs, tuple), type(outputs)
    return np.concatenate([np.ravel(out) for out in outputs])

# astype to float32 rounds the float64 reference: a larger step and looser tolerance.
ROUNDED = {"eps": 1e-3, "rtol": 2e-3, "atol": 2e-4}

TABLE = [
    # -- reshape and ravel
    case("reshape", lambda x: np.reshape(x, (3, 2)), real, covers=np.reshape, grid=[[S23]],
         method_varargs=lambda x: x.reshape(3, 2), method_tuple=lambda x: x.reshape((3, 2))),
    case("reshape-minus-one", lambda x: np.reshape(x, -1), real, covers=np.reshape,
         grid=[[transposed(4, 3)], [S234], [strided(4, 3)]], method=lambda x: x.reshape(-1)),
    case("reshape-3d", lambda x: np.reshape(x, (4, -1, 3)), real, covers=np.reshape,
         grid=[[S234]], method=lambda x: x.reshape(4, 2, 3)),
    case("reshape-order-F", lambda x: np.reshape(x, (3, 2), order="F"), real,
         covers=np.reshape, grid=[[S23]], method=lambda x: x.reshape(3, 2, order="F")),
    case("reshape-shape-keyword", lambda x: np.reshape(x, shape=(6,)), real, covers=np.reshape,
         grid=[[S23]]),
    case("reshape-0d", lambda x: np.reshape(x, (1, 1)), real, covers=np.reshape,
         grid=[[shape()]]),
    case("reshape-to-0d", lambda x: np.reshape(x, ()), real, covers=np.reshape,
         grid=[[shape(1)], [shape(1, 1)]]),
    case("ravel", np.ravel, real, grid=[[shape()], [transposed(4, 3)], [S234], [strided(4, 3)]],
         method=lambda x: x.ravel(), flatten=lambda x: x.flatten()),
    case("ravel-order-F", lambda x: np.ravel(x, order="F"), real, covers=np.ravel,
         grid=[[transposed(4, 3)], [S23]], method=lambda x: x.flatten("F")),
    # orders "A" and "K" of a layout made inside f (gradcheck keeps the argument contiguous)
    case("ravel-K-of-transpose", lambda x: np.ravel(x.T, order="K"), real, covers=np.ravel,
         grid=[[S23], [S234]], method=lambda x: x.T.flatten("K")),
    case("ravel-K-of-broadcast", lambda x: np.ravel(np.broadcast_to(x, (4, 3)).T, order="K"),
         real, covers=np.ravel, grid=[[shape(3)], [shape(4, 1)]]),
    case("ravel-K-of-flipped", lambda x: np.ravel(np.transpose(x, (1, 2, 0))[::-1], order="K"),
         real, covers=np.ravel, grid=[[S234]]),
    case("ravel-A-of-transpose", lambda x: np.ravel(x.T, order="A"), real, covers=np.ravel,
         grid=[[S23]], method=lambda x: x.T.flatten("A")),
    case("reshape-A-of-transpose", lambda x: np.reshape(x.T, (2, 3), order="A"), real,
         covers=np.reshape, grid=[[S23]], method=lambda x: x.T.reshape(2, 3, order="A")),
    # -- transposes
    case("transpose", np.transpose, real,
         grid=[[shape()], [shape(5)], [transposed(4, 3)], [S234]], T=lambda x: x.T,
         method=lambda x: x.transpose()),
    case("transpose-axes", lambda x: np.transpose(x, (1, 2, 0)), real, covers=np.transpose,
         grid=[[S234]], method_varargs=lambda x: x.transpose(1, 2, 0),
         method_tuple=lambda x: x.transpose((1, 2, 0))),
    case("transpose-negative-axes", lambda x: np.transpose(x, (-1, 0, -2)), real,
         covers=np.transpose, grid=[[S234]], method=lambda x: x.transpose(-1, 0, -2)),
    case("T-strided", lambda x: x.T, real, covers=np.transpose, main="T",
         grid=[[strided(4, 3)]]),
    case("swapaxes", lambda x: np.swapaxes(x, 0, 2), real, covers=np.swapaxes, grid=[[S234]],
         method=lambda x: x.swapaxes(0, 2)),
    case("swapaxes-negative", lambda x: np.swapaxes(x, -1, 0), real, covers=np.swapaxes,
         grid=[[transposed(4, 3)], [strided(4, 3)]], method=lambda x: x.swapaxes(-1, 0)),
    case("moveaxis", lambda x: np.moveaxis(x, 0, -1), real, covers=np.moveaxis, grid=[[S234]]),
    case("moveaxis-tuples", lambda x: np.moveaxis(x, (0, 1), (-1, 0)), real,
         covers=np.moveaxis, grid=[[S234]]),
    # -- adding and removing axes
    case("expand_dims", lambda x: np.expand_dims(x, 0), real, covers=np.expand_dims,
         grid=[[shape()], [S23]]),
    case("expand_dims-tuple", lambda x: np.expand_dims(x, (0, -1)), real,
         covers=np.expand_dims, grid=[[shape(3)], [strided(4, 3)]]),
    case("squeeze", np.squeeze, real, grid=[[shape(1)], [shape(1, 3, 1)]],
         method=lambda x: x.squeeze()),
    case("squeeze-axis", lambda x: np.squeeze(x, axis=0), real, covers=np.squeeze,
         grid=[[shape(1, 3, 1)]], method=lambda x: x.squeeze(axis=-1)),
    case("broadcast_to", lambda x: np.broadcast_to(x, (2, 3)), real, covers=np.broadcast_to,
         grid=[[shape()], [shape(1)], [shape(3)], [shape(1, 3)], [shape(2, 1)]]),
    case("broadcast_to-3d", lambda x: np.broadcast_to(x, (2, 4, 3)), real,
         covers=np.broadcast_to, grid=[[strided(4, 3)], [shape(4, 1)]]),
    # -- copies and casts
    case("copy", np.copy, real, grid=[[shape()], [transposed(4, 3)], [S23], [strided(4, 3)]],
         method=lambda x: x.copy()),
    case("astype-float64", lambda x: x.astype(np.float64), real, covers="astype",
         main="method", grid=[[S23], [strided(4, 3)]]),
    case("astype-float32", lambda x: x.astype(np.float32), real, covers="astype",
         main="method", grid=[[S23], [strided(4, 3)]], tol=ROUNDED),
    case("astype-roundtrip", lambda x: x.astype(np.float32).astype(np.float64) * x,
         real, covers="astype", main="method", grid=[[S23]], tol=ROUNDED),
    case("np.astype", lambda x: np.astype(x, np.float64), real, covers=(np.astype, "astype"),
         grid=[[shape()], [S23], [strided(4, 3)]], method=lambda x: x.astype("float64")),
    case("np.astype-float32", lambda x: np.astype(x, np.float32, copy=False), real,
         covers=np.astype, grid=[[S23]], tol=ROUNDED),
    # -- more axis moves
    case("rollaxis", lambda x: np.rollaxis(x, -1), real, covers=np.rollaxis,
         grid=[[S234], [transposed(4, 3)]]),
    case("rollaxis-start", lambda x: np.rollaxis(x, 0, 3), real, covers=np.rollaxis,
         grid=[[S234]]),
    case("rollaxis-negative", lambda x: np.rollaxis(x, -1, -2), real, covers=np.rollaxis,
         grid=[[S234], [strided(4, 3)]]),
    case("rollaxis-in-place", lambda x: np.rollaxis(x, 1, 2), real, covers=np.rollaxis,
         grid=[[S234], [strided(4, 3)]]),
    case("matrix_transpose", np.matrix_transpose, real, grid=[[S23], [S234], [strided(4, 3)]],
         mT=lambda x: x.mT),
    case("linalg.matrix_transpose", np.linalg.matrix_transpose, real,
         grid=[[shape(1, 1)], [S234], [transposed(4, 3)]]),
    case("squeeze-tuple", lambda x: np.squeeze(x, axis=(0, 2)), real, covers=np.squeeze,
         grid=[[shape(1, 3, 1)]], method=lambda x: x.squeeze((0, -1))),
    # -- reversing, rolling, rotating
    case("flip", np.flip, real, grid=[[shape()], [shape(1)], [S234], [strided(4, 3)]]),
    case("flip-axis", lambda x: np.flip(x, -1), real, covers=np.flip,
         grid=[[shape(3)], [transposed(4, 3)]]),
    case("flip-axes", lambda x: np.flip(x, (0, 2)), real, covers=np.flip, grid=[[S234]]),
    case("fliplr", np.fliplr, real, grid=[[shape(1, 1)], [S234], [strided(4, 3)]]),
    case("flipud", np.flipud, real, grid=[[shape(1)], [S23], [transposed(4, 3)]]),
    case("roll", lambda x: np.roll(x, 2), real, covers=np.roll,
         grid=[[shape()], [shape(1)], [S23], [strided(4, 3)]]),
    case("roll-axis", lambda x: np.roll(x, -1, axis=1), real, covers=np.roll,
         grid=[[S234], [transposed(4, 3)]]),
    case("roll-tuples", lambda x: np.roll(x, (1, -2), axis=(0, -1)), real, covers=np.roll,
         grid=[[S234], [strided(4, 3)]]),
    case("roll-same-axis-twice", lambda x: np.roll(x, (1, 3), axis=(1, 1)), real,
         covers=np.roll, grid=[[S23]]),
    case("rot90", np.rot90, real, grid=[[shape(1, 1)], [S23], [strided(4, 3)]]),
    case("rot90-k-axes", lambda x: np.rot90(x, 3, axes=(2, 0)), real, covers=np.rot90,
         grid=[[S234]]),
    case("rot90-k-negative", lambda x: np.rot90(x, -2), real, covers=np.rot90,
         grid=[[transposed(4, 3)]]),
    # -- several arrays in, a tuple out
    case("atleast_1d", np.atleast_1d, real, grid=[[shape()], [shape(3)], [strided(4, 3)]]),
    case("atleast_2d", np.atleast_2d, real, grid=[[shape()], [shape(3)], [transposed(4, 3)]]),
    case("atleast_3d", np.atleast_3d, real,
         grid=[[shape()], [shape(3)], [strided(4, 3)], [S234]]),
    case("atleast_1d-several", lambda x, y: _combine(np.atleast_1d(x, y)), real, real,
         covers=np.atleast_1d, grid=[[shape(), shape(3)], [strided(4, 3), shape(1)]]),
    case("atleast_2d-several", lambda x, y, z: _combine(np.atleast_2d(x, y, z)), real, real,
         real, covers=np.atleast_2d, grid=[[shape(), shape(3), S23]]),
    case("atleast_3d-several", lambda x, y: _combine(np.atleast_3d(x, y)), real, real,
         covers=np.atleast_3d, grid=[[shape(3), shape(1, 3)], [strided(4, 3), S234]]),
    case("atleast_2d-one-used", lambda x, y: np.atleast_2d(x, y)[1] * x, real, real,
         covers=np.atleast_2d, grid=[[shape(), shape(3)]]),
    case("broadcast_arrays", lambda x, y: _combine(np.broadcast_arrays(x, y)), real, real,
         covers=np.broadcast_arrays,
         grid=[[shape(), shape(3)], [shape(2, 1), shape(3)], [strided(4, 3), shape(1, 3)]]),
    case("broadcast_arrays-one", lambda x: np.broadcast_arrays(x)[0], real,
         covers=np.broadcast_arrays, grid=[[shape()], [S23]]),
    case("meshgrid", lambda x, y: _combine(np.meshgrid(x, y)), real, real, covers=np.meshgrid,
         grid=[[shape(), shape(3)], [shape(4), shape(1)], [transposed(4, 3), shape(2)]]),
    case("meshgrid-ij-three", lambda x, y, z: _combine(np.meshgrid(x, y, z, indexing="ij")),
         real, real, real, covers=np.meshgrid, grid=[[shape(2), shape(3), shape(1)]]),
    case("meshgrid-xy-three-sparse",
         lambda x, y, z: _combine(np.meshgrid(x, y, z, sparse=True)), real, real, real,
         covers=np.meshgrid, grid=[[shape(2), S23, shape(2)]]),
    case("meshgrid-one-used", lambda x, y: np.meshgrid(x, y)[1] * np.sum(x), real, real,
         covers=np.meshgrid, grid=[[shape(3), shape(2)]]),
    case("meshgrid-single", lambda x: np.meshgrid(x)[0], real, covers=np.meshgrid,
         grid=[[shape(3)], [strided(4, 3)]]),
]


# The four checks of every table (see _cases.table_tests).
test_gradient, test_second_order, test_views_match_contiguous, test_entry_points = (
    table_tests(TABLE))


# -- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("src", "dst"), [(np.float64, np.float32), (np.float32, np.float64)],
                         ids=["float64-to-float32", "float32-to-float64"])
def test_astype_gradient_has_the_source_dtype(src, dst):
    x = np.array([1.0, 2.0, 3.0], dtype=src)
    g = ag.grad(lambda a: np.sum(a.astype(dst) * np.array([1.0, 2.0, 3.0], dtype=dst)))(x)
    assert g.dtype == src
    np.testing.assert_array_equal(g, [1.0, 2.0, 3.0])


def test_broadcast_to_sums_the_gradient_back():
    g = ag.grad(lambda a: np.sum(np.broadcast_to(a, (4, 3)) * np.arange(12.0).reshape(4, 3)))(
        np.zeros((1, 3)))
    np.testing.assert_array_equal(g, [[18.0, 22.0, 26.0]])


# -- orders "A" and "K": the index order depends on the argument's memory layout ------------

LAYOUTS = {
    "C": lambda b: b,
    "transposed": lambda b: b.T,
    "permuted": lambda b: b.transpose(1, 2, 0),
    "strided": lambda b: b.reshape(4, 6)[:, ::2],
    "negative-strides": lambda b: b[::-1, :, ::-1],
    "permuted-negative": lambda b: b.transpose(2, 0, 1)[::-1],
    "transposed-2d": lambda b: b.reshape(6, 4).T,
}
ORDERED = {
    "ravel": lambda a, order: np.ravel(a, order=order),
    "flatten": lambda a, order: a.flatten(order),
    "reshape": lambda a, order: np.reshape(a, (2, -1), order=order),
}


@pytest.mark.parametrize(("fn", "order"), [(f, o) for f in ORDERED for o in "CFAK"
                                           if (f, o) != ("reshape", "K")])  # no such order
@pytest.mark.parametrize("layout", LAYOUTS)
def test_index_order_follows_the_layout(layout, fn, order):
    """The exact gradient of a linear map, by unit steps through the view itself."""

    def view():
        return LAYOUTS[layout](np.arange(24.0).reshape(2, 3, 4))

    f = ORDERED[fn]
    w = np.random.default_rng(2).standard_normal(np.shape(f(view(), order)))
    g = ag.grad(lambda a: np.sum(f(a, order) * w))(view())
    expected = np.zeros(g.shape)
    for idx in np.ndindex(*g.shape):
        x = view()
        before = np.sum(f(x, order) * w)
        x[idx] += 1.0
        expected[idx] = np.sum(f(x, order) * w) - before
    np.testing.assert_allclose(g, expected, atol=1e-12)
