"""A training step on the GPU three ways: recorded eagerly, replayed, and as one CUDA graph.

The MLP of ``benchmarks/gpu.py`` (784-256-10, batch 128, float32) with a plain SGD update
(``axpy_``), timed per step:

* eager: ``diff``/``grad`` record and sweep the tape every step;
* replayed: ``ag.compile`` traces the step once and then runs its generated NumPy code on the
  CuPy arrays, with no tape;
* graph: the replayed step (loss, gradients and update) captured once on a CuPy stream as a CUDA
  graph, then launched: one launch per step instead of one per kernel.

Each way starts from the same weights; after the timed steps their weights are compared, so a
graph that replays stale work shows up as a mismatch, not as a fast number. The update is
SGD's because an update whose scalars change from step to step (Adam's bias corrections, a
learning-rate schedule) is baked into a graph at capture: those numbers would have to live in
device memory first.

    PYTHONPATH=. python benchmarks/gpu_graph.py [--repeat R]
    PYTHONPATH=. python benchmarks/gpu_graph.py --device cpu   # eager and replayed (a dry run)

Needs CuPy with a usable GPU; exits with status 2 naming what is missing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import minitorch_ag as ag
from minitorch_ag.nn import Chain, Linear
from minitorch_ag.nn import functional as F

LR = 0.05


def make_model() -> Any:
    return Chain(Linear(784, 256, activation=F.relu, rng=0), Linear(256, 10, rng=1))


def loss_of(model: Any) -> Callable[[Any, Any], Any]:
    return lambda x, y: F.cross_entropy(model(x), y)


def eager_step(model: Any, x: Any, y: Any) -> Any:
    tape = ag.diff(lambda: loss_of(model)(x, y))
    for p in ag.params(model):
        ag.axpy_(-LR, ag.grad(tape, p), p)
    return ag.value(tape)


def replayed(model: Any) -> Callable[[Any, Any], Any]:
    step = ag.compile(loss_of(model))

    def run(x: Any, y: Any) -> Any:
        loss, grads = step(x, y)
        for p, g in zip(step.params, grads, strict=True):
            ag.axpy_(-LR, g, p)
        return loss

    return run


def timed(fn: Callable[[], Any], sync: Callable[[], None], repeat: int) -> list[float]:
    """Milliseconds per call, each call followed by a device synchronisation."""
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync()
        out.append(1e3 * (time.perf_counter() - t))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--device", choices=("gpu", "cpu"), default="gpu")
    args = parser.parse_args()
    if args.device == "cpu":
        return run(None, "cpu", args.repeat)
    try:
        import cupy
    except ImportError:
        print("benchmarks/gpu_graph.py: needs CuPy (pip install -e '.[gpu]')", file=sys.stderr)
        return 2
    if not ag.gpu_available():
        print("benchmarks/gpu_graph.py: CuPy sees no usable GPU", file=sys.stderr)
        return 2
    return run(cupy, "gpu", args.repeat)


def run(cupy: Any, dev: str, repeat: int) -> int:
    """Time the three ways on ``dev`` (the graph only with ``cupy``) and compare weights."""

    rng = np.random.default_rng(0)
    x = ag.to_device(rng.standard_normal((128, 784)).astype(np.float32), dev)
    y = ag.to_device(rng.integers(0, 10, 128), dev)
    models = {name: ag.to_device(make_model(), dev) for name in ("eager", "replayed", "graph")}
    sync = cupy.cuda.Device().synchronize if cupy is not None else (lambda: None)

    run_replayed = replayed(models["replayed"])
    run_graph = replayed(models["graph"])
    steps: dict[str, Callable[[], Any]] = {
        "eager": lambda: eager_step(models["eager"], x, y),
        "replayed": lambda: run_replayed(x, y),
    }
    for fn in steps.values():  # warm up: traces, kernels compiled, the memory pool filled
        fn()
        fn()
    warm = 2
    for _ in range(warm):
        run_graph(x, y)
    sync()

    if cupy is not None:
        stream = cupy.cuda.Stream(non_blocking=True)
        try:
            with stream:
                stream.begin_capture()
                try:
                    run_graph(x, y)
                finally:
                    graph = stream.end_capture()
            steps["graph"] = lambda: graph.launch(stream)
        except Exception as e:  # noqa: BLE001 - reported: what capturing on CuPy runs into
            print(f"graph: capture failed: {type(e).__name__}: {e}")
        stream.synchronize()
    captured = "graph" in steps  # (capturing records the step's kernels; it runs none)

    results = {name: timed(fn, sync, repeat) for name, fn in steps.items()}
    device = (cupy.cuda.runtime.getDeviceProperties(0)["name"].decode() if cupy is not None
              else "the CPU")
    print(f"MLP 784-256-10, batch 128, SGD, float32, on {device}; {repeat} steps each")
    for name, ts in results.items():
        print(f"  {name:9s} {min(ts):7.3f} ms fastest {statistics.median(ts):7.3f} ms median")

    # Every model took its warm-up steps and then the timed ones (the graph: its launches).
    total = {"eager": 2 + repeat, "replayed": 2 + repeat,
             "graph": warm + (repeat if captured else 0)}
    for name, model in models.items():
        if name == "graph" and not captured:
            continue  # (on the CPU: warmed up only, nothing to compare)
        n = total[name]
        ref = make_model()
        for _ in range(n):
            eager_step(ref, ag.to_device(x, "cpu"), ag.to_device(y, "cpu"))
        worst = max(float(np.max(np.abs(ag.to_device(p.value, "cpu") - q.value)))
                    for p, q in zip(ag.params(model), ag.params(ref), strict=True))
        print(f"  {name:9s} weights after {n} steps differ from the CPU's by at most {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
