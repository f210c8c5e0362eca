"""``minitorch_ag.nn.functional``: activations, softmax family, losses, accuracy and dropout.

Every operation: gradcheck (float64, random inputs, several shapes including 0-d and
non-contiguous views) to first and second order through ``grad(f)``, the same gradient through
``Param`` + ``diff``, float32 kept float32, and values and gradients equal to
``torch.nn.functional``'s where PyTorch has the operation. The helpers here are shared with
``test_conv.py`` and ``test_norm.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag.nn import functional as F

# -- shared helpers ---------------------------------------------------------------------------


def projected(fn, args, seed=0, nonlinear=False):
    """``sum(fn(*args) * W)`` (``sin`` of it when ``nonlinear``) for a fixed random ``W``."""
    out = ag.value(fn(*args))
    w = np.random.default_rng(seed).standard_normal(np.shape(out)).astype(np.result_type(out))
    if nonlinear:
        return lambda *a: np.sum(np.sin(fn(*a)) * w)
    return lambda *a: np.sum(fn(*a) * w)


def float_argnums(args):
    return tuple(i for i, a in enumerate(args)
                 if isinstance(a, np.ndarray) and a.dtype.kind == "f")


def check_grad(fn, *args, order=2, **tol):
    """gradcheck of a projection of ``fn`` through ``grad(f)``: first order and, with
    ``order=2``, second order (the projection goes through ``sin`` so that the rules are fed a
    tracked incoming gradient)."""
    assert ag.gradcheck(projected(fn, args), *args, **tol)
    if order == 2:
        assert ag.gradcheck(projected(fn, args, nonlinear=True), *args, order=2, **tol)


def check_param(fn, *args):
    """``Param`` + ``diff`` + ``grad(tape, p)`` equal ``grad(f)`` (values, shapes, dtypes)."""
    f = projected(fn, args)
    nums = float_argnums(args)
    expected = ag.grad(f, argnum=nums)(*args)
    wrapped = list(args)
    for i in nums:
        wrapped[i] = ag.Param(args[i])
    tape = ag.diff(f, *wrapped)
    for i, e in zip(nums, expected, strict=True):
        g = ag.grad(tape, wrapped[i])
        assert not isinstance(g, ag.Tensor)
        assert g.shape == args[i].shape and g.dtype == args[i].dtype
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


def check_float32(fn, *args):
    """float32 inputs give float32 values and float32 gradients."""
    args32 = [a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
              for a in args]
    assert np.result_type(fn(*args32)) == np.float32
    nums = float_argnums(args32)
    for i, g in zip(nums, ag.grad(projected(fn, args32), argnum=nums)(*args32), strict=True):
        assert g.dtype == np.float32, f"argument {i}: {g.dtype}"


def check_torch(fn, tfn, *args, rtol=1e-7, atol=1e-9):
    """Values and gradients (of a random projection) equal PyTorch's for the same inputs."""
    torch = pytest.importorskip("torch")
    nums = float_argnums(args)
    f = projected(fn, args, seed=3)
    ours = ag.grad(f, argnum=nums)(*args)
    targs = [torch.tensor(a, requires_grad=i in nums) if isinstance(a, np.ndarray) else a
             for i, a in enumerate(args)]
    ty = tfn(*targs)
    y = fn(*args)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=rtol, atol=atol, err_msg="value")
    w = np.random.default_rng(3).standard_normal(np.shape(y)).astype(np.result_type(y))
    (ty * torch.tensor(w)).sum().backward()
    for i, g in zip(nums, ours, strict=True):
        np.testing.assert_allclose(g, targs[i].grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of argument {i}")


def away_from_zero(rng, shape, gap=0.1):
    """Standard normal values pushed at least ``gap`` away from 0 (the kink of relu & co)."""
    x = rng.standard_normal(shape)
    return x + np.where(x >= 0, gap, -gap)


def shapes_of(rng):
    """0-d, size-1, a matrix and a non-contiguous (transposed) view."""
    return [away_from_zero(rng, ()), away_from_zero(rng, (1,)), away_from_zero(rng, (2, 3)),
            away_from_zero(rng, (4, 3)).T]


# -- activations ------------------------------------------------------------------------------

ACTIVATIONS = {
    "relu": (F.relu, "relu"),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda tf, x: tf.leaky_relu(x, 0.2)),
    "elu": (lambda x: F.elu(x, 1.3), lambda tf, x: tf.elu(x, 1.3)),
    "selu": (F.selu, "selu"),
    "gelu": (F.gelu, "gelu"),
    "gelu_tanh": (lambda x: F.gelu(x, "tanh"), lambda tf, x: tf.gelu(x, approximate="tanh")),
    "sigmoid": (F.sigmoid, "sigmoid"),
    "softplus": (F.softplus, "softplus"),
    "softplus_beta_threshold": (lambda x: F.softplus(x, 2.0, 1.5),
                                lambda tf, x: tf.softplus(x, 2.0, 1.5)),
    "swish": (lambda x: F.swish(x, 1.5), lambda tf, x: x * tf.sigmoid(1.5 * x)),
    "silu": (F.silu, "silu"),
    "tanh": (F.tanh, "tanh"),
    "softmax": (F.softmax, lambda tf, x: tf.softmax(x, -1)),
    "softmax_axis0": (lambda x: F.softmax(x, 0), lambda tf, x: tf.softmax(x, 0)),
    "log_softmax": (F.log_softmax, lambda tf, x: tf.log_softmax(x, -1)),
    "log_softmax_axis0": (lambda x: F.log_softmax(x, 0), lambda tf, x: tf.log_softmax(x, 0)),
    "logsumexp": (F.logsumexp, lambda tf, x: tf.torch.logsumexp(x, -1)),
    "logsumexp_keepdims": (lambda x: F.logsumexp(x, 0, keepdims=True),
                           lambda tf, x: tf.torch.logsumexp(x, 0, keepdim=True)),
}
SOFTMAX_FAMILY = {k for k in ACTIVATIONS if k.startswith(("softmax", "log_softmax", "logsumexp"))}


