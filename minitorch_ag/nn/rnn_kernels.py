"""The fused recurrent kernels: ``lstm_cell``, ``lstm_layer``, ``gru_cell``, ``gru_layer``.

Each is one primitive. Its rule has a fast path, written by hand, that runs on plain arrays in
place (first-order gradients), and beside it its recorded twin (``_grad_*_recorded``), the same
formulas on Tensors, which runs when the rule is itself recorded (higher-order gradients): so
every kernel is differentiable to any order. The layer kernels run the whole recurrence of a
layer: the forward pass works in place step by step, and the backward pass runs the steps in
reverse and computes the recurrent weights' gradient in one product over all steps. The layers
built on them (``RNN``, ``LSTM``, ``GRU``) are in ``rnn.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..primitive import Tensor, primitive, raw
from . import lstm_fused

__all__ = ["lstm_cell", "lstm_layer", "gru_cell", "gru_layer"]


# ----------------------------------------------------------------------------------------
# Splitting a time-major array into its steps (one node; backward stacks once)
# ----------------------------------------------------------------------------------------


def _unstack(x: Any) -> tuple:
    """The slices ``x[0], x[1], ...`` along the first axis."""
    return tuple(x[t] for t in range(x.shape[0]))


def _grad_unstack(dy, y, x):
    parts = [np.zeros_like(raw(yt)) if d is None else d for d, yt in zip(dy, y, strict=True)]
    return [np.stack(parts)]


_unstack = primitive(_unstack, grad_all=_grad_unstack, name="unstack")


def _tracked(*xs: Any) -> bool:
    return any(isinstance(x, Tensor) for x in xs)


def _same_dtype(*arrays: Any) -> bool:
    """True when every argument is an array of one dtype (what a fused kernel takes)."""
    return all(hasattr(a, "dtype") and a.dtype == arrays[0].dtype for a in arrays)


def _half_sigmoid_in_place(a: np.ndarray) -> None:
    """``a = sigmoid(2 t)`` given ``a = tanh(t)``: ``(1 + tanh(t)) / 2``, stable for any t."""
    a *= 0.5
    a += 0.5


# ----------------------------------------------------------------------------------------
# LSTM cell
# ----------------------------------------------------------------------------------------


def lstm_cell(gates: Any, c: Any) -> tuple:
    """One LSTM step from the gates' pre-activations: ``(h, c_new, activations, tanh(c_new))``.

    ``gates`` is ``x W_ih^T + b_ih + h W_hh^T + b_hh``, of shape ``(N, 4H)`` in PyTorch's
    order (input, forget, cell, output); ``c`` is the cell state ``(N, H)``. The activations
    (``sigmoid`` of the input, forget and output gates, ``tanh`` of the cell gate) and
    ``tanh(c_new)`` are returned so that the backward pass reuses them.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn.rnn import lstm_cell
        >>> h, c, _, _ = lstm_cell(np.zeros((1, 4)), np.ones((1, 1)))
        >>> float(c[0, 0]), round(float(h[0, 0]), 4)
        (0.5, 0.2311)
    """
    n = c.shape[-1]
    acts = gates * 0.5
    acts[..., 2 * n:3 * n] = gates[..., 2 * n:3 * n]
    np.tanh(acts, out=acts)
    _half_sigmoid_in_place(acts[..., :2 * n])
    _half_sigmoid_in_place(acts[..., 3 * n:])
    i, f, g, o = (acts[..., k * n:(k + 1) * n] for k in range(4))
    c_new = f * c
    c_new += i * g
    tc = np.tanh(c_new)
    return o * tc, c_new, acts, tc


def _grad_lstm_cell(dy, y, gates, c):
    dh, dc, dacts, dtc = dy
    _, _, acts, tc = y
    if _tracked(dh, dc, dacts, dtc, acts, tc, gates, c):
        return _grad_lstm_cell_recorded(dh, dc, dacts, dtc, acts, tc, c)
    n = c.shape[-1]
    i, f, g, o = (acts[..., k * n:(k + 1) * n] for k in range(4))
    # d(c_new): from dc, and through h = o * tanh(c_new) and the tanh(c_new) output
    if dh is not None:
        dtc_total = dh * o
        if dtc is not None:
            dtc_total += dtc
    else:
        dtc_total = None if dtc is None else dtc.copy()
    dc_new = np.zeros_like(c) if dc is None else dc.copy()
    if dtc_total is not None:
        dtc_total *= 1 - tc * tc
        dc_new += dtc_total
    # d(activations), then through sigmoid (s (1 - s)) and tanh (1 - t^2)
    da = np.empty_like(acts)
    np.multiply(dc_new, g, out=da[..., :n])
    np.multiply(dc_new, c, out=da[..., n:2 * n])
    np.multiply(dc_new, i, out=da[..., 2 * n:3 * n])
    if dh is None:
        da[..., 3 * n:] = 0
    else:
        np.multiply(dh, tc, out=da[..., 3 * n:])
    if dacts is not None:
        da += dacts
    slope = 1 - acts
    slope *= acts
    np.multiply(g, g, out=slope[..., 2 * n:3 * n])
    np.subtract(1, slope[..., 2 * n:3 * n], out=slope[..., 2 * n:3 * n])
    da *= slope
    return [da, dc_new * f]


def _grad_lstm_cell_recorded(dh, dc, dacts, dtc, acts, tc, c):
    """The same rule with differentiable operations only (it is being recorded)."""
    n = np.shape(c)[-1]
    i, f, g, o = (acts[..., k * n:(k + 1) * n] for k in range(4))
    zero = np.zeros_like(raw(c))
    dh = zero if dh is None else dh
    dtc_total = dh * o + (zero if dtc is None else dtc)
    dc_new = (zero if dc is None else dc) + dtc_total * (1 - tc * tc)
    da = np.concatenate([dc_new * g, dc_new * c, dc_new * i, dh * tc], axis=-1)
    if dacts is not None:
        da = da + dacts
    slope = np.concatenate([acts[..., :2 * n] * (1 - acts[..., :2 * n]), 1 - g * g,
                            o * (1 - o)], axis=-1)
    return [da * slope, dc_new * f]


lstm_cell = primitive(lstm_cell, grad_all=_grad_lstm_cell, name="lstm_cell")


# ----------------------------------------------------------------------------------------
# A whole LSTM layer: the recurrence over every time step as one primitive
# ----------------------------------------------------------------------------------------


def lstm_layer(xw: Any, w_hh: Any, h0: Any, c0: Any) -> tuple:
    """The LSTM recurrence over all steps: ``(hs, cs, activations, tanh(cs))``, time-major.

    ``xw`` holds the input projections of every step, ``x_t W_ih^T + b_ih + b_hh``, of shape
    ``(T, N, 4H)``; ``w_hh`` is ``(4H, H)``; ``h0`` and ``c0`` are ``(N, H)``. Returns the
    hidden and cell states of every step ``(T, N, H)``, the gates' activations ``(T, N, 4H)``
    and ``tanh`` of the cell states, computed in place step by step (the same numbers as
    ``lstm_cell`` step by step). Its backward pass runs the steps in reverse and computes the
    gradient of ``w_hh`` in one matrix product over all steps.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn.rnn import lstm_layer
        >>> hs, cs, _, _ = lstm_layer(np.zeros((3, 1, 4)), np.zeros((4, 1)), np.zeros((1, 1)),
        ...                           np.ones((1, 1)))
        >>> cs[:, 0, 0].tolist()
        [0.5, 0.25, 0.125]
    """
    steps, _, four = xw.shape
    n = four // 4
    acts = np.empty_like(xw, dtype=np.result_type(xw, w_hh))
    hs = np.empty_like(acts, shape=(steps, acts.shape[1], n))
    cs, tcs = np.empty_like(hs), np.empty_like(hs)
    w_t = w_hh.T
    h, c = h0, c0
    fused = _same_dtype(xw, w_hh, h0, c0)  # the step's elementwise part in one GPU kernel
    for t in range(steps):
        a = acts[t]
        np.matmul(h, w_t, out=a)
        if fused and lstm_fused.forward_step(a, xw[t], c, cs[t], tcs[t], hs[t]):
            h, c = hs[t], cs[t]
            continue
        a += xw[t]
        a[:, :2 * n] *= 0.5
        a[:, 3 * n:] *= 0.5
        np.tanh(a, out=a)
        _half_sigmoid_in_place(a[:, :2 * n])
        _half_sigmoid_in_place(a[:, 3 * n:])
        c_new, tc, h = cs[t], tcs[t], hs[t]
        np.multiply(a[:, n:2 * n], c, out=c_new)
        c_new += a[:, :n] * a[:, 2 * n:3 * n]
        np.tanh(c_new, out=tc)
        np.multiply(a[:, 3 * n:], tc, out=h)
        c = c_new
    return hs, cs, acts, tcs


def _grad_lstm_layer(dy, y, xw, w_hh, h0, c0):
    dhs, dcs, dacts, dtcs = dy
    hs, cs, acts, tcs = y
    if _tracked(dhs, dcs, dacts, dtcs, hs, cs, acts, tcs, w_hh, h0, c0):
        return _grad_lstm_layer_recorded(dy, y, w_hh, h0, c0)
    steps, batch, four = acts.shape
    n = four // 4
    dgates = np.empty_like(acts)
    dh = np.zeros_like(acts, shape=(batch, n))
    dc = np.zeros_like(dh)
    # one GPU kernel per step where only the hidden states reach the loss (the usual case)
    fused = dcs is None and dacts is None and dtcs is None and _same_dtype(acts, w_hh, c0)
    no_dh = np.zeros_like(dh) if fused and dhs is None else None
    for t in range(steps - 1, -1, -1):
        a, tc = acts[t], tcs[t]
        if fused and lstm_fused.backward_step(dgates[t], a, tc, cs[t - 1] if t else c0, dh,
                                              no_dh if dhs is None else dhs[t], dc):
            np.matmul(dgates[t], w_hh, out=dh)
            continue
        i, f, g, o = (a[:, k * n:(k + 1) * n] for k in range(4))
        c_prev = cs[t - 1] if t else c0
        if dhs is not None:
            dh += dhs[t]
        if dcs is not None:
            dc += dcs[t]
        dtc = dh * o  # through h = o tanh(c), then tanh
        if dtcs is not None:
            dtc += dtcs[t]
        dtc *= 1 - tc * tc
        dc += dtc
        d = dgates[t]
        np.multiply(dc, g, out=d[:, :n])
        np.multiply(dc, c_prev, out=d[:, n:2 * n])
        np.multiply(dc, i, out=d[:, 2 * n:3 * n])
        np.multiply(dh, tc, out=d[:, 3 * n:])
        if dacts is not None:
            d += dacts[t]
        slope = 1 - a
        slope *= a
        np.multiply(g, g, out=slope[:, 2 * n:3 * n])
        np.subtract(1, slope[:, 2 * n:3 * n], out=slope[:, 2 * n:3 * n])
        d *= slope
        dc *= f
        np.matmul(d, w_hh, out=dh)
    h_prev = np.concatenate([np.reshape(h0, (1, batch, n)), hs[:-1]])
    dw = np.reshape(dgates, (-1, four)).T @ np.reshape(h_prev, (-1, n))
    return [dgates, dw, dh, dc]


def _grad_lstm_layer_recorded(dy, y, w_hh, h0, c0):
    """The same rule with differentiable operations only (it is being recorded)."""
    dhs, dcs, dacts, dtcs = dy
    hs, cs, acts, tcs = y
    steps, batch, four = np.shape(acts)
    n = four // 4
    zero = np.zeros_like(raw(h0))
    dh_next, dc_next = zero, zero
    dgates = []
    for t in range(steps - 1, -1, -1):
        dh = dh_next if dhs is None else dh_next + dhs[t]
        dc = dc_next if dcs is None else dc_next + dcs[t]
        d, dc_next = _grad_lstm_cell_recorded(
            dh, dc, None if dacts is None else dacts[t], None if dtcs is None else dtcs[t],
            acts[t], tcs[t], cs[t - 1] if t else c0)
        dgates.append(d)
        dh_next = d @ w_hh
    dgates = np.stack(dgates[::-1])
    h_prev = np.concatenate([np.reshape(h0, (1, batch, n)), hs[:-1]])
    dw = np.reshape(dgates, (-1, four)).T @ np.reshape(h_prev, (-1, n))
    return [dgates, dw, dh_next, dc_next]


lstm_layer = primitive(lstm_layer, grad_all=_grad_lstm_layer, name="lstm_layer")


# ----------------------------------------------------------------------------------------
# GRU cell
# ----------------------------------------------------------------------------------------


def gru_cell(xg: Any, hg: Any, h: Any) -> tuple:
    """One GRU step: ``(h_new, [r, z], n)`` from the input and hidden projections.

    ``xg = x W_ih^T + b_ih`` and ``hg = h W_hh^T + b_hh`` are of shape ``(N, 3H)`` in
    PyTorch's order (reset, update, new); ``h`` is the hidden state ``(N, H)``. As in PyTorch,
    ``n = tanh(xg_n + r * hg_n)`` and ``h_new = (1 - z) n + z h``. The gates are returned so
    that the backward pass reuses them.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn.rnn import gru_cell
        >>> h_new, rz, n = gru_cell(np.zeros((1, 3)), np.zeros((1, 3)), np.ones((1, 1)))
        >>> float(h_new[0, 0]), rz.tolist()
        (0.5, [[0.5, 0.5]])
    """
    m = h.shape[-1]
    rz = xg[..., :2 * m] + hg[..., :2 * m]
    rz *= 0.5
    np.tanh(rz, out=rz)
    _half_sigmoid_in_place(rz)
    n = rz[..., :m] * hg[..., 2 * m:]
    n += xg[..., 2 * m:]
    np.tanh(n, out=n)
    h_new = h - n
    h_new *= rz[..., m:]
    h_new += n
    return h_new, rz, n


def _grad_gru_cell(dy, y, xg, hg, h):
    dh, drz, dn_out = dy
    _, rz, n = y
    if _tracked(dh, drz, dn_out, rz, n, hg, h):
        return _grad_gru_cell_recorded(dh, drz, dn_out, rz, n, hg[..., 2 * np.shape(h)[-1]:], h)
    m = h.shape[-1]
    r, z = rz[..., :m], rz[..., m:]
    dn = np.zeros_like(n) if dh is None else dh * (1 - z)
    if dn_out is not None:
        dn += dn_out
    dn *= 1 - n * n  # through tanh: now the gradient of n's pre-activation
    drz_pre = np.zeros_like(rz) if drz is None else drz.copy()
    drz_pre[..., :m] += dn * hg[..., 2 * m:]
    if dh is not None:
        drz_pre[..., m:] += dh * (h - n)
    drz_pre *= rz * (1 - rz)
    dxg = np.concatenate([drz_pre, dn], axis=-1)
    dhg = dxg.copy()
    dhg[..., 2 * m:] *= r
    return [dxg, dhg, None if dh is None else dh * z]


def _grad_gru_cell_recorded(dh, drz, dn_out, rz, n, hn, h):
    """The same rule with differentiable operations only (it is being recorded); ``hn`` is
    the new gate's part of the hidden projection, ``hg[..., 2H:]``."""
    m = np.shape(h)[-1]
    r, z = rz[..., :m], rz[..., m:]
    zero = np.zeros_like(raw(h))
    dh = zero if dh is None else dh
    dn = dh * (1 - z) + (zero if dn_out is None else dn_out)
    dn = dn * (1 - n * n)
    drz_pre = np.concatenate([dn * hn, dh * (h - n)], axis=-1)
    if drz is not None:
        drz_pre = drz_pre + drz
    drz_pre = drz_pre * (rz * (1 - rz))
    return [np.concatenate([drz_pre, dn], axis=-1),
            np.concatenate([drz_pre, dn * r], axis=-1), dh * z]


