"""Learning-rate schedules: the factor that multiplies an optimizer's ``lr`` at each step.

A schedule is a callable ``s(k) -> float`` of the step index ``k = 0, 1, 2, ...`` (the number
of updates the parameter has had before this one). An optimizer built with ``schedule=s``
updates with ``lr * s(k)``. Schedules compose: ``a * b`` multiplies the two factors, and
``warmup(n, then=s)`` ramps up linearly for ``n`` steps and then runs ``s`` from its own step 0.
Any plain function of ``k`` works as a schedule too.

Covered: ``step_decay`` (PyTorch's StepLR), ``exponential`` (ExponentialLR), ``cosine``
(cosine annealing with optional warm restarts, Loshchilov & Hutter 2017, "SGDR: Stochastic
Gradient Descent with Warm Restarts"), ``warmup`` (linear warm-up, Goyal et al. 2017,
"Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour").
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["Schedule", "step_decay", "exponential", "cosine", "warmup"]


class Schedule:
    """Base of the schedules here: a factor per step, composable with ``*``."""

    def __call__(self, k: int) -> float:
        raise NotImplementedError

    def __mul__(self, other: Callable[[int], float]) -> Schedule:
        if not callable(other):
            return NotImplemented
        return _Product(self, other)

    def __rmul__(self, other: Callable[[int], float]) -> Schedule:
        if not callable(other):
            return NotImplemented
        return _Product(other, self)


def _positive_int(where: str, name: str, n: int) -> int:
    if int(n) != n or n < 1:
        raise ValueError(f"{where}: {name} must be a positive integer; got {n!r}")
    return int(n)


def _check_factor(where: str, name: str, x: float, lo: float, hi: float) -> float:
    x = float(x)
    if not lo <= x <= hi:
        raise ValueError(f"{where}: {name} must be in [{lo}, {hi}]; got {x!r}")
    return x


class _Product(Schedule):
    def __init__(self, a: Callable[[int], float], b: Callable[[int], float]) -> None:
        self.a, self.b = a, b

    def __call__(self, k: int) -> float:
        return self.a(k) * self.b(k)

    def __repr__(self) -> str:
        return f"{self.a!r} * {self.b!r}"


class _StepDecay(Schedule):
    def __init__(self, every: int, gamma: float) -> None:
        self.every = _positive_int("step_decay", "every", every)
        self.gamma = _check_factor("step_decay", "gamma", gamma, 0.0, 1.0)

    def __call__(self, k: int) -> float:
        return self.gamma ** (k // self.every)

    def __repr__(self) -> str:
        return f"step_decay({self.every}, gamma={self.gamma})"


def step_decay(every: int, gamma: float = 0.1) -> Schedule:
    """Multiply the learning rate by ``gamma`` every ``every`` steps: ``gamma ** (k // every)``.

    Example:
        >>> from minitorch_ag.optim import step_decay
        >>> s = step_decay(2, gamma=0.5)
        >>> [s(k) for k in range(5)]
        [1.0, 1.0, 0.5, 0.5, 0.25]
    """
    return _StepDecay(every, gamma)


class _Exponential(Schedule):
    def __init__(self, gamma: float) -> None:
        self.gamma = _check_factor("exponential", "gamma", gamma, 0.0, 1.0)

    def __call__(self, k: int) -> float:
        return self.gamma ** k

    def __repr__(self) -> str:
        return f"exponential({self.gamma})"


def exponential(gamma: float) -> Schedule:
    """Multiply the learning rate by ``gamma`` at every step: ``gamma ** k``.

    Example:
        >>> from minitorch_ag.optim import exponential
        >>> s = exponential(0.5)
        >>> [s(k) for k in range(3)]
        [1.0, 0.5, 0.25]
    """
    return _Exponential(gamma)


class _Cosine(Schedule):
    def __init__(self, period: int, floor: float, restart: bool, mult: float) -> None:
        self.period = _positive_int("cosine", "period", period)
        self.floor = _check_factor("cosine", "floor", floor, 0.0, 1.0)
        self.restart = bool(restart)
        self.mult = float(mult)
        if self.mult < 1:
            raise ValueError(f"cosine: mult (period growth per restart) must be >= 1; got {mult}")

    def __call__(self, k: int) -> float:
        length = self.period
        if self.restart:  # find the cycle that step k falls in (SGDR's T_cur and T_i)
            while k >= length:
                k -= length
                length = max(1, round(length * self.mult))
        elif k >= length:
            return self.floor
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * k / length))

    def __repr__(self) -> str:
        return (f"cosine({self.period}, floor={self.floor}, restart={self.restart}, "
                f"mult={self.mult})")


def cosine(period: int, floor: float = 0.0, *, restart: bool = False,
           mult: float = 1.0) -> Schedule:
    """Cosine annealing from 1 to ``floor`` over ``period`` steps (SGDR, Loshchilov & Hutter).

    The factor at step ``k < period`` is ``floor + (1 - floor) * (1 + cos(pi * k / period)) / 2``.
    Without ``restart`` it stays at ``floor`` afterwards; with ``restart=True`` it jumps back to
    1 and anneals again, each new cycle ``mult`` times longer than the last (warm restarts).

    Example:
        >>> from minitorch_ag.optim import cosine
        >>> s = cosine(4, restart=True)
        >>> [round(s(k), 3) for k in range(6)]
        [1.0, 0.854, 0.5, 0.146, 1.0, 0.854]
    """
    return _Cosine(period, floor, restart, mult)


class _Warmup(Schedule):
    def __init__(self, steps: int, start: float, then: Callable[[int], float] | None) -> None:
        self.steps = _positive_int("warmup", "steps", steps)
        self.start = _check_factor("warmup", "start", start, 0.0, 1.0)
        if then is not None and not callable(then):
            raise TypeError(f"warmup: then must be a schedule (a function of the step); "
                            f"got {type(then).__name__}")
        self.then = then

    def __call__(self, k: int) -> float:
        if k < self.steps:
            return self.start + (1.0 - self.start) * k / self.steps
        return 1.0 if self.then is None else self.then(k - self.steps)

    def __repr__(self) -> str:
        return f"warmup({self.steps}, start={self.start}, then={self.then!r})"


def warmup(steps: int, start: float | None = None, *,
           then: Callable[[int], float] | None = None) -> Schedule:
    """Ramp the factor linearly from ``start`` to 1 over ``steps`` steps, then hand over.

    At step ``k < steps`` the factor is ``start + (1 - start) * k / steps``; ``start`` defaults
    to ``1 / steps``, so the first step is not wasted with a zero learning rate. From step
    ``steps`` on, the factor is ``then(k - steps)`` (1 without ``then``): the schedule after
    the warm-up starts from its own beginning. To warm up *over* another schedule instead
    (both counted from step 0), multiply them: ``warmup(100) * cosine(1000)``.

    Example:
        >>> from minitorch_ag.optim import warmup, exponential
        >>> s = warmup(4, then=exponential(0.5))
        >>> [s(k) for k in range(7)]
        [0.25, 0.4375, 0.625, 0.8125, 1.0, 0.5, 0.25]
    """
    n = _positive_int("warmup", "steps", steps)
    return _Warmup(n, 1.0 / n if start is None else start, then)
