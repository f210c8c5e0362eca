"""Layers (``minitorch_ag/nn/layers.py``): gradients by finite differences with respect to the
input and every weight (second order for the smooth ones), agreement with ``torch.nn`` modules
for the same weights, ``params`` finding every weight, training behaviour only while recording,
dtypes, reproducible initialization and errors."""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import nn
from minitorch_ag.nn import functional as F

from ._layer_check import gradcheck_layer, weight_names

F64 = {"dtype": np.float64}


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# -- finite differences -------------------------------------------------------------------------

GRADCHECKS = {
    # name: (layer factory, input shape, orders)
    "linear": (lambda: nn.Linear(3, 4, rng=0, **F64), (5, 3), (1, 2)),
    "linear_tanh_3d": (lambda: nn.Linear(3, 2, np.tanh, rng=0, **F64), (2, 2, 3), (1, 2)),
    "linear_nobias": (lambda: nn.Linear(3, 2, bias=False, rng=0, **F64), (4, 3), (1,)),
    "dense_sigmoid": (lambda: nn.Dense(3, 2, F.sigmoid, rng=1, **F64), (2, 3), (1, 2)),
    "conv": (lambda: nn.Conv2d(2, 3, 3, padding=1, rng=0, **F64), (2, 2, 4, 4), (1, 2)),
    "conv_stride_groups": (lambda: nn.Conv2d(4, 2, (2, 3), stride=2, groups=2, rng=0, **F64),
                           (1, 4, 5, 5), (1,)),
    "conv_dilated_tanh": (lambda: nn.Conv2d(1, 2, 2, dilation=2, activation=np.tanh, rng=0,
                                            **F64), (2, 1, 5, 4), (1,)),
    "maxpool": (lambda: nn.MaxPool2d(2), (2, 2, 4, 4), (1,)),
    "maxpool_stride_pad": (lambda: nn.MaxPool2d(3, stride=2, padding=1), (1, 2, 5, 5), (1,)),
    "avgpool": (lambda: nn.AvgPool2d(2, stride=1), (2, 1, 3, 4), (1, 2)),
    "layernorm": (lambda: nn.LayerNorm(4, **F64), (3, 4), (1, 2)),
    "layernorm_2axes": (lambda: nn.LayerNorm((2, 3), **F64), (2, 2, 3), (1,)),
    "flatten": (lambda: nn.Flatten(), (2, 3, 2), (1,)),
}


def _perturb_weights(layer, seed=1):
    """Random weights instead of ones and zeros (the gradients then mean something)."""
    rng = np.random.default_rng(seed)
    for k in weight_names(layer):
        p = getattr(layer, k)
        p.value = p.value + 0.3 * rng.standard_normal(p.shape)


@pytest.mark.parametrize("name", list(GRADCHECKS))
def test_gradcheck(name):
    make, shape, orders = GRADCHECKS[name]
    for order in orders:
        layer = make()
        _perturb_weights(layer)
        assert gradcheck_layer(layer, [_rand(*shape, seed=len(name))], order=order), order


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 2), (3, 3, 2, 2)])
@pytest.mark.parametrize("order", [1, 2])
def test_gradcheck_batchnorm_training(shape, order):
    bn = nn.BatchNorm(3, **F64)
    bn.training = True  # finite differences run outside diff: force batch statistics
    _perturb_weights(bn)
    assert gradcheck_layer(bn, [_rand(*shape, seed=2)], order=order)


def test_gradcheck_batchnorm_inference():
    bn = nn.BatchNorm(3, **F64)
    bn.running_mean[...] = [0.5, -1.0, 0.0]
    bn.running_var[...] = [2.0, 0.5, 1.0]
    bn.training = False
    _perturb_weights(bn)
    assert gradcheck_layer(bn, [_rand(4, 3, 2, 2, seed=3)], order=2)


