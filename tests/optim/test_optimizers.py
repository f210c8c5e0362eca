"""Each optimizer's step against its published formula, against torch.optim, and in float32.

The reference updates below are the papers' formulas (Knet's ``update.jl`` forms) written out
element by element with Python floats and ``math.sqrt``, independently of the in-place NumPy
code under test; two steps for the stateful optimizers, so that the state carries over.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from minitorch_ag.optim import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    AdamW,
    Momentum,
    Nesterov,
    Optimizer,
    RMSprop,
)

W0 = [0.5, -1.0, 2.0]
G1 = [0.3, -0.2, 1.5]
G2 = [-0.4, 0.1, 0.5]


def run(opt, w0=W0, grads=(G1, G2), dtype=np.float64):
    """The weights after each step of ``opt`` on a copy of ``w0``."""
    w = np.array(w0, dtype=dtype)
    out = []
    for g in grads:
        assert opt.step_(w, np.array(g, dtype=dtype)) is w
        out.append(w.copy())
    return out


# -- the formulas, for one element ---------------------------------------------------------
# Each takes one weight and its gradients at the successive steps; returns the weights after
# each step. ``elementwise`` applies one to every element of W0.


def elementwise(ref, *hyper, **kw):
    per_element = [ref(w, [G1[i], G2[i]], *hyper, **kw) for i, w in enumerate(W0)]
    return [[traj[step] for traj in per_element] for step in range(2)]


def ref_sgd(w, gs, lr, wd=0.0):
    out = []
    for g in gs:
        w = w - lr * (g + wd * w)
        out.append(w)
    return out


def ref_momentum(w, gs, lr, gamma, nesterov=False):
    v = 0.0
    out = []
    for g in gs:
        v = gamma * v - lr * g
        # Nesterov as Bengio et al. (2013) eq. 7: w += gamma * v_new - lr * g
        w = w + gamma * v - lr * g if nesterov else w + v
        out.append(w)
    return out


def ref_adagrad(w, gs, lr, eps):
    G = 0.0
    out = []
    for g in gs:
        G = G + g * g
        w = w - lr * g / math.sqrt(G + eps)
        out.append(w)
    return out


def ref_rmsprop(w, gs, lr, rho, eps):
    G = 0.0
    out = []
    for g in gs:
        G = rho * G + (1 - rho) * g * g
        w = w - lr * g / math.sqrt(G + eps)
        out.append(w)
    return out


def ref_adadelta(w, gs, lr, rho, eps):
    G = D = 0.0
    out = []
    for g in gs:
        G = rho * G + (1 - rho) * g * g
        u = g * math.sqrt(D + eps) / math.sqrt(G + eps)
        D = rho * D + (1 - rho) * u * u
        w = w - lr * u
        out.append(w)
    return out


def ref_adam(w, gs, lr, b1, b2, eps, decoupled_wd=0.0):
    m = v = 0.0
    out = []
    for t, g in enumerate(gs, 1):
        w = w * (1 - lr * decoupled_wd)  # Loshchilov & Hutter (AdamW)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat = m / (1 - b1 ** t)
        vhat = v / (1 - b2 ** t)
        w = w - lr * mhat / (math.sqrt(vhat) + eps)
        out.append(w)
    return out


# Hyperparameters away from the defaults (and a large eps where it matters), so that a
# misplaced term would show.
HAND = [
    ("SGD", SGD(lr=0.3), elementwise(ref_sgd, 0.3)),
    ("SGD-l2", SGD(lr=0.3, weight_decay=0.1), elementwise(ref_sgd, 0.3, wd=0.1)),
    ("Momentum", Momentum(lr=0.2, gamma=0.7), elementwise(ref_momentum, 0.2, 0.7)),
    ("Nesterov", Nesterov(lr=0.2, gamma=0.7),
     elementwise(ref_momentum, 0.2, 0.7, nesterov=True)),
    ("Adagrad", Adagrad(lr=0.4, eps=0.01), elementwise(ref_adagrad, 0.4, 0.01)),
    ("RMSprop", RMSprop(lr=0.05, rho=0.8, eps=0.01),
     elementwise(ref_rmsprop, 0.05, 0.8, 0.01)),
    ("Adadelta", Adadelta(lr=0.9, rho=0.6, eps=0.01),
     elementwise(ref_adadelta, 0.9, 0.6, 0.01)),
    ("Adam", Adam(lr=0.1, beta1=0.8, beta2=0.9, eps=0.01),
     elementwise(ref_adam, 0.1, 0.8, 0.9, 0.01)),
    ("AdamW", AdamW(lr=0.1, beta1=0.8, beta2=0.9, eps=0.01, weight_decay=0.2),
     elementwise(ref_adam, 0.1, 0.8, 0.9, 0.01, decoupled_wd=0.2)),
]


@pytest.mark.parametrize(("name", "opt", "expected"), HAND, ids=[h[0] for h in HAND])
def test_two_steps_follow_the_published_formula(name, opt, expected):
    got = run(opt.clone())
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-13, atol=1e-15)


def test_first_steps_by_hand():
    """A few steps worked out on paper, as literal numbers."""
    # Momentum lr 0.1, gamma 0.5, g = 1 twice: v = -0.1, w = -0.1; v = -0.15, w = -0.25.
    np.testing.assert_allclose(run(Momentum(lr=0.1, gamma=0.5), [0.0], ([1.0], [1.0])),
                               [[-0.1], [-0.25]], rtol=1e-15)
    # Nesterov: v = -0.1, w = -0.1 + 0.5 * -0.1 = -0.15; v = -0.15, w = -0.15 - 0.1 - 0.075.
    np.testing.assert_allclose(run(Nesterov(lr=0.1, gamma=0.5), [0.0], ([1.0], [1.0])),
                               [[-0.15], [-0.325]], rtol=1e-15)
    # Adagrad lr 1, eps 0: G = 9, w = -3/3 = -1; G = 25, w = -1 - 4/5 = -1.8.
    np.testing.assert_allclose(run(Adagrad(lr=1.0, eps=0.0), [0.0], ([3.0], [4.0])),
                               [[-1.0], [-1.8]], rtol=1e-15)
    # Adam's first step is lr * sign(g) (up to eps): mhat = g, vhat = g^2.
    np.testing.assert_allclose(run(Adam(lr=0.1, eps=0.0), [0.0, 0.0], ([2.0, -5.0],)),
                               [[-0.1, 0.1]], rtol=1e-15)
    # Adadelta rho 0.25, eps 1: G = 0.75 * 4 = 3, u = 2 * 1 / 2 = 1, D = 0.75.
    opt = Adadelta(rho=0.25, eps=1.0)
    np.testing.assert_allclose(run(opt, [0.0], ([2.0],)), [[-1.0]], rtol=1e-15)
    np.testing.assert_allclose([opt.G[0], opt.delta[0]], [3.0, 0.75], rtol=1e-15)


def test_knet_defaults():
    assert SGD().lr == 0.1
    assert (Momentum().lr, Momentum().gamma) == (0.05, 0.95)
    assert (Nesterov().lr, Nesterov().gamma) == (0.05, 0.95)
    assert (Adagrad().lr, Adagrad().eps) == (0.05, 1e-6)
    assert (RMSprop().lr, RMSprop().rho, RMSprop().eps) == (0.01, 0.9, 1e-6)
    assert (Adadelta().lr, Adadelta().rho, Adadelta().eps) == (1.0, 0.9, 1e-6)
    a = Adam()
    assert (a.lr, a.beta1, a.beta2, a.eps, a.weight_decay) == (1e-3, 0.9, 0.999, 1e-8, 0.0)
    aw = AdamW()
    assert (aw.lr, aw.beta1, aw.beta2, aw.eps, aw.weight_decay) == (1e-3, 0.9, 0.999, 1e-8, 0.01)


ALL = [SGD, Momentum, Nesterov, Adagrad, RMSprop, Adadelta, Adam, AdamW]


@pytest.mark.parametrize("cls", ALL, ids=[c.__name__ for c in ALL])
def test_docstring_cites_a_paper(cls):
    assert any(str(year) in cls.__doc__ for year in range(1950, 2030))


# -- PyTorch ---------------------------------------------------------------------------------


# (name, our optimizer, the torch.optim equivalent given the module and the parameters)
TORCH = [
    ("SGD", SGD(lr=0.1), lambda o, p: o.SGD(p, lr=0.1)),
    ("SGD-l2", SGD(lr=0.1, weight_decay=0.05), lambda o, p: o.SGD(p, lr=0.1, weight_decay=0.05)),
    ("Momentum", Momentum(lr=0.05, gamma=0.9), lambda o, p: o.SGD(p, lr=0.05, momentum=0.9)),
    ("Momentum-l2", Momentum(lr=0.05, gamma=0.9, weight_decay=0.1),
     lambda o, p: o.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.1)),
    ("Nesterov", Nesterov(lr=0.05, gamma=0.9),
     lambda o, p: o.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    # Knet puts eps inside the square root, PyTorch outside: compare with eps = 0, where the
    # formulas agree (the placement itself is checked by the hand-computed steps).
    ("Adagrad", Adagrad(lr=0.05, eps=0.0), lambda o, p: o.Adagrad(p, lr=0.05, eps=0.0)),
    ("RMSprop", RMSprop(lr=0.01, rho=0.9, eps=0.0),
     lambda o, p: o.RMSprop(p, lr=0.01, alpha=0.9, eps=0.0)),
    # Adadelta and Adam place eps as PyTorch does: the defaults compare as they are.
    ("Adadelta", Adadelta(), lambda o, p: o.Adadelta(p, lr=1.0, rho=0.9, eps=1e-6)),
    ("Adam", Adam(), lambda o, p: o.Adam(p, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)),
    ("Adam-l2", Adam(lr=0.01, weight_decay=0.1),
     lambda o, p: o.Adam(p, lr=0.01, weight_decay=0.1)),
    ("AdamW", AdamW(lr=0.01), lambda o, p: o.AdamW(p, lr=0.01, weight_decay=0.01)),
]


@pytest.mark.parametrize(("name", "template", "make"), TORCH, ids=[t[0] for t in TORCH])
def test_matches_torch_optim_over_several_steps(name, template, make):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(len(name))
    w = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(6)]
    ours = template.clone()
    tw = torch.tensor(w.copy(), requires_grad=True)
    theirs = make(torch.optim, [tw])
    for g in grads:
        ours.step_(w, g)
        tw.grad = torch.tensor(g)
        theirs.step()
        np.testing.assert_allclose(w, tw.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_eps_placement_is_knets():
    """With eps > 0, Adagrad and RMSprop divide by sqrt(G + eps), not sqrt(G) + eps."""
    g = 0.5
    (w,) = run(Adagrad(lr=1.0, eps=0.75), [0.0], ([g],))
    assert w[0] == pytest.approx(-g / math.sqrt(g * g + 0.75))  # 0.5 / 1.0
    assert w[0] != pytest.approx(-g / (math.sqrt(g * g) + 0.75))
    (w,) = run(RMSprop(lr=1.0, rho=0.0, eps=0.75), [0.0], ([g],))
    assert w[0] == pytest.approx(-0.5)


# -- dtypes, shapes and state ----------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL, ids=[c.__name__ for c in ALL])
@pytest.mark.parametrize("gdtype", [np.float32, np.float64])
def test_float32_weights_stay_float32(cls, gdtype):
    opt = cls(gclip=0.5, weight_decay=0.01)
    w = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    for _ in range(3):
        assert opt.step_(w, np.full((2, 3), 0.25, dtype=gdtype)) is w
    assert w.dtype == np.float32
    for name in opt.state_names:
        assert getattr(opt, name).dtype == np.float32
    # and they agree with the same steps in float64
    ref = cls(gclip=0.5, weight_decay=0.01)
    w64 = np.linspace(-1, 1, 6).reshape(2, 3)
    for _ in range(3):
        ref.step_(w64, np.full((2, 3), 0.25))
    np.testing.assert_allclose(w, w64, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", ALL, ids=[c.__name__ for c in ALL])
def test_updates_in_place_for_any_shape(cls):
    for shape in [(), (1,), (3, 1, 2)]:
        w = np.ones(shape)
        view = w.reshape(-1)
        cls(lr=0.1).step_(w, np.full(shape, 2.0))
        assert np.all(view != 1.0)  # the view sees the new values: updated in place


def test_state_is_created_lazily_and_cloned_empty():
    opt = Adam()
    assert opt.m is None and opt.v is None and opt.t == 0
    opt.step_(np.zeros(3), np.ones(3))
    assert opt.m.shape == (3,) and opt.t == 1
    fresh = opt.clone()
    assert fresh.m is None and fresh.t == 0 and fresh.lr == opt.lr
    assert opt.m is not None  # the original keeps its state
    assert repr(fresh) == "Adam(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-08)"
    assert repr(opt).endswith("t=1)")


def test_none_gradient_changes_nothing():
    opt = Momentum()
    w = np.ones(2)
    opt.step_(w, None)
    assert opt.t == 0 and opt.velocity is None and np.all(w == 1)


def test_clear_errors():
    with pytest.raises(ValueError, match=r"gradient shape \(2,\) differs from weight shape \(3,\)"):
        SGD().step_(np.zeros(3), np.zeros(2))
    with pytest.raises(TypeError, match="floating-point array; got ndarray of int64"):
        SGD().step_(np.zeros(3, dtype=np.int64), np.zeros(3))
    with pytest.raises(TypeError, match="w must be a floating-point array; got list"):
        SGD().step_([1.0], [1.0])
    opt = Adam()
    opt.step_(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match=r"state 'm' .*shape \(3,\).*does not fit.*shape \(4,\)"):
        opt.step_(np.zeros(4), np.ones(4))
    assert opt.t == 1  # the refused step changed nothing
    with pytest.raises(ValueError, match=r"state 'm' .*float64.*does not fit.*float32"):
        opt.step_(np.zeros(3, dtype=np.float32), np.ones(3))
    with pytest.raises(ValueError, match="Momentum: gamma must be in"):
        Momentum(gamma=1.0)
    with pytest.raises(ValueError, match="SGD: lr must be >= 0"):
        SGD(lr=-1)
    with pytest.raises(TypeError, match="Adam: lr must be a number"):
        Adam(lr="fast")
    with pytest.raises(TypeError, match="schedule must be a function"):
        SGD(schedule=3)
    with pytest.raises(ValueError, match="read-only"):
        w = np.zeros(2)
        w.flags.writeable = False
        SGD().step_(w, np.ones(2))


def test_base_class_is_abstract():
    with pytest.raises(NotImplementedError):
        Optimizer(0.1).step_(np.zeros(1), np.ones(1))
