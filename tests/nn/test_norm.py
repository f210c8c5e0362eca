"""Normalisation (``minitorch_ag.nn.norm``, reached as ``F.batch_norm``, ``F.layer_norm``).

Values, gradients and running statistics equal PyTorch's; gradcheck to second order (the fused
rule recomputes the variance when differentiated) through both interfaces; training and
evaluation follow ``ag.recording()``; running statistics change only while recording; float32
kept; errors.
"""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag.nn import functional as F

from .test_functional import check_float32, check_grad, check_param, check_torch

SHAPES = [(6, 3), (4, 3, 5), (3, 2, 3, 4)]


def _inputs(shape, seed=0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    return (2 + 3 * rng.standard_normal(shape), rng.standard_normal(c), rng.standard_normal(c),
            rng.standard_normal(c), rng.uniform(0.5, 2.0, c))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_batch_norm_training_equals_torch(shape):
    torch = pytest.importorskip("torch")
    x, w, b, rm, rv = _inputs(shape)
    ours_rm, ours_rv = rm.copy(), rv.copy()
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    check_torch(lambda x, w, b: F.batch_norm(x, ours_rm, ours_rv, w, b, training=True,
                                             momentum=0.2),
                lambda x, w, b: torch.nn.functional.batch_norm(x, trm, trv, w, b, training=True,
                                                               momentum=0.2), x, w, b)
    # ours updated its running statistics once (in the recorded pass), as PyTorch's call did
    np.testing.assert_allclose(ours_rm, trm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours_rv, trv.numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_batch_norm_evaluation_equals_torch(shape):
    torch = pytest.importorskip("torch")
    x, w, b, rm, rv = _inputs(shape, 1)
    check_torch(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False),
                lambda x, w, b: torch.nn.functional.batch_norm(
                    x, torch.tensor(rm), torch.tensor(rv), w, b, training=False), x, w, b)


def test_running_statistics_change_only_while_recording():
    x, w, b, rm, rv = _inputs((8, 3), 2)
    rm0, rv0 = rm.copy(), rv.copy()
    y_eval = F.batch_norm(x, rm, rv, w, b)  # outside diff: evaluation, running stats used
    np.testing.assert_allclose(y_eval, (x - rm) / np.sqrt(rv + 1e-5) * w + b)
    F.batch_norm(x, rm, rv, w, b, training=True)  # batch stats, but not recording: no update
    np.testing.assert_array_equal(rm, rm0)
    np.testing.assert_array_equal(rv, rv0)
    wp = ag.Param(w)
    ag.diff(lambda: np.sum(F.batch_norm(x, rm, rv, wp, b)))  # recording: training + update
    np.testing.assert_allclose(rm, 0.9 * rm0 + 0.1 * x.mean(0))
    np.testing.assert_allclose(rv, 0.9 * rv0 + 0.1 * x.var(0, ddof=1))
    ag.diff(lambda: np.sum(F.batch_norm(x, rm, rv, wp, b, training=False)))  # eval inside diff
    np.testing.assert_allclose(rm, 0.9 * rm0 + 0.1 * x.mean(0))


def test_batch_norm_standardises_each_channel():
    x, *_ = _inputs((5, 4, 3, 3), 3)
    y = F.batch_norm(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-3)


@pytest.mark.parametrize("shape", [(5, 3), (2, 2, 3, 2)], ids=str)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(shape, training):
    x, w, b, rm, rv = _inputs(shape, 4)
    fn = lambda x, w, b: F.batch_norm(x, rm.copy(), rv.copy(), w, b,  # noqa: E731
                                      training=training)
    check_grad(fn, x, w, b)
    check_grad(lambda x: F.batch_norm(x, training=training), x)  # no affine, no running stats
    check_param(fn, x, w, b)
    check_float32(fn, x, w, b)


@pytest.mark.parametrize(("shape", "normalized"), [((4, 5), 5), ((2, 3, 4), (3, 4)),
                                                   ((2, 3, 2, 3), (3,))], ids=str)
def test_layer_norm_equals_torch_and_gradcheck(shape, normalized):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    ns = (normalized,) if isinstance(normalized, int) else normalized
    x = 1 + 2 * rng.standard_normal(shape)
    w, b = rng.standard_normal(ns), rng.standard_normal(ns)
    fn = lambda x, w, b: F.layer_norm(x, normalized, w, b, eps=1e-3)  # noqa: E731
    check_torch(fn, lambda x, w, b: torch.nn.functional.layer_norm(x, ns, w, b, eps=1e-3),
                x, w, b)
    check_grad(fn, x, w, b)
    check_grad(lambda x: F.layer_norm(x, normalized), x)
    check_param(fn, x, w, b)
    check_float32(fn, x, w, b)


def test_layer_norm_non_contiguous_input():
    x = np.random.default_rng(6).standard_normal((5, 4)).T
    f = lambda v: np.sum(np.sin(F.layer_norm(v, 5)))  # noqa: E731
    np.testing.assert_allclose(ag.grad(f)(x), ag.grad(f)(np.ascontiguousarray(x)), rtol=1e-12)
    check_grad(lambda v: F.layer_norm(v, 5), x)


def test_normalisation_is_one_fused_node():
    x = np.random.default_rng(7).standard_normal((4, 3))
    xp = ag.Param(x)
    for fn in (lambda: F.batch_norm(xp, training=True), lambda: F.layer_norm(xp, 3)):
        tape = ag.diff(lambda: np.sum(fn()))
        names = [n.prim.name for n in tape.nodes if n is not None and n.prim is not None]
        assert names == ["nn.standardize", "np.sum"]


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: F.batch_norm(np.ones(3), training=True), ValueError,
     r"batch_norm: x must have a batch and a channel axis .*\(3,\)"),
    (lambda: F.batch_norm(np.ones((4, 3)), np.zeros(2), np.ones(2)), ValueError,
     r"batch_norm: running_mean must have shape \(3,\) for x of shape \(4, 3\); got shape "
     r"\(2,\)"),
    (lambda: F.batch_norm(np.ones((4, 3)), weight=np.ones(4)), ValueError,
     r"batch_norm: weight must have shape \(3,\)"),
    (lambda: F.batch_norm(np.ones((1, 3)), training=True), ValueError,
     "batch_norm: training needs more than one value per channel"),
    (lambda: F.batch_norm(np.ones((4, 3), int), training=True), TypeError,
     "batch_norm: x must be a floating-point array"),
    (lambda: F.layer_norm(np.ones((4, 3)), 4), ValueError,
     r"layer_norm: the trailing axes of x \(shape \(4, 3\)\) must be normalized_shape \(4,\)"),
    (lambda: F.layer_norm(np.ones((4, 3)), 3, np.ones(4)), ValueError,
     r"layer_norm: weight must have shape \(3,\)"),
])
def test_errors_name_the_function_argument_and_shapes(call, error, message):
    with pytest.raises(error, match=message):
        call()
