"""The tape: recording rules, the backward sweep, memory release, threads, long chains."""

import gc
import threading
import weakref

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import Param, diff, grad, value
from minitorch_ag.tape import Tape, unbroadcast


def test_nothing_recorded_outside_diff():
    p = Param(np.ones(3))
    assert not isinstance(p * 2, ag.Tensor)
    assert not ag.recording()


def test_only_operations_on_tracked_values_are_recorded():
    p = Param(np.ones(3))
    c = np.arange(3.0)
    kinds = []

    def f():
        kinds.append(type(c * 2))  # constants only: plain
        kinds.append(type(p * 2))  # a Param: recorded
        return np.sum(p * c)

    t = diff(f)
    assert kinds == [np.ndarray, ag.Result]
    # a leaf for p, p * 2, p * c, the sum
    assert len(t.nodes) == 4


def test_nodes_are_in_creation_order_and_leaves_appear_once():
    p = Param(np.array([1.0, 2.0]))
    t = diff(lambda: np.sum(p * p + p))
    prims = [n.prim.name if n.prim is not None else "leaf" for n in t.nodes]
    assert prims == ["leaf", "np.multiply", "np.add", "np.sum"]
    assert [id(q) for q in t.nodes[1].parents] == [id(t.nodes[0])] * 2


def test_constant_result_has_no_gradient():
    p = Param(np.ones(2))
    t = diff(lambda: 3.0)
    assert value(t) == 3.0 and grad(t, p) is None
    t = diff(lambda: np.sum(value(p)))  # value() detaches
    assert grad(t, p) is None


def test_result_can_be_the_param_itself():
    s = Param(np.array(2.0))
    t = diff(lambda: s)
    assert grad(t, s) == 1.0


def test_gradients_accumulate_over_several_uses():
    p = Param(np.array([1.0, 2.0]))
    t = diff(lambda: np.sum(p * 3 + p * p + p))  # 3 + 2p + 1
    np.testing.assert_array_equal(grad(t, p), [6.0, 8.0])


def test_leaf_gradients_are_distinct_arrays():
    a, b = Param(np.ones(2)), Param(np.ones(2))
    t = diff(lambda: np.sum(a + b))
    ga, gb = grad(t, a), grad(t, b)
    assert ga is not gb and not np.shares_memory(ga, gb)
    ga += 1
    np.testing.assert_array_equal(gb, [1.0, 1.0])


def test_backward_runs_once_and_releases_the_graph():
    p = Param(np.ones(1000))
    t = diff(lambda: np.sum(np.tanh(p * 2.0) * 3.0))
    assert not t.swept
    big = weakref.ref(t.nodes[1].value)  # the array of p * 2.0
    g1 = grad(t, p)
    assert t.swept
    assert all(n is None for n in t.nodes[1:])  # intermediate nodes dropped from the tape
    gc.collect()
    assert big() is None
    g2 = grad(t, p)
    assert g1 is g2


def test_results_held_by_user_keep_their_value_but_not_the_graph():
    p = Param(np.ones(3))
    kept = []
    t = diff(lambda: (kept.append(p * 2), np.sum(kept[0] * 2))[1])
    grad(t, p)
    r = kept[0]
    np.testing.assert_array_equal(r.value, [2.0, 2.0, 2.0])
    assert r.args is None and r.parents is None and r.outgrad is None


def test_chain_of_100000_operations():
    p = Param(np.array([1.0, 2.0], dtype=np.float32))

    def chain():
        y = p
        for _ in range(100_000):
            y = y * 1.0000001
        return np.sum(y)

    t = diff(chain)
    g = grad(t, p)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, [float(np.float32(1.0000001)) ** 100_000] * 2, rtol=1e-3)