@pytest.mark.parametrize("order", [1, 2])
def test_gradcheck_embedding(order):
    emb = nn.Embedding(5, 3, rng=0, **F64)
    ids = np.array([[0, 2, 2], [4, 1, 0]])
    names = weight_names(emb)
    assert names == ["weight"]

    def f(w):
        saved, emb.weight = emb.weight, w
        try:
            return np.sum(np.sin(emb(ids)) * np.arange(18.0).reshape(2, 3, 3))
        finally:
            emb.weight = saved

    assert ag.gradcheck(f, emb.weight.value, order=order)


# -- agreement with torch.nn --------------------------------------------------------------------


def _copy_from_torch(ours, theirs):
    for name, p in theirs.named_parameters():
        getattr(ours, name).value[...] = p.detach().numpy()


def _compare(torch, ours, theirs, x, **tol):
    """Forward values and gradients (input and weights) of sum(out * w) agree."""
    w = _rand(*np.shape(ag.value(ours(x))), seed=9)
    xp = ag.Param(x)
    tape = ag.diff(lambda: np.sum(ours(xp) * w))
    xt = torch.tensor(x, requires_grad=True)
    out = theirs(xt)
    (out * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(ag.value(tape), (out * torch.tensor(w)).sum().item(), **tol)
    np.testing.assert_allclose(ag.grad(tape, xp), xt.grad.numpy(), **tol)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(ag.grad(tape, getattr(ours, name)), p.grad.numpy(),
                                   err_msg=name, **tol)


TOL = {"rtol": 1e-9, "atol": 1e-11}


def test_linear_matches_torch():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Linear(5, 3).double()
    ours = nn.Linear(5, 3, **F64)
    _copy_from_torch(ours, theirs)
    _compare(torch, ours, theirs, _rand(4, 5), **TOL)


@pytest.mark.parametrize("options", [
    {}, {"stride": 2, "padding": 1}, {"padding": 2, "dilation": 2}, {"groups": 2, "stride": 1},
])
def test_conv2d_matches_torch(options):
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Conv2d(4, 6, 3, **options).double()
    ours = nn.Conv2d(4, 6, 3, **options, **F64)
    _copy_from_torch(ours, theirs)
    _compare(torch, ours, theirs, _rand(2, 4, 7, 6), **TOL)


def test_pooling_matches_torch():
    torch = pytest.importorskip("torch")
    x = _rand(2, 3, 6, 5)
    _compare(torch, nn.MaxPool2d(2), torch.nn.MaxPool2d(2), x, **TOL)
    _compare(torch, nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1), x, **TOL)
    _compare(torch, nn.AvgPool2d(3, 2, 1), torch.nn.AvgPool2d(3, 2, 1), x, **TOL)


@pytest.mark.parametrize("shape", [(8, 3), (5, 3, 4), (4, 3, 3, 2)])
def test_batchnorm_matches_torch(shape):
    torch = pytest.importorskip("torch")
    kind = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d}
    theirs = kind[len(shape)](3, momentum=0.2).double()
    ours = nn.BatchNorm(3, momentum=0.2, **F64)
    with torch.no_grad():
        theirs.weight[...] = torch.tensor([0.5, 1.5, -1.0])
        theirs.bias[...] = torch.tensor([0.1, 0.0, -0.3])
    _copy_from_torch(ours, theirs)
    x = _rand(*shape, seed=4) * 2 + 1
    # training (while recording): batch statistics, and the running statistics move
    _compare(torch, ours, theirs.train(), x, **TOL)
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), **TOL)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), **TOL)
    # inference (outside diff): the running statistics, which stay as they are
    mean = ours.running_mean.copy()
    theirs.eval()
    np.testing.assert_allclose(ours(x), theirs(torch.tensor(x)).detach().numpy(), **TOL)
    np.testing.assert_array_equal(ours.running_mean, mean)


