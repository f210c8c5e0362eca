"""Sparse gradients: row lookups ``W[ids]`` give ``Sparse`` gradients on leaves; they equal the
dense gradients, accumulate (sparse + sparse stays sparse, + dense is dense), apply to the touched
rows only, keep float32, densify at the function interface and under higher order."""

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import Param, axpy_, diff, grad, value
from minitorch_ag.sparse import Sparse

IDS = np.array([[3, 0, 3], [7, 3, -1]])  # repeated ids, a negative one, a 2-d batch


def dense_lookup_gradient(shape, ids, dy):
    """What the gradient of sum(W[ids] * dy) is: dy added at the looked-up rows."""
    g = np.zeros(shape, dtype=dy.dtype)
    np.add.at(g, ids, dy)
    return g


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_lookup_gives_a_sparse_gradient_equal_to_the_dense_one(dtype):
    rng = np.random.default_rng(0)
    w = Param(rng.standard_normal((10, 4)).astype(dtype))
    dy = rng.standard_normal((2, 3, 4)).astype(dtype)
    g = grad(diff(lambda: np.sum(w[IDS] * dy)), w)
    assert isinstance(g, Sparse)
    assert g.shape == (10, 4) and g.dtype == dtype and g.values.dtype == dtype
    assert len(g.indices) == IDS.size  # one row per lookup, not per row of W
    expected = dense_lookup_gradient((10, 4), IDS, dy)
    np.testing.assert_allclose(g.to_dense(), expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(g), expected, rtol=1e-6)
    np.testing.assert_allclose(value(g), expected, rtol=1e-6)
    assert value(g).dtype == dtype
    # the function interface returns a dense array, equal to it
    dense = ag.grad(lambda v: np.sum(v[IDS] * dy))(w.value)
    assert type(dense) is np.ndarray and dense.dtype == dtype
    np.testing.assert_allclose(dense, expected, rtol=1e-6)


def test_a_list_or_a_tensor_of_ids_is_a_lookup_too():
    w = Param(np.arange(12.0).reshape(4, 3))
    for ids in ([1, 1, 2], Param(np.array([1, 1, 2]))):
        g = grad(diff(lambda ids=ids: np.sum(w[ids] ** 2)), w)
        assert isinstance(g, Sparse)
        np.testing.assert_allclose(g.to_dense(), [[0] * 3, [12, 16, 20], [12, 14, 16], [0] * 3])


def test_sparse_plus_sparse_stays_sparse_and_plus_dense_densifies():
    w = Param(np.ones((6, 2)))
    g = grad(diff(lambda: np.sum(w[[0, 1]]) + np.sum(w[[1, 5]] * 3.0)), w)
    assert isinstance(g, Sparse) and len(g.indices) == 4
    np.testing.assert_array_equal(g.to_dense(), [[1, 1], [4, 4], [0, 0], [0, 0], [0, 0], [3, 3]])
    g = grad(diff(lambda: np.sum(w[[0, 1]]) + np.sum(w * 2.0)), w)  # dense first, then sparse
    assert type(g) is np.ndarray
    np.testing.assert_array_equal(g, [[3, 3], [3, 3], [2, 2], [2, 2], [2, 2], [2, 2]])
    # two dense ones (the sweep then owns their sum), then a sparse one, added in place
    g = grad(diff(lambda: np.sum(w[[0, 0]]) + np.sum(w * 2.0) + np.sum(w * 3.0)), w)
    np.testing.assert_array_equal(g, [[7, 7], [5, 5], [5, 5], [5, 5], [5, 5], [5, 5]])
    g = grad(diff(lambda: np.sum(w * 2.0) + np.sum(w[[0, 1]]) + np.sum(w[[1]])), w)
    assert type(g) is np.ndarray
    np.testing.assert_array_equal(g, [[3, 3], [4, 4], [2, 2], [2, 2], [2, 2], [2, 2]])


def test_only_leaves_keep_sparse_gradients():
    w = Param(np.arange(8.0).reshape(4, 2))
    t = diff(lambda: np.sum((w * 2.0)[[3, 3]] ** 2))  # the lookup is of an intermediate value
    g = grad(t, w)
    assert type(g) is np.ndarray
    np.testing.assert_array_equal(g, [[0, 0], [0, 0], [0, 0], [2 * 2 * 2 * 12, 2 * 2 * 2 * 14]])
    # a 1-d array: its lookups stay dense
    v = Param(np.arange(4.0))
    assert type(grad(diff(lambda: np.sum(v[[1, 1]])), v)) is np.ndarray


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_axpy_updates_only_the_touched_rows(dtype):
    rng = np.random.default_rng(1)
    w = Param(rng.standard_normal((50, 3)).astype(dtype))
    before = w.value.copy()
    g = grad(diff(lambda: np.sum(w[IDS] ** 2)), w)
    assert isinstance(g, Sparse)
    axpy_(-0.1, g, w)
    assert w.value.dtype == dtype
    touched = np.unique(IDS % 50)
    untouched = np.setdiff1d(np.arange(50), touched)
    np.testing.assert_array_equal(w.value[untouched], before[untouched])
    np.testing.assert_allclose(w.value, before - 0.1 * g.to_dense(), rtol=1e-6)
    plain = before.copy()
    assert axpy_(-0.1, g, plain) is plain
    np.testing.assert_allclose(plain, w.value, rtol=1e-6)


