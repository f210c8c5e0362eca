"""In-place updates while recording: copy-on-write updates of tracked values (``x[i] = v``,
``x += y``, ``x.fill`` ...), what is refused, and the read-only arrays the tape saves."""

import inspect

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import Param, diff, grad, inplace, value
from minitorch_ag.registry import PRIMITIVES


def chain(x):
    """``y = x * 2; x[0] = 5; z = x * y; x *= 3``: the earlier nodes keep the old x."""
    y = x * 2
    x[0] = 5.0
    z = x * y
    x *= 3
    return np.sum(z * x)


def chain_gradient(x0):
    # z = x' * 2 x with x' = (5, x1, x2 ...), final x'' = 3 x'; f = sum(z * x'') = 6 sum(x'^2 x)
    xp = x0.copy()
    xp[0] = 5.0
    g = 6 * xp ** 2  # d/dx through y = 2 x (z's factor)
    g[1:] += 12 * xp[1:] * x0[1:]  # d/dx through x' (positions not overwritten)
    return g


def test_chain_of_updates_against_hand_written_gradients():
    x0 = np.array([1.0, 2.0, -3.0])
    p = Param(x0.copy())
    t = diff(lambda: chain(p * 1.0))
    np.testing.assert_allclose(value(t), 6 * np.sum(np.array([5.0, 2, -3]) ** 2 * x0))
    np.testing.assert_allclose(grad(t, p), chain_gradient(x0))
    # the function interface: f updates its own argument (the caller's array is not changed)
    np.testing.assert_allclose(ag.grad(chain)(x0), chain_gradient(x0))
    np.testing.assert_array_equal(x0, [1.0, 2.0, -3.0])
    assert ag.gradcheck(lambda x: chain(np.copy(x)), np.array([0.5, -1.5, 2.0, 0.3]), order=2)


def test_the_object_stands_for_the_new_value_and_earlier_nodes_for_the_old():
    p = Param(np.array([1.0, 2.0]))
    seen = {}

    def f():
        x = p * 1.0
        alias = x
        y = x * 10.0
        x[1] = 7.0
        seen["same"] = alias is x
        seen["x"] = value(x).copy()
        seen["y"] = value(y).copy()
        return np.sum(x * y)

    t = diff(f)
    assert seen["same"]
    np.testing.assert_array_equal(seen["x"], [1.0, 7.0])
    np.testing.assert_array_equal(seen["y"], [10.0, 20.0])
    np.testing.assert_array_equal(grad(t, p), [20.0, 70.0])  # 20 x0 ; 10 * x'1


def test_assigned_values_get_gradients_broadcast_back_to_their_shape():
    x, v = Param(np.zeros((3, 4))), Param(np.array([1.0, 2.0, 3.0, 4.0]))

    def f():
        y = x * 1.0
        y[1:] = v  # v broadcast over two rows
        return np.sum(y * np.arange(12.0).reshape(3, 4))

    t = diff(f)
    np.testing.assert_array_equal(grad(t, v), [12.0, 14.0, 16.0, 18.0])
    np.testing.assert_array_equal(grad(t, x), [[0, 1, 2, 3], [0] * 4, [0] * 4])


def test_repeated_fancy_indices_follow_numpy_the_last_write_wins():
    x0, v0 = np.zeros(3), np.array([1.0, 2.0, 3.0])
    expected = x0.copy()
    expected[[0, 2, 0]] = v0
    p, v = Param(x0), Param(v0)

    def f():
        y = p * 1.0
        y[[0, 2, 0]] = v
        y[[1, 1]] += 1.0  # NumPy adds once, not twice
        return np.sum(y * np.array([1.0, 10.0, 100.0]))

    t = diff(f)
    assert value(t) == np.sum((expected + [0, 1, 0]) * [1, 10, 100])
    np.testing.assert_array_equal(grad(t, v), [0.0, 100.0, 1.0])  # v[0] was overwritten by v[2]
    np.testing.assert_array_equal(grad(t, p), [0.0, 10.0, 0.0])


def test_dtypes_stay_as_numpy_keeps_them():
    x, v = Param(np.ones(3, dtype=np.float32)), Param(np.array([2.0]))

    def f():
        y = x * 1
        y[0] = v[0]  # float64 into float32: stays float32
        y *= v  # float64 result cast back, as NumPy's out= with same_kind casting
        assert y.dtype == np.float32
        return np.sum(y)

    t = diff(f)
    assert grad(t, x).dtype == np.float32 and grad(t, v).dtype == np.float64
    np.testing.assert_allclose(grad(t, v), [2.0 + 2 + 1 + 1])


