"""Layers: plain callable classes holding ``Param``s as attributes (Knet's style).

``ag.params(model)`` finds every weight by walking the attributes, so a model is any object
that holds layers, and layers compose with ``Chain``. Weights and their names follow PyTorch
(``weight`` of shape ``(out_features, in_features)``, ``bias``; convolution filters
``(out_channels, in_channels / groups, kh, kw)``), so that they copy over from PyTorch one to
one, and so do PyTorch's default initializations (uniform on ``±1/sqrt(fan_in)``; an ``init=``
argument takes any initializer of ``minitorch_ag.nn.init``).

Every layer takes ``dtype=`` (float32 by default, what deep-learning code trains in, on CPUs
and GPUs alike, as PyTorch and Knet's GPU arrays; ``np.float64`` for gradient checks) and the
layers with random weights take ``rng=`` (a ``np.random.Generator`` or a seed) so that models
are reproducible.

There is no training mode to switch: ``Dropout`` and ``BatchNorm`` train while ``diff`` records
(``ag.recording()``) and infer outside it. Their ``training`` attribute (``None`` by default)
can force either behaviour.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..backend import array_module
from ..primitive import Param, raw
from . import functional as F
from . import init as _init

__all__ = [
    "Linear", "Dense", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Dropout",
    "BatchNorm", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Embedding", "Chain", "Sequential",
]

Initializer = Callable[..., np.ndarray]


def _fan_in_uniform(shape: tuple[int, ...], fan_in: int, rng: np.random.Generator,
                    dtype: Any) -> np.ndarray:
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return _init.uniform(shape, -bound, bound, rng=rng, dtype=dtype)


def _weights(shape: tuple[int, ...], bias: bool, init: Initializer | None, rng: Any,
             dtype: Any) -> tuple[Param, Param | None]:
    """A weight (``init`` or PyTorch's default) and a bias (PyTorch's default), as Params."""
    gen = _init.as_generator(rng)
    fan_in = _init.fans(shape)[0]
    if init is None:
        w = _fan_in_uniform(shape, fan_in, gen, dtype)
    else:
        w = init(shape, rng=gen, dtype=dtype)  # on the default device: kept there
        if tuple(np.shape(w)) != shape:
            raise ValueError(f"init returned shape {np.shape(w)}; the weight needs {shape}")
    b = Param(_fan_in_uniform((shape[0],), fan_in, gen, dtype)) if bias else None
    return Param(w), b


def _last_axis(layer: str, x: Any, n: int, what: str) -> None:
    shape = np.shape(raw(x))
    if len(shape) == 0 or shape[-1] != n:
        hint = ""
        if len(shape) > 2 and math.prod(shape[1:]) == n:  # images into a dense layer
            hint = (" (flatten each sample first: put nn.Flatten() before the layer, or pass "
                    "x.reshape(len(x), -1))")
        raise ValueError(f"{layer}: the input's last axis must have {n} {what}; got shape "
                         f"{shape}{hint}")


class Linear:
    """A dense layer, ``activation(x @ weight.T + bias)``, as ``torch.nn.Linear`` (Knet's Dense).

    Args:
        in_features: size of each input sample (the last axis of ``x``).
        out_features: size of each output sample.
        activation: a function applied to the result (``F.relu``, ``np.tanh`` ...), or None.
        bias: whether to add a learned bias.
        init: initializer of the weight (``init.xavier_uniform`` ...); PyTorch's default if
            None. The bias is uniform on ``±1/sqrt(in_features)``.
        rng: random generator or seed.
        dtype: of the weights (float32 by default).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import Linear, functional as F
        >>> layer = Linear(3, 2, activation=F.relu, rng=0)
        >>> layer(np.ones((4, 3), np.float32)).shape
        (4, 2)
    """

    def __init__(self, in_features: int, out_features: int,
                 activation: Callable[[Any], Any] | None = None, *, bias: bool = True,
                 init: Initializer | None = None, rng: Any = None,
                 dtype: Any = np.float32) -> None:
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight, self.bias = _weights((self.out_features, self.in_features), bias, init,
                                          rng, dtype)
        self.activation = activation

    def __call__(self, x: Any) -> Any:
        _last_axis("Linear", x, self.in_features, "features")
        y = F.linear(x, self.weight, self.bias)
        return y if self.activation is None else self.activation(y)

    def __repr__(self) -> str:
        act = getattr(self.activation, "__name__", self.activation)
        return f"Linear({self.in_features}, {self.out_features}, activation={act})"


Dense = Linear
"""Another name for ``Linear`` (Knet's and Flux's name for a fully connected layer)."""


class Conv2d:
    """2-d convolution (cross-correlation, as ``torch.nn.Conv2d``), NCHW, with an activation.

    Args:
        in_channels, out_channels: channels of the input and of the output.
        kernel_size: an int or a (height, width) pair.
        stride, padding, dilation, groups: as ``F.conv2d`` (padding may be ``"same"``).
        activation: a function applied to the result, or None.
        bias: whether to add a learned bias per output channel.
        init: initializer of the filters; PyTorch's default if None.
        rng: random generator or seed.
        dtype: of the weights (float32 by default).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import Conv2d
        >>> Conv2d(1, 4, 3, padding=1, rng=0)(np.ones((2, 1, 5, 5), np.float32)).shape
        (2, 4, 5, 5)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1,
                 activation: Callable[[Any], Any] | None = None, *, bias: bool = True,
                 init: Initializer | None = None, rng: Any = None,
                 dtype: Any = np.float32) -> None:
        kh, kw = (kernel_size, kernel_size) if np.ndim(kernel_size) == 0 else kernel_size
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = (int(kh), int(kw))
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        shape = (self.out_channels, self.in_channels // groups, int(kh), int(kw))
        self.weight, self.bias = _weights(shape, bias, init, rng, dtype)
        self.activation = activation

    def __call__(self, x: Any) -> Any:
        shape = np.shape(raw(x))
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise ValueError(f"Conv2d: the input must have shape (N, {self.in_channels}, H, W); "
                             f"got {shape}")
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                     self.groups)
        return y if self.activation is None else self.activation(y)

    def __repr__(self) -> str:
        act = getattr(self.activation, "__name__", self.activation)
        return (f"Conv2d({self.in_channels}, {self.out_channels}, {self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, activation={act})")


