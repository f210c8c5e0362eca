"""Training steps on the GPU through CuPy, beside PyTorch CUDA in the same run.

Three models, float32, one Adam step each (forward, backward, update): an MLP (784-256-10,
batch 128), LeNet (conv 20 5x5, pool, conv 50 5x5, pool, 500, 10; batch 64) and an LSTM
language model (64 symbols, embedding 64, hidden 256, 32 steps, batch 32). Both frameworks
start from the same weights and see the same batch; the losses of the first step are checked
to agree before anything is timed. Timing synchronises the device after each step and runs the
two frameworks alternately; it prints the fastest and median step of each and the ratios.

It then measures where the time goes: the host time per step (issuing the work without waiting
for the device: when it is about the whole step, the host is the bound), the CUDA kernels each
framework runs per step (counted with PyTorch's CUPTI-based profiler, which sees every kernel of
the process, CuPy's included), with ``--profile`` the kernels that take the most device time,
and the time per primitive of a chain of tiny operations (where launch and framework overheads
are all there is).

    PYTHONPATH=. python benchmarks/gpu.py [--repeat R] [--models mlp,lenet,lstm] [--profile]
    PYTHONPATH=. python benchmarks/gpu.py --device cpu      # the same on the CPU (a dry run)

Needs CuPy with a usable GPU and PyTorch built with CUDA; without them it says which is missing
and exits with status 2.
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
from minitorch_ag.nn import LSTM, Chain, Conv2d, Embedding, Flatten, Linear, MaxPool2d
from minitorch_ag.nn import functional as F
from minitorch_ag.optim import Adam, update_


def missing_requirements(device: str) -> list[str]:
    """What this machine lacks for the benchmark on ``device`` (empty when nothing)."""
    missing = []
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        return ["PyTorch (pip install torch)"]
    if device == "gpu":
        try:
            import cupy  # noqa: F401, PLC0415
        except ImportError:
            missing.append("CuPy (pip install -e '.[gpu]')")
        else:
            if not ag.gpu_available():
                missing.append("a GPU that CuPy can use (CuPy sees none)")
        if not torch.cuda.is_available():
            missing.append(f"PyTorch with CUDA (this torch {torch.__version__} has no usable "
                           f"CUDA device)")
    return missing


# -- the models, ours and PyTorch's with the same weights -----------------------------------------


class LanguageModel:
    """Embedding, LSTM, linear read-out: the next symbol's scores at every step."""

    def __init__(self, vocab: int, embed: int, hidden: int) -> None:
        self.embed = Embedding(vocab, embed, rng=0)
        self.lstm = LSTM(embed, hidden, rng=1)
        self.out = Linear(hidden, vocab, rng=2)

    def __call__(self, ids: Any) -> Any:
        h, _ = self.lstm(self.embed(ids))
        return self.out(h)


def make_models(torch: Any) -> dict[str, tuple[Any, Any, Callable, Callable, tuple]]:
    """``{name: (ours, theirs, our_loss, their_loss, (x, y) host arrays)}``."""
    nn, tf = torch.nn, torch.nn.functional
    rng = np.random.default_rng(0)
    out = {}

    mlp = Chain(Linear(784, 256, activation=F.relu, rng=0), Linear(256, 10, rng=1))
    tmlp = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    x = rng.standard_normal((128, 784)).astype(np.float32)
    y = rng.integers(0, 10, 128)
    out["mlp"] = (mlp, tmlp, lambda m, a, b: F.cross_entropy(m(a), b),
                  lambda m, a, b: tf.cross_entropy(m(a), b), (x, y))

    lenet = Chain(Conv2d(1, 20, 5, activation=F.relu, rng=0), MaxPool2d(2),
                  Conv2d(20, 50, 5, activation=F.relu, rng=1), MaxPool2d(2), Flatten(),
                  Linear(800, 500, activation=F.relu, rng=2), Linear(500, 10, rng=3))
    tlenet = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5),
                           nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(800, 500),
                           nn.ReLU(), nn.Linear(500, 10))
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    out["lenet"] = (lenet, tlenet, lambda m, a, b: F.cross_entropy(m(a), b),
                    lambda m, a, b: tf.cross_entropy(m(a), b), (x, y))

    lm = LanguageModel(64, 64, 256)

    class TorchLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(64, 64)
            self.lstm = nn.LSTM(64, 256, batch_first=True)
            self.out = nn.Linear(256, 64)

        def forward(self, ids: Any) -> Any:
            return self.out(self.lstm(self.embed(ids))[0])

    ids = rng.integers(0, 64, (32, 33))
    out["lstm"] = (lm, TorchLM(), lambda m, a, b: F.cross_entropy(
        np.reshape(m(a), (-1, 64)), np.reshape(b, (-1,))),
        lambda m, a, b: tf.cross_entropy(m(a).reshape(-1, 64), b.reshape(-1)),
        (ids[:, :-1], ids[:, 1:]))
    for ours, theirs, *_ in out.values():
        copy_weights(torch, ours, theirs)
    return out


