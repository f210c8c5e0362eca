"""Optimizers: one base loop, and per algorithm one update of one parameter (Knet's ``update.jl``).

An optimizer object holds the hyperparameters *and* the state of one parameter (velocity,
moments, step count), as Knet's do: a training loop gives every ``Param`` its own copy of a
template optimizer (``opt.clone()``) in ``p.opt``, created the first time the parameter is
updated. The state therefore travels with the parameter, and a second training loop continues
where the first stopped (pause and resume).

``Optimizer.step_(w, g)`` is the base loop, shared by all algorithms:

1. clip ``g`` to norm ``gclip`` (Knet's per-parameter clipping; 0 = off);
2. weight decay: L2, ``g + weight_decay * w`` (Knet, PyTorch's SGD), or decoupled,
   ``w *= 1 - lr * weight_decay`` (AdamW);
3. the learning rate of this step: ``lr * schedule(t)``, ``t`` the number of earlier updates;
4. the algorithm's ``_update(w, g, lr, *state)``, which changes ``w`` and its state arrays in
   place and never writes into ``g``.

A ``Sparse`` gradient (rows of an embedding table) is coalesced; steps 2-4 then run on the
touched rows only: their rows of ``w`` and of every state array are gathered, updated by the
same ``_update`` and written back. Rows the gradient does not touch keep their weights *and*
their state, as in PyTorch's ``SparseAdam`` ("lazy" updates): a stateful optimizer's moments of
an untouched row do not decay in that step. The full-size gradient is never built.

All arithmetic runs on the array module of the parameter (NumPy or CuPy) and in its dtype:
state arrays are ``zeros_like(w)``, and float32 parameters stay float32.

Formulas (``w`` weight, ``g`` gradient, ``t`` the step count from 1, all elementwise; eps
placement as Knet's, which differs from PyTorch's where noted):

    SGD       w -= lr * g
    Momentum  v = gamma * v - lr * g;  w += v
    Nesterov  v = gamma * v - lr * g;  w += gamma * v - lr * g
    Adagrad   G += g^2;  w -= lr * g / sqrt(G + eps)                  (PyTorch: sqrt(G) + eps)
    RMSprop   G = rho * G + (1 - rho) * g^2;  w -= lr * g / sqrt(G + eps)      (PyTorch: idem)
    Adadelta  G = rho * G + (1 - rho) * g^2;  u = g * sqrt(D + eps) / sqrt(G + eps)
              D = rho * D + (1 - rho) * u^2;  w -= lr * u
    Adam      m = b1 * m + (1 - b1) * g;  v = b2 * v + (1 - b2) * g^2
              w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    AdamW     w *= 1 - lr * weight_decay, then Adam
"""

from __future__ import annotations

import copy
import math
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..backend import array_module, fused_kernel, is_array
from ..sparse import Sparse
from .clipping import clip_norm

__all__ = ["Optimizer", "SGD", "Momentum", "Nesterov", "Adagrad", "RMSprop", "Adadelta",
           "Adam", "AdamW"]


