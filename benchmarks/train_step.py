"""One training step (forward, backward, SGD update): minitorch_ag beside PyTorch and NumPy.

Three models, float32, the sizes of issue 4's benchmarks:

- ``mlp``: MNIST MLP 784-512-512-10, ReLU, softmax cross-entropy, batch 128;
- ``lenet``: LeNet (conv 20 5x5, max pool 2, conv 50 5x5, max pool 2, dense 500, dense 10,
  ReLU), batch 64 of 1x28x28 images;
- ``lstm``: a character language model (embedding 128, one LSTM layer of 256, linear to a
  vocabulary of 65, cross-entropy at every step), sequence 50, batch 32.

Each is timed, in the same run, for minitorch_ag (its ``nn`` layers, ``diff``/``grad`` and
``axpy_``), PyTorch CPU (``torch.nn`` layers, ``backward()``, an in-place update) and
hand-written NumPy (forward and backward by hand, no framework: the floor). The LSTM model is
also timed written cell by cell: PyTorch with each gate a separate tensor operation, and
minitorch_ag both with its fused ``nn.lstm_cell`` and with the same separate operations as
PyTorch, each both recorded (``diff``) and compiled (``ag.compile``: traced once, then the
generated code replayed every step). All implementations start from the same weights; before
timing, their gradients are checked against PyTorch's (a benchmark of different computations
would mean nothing).

Timing: ``--warmup`` untimed steps, then ``--repeats`` rounds; each round takes one step of
every implementation of a model in turn (interleaved), so a burst of load from other processes
falls on all of them alike. Reported: best and median milliseconds per step, and the ratios of
the best times. NumPy's BLAS and PyTorch use the same number of threads (``--threads``, 1 by
default; the BLAS variables are set before NumPy is imported).

Peak memory (MB): the largest amount of memory allocated during one step above what was
allocated when it began (so weights and data, allocated before, do not count; activations,
gradients, temporaries and the tape do). minitorch_ag and NumPy: ``tracemalloc`` (NumPy reports
its array buffers to it, and it also counts Python objects such as tape nodes). PyTorch, whose
allocator tracemalloc does not see: its profiler with ``profile_memory=True``, replaying the
allocations and frees it records in time order and taking the running maximum (the same
quantity). Memory is measured in a separate, untimed step.

    PYTHONPATH=. python benchmarks/train_step.py [--models mlp,lenet,lstm] [--threads 1]
        [--repeats 10] [--warmup 2] [--quick] [--profile] [--no-memory]

Nothing here asserts on timings: it reports numbers (and exits non-zero only when the
implementations disagree on the gradients).
"""

from __future__ import annotations

import argparse
import os
import sys


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="mlp,lenet,lstm",
                    help="comma-separated subset of mlp, lenet, lstm (all three)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS and PyTorch threads (1)")
    ap.add_argument("--repeats", type=int, default=10, help="timed rounds (10)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (2)")
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes and 2 rounds: a smoke test, not a measurement")
    ap.add_argument("--profile", action="store_true",
                    help="also print a cProfile and an ag.profile() of minitorch_ag's steps")
    ap.add_argument("--no-memory", dest="memory", action="store_false",
                    help="skip the peak-memory measurement")
    args = ap.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = sorted(set(args.models) - {"mlp", "lenet", "lstm"})
    if bad:
        ap.error(f"--models: unknown model(s) {bad}; choose from mlp, lenet, lstm")
    if args.quick:
        args.repeats, args.warmup = min(args.repeats, 2), 1
    return args


ARGS = _arguments() if __name__ == "__main__" else None
if ARGS is not None:  # thread counts must be fixed before NumPy loads its BLAS
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import gc  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import minitorch_ag as ag  # noqa: E402
from minitorch_ag import nn  # noqa: E402

LR = 0.01  # plain SGD, the same update everywhere: w -= LR * grad
F32 = np.float32

FULL = {"mlp": {"N": 128, "D": 784, "H": 512, "C": 10},
        "lenet": {"N": 64},
        "lstm": {"N": 32, "T": 50, "E": 128, "H": 256, "V": 65}}