def _torch_activation(spec):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    tf.torch = torch
    if isinstance(spec, str):
        return getattr(torch, spec) if spec in ("sigmoid", "tanh") else getattr(tf, spec)
    return lambda x: spec(tf, x)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_gradcheck_first_and_second_order(name):
    fn = ACTIVATIONS[name][0]
    rng = np.random.default_rng(len(name))
    for x in shapes_of(rng):
        if name in SOFTMAX_FAMILY and x.ndim == 0:
            continue
        if name.endswith(("axis0", "keepdims")) and x.ndim < 1:
            continue
        check_grad(fn, x)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_param_interface_and_float32(name):
    fn = ACTIVATIONS[name][0]
    x = away_from_zero(np.random.default_rng(1), (3, 4))
    check_param(fn, x)
    check_float32(fn, x)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_equals_torch(name):
    fn, spec = ACTIVATIONS[name]
    x = 3 * away_from_zero(np.random.default_rng(2), (4, 5))
    check_torch(fn, _torch_activation(spec), x)


def test_activations_are_single_nodes():
    """One tape node per activation (primitives, not compositions)."""
    x = ag.Param(np.random.default_rng(0).standard_normal(5))
    for name, (fn, _) in ACTIVATIONS.items():
        tape = ag.diff(lambda: np.sum(fn(x)))
        ops = [n for n in tape.nodes if n is not None and n.prim is not None]
        assert len(ops) == 2, f"{name}: {[n.prim.name for n in ops]}"  # the op, then sum


def test_third_order_of_sigmoid():
    """The rules are differentiable all the way up: sigmoid''' by nested grads."""
    x = 0.3
    s = 1 / (1 + math.exp(-x))
    third = s * (1 - s) * (1 - 6 * s + 6 * s * s)
    got = ag.grad(ag.grad(ag.grad(lambda v: F.sigmoid(v))))(x)
    assert got == pytest.approx(third, rel=1e-10)


