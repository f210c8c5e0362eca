"""``minibatch``: batch counts, shuffling per epoch, reproducibility, dtype and checks."""

from __future__ import annotations

import numpy as np
import pytest

from minitorch_ag.datasets import minibatch


def data(n=10):
    return np.arange(n * 3, dtype=np.float64).reshape(n, 3), np.arange(n)


def test_batches_in_order_drop_the_partial_one_by_default():
    x, y = data()
    b = minibatch(x, y, 4)
    assert len(b) == 2
    got = [(xb.shape, yb.tolist()) for xb, yb in b]
    assert got == [((4, 3), [0, 1, 2, 3]), ((4, 3), [4, 5, 6, 7])]
    assert len(minibatch(x, y, 4, partial=True)) == 3
    assert [yb.tolist() for _, yb in minibatch(x, y, 4, partial=True)][-1] == [8, 9]


def test_x_only_yields_arrays():
    x, _ = data()
    assert [xb.shape for xb in minibatch(x, batchsize=5)] == [(5, 3), (5, 3)]


def test_shuffle_draws_a_new_permutation_every_epoch_and_is_reproducible():
    x, y = data(50)
    b = minibatch(x, y, 10, shuffle=True, rng=7)
    epoch1 = np.concatenate([yb for _, yb in b])
    epoch2 = np.concatenate([yb for _, yb in b])
    assert sorted(epoch1.tolist()) == list(range(50)) and sorted(epoch2.tolist()) == list(range(50))
    assert not np.array_equal(epoch1, epoch2)
    again = minibatch(x, y, 10, shuffle=True, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in again]), epoch1)
    for xb, yb in minibatch(x, y, 10, shuffle=True, rng=3):
        np.testing.assert_array_equal(xb[:, 0], yb * 3)  # pairs stay together


def test_dtype_casts_inputs_but_not_labels():
    x, y = data()
    xb, yb = next(iter(minibatch(x, y, 2, dtype=np.float32)))
    assert xb.dtype == np.float32 and yb.dtype == y.dtype


def test_device_cpu_keeps_numpy_arrays():
    x, y = data()
    xb, _ = next(iter(minibatch(x, y, 2, device="cpu")))
    assert type(xb) is np.ndarray


def test_bad_arguments_are_named():
    x, y = data()
    with pytest.raises(ValueError, match="same number of samples.*10 and 9"):
        minibatch(x, y[:9], 2)
    with pytest.raises(ValueError, match="batchsize must be a positive integer"):
        minibatch(x, y, 0)
    with pytest.raises(TypeError, match="first \\(sample\\) axis"):
        minibatch(3.0)
    with pytest.raises(ValueError, match="device"):
        next(iter(minibatch(x, y, 2, device="tpu")))