def copy_weights(torch: Any, ours: Any, theirs: Any) -> None:
    """PyTorch's parameters set to ours, in order (both list weight before bias, layer by
    layer; PyTorch's LSTM has the same gate order and the same ``*_ih_l0``/``*_hh_l0`` names)."""
    ps = ag.params(ours)
    ts = list(theirs.parameters())
    if isinstance(ours, LanguageModel):  # params() walks attributes in definition order too
        assert len(ps) == len(ts)
    with torch.no_grad():
        for p, t in zip(ps, ts, strict=True):
            if tuple(p.shape) != tuple(t.shape):
                raise ValueError(f"weights differ in shape: ours {p.shape}, PyTorch's {t.shape}")
            t.copy_(torch.from_numpy(np.ascontiguousarray(ag.to_device(p.value, "cpu"))))


# -- steps and timing -----------------------------------------------------------------------------


def our_step(model: Any, loss: Callable, x: Any, y: Any) -> Any:
    tape = ag.diff(lambda: loss(model, x, y))
    for p in ag.params(model):
        update_(p, ag.grad(tape, p), Adam(lr=1e-3))
    return tape


def time_alternately(fns: dict[str, Callable[[], Any]], sync: Callable[[], None],
                     repeat: int) -> dict[str, list[float]]:
    """``{name: [milliseconds per step]}``, each step followed by a device synchronisation."""
    for fn in fns.values():
        fn()
        fn()  # warm up: kernels compiled, Adam's state made, caches filled
    sync()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            sync()
            times[name].append(1e3 * (time.perf_counter() - t))
    return times


def cuda_kernels(torch: Any, step: Callable[[], Any]) -> tuple[Any, list[Any]]:
    """``(step's result, the CUDA kernel events of one call)``, CuPy's included (CUPTI sees
    every kernel of the process)."""
    from torch.profiler import ProfilerActivity, profile  # noqa: PLC0415

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        result = step()
        torch.cuda.synchronize()
    kernels = [e for e in prof.events() if getattr(e, "device_type", None) is not None
               and "CUDA" in str(e.device_type)]
    return result, kernels


def kernel_table(kernels: list[Any], top: int = 12) -> list[str]:
    """The ``top`` kernels by total device time: name, count, microseconds."""
    totals: dict[str, list[float]] = {}
    for e in kernels:
        name = e.name if len(e.name) <= 60 else e.name[:57] + "..."
        t = getattr(e, "device_time", None) or getattr(e, "cuda_time", 0.0) or 0.0
        entry = totals.setdefault(name, [0, 0.0])
        entry[0] += 1
        entry[1] += t
    rows = sorted(totals.items(), key=lambda kv: -kv[1][1])[:top]
    return [f"      {n:5d} x {t:9.1f} us  {name}" for name, (n, t) in rows]


def host_time(fn: Callable[[], Any], sync: Callable[[], None], repeat: int) -> float:
    """Milliseconds per step spent issuing work, with no synchronisation between steps (the
    device catches up at the end): about the synchronised time when the host is the bound."""
    sync()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    issued = time.perf_counter() - t
    sync()
    return 1e3 * issued / repeat


def tiny_chain(device: str, n: int = 300) -> tuple[Callable[[], Any], int]:
    """A chain of ``3 n + 1`` primitives on a 16-element vector (launch-bound on a GPU)."""
    x = ag.Param(ag.to_device(np.linspace(0.1, 1.0, 16, dtype=np.float32), device))

    def f() -> Any:
        y = x
        for _ in range(n):
            y = np.tanh(y * 1.01 + 0.1)
        return np.sum(y)

    def step() -> Any:
        tape = ag.diff(f)
        return ag.grad(tape, x)

    return step, 3 * n + 1


