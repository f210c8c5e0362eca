"""Recurrent layers (``minitorch_ag.nn.rnn``): gradients by finite differences (first and second
order), agreement with ``torch.nn.RNN/LSTM/GRU`` for the same weights, state carry and detach,
dtypes and errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag.nn import GRU, LSTM, RNN, detach, gru_cell, lstm_cell
from minitorch_ag.nn.rnn import gru_layer, lstm_layer

from ._layer_check import gradcheck_layer, weight_names

LAYERS = {
    "rnn_tanh": lambda **kw: RNN(3, 2, nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: RNN(3, 2, nonlinearity="relu", **kw),
    "lstm": lambda **kw: LSTM(3, 2, **kw),
    "gru": lambda **kw: GRU(3, 2, **kw),
}


def _state(name: str, rng: np.random.Generator, layers: int, n: int, h: int):
    if name == "lstm":
        return (rng.standard_normal((layers, n, h)), rng.standard_normal((layers, n, h)))
    return rng.standard_normal((layers, n, h))


# -- the fused cells --------------------------------------------------------------------------


@pytest.mark.parametrize("order", [1, 2])
def test_lstm_cell_gradients_of_every_output(order):
    rng = np.random.default_rng(1)
    gates, c = rng.standard_normal((2, 12)), rng.standard_normal((2, 3))
    ws = [rng.standard_normal(s) for s in ((2, 3), (2, 3), (2, 12), (2, 3))]

    def f(gates, c):
        return sum(np.sum(out * w) for out, w in zip(lstm_cell(gates, c), ws, strict=True))

    assert ag.gradcheck(f, gates, c, order=order)


@pytest.mark.parametrize("order", [1, 2])
def test_gru_cell_gradients_of_every_output(order):
    rng = np.random.default_rng(2)
    xg, hg = rng.standard_normal((2, 2, 9))
    h = rng.standard_normal((2, 3))
    ws = [rng.standard_normal(s) for s in ((2, 3), (2, 6), (2, 3))]

    def f(xg, hg, h):
        return sum(np.sum(out * w) for out, w in zip(gru_cell(xg, hg, h), ws, strict=True))

    assert ag.gradcheck(f, xg, hg, h, order=order)


@pytest.mark.parametrize("which", ["h", "c"])
def test_lstm_cell_gradient_of_one_output(which):
    """The rule's paths where some outputs receive no gradient (None)."""
    rng = np.random.default_rng(3)
    gates, c = rng.standard_normal((2, 8)), rng.standard_normal((2, 2))
    k = 0 if which == "h" else 1
    assert ag.gradcheck(lambda g, c: np.sum(np.sin(lstm_cell(g, c)[k])), gates, c)


def test_gru_cell_gradient_through_gates_only():
    rng = np.random.default_rng(4)
    xg, hg = rng.standard_normal((2, 2, 6))
    h = rng.standard_normal((2, 2))
    assert ag.gradcheck(lambda a, b, c: np.sum(gru_cell(a, b, c)[1] ** 2), xg, hg, h)
    assert ag.gradcheck(lambda a, b, c: np.sum(gru_cell(a, b, c)[2] ** 2), xg, hg, h)


def _layer_inputs(rng, steps=3, batch=2, hidden=2):
    return (rng.standard_normal((steps, batch, 4 * hidden)),
            rng.standard_normal((4 * hidden, hidden)),
            rng.standard_normal((batch, hidden)), rng.standard_normal((batch, hidden)))


@pytest.mark.parametrize("order", [1, 2])
def test_lstm_layer_gradients_of_every_output(order):
    """The fused recurrence, with gradients reaching every output it returns."""
    rng = np.random.default_rng(11)
    args = _layer_inputs(rng)
    ws = [rng.standard_normal(s) for s in ((3, 2, 2), (3, 2, 2), (3, 2, 8), (3, 2, 2))]

    def f(*args):
        return sum(np.sum(out * w) for out, w in zip(lstm_layer(*args), ws, strict=True))

    assert ag.gradcheck(f, *args, order=order)


@pytest.mark.parametrize("order", [1, 2])
def test_lstm_layer_gradient_of_last_state_only(order):
    """Outputs that receive no gradient (None) in the rule, to first and second order."""
    rng = np.random.default_rng(12)
    assert ag.gradcheck(lambda *a: np.sum(np.sin(lstm_layer(*a)[1][-1])), *_layer_inputs(rng),
                        order=order)