class MaxPool2d:
    """Max pooling over windows of NCHW images (``F.max_pool2d``).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import MaxPool2d
        >>> MaxPool2d(2)(np.arange(16.0).reshape(1, 1, 4, 4))
        array([[[[ 5.,  7.],
                 [13., 15.]]]])
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def __call__(self, x: Any) -> Any:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def __repr__(self) -> str:
        return f"MaxPool2d({self.kernel_size}, stride={self.stride}, padding={self.padding})"


class AvgPool2d:
    """Average pooling over windows of NCHW images (``F.avg_pool2d``).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import AvgPool2d
        >>> AvgPool2d(2)(np.arange(16.0).reshape(1, 1, 4, 4))
        array([[[[ 2.5,  4.5],
                 [10.5, 12.5]]]])
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 count_include_pad: bool = True) -> None:
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.count_include_pad = count_include_pad

    def __call__(self, x: Any) -> Any:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                            self.count_include_pad)

    def __repr__(self) -> str:
        return f"AvgPool2d({self.kernel_size}, stride={self.stride}, padding={self.padding})"


class Flatten:
    """Flattens every axis but the first: ``(N, ...)`` to ``(N, prod(...))`` (conv to dense).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import Flatten
        >>> Flatten()(np.zeros((2, 3, 4, 5))).shape
        (2, 60)
    """

    def __call__(self, x: Any) -> Any:
        shape = np.shape(raw(x))
        return np.reshape(x, (shape[0], -1)) if shape else np.reshape(x, (1, 1))

    def __repr__(self) -> str:
        return "Flatten()"


class Dropout:
    """Inverted dropout (``F.dropout``): active while ``diff`` records, the identity outside.

    Args:
        p: the probability of zeroing an element.
        rng: random generator or seed for the masks.

    The ``training`` attribute (``None``: follow ``ag.recording()``) forces it on or off.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import Dropout
        >>> Dropout(0.5)(np.ones(3))  # not recording: the identity
        array([1., 1., 1.])
    """

    def __init__(self, p: float = 0.5, *, rng: Any = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1]; got {p!r}")
        self.p = float(p)
        self.rng = _init.as_generator(rng)
        self.training: bool | None = None

    def __call__(self, x: Any) -> Any:
        return F.dropout(x, self.p, rng=self.rng, training=self.training)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


