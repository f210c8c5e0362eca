"""LSTM speed: minitorch_ag's ``nn.LSTM`` beside ``torch.nn.LSTM`` (and PyTorch cell by cell).

Two workloads, float32, the sizes of a character-level language model (Tiny Shakespeare):
embedding 128, hidden 256, vocabulary 65, sequence 50, batch 32.

1. ``layer``: forward and backward of the LSTM layer alone, ``sum(output * W)`` (and the
   same for the GRU layer beside ``torch.nn.GRU``).
2. ``model``: one training step of the language model: embedding, LSTM, linear to the
   vocabulary, softmax cross-entropy, backward, and a plain SGD update of every weight.

Each is timed for minitorch_ag, ``torch.nn.LSTM`` and a PyTorch LSTM written from cells (the
gates as separate tensor operations, as a user would write it); all in one run, with the same
number of threads for NumPy's BLAS and PyTorch (``--threads``, default 1: set before NumPy is
imported). Prints the best and median of ``--repeats`` timed calls (in interleaved rounds), and
the ratios to PyTorch.
Nothing here asserts on timings.

    PYTHONPATH=. python benchmarks/rnn.py [--threads 1] [--repeats 10] [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import os
import sys


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="BLAS and PyTorch threads")
    ap.add_argument("--repeats", type=int, default=10, help="timed calls per implementation")
    ap.add_argument("--warmup", type=int, default=2, help="untimed calls first")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    ap.add_argument("--profile", action="store_true", help="cProfile minitorch_ag's model step")
    return ap.parse_args(argv)


ARGS = _arguments() if __name__ == "__main__" else None
if ARGS is not None:  # thread counts must be fixed before NumPy loads its BLAS
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

import minitorch_ag as ag  # noqa: E402
from minitorch_ag import nn  # noqa: E402


def timeit(fns: dict[str, Callable[[], object]], repeats: int,
           warmup: int) -> dict[str, tuple[float, float]]:
    """Best and median seconds of each function, timed in interleaved rounds.

    One call of each function per round, so that a burst of load from other processes hits
    all implementations alike instead of whichever happened to be running.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: (min(ts), statistics.median(ts)) for name, ts in times.items()}


def ours(sizes: dict, rng: np.random.Generator) -> dict[str, Callable[[], object]]:
    n, t, e, h, v = (sizes[k] for k in "NTEHV")
    lstm = nn.LSTM(e, h, rng=0)
    x = rng.standard_normal((n, t, e)).astype(np.float32)
    w = rng.standard_normal((n, t, h)).astype(np.float32)

    def layer():
        tape = ag.diff(lambda: np.sum(lstm(x)[0] * w))
        return [ag.grad(tape, p) for p in ag.params(lstm)]

    gru = nn.GRU(e, h, rng=3)

    def gru_layer():
        tape = ag.diff(lambda: np.sum(gru(x)[0] * w))
        return [ag.grad(tape, p) for p in ag.params(gru)]

    emb, out = nn.Embedding(v, e, rng=1), nn.Linear(h, v, rng=2)
    model = nn.Chain(emb, lambda z: lstm(z)[0], out)
    weights = ag.params(model)
    ids = rng.integers(0, v, (n, t))
    targets = rng.integers(0, v, (n, t)).reshape(-1)

    def step():
        tape = ag.diff(lambda: nn.cross_entropy(np.reshape(model(ids), (-1, v)), targets))
        for p in weights:
            ag.axpy_(-0.01, ag.grad(tape, p), p)
        return ag.value(tape)

    return {"layer": layer, "gru": gru_layer, "model": step}