def test_lstm_layer_is_lstm_cell_step_by_step():
    rng = np.random.default_rng(13)
    xw, w_hh, h, c = _layer_inputs(rng, steps=4, batch=3, hidden=5)
    hs, cs, acts, tcs = lstm_layer(xw, w_hh, h, c)
    for t in range(4):
        h, c, a, tc = lstm_cell(xw[t] + h @ w_hh.T, c)
        np.testing.assert_allclose(hs[t], h, rtol=1e-13)
        np.testing.assert_allclose(cs[t], c, rtol=1e-13)
        np.testing.assert_allclose(acts[t], a, rtol=1e-13)
        np.testing.assert_allclose(tcs[t], tc, rtol=1e-13)


def _gru_inputs(rng, steps=3, batch=2, hidden=2):
    return (rng.standard_normal((steps, batch, 3 * hidden)),
            rng.standard_normal((3 * hidden, hidden)), rng.standard_normal(3 * hidden),
            rng.standard_normal((batch, hidden)))


@pytest.mark.parametrize("order", [1, 2])
def test_gru_layer_gradients_of_every_output(order):
    rng = np.random.default_rng(14)
    args = _gru_inputs(rng)
    ws = [rng.standard_normal(s) for s in ((3, 2, 2), (3, 2, 4), (3, 2, 2))]

    def f(*args):
        return sum(np.sum(out * w) for out, w in zip(gru_layer(*args), ws, strict=True))

    assert ag.gradcheck(f, *args, order=order)


@pytest.mark.parametrize("order", [1, 2])
def test_gru_layer_without_bias_and_last_state_only(order):
    rng = np.random.default_rng(15)
    xg, w_hh, _, h0 = _gru_inputs(rng)
    assert ag.gradcheck(lambda xg, w, h: np.sum(np.sin(gru_layer(xg, w, None, h)[0][-1])),
                        xg, w_hh, h0, order=order)


def test_gru_layer_is_gru_cell_step_by_step():
    rng = np.random.default_rng(16)
    xg, w_hh, b_hh, h = _gru_inputs(rng, steps=4, batch=3, hidden=5)
    hs, rz, ns = gru_layer(xg, w_hh, b_hh, h)
    for t in range(4):
        h, rz_t, n = gru_cell(xg[t], h @ w_hh.T + b_hh, h)
        np.testing.assert_allclose(hs[t], h, rtol=1e-13)
        np.testing.assert_allclose(rz[t], rz_t, rtol=1e-13)
        np.testing.assert_allclose(ns[t], n, rtol=1e-13)


# -- layers: finite differences ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("with_state", [False, True])
def test_layer_gradients(name, with_state):
    rng = np.random.default_rng(5)
    layer = LAYERS[name](num_layers=2, rng=0, dtype=np.float64)
    x = rng.standard_normal((2, 3, 3))
    if name == "rnn_relu":  # keep pre-activations away from the kink at 0
        x = x + 1.5
    inputs = [x, _state(name, rng, 2, 2, 2)] if with_state else [x]
    assert gradcheck_layer(layer, inputs)


@pytest.mark.parametrize("name", ["rnn_tanh", "lstm", "gru"])
def test_layer_second_order(name):
    rng = np.random.default_rng(6)
    layer = LAYERS[name](num_layers=2, rng=1, dtype=np.float64)
    inputs = [rng.standard_normal((2, 2, 3)), _state(name, rng, 2, 2, 2)]
    assert gradcheck_layer(layer, inputs, order=2)


