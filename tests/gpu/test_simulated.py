"""The device checks on the CPU, with ``fake_cupy`` standing in for CuPy.

Everything ``test_gpu.py`` checks on a real GPU is run here against the stand-in, which
refuses host arrays where CuPy does and records every copy and synchronising read. It proves
the device logic (what moves, what stays, where results are allocated, how many transfers a
training step makes); it cannot prove CuPy's numerics or its coverage of NumPy's functions,
which only ``test_gpu.py`` on a GPU can.
"""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag.datasets import minibatch
from minitorch_ag.nn import BatchNorm, Embedding, Linear, init

from . import _compare as C
from . import fake_cupy


@pytest.fixture(autouse=True)
def stand_in():
    """Every test here runs with the stand-in installed as ``cupy``."""
    with fake_cupy.installed() as cupy:
        yield cupy


def _dev(x):
    return type(x) is fake_cupy.ndarray


# -- the gradient tables, the layers, a training run -------------------------------------------


@pytest.mark.parametrize(("c", "dtype"), C.case_params(real_cupy=False))
def test_rule_gradients_on_device_match_host(c, dtype):
    C.compare_case(c, dtype, "gpu")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", C.LAYERS)
def test_layer_on_device_matches_host(name, dtype):
    C.compare_layer(name, dtype, "gpu")


def test_training_on_device_matches_host():
    C.compare_training("gpu")


# -- transfers in one training step ------------------------------------------------------------


def _one_step():
    x, y = C.data()
    model = C.mlp()
    ag.to_device(model, "gpu")
    batches = iter(minibatch(x, y, 8, device="gpu"))
    C.train_step(model, *next(batches))  # the first step creates Adam's state
    xb, yb = next(batches)
    fake_cupy.LOG.reset()
    with ag.count_transfers() as count:
        loss = C.train_step(model, xb, yb)
        h2d_in_step = list(fake_cupy.LOG.host_to_device)
        d2h_in_step = list(fake_cupy.LOG.device_to_host)
        float(loss)  # the value the user asks for: one read
    return count, h2d_in_step, d2h_in_step


def test_training_step_copies_nothing_to_the_device():
    count, h2d, _ = _one_step()
    assert h2d == [] and count.calls == 0


def test_training_step_reads_nothing_back_but_the_loss():
    _, _, d2h = _one_step()
    assert d2h == []


def test_minibatch_moves_exactly_the_batch():
    x, y = C.data()
    with ag.count_transfers() as count:
        xb, yb = next(iter(minibatch(x, y, 8, device="gpu")))
    assert _dev(xb) and _dev(yb)
    assert (count.calls, count.host_to_device, count.device_to_host) == (2, 2, 0)
    assert count.nbytes == xb.nbytes + yb.nbytes


def test_count_transfers_sees_both_directions():
    a = np.ones((3, 4), np.float32)
    with ag.count_transfers() as count:
        d = ag.to_device(a, "gpu")
        ag.to_device(d, "gpu")  # already there: a call, no copy
        ag.to_device(d, "cpu")
    assert (count.calls, count.host_to_device, count.device_to_host) == (3, 1, 1)
    assert count.nbytes == 2 * a.nbytes


# -- the default device ------------------------------------------------------------------------


def test_param_follows_the_default_device():
    with ag.device("gpu"):
        p = ag.Param(np.ones(3))
        q = ag.Param([1.0, 2.0])
        n = ag.Param(2.5)
    assert _dev(p.value) and _dev(q.value) and n.value == 2.5
    d = ag.to_device(np.ones(2), "gpu")
    assert ag.Param(d).value is d  # a device value stays where it is on a CPU default
    assert type(ag.Param(np.ones(2)).value) is np.ndarray


def test_initializers_layers_and_buffers_follow_the_default_device():
    with ag.device("gpu"):
        assert all(_dev(f((3, 2), rng=0)) for f in (init.xavier_uniform, init.kaiming_normal,
                                                     init.gaussian, init.zeros, init.ones))
        bn, emb = BatchNorm(4), Embedding(5, 3, rng=0)
    assert all(_dev(p.value) for p in ag.params([bn, emb]))
    assert _dev(bn.running_mean) and _dev(bn.running_var)