gru_cell = primitive(gru_cell, grad_all=_grad_gru_cell, name="gru_cell")


# ----------------------------------------------------------------------------------------
# A whole GRU layer: the recurrence over every time step as one primitive
# ----------------------------------------------------------------------------------------


def gru_layer(xg: Any, w_hh: Any, b_hh: Any, h0: Any) -> tuple:
    """The GRU recurrence over all steps: ``(hs, [r, z], n)`` for every step, time-major.

    ``xg`` holds the input projections of every step, ``x_t W_ih^T + b_ih``, of shape
    ``(T, N, 3H)``; ``w_hh`` is ``(3H, H)``, ``b_hh`` ``(3H,)`` (or None) and ``h0`` ``(N, H)``.
    Returns the hidden states ``(T, N, H)``, the reset and update gates ``(T, N, 2H)`` and the
    new gates ``(T, N, H)``, computed in place step by step (the same numbers as ``gru_cell``
    step by step). Its backward pass runs the steps in reverse and computes the gradients of
    ``w_hh`` and ``b_hh`` in one product (and one sum) over all steps.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn.rnn import gru_layer
        >>> hs, _, _ = gru_layer(np.zeros((2, 1, 3)), np.zeros((3, 1)), None, np.ones((1, 1)))
        >>> hs[:, 0, 0].tolist()
        [0.5, 0.25]
    """
    steps, batch, three = xg.shape
    m = three // 3
    dtype = np.result_type(xg, w_hh)
    hs = np.empty_like(xg, dtype=dtype, shape=(steps, batch, m))
    rz = np.empty_like(xg, dtype=dtype, shape=(steps, batch, 2 * m))
    ns = np.empty_like(hs)
    hg = np.empty_like(xg, dtype=dtype, shape=(batch, three))
    w_t = w_hh.T
    h = h0
    for t in range(steps):
        np.matmul(h, w_t, out=hg)
        if b_hh is not None:
            hg += b_hh
        a = rz[t]
        np.add(xg[t, :, :2 * m], hg[:, :2 * m], out=a)
        a *= 0.5
        np.tanh(a, out=a)
        _half_sigmoid_in_place(a)
        n = ns[t]
        np.multiply(a[:, :m], hg[:, 2 * m:], out=n)
        n += xg[t, :, 2 * m:]
        np.tanh(n, out=n)
        h_new = hs[t]
        np.subtract(h, n, out=h_new)
        h_new *= a[:, m:]
        h_new += n
        h = h_new
    return hs, rz, ns