# -- layers: the same numbers as PyTorch ------------------------------------------------------


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("name", list(LAYERS))
def test_matches_torch(name, bidirectional):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    n, t, f, h, layers = 3, 5, 4, 6, 2
    d = 2 if bidirectional else 1
    kind = {"rnn_tanh": "RNN", "rnn_relu": "RNN", "lstm": "LSTM", "gru": "GRU"}[name]
    options = {"nonlinearity": name[4:]} if kind == "RNN" else {}
    options["bidirectional"] = bidirectional
    ours = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}[kind](f, h, layers, rng=0, dtype=np.float64,
                                                         **options)
    torch.manual_seed(0)
    theirs = getattr(torch.nn, kind)(f, h, layers, batch_first=True, **options).double()
    for pname, p in theirs.named_parameters():
        getattr(ours, pname).value[...] = p.detach().numpy()
    assert sorted(weight_names(ours)) == sorted(n for n, _ in theirs.named_parameters())

    x = rng.standard_normal((n, t, f))
    state = _state(name, rng, layers * d, n, h)
    w_out, w_h, w_c = (rng.standard_normal(s)
                       for s in ((n, t, h * d), (layers * d, n, h), (layers * d, n, h)))

    def loss(out, final, w_out, w_h, w_c):
        hn, cn = final if kind == "LSTM" else (final, None)
        total = (out * w_out).sum() + (hn * w_h).sum()
        return total if cn is None else total + (cn * w_c).sum()

    xp = ag.Param(x)
    sp = tuple(ag.Param(s) for s in state) if kind == "LSTM" else ag.Param(state)
    tape = ag.diff(lambda: loss(*ours(xp, sp), w_out, w_h, w_c))

    xt = torch.tensor(x, requires_grad=True)
    st = (tuple(torch.tensor(s, requires_grad=True) for s in state) if kind == "LSTM"
          else torch.tensor(state, requires_grad=True))
    lt = loss(*theirs(xt, st), *(torch.tensor(w) for w in (w_out, w_h, w_c)))
    lt.backward()

    np.testing.assert_allclose(ag.value(tape), lt.item(), rtol=1e-12)
    for pname, p in theirs.named_parameters():
        np.testing.assert_allclose(ag.grad(tape, getattr(ours, pname)), p.grad.numpy(),
                                   rtol=1e-10, atol=1e-12, err_msg=pname)
    np.testing.assert_allclose(ag.grad(tape, xp), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for ours_s, theirs_s in zip(sp if kind == "LSTM" else (sp,),
                                st if kind == "LSTM" else (st,), strict=True):
        np.testing.assert_allclose(ag.grad(tape, ours_s), theirs_s.grad.numpy(), rtol=1e-10,
                                   atol=1e-12)


def test_lstm_forward_matches_torch_float32():
    torch = pytest.importorskip("torch")
    ours = LSTM(8, 16, 2, rng=0)
    theirs = torch.nn.LSTM(8, 16, 2, batch_first=True)
    for pname, p in theirs.named_parameters():
        getattr(ours, pname).value[...] = p.detach().numpy()
    x = np.random.default_rng(8).standard_normal((4, 7, 8)).astype(np.float32)
    out, (h, c) = ours(x)
    out_t, (h_t, c_t) = theirs(torch.from_numpy(x))
    assert out.dtype == h.dtype == c.dtype == np.float32
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(c, c_t.detach().numpy(), atol=1e-5)


# -- dtypes, params, state carry ----------------------------------------------------------------


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_float32_weights_and_gradients(cls):
    layer = cls(3, 4, 2, rng=0)
    x = np.ones((2, 3, 3), np.float32)
    tape = ag.diff(lambda: np.sum(layer(x)[0]))
    assert ag.value(tape).dtype == np.float32
    for p in ag.params(layer):
        assert p.value.dtype == np.float32
        assert ag.grad(tape, p).dtype == np.float32


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_params_finds_every_weight(cls):
    layer = cls(3, 4, 3, rng=0)
    gates = {RNN: 1, LSTM: 4, GRU: 3}[cls]
    ps = ag.params(layer)
    assert len(ps) == 4 * 3
    assert [p.shape for p in ps[:4]] == [(4 * gates, 3), (4 * gates, 4), (4 * gates,),
                                         (4 * gates,)]
    assert all(p.shape[-1] == 4 for p in ps[4:] if p.ndim == 2)
    assert len(ag.params(cls(3, 4, bias=False))) == 2


def test_same_rng_same_weights():
    a, b = LSTM(3, 4, rng=5), LSTM(3, 4, rng=5)
    for p, q in zip(ag.params(a), ag.params(b), strict=True):
        np.testing.assert_array_equal(p.value, q.value)
    assert not np.array_equal(ag.params(LSTM(3, 4, rng=6))[0].value, ag.params(a)[0].value)


def test_state_carried_between_batches_and_detached():
    """Truncated BPTT: the second batch starts from the first batch's final state, whose
    gradient does not flow back into the first batch."""
    rng = np.random.default_rng(9)
    lstm = LSTM(3, 4, rng=0, dtype=np.float64)
    x1, x2 = rng.standard_normal((2, 2, 5, 3))
    carried = {}

    def first():
        out, state = lstm(x1)
        carried["state"] = state
        return np.sum(out)

    ag.diff(first)
    state = carried["state"]
    assert isinstance(state[0], ag.Tensor)  # still the Results of the finished tape
    detached = detach(state)
    assert all(type(s) is np.ndarray for s in detached)
    np.testing.assert_array_equal(ag.value(state[0]), detached[0])

    # With the detached state, or with the leftover Results (constants once their tape is
    # done), the second batch's gradient is the same: it stops at the carried state.
    t_detached = ag.diff(lambda: np.sum(lstm(x2, detached)[0] ** 2))
    t_left = ag.diff(lambda: np.sum(lstm(x2, state)[0] ** 2))
    h0, c0 = ag.Param(detached[0]), ag.Param(detached[1])
    t_param = ag.diff(lambda: np.sum(lstm(x2, (h0, c0))[0] ** 2))
    for p in ag.params(lstm):
        np.testing.assert_allclose(ag.grad(t_detached, p), ag.grad(t_left, p))
        np.testing.assert_allclose(ag.grad(t_detached, p), ag.grad(t_param, p))
    # ... and differs from running both batches as one sequence (no truncation).
    x12 = np.concatenate([x1, x2], axis=1)
    t_full = ag.diff(lambda: np.sum(lstm(x12)[0][:, 5:] ** 2))
    w = lstm.weight_hh_l0
    assert not np.allclose(ag.grad(t_full, w), ag.grad(t_detached, w))
    # The forward values agree: carrying the state is exactly continuing the sequence.
    np.testing.assert_allclose(ag.value(lstm(x12)[0])[:, 5:], ag.value(lstm(x2, detached)[0]))


@pytest.mark.parametrize("cls", [RNN, GRU])
def test_state_carry_rnn_gru(cls):
    rng = np.random.default_rng(10)
    layer = cls(3, 4, 2, rng=0, dtype=np.float64)
    x = rng.standard_normal((2, 6, 3))
    out_all, h_all = layer(x)
    out1, h1 = layer(x[:, :2])
    out2, h2 = layer(x[:, 2:], ag.value(h1))
    np.testing.assert_allclose(out2, out_all[:, 2:])
    np.testing.assert_allclose(h2, h_all)


# -- errors ---------------------------------------------------------------------------------------


def test_bad_input_shapes():
    lstm = LSTM(3, 4, 2, rng=0)
    with pytest.raises(ValueError, match=r"LSTM: the input must have shape \(batch, time, 3\)"):
        lstm(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"\(2, 5, 4\)"):
        lstm(np.zeros((2, 5, 4)))
    with pytest.raises(ValueError, match="no time steps"):
        lstm(np.zeros((2, 0, 3)))
    with pytest.raises(ValueError, match=r"hidden state h0 must have shape .* = \(2, 2, 4\)"):
        lstm(np.zeros((2, 5, 3)), (np.zeros((1, 2, 4)), np.zeros((2, 2, 4))))
    with pytest.raises(TypeError, match=r"pair \(h0, c0\)"):
        lstm(np.zeros((2, 5, 3)), np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match="GRU: the initial state h0"):
        GRU(3, 4)(np.zeros((2, 5, 3)), np.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="positive"):
        GRU(0, 4)


def test_benchmark_script_runs():
    """benchmarks/rnn.py at tiny sizes (a smoke test; nothing is asserted about timings)."""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "rnn.py"), "--quick", "--repeats", "1",
         "--warmup", "0"],
        capture_output=True, text=True, timeout=300, cwd=root,
        env=dict(os.environ, PYTHONPATH=str(root)),
    )
    assert out.returncode == 0, out.stderr
    assert "minitorch_ag nn.LSTM" in out.stdout


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_dropout_between_layers_only_while_recording(cls):
    x = np.random.default_rng(17).standard_normal((2, 4, 3))
    plain = cls(3, 4, 2, rng=0, dtype=np.float64)
    dropped = cls(3, 4, 2, dropout=1.0, rng=0, dtype=np.float64)
    np.testing.assert_array_equal(dropped(x)[0], plain(x)[0])  # inference: no dropout
    seen = {}

    def loss():
        out = dropped(x)[0]
        seen["out"] = ag.value(out)
        return np.sum(out)

    tape = ag.diff(loss)
    # p = 1 drops the whole first layer's output: the second layer sees zeros, so its input
    # weights get no gradient and the output is what zero input weights give.
    np.testing.assert_array_equal(ag.grad(tape, dropped.weight_ih_l1),
                                  np.zeros_like(dropped.weight_ih_l1.value))
    plain.weight_ih_l1.value[...] = 0
    np.testing.assert_allclose(seen["out"], plain(x)[0])
    with pytest.raises(ValueError, match="dropout must be in"):
        cls(3, 4, dropout=2.0)


