"""Per-parameter (gclip) and global-norm gradient clipping: the numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from minitorch_ag.optim import SGD, Adam, clip_global_norm, clip_norm, grad_norm, update_
from minitorch_ag.sparse import Sparse
from minitorch_ag.tensor import Param


def test_grad_norm():
    assert grad_norm(np.array([[1.0, 2.0], [2.0, 4.0]])) == 5.0
    assert grad_norm(np.array([3.0]), None, np.array(4.0)) == 5.0
    assert grad_norm(Sparse((4,), np.array([0, 3, 0]), np.array([1.0, 4.0, 2.0]))) == 5.0
    assert grad_norm() == 0.0


def test_clip_norm_scales_to_the_limit_and_keeps_small_gradients():
    g = np.array([3.0, 4.0])
    np.testing.assert_allclose(clip_norm(g, 2.5), [1.5, 2.0], rtol=1e-15)
    assert clip_norm(g, 5.0) is g  # at the limit: unchanged, not copied
    assert clip_norm(g, 0) is g  # 0 turns clipping off (Knet)
    np.testing.assert_array_equal(g, [3.0, 4.0])  # never written into
    s = clip_norm(Sparse((3,), np.array([1]), np.array([10.0])), 2.0)
    assert isinstance(s, Sparse)
    np.testing.assert_allclose(s.values, [2.0])
    f32 = clip_norm(np.array([3.0, 4.0], dtype=np.float32), 1.0)
    assert f32.dtype == np.float32


def test_clip_global_norm():
    grads = [np.array([1.0, 2.0]), None, np.array([[2.0], [4.0]])]  # joint norm 5
    clipped, norm = clip_global_norm(grads, 1.0)
    assert norm == 5.0
    assert clipped[1] is None
    np.testing.assert_allclose(clipped[0], [0.2, 0.4], rtol=1e-15)
    np.testing.assert_allclose(clipped[2], [[0.4], [0.8]], rtol=1e-15)
    same, norm = clip_global_norm(grads, 10.0)
    assert norm == 5.0 and all(a is b for a, b in zip(same, grads, strict=True))


def test_limits_are_checked():
    with pytest.raises(ValueError, match="clip_norm: max_norm must be a number >= 0"):
        clip_norm(np.ones(2), -1.0)
    with pytest.raises(ValueError, match="clip_global_norm: max_norm"):
        clip_global_norm([np.ones(2)], float("nan"))


def test_gclip_in_an_optimizer_is_per_parameter():
    opt = SGD(lr=1.0, gclip=1.0)
    w = np.zeros(2)
    opt.step_(w, np.array([6.0, 8.0]))
    np.testing.assert_allclose(w, [-0.6, -0.8], rtol=1e-15)
    opt.step_(w, np.array([0.3, 0.4]))  # norm 0.5 <= 1: used as it is
    np.testing.assert_allclose(w, [-0.9, -1.2], rtol=1e-15)


def test_gclip_comes_before_the_algorithm():
    # Adam sees the clipped gradient: its first moment holds (1 - beta1) * clipped g
    opt = Adam(gclip=2.0)
    opt.step_(np.zeros(2), np.array([30.0, 40.0]))
    np.testing.assert_allclose(opt.m, 0.1 * np.array([1.2, 1.6]), rtol=1e-14)


def test_update_with_max_norm_clips_all_params_together():
    a, b = Param(np.zeros(1)), Param(np.zeros(1))
    update_({"a": a, "b": b}, {"a": np.array([3.0]), "b": np.array([4.0])}, SGD(lr=1.0),
            max_norm=1.0)
    np.testing.assert_allclose([a.value[0], b.value[0]], [-0.6, -0.8], rtol=1e-15)
    # each parameter on its own would have been clipped to norm 1: -1 and -1
    c = Param(np.zeros(1))
    update_(c, np.array([3.0]), SGD(lr=1.0), max_norm=1.0)
    assert c.value[0] == pytest.approx(-1.0)
    assert math.isclose(grad_norm(np.array([0.6]), np.array([0.8])), 1.0)
