"""The device API on the CPU: to_device on every kind of object, the default device, errors.

Without a GPU the walk of ``to_device`` is checked with a stand-in device: ``backend.to_device``
is replaced by one that copies every array into ``_Moved`` (an ndarray subclass), so a test can
see which arrays were moved, which were replaced where they live, and which stayed shared.
"""

import collections
import functools
import threading

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import backend
from minitorch_ag.nn import BatchNorm, Chain, Linear
from minitorch_ag.optim import Adam, update_

HAS_GPU = ag.gpu_available()


class _Moved(np.ndarray):
    """An array that went through the stand-in device."""


@pytest.fixture
def fake_gpu(monkeypatch):
    """Make "gpu" a usable device whose arrays are ``_Moved`` copies; count the moves."""
    moves = []

    def fake_to_device(x, device):
        if not backend.is_array(x):
            return x
        if backend.parse_device(device)[0] == "cpu":
            return np.asarray(x) if isinstance(x, _Moved) else x
        if isinstance(x, _Moved):
            return x
        moves.append(x)
        return np.array(x).view(_Moved)

    monkeypatch.setattr(backend, "to_device", fake_to_device)
    monkeypatch.setattr(backend, "_cupy_for", lambda index: None)
    return moves


def _moved(x):
    return isinstance(x, _Moved)


# ----------------------------------------------------------------------------------------
# to_device("cpu") with the real backend
# ----------------------------------------------------------------------------------------


def test_cpu_arrays_and_numbers_pass_through():
    a = np.arange(3.0)
    assert ag.to_device(a, "cpu") is a
    assert ag.to_device(2.5, "cpu") == 2.5 and ag.to_device(None, "cpu") is None
    assert ag.to_device("text", "cpu") == "text"


def test_cpu_param_model_and_containers_are_returned_themselves():
    p = ag.Param(np.ones(2))
    value = p.value
    assert ag.to_device(p, "cpu") is p and p.value is value
    model = Linear(3, 2, rng=0)
    w = model.weight.value
    assert ag.to_device(model, "cpu") is model and model.weight.value is w
    nested = {"a": [p, (np.ones(1), model)], "b": (1, "x")}
    assert ag.to_device(nested, "cpu") is nested
    t = (p, np.ones(2))
    assert ag.to_device(t, "cpu") is t  # nothing changed: the same tuple


def test_cpu_optimizer_state_stays_and_training_continues():
    p = ag.Param(np.array([1.0, -2.0]))
    update_(p, np.array([0.5, 0.5]), Adam(lr=0.1))
    m = p.opt.m
    ag.to_device(p, "cpu")
    assert p.opt.m is m
    update_(p, np.array([0.5, 0.5]))
    assert p.opt.t == 2


# ----------------------------------------------------------------------------------------
# The walk, on the stand-in device
# ----------------------------------------------------------------------------------------


def test_array_gives_a_moved_copy(fake_gpu):
    a = np.arange(3.0)
    b = ag.to_device(a, "gpu")
    assert _moved(b) and not _moved(a)
    np.testing.assert_array_equal(b, a)


def test_param_moves_in_place_with_its_optimizer_state(fake_gpu):
    p = ag.Param(np.array([1.0, -2.0]))
    update_(p, np.array([0.5, 0.5]), Adam(lr=0.1))
    m, v = p.opt.m, p.opt.v
    assert ag.to_device(p, "gpu") is p
    assert _moved(p.value) and _moved(p.opt.m) and _moved(p.opt.v)
    np.testing.assert_array_equal(p.opt.m, m)
    np.testing.assert_array_equal(p.opt.v, v)


def test_model_params_and_buffers_move(fake_gpu):
    bn = BatchNorm(3)
    model = Chain(Linear(4, 3, rng=0), bn)
    assert ag.to_device(model, "gpu") is model
    assert all(_moved(p.value) for p in ag.params(model))
    assert len(ag.params(model)) == 4
    for name in BatchNorm.state_buffers:
        assert _moved(getattr(bn, name))


def test_shared_params_and_arrays_stay_shared(fake_gpu):
    shared = np.ones(3)
    p = ag.Param(np.zeros(2))

    class Twin:
        def __init__(self):
            self.a, self.b = shared, shared
            self.p1, self.p2 = p, p

    t = Twin()
    ag.to_device(t, "gpu")
    assert t.a is t.b and _moved(t.a)
    assert t.p1 is t.p2 is p and _moved(p.value)
    assert len(fake_gpu) == 2  # each array copied once