class Optimizer:
    """Base of the optimizers: hyperparameters, the state of one parameter, and the base loop.

    A subclass lists its hyperparameters in ``hyper`` and its state arrays in ``state_names``,
    and implements ``_update(w, g, lr, *state)``; the base class does clipping, weight decay,
    the schedule, sparse gradients and the lazy creation of the state.

    Args:
        lr: the learning rate.
        gclip: per-parameter gradient clipping: a gradient with norm above ``gclip`` is scaled
            to norm ``gclip`` (Knet's ``gclip``; 0 turns it off).
        weight_decay: L2 penalty coefficient, added to the gradient as
            ``g + weight_decay * w`` (decoupled from the gradient in ``AdamW``).
        schedule: a function of the step index ``t = 0, 1, ...`` giving the factor of ``lr``
            at that step (see ``minitorch_ag.optim.schedules``); ``None`` keeps ``lr``.
    """

    hyper: ClassVar[tuple[str, ...]] = ()
    state_names: ClassVar[tuple[str, ...]] = ()
    decoupled: ClassVar[bool] = False  # True: weight decay shrinks w instead of entering g
    _default_decay: ClassVar[float] = 0.0  # left out of repr when equal

    def __init__(self, lr: float, *, gclip: float = 0.0, weight_decay: float = 0.0,
                 schedule: Callable[[int], float] | None = None) -> None:
        name = type(self).__name__
        self.lr = _nonnegative(name, "lr", lr)
        self.gclip = _nonnegative(name, "gclip", gclip)
        self.weight_decay = _nonnegative(name, "weight_decay", weight_decay)
        if schedule is not None and not callable(schedule):
            raise TypeError(f"{name}: schedule must be a function of the step index; "
                            f"got {type(schedule).__name__}")
        self.schedule = schedule
        self.reset()

    # -- state ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the state (step count and state arrays); keep the hyperparameters."""
        self.t = 0
        self._owner: Any = None  # a weak reference to the Param this state belongs to
        for s in self.state_names:
            setattr(self, s, None)

    def clone(self) -> Optimizer:
        """A fresh optimizer with the same hyperparameters and no state (Knet's ``clone``).

        Example:
            >>> from minitorch_ag.optim import Adam
            >>> Adam(lr=0.01).clone()
            Adam(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-08)
        """
        new = copy.copy(self)
        new.reset()
        return new

    def claim(self, owner: Any) -> None:
        """Tie this state to the Param ``owner``; refuse one already tied to another live Param.

        Two parameters sharing one optimizer object would mix their moments (silently, when
        their shapes agree), so the update of the second one raises instead.
        """
        ref = self._owner
        current = ref() if ref is not None else None
        if current is None:
            self._owner = weakref.ref(owner)
        elif current is not owner:
            raise ValueError(
                f"{type(self).__name__}: this optimizer already holds the state of another "
                f"Param (shape {current.shape}); each Param needs its own optimizer: give it "
                f"opt.clone(), or leave p.opt = None and let update_/minimize copy the template"
            )

    def _states(self, w: Any) -> list[Any]:
        """The state arrays for weight ``w``, created as zeros the first time."""
        states = []
        for s in self.state_names:
            a = getattr(self, s)
            if a is None:
                a = array_module(w).zeros_like(w)
                setattr(self, s, a)
            elif (a.shape != w.shape or a.dtype != w.dtype
                  or array_module(a) is not array_module(w)):
                raise ValueError(
                    f"{type(self).__name__}: its state {s!r} ({type(a).__name__}, shape "
                    f"{a.shape}, {a.dtype}) does not fit the weight ({type(w).__name__}, shape "
                    f"{w.shape}, {w.dtype}); an optimizer holds the state of one parameter: "
                    f"use opt.clone() for another one, or opt.reset() after changing the weight"
                )
            states.append(a)
        return states

    # -- the base loop -------------------------------------------------------------------

    def step_(self, w: Any, g: Any) -> Any:
        """Apply one update to the array ``w`` in place with gradient ``g``; returns ``w``.

        ``g`` is an array of ``w``'s shape or a ``Sparse`` row gradient; ``None`` (the loss
        did not depend on ``w``) leaves ``w`` and the state unchanged.

        Example:
            >>> import numpy as np
            >>> from minitorch_ag.optim import SGD
            >>> SGD(lr=0.5).step_(np.array([1.0, 2.0]), np.array([2.0, 2.0]))
            array([0., 1.])
        """
        if g is None:
            return w
        name = type(self).__name__
        if not is_array(w) or w.dtype.kind != "f":
            raise TypeError(
                f"{name}.step_(w, g): w must be a floating-point array; got "
                f"{type(w).__name__}{' of ' + str(w.dtype) if hasattr(w, 'dtype') else ''}"
            )
        if not getattr(w.flags, "writeable", True):  # (CuPy arrays are always writeable)
            raise ValueError(f"{name}.step_(w, g): w (shape {w.shape}) is read-only")
        if tuple(np.shape(g)) != w.shape:
            raise ValueError(f"{name}.step_(w, g): gradient shape {tuple(np.shape(g))} differs "
                             f"from weight shape {w.shape}")
        states = self._states(w)  # checked (or created) before anything changes
        if self.gclip > 0:
            g = clip_norm(g, self.gclip)
        lr = self.lr if self.schedule is None else self.lr * float(self.schedule(self.t))
        self.t += 1
        if isinstance(g, Sparse):
            self._sparse_step(w, g, lr, states)
        else:
            self._dense_step(w, array_module(w).asarray(g, dtype=w.dtype), lr, states)
        return w

    def _dense_step(self, w: Any, g: Any, lr: float, states: list[Any]) -> None:
        """Weight decay, then the algorithm, on full arrays (or on gathered rows)."""
        wd = self.weight_decay
        if wd:
            if self.decoupled:
                w *= 1.0 - lr * wd
            else:
                g = g + wd * w
        self._update(w, g, lr, *states)

    def _sparse_step(self, w: Any, g: Sparse, lr: float, states: list[Any]) -> None:
        """The dense step on the touched rows only: gather, update, scatter back."""
        g = g.coalesce()
        rows = g.indices
        w_rows = w[rows]
        state_rows = [s[rows] for s in states]
        self._dense_step(w_rows, g.values.astype(w.dtype, copy=False), lr, state_rows)
        w[rows] = w_rows
        for s, r in zip(states, state_rows, strict=True):
            s[rows] = r

    def _update(self, w: Any, g: Any, lr: float, *state: Any) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        parts = [f"lr={self.lr!r}"] + [f"{h}={getattr(self, h)!r}" for h in self.hyper]
        for h, default in (("gclip", 0.0), ("weight_decay", type(self)._default_decay),
                           ("schedule", None)):
            v = getattr(self, h)
            if v != default:
                parts.append(f"{h}={v!r}")
        if self.t:
            parts.append(f"t={self.t}")
        return f"{type(self).__name__}({', '.join(parts)})"