def test_softmax_family_is_stable_at_large_inputs():
    x = np.array([[1000.0, 1000.0, -1000.0], [-1e4, 0.0, 1e4]])
    np.testing.assert_allclose(F.softmax(x), [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(F.logsumexp(x), [1000 + math.log(2), 1e4])
    assert np.all(np.isfinite(F.log_softmax(x)))
    assert np.all(np.isfinite(ag.grad(lambda v: np.sum(F.log_softmax(v)[:, 0]))(x)))
    # -inf entries (masked logits) stay harmless
    masked = np.array([[0.0, -np.inf], [-np.inf, -np.inf]])
    with np.errstate(divide="ignore", invalid="ignore"):  # the all -inf row: log(0), 0 / 0
        np.testing.assert_allclose(F.softmax(masked)[0], [1.0, 0.0])
        assert F.logsumexp(masked)[1] == -np.inf


def test_sigmoid_softplus_do_not_overflow():
    x = np.array([-800.0, 800.0])
    with np.errstate(over="raise", invalid="raise"):
        np.testing.assert_allclose(F.sigmoid(x), [0.0, 1.0])
        np.testing.assert_allclose(F.softplus(x), [0.0, 800.0])
        F.elu(x)
        F.selu(x)
    assert F.sigmoid(np.array(-40.0)) == pytest.approx(math.exp(-40), rel=1e-12)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="gelu: approximate"):
        F.gelu(np.ones(2), "erf")


# -- cross-entropy and nll ------------------------------------------------------------------

LABELS = np.array([0, 3, -100, 2, 1, 1])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy_equals_torch(reduction, smoothing):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).standard_normal((6, 4)) * 2
    check_torch(
        lambda v: F.cross_entropy(v, LABELS, reduction=reduction, label_smoothing=smoothing),
        lambda v: torch.nn.functional.cross_entropy(v, torch.tensor(LABELS),
                                                    reduction=reduction,
                                                    label_smoothing=smoothing), x)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_class_weights_equal_torch(reduction):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(12)
    x = rng.standard_normal((6, 4))
    w = rng.uniform(0.2, 3.0, 4)
    tw, tl = torch.tensor(w), torch.tensor(LABELS)
    for smoothing in (0.0, 0.2):
        check_torch(lambda v: F.cross_entropy(v, LABELS, w, reduction=reduction,
                                              label_smoothing=smoothing),
                    lambda v: tf.cross_entropy(v, tl, tw, reduction=reduction,
                                               label_smoothing=smoothing), x)
    check_torch(lambda v: F.nll_loss(v, LABELS, w, reduction=reduction),
                lambda v: tf.nll_loss(v, tl, tw, reduction=reduction), x)


def test_class_weights_gradcheck_and_errors():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((6, 4))
    w = rng.uniform(0.2, 3.0, 4)
    check_grad(lambda v: F.cross_entropy(v, LABELS, w, label_smoothing=0.1), x)
    check_grad(lambda v: F.nll_loss(v, LABELS, w), x)
    check_float32(lambda v: F.cross_entropy(v, LABELS, w), x)
    with pytest.raises(ValueError, match=r"cross_entropy: weight must have shape \(4,\)"):
        F.cross_entropy(x, LABELS, np.ones(3))
    wp = ag.Param(w)
    with pytest.raises(TypeError, match="nll_loss: weight .* is a constant"):
        ag.diff(lambda: F.nll_loss(x * np.sum(wp), LABELS, wp))


def test_cross_entropy_images_and_custom_ignore_index_equal_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4, 2))
    labels = rng.integers(0, 3, (2, 4, 2))
    labels[0, 1, 1] = labels[1, 3, 0] = 7
    for red in ("mean", "none"):
        check_torch(
            lambda v: F.cross_entropy(v, labels, ignore_index=7, reduction=red,
                                      label_smoothing=0.1),
            lambda v: torch.nn.functional.cross_entropy(
                v, torch.tensor(labels), ignore_index=7, reduction=red, label_smoothing=0.1),
            x)
        check_torch(lambda v: F.nll_loss(v, labels, ignore_index=7, reduction=red),
                    lambda v: torch.nn.functional.nll_loss(v, torch.tensor(labels),
                                                           ignore_index=7, reduction=red), x)


def test_cross_entropy_and_nll_gradcheck():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((6, 4))
    for smoothing in (0.0, 0.3):
        check_grad(lambda v: F.cross_entropy(v, LABELS, label_smoothing=smoothing), x)
        check_grad(lambda v: F.cross_entropy(v, LABELS, reduction="none",
                                             label_smoothing=smoothing), x)
    check_grad(lambda v: F.nll_loss(F.log_softmax(v, 1), LABELS, reduction="sum"), x)
    single = rng.standard_normal(5)
    check_grad(lambda v: F.cross_entropy(v, np.array(2)), single)
    check_grad(lambda v: F.cross_entropy(v, LABELS), rng.standard_normal((4, 6)).T)  # a view
    for fn in (lambda v: F.cross_entropy(v, LABELS), lambda v: F.nll_loss(v, LABELS)):
        check_param(fn, x)
        check_float32(fn, x)


def test_cross_entropy_is_one_node():
    x = ag.Param(np.random.default_rng(0).standard_normal((6, 4)))
    tape = ag.diff(lambda: F.cross_entropy(x, LABELS))
    names = [n.prim.name for n in tape.nodes if n is not None and n.prim is not None]
    assert names.count("nn.cross_entropy") == 1 and len(names) <= 3, names