def test_reference_cycles_are_safe(fake_gpu):
    class Node:
        def __init__(self):
            self.w = ag.Param(np.ones(2))
            self.buf = np.zeros(2)
            self.other = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    loop = [a]
    loop.append(loop)
    d = {"self": None, "list": loop}
    d["self"] = d
    assert ag.to_device(d, "gpu") is d
    for n in (a, b):
        assert _moved(n.w.value) and _moved(n.buf)
    assert loop[1] is loop and d["self"] is d


def test_lists_and_dicts_in_place_tuples_rebuilt(fake_gpu):
    Pair = collections.namedtuple("Pair", "x y")
    lst = [np.ones(2), 3]
    dct = collections.OrderedDict(a=np.ones(2), b="keep")
    pair = Pair(np.ones(1), 2)
    plain = (np.ones(1), lst)
    assert ag.to_device(lst, "gpu") is lst and _moved(lst[0]) and lst[1] == 3
    assert ag.to_device(dct, "gpu") is dct and _moved(dct["a"]) and dct["b"] == "keep"
    new_pair = ag.to_device(pair, "gpu")
    assert type(new_pair) is Pair and _moved(new_pair.x) and new_pair.y == 2
    assert not _moved(pair.x)  # the original tuple is untouched
    new_plain = ag.to_device(plain, "gpu")
    assert new_plain is not plain and new_plain[1] is lst and _moved(new_plain[0])


def test_tuple_attribute_is_stored_back(fake_gpu):
    class Holder:
        pass

    h = Holder()
    h.stats = (np.ones(2), np.zeros(2))
    h.params = (ag.Param(np.ones(1)),)
    params_tuple = h.params
    ag.to_device(h, "gpu")
    assert all(_moved(s) for s in h.stats)
    assert h.params is params_tuple and _moved(h.params[0].value)


def test_slots_closures_sets_and_methods(fake_gpu):
    class Slotted:
        __slots__ = ("w", "buf")

        def __init__(self):
            self.w = ag.Param(np.ones(2))
            self.buf = np.ones(2)

    s = Slotted()
    captured = np.ones(3)
    q = ag.Param(np.ones(1))

    def f():
        return captured, q

    r = ag.Param(np.ones(1))

    class M:
        def __init__(self):
            self.u = ag.Param(np.ones(1))

        def __call__(self):
            return self.u

    m = M()
    ag.to_device([s, f, {r}, m.__call__], "gpu")
    assert _moved(s.w.value) and _moved(s.buf)
    assert _moved(f()[0]) and _moved(q.value)
    assert _moved(r.value) and _moved(m.u.value)


def test_partial_with_an_array_argument_is_refused(fake_gpu):
    p = ag.Param(np.ones(1))
    ok = functools.partial(np.add, p)
    ag.to_device(ok, "gpu")
    assert _moved(p.value)
    bad = functools.partial(np.add, np.ones(2))
    with pytest.raises(TypeError, match="functools.partial holds an array"):
        ag.to_device(bad, "gpu")


def test_results_and_numbers_are_left_alone(fake_gpu):
    x = ag.Param(np.ones(2))
    tape = ag.diff(lambda: np.sum(x * 2))
    holder = {"tape": tape, "n": 3, "s": np.float64(1.0), "dt": np.dtype("f4")}
    ag.to_device(holder, "gpu")
    assert holder["n"] == 3 and type(holder["s"]) is np.float64


def test_moving_a_param_while_recording_is_refused(fake_gpu):
    x = ag.Param(np.ones(2))

    def f():
        ag.to_device(x, "gpu")
        return np.sum(x)

    with pytest.raises(TypeError, match="the recording diff uses"):
        ag.diff(lambda: np.sum(x) + f())


def test_round_trip_back_to_cpu(fake_gpu):
    model = Linear(3, 2, rng=0)
    w = model.weight.value.copy()
    ag.to_device(model, "gpu")
    ag.to_device(model, "cpu")
    assert not _moved(model.weight.value)
    np.testing.assert_array_equal(model.weight.value, w)