def test_two_threads_differentiate_at_once():
    barrier = threading.Barrier(2)
    results: dict[int, object] = {}
    errors = []

    def work(k):
        try:
            p = Param(np.full(3, float(k + 1)))

            def f():
                y = p
                for i in range(2000):
                    y = y * 1.0 + 0.0
                    if i == 10:
                        barrier.wait(timeout=10)  # both threads are now recording
                    assert len(ag.tape.active_tapes()) == 1
                return np.sum(y ** 2)

            results[k] = grad(diff(f), p)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    np.testing.assert_allclose(results[0], [2.0] * 3)
    np.testing.assert_allclose(results[1], [4.0] * 3)


def test_tape_popped_after_exception():
    p = Param(np.ones(2))

    def bad():
        np.sum(p)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        diff(bad)
    assert not ag.recording()


def test_results_of_finished_tapes_are_constants():
    p = Param(np.array([1.0, 2.0]))
    saved = []
    diff(lambda: (saved.append(p * 3), np.sum(saved[0]))[1])
    old = saved[0]
    t = diff(lambda: np.sum(old * p))
    np.testing.assert_array_equal(grad(t, p), [3.0, 6.0])


def test_grad_of_a_non_param_is_an_error():
    p = Param(np.ones(2))
    t = diff(lambda: np.sum(p))
    with pytest.raises(TypeError, match="must be a Param"):
        grad(t, np.ones(2))
    with pytest.raises(TypeError, match="which Param"):
        grad(t)


@pytest.mark.parametrize("dx_shape,like_shape", [
    ((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 4), (1, 4)), ((3, 4), (3, 1)), ((2, 3, 4), ()),
    ((), (3,)), ((1, 4), (3, 4)), ((3, 1), (3, 4)),
])
def test_unbroadcast_shapes(dx_shape, like_shape):
    dx = np.ones(dx_shape, dtype=np.float64)
    like = np.zeros(like_shape, dtype=np.float32)
    out = unbroadcast(dx, like)
    assert np.shape(out) == like_shape and out.dtype == np.float32
    full = np.broadcast_shapes(dx_shape, like_shape)
    assert np.sum(out) == pytest.approx(np.prod(full) if full else 1.0)


def test_unbroadcast_refuses_incompatible_shapes_naming_the_primitive():
    bad = ag.primitive(lambda x: x * 1.0, lambda dy, y, x: np.ones(5), name="badrule")
    p = Param(np.ones(3))
    with pytest.raises(ValueError, match=r"badrule.*argument 0.*\(5,\).*\(3,\)"):
        grad(diff(lambda: np.sum(bad(p))), p)


def test_integer_params_get_float_gradients():
    p = Param(np.array([1, 2, 3]))
    g = grad(diff(lambda: np.sum(p ** 2)), p)
    assert g.dtype.kind == "f"
    np.testing.assert_array_equal(g, [2.0, 4.0, 6.0])


def test_tape_repr_and_type():
    p = Param(np.array([[1.0]]))
    t = diff(lambda: p * 14.0)  # a size-1 array is a scalar result
    assert isinstance(t, Tape)
    assert grad(t, p).shape == (1, 1)


def test_a_dropped_tape_is_freed_by_reference_counting_alone():
    p = Param(np.ones(1000))
    was = gc.isenabled()
    gc.disable()
    try:
        for sweep in (False, True):
            t = diff(lambda: np.sum(np.tanh(p * 2.0)))
            ref = weakref.ref(t.nodes[1].value)
            if sweep:
                grad(t, p)
            del t
            assert ref() is None  # no reference cycle kept the graph alive
    finally:
        if was:
            gc.enable()


def test_garbage_collector_paused_while_recording_and_restored():
    p = Param(np.ones(2))
    states = []
    assert gc.isenabled()
    diff(lambda: (states.append(gc.isenabled()), np.sum(p))[1])
    assert states == [False] and gc.isenabled()
    with pytest.raises(RuntimeError):
        diff(lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert gc.isenabled()
    gc.disable()
    try:
        diff(lambda: np.sum(p))
        assert not gc.isenabled()  # a collector the user disabled stays disabled
    finally:
        gc.enable()