@pytest.mark.parametrize("name", list(LAYERS))
def test_size_one_and_non_contiguous_inputs(name):
    """One sample and one step; and an input that is a strided view (every other step)."""
    rng = np.random.default_rng(18)
    layer = LAYERS[name](rng=2, dtype=np.float64)
    shift = 1.5 if name == "rnn_relu" else 0.0
    assert gradcheck_layer(layer, [rng.standard_normal((1, 1, 3)) + shift])
    view = (rng.standard_normal((3, 2, 6)) + shift).transpose(1, 2, 0)[:, ::2]  # (2, 3, 3)
    assert not view.flags.c_contiguous
    assert gradcheck_layer(layer, [view, _state(name, rng, 1, 2, 2)])
    np.testing.assert_allclose(layer(view)[0], layer(np.ascontiguousarray(view))[0])


def test_bidirectional_shapes_and_errors():
    gru = GRU(3, 4, num_layers=2, bidirectional=True, rng=0)
    out, h = gru(np.ones((2, 5, 3), np.float32))
    assert out.shape == (2, 5, 8) and h.shape == (4, 2, 4) and "bidirectional=True" in repr(gru)
    assert gru.weight_ih_l1.shape == (12, 8) and gru.weight_ih_l1_reverse.shape == (12, 8)
    assert len(ag.params(gru)) == 16
    with pytest.raises(ValueError, match=r"\(2 \* num_layers, batch, hidden_size\) = \(4, 2, 4\)"):
        gru(np.ones((2, 5, 3), np.float32), np.zeros((2, 2, 4), np.float32))
    lstm = LSTM(3, 2, bidirectional=True, rng=0, dtype=np.float64)
    assert gradcheck_layer(lstm, [np.random.default_rng(1).standard_normal((2, 3, 3))])