QUICK = {"mlp": {"N": 8, "D": 784, "H": 32, "C": 10},
         "lenet": {"N": 4},
         "lstm": {"N": 4, "T": 5, "E": 8, "H": 16, "V": 11}}


@dataclass
class Impl:
    """One implementation of a model's training step.

    ``grads()`` returns the gradients of the loss with respect to the weights, as NumPy arrays
    in the model's weight order, without updating; ``step()`` is one full training step.
    ``torch_profile`` marks the implementations whose memory PyTorch's profiler measures.
    """

    name: str
    grads: Callable[[], list[np.ndarray]]
    step: Callable[[], Any]
    torch_profile: bool = False


# ----------------------------------------------------------------------------------------
# Shared weights and data (PyTorch's layouts: weight (out, in), filters (O, C, KH, KW))
# ----------------------------------------------------------------------------------------


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape).astype(F32)


def mlp_setup(s: dict, rng: np.random.Generator) -> tuple[dict, tuple]:
    d, h, c, n = s["D"], s["H"], s["C"], s["N"]
    w = {"w1": _uniform(rng, (h, d), d), "b1": _uniform(rng, (h,), d),
         "w2": _uniform(rng, (h, h), h), "b2": _uniform(rng, (h,), h),
         "w3": _uniform(rng, (c, h), h), "b3": _uniform(rng, (c,), h)}
    x = rng.random((n, d), dtype=F32)
    y = rng.integers(0, c, n)
    return w, (x, y)


def lenet_setup(s: dict, rng: np.random.Generator) -> tuple[dict, tuple]:
    w = {"c1w": _uniform(rng, (20, 1, 5, 5), 25), "c1b": _uniform(rng, (20,), 25),
         "c2w": _uniform(rng, (50, 20, 5, 5), 500), "c2b": _uniform(rng, (50,), 500),
         "f1w": _uniform(rng, (500, 800), 800), "f1b": _uniform(rng, (500,), 800),
         "f2w": _uniform(rng, (10, 500), 500), "f2b": _uniform(rng, (10,), 500)}
    x = rng.random((s["N"], 1, 28, 28), dtype=F32)
    y = rng.integers(0, 10, s["N"])
    return w, (x, y)


def lstm_setup(s: dict, rng: np.random.Generator) -> tuple[dict, tuple]:
    e, h, v = s["E"], s["H"], s["V"]
    w = {"emb": rng.standard_normal((v, e)).astype(F32),
         "w_ih": _uniform(rng, (4 * h, e), h), "w_hh": _uniform(rng, (4 * h, h), h),
         "b_ih": _uniform(rng, (4 * h,), h), "b_hh": _uniform(rng, (4 * h,), h),
         "w_out": _uniform(rng, (v, h), h), "b_out": _uniform(rng, (v,), h)}
    ids = rng.integers(0, v, (s["N"], s["T"]))
    targets = rng.integers(0, v, (s["N"], s["T"]))
    return w, (ids, targets)


# ----------------------------------------------------------------------------------------
# minitorch_ag
# ----------------------------------------------------------------------------------------


def _load(params: list[ag.Param], weights: dict) -> None:
    for p, arr in zip(params, weights.values(), strict=True):
        if p.value.shape != arr.shape:
            raise ValueError(f"weight shapes differ: {p.value.shape} and {arr.shape}")
        p.value[...] = arr


def _ours(name: str, loss: Callable[[], Any], params: list[ag.Param]) -> Impl:
    def grads() -> list[np.ndarray]:
        tape = ag.diff(loss)
        out = []
        for p in params:
            g = ag.grad(tape, p)
            out.append(np.asarray(g.to_dense() if hasattr(g, "to_dense") else g))
        return out

    def step() -> float:
        tape = ag.diff(loss)
        for p in params:
            ag.axpy_(-LR, ag.grad(tape, p), p)
        return ag.value(tape)

    return Impl(name, grads, step)