class BatchNorm:
    """Batch normalisation (Ioffe & Szegedy, 2015) of ``(N, C)``, ``(N, C, L)`` or NCHW input.

    While ``diff`` records, each channel is standardised with the batch's statistics and the
    running statistics are updated; outside ``diff`` (inference) the running statistics are
    used, so there is no mode to switch (the ``training`` attribute, ``None`` by default,
    forces either). The running statistics are buffers: ``ag.state_dict`` and ``ag.save``
    include them.

    Args:
        num_features: the channels ``C`` (axis 1).
        eps: added to the variance.
        momentum: weight of each new batch in the running statistics.
        affine: learn a per-channel scale ``weight`` (ones) and shift ``bias`` (zeros).
        track_running_stats: keep running statistics (otherwise batch statistics are always
            used).
        dtype: of the weights and statistics (float32 by default).

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> bn = BatchNorm(2)
        >>> x = np.array([[1.0, 2.0], [3.0, 6.0]], np.float32)
        >>> _ = ag.diff(lambda: np.sum(bn(x)))  # training: updates the running statistics
        >>> bn.running_mean
        array([0.2, 0.4], dtype=float32)
    """

    state_buffers = ("running_mean", "running_var")

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *,
                 dtype: Any = np.float32) -> None:
        self.num_features = int(num_features)
        self.eps, self.momentum = float(eps), float(momentum)
        n = self.num_features
        self.weight = Param(_init.ones(n, dtype=dtype)) if affine else None
        self.bias = Param(_init.zeros(n, dtype=dtype)) if affine else None
        self.running_mean = _init.zeros(n, dtype=dtype) if track_running_stats else None
        self.running_var = _init.ones(n, dtype=dtype) if track_running_stats else None
        self.training: bool | None = None

    def __call__(self, x: Any) -> Any:
        shape = np.shape(raw(x))
        if len(shape) not in (2, 3, 4) or shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm: the input must have shape (N, {self.num_features}), "
                f"(N, {self.num_features}, L) or (N, {self.num_features}, H, W); got {shape}"
            )
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=self.training, momentum=self.momentum, eps=self.eps)

    def __repr__(self) -> str:
        return f"BatchNorm({self.num_features}, eps={self.eps}, momentum={self.momentum})"


BatchNorm1d = BatchNorm
"""``BatchNorm`` under PyTorch's name for ``(N, C)`` input (one layer handles both shapes)."""
BatchNorm2d = BatchNorm
"""``BatchNorm`` under PyTorch's name for ``(N, C, H, W)`` input."""


class LayerNorm:
    """Layer normalisation (Ba et al., 2016) over the trailing axes ``normalized_shape``.

    Args:
        normalized_shape: an int or a tuple: the trailing axes standardised together.
        eps: added to the variance.
        elementwise_affine: learn a scale ``weight`` (ones) and shift ``bias`` (zeros).
        dtype: of the weights (float32 by default).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import LayerNorm
        >>> np.round(LayerNorm(2)(np.array([[1.0, 3.0]], np.float32)), 3)
        array([[-1.,  1.]], dtype=float32)
    """

    def __init__(self, normalized_shape: Any, eps: float = 1e-5,
                 elementwise_affine: bool = True, *, dtype: Any = np.float32) -> None:
        shape = (int(normalized_shape),) if np.ndim(normalized_shape) == 0 else tuple(
            int(n) for n in normalized_shape)
        self.normalized_shape = shape
        self.eps = float(eps)
        self.weight = Param(_init.ones(shape, dtype=dtype)) if elementwise_affine else None
        self.bias = Param(_init.zeros(shape, dtype=dtype)) if elementwise_affine else None

    def __call__(self, x: Any) -> Any:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, eps=self.eps)

    def __repr__(self) -> str:
        return f"LayerNorm({self.normalized_shape}, eps={self.eps})"


