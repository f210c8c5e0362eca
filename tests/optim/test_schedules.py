"""Learning-rate schedules: their factors, their use by the optimizers, and torch's schedulers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from minitorch_ag.optim import SGD, Adam, cosine, exponential, step_decay, warmup


def factors(s, n):
    return [s(k) for k in range(n)]


def test_step_decay():
    assert factors(step_decay(3, gamma=0.5), 8) == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_exponential():
    np.testing.assert_allclose(factors(exponential(0.9), 4), [1, 0.9, 0.81, 0.729], rtol=1e-15)


def test_cosine_without_restarts_stays_at_the_floor():
    s = cosine(4, floor=0.2)
    expected = [0.2 + 0.8 * (1 + math.cos(math.pi * k / 4)) / 2 for k in range(4)] + [0.2] * 3
    np.testing.assert_allclose(factors(s, 7), expected, rtol=1e-15)
    assert s(2) == pytest.approx(0.6)


def test_cosine_with_warm_restarts_growing_periods():
    s = cosine(2, restart=True, mult=2)  # cycles of 2, 4, 8 steps
    cycle = [(1 + math.cos(math.pi * k / n)) / 2 for n in (2, 4) for k in range(n)]
    np.testing.assert_allclose(factors(s, 6), cycle, rtol=1e-15)
    assert s(6) == 1.0  # the third cycle starts at step 2 + 4


def test_warmup_alone_and_handing_over():
    np.testing.assert_allclose(factors(warmup(4), 6), [0.25, 0.4375, 0.625, 0.8125, 1, 1])
    np.testing.assert_allclose(factors(warmup(2, start=0.0), 3), [0, 0.5, 1])
    s = warmup(2, start=0.5, then=step_decay(1, gamma=0.1))
    np.testing.assert_allclose(factors(s, 5), [0.5, 0.75, 1, 0.1, 0.01], rtol=1e-15)


def test_schedules_compose_by_multiplication():
    s = warmup(2, start=0.5) * exponential(0.5)
    np.testing.assert_allclose(factors(s, 4), [0.5, 0.375, 0.25, 0.125], rtol=1e-15)
    t = (lambda k: 2.0) * step_decay(1, gamma=0.5)  # any function of the step composes
    assert factors(t, 3) == [2.0, 1.0, 0.5]
    assert "warmup(2" in repr(s) and "exponential(0.5)" in repr(s)


def test_bad_arguments():
    with pytest.raises(ValueError, match="step_decay: every must be a positive integer"):
        step_decay(0)
    with pytest.raises(ValueError, match=r"exponential: gamma must be in \[0.0, 1.0\]"):
        exponential(1.5)
    with pytest.raises(ValueError, match="cosine: mult"):
        cosine(3, mult=0.5)
    with pytest.raises(TypeError, match="warmup: then must be a schedule"):
        warmup(3, then=2.0)


def test_optimizer_uses_lr_times_factor_per_step():
    opt = SGD(lr=1.0, schedule=step_decay(2, gamma=0.5))
    w = np.zeros(1)
    deltas = []
    for _ in range(5):
        before = w[0]
        opt.step_(w, np.ones(1))
        deltas.append(before - w[0])
    assert deltas == [1.0, 1.0, 0.5, 0.5, 0.25]
    # a clone starts the schedule again; the step count is part of the state
    assert opt.t == 5 and opt.clone().t == 0


def test_adam_with_schedule_scales_its_step():
    a, b = np.zeros(2), np.zeros(2)
    Adam(lr=0.1, schedule=exponential(0.5)).step_(a, np.array([1.0, -2.0]))
    Adam(lr=0.1).step_(b, np.array([1.0, -2.0]))
    np.testing.assert_allclose(a, b, rtol=1e-15)  # factor 1 at step 0
    opt = Adam(lr=0.1, schedule=warmup(4))
    opt.step_(a, np.array([1.0, -2.0]))
    np.testing.assert_allclose(a, b + 0.25 * np.array([-0.1, 0.1]), rtol=1e-6)


def torch_factors(make, n):
    torch = pytest.importorskip("torch")
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=1.0)
    sched = make(torch.optim.lr_scheduler, opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize(("ours", "make", "n"), [
    (step_decay(3, gamma=0.3), lambda s, o: s.StepLR(o, step_size=3, gamma=0.3), 10),
    (exponential(0.8), lambda s, o: s.ExponentialLR(o, gamma=0.8), 10),
    (cosine(6, floor=0.1), lambda s, o: s.CosineAnnealingLR(o, T_max=6, eta_min=0.1), 7),
    (cosine(3, restart=True, mult=2),
     lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2), 20),
    (warmup(5, start=0.2), lambda s, o: s.LinearLR(o, start_factor=0.2, total_iters=5), 8),
], ids=["StepLR", "ExponentialLR", "CosineAnnealingLR", "WarmRestarts", "LinearLR"])
def test_factors_match_torch_schedulers(ours, make, n):
    np.testing.assert_allclose(factors(ours, n), torch_factors(make, n), rtol=1e-12)