def test_writing_through_a_slice_updates_the_array_it_views():
    def f(x):
        y = np.copy(x)
        row = y[0]  # a view: updating it updates y, as in NumPy
        row += 1.0
        row *= y[1]
        y[2, ::2] -= row[1]  # a part row does not overlap
        return np.sum(np.sin(y)) + np.sum(row ** 2)

    x0 = np.random.default_rng(0).standard_normal((3, 4))
    plain = x0.copy()
    r = plain[0]
    r += 1.0
    r *= plain[1]
    plain[2, ::2] -= r[1]
    expected = np.sum(np.sin(plain)) + np.sum(r ** 2)
    np.testing.assert_allclose(value(diff(f, Param(x0))), expected)
    assert ag.gradcheck(f, x0, order=2)


def test_rnn_style_updates_of_rows():
    def f(w):
        h = np.zeros((5, 3)) + 0.0 * w
        prev = h[0]
        for t in range(1, 5):
            h[t] = np.tanh(prev * w + 0.5)  # prev (a view of the row before) is still held
            prev = h[t]
        return np.sum(h ** 2)

    assert ag.gradcheck(f, np.array([0.3, -0.7, 1.1]), order=2)


def test_fill_and_put_methods_and_sort():
    def f(x, v):
        y = np.copy(x)
        y.put([0, -1], v)
        z = np.copy(x)
        z.fill(v[0])
        return np.sum(np.sin(y) + z * y)

    assert ag.gradcheck(f, np.array([[0.1, 0.2], [0.3, 0.4]]), np.array([1.5, -0.5]), order=2)
    a = Param(np.array([3.0, 1.0, 2.0]))
    a.sort()  # outside recording: in place on the value
    np.testing.assert_array_equal(a.value, [1.0, 2.0, 3.0])

    def g():
        y = a * np.array([1.0, -1.0, 1.0])
        y.sort()
        return np.sum(y * np.array([1.0, 2.0, 3.0]))

    if PRIMITIVES.get(np.sort) is None:
        with pytest.raises(TypeError, match="np.sort"):
            diff(g)
    else:
        # y = [1, -2, 3] sorts to [-2, 1, 3]: a[1] (times -1) moves first, a[0] second.
        np.testing.assert_array_equal(grad(diff(g), a), [2.0, -1.0, 3.0])
    a.partition(0)  # outside recording: in place on the value
    assert a.value[0] == 1.0

    def h():
        y = a * 1.0
        y.partition(1)
        return np.sum(y * np.array([1.0, 2.0, 3.0]))

    if PRIMITIVES.get(np.partition) is None:
        with pytest.raises(TypeError, match="np.partition"):
            diff(h)
    else:
        np.testing.assert_array_equal(grad(diff(h), a), [1.0, 2.0, 3.0])


# -- refused: updates copy-on-write cannot reproduce ---------------------------------------------


def refused(f, error=TypeError, match=None):
    with pytest.raises(error, match=match):
        diff(f)


def test_params_are_not_updated_in_place_while_recording():
    p = Param(np.zeros(3))
    for update in (lambda: p.__setitem__(0, 1.0), lambda: p.__iadd__(1.0), lambda: p.fill(2.0),
                   lambda: np.put(p, [0], 1.0), lambda: p[0:2].__imul__(2.0)):
        refused(lambda update=update: (update(), np.sum(p))[1], match="Param")
    p[0] = 1.0  # outside diff: in place
    p += 1.0
    np.testing.assert_array_equal(p.value, [2.0, 1.0, 1.0])


def test_views_numpy_would_write_through_are_refused():
    p = Param(np.ones((2, 3)))

    def reshaped():
        y = (p * 1.0).reshape(3, 2)
        y[0] = 0.0

    def held():
        y = p * 1.0
        row = y[0]
        y[0, 1] = 5.0  # NumPy would change row too
        return row

    refused(reshaped, match="view of another tracked array")
    refused(held, match="is a view of x")


