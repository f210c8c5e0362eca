"""Neural networks in Knet's style: functional operations, callable layers, initializers.

- ``minitorch_ag.nn.functional`` (its names are also here): activations, softmax, losses,
  accuracy, dropout, convolution, pooling and normalisation, batch-first (images NCHW).
- Layers (``layers.py``, ``rnn.py``): plain classes holding ``Param``s, callable, found by
  ``ag.params(model)``: Linear/Dense, Conv2d, MaxPool2d, AvgPool2d, Flatten, Dropout,
  BatchNorm, LayerNorm, Embedding, RNN, LSTM, GRU, Chain/Sequential.
- ``minitorch_ag.nn.init``: Xavier/Glorot, Kaiming/He, gaussian, uniform, zeros, ones.
- ``summary(model)``: the layers of a model with their parameter counts, and the total.
- Knet's vocabulary (``knet.py``): ``param``, ``param0``, ``mat``, ``conv4``, ``deconv4``,
  ``pool``, ``unpool``, with Knet's argument order on NCHW arrays.

Example:
    >>> import numpy as np, minitorch_ag as ag
    >>> from minitorch_ag import nn
    >>> model = nn.Chain(nn.Linear(4, 8, nn.relu, rng=0), nn.Linear(8, 3, rng=1))
    >>> x, y = np.ones((2, 4), np.float32), np.array([0, 2])
    >>> loss = ag.diff(lambda: model(x, y))
    >>> [ag.grad(loss, p).shape for p in ag.params(model)]
    [(8, 4), (8,), (3, 8), (3,)]
"""

from . import functional, init
from .functional import (
    accuracy,
    avg_pool2d,
    batch_norm,
    bce,
    bce_with_logits,
    conv2d,
    conv_transpose2d,
    cross_entropy,
    dropout,
    elu,
    gelu,
    l1,
    layer_norm,
    leaky_relu,
    linear,
    log_softmax,
    logistic,
    logsumexp,
    max_pool2d,
    mse,
    nll,
    nll_loss,
    relu,
    selu,
    sigmoid,
    silu,
    softmax,
    softplus,
    swish,
    tanh,
)
from .knet import conv4, deconv4, mat, param, param0, pool, unpool
from .layers import (
    AvgPool2d,
    BatchNorm,
    BatchNorm1d,
    BatchNorm2d,
    Chain,
    Conv2d,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    LayerNorm,
    Linear,
    MaxPool2d,
    Sequential,
)
from .model_summary import Summary, summary
from .rnn import GRU, LSTM, RNN, detach, gru_cell, lstm_cell

__all__ = [
    "functional", "init",
    # layers
    "Linear", "Dense", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Dropout", "BatchNorm",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Embedding", "Chain", "Sequential",
    "RNN", "LSTM", "GRU", "lstm_cell", "gru_cell", "detach",
    "summary", "Summary",
    # Knet's vocabulary
    "param", "param0", "mat", "conv4", "deconv4", "pool", "unpool",
    # functional operations
    "linear",
    "relu", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "softplus", "swish", "silu", "tanh",
    "softmax", "log_softmax", "logsumexp",
    "nll", "nll_loss", "cross_entropy", "mse", "l1", "bce", "bce_with_logits", "logistic",
    "accuracy", "dropout",
    "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "batch_norm", "layer_norm",
]
