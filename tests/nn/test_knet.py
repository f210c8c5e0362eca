"""Knet's vocabulary: nll and accuracy as Knet defines them, beside PyTorch's nll_loss.

Knet's ``nll(scores, labels)`` takes unnormalised scores (log-softmax inside) and an
``average`` keyword (``False``: the pair ``(total, count)``); over a model and a dataset it
adds up the batches. Checked against PyTorch where the two overlap (``cross_entropy`` of the
scores, ``nll_loss`` of their log-softmax) and against the definition where they do not.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import nn
from minitorch_ag.nn import functional as F

from .test_functional import check_grad, check_torch

LABELS = np.array([0, 3, -100, 2, 1, 1])


def _by_definition(scores, labels, ignore_index=-100):
    """-mean over kept labels of log(softmax(scores)[label]), written out in NumPy."""
    keep = labels != ignore_index
    z = scores - scores.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    picked = logp[np.arange(len(labels))[keep], labels[keep]]
    return -picked.sum(), int(keep.sum())


def test_nll_takes_scores_as_knet_and_nll_loss_log_probabilities_as_pytorch():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((6, 4)) * 3
    total, count = _by_definition(scores, LABELS)
    assert float(F.nll(scores, LABELS)) == pytest.approx(total / count, rel=1e-12)
    t, n = F.nll(scores, LABELS, average=False)
    assert float(t) == pytest.approx(total, rel=1e-12) and n == count == 5
    # Knet's nll of scores equals PyTorch's nll_loss of their log-softmax; the PyTorch form
    # given the raw scores is a different number (the mix-up the names now prevent).
    np.testing.assert_allclose(F.nll(scores, LABELS), F.nll_loss(F.log_softmax(scores, 1),
                                                                 LABELS), rtol=1e-12)
    assert abs(float(F.nll_loss(scores, LABELS)) - float(F.nll(scores, LABELS))) > 0.1


def test_nll_equals_torch_and_differentiates():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4))
    tl = torch.tensor(LABELS)
    check_torch(lambda v: F.nll(v, LABELS), lambda v: tf.cross_entropy(v, tl), x)
    check_torch(lambda v: F.nll(v, LABELS), lambda v: tf.nll_loss(tf.log_softmax(v, 1), tl), x)
    check_torch(lambda v: F.nll(v, LABELS, average=False)[0],
                lambda v: tf.cross_entropy(v, tl, reduction="sum"), x)
    check_grad(lambda v: F.nll(v, LABELS), x)
    images = rng.standard_normal((2, 3, 4, 2))  # (N, C, d1, d2): classes on axis 1
    labels = rng.integers(0, 3, (2, 4, 2))
    check_torch(lambda v: F.nll(v, labels), lambda v: tf.cross_entropy(v, torch.tensor(labels)),
                images)


def _batches(x, y, size):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]


def test_nll_and_accuracy_of_a_model_over_a_dataset():
    rng = np.random.default_rng(2)
    model = nn.Chain(nn.Linear(5, 8, nn.relu, rng=0), nn.Linear(8, 3, rng=1))
    x = rng.standard_normal((23, 5)).astype(np.float32)
    y = rng.integers(0, 3, 23)
    y[4] = -100
    data = _batches(x, y, 6)  # uneven last batch: the mean is over labels, not batches
    scores = ag.value(model(x)).astype(np.float64)
    total, count = _by_definition(scores, y)
    assert F.nll(model, data) == pytest.approx(total / count, rel=1e-5)
    assert F.nll(model, data=iter(data)) == pytest.approx(total / count, rel=1e-5)  # Knet kw
    t, n = F.nll(model, data, average=False)
    assert t == pytest.approx(total, rel=1e-5) and n == 22
    assert isinstance(t, float)
    right = int(((scores.argmax(axis=1) == y) & (y != -100)).sum())
    assert F.accuracy(model, data) == pytest.approx(right / 22)
    assert F.accuracy(model, data=data, average=False) == (right, 22)
    assert F.accuracy(scores, y, average=False) == (right, 22)
    with pytest.raises(TypeError, match=r"nll\(model, data\): give the \(x, labels\) batches once"):
        F.nll(model, data, data=data)
    with pytest.raises(TypeError, match=r"accuracy\(model, data\)"):
        F.accuracy(model)
    assert math.isnan(F.nll(model, [(x[:2], np.array([-100, -100]))]))


def test_nll_of_a_model_inside_diff_is_a_number_not_a_recording():
    model = nn.Chain(nn.Linear(2, 2, rng=0))
    data = [(np.ones((3, 2), np.float32), np.array([0, 1, 1]))]
    w = ag.params(model)[0]
    seen = []

    def loss():
        seen.append(F.nll(model, data))  # an evaluation while recording: a plain float
        return F.nll(model(data[0][0]), data[0][1])

    tape = ag.diff(loss)
    assert ag.grad(tape, w).shape == w.shape
    assert isinstance(seen[0], float) and seen[0] == pytest.approx(float(ag.value(tape)))


# -- param, param0, mat ------------------------------------------------------------------


def test_param_and_param0_make_float32_params_on_the_default_device():
    w = nn.param(10, 784, rng=0)
    assert isinstance(w, ag.Param) and w.shape == (10, 784) and w.dtype == np.float32
    bound = math.sqrt(6 / (10 + 784))  # Xavier/Glorot uniform, Knet's default init
    assert np.abs(w.value).max() <= bound and np.abs(w.value).max() > 0.9 * bound
    np.testing.assert_array_equal(nn.param(10, 784, rng=0).value, w.value)  # reproducible
    assert nn.param((3, 4), init=nn.init.zeros).value.sum() == 0
    assert nn.param(2, 2, dtype=np.float64, rng=1).dtype == np.float64
    b = nn.param0(10)
    assert isinstance(b, ag.Param) and b.dtype == np.float32 and not b.value.any()
    a = np.ones((2, 3))
    assert nn.param(a).value is a  # Knet's param(x) wraps an existing array
    assert ag.params([w, b]) == [w, b]
    with pytest.raises(TypeError, match=r"param\(dims...\): give the shape"):
        nn.param(2.5)


def test_mat_joins_all_but_the_batch_axis_and_differentiates():
    x = np.arange(120.0).reshape(2, 3, 4, 5)
    assert nn.mat(x).shape == (2, 60) and nn.mat(x, dims=3).shape == (2, 60)
    assert nn.mat(x, dims=1).shape == (24, 5) and nn.mat(x, dims=0).shape == (120, 1)
    assert nn.mat(np.arange(4.0)).shape == (4, 1)
    np.testing.assert_array_equal(nn.mat(x), x.reshape(2, -1))
    p = ag.Param(x)
    g = ag.grad(ag.diff(lambda: np.sum(nn.mat(p) * np.arange(60.0))), p)
    np.testing.assert_array_equal(g, np.broadcast_to(np.arange(60.0), (2, 60)).reshape(x.shape))
    with pytest.raises(ValueError, match=r"mat\(x, dims=5\)"):
        nn.mat(x, dims=5)


# -- conv4, deconv4, pool, unpool ------------------------------------------------------------


def test_conv4_mode_0_is_a_true_convolution_mode_1_a_cross_correlation():
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 1, 6, 7))
    w = rng.standard_normal((1, 1, 3, 2))
    np.testing.assert_allclose(nn.conv4(w, x)[0, 0], signal.convolve2d(x[0, 0], w[0, 0],
                                                                       mode="valid"))
    np.testing.assert_allclose(nn.conv4(w, x, mode=1)[0, 0],
                               signal.correlate2d(x[0, 0], w[0, 0], mode="valid"))


@pytest.mark.parametrize("mode", [0, 1])
def test_conv4_equals_torch_conv2d(mode):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((6, 2, 3, 3))

    def theirs(tw, tx):
        kernel = torch.flip(tw, (2, 3)) if mode == 0 else tw
        return tf.conv2d(tx, kernel, padding=(1, 2), stride=(2, 1), dilation=1, groups=2) * 0.5

    check_torch(lambda a, b: nn.conv4(a, b, padding=(1, 2), stride=(2, 1), mode=mode,
                                      alpha=0.5, group=2), theirs, w, x)


@pytest.mark.parametrize("mode", [0, 1])
def test_deconv4_is_the_transpose_of_conv4_and_equals_torch(mode):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    w = rng.standard_normal((3, 2, 3, 3))  # conv4: 2 channels in, 3 out
    x = rng.standard_normal((2, 2, 7, 7))
    y = rng.standard_normal((2, 3, 4, 4))  # the shape of conv4(w, x)
    kw = {"padding": 1, "stride": 2, "mode": mode}
    assert nn.conv4(w, x, **kw).shape == y.shape
    # <conv4(w, x), y> == <x, deconv4(w, y)>: deconv4 is conv4's adjoint, for either mode
    assert np.sum(nn.conv4(w, x, **kw) * y) == pytest.approx(np.sum(x * nn.deconv4(w, y, **kw)))
    kernel = torch.tensor(w[:, :, ::-1, ::-1].copy() if mode == 0 else w)
    expected = torch.nn.functional.conv_transpose2d(torch.tensor(y), kernel, padding=1,
                                                    stride=2)
    np.testing.assert_allclose(nn.deconv4(w, y, **kw), expected.numpy(), rtol=1e-12)
    check_grad(lambda a, b: nn.deconv4(a, b, **kw), w, y, order=1)


def test_pool_modes_and_defaults_equal_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 6, 7))
    check_torch(lambda v: nn.pool(v), lambda v: tf.max_pool2d(v, 2), x)  # window 2, stride 2
    check_torch(lambda v: nn.pool(v, window=3, stride=2, padding=1),
                lambda v: tf.max_pool2d(v, 3, 2, 1), x)
    check_torch(lambda v: nn.pool(v, window=3, stride=2, padding=1, mode=1),
                lambda v: tf.avg_pool2d(v, 3, 2, 1, count_include_pad=True), x)
    check_torch(lambda v: nn.pool(v, window=3, stride=2, padding=1, mode=2, alpha=2.0),
                lambda v: 2.0 * tf.avg_pool2d(v, 3, 2, 1, count_include_pad=False), x)
    with pytest.raises(ValueError, match=r"pool: mode must be one of \(0, 1, 2\)"):
        nn.pool(x, mode=3)


def test_unpool_undoes_pool_and_is_the_scaled_gradient_of_average_pooling():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 3, 4))
    up = nn.unpool(x)
    np.testing.assert_array_equal(up, np.repeat(np.repeat(x, 2, axis=2), 2, axis=3))
    np.testing.assert_allclose(nn.pool(up), x)
    np.testing.assert_allclose(nn.pool(up, mode=1), x)
    # general windows: the gradient of pool(., mode=1) times the window size
    big = rng.standard_normal((1, 2, 7, 7))
    kw = {"window": 3, "stride": 2, "padding": 1}
    dy = rng.standard_normal(nn.pool(big, mode=1, **kw).shape)
    avg_grad = ag.grad(lambda v: np.sum(nn.pool(v, mode=1, **kw) * dy))(big)
    np.testing.assert_allclose(nn.unpool(dy, **kw), 9 * avg_grad, rtol=1e-12)
    check_grad(lambda v: nn.unpool(v, **kw), dy, order=1)
