"""Functional neural-network operations: the face over ``activations`` (activations, the affine
map, the softmax family, dropout), ``losses`` (losses, accuracy), ``conv`` (convolution,
pooling) and ``norm`` (normalisation); every name is defined in one of those.

Conventions: batch first; images NCHW; class scores along axis 1 (``(N, C)`` or ``(N, C, d1,
...)``); class labels are 0-based integer arrays, and a label equal to ``ignore_index``
(default -100, as PyTorch) is skipped by the losses and by ``accuracy``.

The activations used at every step are primitives with one-line rules (one tape node each
instead of several), and every rule is written with differentiable calls, so second and higher
derivatives are exact: relu, leaky_relu, elu, selu, gelu (exact and tanh form), sigmoid,
softplus, swish/silu, softmax, log_softmax, logsumexp. ``cross_entropy`` is one fused
primitive (logsumexp forward, softmax minus targets backward). The other losses are short
compositions of recorded NumPy calls.

Example:
    >>> import numpy as np
    >>> from minitorch_ag.nn import functional as F
    >>> float(F.cross_entropy(np.array([[2.0, 0.0], [0.0, 2.0]]), np.array([0, 1])).round(4))
    0.1269
"""

from .activations import (
    dropout,
    elu,
    gelu,
    leaky_relu,
    linear,
    log_softmax,
    logsumexp,
    relu,
    selu,
    sigmoid,
    silu,
    softmax,
    softplus,
    swish,
    tanh,
)
from .conv import avg_pool2d, conv2d, conv_transpose2d, max_pool2d
from .losses import (
    accuracy,
    bce,
    bce_with_logits,
    cross_entropy,
    l1,
    logistic,
    mse,
    nll,
    nll_loss,
)
from .norm import batch_norm, layer_norm

__all__ = [
    "linear",
    "relu", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "softplus", "swish", "silu", "tanh",
    "softmax", "log_softmax", "logsumexp",
    "nll", "nll_loss", "cross_entropy", "mse", "l1", "bce", "bce_with_logits", "logistic",
    "accuracy", "dropout",
    "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "batch_norm", "layer_norm",
]
