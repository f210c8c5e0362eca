"""Sparse (row) gradients: only the touched rows change, and the full gradient is never built.

Semantics (documented in ``optimizers.py``): SGD's sparse step equals its dense step exactly.
Stateful optimizers update lazily, as PyTorch's SparseAdam: a touched row moves exactly as in
the dense algorithm; a row the gradient does not touch keeps its weights and its state, where
the dense algorithm would keep moving it by its momentum (and decay its moments).
"""

from __future__ import annotations

import numpy as np
import pytest

from minitorch_ag.optim import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    AdamW,
    Momentum,
    Nesterov,
    RMSprop,
    update_,
)
from minitorch_ag.sparse import Sparse
from minitorch_ag.tensor import Param

ALL = [SGD, Momentum, Nesterov, Adagrad, RMSprop, Adadelta, Adam, AdamW]
SHAPE = (5, 3)


@pytest.fixture(autouse=True)
def never_densify(monkeypatch):
    """Fail any test here that turns a Sparse gradient into a full array."""

    def refuse(*args, **kwargs):
        raise AssertionError("a Sparse gradient was densified")

    monkeypatch.setattr(Sparse, "to_dense", refuse)
    monkeypatch.setattr(Sparse, "__array__", refuse)


def dense(g):
    """The dense array of ``g``, built here independently of Sparse.to_dense."""
    out = np.zeros(g.shape, dtype=g.values.dtype)
    for i, row in zip(g.indices, g.values, strict=True):
        out[i] += row
    return out


def grads():
    rng = np.random.default_rng(0)
    # step 1 touches rows 0 and 2 (row 2 twice: the values add up); step 2 rows 2 and 3
    g1 = Sparse(SHAPE, np.array([2, 0, 2]), rng.standard_normal((3, 3)))
    g2 = Sparse(SHAPE, np.array([3, 2]), rng.standard_normal((2, 3)))
    return g1, g2


@pytest.mark.parametrize("cls", ALL, ids=[c.__name__ for c in ALL])
def test_lazy_rows(cls):
    g1, g2 = grads()
    w0 = np.random.default_rng(1).standard_normal(SHAPE)
    sparse_w = w0.copy()
    sparse_opt = cls(lr=0.1, weight_decay=0.0)  # decay: test_weight_decay_only_on_touched_rows
    sparse_opt.step_(sparse_w, g1)
    after_one = sparse_w.copy()
    sparse_opt.step_(sparse_w, g2)

    dense_w = w0.copy()
    dense_opt = cls(lr=0.1, weight_decay=0.0)
    dense_opt.step_(dense_w, dense(g1))
    dense_after_one = dense_w.copy()
    dense_opt.step_(dense_w, dense(g2))

    # after one step: touched rows as dense, the others untouched
    np.testing.assert_allclose(after_one[[0, 2]], dense_after_one[[0, 2]], rtol=1e-14)
    np.testing.assert_array_equal(after_one[[1, 3, 4]], w0[[1, 3, 4]])
    # after two: rows touched at step 2 as dense (row 3's state was zero in both runs);
    # row 0, touched at step 1 only, stays where step 1 left it; rows 1 and 4 never move
    np.testing.assert_allclose(sparse_w[[2, 3]], dense_w[[2, 3]], rtol=1e-14)
    np.testing.assert_array_equal(sparse_w[0], after_one[0])
    np.testing.assert_array_equal(sparse_w[[1, 4]], w0[[1, 4]])
    assert sparse_opt.t == 2
    for name in cls.state_names:  # the state of untouched rows stays zero
        np.testing.assert_array_equal(getattr(sparse_opt, name)[[1, 4]], 0.0)


def test_sgd_sparse_equals_dense_exactly():
    g1, g2 = grads()
    w0 = np.random.default_rng(2).standard_normal(SHAPE)
    a, b = w0.copy(), w0.copy()
    opt = SGD(lr=0.3)
    for g in (g1, g2):
        opt.step_(a, g)
        opt.step_(b, dense(g))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_weight_decay_only_on_touched_rows(cls):
    g1, _ = grads()
    w0 = np.ones(SHAPE)
    w = w0.copy()
    cls(lr=0.1, weight_decay=0.5).step_(w, g1)
    ref = w0.copy()
    cls(lr=0.1, weight_decay=0.5).step_(ref, dense(g1))
    np.testing.assert_allclose(w[[0, 2]], ref[[0, 2]], rtol=1e-14)
    np.testing.assert_array_equal(w[[1, 3, 4]], 1.0)
    assert not np.allclose(ref[[1, 3, 4]], 1.0)  # dense decay moves every row


def test_float32_with_float64_values():
    w = np.ones(SHAPE, dtype=np.float32)
    opt = Adam(lr=0.1)
    opt.step_(w, Sparse(SHAPE, np.array([1]), np.ones((1, 3))))
    assert w.dtype == np.float32 and opt.m.dtype == np.float32
    np.testing.assert_allclose(w[1], 0.9, rtol=1e-6)
    np.testing.assert_array_equal(w[0], 1.0)


def test_gclip_uses_the_norm_of_the_summed_rows():
    # rows [1, 1] with values 3 and 4 add up to 7 in row 1: norm 7 (not 5), clipped to 1
    g = Sparse((3,), np.array([1, 1]), np.array([3.0, 4.0]))
    w = np.zeros(3)
    SGD(lr=1.0, gclip=1.0).step_(w, g)
    np.testing.assert_allclose(w, [0.0, -1.0, 0.0], rtol=1e-15)
    # and values that cancel give a zero gradient: nothing to clip, nothing moves
    g = Sparse((3,), np.array([2, 2]), np.array([3.0, -3.0]))
    SGD(lr=1.0, gclip=1.0).step_(w, g)
    np.testing.assert_allclose(w, [0.0, -1.0, 0.0], rtol=1e-15)


def test_global_clipping_mixes_sparse_and_dense():
    a = Param(np.zeros(2))
    b = Param(np.zeros((2, 2)))
    ga = np.array([3.0, 0.0])
    gb = Sparse((2, 2), np.array([1]), np.array([[0.0, 4.0]]))
    update_([a, b], [ga, gb], SGD(lr=1.0), max_norm=1.0)  # joint norm 5
    np.testing.assert_allclose(a.value, [-0.6, 0.0], rtol=1e-15)
    np.testing.assert_allclose(b.value, [[0.0, 0.0], [0.0, -0.8]], rtol=1e-15)


def test_sparse_gradient_of_a_param_through_update_():
    p = Param(np.zeros((4, 2)))
    update_(p, Sparse((4, 2), np.array([3]), np.ones((1, 2))), Momentum(lr=0.5))
    np.testing.assert_allclose(p.value[3], [-0.5, -0.5])
    np.testing.assert_array_equal(p.value[:3], 0.0)
    assert p.opt.velocity.shape == (4, 2)


def test_wrong_sparse_shape_is_refused():
    with pytest.raises(ValueError, match=r"gradient shape \(4, 2\) differs from weight shape"):
        SGD().step_(np.zeros((5, 2)), Sparse((4, 2), np.array([0]), np.ones((1, 2))))
