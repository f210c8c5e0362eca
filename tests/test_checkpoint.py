"""``ag.checkpoint``: same gradients as without it, fewer values kept on the tape, Params
inside, nested diff, randomness replayed, fused layers."""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import nn
from minitorch_ag.nn import functional as F

RNG = np.random.default_rng(3)


def _mlp(depth: int, width: int, seed: int, p: float = 0.0):
    layers = []
    for i in range(depth):
        layers.append(nn.Linear(width, width, activation=np.tanh, rng=seed + i,
                                dtype=np.float64))
        if p:
            layers.append(nn.Dropout(p, rng=seed + 100 + i))
    return layers


def _grads(tape, model):
    return [ag.grad(tape, q) for q in ag.params(model)]


def test_gradients_equal_and_the_tape_keeps_only_inputs_and_outputs():
    layers = _mlp(4, 6, 0)
    x = RNG.standard_normal((5, 6))

    def plain():
        h = x
        for layer in layers:
            h = layer(h)
        return np.sum(h ** 2)

    blocks = [ag.checkpoint(layer) for layer in layers]

    def checkpointed():
        h = x
        for block in blocks:
            h = block(h)
        return np.sum(h ** 2)

    t0, t1 = ag.diff(plain), ag.diff(checkpointed)
    assert ag.value(t0) == pytest.approx(ag.value(t1), rel=1e-14)
    n0, n1 = len(t0.nodes), len(t1.nodes)
    for a, b in zip(_grads(t0, layers), _grads(t1, layers), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-13, atol=1e-15)
    # 8 Param leaves + one node per block + the loss's two; without: one per op in each layer
    assert n1 == 8 + 4 + 2 and n0 > n1


def test_arguments_params_and_constants():
    w = ag.Param(RNG.standard_normal(3))
    c = RNG.standard_normal(3)
    f = lambda a, b, k: np.sum(np.sin(a * w) * b) * k + np.sum(c * a)  # noqa: E731
    g = ag.checkpoint(f)
    a, b = RNG.standard_normal(3), RNG.standard_normal(3)
    want = ag.grad(lambda a, b: f(a, b, 2) * np.sum(w), argnum=(0, 1))(a, b)
    got = ag.grad(lambda a, b: g(a, b, 2) * np.sum(w), argnum=(0, 1))(a, b)
    for x, y in zip(got, want, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-13)
    t0 = ag.diff(lambda: f(a, b, 2) * np.sum(w))
    t1 = ag.diff(lambda: g(a, b, 2) * np.sum(w))
    np.testing.assert_allclose(ag.grad(t1, w), ag.grad(t0, w), rtol=1e-13)
    assert g(a, b, 2) == f(a, b, 2)  # outside diff: f itself


def test_nested_diff_and_forward_over_reverse_through_a_checkpoint():
    w = ag.Param(np.array([0.5, -1.0]))
    inner = lambda x: np.tanh(x * w) * x  # noqa: E731
    block = ag.checkpoint(inner)
    f0 = lambda x: np.sum(inner(inner(x)) ** 2)  # noqa: E731
    f1 = lambda x: np.sum(block(block(x)) ** 2)  # noqa: E731
    x = np.array([1.0, 2.0])
    second = lambda f: ag.grad(lambda x: np.sum(ag.grad(f)(x) ** 2))(x)  # noqa: E731
    np.testing.assert_allclose(second(f1), second(f0), rtol=1e-12)
    np.testing.assert_allclose(ag.hessian(f1)(x), ag.hessian(f0)(x), rtol=1e-12)


def test_dropout_masks_are_the_same_on_recomputation():
    x = RNG.standard_normal((4, 6))
    plain_layers = _mlp(3, 6, 10, p=0.5)
    ckpt_layers = _mlp(3, 6, 10, p=0.5)
    blocks = [ag.checkpoint(layer) for layer in ckpt_layers]

    def run(fs):
        h = x
        for fn in fs:
            h = fn(h)
        return np.sum(h ** 2)

    t0, t1 = ag.diff(lambda: run(plain_layers)), ag.diff(lambda: run(blocks))
    assert ag.value(t1) == pytest.approx(ag.value(t0), rel=1e-14)
    for a, b in zip(_grads(t0, plain_layers), _grads(t1, ckpt_layers), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("source", ["generator", "global"])
def test_random_numbers_drawn_inside_are_replayed(source):
    w = ag.Param(RNG.standard_normal(50))
    gen = np.random.default_rng(7)

    def noisy(x):
        if source == "generator":
            return F.dropout(x * w, 0.5, rng=gen, training=True)
        return x * w * (np.random.rand(50) > 0.5)

    block = ag.checkpoint(noisy)
    x = RNG.standard_normal(50)
    tape = ag.diff(lambda: np.sum(block(x) ** 2))
    # y = x w m s (mask m, scale s): the loss is sum(x^2 w^2 m s^2) and its gradient
    # 2 x^2 w m s^2, so loss = <g, w> / 2 exactly when the recomputed mask is the forward's
    g = ag.grad(tape, w)
    assert 0 < np.count_nonzero(g) < 50
    assert np.sum(g * w.value) / 2 == pytest.approx(ag.value(tape), rel=1e-12)


def test_a_fused_lstm_inside_a_checkpoint():
    lstm = nn.LSTM(3, 4, rng=0, dtype=np.float64)
    x = RNG.standard_normal((2, 5, 3))
    run = lambda x: lstm(x)[0]  # noqa: E731
    block = ag.checkpoint(run)
    t0 = ag.diff(lambda: np.sum(run(x) ** 2))
    t1 = ag.diff(lambda: np.sum(block(x) ** 2))
    for a, b in zip(_grads(t0, lstm), _grads(t1, lstm), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


def test_a_tuple_output_is_refused():
    block = ag.checkpoint(lambda x: (x, x))
    with pytest.raises(TypeError, match="one array, not a tuple"):
        ag.grad(lambda x: np.sum(block(x)[0]))(np.ones(2))


def test_docstring_example_runs():
    import doctest  # noqa: PLC0415
    import sys  # noqa: PLC0415

    result = doctest.testmod(sys.modules["minitorch_ag.checkpoint"])
    assert result.failed == 0 and result.attempted > 0