def pytorch(sizes: dict, rng: np.random.Generator, torch) -> dict[str, Callable[[], object]]:
    n, t, e, h, v = (sizes[k] for k in "NTEHV")
    f = torch.nn.functional
    lstm = torch.nn.LSTM(e, h, batch_first=True)
    x = torch.tensor(rng.standard_normal((n, t, e)), dtype=torch.float32)
    w = torch.tensor(rng.standard_normal((n, t, h)), dtype=torch.float32)

    def layer():
        lstm.zero_grad(set_to_none=True)
        (lstm(x)[0] * w).sum().backward()

    gru = torch.nn.GRU(e, h, batch_first=True)

    def gru_layer():
        gru.zero_grad(set_to_none=True)
        (gru(x)[0] * w).sum().backward()

    emb, out = torch.nn.Embedding(v, e), torch.nn.Linear(h, v)
    weights = [*emb.parameters(), *lstm.parameters(), *out.parameters()]
    ids = torch.tensor(rng.integers(0, v, (n, t)))
    targets = torch.tensor(rng.integers(0, v, (n, t)).reshape(-1))

    def sgd(loss):
        for p in weights:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in weights:
                p -= 0.01 * p.grad
        return loss.item()

    def step():
        return sgd(f.cross_entropy(out(lstm(emb(ids))[0]).reshape(-1, v), targets))

    w_ih, w_hh = lstm.weight_ih_l0, lstm.weight_hh_l0

    def cells(z):
        b = lstm.bias_ih_l0 + lstm.bias_hh_l0
        hs, hh, c = [], torch.zeros(n, h), torch.zeros(n, h)
        for k in range(t):
            gates = z[:, k] @ w_ih.T + hh @ w_hh.T + b
            i, fg, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(fg) * c + torch.sigmoid(i) * torch.tanh(g)
            hh = torch.sigmoid(o) * torch.tanh(c)
            hs.append(hh)
        return torch.stack(hs, 1)

    def cell_step():
        return sgd(f.cross_entropy(out(cells(emb(ids))).reshape(-1, v), targets))

    return {"layer": layer, "gru": gru_layer, "model": step, "model_cells": cell_step}


def main(args: argparse.Namespace) -> int:
    sizes = ({"N": 4, "T": 5, "E": 8, "H": 16, "V": 11} if args.quick
             else {"N": 32, "T": 50, "E": 128, "H": 256, "V": 65})
    rng = np.random.default_rng(0)
    print(f"LSTM benchmark: batch {sizes['N']}, sequence {sizes['T']}, embedding {sizes['E']}, "
          f"hidden {sizes['H']}, vocabulary {sizes['V']}, float32, {args.threads} thread(s)")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}")
    ours_fns = ours(sizes, rng)
    try:
        import torch  # noqa: PLC0415 - optional comparison
    except ImportError:
        torch = None
        print("(torch is not installed: PyTorch columns skipped)")
    theirs = {}
    if torch is not None:
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        theirs = pytorch(sizes, rng, torch)
        print(f"torch {torch.__version__}")
    rows = [("layer fwd+bwd", "minitorch_ag nn.LSTM", ours_fns["layer"]),
            ("layer fwd+bwd", "torch.nn.LSTM", theirs.get("layer")),
            ("GRU fwd+bwd", "minitorch_ag nn.GRU", ours_fns["gru"]),
            ("GRU fwd+bwd", "torch.nn.GRU", theirs.get("gru")),
            ("model step", "minitorch_ag", ours_fns["model"]),
            ("model step", "torch (nn.LSTM)", theirs.get("model")),
            ("model step", "torch (cell by cell)", theirs.get("model_cells"))]
    rows = [r for r in rows if r[2] is not None]
    timed = timeit({f"{w}|{n}": fn for w, n, fn in rows}, args.repeats, args.warmup)
    results = {}
    print(f"\n{'workload':<15}{'implementation':<24}{'best ms':>10}{'median ms':>11}")
    for work, name, _ in rows:
        best, med = timed[f"{work}|{name}"]
        results[(work, name)] = best
        print(f"{work:<15}{name:<24}{best * 1e3:>10.2f}{med * 1e3:>11.2f}")
    if torch is not None:
        print("\nratios (best times; below 1 means minitorch_ag is faster):")
        pairs = [("layer fwd+bwd", "minitorch_ag nn.LSTM", "torch.nn.LSTM"),
                 ("GRU fwd+bwd", "minitorch_ag nn.GRU", "torch.nn.GRU"),
                 ("model step", "minitorch_ag", "torch (nn.LSTM)"),
                 ("model step", "minitorch_ag", "torch (cell by cell)")]
        for work, a, b in pairs:
            print(f"  {work}: {a} / {b} = {results[(work, a)] / results[(work, b)]:.2f}x")
    if args.profile:
        import cProfile  # noqa: PLC0415
        import pstats  # noqa: PLC0415

        prof = cProfile.Profile()
        prof.runcall(ours_fns["model"])
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