def test_layer_with_an_initializer_on_a_gpu_default():
    with ag.device("gpu"):
        layer = Linear(4, 3, init=init.xavier_uniform, rng=0)
    assert _dev(layer.weight.value)


def test_minibatch_device_is_fixed_when_made():
    x, y = C.data()
    with ag.device("gpu"):
        batches = minibatch(x, y, 8)
    assert batches.device == "gpu:0"
    xb, yb = next(iter(batches))
    assert _dev(xb) and _dev(yb)
    assert type(next(iter(minibatch(x, y, 8)))[0]) is np.ndarray


# -- reproducibility across devices ------------------------------------------------------------


def test_same_seed_same_weights_and_batches_on_both_devices():
    host = C.mlp(seed=7)
    with ag.device("gpu"):
        dev = C.mlp(seed=7)
    for ph, pd in zip(ag.params(host), ag.params(dev), strict=True):
        assert _dev(pd.value)
        np.testing.assert_array_equal(ag.to_device(pd.value, "cpu"), ph.value)
    x, y = C.data()
    for (hx, hy), (dx, dy) in zip(minibatch(x, y, 8, shuffle=True, rng=5),
                                  minibatch(x, y, 8, shuffle=True, rng=5, device="gpu"),
                                  strict=True):
        np.testing.assert_array_equal(ag.to_device(dx, "cpu"), hx)
        np.testing.assert_array_equal(ag.to_device(dy, "cpu"), hy)


def test_model_moved_there_and_back_is_unchanged():
    model = C.mlp()
    before = [p.value.copy() for p in ag.params(model)]
    ag.to_device(ag.to_device(model, "gpu"), "cpu")
    for p, b in zip(ag.params(model), before, strict=True):
        assert type(p.value) is np.ndarray
        np.testing.assert_array_equal(p.value, b)


def test_clipping_decides_on_the_device_without_reading_back(stand_in):
    from minitorch_ag.optim import SGD, clip_global_norm, clip_norm, update_  # noqa: PLC0415

    g = stand_in.asarray(np.array([3.0, 4.0]))
    small = stand_in.asarray(np.array([0.3, 0.4]))
    fake_cupy.LOG.reset()
    clipped = clip_norm(g, 1.0)
    unclipped = clip_norm(small, 1.0)
    both, norm = clip_global_norm([g, None, small], 1.0)
    p = ag.to_device(ag.Param(np.zeros(2)), "gpu")
    update_(p, g, SGD(lr=1.0, gclip=1.0))
    assert fake_cupy.LOG.device_to_host == []
    assert _dev(clipped) and _dev(unclipped) and _dev(norm) and both[1] is None
    np.testing.assert_allclose(stand_in.asnumpy(clipped), [0.6, 0.8])
    np.testing.assert_allclose(stand_in.asnumpy(unclipped), [0.3, 0.4])
    np.testing.assert_allclose(float(norm), np.hypot(np.hypot(3, 4), 0.5))
    np.testing.assert_allclose(stand_in.asnumpy(p.value), [-0.6, -0.8])


def test_every_cupy_gap_names_a_case():
    """The table of what CuPy cannot run stays in step with the gradient tables."""
    keys = {f"{t}:{c.name}" for t, table in C.TABLES.items() for c in table}
    for name in C.CUPY_GAPS:
        stem = name.rstrip("*")
        assert any(k == stem or (name.endswith("*") and k.startswith(stem + "-"))
                   for k in keys), f"CUPY_GAPS entry {name!r} names no case"


def test_stand_in_refuses_what_cupy_lacks(stand_in):
    """What a real GPU showed CuPy lacks is refused by the stand-in too (see fake_cupy)."""
    x = stand_in.asarray(np.arange(6.0).reshape(2, 3))
    with pytest.raises(TypeError, match="where"):
        np.mean(x, axis=0, where=x > 1)
    with pytest.raises(TypeError, match="no implementation"):
        np.linalg.vector_norm(x)
    with pytest.raises(TypeError, match="kind"):
        np.argpartition(x, 1, kind="introselect")


def test_stand_in_keeps_the_first_of_repeated_writes(stand_in):
    """CuPy does not promise NumPy's order (the last write wins) for repeated positions."""
    x = stand_in.asarray(np.zeros(3))
    x[np.array([0, 0])] = stand_in.asarray(np.array([1.0, 2.0]))
    assert float(x[0]) == 1.0
