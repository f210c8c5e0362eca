"""Optimizers, gradient clipping, learning-rate schedules and Knet-style training loops.

Optimizers (each cites its paper; defaults are Knet's): ``SGD``, ``Momentum``, ``Nesterov``,
``Adagrad``, ``RMSprop``, ``Adadelta``, ``Adam``, ``AdamW``. ``update_(w, g, opt)`` applies one
step in place; ``minimize(loss, data, opt)`` and its shorthands ``sgd``, ``adam``, ... are lazy
training iterators that yield the loss at each step; ``progress``, ``converge``, ``epochs`` and
``take`` shape how long they run.

Example:
    >>> import numpy as np
    >>> from minitorch_ag import Param
    >>> from minitorch_ag.optim import adam, epochs
    >>> w = Param(np.array([1.0, -2.0]))
    >>> data = [(np.array([0.5, 0.5]),)]
    >>> losses = list(adam(lambda x: np.sum((w - x) ** 2), epochs(data, 500), lr=0.05))
    >>> bool(losses[-1] < 1e-3)
    True

This package imports only the core of minitorch_ag (never ``nn`` or ``datasets``), and the
core never imports it.
"""

from .clipping import clip_global_norm, clip_norm, grad_norm
from .loops import (
    adadelta,
    adadelta_,
    adagrad,
    adagrad_,
    adam,
    adam_,
    adamw,
    adamw_,
    converge,
    drain,
    epochs,
    minimize,
    minimize_,
    momentum,
    momentum_,
    nesterov,
    nesterov_,
    progress,
    progress_,
    rmsprop,
    rmsprop_,
    sgd,
    sgd_,
    take,
)
from .optimizers import (
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
from .schedules import Schedule, cosine, exponential, step_decay, warmup
from .update import update_

__all__ = [
    "Optimizer", "SGD", "Momentum", "Nesterov", "Adagrad", "RMSprop", "Adadelta", "Adam",
    "AdamW",
    "update_", "grad_norm", "clip_norm", "clip_global_norm",
    "Schedule", "step_decay", "exponential", "cosine", "warmup",
    "minimize", "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw",
    "progress", "converge", "epochs", "take",
    "drain", "minimize_", "sgd_", "momentum_", "nesterov_", "adagrad_", "rmsprop_", "adadelta_",
    "adam_", "adamw_", "progress_",
]