def _compiled(name: str, loss: Callable[[], Any], params: list[ag.Param]) -> Impl:
    """The same step through ``ag.compile``: traced once, then replayed as generated code."""
    compiled = ag.compile(loss)

    def grads() -> list[np.ndarray]:
        _, gs = compiled()
        by_param = {id(p): g for p, g in zip(compiled.params, gs, strict=True)}
        return [np.asarray(g.to_dense() if hasattr(g, "to_dense") else g)
                for g in (by_param[id(p)] for p in params)]

    def step() -> float:
        value, gs = compiled()
        for p, g in zip(compiled.params, gs, strict=True):
            ag.axpy_(-LR, g, p)
        return value

    return Impl(name, grads, step)


def ours_mlp(w: dict, data: tuple) -> list[Impl]:
    x, y = data
    h = w["w1"].shape[0]
    model = nn.Chain(nn.Linear(x.shape[1], h, nn.relu), nn.Linear(h, h, nn.relu),
                     nn.Linear(h, w["w3"].shape[0]))
    params = [model[0].weight, model[0].bias, model[1].weight, model[1].bias,
              model[2].weight, model[2].bias]
    _load(params, w)
    return [_ours("minitorch_ag", lambda: model(x, y), params)]


def ours_lenet(w: dict, data: tuple) -> list[Impl]:
    x, y = data
    model = nn.Chain(nn.Conv2d(1, 20, 5, activation=nn.relu), nn.MaxPool2d(2),
                     nn.Conv2d(20, 50, 5, activation=nn.relu), nn.MaxPool2d(2), nn.Flatten(),
                     nn.Linear(800, 500, nn.relu), nn.Linear(500, 10))
    params = [model[0].weight, model[0].bias, model[2].weight, model[2].bias,
              model[5].weight, model[5].bias, model[6].weight, model[6].bias]
    _load(params, w)
    return [_ours("minitorch_ag", lambda: model(x, y), params)]


def ours_lstm(w: dict, data: tuple) -> list[Impl]:
    ids, targets = data
    v, e = w["emb"].shape
    h = w["w_hh"].shape[1]
    flat = targets.reshape(-1)
    impls = []

    # (a) the LSTM layer
    emb, lstm, out = nn.Embedding(v, e), nn.LSTM(e, h), nn.Linear(h, v)
    params = [emb.weight, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
              lstm.bias_hh_l0, out.weight, out.bias]
    _load(params, w)

    def layer_loss() -> Any:
        return nn.cross_entropy(np.reshape(out(lstm(emb(ids))[0]), (-1, v)), flat)

    impls.append(_ours("minitorch_ag nn.LSTM", layer_loss, params))

    # (b) cell by cell, with the fused cell, and (c) with separate gate operations
    def cell_model(fused: bool, compiled: bool = False) -> Impl:
        pe, pih, phh, pbi, pbh, pout, pb = ps = [ag.Param(a.copy()) for a in w.values()]

        def loss() -> Any:
            z = pe[ids]                               # (N, T, E)
            n = ids.shape[0]
            hh = c = np.zeros((n, h), F32)
            b = pbi + pbh
            hs = []
            for k in range(ids.shape[1]):
                gates = z[:, k] @ pih.T + hh @ phh.T + b
                if fused:
                    hh, c, _, _ = nn.lstm_cell(gates, c)
                else:
                    i, f, g, o = (gates[:, j * h:(j + 1) * h] for j in range(4))
                    c = nn.sigmoid(f) * c + nn.sigmoid(i) * np.tanh(g)
                    hh = nn.sigmoid(o) * np.tanh(c)
                hs.append(hh)
            hseq = np.stack(hs, axis=1)               # (N, T, H)
            logits = np.reshape(hseq, (-1, h)) @ pout.T + pb
            return nn.cross_entropy(logits, flat)

        label = "lstm_cell" if fused else "separate ops"
        if compiled:
            return _compiled(f"ag.compile cells ({label})", loss, ps)
        return _ours(f"minitorch_ag cells ({label})", loss, ps)

    impls.append(cell_model(fused=True))
    impls.append(cell_model(fused=False))
    impls.append(cell_model(fused=True, compiled=True))
    impls.append(cell_model(fused=False, compiled=True))
    return impls


# ----------------------------------------------------------------------------------------
# PyTorch
# ----------------------------------------------------------------------------------------


