"""Forward against reverse mode, and checkpointing: what each costs here.

1. ``jacobian``: the Jacobian of a wide function (``R^n -> R^m``, ``n >> m``:
   ``tanh(A x)``) and of a tall one (``R^m -> R^n``: ``tanh(B x)``), built by forward mode (one
   sweep per input) and by reverse mode (one per output), beside ``torch.func.jacfwd`` and
   ``jacrev``. Reverse should win on the wide function, forward on the tall one.
2. ``hvp``: a Hessian-vector product of an MLP loss with respect to its flat weight vector,
   forward over reverse (``ag.hvp(f)``, one forward sweep through the recorded gradient)
   against reverse over reverse (``ag.hvp(f, mode="rev")``), and the gradient alone.
3. ``checkpoint``: a deep tanh MLP (float32, layers written out as ``tanh(h @ w + b)``), one
   training gradient with and without ``ag.checkpoint`` around every two layers: peak traced
   memory (``tracemalloc``, which sees NumPy's arrays) and time.

Prints the best of ``--repeats`` timed calls. Nothing here asserts on timings; the quick mode
(``--quick``: tiny sizes, no PyTorch rows) checks that the two modes agree and exits non-zero
when they do not.

    PYTHONPATH=. python benchmarks/jacobians.py [--threads 1] [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="BLAS and PyTorch threads")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    return ap.parse_args(argv)


ARGS = _arguments()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

import numpy as np  # noqa: E402

import minitorch_ag as ag  # noqa: E402

torch = None  # the comparison rows need PyTorch; the quick mode leaves them out
if not ARGS.quick:
    try:
        import torch  # noqa: E402

        torch.set_num_threads(ARGS.threads)
    except ImportError:
        torch = None


def best(fn, repeats: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def row(label: str, seconds: float, extra: str = "") -> None:
    print(f"  {label:<42} {seconds * 1e3:10.2f} ms  {extra}")


def jacobians(n: int, m: int, repeats: int) -> bool:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, n)) / np.sqrt(n), rng.standard_normal((n, m)) / np.sqrt(m)
    cases = {"wide": (lambda x: np.tanh(a @ x), n, a),
             "tall": (lambda x: np.tanh(b @ x), m, b)}
    agree = True
    for name, (f, size, mat) in cases.items():
        x = rng.standard_normal(size)
        out = np.shape(f(x))[0]
        print(f"jacobian, {name}: R^{size} -> R^{out}")
        fwd = ag.jacobian(f, mode="fwd")(x)
        rev = ag.jacobian(f, mode="rev")(x)
        ok = np.allclose(fwd, rev, rtol=1e-12, atol=1e-12)
        agree &= ok
        row("minitorch_ag forward (one sweep per input)",
            best(lambda f=f, x=x: ag.jacobian(f, mode="fwd")(x), repeats))
        row("minitorch_ag reverse (one sweep per output)",
            best(lambda f=f, x=x: ag.jacobian(f, mode="rev")(x), repeats),
            "" if ok else "MODES DISAGREE")
        row("minitorch_ag auto", best(lambda f=f, x=x: ag.jacobian(f)(x), repeats))
        if torch is not None:
            tm, tx = torch.tensor(mat), torch.tensor(x)
            tf = lambda v, tm=tm: torch.tanh(tm @ v)  # noqa: E731
            row("torch.func.jacfwd (vmapped)",
                best(lambda tf=tf, tx=tx: torch.func.jacfwd(tf)(tx), repeats))
            row("torch.func.jacrev (vmapped)",
                best(lambda tf=tf, tx=tx: torch.func.jacrev(tf)(tx), repeats))
    return agree


def hvps(width: int, depth: int, batch: int, repeats: int) -> bool:
    rng = np.random.default_rng(1)
    shapes = [(width, width)] * depth
    sizes = [int(np.prod(s)) for s in shapes]
    x = rng.standard_normal((batch, width))
    w = rng.standard_normal(sum(sizes)) / np.sqrt(width)
    v = rng.standard_normal(w.size)

    def loss(w):
        h, start = x, 0
        for s, k in zip(shapes, sizes, strict=True):
            h = np.tanh(h @ np.reshape(w[start:start + k], s))
            start += k
        return np.sum(h ** 2) / batch

    print(f"hvp: MLP loss, {depth} layers of {width}, batch {batch}: {w.size} weights")
    fwd = ag.hvp(loss)(w, v)
    rev = ag.hvp(loss, mode="rev")(w, v)
    ok = np.allclose(fwd, rev, rtol=1e-10, atol=1e-12)
    row("gradient alone", best(lambda: ag.grad(loss)(w), repeats))
    row("hvp forward over reverse", best(lambda: ag.hvp(loss)(w, v), repeats))
    row("hvp reverse over reverse", best(lambda: ag.hvp(loss, mode="rev")(w, v), repeats),
        "" if ok else "MODES DISAGREE")
    return ok


def checkpointing(width: int, depth: int, batch: int, repeats: int) -> bool:
    rng = np.random.default_rng(2)
    weights = [(ag.Param((rng.standard_normal((width, width)) / np.sqrt(width))
                         .astype(np.float32)), ag.Param(np.zeros(width, np.float32)))
               for _ in range(depth)]
    params = [p for pair in weights for p in pair]

    def block(h, pairs):  # two layers, written out: three recorded arrays per layer
        for w, b in pairs:
            h = np.tanh(h @ w + b)
        return h

    pieces = [weights[i:i + 2] for i in range(0, depth, 2)]
    plain = [lambda h, p=p: block(h, p) for p in pieces]
    saved = [ag.checkpoint(lambda h, p=p: block(h, p)) for p in pieces]
    x = rng.standard_normal((batch, width)).astype(np.float32)

    def step(fs):
        def loss():
            h = x
            for fn in fs:
                h = fn(h)
            return np.sum(h * h)
        tape = ag.diff(loss)
        return [ag.grad(tape, p) for p in params]

    def memory(fs) -> tuple[float, float]:
        """MB held once the forward pass is recorded, and the peak of the whole step."""
        tracemalloc.start()

        def loss():
            h = x
            for fn in fs:
                h = fn(h)
            return np.sum(h * h)
        tape = ag.diff(loss)
        held = tracemalloc.get_traced_memory()[0]
        [ag.grad(tape, p) for p in params]
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return held / 2 ** 20, top / 2 ** 20

    print(f"checkpoint: MLP of {depth} tanh layers of {width}, batch {batch}, float32, "
          f"a checkpoint every 2 layers")
    a, b = step(plain), step(saved)
    ok = all(np.allclose(u, v, rtol=1e-5, atol=1e-6) for u, v in zip(a, b, strict=True))
    t_plain, t_ckpt = best(lambda: step(plain), repeats), best(lambda: step(saved), repeats)
    (h_plain, m_plain), (h_ckpt, m_ckpt) = memory(plain), memory(saved)
    grads = sum(p.value.nbytes for p in params) / 2 ** 20
    print(f"  (the gradients alone take {grads:.1f} MB of any peak)")
    row("without checkpoint", t_plain, f"after forward {h_plain:7.1f} MB, peak {m_plain:7.1f} MB")
    row("with checkpoints", t_ckpt, f"after forward {h_ckpt:7.1f} MB, peak {m_ckpt:7.1f} MB"
        f"  (time x{t_ckpt / t_plain:.2f}, peak x{m_ckpt / m_plain:.2f})"
        + ("" if ok else "  GRADIENTS DISAGREE"))
    return ok


def main() -> int:
    r = 1 if ARGS.quick else ARGS.repeats
    ok = jacobians(*((20, 3) if ARGS.quick else (1000, 10)), r)
    ok &= hvps(*((8, 2, 4) if ARGS.quick else (128, 4, 64)), r)
    ok &= checkpointing(*((16, 4, 8) if ARGS.quick else (256, 32, 1024)), r)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