def test_layernorm_matches_torch():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.LayerNorm((3, 4)).double()
    with torch.no_grad():
        theirs.weight[...] = torch.tensor(_rand(3, 4, seed=5))
        theirs.bias[...] = torch.tensor(_rand(3, 4, seed=6))
    ours = nn.LayerNorm((3, 4), **F64)
    _copy_from_torch(ours, theirs)
    _compare(torch, ours, theirs, _rand(2, 3, 4), **TOL)


def test_embedding_matches_torch():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Embedding(7, 3).double()
    ours = nn.Embedding(7, 3, **F64)
    _copy_from_torch(ours, theirs)
    ids = np.array([[1, 6, 1], [0, 2, 6]])
    w = _rand(2, 3, 3)
    tape = ag.diff(lambda: np.sum(ours(ids) * w))
    (theirs(torch.tensor(ids)) * torch.tensor(w)).sum().backward()
    g = ag.grad(tape, ours.weight)
    g = g.to_dense() if hasattr(g, "to_dense") else g
    np.testing.assert_allclose(g, theirs.weight.grad.numpy(), **TOL)


# -- behaviour: training only while recording, params, dtypes, rng -----------------------------


def test_batchnorm_statistics_move_only_while_recording():
    bn = nn.BatchNorm(2)
    x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 4.0]], np.float32)
    y = bn(x)  # inference: running statistics (zeros and ones), unchanged
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-5), rtol=1e-6)
    np.testing.assert_array_equal(bn.running_mean, [0, 0])
    ag.diff(lambda: np.sum(bn(x) ** 2))
    np.testing.assert_allclose(bn.running_mean, [0.3, 0.4], rtol=1e-6)
    np.testing.assert_allclose(bn.running_var, [0.9 + 0.1 * 4.0, 0.9 + 0.1 * 4.0], rtol=1e-6)
    assert bn.running_mean.dtype == np.float32
    assert "running_mean" in str(list(ag.state_dict({"bn": bn})))


def test_dropout_only_while_recording():
    d = nn.Dropout(0.5, rng=0)
    x = np.ones((50, 40))
    np.testing.assert_array_equal(d(x), x)  # inference: the identity
    p = ag.Param(x)
    seen = {}

    def loss():
        y = d(p)
        seen["y"] = ag.value(y).copy()
        return np.sum(y)

    tape = ag.diff(loss)
    y = seen["y"]
    assert set(np.unique(y)) == {0.0, 2.0}
    assert 0.4 < np.mean(y == 0) < 0.6
    np.testing.assert_array_equal(ag.grad(tape, p), y)  # the gradient is the scaled mask
    d.training = False
    assert ag.value(ag.diff(lambda: np.sum(d(p)))) == x.sum()
    with pytest.raises(ValueError, match="Dropout: p must be in"):
        nn.Dropout(1.5)


def test_params_finds_every_weight_in_a_chain():
    model = nn.Chain(
        nn.Conv2d(1, 4, 3, rng=0), nn.BatchNorm(4), F.relu, nn.MaxPool2d(2), nn.Flatten(),
        nn.Dropout(0.1), nn.Linear(4 * 3 * 3, 8, F.relu, rng=1), nn.LayerNorm(8),
        nn.Linear(8, 3, rng=2),
    )
    ps = ag.params(model)
    assert [p.shape for p in ps] == [(4, 1, 3, 3), (4,), (4,), (4,), (8, 36), (8,), (8,), (8,),
                                     (3, 8), (3,)]
    x, y = _rand(5, 1, 8, 8).astype(np.float32), np.array([0, 1, 2, 1, 0])
    tape = ag.diff(lambda: model(x, y))  # Knet style: chain(x, y) is the loss
    np.testing.assert_allclose(ag.value(tape), ag.value(F.cross_entropy(model(x), y)), rtol=0.2)
    for p in ps:
        g = ag.grad(tape, p)
        assert g is not None and g.shape == p.shape and g.dtype == np.float32
    assert len(model) == 9 and model[0] is model.layers[0]
    names = list(ag.state_dict(model))
    assert names[:3] == ["layers.0.weight", "layers.0.bias", "layers.1.running_mean"]


