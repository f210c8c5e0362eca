"""Framework overhead per primitive: minitorch_ag against NumPy, HIPS autograd and PyTorch CPU.

The workload is a chain of tiny elementwise operations, so that the arithmetic itself is almost
free and what is measured is each framework's cost to record an operation and differentiate it:

    x: float32 vector of 16 elements
    y = x; 300 times: y = tanh(y * 1.01 + 0.1); loss = sum(y); gradient of loss wrt x

That is 3 primitives per step (multiply, add, tanh) plus the sum: 901 primitives in all.
``ag.delta``'s rows time the same workload replayed from generated code (traced once before
timing), and that generated source run on its own.

Three parts:

1. Overhead table: time per forward+backward (best and median of N interleaved rounds) for
   hand-written NumPy (the floor), minitorch_ag (tape API and the old function API), HIPS autograd
   and PyTorch CPU (one thread), in microseconds per primitive and as ratios.
2. Scaling: minitorch_ag's microseconds per operation for chains of 1e3 ... 1e6 operations
   (it should stay flat: no recursion, no sort, no quadratic step).
3. Memory: bytes per recorded node (tracemalloc), with and without the 64 bytes of array data.

Run ``python benchmarks/overhead.py --help`` for the options; see benchmarks/README.md.
Nothing here asserts on timings: it reports numbers.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import importlib.metadata
import json
import platform
import pstats
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------------------------
# Workload
# ----------------------------------------------------------------------------------------------

SIZE = 16  # elements in x
STEPS = 300  # tanh steps in the main workload
SCALE = 1.01
SHIFT = 0.1
OPS_PER_STEP = 3  # multiply, add, tanh
DATA_BYTES = SIZE * 4  # bytes of array data in one float32 value of the chain
SCALING_OPS = (1_000, 10_000, 100_000, 1_000_000)


def n_ops(steps: int) -> int:
    """Number of primitives in a chain of ``steps`` tanh steps (3 per step, plus the sum)."""
    return OPS_PER_STEP * steps + 1


def steps_for(ops: int) -> int:
    """Number of tanh steps whose chain has about ``ops`` primitives (at least one step)."""
    return max(1, (ops - 1) // OPS_PER_STEP)


def make_x0(seed: int = 0) -> np.ndarray:
    """The float32 input vector (values in [-1, 1), fixed seed)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, SIZE).astype(np.float32)


def chain(y: Any, steps: int, tanh: Callable[[Any], Any], total: Callable[[Any], Any]) -> Any:
    """The workload, written once for every framework: ``steps`` tanh steps, then a sum."""
    for _ in range(steps):
        y = tanh(y * SCALE + SHIFT)
    return total(y)


# ----------------------------------------------------------------------------------------------
# Implementations: each maker returns a zero-argument function computing the gradient wrt x
# ----------------------------------------------------------------------------------------------


def numpy_grad(x0: np.ndarray, steps: int) -> np.ndarray:
    """Hand-written forward (saving each tanh output) and backward: the floor."""
    saved = []
    y = x0
    for _ in range(steps):
        y = np.tanh(y * SCALE + SHIFT)
        saved.append(y)
    np.sum(y)  # the loss itself (unused by the backward pass, computed for parity)
    g = np.ones_like(x0)  # d sum / d y
    for y in reversed(saved):
        g = g * (1 - y * y)  # d tanh
        g = g * SCALE  # d (y * 1.01); d (+ 0.1) is the identity
    return g


def make_numpy(x0: np.ndarray, steps: int) -> Callable[[], np.ndarray]:
    """Hand-written NumPy forward and backward."""
    return lambda: numpy_grad(x0, steps)


def make_ag_tape(ag: ModuleType, x0: np.ndarray, steps: int) -> Callable[[], Any]:
    """minitorch_ag's tape API: ``t = diff(lambda: chain(x)); grad(t, x)`` with ``x = Param``."""
    x = ag.Param(x0.copy())
    diff, grad = ag.diff, ag.grad

    def run() -> Any:
        t = diff(lambda: chain(x, steps, np.tanh, np.sum))
        return grad(t, x)

    return run


