"""The model, data and training steps shared by the MPI workers and the single-process
references of test_distributed.py (float64, so that the comparisons can be tight)."""

import numpy as np

from minitorch_ag import Param
from minitorch_ag.datasets import minibatch
from minitorch_ag.nn import relu

N, D, HIDDEN, VOCAB, BATCH, STEPS = 96, 6, 8, 50, 16, 30


class Net:
    """An embedding of a token id (sparse gradients) joined to features, then an MLP."""

    def __init__(self, seed, hidden=HIDDEN):
        rng = np.random.default_rng(seed)
        self.emb = Param(0.1 * rng.standard_normal((VOCAB, 3)))
        self.w1 = Param(0.3 * rng.standard_normal((D + 3, hidden)))
        self.b1 = Param(np.zeros(hidden))
        self.w2 = Param(0.3 * rng.standard_normal((hidden, 1)))

    def __call__(self, x, ids):
        h = relu(np.concatenate([x, self.emb[ids]], axis=1) @ self.w1 + self.b1)
        return (h @ self.w2)[:, 0]


def data():
    rng = np.random.default_rng(42)
    x = rng.standard_normal((N, D))
    ids = rng.integers(0, VOCAB, size=N)
    y = np.sin(x.sum(axis=1)) + 0.1 * ids / VOCAB
    return np.concatenate([x, ids[:, None].astype(np.float64)], axis=1), y


def batches(device="cpu"):
    """The global batches of the run (shuffled, seed 3): every rank and the references."""
    xy, y = data()
    return minibatch(xy, y, BATCH, shuffle=True, rng=3, device=device)


def loss(model, xb, yb):
    x, ids = xb[:, :D], xb[:, D].astype(np.int64)
    return np.mean((model(x, ids) - yb) ** 2)