def test_second_order_through_an_embedding_lookup():
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((5, 3))
    direction = rng.standard_normal((5, 3))
    ids = np.array([4, 0, 4, 2])

    def f(w):
        return np.sum(np.sin(w[ids]) * np.arange(12.0).reshape(4, 3))

    assert ag.gradcheck(f, w0, order=2)
    # nested diff: the inner gradient is dense and tracked; its derivative is the Hessian
    w = Param(w0.copy())
    outer = diff(lambda: np.sum(grad(diff(lambda: f(w)), w) * direction))
    hv = grad(outer, w)
    expected = np.zeros((5, 3))
    np.add.at(expected, ids, -np.sin(w0[ids]) * np.arange(12.0).reshape(4, 3) * direction[ids])
    np.testing.assert_allclose(np.asarray(hv), expected, rtol=1e-10)


def test_vjp_returns_dense_gradients():
    w0 = np.ones((4, 2))
    z, back = ag.vjp(lambda w: w[[0, 0, 3]], w0)
    (dw,) = back(np.ones((3, 2)))
    assert type(dw) is np.ndarray
    np.testing.assert_array_equal(dw, [[2, 2], [0, 0], [0, 0], [1, 1]])


# -- the Sparse type itself ---------------------------------------------------------------------


def test_sparse_arithmetic_coalesce_and_norm():
    a = Sparse((4, 2), np.array([1, -1, 1]), np.arange(6.0).reshape(3, 2))
    dense = a.to_dense()
    np.testing.assert_array_equal(dense, [[0, 0], [4, 6], [0, 0], [2, 3]])
    c = a.coalesce()
    np.testing.assert_array_equal(c.indices, [1, 3])
    np.testing.assert_array_equal(c.values, [[4, 6], [2, 3]])
    assert a.sum_of_squares() == np.sum(dense ** 2)
    b = Sparse((4, 2), np.array([0]), np.ones((1, 2)))
    assert isinstance(a + b, Sparse) and isinstance(a - b, Sparse)
    np.testing.assert_array_equal((a + b).to_dense(), dense + b.to_dense())
    np.testing.assert_array_equal((a - b).to_dense(), dense - b.to_dense())
    for scaled, want in ((a * 2, dense * 2), (2 * a, dense * 2), (a / 2, dense / 2),
                         (-a, -dense)):
        assert isinstance(scaled, Sparse)
        np.testing.assert_array_equal(scaled.to_dense(), want)
    ones = np.ones((4, 2))
    for total in (a + ones, ones + a, ones - a):
        assert type(total) is np.ndarray
    np.testing.assert_array_equal(ones + a, ones + dense)
    np.testing.assert_array_equal(ones - a, ones - dense)
    np.testing.assert_array_equal(a * ones * 3, dense * 3)  # elementwise with an array: dense
    target = np.ones((4, 2))
    target += a  # in place, touching the stored rows only
    np.testing.assert_array_equal(target, ones + dense)
    assert np.sum(a) == np.sum(dense) and np.allclose(np.sqrt(a), np.sqrt(dense))


def test_sparse_refuses_bad_input():
    with pytest.raises(ValueError, match="values have shape"):
        Sparse((4, 2), np.array([0, 1]), np.ones((3, 2)))
    with pytest.raises(TypeError, match="integers"):
        Sparse((4, 2), np.array([0.0]), np.ones((1, 2)))
    with pytest.raises(ValueError, match="shapes"):
        Sparse((4, 2), np.array([0]), np.ones((1, 2))) + Sparse((5, 2), np.array([0]),
                                                               np.ones((1, 2)))
    with pytest.raises(ValueError, match="target has shape"):
        Sparse((4, 2), np.array([0]), np.ones((1, 2))).add_to_(np.zeros((3, 2)))


def test_unbroadcast_keeps_a_fitting_sparse_gradient_and_casts_it():
    from minitorch_ag.tape import unbroadcast

    g = Sparse((3, 2), np.array([2, 2]), np.ones((2, 2)))
    kept = unbroadcast(g, np.zeros((3, 2), dtype=np.float32))
    assert isinstance(kept, Sparse) and kept.dtype == np.float32
    summed = unbroadcast(g, np.zeros((1, 2)))  # a broadcast argument: dense, summed
    assert type(summed) is np.ndarray
    np.testing.assert_array_equal(summed, [[2.0, 2.0]])