def make_ag_function(ag: ModuleType, x0: np.ndarray, steps: int) -> Callable[[], Any]:
    """minitorch_ag's old function API: ``grad(f)(x0)``."""
    g = ag.grad(lambda x: chain(x, steps, np.tanh, np.sum))
    return lambda: g(x0)


def make_ag_delta(ag: ModuleType, x0: np.ndarray, steps: int) -> Callable[[], Any]:
    """minitorch_ag's ``ag.delta(f)``: traced on the first call, then replayed from generated
    code: ``z, back = df(x0); back()``."""
    df = ag.delta(lambda x: chain(x, steps, np.tanh, np.sum))
    df(x0)  # the trace (not timed: warm-up calls run before timing anyway)
    return lambda: df(x0)[1]()[0]


def make_generated_source(ag: ModuleType, x0: np.ndarray, steps: int) -> Callable[[], Any]:
    """The source ``ag.delta`` generates, ``exec``'d on its own (NumPy only, no minitorch_ag):
    ``forward`` then ``backward`` with a ones cotangent."""
    text = ag.delta(lambda x: chain(x, steps, np.tanh, np.sum)).source(x0)
    namespace: dict[str, Any] = {}
    exec(compile(text, "<generated>", "exec"), namespace)  # noqa: S102 - generated above
    forward, backward = namespace["forward"], namespace["backward"]

    def run() -> Any:
        (z,), saved = forward(x0)
        return backward(saved, np.ones_like(z))[0]

    return run


def make_autograd(mod: ModuleType, x0: np.ndarray, steps: int) -> Callable[[], Any]:
    """HIPS autograd: ``autograd.grad(f)(x0)`` with ``autograd.numpy``."""
    anp = importlib.import_module("autograd.numpy")
    g = mod.grad(lambda x: chain(x, steps, anp.tanh, anp.sum))
    return lambda: g(x0)


def make_torch(torch: ModuleType, x0: np.ndarray, steps: int) -> Callable[[], Any]:
    """PyTorch CPU on one thread: ``requires_grad=True`` leaf, ``backward()``, read ``x.grad``."""
    x = torch.tensor(x0, requires_grad=True)

    def run() -> Any:
        x.grad = None
        chain(x, steps, torch.tanh, torch.sum).backward()
        return x.grad

    return run


def to_numpy(g: Any) -> np.ndarray:
    """A gradient from any of the frameworks as a NumPy array (outside the timed region)."""
    if hasattr(g, "detach"):  # torch
        return g.detach().numpy()
    return np.asarray(getattr(g, "value", g))


# ----------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------


@dataclass
class Timing:
    """Seconds per call of one function: best and median over ``repeats`` samples."""

    best: float
    median: float
    repeats: int
    number: int  # calls per sample
    samples: list[float] = field(default_factory=list)


def run_sample(fn: Callable[[], Any], number: int, gc_off: bool = False) -> float:
    """Seconds per call of ``fn`` over ``number`` back-to-back calls (``time.perf_counter``).

    With ``gc_off`` the cyclic garbage collector is emptied first (untimed) and disabled while
    the sample runs; otherwise it stays on, as a user's program would have it.
    """
    if gc_off:
        gc.collect()
        gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - start) / number
    finally:
        if gc_off:
            gc.enable()


def time_interleaved(
    fns: list[Callable[[], Any]],
    repeats: int,
    min_sample: float,
    warmup: int,
    gc_off: list[bool] | None = None,
) -> list[Timing]:
    """Time several functions in interleaved rounds: warm-up, then ``repeats`` rounds.

    Each round takes one sample of every function in turn, so that a slow spell of the machine
    (another process, frequency changes) falls on all of them alike instead of on whichever was
    being timed then. Each sample runs its function enough times (``number``, calibrated once
    per function from its last warm-up call) to last at least ``min_sample`` seconds; one call
    when there is no warm-up.
    """
    flags = gc_off or [False] * len(fns)
    numbers = []
    for fn in fns:
        once = 0.0  # the last warm-up call's time calibrates ``number``
        for _ in range(warmup):
            once = run_sample(fn, 1)
        numbers.append(max(1, int(min_sample / once)) if once > 0 else 1)
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, number, off, out in zip(fns, numbers, flags, samples, strict=True):
            out.append(run_sample(fn, number, off))
    return [
        Timing(min(ss), statistics.median(ss), repeats, number, ss)
        for ss, number in zip(samples, numbers, strict=True)
    ]