# ----------------------------------------------------------------------------------------
# The default device
# ----------------------------------------------------------------------------------------


def test_default_device_starts_on_cpu_and_set_device_returns_the_previous():
    assert ag.default_device() == "cpu"
    assert ag.set_device("cpu") == "cpu"
    assert ag.set_device(None) == "cpu"
    assert ag.default_device() == "cpu"


def test_device_scope_nests_and_restores(fake_gpu):
    assert ag.default_device() == "cpu"
    with ag.device("gpu") as name:
        assert name == "gpu:0" and ag.default_device() == "gpu:0"
        with ag.device("cpu"):
            assert ag.default_device() == "cpu"
        with ag.device("cuda:1"):
            assert ag.default_device() == "gpu:1"
        assert ag.default_device() == "gpu:0"
    assert ag.default_device() == "cpu"


def test_device_scope_is_thread_local(fake_gpu):
    seen = []
    with ag.device("gpu"):
        t = threading.Thread(target=lambda: seen.append(ag.default_device()))
        t.start()
        t.join()
    assert seen == ["cpu"]


def test_set_device_is_process_wide_and_restorable(fake_gpu):
    previous = ag.set_device("gpu:1")
    try:
        seen = []
        t = threading.Thread(target=lambda: seen.append(ag.default_device()))
        t.start()
        t.join()
        assert seen == ["gpu:1"] and ag.default_device() == "gpu:1"
        with ag.device("cpu"):
            assert ag.default_device() == "cpu"
    finally:
        ag.set_device(previous)
    assert ag.default_device() == "cpu"


def test_unknown_device_name_is_refused():
    with pytest.raises(ValueError, match="expected 'cpu', 'gpu' or 'gpu:<index>'"):
        ag.set_device("tpu")
    with pytest.raises(ValueError, match="expected 'cpu', 'gpu' or 'gpu:<index>'"):
        ag.device("gpu:one")
    with pytest.raises(ValueError, match="expected 'cpu', 'gpu' or 'gpu:<index>'"):
        ag.to_device(np.ones(1), "npu")


# ----------------------------------------------------------------------------------------
# Asking for a GPU that is not there
# ----------------------------------------------------------------------------------------


@pytest.mark.skipif(HAS_GPU, reason="a GPU is usable here: tests/gpu covers the GPU side")
@pytest.mark.parametrize("call", [
    lambda: ag.set_device("gpu"),
    lambda: ag.device("gpu"),
    lambda: ag.to_device(np.ones(2), "gpu"),
    lambda: ag.to_device(Linear(2, 2, rng=0), "gpu:0"),
])
def test_asking_for_a_missing_gpu_raises_a_clear_error(call):
    with pytest.raises(RuntimeError, match=r"CuPy, which is not installed|no GPU is usable|"
                                           r"does not exist"):
        call()
    assert ag.default_device() == "cpu"  # nothing changed


def test_error_names_the_function_and_the_cause(monkeypatch):
    import sys  # noqa: PLC0415

    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy now raises ImportError
    with pytest.raises(RuntimeError, match=r"set_device\('gpu'\): the GPU needs CuPy, which is "
                                           r"not installed"):
        ag.set_device("gpu")
    with pytest.raises(RuntimeError, match=r"to_device\('gpu:1'\): the GPU needs CuPy"):
        ag.to_device(np.ones(1), "gpu:1")


def test_error_when_cupy_sees_no_gpu(monkeypatch):
    import sys  # noqa: PLC0415
    import types  # noqa: PLC0415

    def no_driver():
        raise OSError("CUDA driver not found")

    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=no_driver)))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(RuntimeError, match="CuPy is installed but no GPU is usable: CUDA driver"):
        ag.set_device("gpu")
    assert ag.gpu_available() is False
    fake.cuda.runtime.getDeviceCount = lambda: 1
    assert ag.gpu_available() is True and ag.gpu_available("gpu:0") is True
    assert ag.gpu_available("gpu:1") is False and ag.gpu_available("cpu") is False
    with pytest.raises(RuntimeError, match=r"device gpu:2 does not exist: CuPy sees 1 GPU"):
        ag.device("gpu:2")


def test_gpu_available_never_raises():
    assert ag.gpu_available() is HAS_GPU
    assert ag.gpu_available("not a device") is False


