"""ag.delta, ag.compile, ag.defdelta, ag.checkdiff: the seed's examples, guards, fallbacks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minitorch_ag as ag

RNG = np.random.default_rng(7)


def f(x, y):
    return (x + 2 * y) * y ** 2


def f2(x, y):
    q = f(x * y, y) * x
    return q + y, q - x


div = ag.defdelta(lambda x, y: (x / y, lambda z: (z / y, -z * x / y ** 2)))


def f3(x, y):
    return div(x, y) + y


def rosenbrock2(x, y):
    return np.sum(100 * (y - x ** 2) ** 2 + (1 - x) ** 2)


def rosenbrock(x):
    return rosenbrock2(x[0:len(x) - 1], x[1:len(x)])


def f4(x, c):
    return np.sum(c * x)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def autoencoder_error(we1, we2, wd, b1, b2, inp):
    first = sigmoid(we1 @ inp + b1)
    encoded = sigmoid(we2 @ first + b2)
    return np.sum((inp - sigmoid(wd @ encoded)) ** 2)


def exact(a, b) -> None:
    assert np.asarray(a).dtype == np.asarray(b).dtype
    np.testing.assert_array_equal(a, b)


def test_f_value_and_default_cotangent_match_vjp() -> None:
    x, y = RNG.standard_normal(4), RNG.standard_normal(4)
    z, back = ag.delta(f)(x, y)
    want_z, want_back = ag.vjp(f, x, y)
    exact(z, want_z)
    for g, h in zip(back(), want_back(np.ones(4)), strict=True):
        exact(g, h)


def test_f2_several_outputs_unpack_flat_and_none_cotangent() -> None:
    x, y = RNG.standard_normal(3), RNG.standard_normal(3)
    dz, dt = RNG.standard_normal(3), RNG.standard_normal(3)
    z, t, back = ag.delta(f2)(x, y)
    (wz, wt), wback = ag.vjp(f2, x, y)
    exact(z, wz)
    exact(t, wt)
    for g, h in zip(back(dz, dt), wback(dz, dt), strict=True):
        exact(g, h)
    for g, h in zip(back(None, dt), wback(None, dt), strict=True):
        exact(g, h)


def test_f3_user_pullback_is_a_building_block_and_reuses_the_forward() -> None:
    x, y = RNG.standard_normal(3), RNG.uniform(1, 2, 3)
    d = ag.delta(f3)
    z, back = d(x, y)
    dx, dy = back()
    np.testing.assert_allclose(dx, 1 / y)
    np.testing.assert_allclose(dy, -x / y ** 2 + 1)
    assert "-dz" in d.source(x, y)  # the user's pullback is in the generated code
    assert ag.checkdiff(f3, d, x, y)
    # under diff and grad too (second order through the user's pullback)
    assert ag.grad(lambda a: div(a, 4.0))(2.0) == 0.25


def test_rosenbrock_through_slices_checkdiff() -> None:
    d = ag.delta(rosenbrock)
    assert ag.checkdiff(rosenbrock, d, RNG.standard_normal(3))
    src = d.source(np.zeros(3))
    assert "x[0:2]" in src and "x[1:3]" in src


def test_f4_constant_argument_gets_none() -> None:
    x, c = RNG.standard_normal(3), RNG.standard_normal(3)
    d = ag.delta(f4, const=(1,))
    z, back = d(x, c)
    dx, dc = back()
    exact(dx, c)
    assert dc is None
    # the constant is an input, not a frozen value: a new c gives the new gradient
    c2 = RNG.standard_normal(3)
    exact(d(x, c2)[1]()[0], c2)
    assert d.traces == 1


def test_autoencoder_checkdiff_and_const6() -> None:
    args = (RNG.standard_normal((3, 3)), RNG.standard_normal((3, 3)), RNG.random((3, 3)),
            RNG.standard_normal(3), RNG.standard_normal(3), RNG.standard_normal(3))
    d = ag.delta(autoencoder_error)
    assert ag.checkdiff(autoencoder_error, d, *args)
    value, back = ag.delta(autoencoder_error, const=(5,))(*args)
    grads = back()
    assert grads[5] is None
    want = ag.vjp(autoencoder_error, *args, const=(5,))[1](np.ones(()))
    for g, h in zip(grads[:5], want[:5], strict=True):
        exact(g, h)


def test_source_is_deterministic_and_runs_with_numpy_alone(tmp_path) -> None:
    x, y = RNG.standard_normal(3), RNG.standard_normal(3)
    text = ag.delta(f2).source(x, y)
    assert text == ag.delta(f2).source(x, y)
    assert "minitorch_ag import" not in text
    path = ag.delta(f2).save(str(tmp_path / "df2.py"), x, y)
    namespace: dict = {"__file__": path}
    with open(path) as fh:
        exec(compile(fh.read(), path, "exec"), namespace)  # noqa: S102 - generated here
    (z, t), saved = namespace["forward"](x, y)
    dx, dy = namespace["backward"](saved, np.ones(3), np.ones(3))
    (wz, wt), wback = ag.vjp(f2, x, y)
    exact(z, wz)
    for g, h in zip((dx, dy), wback(np.ones(3), np.ones(3)), strict=True):
        exact(g, h)


def test_shape_and_dtype_changes_retrace() -> None:
    d = ag.delta(lambda x: np.sum(x ** 3))
    for x in (np.ones(3), np.ones(4), np.ones(4, dtype=np.float32), np.ones(3)):
        z, back = d(x)
        exact(back()[0], 3 * x ** 2)
    assert d.traces == 3


def test_branch_outcome_is_guarded_never_stale() -> None:
    def g(x):
        if np.sum(x) > 0:
            return np.sum(x ** 2)
        return np.sum(-3 * x)

    d = ag.delta(g)
    for x in (np.ones(2), -np.ones(2), np.ones(2), -np.ones(2)):
        z, back = d(x)
        exact(z, g(x))
        exact(back()[0], ag.grad(g)(x))
    assert d.traces == 2
    assert "the trace took this branch" in d.source(np.ones(2))


def test_integer_from_data_is_guarded() -> None:
    def g(x, n):
        out = x
        for _ in range(int(n)):
            out = out * x
        return np.sum(out)

    d = ag.delta(g)
    x = np.array([1.5, 2.0])
    for n in (2.0, 3.0, 2.0):
        exact(d(x, n)[1]()[0], ag.grad(g)(x, n))
    assert d.traces == 2


def test_param_set_change_retraces() -> None:
    class Model:
        def __init__(self):
            self.w = ag.Param(np.array([1.0, 2.0]))

    m = Model()
    step = ag.compile(lambda x: np.sum((m.w * x) ** 2))
    x = np.array([1.0, 3.0])
    loss, (g,) = step(x)
    exact(g, 2 * m.w.value * x ** 2)
    m.w = ag.Param(np.array([5.0, 6.0]))  # a new Param: must not replay the old one
    loss, (g,) = step(x)
    exact(g, 2 * np.array([5.0, 6.0]) * x ** 2)
    m.w.value *= 2  # updated in place (training): seen by the replay
    loss, (g,) = step(x)
    exact(g, 2 * np.array([10.0, 12.0]) * x ** 2)
    assert step.traces == 2


def test_randomness_falls_back_to_eager_with_a_warning() -> None:
    rng = np.random.default_rng(0)
    d = ag.delta(lambda x: np.sum(x * rng.random(3)))
    with pytest.warns(RuntimeWarning, match="random"):
        _, back = d(np.ones(3))
    a = back()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per signature
        b = d(np.ones(3))[1]()[0]
    assert not np.array_equal(a, b)  # fresh randomness each call: not replayed
    assert "eager" in d.explain()


def test_side_effect_falls_back_to_eager() -> None:
    state = {"calls": np.zeros(1)}

    def g(x):
        state["calls"] += 1
        return np.sum(x * 2)

    d = ag.delta(g)
    with pytest.warns(RuntimeWarning, match="writes into an array"):
        d(np.ones(2))
    d(np.ones(2))
    # the call that finds the side effect runs g twice (its trace, then eagerly); later
    # calls of that signature run eagerly, once each, never replayed
    assert state["calls"][0] == 3


def test_compile_training_step_matches_diff_and_trains() -> None:
    w1 = ag.Param(0.1 * RNG.standard_normal((3, 8)))
    b1 = ag.Param(np.zeros(8))
    w2 = ag.Param(0.1 * RNG.standard_normal((8, 1)))
    model = [w1, b1, w2]

    def loss(x, y):
        h = np.tanh(x @ model[0] + model[1])
        return np.mean((h @ model[2] - y) ** 2)

    step = ag.compile(loss)
    x, y = RNG.standard_normal((16, 3)), RNG.standard_normal((16, 1))
    for _ in range(3):
        tape = ag.diff(loss, x, y)
        value, grads = step(x, y)
        exact(value, ag.value(tape))
        for p, g in zip(step.params, grads, strict=True):
            exact(g, ag.grad(tape, p))
        for p, g in zip(step.params, grads, strict=True):
            ag.axpy_(-0.1, g, p)
    assert step.traces == 1


def test_higher_order_through_delta_records_eagerly() -> None:
    d = ag.delta(lambda x: np.sum(np.sin(x)))

    def first(x):
        return d(x)[1]()[0]

    x = np.array([0.3, 1.1])
    # d/dx sum(cos(x)) = -sin(x): through the pullback of δf, recorded while diff runs
    got = ag.grad(lambda v: np.sum(first(v)))(x)
    np.testing.assert_allclose(got, -np.sin(x))


def test_checkdiff_catches_a_wrong_pullback() -> None:
    def bad(x):
        return np.sum(x ** 2), lambda: (3 * x,)

    with pytest.raises(AssertionError, match="argument 0"):
        ag.checkdiff(lambda x: np.sum(x ** 2), bad, np.array([1.0, 2.0]))


def test_compile_with_auxiliary_outputs_differentiates_the_loss_only() -> None:
    w = ag.Param(np.array([1.0, -2.0]))

    def loss(x):
        pred = x @ w
        return np.sum(pred ** 2), np.mean(pred > 0)

    step = ag.compile(loss)
    x = np.array([[1.0, 1.0], [2.0, 0.5]])
    for _ in range(2):
        (value, acc), (g,) = step(x)
        tape = ag.diff(lambda: loss(x)[0])
        exact(value, ag.value(tape))
        exact(g, ag.grad(tape, w))
        assert acc == 0.5
    assert step.traces == 1


def test_compile_refuses_a_non_scalar_loss() -> None:
    w = ag.Param(np.ones(3))
    with pytest.raises(ValueError, match="scalar"):
        ag.compile(lambda x: x * w)(np.ones(3))


def test_compile_with_dropout_or_batchnorm_runs_eagerly_with_a_warning() -> None:
    from minitorch_ag import nn

    x, y = RNG.standard_normal((16, 4)), RNG.integers(0, 3, 16)
    for layer, why in ((nn.Dropout(0.5), "random"), (nn.BatchNorm(8), "writes into an array")):
        model = nn.Chain(nn.Linear(4, 8, rng=1), layer, nn.Linear(8, 3, rng=2))
        step = ag.compile(lambda a, b, model=model: model(a, b))
        with pytest.warns(RuntimeWarning, match=why):
            value, grads = step(x, y)
        tape = ag.diff(lambda model=model: model(x, y))
        assert all(g is not None for g in grads)
        assert np.isfinite(value) and np.isfinite(ag.value(tape))


def test_save_writes_large_constants_beside_the_source(tmp_path) -> None:
    big = RNG.standard_normal((20, 20))
    d = ag.delta(lambda x: np.sum(np.tanh(big @ x)))
    x = RNG.standard_normal(20)
    path = d.save(str(tmp_path / "dg.py"), x)
    assert (tmp_path / "dg.npz").is_file()
    namespace: dict = {"__file__": path}
    with open(path) as fh:
        exec(compile(fh.read(), path, "exec"), namespace)  # noqa: S102 - generated here
    (z,), saved = namespace["forward"](x)
    (dx,) = namespace["backward"](saved, np.ones(()))
    want_z, back = ag.vjp(d.f, x)
    exact(z, want_z)
    exact(dx, back(np.ones(()))[0])


def test_simulated_cupy_arrays_stay_on_the_device() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gpu"))
    import fake_cupy

    with fake_cupy.installed():
        w = ag.Param(RNG.standard_normal((3, 2)))
        ag.to_device(w, "gpu")
        step = ag.compile(lambda x: np.sum(np.tanh(x @ w) ** 2))
        x = ag.to_device(RNG.standard_normal((4, 3)), "gpu")
        for _ in range(2):
            value, (g,) = step(x)
            tape = ag.diff(lambda: np.sum(np.tanh(x @ w) ** 2))
            want = ag.grad(tape, w)
            assert type(g) is type(want) and type(g).__module__ != "numpy"
            np.testing.assert_array_equal(ag.to_device(g, "cpu"), ag.to_device(want, "cpu"))
        assert step.traces == 1


def test_a_shape_decided_by_the_data_is_guarded() -> None:
    d = ag.delta(lambda x: np.sum(x[x > 0] ** 2))
    for x in (np.array([1.0, -2.0, 3.0]), np.array([1.0, 2.0, 3.0]), np.array([-1.0, 2.0, 3.0])):
        z, back = d(x)
        exact(z, d.f(x))
        exact(back()[0], ag.grad(d.f)(x))
    assert d.traces == 2  # [1, -2, 3] and [-1, 2, 3] select two elements each
    assert "a shape the data decided" in d.source(np.array([1.0, 2.0, 3.0]))


def test_a_mask_argument_is_an_input_not_a_constant() -> None:
    d = ag.delta(lambda x, m: np.sum(np.where(m, x, 0.0) ** 2))
    x = np.array([1.0, 2.0, 3.0])
    for m in (np.array([True, False, True]), np.array([False, True, True])):
        z, back = d(x, m)
        exact(z, d.f(x, m))
        dx, dm = back()
        exact(dx, 2 * x * m)
        assert dm is None
    assert d.traces == 1


def test_a_rebound_global_array_retraces() -> None:
    global SCALE
    SCALE = np.array([1.0, 2.0])
    d = ag.delta(lambda x: np.sum(SCALE * x))
    x = np.ones(2)
    exact(d(x)[1]()[0], np.array([1.0, 2.0]))
    SCALE = np.array([5.0, 7.0])
    exact(d(x)[1]()[0], np.array([5.0, 7.0]))
    SCALE[...] = 3.0  # in place: the same array, seen by the replay
    exact(d(x)[1]()[0], np.array([3.0, 3.0]))
    assert d.traces == 2


SCALE = np.ones(2)


def test_compile_under_diff_records_the_loss_for_higher_order() -> None:
    w = ag.Param(np.array([0.5, -1.0]))
    step = ag.compile(lambda x: np.sum(np.sin(w * x)))
    x = np.array([1.0, 2.0])
    # the gradient norm, differentiated again: the step runs eagerly inside diff
    tape = ag.diff(lambda: np.sum(step(x)[1][0] ** 2))
    want = ag.grad(lambda v: np.sum((np.cos(v * x) * x) ** 2))(w.value)
    np.testing.assert_allclose(ag.grad(tape, w), want)


def test_compile_keeps_an_embedding_gradient_row_sparse() -> None:
    from minitorch_ag import nn
    from minitorch_ag.sparse import Sparse

    emb = ag.Param(RNG.standard_normal((10, 4)))
    w = ag.Param(RNG.standard_normal((4, 3)))

    def loss(ids, y):
        return nn.cross_entropy(emb[ids] @ w, y)

    step = ag.compile(loss)
    for _ in range(3):
        ids, y = RNG.integers(0, 10, 6), RNG.integers(0, 3, 6)
        value, (ge, gw) = step(ids, y)  # new labels and rows every call: nothing frozen
        tape = ag.diff(lambda ids=ids, y=y: loss(ids, y))
        exact(value, ag.value(tape))
        assert isinstance(ge, Sparse) and isinstance(ag.grad(tape, emb), Sparse)
        exact(ge.to_dense(), ag.grad(tape, emb).to_dense())
        exact(gw, ag.grad(tape, w))
        ag.axpy_(-0.1, ge, emb)  # the optimizers' update takes it as it is
    assert step.traces == 1


def test_a_param_argument_is_differentiated_as_vjp_does() -> None:
    p = ag.Param(np.array([1.0, 2.0]))
    z, back = ag.delta(lambda w: np.sum(w ** 2))(p)
    exact(back()[0], np.array([2.0, 4.0]))


def test_a_rebound_global_number_retraces() -> None:
    global FACTOR
    d = ag.delta(lambda x: np.sum(FACTOR * x ** 2))
    x = np.array([1.0, 2.0])
    FACTOR = 2.0
    exact(d(x)[1]()[0], 4.0 * x)
    FACTOR = 3.0
    exact(d(x)[1]()[0], 6.0 * x)
    assert d.traces == 2


FACTOR = 1.0