# ----------------------------------------------------------------------------------------------
# Part 1: overhead table
# ----------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One implementation's result in the overhead table."""

    name: str
    timing: Timing | None
    ops: int
    grad_ok: bool | None = None
    grad_dtype: str = ""
    note: str = ""

    def us_per_op(self) -> float:
        """Best microseconds per primitive (forward plus backward)."""
        assert self.timing is not None
        return self.timing.best / self.ops * 1e6


def try_import(name: str) -> tuple[ModuleType | None, str]:
    """Import a module by name; on failure return None and the reason."""
    try:
        return importlib.import_module(name), ""
    except Exception as exc:  # noqa: BLE001  (any import failure means: skip, with a note)
        return None, f"{type(exc).__name__}: {exc}"


def check_grad(got: Any, want: np.ndarray) -> tuple[bool, str]:
    """Whether a gradient matches the hand-written one (values, and float32 kept)."""
    arr = to_numpy(got)
    ok = arr.shape == want.shape and bool(np.allclose(arr, want, rtol=1e-4, atol=1e-6))
    return ok, str(arr.dtype)


def overhead_rows(args: argparse.Namespace, ag: ModuleType | None) -> list[Row]:
    """Time every available implementation on the 901-primitive workload."""
    x0 = make_x0()
    ops = n_ops(STEPS)
    want = numpy_grad(x0, STEPS)
    makers: list[tuple[str, str, Callable[[ModuleType, np.ndarray, int], Callable[[], Any]]]] = [
        ("NumPy (hand-written)", "numpy", lambda _m, x, s: make_numpy(x, s)),
        ("minitorch_ag diff/grad", "minitorch_ag", make_ag_tape),
        ("minitorch_ag grad(f)(x)", "minitorch_ag", make_ag_function),
        ("minitorch_ag delta replay", "minitorch_ag", make_ag_delta),
        ("generated source (NumPy)", "minitorch_ag", make_generated_source),
        ("HIPS autograd", "autograd", make_autograd),
        ("PyTorch CPU (1 thread)", "torch", make_torch),
    ]
    rows: list[Row] = []
    fns: list[Callable[[], Any]] = []
    for label, modname, maker in makers:
        if modname == "minitorch_ag":
            mod, why = ag, "" if ag is not None else "skipped (--baselines-only)"
        else:
            mod, why = try_import(modname)
        if mod is None:
            print(f"note: {label}: not installed or not importable ({why}); skipped")
            rows.append(Row(label, None, ops, note="skipped"))
            continue
        if modname == "torch":
            mod.set_num_threads(1)
        fn = maker(mod, x0, STEPS)
        ok, dtype = check_grad(fn(), want)
        rows.append(Row(label, None, ops, ok, dtype))
        fns.append(fn)
    timed = [r for r in rows if r.grad_ok is not None]
    for row, timing in zip(
        timed, time_interleaved(fns, args.repeats, args.min_sample, args.warmup), strict=True
    ):
        row.timing = timing
    return rows