def _torch(torch: Any, name: str, loss: Callable[[], Any], params: list[Any]) -> Impl:
    def zero() -> None:
        for p in params:
            p.grad = None

    def grads() -> list[np.ndarray]:
        zero()
        loss().backward()
        return [p.grad.numpy().copy() for p in params]

    def step() -> float:
        zero()
        value = loss()
        value.backward()
        with torch.no_grad():
            for p in params:
                p.add_(p.grad, alpha=-LR)
        return value.item()

    return Impl(name, grads, step, torch_profile=True)


def _torch_load(torch: Any, params: list[Any], weights: dict) -> None:
    with torch.no_grad():
        for p, arr in zip(params, weights.values(), strict=True):
            p.copy_(torch.from_numpy(arr))


def torch_mlp(torch: Any, w: dict, data: tuple) -> list[Impl]:
    x, y = (torch.from_numpy(a) for a in data)
    tnn = torch.nn
    h = w["w1"].shape[0]
    model = tnn.Sequential(tnn.Linear(x.shape[1], h), tnn.ReLU(), tnn.Linear(h, h), tnn.ReLU(),
                           tnn.Linear(h, w["w3"].shape[0]))
    params = list(model.parameters())
    _torch_load(torch, params, w)
    f = tnn.functional
    return [_torch(torch, "PyTorch", lambda: f.cross_entropy(model(x), y), params)]