def test_a_view_dropped_before_the_update_does_not_stop_it():
    """Whether the program still holds a view is asked with a weak reference, not refcounts."""
    p = Param(np.ones((2, 3)))

    def f():
        y = p * 1.0
        row = y[0]
        s = np.sum(row * 2.0)
        del row  # the tape still has the view's node; the program does not
        y[0, 1] = 5.0
        return np.sum(y) + s

    np.testing.assert_array_equal(grad(diff(f), p), [[3.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    assert "getrefcount" not in inspect.getsource(inplace)


def test_other_updates_that_cannot_be_recorded_are_refused():
    p = Param(np.ones(3))
    outer_value = []

    def inner():
        outer_value[0][0] = p[0]  # tracked on the outer diff while the inner one records
        return np.sum(p)

    def outer():
        outer_value.append(p * 1.0)
        diff(inner)
        return np.sum(p)

    refused(outer, match="outer diff")
    finished = diff(lambda: np.sum(p)).nodes[0]  # a Result of a finished tape: a constant
    refused(lambda: (finished.__setitem__(0, p[0]), np.sum(p))[1], match="constant")
    refused(lambda: (np.zeros(3).__setitem__(slice(0, 2), p[1:]), np.sum(p))[1],
            match="a plain array cannot hold a tracked value")
    refused(lambda: (np.copyto(np.zeros(3), p), np.sum(p))[1], match="plain array")
    refused(lambda: ((p * 1.0).resize(6), np.sum(p))[1], match="resize")
    refused(lambda: ((p * 1.0).__iadd__(np.ones((2, 3))), np.sum(p))[1], ValueError,
            match="cannot change the shape")


# -- saved arrays are read-only while recording ---------------------------------------------------


def test_saved_constants_and_param_values_are_read_only_while_recording():
    p = Param(np.array([1.0, 2.0]))
    r = np.array([3.0, 4.0])
    idx = np.array([0, 0])
    for mutate in (lambda: r.__imul__(2.0), lambda: p.value.__imul__(2.0),
                   lambda: ag.axpy_(1.0, np.ones(2), p), lambda: idx.__setitem__(0, 1)):
        def f(mutate=mutate):
            y = p * r + p[idx]
            mutate()
            return np.sum(y)

        refused(f, ValueError, match="read-only")
        assert r.flags.writeable and p.value.flags.writeable and idx.flags.writeable
    np.testing.assert_array_equal(r, [3.0, 4.0])


def test_reassigning_a_param_value_the_tape_uses_is_refused():
    p = Param(np.array([1.0, 2.0]))

    def f():
        y = np.sum(p * 2.0)
        p.value = np.zeros(2)  # later uses of p would silently read the old value
        return y

    refused(f, match="Param")
    np.testing.assert_array_equal(p.value, [1.0, 2.0])
    q = Param(np.ones(2))
    t = diff(lambda: (setattr(q, "value", np.full(2, 3.0)), np.sum(p * q))[1])  # q not yet used
    np.testing.assert_array_equal(grad(t, p), [3.0, 3.0])
    p.value = np.array([5.0, 6.0])  # outside diff: allowed
    np.testing.assert_array_equal(value(p), [5.0, 6.0])


def test_flags_come_back_exactly_as_they_were():
    p = Param(np.array([1.0, 2.0]))
    base = np.arange(6.0)
    view = base[1:3]  # freezing a view freezes its base too
    readonly = np.array([1.0, 1.0])
    readonly.flags.writeable = False
    seen = []

    def f():
        y = p * view + p * readonly
        seen.append((base.flags.writeable, view.flags.writeable))
        return np.sum(y)

    grad(diff(f), p)
    assert seen == [(False, False)]
    assert base.flags.writeable and view.flags.writeable and not readonly.flags.writeable
    # after an exception too
    with pytest.raises(RuntimeError):
        diff(lambda: (p * view, (_ for _ in ()).throw(RuntimeError("boom"))))
    assert base.flags.writeable and view.flags.writeable and p.value.flags.writeable


def test_nested_diffs_do_not_restore_too_early_and_every_entry_point_restores():
    p = Param(np.array([1.0, 2.0]))
    r = np.array([3.0, 4.0])

    def outer():
        y = np.sum(p * r)
        g = grad(diff(lambda: np.sum(p * r) ** 2), p)  # an inner diff that also saves r
        with pytest.raises(ValueError, match="read-only"):
            r[0] = 0.0  # still saved by the outer tape
        return y + np.sum(g)

    grad(diff(outer), p)
    assert r.flags.writeable
    x = np.array([0.5, 1.5])
    for run in (lambda: ag.grad(lambda a: np.sum(a * r))(x),
                lambda: ag.vjp(lambda a: a * r, x)[1](np.ones(2)),
                lambda: ag.gradcheck(lambda a: np.sum(a * r), x),
                lambda: ag.check_differentiable(lambda a: np.sum(a * r), x)):
        run()
        assert r.flags.writeable and x.flags.writeable


def test_value_inside_diff_is_read_only():
    p = Param(np.array([1.0, 2.0]))

    def f():
        y = p * 2.0
        v = value(y)
        with pytest.raises(ValueError, match="read-only"):
            v[0] = 0.0
        return np.sum(y)

    np.testing.assert_array_equal(grad(diff(f), p), [2.0, 2.0])
