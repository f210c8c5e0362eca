"""The GPU path of minitorch_ag.distributed: CuPy arrays go through NCCL (cupy.cuda.nccl).

One process is enough to run every NCCL call the package makes (a communicator of one rank:
``allReduce``, ``bcast``, ``allGather``); the packing, the padding of sparse rows, the dtypes
and the device checks are the same code as with N ranks. The checks run twice:

- ``gpu``: on a real GPU with CuPy's NCCL, when CuPy sees one (skipped otherwise). On a GPU
  machine: ``PYTHONPATH=. python3 -m pytest -q -rs tests/distributed/test_nccl.py``;
- ``simulated``: everywhere, on tests/gpu/fake_cupy.py (NumPy behind CuPy's interface, which
  refuses host arrays and logs every read back to the host) with the stand-in for
  ``cupy.cuda.nccl`` of _simgpu.py, which checks the arguments of each call and moves the
  bytes as one rank's NCCL would. (test_distributed.py runs two ranks on it.)
"""

import contextlib

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import distributed as dist
from minitorch_ag.backend import array_module
from minitorch_ag.distributed._collectives import broadcast_params, reduce_on
from minitorch_ag.optim import SGD, update_
from minitorch_ag.sparse import Sparse

from . import _simgpu


@contextlib.contextmanager
def real_gpu():
    if not ag.gpu_available():
        pytest.skip("no GPU (CuPy with a CUDA device) on this machine")
    import cupy

    if not getattr(cupy.cuda, "nccl_enabled", True):
        pytest.skip("this CuPy has no NCCL")
    yield cupy, None


@pytest.fixture(params=["simulated", "gpu"])
def gpu(request):
    """(cupy, transfer log or None): the simulated GPU, or the real one."""
    world = dist.init()
    assert world.size == 1, "run these on one process"
    world.nccl = None  # a fresh communicator for each kind of GPU
    with (_simgpu.simulated_gpu() if request.param == "simulated" else real_gpu()) as found:
        yield found
    world.nccl = None


def _host(x):
    return x.get() if hasattr(x, "get") else np.asarray(x)


# ----------------------------------------------------------------------------------------
# The checks
# ----------------------------------------------------------------------------------------


def test_gradients_are_packed_per_dtype_and_reduced_through_nccl(gpu):
    cp, log = gpu
    w = dist.world()
    rng = np.random.default_rng(0)
    host = [rng.standard_normal((5, 3)).astype(np.float32),
            rng.standard_normal(4).astype(np.float32), rng.standard_normal((2, 2))]
    rows = rng.standard_normal((3, 3)).astype(np.float32)
    dense_sparse = Sparse((30, 3), np.array([2, 5, 2]), rows).to_dense()
    for fuse in (True, False):
        grads = [cp.asarray(h) for h in host]
        grads.append(Sparse((30, 3), cp.asarray(np.array([2, 5, 2])), cp.asarray(rows)))
        if log is not None:
            log.reset()
            _simgpu.calls.clear()
        before = w.collectives
        assert reduce_on(w, grads, None, 2.5, fuse) == 2.5
        if log is not None:  # nothing was read back to the host (the test reads below)
            assert log.device_to_host == [], log.device_to_host
        for g, h in zip(grads[:3], host, strict=True):
            assert array_module(g) is cp and g.dtype == h.dtype and g.shape == h.shape
            np.testing.assert_allclose(_host(g), h, rtol=1e-6)
        assert isinstance(grads[3], Sparse) and array_module(grads[3].values) is cp
        np.testing.assert_allclose(_host(grads[3].to_dense()), dense_sparse, rtol=1e-6)
        assert w.nccl is not None and w.nccl.device_id == 0
        if log is not None:  # the simulated run also knows which NCCL calls moved what
            dense_calls = ([("allReduce", 19, 7), ("allReduce", 4, 8)] if fuse else
                           [("allReduce", 15, 7), ("allReduce", 4, 7), ("allReduce", 4, 8)])
            sparse_calls = [("allGather", 2, 4), ("allGather", 6, 7)]  # rows, then values
            assert _simgpu.calls == sparse_calls + dense_calls
            assert w.collectives - before >= len(_simgpu.calls)


def test_broadcast_goes_through_nccl_and_keeps_arrays_in_place(gpu):
    cp, log = gpu
    w = dist.world()
    values = [np.arange(6.0, dtype=np.float32).reshape(2, 3), np.arange(3.0)]
    ps = [ag.Param(cp.asarray(v)) for v in values]
    arrays = [p.value for p in ps]
    broadcast_params(w, ps, 0)
    for p, a, v in zip(ps, arrays, values, strict=True):
        assert p.value is a and array_module(p.value) is cp
        np.testing.assert_array_equal(_host(p.value), v)
    if log is not None:
        assert [c[0] for c in _simgpu.calls] == ["bcast", "bcast"]


def test_training_with_nccl_averaging_matches_the_cpu(gpu):
    """Ten SGD steps of a small model whose gradients go through the NCCL path each step, on
    the GPU, against the same steps on the CPU."""
    cp, _ = gpu
    w = dist.world()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = rng.standard_normal(32).astype(np.float32)
    emb_ids = rng.integers(0, 20, 32)
    results = []
    for device in ("cpu", "gpu"):
        to = (lambda a: a) if device == "cpu" else cp.asarray
        r = np.random.default_rng(2)
        ps = [ag.Param(to(r.standard_normal((4, 1)).astype(np.float32))),
              ag.Param(to(r.standard_normal((20, 1)).astype(np.float32)))]
        xd, yd, ids = to(x), to(y), to(emb_ids)
        for _ in range(10):
            tape = ag.diff(lambda ps=ps, xd=xd, yd=yd, ids=ids: np.mean(
                ((xd @ ps[0])[:, 0] + ps[1][ids][:, 0] - yd) ** 2))
            grads = [ag.grad(tape, p) for p in ps]
            if device == "gpu":
                reduce_on(w, grads, ps, None)
                assert array_module(grads[0]) is cp and isinstance(grads[1], Sparse)
            update_(ps, grads, SGD(lr=0.1))
        results.append([_host(p.value) for p in ps])
    for c, g in zip(*results, strict=True):
        np.testing.assert_allclose(g, c, rtol=1e-5, atol=1e-6)