def _gru_previous(hs, h0, w_hh, b_hh):
    """The state before each step ``(T, N, H)`` and the new gate's hidden projection."""
    steps, batch, m = np.shape(hs)
    h_prev = np.concatenate([np.reshape(h0, (1, batch, m)), hs[:-1]])
    hn = np.reshape(np.reshape(h_prev, (-1, m)) @ w_hh[2 * m:].T, (steps, batch, m))
    return h_prev, (hn if b_hh is None else hn + b_hh[2 * m:])


def _grad_gru_layer(dy, y, xg, w_hh, b_hh, h0):
    dhs, drz, dns = dy
    hs, rz, ns = y
    if _tracked(dhs, drz, dns, hs, rz, ns, w_hh, b_hh, h0):
        return _grad_gru_layer_recorded(dy, y, w_hh, b_hh, h0)
    steps, batch, m = hs.shape
    h_prev, hn = _gru_previous(hs, h0, w_hh, b_hh)
    dxg = np.empty_like(rz, shape=(steps, batch, 3 * m))
    dhg = np.empty_like(dxg)
    dh = np.zeros_like(hs[0])
    for t in range(steps - 1, -1, -1):
        a = rz[t]
        r, z = a[:, :m], a[:, m:]
        if dhs is not None:
            dh += dhs[t]
        dn = dxg[t, :, 2 * m:]  # through h = n + z (h_prev - n), then tanh
        np.subtract(1, z, out=dn)
        dn *= dh
        if dns is not None:
            dn += dns[t]
        dn *= 1 - ns[t] * ns[t]
        d = dxg[t, :, :2 * m]  # the reset and update gates, then the sigmoid
        np.multiply(dn, hn[t], out=d[:, :m])
        np.subtract(h_prev[t], ns[t], out=d[:, m:])
        d[:, m:] *= dh
        if drz is not None:
            d += drz[t]
        d *= a * (1 - a)
        g = dhg[t]
        g[:, :2 * m] = d
        np.multiply(dn, r, out=g[:, 2 * m:])
        dh *= z
        dh += g @ w_hh
    flat = np.reshape(dhg, (-1, 3 * m))
    dw = flat.T @ np.reshape(h_prev, (-1, m))
    return [dxg, dw, None if b_hh is None else np.sum(flat, axis=0), dh]


def _grad_gru_layer_recorded(dy, y, w_hh, b_hh, h0):
    """The same rule with differentiable operations only (it is being recorded)."""
    dhs, drz, dns = dy
    hs, rz, ns = y
    steps, _, m = np.shape(hs)
    h_prev, hn = _gru_previous(hs, h0, w_hh, b_hh)
    dh_next = np.zeros_like(raw(h0))
    dxgs, dhgs = [], []
    for t in range(steps - 1, -1, -1):
        dh = dh_next if dhs is None else dh_next + dhs[t]
        dxg, dhg, dh_direct = _grad_gru_cell_recorded(
            dh, None if drz is None else drz[t], None if dns is None else dns[t], rz[t], ns[t],
            hn[t], h_prev[t])
        dxgs.append(dxg)
        dhgs.append(dhg)
        dh_next = dh_direct + dhg @ w_hh
    flat = np.reshape(np.stack(dhgs[::-1]), (-1, 3 * m))
    dw = flat.T @ np.reshape(h_prev, (-1, m))
    db = None if b_hh is None else np.sum(flat, axis=0)
    return [np.stack(dxgs[::-1]), dw, db, dh_next]


gru_layer = primitive(gru_layer, grad_all=_grad_gru_layer, name="gru_layer")