def bench_model(torch: Any, name: str, entry: tuple, device: str, tdev: Any,
                sync: Callable[[], None], repeat: int, profile_kernels: bool = False) -> None:
    """Check the first losses agree, time both frameworks' steps, print the lines of one model."""
    ours, theirs, our_loss, their_loss, (x, y) = entry
    ag.to_device(ours, device)
    theirs.to(tdev)
    dx, dy = ag.to_device(x, device), ag.to_device(y, device)
    tx, ty = torch.from_numpy(x).to(tdev), torch.from_numpy(y).to(tdev)
    topt = torch.optim.Adam(theirs.parameters(), lr=1e-3)
    first_ours = float(ag.value(ag.diff(lambda: our_loss(ours, dx, dy))))
    with torch.no_grad():
        first_theirs = their_loss(theirs, tx, ty).item()
    if not np.isclose(first_ours, first_theirs, rtol=1e-3):
        raise AssertionError(f"{name}: first losses differ: ours {first_ours}, PyTorch's "
                             f"{first_theirs}; the comparison would mean nothing")

    def theirs_step() -> None:
        topt.zero_grad(set_to_none=True)
        their_loss(theirs, tx, ty).backward()
        topt.step()

    def ours_step() -> Any:
        return our_step(ours, our_loss, dx, dy)

    times = time_alternately({"minitorch_ag": ours_step, "torch": theirs_step}, sync, repeat)
    for fw, ts in times.items():
        print(f"  {name:6s} {fw:13s} {min(ts):7.2f} ms {statistics.median(ts):7.2f} ms")
    ratio_fast = min(times["minitorch_ag"]) / min(times["torch"])
    ratio_med = statistics.median(times["minitorch_ag"]) / statistics.median(times["torch"])
    print(f"  {name:6s} {'ratio':13s} {ratio_fast:8.2f} x {ratio_med:8.2f} x  (PyTorch = 1)")
    for fw, fn in (("minitorch_ag", ours_step), ("torch", theirs_step)):
        print(f"  {name:6s} {fw:13s} host time {host_time(fn, sync, repeat):7.2f} ms per step "
              f"(issuing work, unsynchronised)")
    if device == "gpu":
        _, ours_kernels = cuda_kernels(torch, ours_step)
        _, their_kernels = cuda_kernels(torch, theirs_step)
        # Counted on a tape of its own: the training step's tape frees its nodes in the sweep.
        prims = sum(1 for n in ag.nodes(ag.diff(lambda: our_loss(ours, dx, dy)))
                    if n.primitive is not None)
        print(f"  {name:6s} kernels per step: minitorch_ag {len(ours_kernels)} "
              f"({len(ours_kernels) / max(prims, 1):.2f} per recorded primitive; "
              f"{prims} primitives), PyTorch {len(their_kernels)}")
        if profile_kernels:
            for fw, ks in (("minitorch_ag", ours_kernels), ("torch", their_kernels)):
                print(f"    {fw}: the kernels taking the most device time in one step")
                print("\n".join(kernel_table(ks)))
    if profile_kernels:
        print(f"    minitorch_ag: host functions by own time over {repeat} steps")
        print(host_profile(ours_step, repeat))


def host_profile(fn: Callable[[], Any], repeat: int, top: int = 25) -> str:
    """cProfile's table of the ``top`` functions by own time over ``repeat`` calls of ``fn``."""
    import cProfile  # noqa: PLC0415
    import io  # noqa: PLC0415
    import pstats  # noqa: PLC0415

    prof = cProfile.Profile()
    prof.enable()
    for _ in range(repeat):
        fn()
    prof.disable()
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(top)
    return "\n".join(line for line in text.getvalue().splitlines()[6:] if line.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("gpu", "cpu"), default="gpu")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--models", default="mlp,lenet,lstm")
    parser.add_argument("--profile", action="store_true",
                        help="also list the kernels that take the most device time per step")
    args = parser.parse_args()
    missing = missing_requirements(args.device)
    if missing:
        print(f"benchmarks/gpu.py: cannot run on the {args.device}: missing "
              + "; ".join(missing), file=sys.stderr)
        return 2
    import torch  # noqa: PLC0415

    tdev = torch.device("cuda" if args.device == "gpu" else "cpu")
    if args.device == "gpu":
        import cupy  # noqa: PLC0415

        def sync() -> None:
            cupy.cuda.Device().synchronize()
            torch.cuda.synchronize()
    else:
        def sync() -> None:
            return None

    models = make_models(torch)
    print(f"one Adam training step, float32, on the {args.device} "
          f"({torch.cuda.get_device_name() if args.device == 'gpu' else 'host'}), "
          f"{args.repeat} steps each; PyTorch {torch.__version__}")
    print(f"  {'model':6s} {'framework':13s} {'fastest':>10s} {'median':>10s}")
    for name in args.models.split(","):
        bench_model(torch, name, models[name], args.device, tdev, sync, args.repeat,
                    args.profile)
    step, prims = tiny_chain(args.device)
    times = time_alternately({"chain": step}, sync, max(3, args.repeat // 4))
    print(f"  tiny-op chain: {1e3 * min(times['chain']) / prims:.1f} us per primitive "
          f"(forward and backward, {prims} primitives on 16 elements)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