class Embedding:
    """A lookup table: ``weight[ids]`` for integer ``ids`` of any shape (Knet's ``Embed``).

    The gradient of the table touches only the rows looked up (a row-sparse gradient where
    the core provides one).

    Args:
        num_embeddings: rows of the table (the vocabulary).
        embedding_dim: size of each row.
        init: initializer of the table; standard normal (PyTorch's default) if None.
        rng: random generator or seed.
        dtype: of the table (float32 by default).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import Embedding
        >>> Embedding(10, 4, rng=0)(np.array([[1, 2, 3]])).shape
        (1, 3, 4)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, *,
                 init: Initializer | None = None, rng: Any = None,
                 dtype: Any = np.float32) -> None:
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        shape = (self.num_embeddings, self.embedding_dim)
        if init is None:
            w = _init.gaussian(shape, 1.0, rng=rng, dtype=dtype)
        else:
            w = init(shape, rng=_init.as_generator(rng), dtype=dtype)
            if tuple(np.shape(w)) != shape:
                raise ValueError(f"Embedding: init returned shape {np.shape(w)}; the table "
                                 f"needs {shape}")
        self.weight = Param(w)

    def __call__(self, ids: Any) -> Any:
        ids = raw(ids)
        if getattr(ids, "dtype", np.result_type(ids)).kind not in "iu":
            raise TypeError(f"Embedding: ids must be integers; got dtype {np.result_type(ids)}")
        # The range check reads the ids back: done for host ids only, so that a GPU training
        # step does not wait on the device for it (out-of-range device ids fail in the lookup).
        if array_module(ids) is np and np.size(ids) and (
                ids.min() < 0 or ids.max() >= self.num_embeddings):
            bad = ids.min() if ids.min() < 0 else ids.max()
            raise IndexError(f"Embedding: id {int(bad)} is out of range for a table of "
                             f"{self.num_embeddings} rows")
        return self.weight[ids]

    def __repr__(self) -> str:
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"


class Chain:
    """Layers applied in order (Knet's ``Chain``, PyTorch's ``Sequential``).

    ``chain(x)`` returns the last layer's output; ``chain(x, y)`` the softmax cross-entropy
    loss of that output for labels ``y``, as Knet's ``Chain`` does (``F.cross_entropy``: class
    scores along axis 1, mean over the labels). Any
    callables may be layers (``F.relu``, a lambda); ``chain.layers`` holds them, and
    ``ag.params(chain)`` finds the weights of all of them.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import Chain, Linear, functional as F
        >>> model = Chain(Linear(4, 8, F.relu, rng=0), Linear(8, 3, rng=1))
        >>> model(np.ones((2, 4), np.float32)).shape
        (2, 3)
        >>> float(model(np.ones((2, 4), np.float32), np.array([0, 2]))) > 0
        True
    """

    def __init__(self, *layers: Callable[[Any], Any]) -> None:
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"Chain: layer {i} ({type(layer).__name__}) is not callable")
        self.layers = list(layers)

    def __call__(self, x: Any, y: Any = None) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x if y is None else F.cross_entropy(x, y)

    def __getitem__(self, i: int) -> Any:
        return self.layers[i]

    def __getattr__(self, name: str) -> Any:
        # Reached only for names the class lacks: PyTorch habits get a pointer to our way.
        if name in _TORCH_HABITS:
            raise AttributeError(f"Chain has no {name}(): {_TORCH_HABITS[name]}")
        raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.layers)

    def __repr__(self) -> str:
        inner = ",\n".join(textwrap.indent(repr(layer), "  ") for layer in self.layers)
        return f"Chain(\n{inner}\n)"  # a nested Chain is indented as a whole


_TORCH_HABITS = {
    "parameters": "ag.params(model) lists the Params of a model",
    "zero_grad": "there is nothing to reset: each diff() records a fresh tape, and grad(tape, p) "
                 "reads that tape's gradients",
    "forward": "call the model itself, model(x) (or model(x, y) for its loss)",
    "to": "ag.to_device(model, 'gpu') moves a model (in place)",
    "cuda": "ag.to_device(model, 'gpu') moves a model (in place)",
    "train": "layers such as Dropout and BatchNorm train while diff() records, and evaluate "
             "outside it: there is no mode to set",
    "eval": "layers such as Dropout and BatchNorm train while diff() records, and evaluate "
            "outside it: there is no mode to set",
}

Sequential = Chain
"""``Chain`` under PyTorch's name."""