def _nonnegative(where: str, name: str, x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {name} must be a number; got {type(x).__name__}") from None
    if not v >= 0:  # also refuses NaN
        raise ValueError(f"{where}: {name} must be >= 0; got {x!r}")
    return v


def _fraction(where: str, name: str, x: Any) -> float:
    v = _nonnegative(where, name, x)
    if v >= 1:
        raise ValueError(f"{where}: {name} must be in [0, 1); got {x!r}")
    return v


# ----------------------------------------------------------------------------------------
# The algorithms
# ----------------------------------------------------------------------------------------


def _scaled_ratio(xp: Any, g: Any, G: Any, eps: float, lr: float, out: Any) -> Any:
    """``lr * g / sqrt(G + eps)`` into ``out`` (which may not be ``g`` or ``G``)."""
    xp.add(G, eps, out=out)
    xp.sqrt(out, out=out)
    xp.divide(g, out, out=out)
    out *= lr
    return out


class SGD(Optimizer):
    """Stochastic gradient descent: ``w -= lr * g``.

    Robbins & Monro (1951), "A Stochastic Approximation Method", Annals of Mathematical
    Statistics 22(3). Knet's default learning rate, 0.1.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import Param
        >>> from minitorch_ag.optim import SGD, update_
        >>> w = Param(np.array([1.0, 2.0]))
        >>> update_(w, np.array([1.0, 1.0]), SGD(lr=0.1))
        P(array([0.9, 1.9]))
    """

    def __init__(self, lr: float = 0.1, **kw: Any) -> None:
        super().__init__(lr, **kw)

    def _update(self, w: Any, g: Any, lr: float) -> None:
        w -= lr * g


class Momentum(Optimizer):
    """Gradient descent with momentum: ``v = gamma * v - lr * g; w += v``.

    Polyak (1964), "Some methods of speeding up the convergence of iteration methods"; Qian
    (1999), "On the momentum term in gradient descent learning algorithms", Neural Networks
    12(1). Equal to PyTorch's ``SGD(momentum=gamma)`` (whose buffer is ``-v / lr``) while the
    learning rate is constant. Knet's defaults: lr 0.05, gamma 0.95.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.optim import Momentum
        >>> opt = Momentum(lr=0.1, gamma=0.5)
        >>> w = np.zeros(1)
        >>> opt.step_(w, np.ones(1))
        array([-0.1])
        >>> opt.step_(w, np.ones(1))
        array([-0.25])
    """

    hyper = ("gamma",)
    state_names = ("velocity",)

    def __init__(self, lr: float = 0.05, gamma: float = 0.95, **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.gamma = _fraction("Momentum", "gamma", gamma)

    def _update(self, w: Any, g: Any, lr: float, v: Any) -> None:
        v *= self.gamma
        v -= lr * g
        w += v


class Nesterov(Optimizer):
    """Nesterov's accelerated gradient: ``v = gamma * v - lr * g; w += gamma * v - lr * g``.

    Nesterov (1983), "A method for solving the convex programming problem with convergence
    rate O(1/k^2)"; in this form (the weights kept at the look-ahead point) Bengio,
    Boulanger-Lewandowski & Pascanu (2013), "Advances in optimizing recurrent networks",
    eq. 7, as Knet. Equal to PyTorch's ``SGD(momentum=gamma, nesterov=True)``.
    Knet's defaults: lr 0.05, gamma 0.95.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.optim import Nesterov
        >>> Nesterov(lr=0.1, gamma=0.5).step_(np.zeros(1), np.ones(1))
        array([-0.15])
    """

    hyper = ("gamma",)
    state_names = ("velocity",)

    def __init__(self, lr: float = 0.05, gamma: float = 0.95, **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.gamma = _fraction("Nesterov", "gamma", gamma)

    def _update(self, w: Any, g: Any, lr: float, v: Any) -> None:
        xp = array_module(w)
        step = xp.multiply(g, lr, out=xp.empty_like(w))  # 0-d safe: always an array
        v *= self.gamma
        v -= step
        w -= step
        w += xp.multiply(v, self.gamma, out=step)


class Adagrad(Optimizer):
    """Adagrad: ``G += g^2; w -= lr * g / sqrt(G + eps)``.

    Duchi, Hazan & Singer (2011), "Adaptive Subgradient Methods for Online Learning and
    Stochastic Optimization", JMLR 12. Knet's defaults: lr 0.05, eps 1e-6. ``eps`` sits inside
    the square root as in Knet; PyTorch's ``Adagrad`` adds it outside, ``sqrt(G) + eps``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.optim import Adagrad
        >>> Adagrad(lr=0.5, eps=0.0).step_(np.zeros(1), np.array([2.0]))
        array([-0.5])
    """

    hyper = ("eps",)
    state_names = ("G",)

    def __init__(self, lr: float = 0.05, eps: float = 1e-6, **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.eps = _nonnegative("Adagrad", "eps", eps)

    def _update(self, w: Any, g: Any, lr: float, G: Any) -> None:  # noqa: N803 - Knet's name
        xp = array_module(w)
        tmp = xp.multiply(g, g, out=xp.empty_like(w))  # the one temporary array, reused
        G += tmp
        _scaled_ratio(xp, g, G, self.eps, lr, out=tmp)
        w -= tmp


class RMSprop(Optimizer):
    """RMSprop: ``G = rho * G + (1 - rho) * g^2; w -= lr * g / sqrt(G + eps)``.

    Tieleman & Hinton (2012), "Lecture 6.5 - rmsprop: Divide the gradient by a running average
    of its recent magnitude", COURSERA: Neural Networks for Machine Learning. Knet's defaults:
    lr 0.01, rho 0.9, eps 1e-6. ``eps`` sits inside the square root as in Knet; PyTorch's
    ``RMSprop`` (``alpha`` = ``rho``) adds it outside, ``sqrt(G) + eps``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.optim import RMSprop
        >>> RMSprop(lr=0.1, rho=0.75, eps=0.0).step_(np.zeros(1), np.array([2.0]))
        array([-0.2])
    """

    hyper = ("rho", "eps")
    state_names = ("G",)

    def __init__(self, lr: float = 0.01, rho: float = 0.9, eps: float = 1e-6,
                 **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.rho = _fraction("RMSprop", "rho", rho)
        self.eps = _nonnegative("RMSprop", "eps", eps)

    def _update(self, w: Any, g: Any, lr: float, G: Any) -> None:  # noqa: N803 - Knet's name
        xp = array_module(w)
        tmp = xp.multiply(g, g, out=xp.empty_like(w))  # the one temporary array, reused
        tmp *= 1.0 - self.rho
        G *= self.rho
        G += tmp
        _scaled_ratio(xp, g, G, self.eps, lr, out=tmp)
        w -= tmp


class Adadelta(Optimizer):
    """Adadelta: RMSprop whose step is rescaled by a running RMS of past updates.

    ``G = rho * G + (1 - rho) * g^2; u = g * sqrt(D + eps) / sqrt(G + eps);
    D = rho * D + (1 - rho) * u^2; w -= lr * u``.

    Zeiler (2012), "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701. Knet's
    defaults: lr 1.0, rho 0.9, eps 1e-6; the same formula (and eps placement) as PyTorch's
    ``Adadelta``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.optim import Adadelta
        >>> Adadelta(rho=0.25, eps=1.0).step_(np.zeros(1), np.array([2.0]))
        array([-1.])
    """

    hyper = ("rho", "eps")
    state_names = ("G", "delta")

    def __init__(self, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.rho = _fraction("Adadelta", "rho", rho)
        self.eps = _nonnegative("Adadelta", "eps", eps)

    def _update(self, w: Any, g: Any, lr: float, G: Any, D: Any) -> None:  # noqa: N803
        xp = array_module(w)
        rho, eps = self.rho, self.eps
        tmp = xp.multiply(g, g, out=xp.empty_like(w))  # two temporary arrays, reused
        tmp *= 1.0 - rho
        G *= rho
        G += tmp
        u = xp.add(D, eps, out=xp.empty_like(w))
        xp.sqrt(u, out=u)
        u *= g
        xp.add(G, eps, out=tmp)
        xp.sqrt(tmp, out=tmp)
        u /= tmp  # u = g * sqrt(D + eps) / sqrt(G + eps)
        D *= rho
        xp.multiply(u, u, out=tmp)
        tmp *= 1.0 - rho
        D += tmp
        u *= lr
        w -= u


class Adam(Optimizer):
    """Adam: bias-corrected running moments of the gradient and of its square.

    ``m = b1 * m + (1 - b1) * g; v = b2 * v + (1 - b2) * g^2;
    w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)``, ``t`` the step count from 1.

    Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization", ICLR, arXiv:1412.6980.
    Knet's defaults (and PyTorch's): lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8.
    ``weight_decay`` here is L2 added to the gradient (PyTorch's ``Adam(weight_decay=...)``);
    for decoupled weight decay use ``AdamW``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.optim import Adam
        >>> Adam(lr=0.1).step_(np.zeros(2), np.array([3.0, -0.5]))
        array([-0.1,  0.1])
    """

    hyper = ("beta1", "beta2", "eps")
    state_names = ("m", "v")

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, **kw: Any) -> None:
        super().__init__(lr, **kw)
        name = type(self).__name__
        self.beta1 = _fraction(name, "beta1", beta1)
        self.beta2 = _fraction(name, "beta2", beta2)
        self.eps = _nonnegative(name, "eps", eps)

    def _update(self, w: Any, g: Any, lr: float, m: Any, v: Any) -> None:
        xp = array_module(w)
        b1, b2, t = self.beta1, self.beta2, self.t
        rms_scale, step = 1.0 / math.sqrt(1.0 - b2 ** t), lr / (1.0 - b1 ** t)
        kernel = fused_kernel(xp, "minitorch_ag_adam", _ADAM_IN, "T w, T m, T v", _ADAM_STEP)
        if kernel is not None and w.flags.c_contiguous:  # one launch on a GPU, not ten
            kernel(g, b1, 1.0 - b1, b2, 1.0 - b2, rms_scale, self.eps, step, w, m, v)
            return
        tmp = xp.multiply(g, 1.0 - b1, out=xp.empty_like(w))  # the one temporary, reused
        m *= b1
        m += tmp
        xp.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        v *= b2
        v += tmp
        xp.sqrt(v, out=tmp)  # sqrt(v / (1 - b2^t)) + eps: the bias-corrected RMS
        tmp *= 1.0 / math.sqrt(1.0 - b2 ** t)
        tmp += self.eps
        xp.divide(m, tmp, out=tmp)
        tmp *= lr / (1.0 - b1 ** t)
        w -= tmp


# Adam's step as one kernel, in the order of the operations of Adam._update (so that both
# round alike): the moments, then w -= m / (sqrt(v) * rms_scale + eps) * step.
_ADAM_IN = "T g, T b1, T c1, T b2, T c2, T rms_scale, T eps, T step"
_ADAM_STEP = ("m = m * b1 + g * c1; v = v * b2 + (g * g) * c2; "
              "w = w - (m / (sqrt(v) * rms_scale + eps)) * step")


class AdamW(Adam):
    """Adam with decoupled weight decay: ``w *= 1 - lr * weight_decay``, then the Adam step.

    Loshchilov & Hutter (2019), "Decoupled Weight Decay Regularization", ICLR,
    arXiv:1711.05101. The decay shrinks the weights directly instead of entering the gradient
    (where Adam's scaling would weaken it for weights with large gradients). As PyTorch's
    ``AdamW``, the decay is multiplied by the (scheduled) learning rate, and the default
    ``weight_decay`` is 0.01; other defaults as ``Adam``. With a ``Sparse`` gradient only the
    touched rows decay (lazy, like their moments).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.optim import AdamW
        >>> AdamW(lr=0.1, weight_decay=0.5).step_(np.ones(1), np.ones(1))
        array([0.85])
    """

    decoupled = True
    _default_decay = 0.01

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.01, **kw: Any) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay=weight_decay, **kw)
