"""Forward + backward of LeNet's convolution and pooling layers, beside PyTorch CPU.

conv 20 5x5 on a 64x1x28x28 batch, max pool 2, conv 50 5x5, max pool 2, then the sum of
squares as the loss; float32; the same thread count for both. Prints the median time of each
and the ratio.

    PYTHONPATH=. python benchmarks/conv.py [--threads N] [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def _median_ms(fn, repeat: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

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

    results = {"minitorch_ag": _median_ms(ours, args.repeat)}
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

        results["torch"] = _median_ms(theirs, args.repeat)
        # same numbers, or the comparison means nothing
        for g, t in zip(ours(), theirs(), strict=True):
            np.testing.assert_allclose(g, t.numpy(), rtol=2e-3, atol=2e-3)
    print(f"LeNet conv/pool forward+backward, float32, {args.threads} threads, "
          f"median of {args.repeat}")
    for name, ms in results.items():
        print(f"  {name:13s} {ms:8.2f} ms")
    if "torch" in results:
        print(f"  ratio         {results['minitorch_ag'] / results['torch']:8.2f}x PyTorch")


if __name__ == "__main__":
    main()