def print_overhead(rows: list[Row]) -> dict[str, float]:
    """Print the overhead table; return the headline numbers (us/op) by implementation."""
    base = next((r for r in rows if r.name.startswith("NumPy") and r.timing), None)
    torch_row = next((r for r in rows if r.name.startswith("PyTorch") and r.timing), None)
    print(
        f"\n== 1. Overhead: {n_ops(STEPS)} primitives ({STEPS} x [mul, add, tanh] + sum), "
        f"float32[{SIZE}], forward+backward =="
    )
    header = (
        f"{'implementation':<26}{'best ms':>9}{'median ms':>11}{'us/op':>8}"
        f"{'overhead us/op':>16}{'x NumPy':>9}{'x PyTorch':>11}  grad"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        if r.timing is None:
            print(f"{r.name:<26}{'(' + r.note + ')':>9}")
            continue
        t = r.timing
        over = (t.best - base.timing.best) / r.ops * 1e6 if base else float("nan")
        x_np = t.best / base.timing.best if base else float("nan")
        x_pt = t.best / torch_row.timing.best if torch_row else float("nan")
        check = ("ok" if r.grad_ok else "MISMATCH") + f" {r.grad_dtype}"
        print(
            f"{r.name:<26}{t.best * 1e3:>9.3f}{t.median * 1e3:>11.3f}{r.us_per_op():>8.2f}"
            f"{over:>16.2f}{x_np:>9.2f}{x_pt:>11.2f}  {check}"
        )
    print(
        "(best and median of the repeats; us/op = best time / primitives; overhead us/op = "
        "(best - NumPy best) / primitives)"
    )
    return {r.name: r.us_per_op() for r in rows if r.timing is not None}


def headline(rows: list[Row]) -> dict[str, float | None]:
    """Print the one-line minitorch_ag vs PyTorch summary; return its numbers."""
    mine = next((r for r in rows if r.name == "minitorch_ag diff/grad" and r.timing), None)
    theirs = next((r for r in rows if r.name.startswith("PyTorch") and r.timing), None)
    a = mine.us_per_op() if mine else None
    b = theirs.us_per_op() if theirs else None
    ratio = a / b if a is not None and b is not None else None
    fa = f"{a:.1f}" if a is not None else "n/a"
    fb = f"{b:.1f}" if b is not None else "n/a"
    fr = f"{ratio:.2f}" if ratio is not None else "n/a"
    print(f"\nminitorch_ag: {fa} us/op, PyTorch: {fb} us/op, ratio {fr} (target <= 0.5)")
    return {"minitorch_ag_us_per_op": a, "torch_us_per_op": b, "ratio": ratio}


# ----------------------------------------------------------------------------------------------
# Part 2: scaling with the chain length
# ----------------------------------------------------------------------------------------------


def scaling_repeats(repeats: int, ops: int) -> int:
    """Repeats for a chain of ``ops``: fewer as chains grow, at least 3 below 1,000,000 ops."""
    floor = 1 if ops >= 1_000_000 else min(3, repeats)
    return max(floor, min(repeats, repeats * 10_000 // ops))


def scaling(args: argparse.Namespace, ag: ModuleType) -> list[dict[str, float]]:
    """minitorch_ag's (and NumPy's) us/op for growing chains; repeats shrink as chains grow.

    The "gc off" column repeats the minitorch_ag timing with the cyclic garbage collector
    disabled: where us/op grows with the chain but not without the collector, the growth comes
    from the collector scanning the live tape (reference cycles or many tracked containers).
    """
    x0 = make_x0()
    lengths = [n for n in SCALING_OPS if n <= args.max_ops]
    print(f"\n== 2. Scaling: minitorch_ag diff/grad on longer chains (max {args.max_ops:,} ops) ==")
    header = (
        f"{'ops':>10}{'repeats':>9}{'best s':>10}{'median s':>10}{'us/op':>8}"
        f"{'gc off us/op':>14}{'NumPy us/op':>13}{'x NumPy':>9}"
    )
    print(header)
    print("-" * len(header))
    out = []
    for ops in lengths:
        steps = steps_for(ops)
        real = n_ops(steps)
        repeats = scaling_repeats(args.repeats, ops)
        warmup = 1 if ops <= 100_000 else 0
        fn = make_ag_tape(ag, x0, steps)
        t, no_gc, base = time_interleaved(
            [fn, fn, make_numpy(x0, steps)],
            repeats,
            args.min_sample,
            warmup,
            gc_off=[False, True, False],
        )
        us = t.best / real * 1e6
        no_gc_us = no_gc.best / real * 1e6
        base_us = base.best / real * 1e6
        print(
            f"{real:>10,}{repeats:>9}{t.best:>10.3f}{t.median:>10.3f}{us:>8.2f}"
            f"{no_gc_us:>14.2f}{base_us:>13.2f}{us / base_us:>9.2f}"
        )
        out.append(
            {
                "ops": real,
                "repeats": repeats,
                "best_s": t.best,
                "median_s": t.median,
                "us_per_op": us,
                "gc_off_us_per_op": no_gc_us,
                "numpy_us_per_op": base_us,
            }
        )
        sys.stdout.flush()
    print("(us/op = best time / ops; 'gc off' = same with the cyclic garbage collector disabled)")
    return out


# ----------------------------------------------------------------------------------------------
# Part 3: memory per recorded node
# ----------------------------------------------------------------------------------------------


def traced_by_domain(snapshot: tracemalloc.Snapshot) -> dict[int, int]:
    """Bytes held in a tracemalloc snapshot, by allocation domain (NumPy data has its own)."""
    sizes: dict[int, int] = {}
    for trace in snapshot.traces:
        sizes[trace.domain] = sizes.get(trace.domain, 0) + trace.size
    return sizes


def measure_memory(record: Callable[[], Any], nodes: int) -> dict[str, float]:
    """Bytes per node held by what ``record()`` returns, measured with tracemalloc.

    ``record`` builds the structure (a tape, saved arrays) and returns it; it is held alive while
    a snapshot is taken, so temporaries freed during recording do not count. NumPy reports its
    array data in its own tracemalloc domain, which gives the "array data" share exactly.
    """
    gc.collect()
    tracemalloc.start()
    before = traced_by_domain(tracemalloc.take_snapshot())
    held = record()
    gc.collect()
    after = traced_by_domain(tracemalloc.take_snapshot())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del held
    data_domain = np.lib.tracemalloc_domain
    total = sum(after.values()) - sum(before.values())
    data = after.get(data_domain, 0) - before.get(data_domain, 0)
    return {
        "nodes": nodes,
        "bytes_per_node": total / nodes,
        "data_bytes_per_node": data / nodes,
        "non_data_bytes_per_node": (total - data) / nodes,
        "minus_64_bytes_per_node": total / nodes - DATA_BYTES,
        "peak_bytes_per_node": peak / nodes,
    }


def numpy_saved(x0: np.ndarray, steps: int) -> list[np.ndarray]:
    """What the hand-written backward needs: one saved tanh output per step."""
    saved = []
    y = x0
    for _ in range(steps):
        y = np.tanh(y * SCALE + SHIFT)
        saved.append(y)
    return saved


def autograd_recorded(x0: np.ndarray, steps: int) -> Any:
    """HIPS autograd's recorded graph for the chain (its end box, holding all nodes)."""
    tracer = importlib.import_module("autograd.tracer")
    anp = importlib.import_module("autograd.numpy")
    start_node = importlib.import_module("autograd.core").VJPNode.new_root()
    with tracer.trace_stack.new_trace() as trace_id:
        start_box = tracer.new_box(x0, trace_id, start_node)
        return chain(start_box, steps, anp.tanh, anp.sum)


def memory(args: argparse.Namespace, ag: ModuleType | None) -> list[dict[str, Any]]:
    """Print bytes per recorded node for minitorch_ag (and, for scale, NumPy and autograd)."""
    x0 = make_x0()
    steps = steps_for(args.mem_ops)
    nodes = n_ops(steps)
    print(
        f"\n== 3. Memory per recorded node: chain of {nodes:,} ops held before grad "
        f"(tracemalloc; array data = {DATA_BYTES} bytes per float32[{SIZE}] value) =="
    )
    header = (
        f"{'implementation':<26}{'bytes/node':>12}{'minus 64 B':>12}{'data B':>9}"
        f"{'non-data B':>12}{'peak B':>9}"
    )
    print(header)
    print("-" * len(header))
    cases: list[tuple[str, Callable[[], Any]]] = []
    if ag is not None:
        x = ag.Param(x0.copy())
        cases.append(
            ("minitorch_ag tape", lambda: ag.diff(lambda: chain(x, steps, np.tanh, np.sum)))
        )
    cases.append(("NumPy saved (floor)", lambda: numpy_saved(x0, steps)))
    if try_import("autograd")[0] is not None:
        cases.append(("HIPS autograd graph", lambda: autograd_recorded(x0, steps)))
    out = []
    for label, record in cases:
        m = measure_memory(record, nodes)
        print(
            f"{label:<26}{m['bytes_per_node']:>12.1f}{m['minus_64_bytes_per_node']:>12.1f}"
            f"{m['data_bytes_per_node']:>9.1f}{m['non_data_bytes_per_node']:>12.1f}"
            f"{m['peak_bytes_per_node']:>9.1f}"
        )
        out.append({"implementation": label, **m})
    print(
        "(per primitive of the chain; 'data B' is NumPy's own tracemalloc domain, "
        "'non-data B' is everything else: node objects, array headers, lists)"
    )
    return out


# ----------------------------------------------------------------------------------------------
# Profile (optional)
# ----------------------------------------------------------------------------------------------


def profile(ag: ModuleType, top: int = 20) -> None:
    """cProfile minitorch_ag's diff/grad on the workload; print the top functions by self time."""
    fn = make_ag_tape(ag, make_x0(), STEPS)
    fn()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(20):
        fn()
    prof.disable()
    print(
        f"\n== Profile: minitorch_ag diff/grad, 20 runs of {n_ops(STEPS)} ops, "
        f"top {top} by self time =="
    )
    pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(top)


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------


def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux), else platform's guess."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_version(name: str) -> str | None:
    """Installed version of a package, its ``__version__``, or None when it is not importable."""
    mod, _ = try_import(name)
    if mod is None:
        return None
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return getattr(mod, "__version__", "unknown")


def environment() -> dict[str, str]:
    """Versions and machine, recorded with the numbers."""
    env = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": cpu_name(),
    }
    for name in ("torch", "autograd", "minitorch_ag"):
        version = package_version(name)
        if version is not None:
            env[name] = version
    return env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see ``--help``)."""
    p = argparse.ArgumentParser(
        description="Per-primitive overhead of minitorch_ag (forward+backward) on a chain of "
        "small-array ops, against hand-written NumPy, HIPS autograd and PyTorch CPU."
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="fewer repeats, shorter samples, chains up to 100,000 ops",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed samples per implementation (default 20, 5 with --quick)",
    )
    p.add_argument(
        "--max-ops",
        type=int,
        default=None,
        help="longest chain in the scaling part (default 1,000,000; 100,000 with --quick)",
    )
    p.add_argument(
        "--mem-ops",
        type=int,
        default=30_000,
        help="chain length for the memory part (default 30,000)",
    )
    p.add_argument(
        "--min-sample",
        type=float,
        default=None,
        help="seconds each timed sample lasts at least (default 0.05, 0.02 with --quick)",
    )
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    p.add_argument("--json", metavar="PATH", help="also write all numbers as JSON to PATH")
    p.add_argument(
        "--profile",
        action="store_true",
        help="also print a cProfile of minitorch_ag's diff/grad on the workload",
    )
    p.add_argument(
        "--baselines-only",
        action="store_true",
        help="run without minitorch_ag (NumPy, autograd, PyTorch only)",
    )
    args = p.parse_args(argv)
    if args.repeats is None:
        args.repeats = 5 if args.quick else 20
    if args.max_ops is None:
        args.max_ops = 100_000 if args.quick else 1_000_000
    if args.min_sample is None:
        args.min_sample = 0.02 if args.quick else 0.05
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the three parts, print the tables, optionally write JSON."""
    args = parse_args(argv)
    ag = None
    if not args.baselines_only:
        ag, why = try_import("minitorch_ag")
        if ag is None:
            print(
                f"error: cannot import minitorch_ag ({why}).\n"
                "Run from the repository root with PYTHONPATH=. (or pip install -e .), "
                "or pass --baselines-only.",
                file=sys.stderr,
            )
            return 1
    env = environment()
    print("environment: " + ", ".join(f"{k} {v}" for k, v in env.items()))
    rows = overhead_rows(args, ag)
    per_op = print_overhead(rows)
    summary = headline(rows)
    scale = scaling(args, ag) if ag is not None else []
    mem = memory(args, ag)
    if args.profile and ag is not None:
        profile(ag)
    if args.json:
        result = {
            "environment": env,
            "workload": {"size": SIZE, "steps": STEPS, "ops": n_ops(STEPS), "dtype": "float32"},
            "overhead": [
                {
                    "implementation": r.name,
                    "us_per_op": per_op.get(r.name),
                    "grad_ok": r.grad_ok,
                    "grad_dtype": r.grad_dtype,
                    "note": r.note,
                    "timing": asdict(r.timing) if r.timing else None,
                }
                for r in rows
            ],
            "summary": summary,
            "scaling": scale,
            "memory": mem,
            "args": vars(args),
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
