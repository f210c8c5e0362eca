"""Forward + backward of LeNet's convolution and pooling layers, beside PyTorch CPU.

conv 20 5x5 on a 64x1x28x28 batch, max pool 2, conv 50 5x5, max pool 2, then the sum of
squares as the loss; float32; the same thread count for both (NumPy's BLAS is limited through
the usual environment variables, set before NumPy is imported). The two are timed alternately,
so that load from other processes hits both alike; prints the fastest and the median time of
each and their ratios.

    PYTHONPATH=. python benchmarks/conv.py [--threads N] [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def _time_alternately(fns: dict, repeat: int) -> dict:
    """``{name: [milliseconds per run]}``, the functions run in turn ``repeat`` times."""
    for fn in fns.values():
        fn()  # warm up
    times: dict = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(1e3 * (time.perf_counter() - t))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np

    import minitorch_ag as ag
    from minitorch_ag.nn import functional as F

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    w1 = ag.Param((0.1 * rng.standard_normal((20, 1, 5, 5))).astype(np.float32))
    b1 = ag.Param(np.zeros(20, np.float32))
    w2 = ag.Param((0.1 * rng.standard_normal((50, 20, 5, 5))).astype(np.float32))
    b2 = ag.Param(np.zeros(50, np.float32))

    def loss():
        h = F.max_pool2d(F.conv2d(x, w1, b1), 2)
        h = F.max_pool2d(F.conv2d(h, w2, b2), 2)
        return np.sum(h * h)

    def ours():
        tape = ag.diff(loss)
        return [ag.grad(tape, p) for p in (w1, b1, w2, b2)]

    fns = {"minitorch_ag": ours}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(args.threads)
        tf = torch.nn.functional
        tx = torch.tensor(x)
        tw = [torch.tensor(p.value, requires_grad=True) for p in (w1, b1, w2, b2)]

        def theirs():
            for t in tw:
                t.grad = None
            h = tf.max_pool2d(tf.conv2d(tx, tw[0], tw[1]), 2)
            h = tf.max_pool2d(tf.conv2d(h, tw[2], tw[3]), 2)
            (h * h).sum().backward()
            return [t.grad for t in tw]

        fns["torch"] = theirs
        # the same numbers, or the comparison means nothing
        for g, t in zip(ours(), theirs(), strict=True):
            np.testing.assert_allclose(g, t.numpy(), rtol=2e-3, atol=2e-3)
    times = _time_alternately(fns, args.repeat)
    print(f"LeNet conv/pool forward+backward, float32, {args.threads} thread(s), "
          f"{args.repeat} runs each")
    print(f"  {'':13s} {'fastest':>9s} {'median':>9s}")
    for name, ts in times.items():
        print(f"  {name:13s} {min(ts):6.2f} ms {statistics.median(ts):6.2f} ms")
    if "torch" in times:
        ours_t, torch_t = times["minitorch_ag"], times["torch"]
        print(f"  {'ratio':13s} {min(ours_t) / min(torch_t):7.2f} x "
              f"{statistics.median(ours_t) / statistics.median(torch_t):7.2f} x  (PyTorch = 1)")


if __name__ == "__main__":
    main()
