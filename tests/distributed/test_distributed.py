"""minitorch_ag.distributed: on one process here, and on two under ``mpirun -n 2``.

The two-process tests launch ``mpirun -n 2 python _worker.py SCENARIO`` themselves (MPICH's
launcher oversubscribes by default; Open MPI gets ``--oversubscribe``), and compare what the
ranks wrote with single-process references computed here from the same model and batches. They
skip when mpi4py or an ``mpirun`` is missing (``pip install -e '.[mpi]'`` provides both).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import distributed as dist
from minitorch_ag.optim import SGD, Adam, epochs, minimize, take, update_
from minitorch_ag.sparse import Sparse

from . import _model

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


# ----------------------------------------------------------------------------------------
# One process (no mpirun): everything works as size 1
# ----------------------------------------------------------------------------------------


def test_single_process_is_rank_0_of_1():
    w = dist.init()
    assert (dist.rank(), dist.size(), dist.local_rank(), dist.is_root()) == (0, 1, 0, True)
    assert dist.init() is w and dist.world() is w
    dist.barrier()


def test_single_process_collectives_change_nothing():
    g = [np.arange(3.0), None, Sparse((5, 2), np.array([1]), np.ones((1, 2)))]
    before = list(g)
    assert dist.allreduce_grads(g) is g
    assert all(a is b for a, b in zip(g, before, strict=True))
    w = ag.Param(np.arange(2.0))
    assert dist.broadcast([w]) == [w] and w.value.tolist() == [0.0, 1.0]
    mb = ag.datasets.minibatch(np.arange(6.0), None, 2)
    assert dist.shard(mb) is mb


def test_single_process_data_parallel_is_minimize():
    """DataParallel on one process trains exactly as optim.minimize."""
    for opt in (SGD(lr=0.1), Adam(lr=0.01)):
        a, b = _model.Net(1), _model.Net(1)
        steps = list(take(epochs(_model.batches()), 10))
        la = list(minimize(lambda xb, yb: _model.loss(a, xb, yb), steps, opt.clone(),
                           params=a))
        lb = list(dist.DataParallel(b, opt.clone()).minimize(
            lambda xb, yb: _model.loss(b, xb, yb), steps))
        assert la == lb
        for p, q in zip(ag.params(a), ag.params(b), strict=True):
            np.testing.assert_array_equal(p.value, q.value)


def test_errors_name_what_is_wrong():
    with pytest.raises(TypeError, match="a list"):
        dist.allreduce_grads((np.ones(2),))
    with pytest.raises(ValueError, match="2 gradients for 1 params"):
        dist.allreduce_grads([np.ones(2), None], params=[ag.Param(np.ones(2))])
    with pytest.raises(ValueError, match="found no Params"):
        dist.broadcast(object())
    with pytest.raises(ValueError, match="root must be a rank"):
        dist.broadcast([ag.Param(np.ones(2))], root=1)
    with pytest.raises(TypeError, match="minibatch"):
        dist.shard([np.ones(2)])
    with pytest.raises(TypeError, match="Optimizer"):
        dist.DataParallel([ag.Param(np.ones(2))], "sgd")


def test_packing_on_one_process_keeps_shapes_dtypes_and_numbers():
    """The packing path itself (run by the ranks of an MPI job) on a world of one process."""
    from minitorch_ag.distributed._collectives import reduce_on

    w = dist.world()
    g = [np.arange(6.0).reshape(2, 3), np.ones(2, np.float32), np.float32(2.0), 3.0, None,
         Sparse((50, 2), np.array([4, 4, 9]), np.ones((3, 2)))]
    assert reduce_on(w, g, None, 1.5) == 1.5
    assert g[0].tolist() == [[0, 1, 2], [3, 4, 5]] and g[0].dtype == np.float64
    assert g[1].dtype == np.float32 and g[2] == 2.0 and isinstance(g[2], np.float32)
    assert g[3] == 3.0 and isinstance(g[3], float) and g[4] is None
    assert isinstance(g[5], Sparse) and np.asarray(g[5])[4].tolist() == [2.0, 2.0]
    assert g[0].base is not None  # a view of the float64 buffer


def test_without_mpi4py_one_process_works_and_a_launched_one_refuses(tmp_path):
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "from minitorch_ag import distributed as dist\n"
            "print(dist.size(), dist.world().comm)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.split() == ["1", "None"], out.stderr
    env["PMI_SIZE"] = "2"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0
    assert "2 processes" in out.stderr and "minitorch_ag[mpi]" in out.stderr


def test_timeout_setting_is_checked(monkeypatch):
    from minitorch_ag.distributed._world import _timeout_from_environment

    monkeypatch.setenv("MINITORCH_AG_DIST_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="number of seconds"):
        _timeout_from_environment()
    monkeypatch.setenv("MINITORCH_AG_DIST_TIMEOUT", "2.5")
    assert _timeout_from_environment() == 2.5


def test_rank_0_helpers(capsys, tmp_path):
    dist.log("hello", 1)
    assert capsys.readouterr().out == "hello 1\n"
    path = tmp_path / "m.npz"
    dist.save(path, {"w": ag.Param(np.arange(3.0))})
    assert ag.load(path)["w"].tolist() == [0.0, 1.0, 2.0]
    logger = dist.root_logging(__import__("logging").getLogger("dist-test"))
    assert dist.root_logging(logger) is logger and len(logger.filters) == 1
    assert list(dist.progress([1.0, 2.0], disable=True)) == [1.0, 2.0]


# ----------------------------------------------------------------------------------------
# Two processes under mpirun
# ----------------------------------------------------------------------------------------


def _mpirun():
    """The mpirun beside this Python (the mpich wheel's) or on PATH; None without one."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    beside = Path(sys.executable).parent / "mpirun"
    return str(beside) if beside.exists() else shutil.which("mpirun")


MPIRUN = _mpirun()
needs_mpi = pytest.mark.skipif(MPIRUN is None, reason="needs mpi4py and mpirun "
                                                      "(pip install -e '.[mpi]')")


def run_two(scenario, out, timeout=120, **env):
    """``mpirun -n 2 python _worker.py scenario out``: (completed process, seconds)."""
    command = [MPIRUN, "-n", "2"]
    version = subprocess.run([MPIRUN, "--version"], capture_output=True, text=True)
    if "Open MPI" in version.stdout + version.stderr:
        command.append("--oversubscribe")
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1",
                   "OMP_NUM_THREADS": "1", **env}
    start = time.monotonic()
    done = subprocess.run([*command, sys.executable, str(HERE / "_worker.py"), scenario,
                           str(out)], env=environment, capture_output=True, text=True,
                          timeout=timeout)
    return done, time.monotonic() - start


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    if MPIRUN is None:
        pytest.skip("needs mpi4py and mpirun (pip install -e '.[mpi]')")
    out = tmp_path_factory.mktemp("mpi")
    done, _ = run_two("train", out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("log line from rank") == 1  # dist.log prints on rank 0 only
    ranks = [dict(np.load(out / f"train_{r}.npz")) for r in range(2)]
    checks = [json.loads((out / f"checks_{r}.json").read_text()) for r in range(2)]
    return ranks, checks


def _halves(xb, yb):
    """The two ranks' parts of a global batch (as shard cuts it for two ranks)."""
    h = len(xb) // 2
    return [(xb[:h], yb[:h]), (xb[h:], yb[h:])]


def reference(opt, mode):
    """One process, from rank 0's initialisation, over the same 30 global batches: either
    averaging the two half-batch gradients ("halves") or on the full batch ("full")."""
    model = _model.Net(seed=1)
    ps = ag.params(model)
    losses = []
    for xb, yb in take(epochs(_model.batches()), _model.STEPS):
        if mode == "full":
            tape = ag.diff(lambda: _model.loss(model, xb, yb))  # noqa: B023
            grads = [ag.grad(tape, p) for p in ps]
            losses.append(tape.item())
        else:
            tapes = [ag.diff(lambda: _model.loss(model, x, y)) for x, y in _halves(xb, yb)]  # noqa: B023
            grads = [(ag.grad(tapes[0], p) + ag.grad(tapes[1], p)) / 2 for p in ps]
            losses.append((tapes[0].item() + tapes[1].item()) / 2)
        update_(ps, grads, opt)
    return [p.value for p in ps], losses


@needs_mpi
@pytest.mark.parametrize("name, opt", [("sgd", SGD(lr=0.1)), ("adam", Adam(lr=0.01))])
def test_two_ranks_equal_one_process_averaging_half_batches(two_ranks, name, opt):
    ranks, _ = two_ranks
    want, want_losses = reference(opt.clone(), "halves")
    for r in range(2):
        for i, w in enumerate(want):
            np.testing.assert_allclose(ranks[r][f"{name}_{i}"], w, rtol=1e-10, atol=1e-13)
    for i in range(len(want)):  # the ranks hold the very same model
        np.testing.assert_array_equal(ranks[0][f"{name}_{i}"], ranks[1][f"{name}_{i}"])
    np.testing.assert_allclose(ranks[0][f"{name}_losses"], want_losses, rtol=1e-12)
    assert not np.allclose(want[1], _model.Net(seed=1).w1.value)  # it did train


@needs_mpi
@pytest.mark.parametrize("name, opt", [("sgd", SGD(lr=0.1)), ("adam", Adam(lr=0.01))])
def test_two_ranks_loss_curve_matches_full_batch_training(two_ranks, name, opt):
    ranks, _ = two_ranks
    _, want = reference(opt.clone(), "full")
    got = ranks[0][f"{name}_losses"]
    assert len(got) == _model.STEPS
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_array_equal(got, ranks[1][f"{name}_losses"])


@needs_mpi
def test_two_ranks_broadcast_refuses_different_models(two_ranks):
    _, checks = two_ranks
    for c in checks:  # every rank raises the same error
        assert c["refused_hidden"] == checks[0]["refused_hidden"]
        assert "Param 1 has shape (9, 8) float64 on the CPU on rank 0 but shape (9, 5)" in (
            c["refused_hidden"])
        assert "rank 0 has 2 Params but rank 1 has 1" in c["refused_count"]
    assert [c["rank"] for c in checks] == [0, 1] and checks[0]["size"] == 2
    assert [c["is_root"] for c in checks] == [True, False]


@needs_mpi
def test_two_ranks_allreduce_grads(two_ranks):
    _, checks = two_ranks
    for c in checks:
        assert c["mean"] == [[[1.5] * 3] * 2, [5.0] * 4, 0.5, None]
        assert c["mean_types"] == ["ndarray:float64", "ndarray:float32", "float:", "NoneType:"]
        assert c["same_list"] and c["unfused"] == c["mean"][:2]
        assert c["none_one_rank"] == [[1.5] * 3, [0.5, 0.5]]
        assert "gradient 1 has shape (2,) float64 on the CPU on rank 0 but None" in (
            c["none_refused"])
        assert "gradient 0 has shape (3,)" in c["shape_refused"]
        assert "shape (4,)" in c["shape_refused"]


@needs_mpi
def test_two_ranks_sparse_gradients_stay_sparse_when_smaller(two_ranks):
    _, checks = two_ranks
    for c in checks:
        assert c["sparse_kept"] and c["sparse_rows"] == 4 and c["sparse_ok"]
        assert c["densified"] and c["densified_value"] == [[3.0, 3.0], [1.5, 1.5], [1.5, 1.5]]
        assert c["sparse_one_rank"] == [[2.0, 3.0], [1.0, 1.5]]


@needs_mpi
def test_two_ranks_shards_are_disjoint_parts_of_the_global_batches(two_ranks):
    _, checks = two_ranks
    parts = [c["shard"] for c in checks]
    # rank 0's generator state is everyone's: the single-process epoch of seed 100
    whole = [xb.tolist() for xb in ag.datasets.minibatch(np.arange(40.0), None, 10,
                                                        shuffle=True, rng=100)]
    assert [a + b for a, b in zip(parts[0], parts[1], strict=True)] == whole
    assert all(len(p) == 5 for p in parts[0] + parts[1])
    assert [c["ckpt"] for c in checks] == [[0.0, 0.0, 0.0]] * 2  # rank 0 wrote it


@needs_mpi
def test_killed_rank_ends_the_job(tmp_path):
    done, seconds = run_two("kill", tmp_path, timeout=90)
    text = done.stdout + done.stderr
    assert done.returncode != 0 and seconds < 60, text
    assert "signal 9" in text.lower() or "aborting all ranks" in text, text


@needs_mpi
def test_raising_rank_ends_the_job_with_its_error(tmp_path):
    done, seconds = run_two("raise", tmp_path, timeout=90)
    text = done.stdout + done.stderr
    assert done.returncode != 0 and seconds < 60, text
    assert "RuntimeError: rank 1 fails on purpose at step 5" in text
    assert "rank 1 of 2: stopped on an uncaught RuntimeError; aborting all ranks" in text


@needs_mpi
def test_hanging_rank_times_out(tmp_path):
    done, seconds = run_two("hang", tmp_path, timeout=90, MINITORCH_AG_DIST_TIMEOUT="3")
    text = done.stdout + done.stderr
    assert done.returncode != 0 and seconds < 60, text
    assert "rank 0 of 2: allreduce_grads (layout check) waited 3 s for the other ranks" in text


def test_docstring_examples_run():
    """The examples in the docstrings (one process) print what they say."""
    import doctest

    from minitorch_ag.distributed import _collectives, _parallel, _world

    for module in (dist, _world, _collectives, _parallel):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and (module is dist or result.attempted > 0), module.__name__


@needs_mpi
def test_two_ranks_on_simulated_gpus_train_as_on_cpus(two_ranks, tmp_path):
    """The GPU path with two ranks (NCCL's broadcast, all-reduce and padded all-gather of the
    sparse rows, on the simulated GPU of _simgpu.py) gives the CPU run's parameters."""
    if not (ROOT / "tests" / "gpu" / "fake_cupy.py").is_file():
        pytest.skip("tests/gpu/fake_cupy.py is not here")
    cpu, _ = two_ranks
    done, _ = run_two("gpu", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    for r in range(2):
        gpu = dict(np.load(tmp_path / f"gpu_{r}.npz"))
        assert list(gpu["calls"]) == ["allGather", "allReduce", "bcast"]
        assert gpu["uneven_rows"] == 4  # 3 rows from rank 0 and 1 from rank 1, no padding
        assert gpu["uneven"].tolist() == [[1.5, 1.5], [0.5, 0.5], [0.5, 0.5], [0.0, 0.0]]
        for key, value in cpu[r].items():
            np.testing.assert_allclose(gpu[key], value, rtol=1e-12, atol=1e-15, err_msg=key)