def test_chain_of_layers_and_rnns():
    emb, lstm, out = nn.Embedding(10, 4, rng=0), nn.LSTM(4, 5, rng=1), nn.Linear(5, 10, rng=2)
    model = nn.Sequential([emb, lambda x: lstm(x)[0], out])
    ids = np.array([[1, 2, 3], [4, 5, 6]])
    assert model(ids).shape == (2, 3, 10)
    assert len(ag.params(model)) == 1 + 4 + 2


@pytest.mark.parametrize("make", [
    lambda **kw: nn.Linear(3, 2, **kw), lambda **kw: nn.Conv2d(1, 2, 3, **kw),
    lambda **kw: nn.Embedding(4, 3, **kw),
])
def test_dtype_and_rng(make):
    a, b, c = make(rng=3), make(rng=3), make(rng=4)
    for p, q in zip(ag.params(a), ag.params(b), strict=True):
        assert p.value.dtype == np.float32
        np.testing.assert_array_equal(p.value, q.value)
    assert not np.array_equal(ag.params(a)[0].value, ag.params(c)[0].value)
    assert all(p.value.dtype == np.float64 for p in ag.params(make(rng=0, dtype=np.float64)))


def test_float32_stays_float32():
    layer = nn.Linear(3, 2, np.tanh, rng=0)
    x = np.ones((4, 3), np.float32)
    tape = ag.diff(lambda: np.sum(layer(x)))
    assert ag.value(tape).dtype == np.float32
    assert ag.grad(tape, layer.weight).dtype == np.float32


def test_custom_initializer():
    layer = nn.Linear(20, 30, init=nn.init.xavier_uniform, rng=0)
    assert np.abs(layer.weight.value).max() <= np.sqrt(6 / 50)
    conv = nn.Conv2d(2, 3, 3, init=lambda shape, rng, dtype: np.ones(shape, dtype))
    assert np.all(conv.weight.value == 1)
    with pytest.raises(ValueError, match="init returned shape"):
        nn.Linear(2, 3, init=lambda shape, rng, dtype: np.ones(3))


def test_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"Linear: the input's last axis must have 3 features; "
                                         r"got shape \(2, 4\)"):
        nn.Linear(3, 2)(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"Conv2d: the input must have shape \(N, 3, H, W\)"):
        nn.Conv2d(3, 2, 3)(np.ones((1, 2, 5, 5)))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 2, 3, groups=2)
    with pytest.raises(ValueError, match=r"BatchNorm: the input must have shape \(N, 4\)"):
        nn.BatchNorm(4)(np.ones((2, 3)))
    with pytest.raises(TypeError, match="Embedding: ids must be integers"):
        nn.Embedding(5, 2)(np.array([0.0, 1.0]))
    with pytest.raises(IndexError, match="Embedding: id 5 is out of range for a table of 5"):
        nn.Embedding(5, 2)(np.array([0, 5]))
    with pytest.raises(IndexError, match="id -1"):
        nn.Embedding(5, 2)(np.array([-1]))
    with pytest.raises(TypeError, match="Chain: layer 1"):
        nn.Chain(nn.Flatten(), 3)


@pytest.mark.parametrize("name", ["linear_tanh_3d", "conv", "layernorm"])
def test_non_contiguous_and_single_sample_inputs(name):
    make, shape, _ = GRADCHECKS[name]
    layer = make()
    _perturb_weights(layer)
    base = _rand(*reversed(shape), seed=3)
    view = base.transpose(tuple(reversed(range(len(shape)))))
    assert view.shape == shape and not view.flags.c_contiguous
    assert gradcheck_layer(layer, [view])
    assert gradcheck_layer(layer, [np.ascontiguousarray(view[:1])])
