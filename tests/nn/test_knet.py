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
