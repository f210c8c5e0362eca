"""What ``ag.delta`` costs: tracing and code generation, and replay against eager recording.

Workload: the chain of ``benchmarks/overhead.py`` (``y = tanh(y * 1.01 + 0.1)`` repeated, then a
sum, float32 vectors of 16 elements), so that per-operation costs dominate.

1. First call, split into its parts, for chains of about 1,000 and 10,000 primitives:
   tracing (recording the forward pass on two tapes and the pullback on the outer one), code
   generation (writing the source), and compiling it plus the self-check (running the
   generated code once on the traced inputs, which must reproduce the trace exactly). Reported
   in milliseconds per 1,000 primitives of the user's function; the trace tape holds about
   2.3 nodes per primitive (forward, rule steps and accumulations).
2. Later calls: microseconds per primitive for hand-written NumPy, the replayed ``ag.delta``,
   its generated source run on its own, and eager recording (``ag.grad``), interleaved.

    PYTHONPATH=. python benchmarks/delta.py [--repeats 7] [--quick]

Nothing here asserts on timings: it reports numbers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import overhead as ov  # noqa: E402 - the workload shared with overhead.py

import minitorch_ag as ag  # noqa: E402


def first_call(ops: int, repeats: int) -> dict[str, float]:
    """Best milliseconds of each part of a first call, over ``repeats`` fresh ``ag.delta``s."""
    steps = ov.steps_for(ops)
    x0 = ov.make_x0()
    parts: dict[str, list[float]] = {"trace": [], "generate": [], "compile+check": [],
                                     "total": []}
    nodes = 0
    for _ in range(repeats):
        d = ag.delta(lambda x, s=steps: ov.chain(x, s, np.tanh, np.sum))
        t0 = time.perf_counter()
        d(x0)
        total = (time.perf_counter() - t0) * 1e3
        (v,) = next(iter(d.cache.values()))
        parts["trace"].append(v.trace_ms)
        parts["generate"].append(v.emit_ms)
        parts["compile+check"].append(total - v.trace_ms - v.emit_ms)
        parts["total"].append(total)
        nodes = v.n_ops
    out = {k: min(v) for k, v in parts.items()}
    out["primitives"] = ov.n_ops(steps)
    out["trace nodes"] = nodes
    return out


def replay(ops: int, repeats: int) -> dict[str, float]:
    """Best microseconds per primitive of each implementation (interleaved samples)."""
    steps = ov.steps_for(ops)
    x0 = ov.make_x0()
    want = ov.numpy_grad(x0, steps)
    fns = {
        "NumPy (hand-written)": ov.make_numpy(x0, steps),
        "ag.delta replay": ov.make_ag_delta(ag, x0, steps),
        "generated source": ov.make_generated_source(ag, x0, steps),
        "eager grad(f)(x)": ov.make_ag_function(ag, x0, steps),
    }
    for name, fn in fns.items():
        ok, _ = ov.check_grad(fn(), want)
        if not ok:
            raise SystemExit(f"{name}: wrong gradient")
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            n = 5
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            times[name].append((time.perf_counter() - t0) / n)
    n_prim = ov.n_ops(steps)
    return {k: min(v) * 1e6 / n_prim for k, v in times.items()} | {
        f"{k} (median)": statistics.median(v) * 1e6 / n_prim for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7, help="samples per figure (7)")
    ap.add_argument("--quick", action="store_true", help="2 samples, short chains: a smoke test")
    args = ap.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    sizes = (300,) if args.quick else (1_000, 10_000)
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}")
    print("\n1. first call (ms per 1,000 primitives of f; best of the samples)")
    print(f"{'primitives':>11}{'nodes':>8}{'trace':>9}{'generate':>10}{'compile+check':>15}"
          f"{'total':>9}")
    for ops in sizes:
        r = first_call(ops, repeats)
        k = 1000 / r["primitives"]
        print(f"{int(r['primitives']):>11}{int(r['trace nodes']):>8}{r['trace'] * k:>9.1f}"
              f"{r['generate'] * k:>10.1f}{r['compile+check'] * k:>15.1f}{r['total'] * k:>9.1f}")
    print("\n2. later calls (us per primitive, best and median; ratio to hand-written NumPy)")
    for ops in sizes:
        r: dict[str, Any] = replay(ops, repeats)
        base = r["NumPy (hand-written)"]
        print(f"  chain of {ov.n_ops(ov.steps_for(ops))} primitives")
        for name in ("NumPy (hand-written)", "ag.delta replay", "generated source",
                     "eager grad(f)(x)"):
            print(f"    {name:<22}{r[name]:>7.2f}{r[name + ' (median)']:>8.2f}"
                  f"{r[name] / base:>8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