def test_cross_entropy_everything_ignored_is_nan_with_zero_gradient():
    x = np.ones((2, 3))
    labels = np.array([-100, -100])
    assert math.isnan(F.cross_entropy(x, labels))
    assert F.cross_entropy(x, labels, reduction="sum") == 0
    np.testing.assert_array_equal(
        ag.grad(lambda v: F.cross_entropy(v, labels, reduction="sum"))(x), np.zeros((2, 3)))


@pytest.mark.parametrize(("args", "kwargs", "error", "message"), [
    ((np.ones((3, 4)), np.array([0.0, 1.0, 2.0])), {}, TypeError, "labels must be integers"),
    ((np.ones((3, 4)), np.array([0, 4, 1])), {}, ValueError, r"labels must be in \[0, 4\)"),
    ((np.ones((3, 4)), np.array([0, 1])), {}, ValueError, r"scores \(3, 4\).*labels \(2,\)"),
    ((np.ones((3, 4), int), np.array([0, 1, 2])), {}, TypeError, "scores must be a floating"),
    ((np.ones((3, 4)), np.array([0, 1, 2])), {"reduction": "avg"}, ValueError, "reduction"),
    ((np.ones((3, 4)), np.array([0, 1, 2])), {"label_smoothing": 2.0}, ValueError,
     "label_smoothing"),
])
def test_cross_entropy_errors_name_the_problem(args, kwargs, error, message):
    with pytest.raises(error, match="cross_entropy: .*" + message):
        F.cross_entropy(*args, **kwargs)


# -- regression and binary losses ------------------------------------------------------------


def _binary_inputs(seed=7):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((3, 4)), rng.uniform(0.1, 0.9, (3, 4)),
            rng.uniform(0.0, 1.0, (3, 4)), rng.uniform(0.5, 2.0, 4))


def test_regression_and_binary_losses_equal_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x, p, y, pw = _binary_inputs()
    off = x + np.where(x - y >= 0, 0.1, -0.1)  # away from the kink of |x - y|
    for red in ("mean", "sum", "none"):
        check_torch(lambda a, b: F.mse(a, b, red), lambda a, b: tf.mse_loss(a, b, reduction=red),
                    x, y)
        check_torch(lambda a, b: F.l1(a, b, red), lambda a, b: tf.l1_loss(a, b, reduction=red),
                    off, y)
        check_torch(lambda a, b: F.bce(a, b, red),
                    lambda a, b: tf.binary_cross_entropy(a, b, reduction=red), p, y)
        check_torch(lambda a, b: F.bce_with_logits(a, b, red),
                    lambda a, b: tf.binary_cross_entropy_with_logits(a, b, reduction=red), x, y)
    tpw = torch.tensor(pw)  # PyTorch does not differentiate pos_weight; we do (gradcheck)
    check_torch(lambda a, b: F.bce_with_logits(a, b, pos_weight=pw),
                lambda a, b: tf.binary_cross_entropy_with_logits(a, b, pos_weight=tpw), x, y)


def test_regression_and_binary_losses_gradcheck():
    x, p, y, pw = _binary_inputs(8)
    off = x + np.where(x - y >= 0, 0.1, -0.1)
    labels = np.where(y > 0.5, 1.0, -1.0)
    cases = [
        (F.mse, (x, y)), (F.l1, (off, y)), (F.bce, (p, y)), (F.bce_with_logits, (x, y)),
        (lambda a, b, w: F.bce_with_logits(a, b, pos_weight=w), (x, y, pw)),
        (F.logistic, (x, labels)),
        (lambda a, b: F.mse(a, b, "none"), (x, y)),
    ]
    for fn, args in cases:
        check_grad(fn, *args)
        check_param(fn, *args)
        check_float32(fn, *args)


def test_logistic_is_knets_formula_and_stable():
    x = np.array([-3.0, 0.5, 800.0, -800.0])
    y = np.array([1.0, -1.0, -1.0, 1.0])
    with np.errstate(over="raise", invalid="raise"):
        got = F.logistic(x, y, reduction="none")
    np.testing.assert_allclose(got[:2], np.log1p(np.exp(-y[:2] * x[:2])))
    np.testing.assert_allclose(got[2:], [800.0, 800.0])
    assert F.logistic(x, y) == pytest.approx(np.mean(got))


def test_bce_clamps_the_log_as_torch():
    assert F.bce(np.array([0.0]), np.array([1.0])) == pytest.approx(100.0)


def test_losses_refuse_mismatched_shapes():
    for fn in (F.mse, F.l1, F.bce, F.bce_with_logits, F.logistic):
        with pytest.raises(ValueError, match=r"\(2, 3\) and \(3,\)"):
            fn(np.full((2, 3), 0.5), np.full(3, 0.5))