# -- variable-length batches (Knet's batchSizes) ----------------------------------------------


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("name", ["rnn_tanh", "lstm", "gru"])
def test_padded_batches_equal_each_sequence_run_alone(name, bidirectional):
    rng = np.random.default_rng(8)
    layer = LAYERS[name](num_layers=2, bidirectional=bidirectional, rng=0, dtype=np.float64)
    lengths = np.array([5, 2, 4])
    x = rng.standard_normal((3, 5, 3))
    for n, k in enumerate(lengths):
        x[n, k:] = 100.0  # padding: must not leak into anything
    out, state = layer(x, lengths=lengths)
    hn = state[0] if name == "lstm" else state
    assert out.shape == (3, 5, 2 * (2 if bidirectional else 1))
    for n, k in enumerate(lengths):
        alone, alone_state = layer(x[n:n + 1, :k])
        np.testing.assert_allclose(out[n:n + 1, :k], alone, rtol=1e-12, atol=1e-14)
        assert not np.any(out[n, k:])
        alone_h = alone_state[0] if name == "lstm" else alone_state
        np.testing.assert_allclose(hn[:, n:n + 1], alone_h, rtol=1e-12, atol=1e-14)
        if name == "lstm":
            np.testing.assert_allclose(state[1][:, n:n + 1], alone_state[1], rtol=1e-12,
                                       atol=1e-14)


def test_padded_batches_differentiate_and_refuse_bad_lengths():
    rng = np.random.default_rng(9)
    lstm = LSTM(3, 2, bidirectional=True, rng=0, dtype=np.float64)
    x = rng.standard_normal((2, 4, 3))
    lengths = np.array([2, 4])
    p = ag.Param(x)
    tape = ag.diff(lambda: np.sum(np.sin(lstm(p, lengths=lengths)[0])))
    g = ag.grad(tape, p)
    assert not np.any(g[0, 2:]) and np.all(g[0, :2] != 0)  # no gradient reaches the padding
    assert ag.gradcheck(lambda v: np.sum(np.sin(lstm(v, lengths=lengths)[0])), x)
    with pytest.raises(ValueError, match=r"LSTM: lengths must hold one integer in 1..4"):
        lstm(x, lengths=[3, 5])
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        lstm(x, lengths=[3])
