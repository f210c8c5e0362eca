"""Data-parallel training cost: the all-reduce's share of a step, its bytes, and scaling.

The model is train_step.py's MNIST MLP (784-512-512-10, ReLU, softmax cross-entropy, float32,
SGD), on random data. The driver runs this script on one process and under ``mpirun -n 2``
(``--ranks``), each run timing, per step and on every rank:

- ``step``: one whole data-parallel step (``DataParallel.step``: forward, backward, the
  all-reduce of the gradients, the SGD update) on the rank's part of the global batch;
- ``allreduce in step``: the part of ``step`` spent in ``allreduce_grads`` (this includes
  waiting for the slower rank);
- ``packed`` / ``per Param``: the all-reduce of the same gradients alone, after a barrier: one
  buffer for all (the default), against one call per Param (``fuse=False``);
- ``bytes``: what this rank hands to the all-reduce per step (the packed gradients plus the
  small float64 buffer of the layout check and the loss), against the model's size.

On one rank, ``DataParallel`` does no communication at all; the ``packed`` row then times the
packing and the transport on a world of one (MPI's singleton, or NCCL on a GPU), which shows
the fixed cost of the machinery. Scaling efficiency: strong (the global batch of 128 split
over the ranks: ``t1 / (n * tn)``) and weak (128 per rank: ``t1 / tn``), from the best (min)
step times of the ``step`` rows.

    PYTHONPATH=. python benchmarks/distributed.py [--ranks 1,2] [--steps 60] [--device cpu]
    PYTHONPATH=. mpirun -n 2 python benchmarks/distributed.py --worker   # one measurement

Numbers are best and median milliseconds over ``--steps`` timed steps after ``--warmup``.
BLAS is held to one thread per rank (``--threads``). Nothing here asserts on timings.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ranks", default="1,2", help="process counts to run (default 1,2)")
    ap.add_argument("--steps", type=int, default=60, help="timed steps per row (default 60)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    ap.add_argument("--batch", type=int, default=128, help="global batch (default 128)")
    ap.add_argument("--device", default="cpu", help="cpu (default) or gpu (rank r: gpu:r)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads per rank (default 1)")
    ap.add_argument("--mpirun", default=None, help="the launcher (default: the one beside "
                                                   "this Python, else mpirun on PATH)")
    ap.add_argument("--json", default=None, help="also write the numbers as JSON here")
    ap.add_argument("--worker", action="store_true", help="measure (run under mpirun)")
    return ap.parse_args(argv)


# ----------------------------------------------------------------------------------------
# The worker: one measurement on this job's ranks
# ----------------------------------------------------------------------------------------


def _worker(args: argparse.Namespace) -> dict:
    import numpy as np

    import minitorch_ag as ag
    from minitorch_ag import distributed as dist
    from minitorch_ag.datasets import minibatch
    from minitorch_ag.distributed._collectives import reduce_gradients, reduce_on
    from minitorch_ag.nn import Chain, Linear, cross_entropy, relu
    from minitorch_ag.optim import SGD, update_

    w = dist.init()
    device = "cpu" if args.device == "cpu" else f"gpu:{dist.local_rank()}"
    sync = (lambda: None) if device == "cpu" else _gpu_sync(device)
    rng = np.random.default_rng(0)

    def model():
        return ag.to_device(Chain(Linear(784, 512, relu, rng=1), Linear(512, 512, relu, rng=2),
                                  Linear(512, 10, rng=3)), device)

    def timed(fn, n):
        times = []
        for k in range(args.warmup + n):
            sync()
            t = time.perf_counter()
            fn()
            sync()
            if k >= args.warmup:
                times.append(time.perf_counter() - t)
        return times

    result: dict = {"ranks": w.size, "device": args.device}
    for scaling, global_batch in (("strong", args.batch), ("weak", args.batch * w.size)):
        net = model()
        n = global_batch * (args.warmup + args.steps)
        x = rng.standard_normal((n, 784)).astype(np.float32)
        y = rng.integers(0, 10, n)
        batches = iter(dist.shard(minibatch(x, y, global_batch, device=device)))
        dp = dist.DataParallel(net, SGD(lr=0.01))
        in_step = []

        def one_step(dp=dp, net=net, batches=batches, in_step=in_step):
            # DataParallel.step written out, to time its all-reduce: diff runs the forward
            # pass, the first grad the backward pass; reduce_gradients averages the gradients
            # (and the loss) over the ranks; update_ applies SGD.
            xb, yb = next(batches)
            tape = ag.diff(lambda: cross_entropy(net(xb), yb))
            grads = [ag.grad(tape, p) for p in dp.params]
            loss = float(tape.item())
            t = time.perf_counter()
            reduce_gradients(grads, dp.params, loss)
            in_step.append(time.perf_counter() - t)
            update_(dp.params, grads, dp.opt)

        step_times = timed(one_step, args.steps)
        in_step = in_step[args.warmup:]
        result[scaling] = {"global_batch": global_batch, "step": step_times,
                           "allreduce_in_step": in_step}

    # The all-reduce alone, packed and per Param, after a barrier, on the gradients of a step:
    # of the MLP (6 Params), and of a deep narrow MLP (16 layers of 128: 32 Params, where the
    # cost per call weighs more).
    deep = [Linear(128, 128, relu, rng=10 + k) for k in range(15)] + [Linear(128, 10, rng=9)]
    for label, net, width in (("mlp", model(), 784), ("deep", ag.to_device(Chain(*deep), device),
                                                       128)):
        xb = ag.to_device(rng.standard_normal((args.batch // w.size, width)).astype(np.float32),
                          device)
        yb = ag.to_device(rng.integers(0, 10, args.batch // w.size), device)
        tape = ag.diff(lambda net=net, xb=xb, yb=yb: cross_entropy(net(xb), yb))
        ps = ag.params(net)
        grads = [ag.grad(tape, p) for p in ps]
        result[label] = {"model_bytes": sum(int(p.value.nbytes) for p in ps), "params": len(ps)}
        for name, fuse in (("packed", True), ("per_param", False)):
            before = (w.collectives, w.nbytes)
            times = []
            for k in range(args.warmup + args.steps):
                dist.barrier()  # start together: time the exchange, not a rank's lateness
                sync()
                t = time.perf_counter()
                reduce_on(w, list(grads), None, 1.0, fuse)
                sync()
                if k >= args.warmup:
                    times.append(time.perf_counter() - t)
            rounds = args.warmup + args.steps
            barriers = 1 if w.size > 1 else 0
            checks = 1 if w.comm is not None else 0  # the small layout-check buffer (MPI)
            result[label][name] = times
            result[label][name + "_calls"] = ((w.collectives - before[0]) / rounds - barriers
                                              - checks)
            result[label][name + "_bytes"] = (w.nbytes - before[1]) / rounds
    return result


def _gpu_sync(device: str):
    """A function that waits for the GPU of ``device`` (its current stream) to finish."""
    import numpy as np

    import minitorch_ag as ag
    from minitorch_ag.backend import array_module

    cupy = array_module(ag.to_device(np.zeros(1), device))
    return lambda: cupy.cuda.get_current_stream().synchronize()


# ----------------------------------------------------------------------------------------
# The driver: run the workers, print the table
# ----------------------------------------------------------------------------------------


def _launcher(explicit: str | None) -> str | None:
    """The mpirun to use: the one given, the one beside this Python (the mpich wheel's), or
    the one on PATH; None when there is none (one rank then runs without a launcher)."""
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "mpirun"
    if beside.exists():
        return str(beside)
    import shutil

    return shutil.which("mpirun")


def _ms(times: list[float]) -> str:
    import statistics

    return f"{1e3 * min(times):8.2f} {1e3 * statistics.median(times):8.2f}"


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    if args.worker:
        from minitorch_ag import distributed as dist

        result = _worker(args)
        if dist.is_root():
            text = json.dumps(result)
            if args.json:
                Path(args.json).write_text(text)
            else:
                print(text)
        return
    mpirun = _launcher(args.mpirun)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(args.threads),
           "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                      env.get("PYTHONPATH")]))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(k) for k in args.ranks.split(",")]:
            out = Path(tmp) / f"{n}.json"
            if mpirun is None and n > 1:
                sys.exit("distributed.py: no mpirun found (pip install -e '.[mpi]')")
            launch = [mpirun, "-n", str(n)] if n > 1 else []  # one rank needs no launcher
            command = [*launch, sys.executable, __file__, "--worker", "--json", str(out),
                       "--steps", str(args.steps), "--warmup", str(args.warmup), "--batch",
                       str(args.batch), "--device", args.device]
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"distributed.py: {' '.join(command)} failed:\n{done.stderr[-3000:]}")
            results[n] = json.loads(out.read_text())
    _report(results, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results))


def _report(results: dict, args: argparse.Namespace) -> None:
    import statistics

    one = results.get(1)
    print(f"MLP 784-512-512-10 float32, SGD, device {args.device}, global batch {args.batch}, "
          f"{args.steps} timed steps (best / median ms)")
    for n, r in results.items():
        print(f"\n{n} rank(s)")
        for scaling in ("strong", "weak"):
            s = r[scaling]
            best = min(s["allreduce_in_step"]) / min(s["step"])
            median = statistics.median(s["allreduce_in_step"]) / statistics.median(s["step"])
            print(f"  MLP step, global batch {s['global_batch']:4d} ({scaling:6s}) "
                  f"{_ms(s['step'])}   all-reduce in it {_ms(s['allreduce_in_step'])}"
                  f"  = {100 * best:4.1f}% / {100 * median:4.1f}% of the step")
        for label, title in (("mlp", "MLP"), ("deep", "deep MLP")):
            m = r[label]
            print(f"  {title}: {m['model_bytes'] / 1e6:.2f} MB in {m['params']} Params, the "
                  f"all-reduce alone:")
            for name, how in (("packed", "packed"), ("per_param", "one call per Param")):
                print(f"    {how:20s} {_ms(m[name])}   {m[name + '_calls']:.0f} data call(s), "
                      f"{m[name + '_bytes'] / 1e6:.3f} MB handed over per step "
                      f"({m[name + '_bytes'] / m['model_bytes']:.3f} x the model)")
        if one is not None and n > 1:
            strong = min(one["strong"]["step"]) / (n * min(r["strong"]["step"]))
            weak = min(one["strong"]["step"]) / min(r["weak"]["step"])
            print(f"  scaling efficiency against 1 rank: strong {100 * strong:.0f}%, "
                  f"weak {100 * weak:.0f}%")


if __name__ == "__main__":
    main()