def torch_lenet(torch: Any, w: dict, data: tuple) -> list[Impl]:
    x, y = (torch.from_numpy(a) for a in data)
    tnn = torch.nn
    model = tnn.Sequential(tnn.Conv2d(1, 20, 5), tnn.ReLU(), tnn.MaxPool2d(2),
                           tnn.Conv2d(20, 50, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
                           tnn.Linear(800, 500), tnn.ReLU(), tnn.Linear(500, 10))
    params = list(model.parameters())
    _torch_load(torch, params, w)
    f = tnn.functional
    return [_torch(torch, "PyTorch", lambda: f.cross_entropy(model(x), y), params)]


def torch_lstm(torch: Any, w: dict, data: tuple) -> list[Impl]:
    ids, targets = (torch.from_numpy(a) for a in data)
    v, e = w["emb"].shape
    h = w["w_hh"].shape[1]
    tnn, f = torch.nn, torch.nn.functional
    flat = targets.reshape(-1)

    emb, lstm, out = tnn.Embedding(v, e), tnn.LSTM(e, h, batch_first=True), tnn.Linear(h, v)
    params = [emb.weight, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
              lstm.bias_hh_l0, out.weight, out.bias]
    _torch_load(torch, params, w)
    layer = _torch(torch, "PyTorch nn.LSTM",
                   lambda: f.cross_entropy(out(lstm(emb(ids))[0]).reshape(-1, v), flat), params)

    ps = [torch.tensor(a, requires_grad=True) for a in w.values()]
    pe, pih, phh, pbi, pbh, pout, pb = ps

    def cells() -> Any:
        z = f.embedding(ids, pe)
        n = ids.shape[0]
        hh, c = torch.zeros(n, h), torch.zeros(n, h)
        b = pbi + pbh
        hs = []
        for k in range(ids.shape[1]):
            gates = z[:, k] @ pih.T + hh @ phh.T + b
            i, fg, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(fg) * c + torch.sigmoid(i) * torch.tanh(g)
            hh = torch.sigmoid(o) * torch.tanh(c)
            hs.append(hh)
        logits = torch.stack(hs, 1).reshape(-1, h) @ pout.T + pb
        return f.cross_entropy(logits, flat)

    return [layer, _torch(torch, "PyTorch cells", cells, ps)]


# ----------------------------------------------------------------------------------------
# Hand-written NumPy: forward and backward by hand, the floor
# ----------------------------------------------------------------------------------------


def _softmax_xent(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of ``logits`` (M, C) for labels ``y`` and its gradient."""
    m = len(y)
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)                 # softmax
    rows = np.arange(m)
    loss = -float(np.mean(np.log(z[rows, y])))
    z[rows, y] -= 1
    z /= m
    return loss, z


def _numpy(name: str, grads: Callable[[], list[np.ndarray]], weights: list[np.ndarray]) -> Impl:
    def step() -> None:
        for wt, g in zip(weights, grads(), strict=True):
            g *= LR  # the gradient is ours to scale in place: no temporary
            wt -= g

    return Impl(name, grads, step)


def numpy_mlp(w: dict, data: tuple) -> list[Impl]:
    x, y = data
    w1, b1, w2, b2, w3, b3 = ws = [a.copy() for a in w.values()]

    def grads() -> list[np.ndarray]:
        h1 = x @ w1.T
        h1 += b1
        np.maximum(h1, 0, out=h1)
        h2 = h1 @ w2.T
        h2 += b2
        np.maximum(h2, 0, out=h2)
        logits = h2 @ w3.T
        logits += b3
        _, d3 = _softmax_xent(logits, y)
        g3, gb3 = d3.T @ h2, d3.sum(0)
        d2 = d3 @ w3
        d2 *= h2 > 0
        g2, gb2 = d2.T @ h1, d2.sum(0)
        d1 = d2 @ w2
        d1 *= h1 > 0
        g1, gb1 = d1.T @ x, d1.sum(0)
        return [g1, gb1, g2, gb2, g3, gb3]

    return [_numpy("NumPy by hand", grads, ws)]


def _cols(x: np.ndarray, k: int) -> np.ndarray:
    """im2col of batch-last ``x`` (C, H, W, N): ``(C * k * k, OH * OW * N)``, one copy whose
    innermost runs are whole batches (contiguous), through a view of the windows."""
    c, hh, ww, n = x.shape
    sc, sh, sw, sn = x.strides
    win = np.lib.stride_tricks.as_strided(
        x, (c, k, k, hh - k + 1, ww - k + 1, n), (sc, sh, sw, sh, sw, sn), writeable=False)
    return win.reshape(c * k * k, -1)


def _uncols(d: np.ndarray, shape: tuple[int, ...], k: int) -> np.ndarray:
    """col2im, the adjoint of ``_cols``: one vectorised addition per kernel offset."""
    c, hh, ww, n = shape
    oh, ow = hh - k + 1, ww - k + 1
    d = d.reshape(c, k, k, oh, ow, n)
    out = np.zeros(shape, d.dtype)
    for i in range(k):
        for j in range(k):
            out[:, i:i + oh, j:j + ow] += d[:, i, j]
    return out


def _pool(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2x2 max pooling of batch-last (C, H, W, N) (H, W even) and the mask of the maxima."""
    c, hh, ww, n = y.shape
    win = y.reshape(c, hh // 2, 2, ww // 2, 2, n)
    p = win.max(axis=(2, 4))
    return p, win == p[:, :, None, :, None]


def _unpool(dp: np.ndarray, mask: np.ndarray) -> np.ndarray:
    c, h2, _, w2, _, n = mask.shape
    return (mask * dp[:, :, None, :, None]).reshape(c, 2 * h2, 2 * w2, n)


def numpy_lenet(w: dict, data: tuple) -> list[Impl]:
    x, y = data
    c1w, c1b, c2w, c2b, f1w, f1b, f2w, f2b = ws = [a.copy() for a in w.values()]
    n = x.shape[0]
    x_bl = np.ascontiguousarray(x.transpose(1, 2, 3, 0))    # batch-last layout throughout

    def grads() -> list[np.ndarray]:
        col1 = _cols(x_bl, 5)                                # (25, 576 N)
        a1 = (c1w.reshape(20, -1) @ col1).reshape(20, 24, 24, n)
        a1 += c1b[:, None, None, None]
        np.maximum(a1, 0, out=a1)
        p1, m1 = _pool(a1)                                   # (20, 12, 12, N)
        col2 = _cols(p1, 5)                                  # (500, 64 N)
        a2 = (c2w.reshape(50, -1) @ col2).reshape(50, 8, 8, n)
        a2 += c2b[:, None, None, None]
        np.maximum(a2, 0, out=a2)
        p2, m2 = _pool(a2)                                   # (50, 4, 4, N)
        flat = np.ascontiguousarray(p2.transpose(3, 0, 1, 2)).reshape(n, 800)
        h = flat @ f1w.T
        h += f1b
        np.maximum(h, 0, out=h)
        logits = h @ f2w.T
        logits += f2b
        _, d = _softmax_xent(logits, y)
        gf2w, gf2b = d.T @ h, d.sum(0)
        dh = d @ f2w
        dh *= h > 0
        gf1w, gf1b = dh.T @ flat, dh.sum(0)
        dflat = (dh @ f1w).reshape(n, 50, 4, 4).transpose(1, 2, 3, 0)
        da2 = _unpool(dflat, m2)
        da2 *= a2 > 0
        d2 = da2.reshape(50, -1)
        gc2w, gc2b = (d2 @ col2.T).reshape(c2w.shape), d2.sum(1)
        dp1 = _uncols(c2w.reshape(50, -1).T @ d2, p1.shape, 5)
        da1 = _unpool(dp1, m1)
        da1 *= a1 > 0
        d1 = da1.reshape(20, -1)
        gc1w, gc1b = (d1 @ col1.T).reshape(c1w.shape), d1.sum(1)
        return [gc1w, gc1b, gc2w, gc2b, gf1w, gf1b, gf2w, gf2b]

    return [_numpy("NumPy by hand", grads, ws)]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """In place, stably: ``sigmoid(x) = (1 + tanh(x / 2)) / 2``."""
    x *= 0.5
    np.tanh(x, out=x)
    x += 1
    x *= 0.5
    return x


def numpy_lstm(w: dict, data: tuple) -> list[Impl]:
    ids, targets = data
    emb, w_ih, w_hh, b_ih, b_hh, w_out, b_out = ws = [a.copy() for a in w.values()]
    n, t = ids.shape
    h = w_hh.shape[1]
    ids_tm = np.ascontiguousarray(ids.T)                     # time-major
    y_tm = np.ascontiguousarray(targets.T).reshape(-1)

    def grads() -> list[np.ndarray]:
        x = emb[ids_tm]                                      # (T, N, E)
        acts = (x.reshape(t * n, -1) @ w_ih.T).reshape(t, n, 4 * h)
        acts += b_ih + b_hh                                  # pre-activations, then in place
        hs = np.empty((t + 1, n, h), F32)                    # hs[0] = h0 = 0
        cs = np.empty((t + 1, n, h), F32)
        hs[0] = cs[0] = 0
        tcs = np.empty((t, n, h), F32)
        for k in range(t):
            a = acts[k]
            a += hs[k] @ w_hh.T
            _sigmoid(a[:, :2 * h])
            np.tanh(a[:, 2 * h:3 * h], out=a[:, 2 * h:3 * h])
            _sigmoid(a[:, 3 * h:])
            i, f, g, o = (a[:, j * h:(j + 1) * h] for j in range(4))
            np.multiply(f, cs[k], out=cs[k + 1])
            cs[k + 1] += i * g
            np.tanh(cs[k + 1], out=tcs[k])
            np.multiply(o, tcs[k], out=hs[k + 1])
        hout = hs[1:].reshape(t * n, h)
        logits = hout @ w_out.T
        logits += b_out
        _, dl = _softmax_xent(logits, y_tm)
        g_out, gb_out = dl.T @ hout, dl.sum(0)
        dhs = (dl @ w_out).reshape(t, n, h)
        dgates = np.empty_like(acts)
        dh = np.zeros((n, h), F32)
        dc = np.zeros((n, h), F32)
        for k in range(t - 1, -1, -1):
            a, dg = acts[k], dgates[k]
            i, f, g, o = (a[:, j * h:(j + 1) * h] for j in range(4))
            dh += dhs[k]
            tc = tcs[k]
            dg[:, 3 * h:] = dh * tc * o * (1 - o)                   # output gate
            dc += dh * o * (1 - tc * tc)
            dg[:, :h] = dc * g * i * (1 - i)                         # input gate
            dg[:, h:2 * h] = dc * cs[k] * f * (1 - f)                # forget gate
            dg[:, 2 * h:3 * h] = dc * i * (1 - g * g)                # cell gate
            dc *= f
            dh = dg @ w_hh
        dflat = dgates.reshape(t * n, 4 * h)
        g_hh = dflat.T @ hs[:-1].reshape(t * n, h)
        g_ih = dflat.T @ x.reshape(t * n, -1)
        gb = dflat.sum(0)
        dx = dflat @ w_ih
        g_emb = np.zeros_like(emb)
        np.add.at(g_emb, ids_tm.reshape(-1), dx)
        return [g_emb, g_ih, g_hh, gb, gb.copy(), g_out, gb_out]

    return [_numpy("NumPy by hand", grads, ws)]


# ----------------------------------------------------------------------------------------
# Measuring
# ----------------------------------------------------------------------------------------


def timeit(impls: list[Impl], repeats: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per step of each implementation, timed in interleaved rounds."""
    for impl in impls:
        for _ in range(warmup):
            impl.step()
    times: dict[str, list[float]] = {impl.name: [] for impl in impls}
    for _ in range(repeats):
        for impl in impls:
            t0 = time.perf_counter()
            impl.step()
            times[impl.name].append(time.perf_counter() - t0)
    return times


def peak_tracemalloc(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated during ``fn()`` above what was allocated when it began."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def peak_torch(torch: Any, fn: Callable[[], Any]) -> int:
    """The same for PyTorch, from its profiler: every allocation and free it recorded during
    ``fn()`` (its raw ``[memory]`` events, with their sizes) replayed in time order, and the
    running maximum taken. A free of a block allocated before the profile began is not
    recorded, as tracemalloc ignores it too."""
    from torch.profiler import ProfilerActivity, profile  # noqa: PLC0415

    gc.collect()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    return peak


def check(name: str, reference: list[np.ndarray], got: list[np.ndarray], keys: list[str]) -> str:
    """'' when ``got`` matches ``reference`` (float32 tolerances), else what differs."""
    for key, r, g in zip(keys, reference, got, strict=True):
        if r.shape != g.shape or g.dtype != F32:
            return f"{name}: gradient of {key} has shape {g.shape} {g.dtype}, want {r.shape}"
        scale = float(np.max(np.abs(r))) or 1.0
        err = float(np.max(np.abs(r - g))) / scale
        if err > 2e-3:
            return f"{name}: gradient of {key} differs from PyTorch's by {err:.2e} (relative)"
    return ""


# ----------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------

SETUP = {"mlp": mlp_setup, "lenet": lenet_setup, "lstm": lstm_setup}
OURS = {"mlp": ours_mlp, "lenet": ours_lenet, "lstm": ours_lstm}
TORCH = {"mlp": torch_mlp, "lenet": torch_lenet, "lstm": torch_lstm}
NUMPY = {"mlp": numpy_mlp, "lenet": numpy_lenet, "lstm": numpy_lstm}
TITLE = {"mlp": "MNIST MLP 784-512-512-10, batch 128",
         "lenet": "LeNet, batch 64",
         "lstm": "LSTM language model (emb 128, hidden 256, vocab 65, seq 50, batch 32)"}
# (ours, theirs, aim): the aims, as ratios of best times
AIMS = {"mlp": [("minitorch_ag", "PyTorch", 1.1)],
        "lenet": [("minitorch_ag", "PyTorch", 1.5)],
        "lstm": [("minitorch_ag nn.LSTM", "PyTorch cells", 1.0),
                 ("minitorch_ag cells (lstm_cell)", "PyTorch cells", 1.0),
                 ("minitorch_ag nn.LSTM", "PyTorch nn.LSTM", 1.5),
                 ("ag.compile cells (separate ops)", "PyTorch cells", 0.9)]}


def run_model(model: str, args: argparse.Namespace, torch: Any) -> tuple[list[str], bool]:
    """Build, check, time and measure one model; print its table. Returns (aim lines, ok)."""
    sizes = (QUICK if args.quick else FULL)[model]
    weights, data = SETUP[model](sizes, np.random.default_rng(0))
    keys = list(weights)
    impls = OURS[model](weights, data) + NUMPY[model](weights, data)
    if torch is not None:
        impls = TORCH[model](torch, weights, data) + impls
    title = TITLE[model] + (" (quick: reduced sizes)" if args.quick else "")
    print(f"\n== {title}")

    ok = True
    reference = impls[0].grads()
    for impl in impls[1:]:
        problem = check(impl.name, reference, impl.grads(), keys)
        if problem:
            print(f"  GRADIENT MISMATCH: {problem}")
            ok = False
    if ok:
        print(f"  gradients of all {len(impls)} implementations agree with {impls[0].name}'s")

    times = timeit(impls, args.repeats, args.warmup)
    peaks = {}
    if args.memory:
        for impl in impls:
            peaks[impl.name] = (peak_torch(torch, impl.step) if impl.torch_profile
                                else peak_tracemalloc(impl.step))
    best = {name: min(ts) for name, ts in times.items()}
    torch_rows = [i.name for i in impls if i.torch_profile]
    ref = torch_rows[-1] if model == "lstm" and torch_rows else (torch_rows or [None])[0]
    floor = "NumPy by hand"
    print(f"  {'implementation':<34}{'best ms':>9}{'median ms':>11}{'peak MB':>9}"
          f"{'/ ' + (ref or '-'):>17}{'/ NumPy':>9}")
    for impl in impls:
        ts = times[impl.name]
        mem = f"{peaks[impl.name] / 2**20:9.2f}" if impl.name in peaks else f"{'-':>9}"
        vs_ref = f"{best[impl.name] / best[ref]:16.2f}x" if ref else f"{'-':>17}"
        print(f"  {impl.name:<34}{1e3 * min(ts):9.2f}{1e3 * statistics.median(ts):11.2f}"
              f"{mem}{vs_ref}{best[impl.name] / best[floor]:8.2f}x")

    lines = []
    for ours_name, theirs, aim in AIMS[model] if torch is not None else []:
        ratio = best[ours_name] / best[theirs]
        verdict = "met" if ratio <= aim else "MISSED"
        line = f"{model}: {ours_name} / {theirs} = {ratio:.2f}x (aim <= {aim}x): {verdict}"
        if peaks:
            ours_mb, theirs_mb = peaks[ours_name] / 2**20, peaks[theirs] / 2**20
            mem_verdict = "met" if ours_mb <= theirs_mb else "MISSED"
            line += f"; peak {ours_mb:.1f} MB vs {theirs_mb:.1f} MB: {mem_verdict}"
        lines.append(line)

    if args.profile:
        profile_ours(model, [i for i in impls if i.name.startswith("minitorch_ag")])
    return lines, ok


def profile_ours(model: str, impls: list[Impl]) -> None:
    """cProfile (top functions by own time) and ``ag.profile()`` of minitorch_ag's steps."""
    import cProfile  # noqa: PLC0415
    import pstats  # noqa: PLC0415

    for impl in impls:
        print(f"\n-- profile of {model} / {impl.name}: cProfile, top 12 by own time")
        prof = cProfile.Profile()
        prof.runcall(impl.step)
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)
        print(f"-- ag.profile() of {model} / {impl.name}")
        with ag.profile() as agprof:
            impl.step()
        print(agprof)


def main(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: PLC0415 - optional comparison
    except ImportError:
        torch = None
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"one training step (forward, backward, SGD update), float32, {args.threads} "
          f"thread(s), {args.repeats} interleaved rounds after {args.warmup} warm-up step(s)")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}"
          + (f", torch {torch.__version__}" if torch is not None else
             " (torch is not installed: PyTorch rows skipped)")
          + f"; {os.cpu_count()} CPUs, load average {load:.2f} at the start")
    if torch is not None:
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
    summary, all_ok = [], True
    for model in args.models:
        lines, ok = run_model(model, args, torch)
        summary += lines
        all_ok &= ok
    if summary:
        print("\naims (ratios of best times from this run; peak memory per step):")
        for line in summary:
            print(f"  {line}")
    end_load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {end_load:.2f} at the end")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main(ARGS))