# ----------------------------------------------------------------------------------------
# Counting transfers
# ----------------------------------------------------------------------------------------


def test_count_transfers_counts_calls_and_nests():
    with ag.count_transfers() as outer:
        ag.to_device(np.ones(2), "cpu")
        with ag.count_transfers() as inner:
            ag.to_device([np.ones(2), np.ones(3)], "cpu")
            ag.to_device(1.0, "cpu")  # a number: not an array move
    assert (outer.calls, inner.calls) == (3, 2)
    assert outer.copies == 0 and outer.nbytes == 0
    assert "calls=3" in repr(outer)
    assert not backend._COUNTERS  # off again


def test_docstring_examples_run():
    import doctest  # noqa: PLC0415
    import sys  # noqa: PLC0415

    for name in ("minitorch_ag.device", "minitorch_ag.backend", "minitorch_ag.walk"):
        result = doctest.testmod(sys.modules[name])
        assert result.failed == 0 and result.attempted > 0, name


def test_cpu_training_step_calls_to_device_only_for_the_batch():
    """On a GPU each to_device call is a copy: a step must make none beyond its batch's."""
    from minitorch_ag.datasets import minibatch  # noqa: PLC0415
    from minitorch_ag.nn import functional as F  # noqa: PLC0415

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 6)).astype(np.float32), rng.integers(0, 3, 16)
    model = Chain(Linear(6, 8, activation=F.relu, rng=0), Linear(8, 3, rng=1))
    batches = iter(minibatch(x, y, 8))  # the default device: the CPU

    def step():
        xb, yb = next(batches)
        tape = ag.diff(lambda: F.cross_entropy(model(xb), yb))
        for p in ag.params(model):
            update_(p, ag.grad(tape, p), Adam(lr=0.01))
        return ag.value(tape)

    step()  # the first step creates Adam's state
    with ag.count_transfers() as count:
        step()
    assert (count.calls, count.copies) == (2, 0)


def test_same_seed_same_weights_and_batch_order():
    from minitorch_ag.datasets import minibatch  # noqa: PLC0415

    a, b = Linear(5, 4, rng=3), Linear(5, 4, rng=3)
    for p, q in zip(ag.params(a), ag.params(b), strict=True):
        np.testing.assert_array_equal(p.value, q.value)
    x = np.arange(20.0).reshape(10, 2)
    first = [xb[:, 0].tolist() for xb in minibatch(x, batchsize=3, shuffle=True, rng=9)]
    again = [xb[:, 0].tolist() for xb in minibatch(x, batchsize=3, shuffle=True, rng=9)]
    assert first == again and first != [xb[:, 0].tolist() for xb in minibatch(x, batchsize=3)]


def test_param_and_minibatch_on_a_cpu_default_stay_numpy(fake_gpu):
    from minitorch_ag.datasets import minibatch  # noqa: PLC0415

    assert type(ag.Param(np.ones(2)).value) is np.ndarray
    assert next(iter(minibatch(np.ones((4, 2)), batchsize=2))).__class__ is np.ndarray
    with ag.device("gpu"):
        assert _moved(ag.Param(np.ones(2)).value)
        batches = minibatch(np.ones((4, 2)), batchsize=2)
    assert batches.device == "gpu:0"


def test_minibatch_refuses_a_missing_gpu_when_made():
    if HAS_GPU:
        pytest.skip("a GPU is usable here")
    from minitorch_ag.datasets import minibatch  # noqa: PLC0415

    with pytest.raises(RuntimeError, match=r"minibatch\('gpu'\): the GPU needs CuPy|no GPU"):
        minibatch(np.ones((4, 2)), batchsize=2, device="gpu")


def test_gpu_benchmark_says_what_is_missing():
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "gpu.py"), "--repeat", "1"],
                         capture_output=True, text=True, timeout=300, cwd=root,
                         env=dict(os.environ, PYTHONPATH=str(root)))
    if out.returncode == 0:
        pytest.skip("CuPy, a GPU and PyTorch CUDA are all here: the benchmark ran")
    assert out.returncode == 2, out.stderr
    assert "benchmarks/gpu.py: cannot run on the gpu: missing" in out.stderr
    if not HAS_GPU:
        assert "CuPy" in out.stderr or "GPU" in out.stderr