# -- accuracy ---------------------------------------------------------------------------------


def test_accuracy_is_a_plain_number_even_while_recording():
    scores = np.array([[2.0, 0.0, 1.0], [0.0, 1.0, 3.0], [5.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    labels = np.array([0, 1, 0, -100])
    assert F.accuracy(scores, labels) == pytest.approx(2 / 3)
    assert F.accuracy(scores, np.array([0, 2, 0, 1])) == 1.0
    w = ag.Param(np.ones(3))
    seen = []

    def loss():
        s = scores * w
        seen.append(F.accuracy(s, labels))
        return np.sum(s)

    ag.diff(loss)
    assert type(seen[0]) is float and seen[0] == pytest.approx(2 / 3)


def test_accuracy_of_images_and_of_a_model_over_batches():
    rng = np.random.default_rng(9)
    scores = rng.standard_normal((2, 3, 4, 4))
    labels = scores.argmax(axis=1)
    labels[0, 0, 0] = (labels[0, 0, 0] + 1) % 3
    assert F.accuracy(scores, labels) == pytest.approx(31 / 32)
    w = rng.standard_normal((5, 3))
    data = [(rng.standard_normal((4, 5)), rng.integers(0, 3, 4)) for _ in range(3)]
    right = sum(int(np.sum((x @ w).argmax(1) == y)) for x, y in data)
    assert F.accuracy(lambda x: x @ w, data) == pytest.approx(right / 12)
    with pytest.raises(ValueError, match="accuracy: .*scores \\(2, 3\\).*labels \\(3,\\)"):
        F.accuracy(np.ones((2, 3)), np.array([0, 1, 2]))


# -- dropout ----------------------------------------------------------------------------------


def test_dropout_is_off_outside_recording():
    x = np.random.default_rng(0).standard_normal((5, 6))
    assert F.dropout(x, 0.5) is x
    assert F.dropout(x, 0.5, training=False) is x


def test_dropout_while_recording_is_inverted_and_reproducible():
    x = ag.Param(np.ones((200, 50)))
    outs = []

    def loss(seed):
        y = F.dropout(x, 0.3, np.random.default_rng(seed))
        outs.append(ag.value(y))
        return np.sum(y * 2.0)

    tape = ag.diff(loss, 1)
    y = outs[0]
    kept = y != 0
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7])
    assert abs(kept.mean() - 0.7) < 0.02  # 10,000 draws
    np.testing.assert_allclose(ag.grad(tape, x), 2.0 * y)  # the gradient goes through the mask
    ag.diff(loss, 1)
    np.testing.assert_array_equal(outs[1], y)  # same generator seed, same mask


def test_dropout_edge_cases_and_dtypes():
    x = np.ones((3, 4), np.float32)
    rng = np.random.default_rng(0)
    assert F.dropout(x, 0.0, rng, training=True) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0, rng, training=True), np.zeros((3, 4)))
    assert F.dropout(x, 0.5, rng, training=True).dtype == np.float32
    g = ag.grad(lambda v: np.sum(F.dropout(v, 0.5, np.random.default_rng(1))))(x)
    assert g.dtype == np.float32 and set(np.unique(g)) <= {0.0, 2.0}
    with pytest.raises(ValueError, match=r"dropout: p must be in \[0, 1\]"):
        F.dropout(x, 1.5)
    with pytest.raises(TypeError, match="dropout: rng must be a numpy.random.Generator"):
        F.dropout(x, 0.5, rng=0)


def test_linear_matches_torch_and_gives_a_contiguous_weight_gradient():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((5, 3)), rng.standard_normal(5)
    p = ag.Param(w)
    tape = ag.diff(lambda: np.sum(np.sin(F.linear(x, p, b))))
    g = ag.grad(tape, p)
    assert g.flags.c_contiguous  # not the transposed view of x.T @ dy
    tw = torch.tensor(w, requires_grad=True)
    torch.sin(torch.nn.functional.linear(torch.tensor(x), tw, torch.tensor(b))).sum().backward()
    np.testing.assert_allclose(g, tw.grad.numpy(), rtol=1e-12)
    x3 = rng.standard_normal((2, 4, 3))
    np.testing.assert_allclose(F.linear(x3, w, b), x3 @ w.T + b, rtol=1e-12)
    for args in ((x, w, b), (x3, w, b), (rng.standard_normal(3), w, None)):
        assert ag.gradcheck(lambda *a: np.sum(np.sin(F.linear(*a))),
                            *[a for a in args if a is not None], order=2)
