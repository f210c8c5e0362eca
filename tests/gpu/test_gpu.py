"""The GPU checks on real CuPy: gradient tables, layers, training, transfers, reproducibility.

Skipped as a whole, with the reason, where CuPy is not installed or sees no usable GPU, so that
CI without a GPU stays green (``test_simulated.py`` runs the same checks on the CPU against a
stand-in for CuPy). Run it on a machine with an NVIDIA GPU::

    pip install -e ".[gpu]"
    python -m pytest -q tests/gpu/test_gpu.py

Every result computed on the GPU is compared with the CPU's (float32 to ~1e-4 relative, float64
to ~1e-9; reductions on the GPU may sum in another order).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import minitorch_ag as ag

cupy = pytest.importorskip("cupy", reason="CuPy is not installed (pip install -e '.[gpu]')")
if not ag.gpu_available():
    pytest.skip("CuPy is installed but sees no usable GPU", allow_module_level=True)

from minitorch_ag.datasets import minibatch  # noqa: E402
from minitorch_ag.nn import BatchNorm, Embedding, Linear, init  # noqa: E402

from . import _compare as C  # noqa: E402

# A sample of each table (every third case by default): the whole tables take long on a GPU,
# where each new kernel is compiled on first use, and the stand-in already runs every case on
# each commit. MINITORCH_AG_GPU_EVERY=1 runs every case (benchmarks/gpu_session.sh does).
EVERY = int(os.environ.get("MINITORCH_AG_GPU_EVERY", "3"))


def _dev(x):
    return isinstance(x, cupy.ndarray)


@pytest.mark.parametrize(("c", "dtype"), C.case_params(EVERY))
def test_rule_gradients_on_gpu_match_cpu(c, dtype):
    C.compare_case(c, dtype, "gpu")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", C.LAYERS)
def test_layer_on_gpu_matches_cpu(name, dtype):
    C.compare_layer(name, dtype, "gpu")


def test_training_on_gpu_matches_cpu():
    C.compare_training("gpu")


def test_training_step_copies_nothing_to_the_gpu():
    x, y = C.data()
    model = C.mlp()
    ag.to_device(model, "gpu")
    batches = iter(minibatch(x, y, 8, device="gpu"))
    C.train_step(model, *next(batches))
    xb, yb = next(batches)
    with ag.count_transfers() as count:
        C.train_step(model, xb, yb)
    assert count.calls == 0


def test_training_step_synchronises_only_for_the_loss():
    cupyx = pytest.importorskip("cupyx")
    if not hasattr(cupyx, "allow_synchronize"):
        pytest.skip("this CuPy has no cupyx.allow_synchronize (removed after its deprecation)")
    x, y = C.data()
    model = C.mlp()
    ag.to_device(model, "gpu")
    batches = iter(minibatch(x, y, 8, device="gpu"))
    C.train_step(model, *next(batches))
    xb, yb = next(batches)
    cupy.cuda.Stream.null.synchronize()
    with cupyx.allow_synchronize(False):
        loss = C.train_step(model, xb, yb)
    assert _dev(loss)
    float(loss)  # the one read the user asks for


def test_default_device_puts_params_initializers_and_batches_on_the_gpu():
    x, y = C.data()
    with ag.device("gpu"):
        p = ag.Param(np.ones(3))
        w = init.xavier_uniform((3, 2), rng=0)
        bn, emb = BatchNorm(4), Embedding(5, 3, rng=0)
        xb, yb = next(iter(minibatch(x, y, 8)))
    assert _dev(p.value) and _dev(w) and _dev(xb) and _dev(yb)
    assert all(_dev(q.value) for q in ag.params([bn, emb]))
    assert _dev(bn.running_mean) and _dev(bn.running_var)


def test_same_seed_same_weights_and_batches_on_cpu_and_gpu():
    host = C.mlp(seed=7)
    with ag.device("gpu"):
        dev = C.mlp(seed=7)
    for ph, pd in zip(ag.params(host), ag.params(dev), strict=True):
        assert _dev(pd.value)
        np.testing.assert_array_equal(cupy.asnumpy(pd.value), ph.value)
    x, y = C.data()
    for (hx, hy), (dx, dy) in zip(minibatch(x, y, 8, shuffle=True, rng=5),
                                  minibatch(x, y, 8, shuffle=True, rng=5, device="gpu"),
                                  strict=True):
        np.testing.assert_array_equal(cupy.asnumpy(dx), hx)
        np.testing.assert_array_equal(cupy.asnumpy(dy), hy)


def test_to_device_moves_a_model_and_its_optimizer_state_and_back():
    model = Linear(4, 3, rng=0)
    x = np.ones((2, 4), np.float32)
    tape = ag.diff(lambda: np.sum(model(x) ** 2))
    from minitorch_ag.optim import Adam, update_  # noqa: PLC0415

    for p in ag.params(model):
        update_(p, ag.grad(tape, p), Adam())
    ag.to_device(model, "gpu")
    assert _dev(model.weight.value) and _dev(model.weight.opt.m) and _dev(model.weight.opt.v)
    ag.to_device(model, "cpu")
    assert type(model.weight.value) is np.ndarray and type(model.weight.opt.m) is np.ndarray


def test_second_gpu_when_present():
    if cupy.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("one GPU only: gpu:1 is not checked")
    a = ag.to_device(np.ones(3), "gpu:1")
    assert a.device.id == 1
