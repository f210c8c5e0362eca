"""Weight initializers: Xavier/Glorot, Kaiming/He, Knet's gaussian, uniform, zeros, ones.

Each initializer takes the shape of the array to make (an int or a tuple), a random generator
``rng`` (an ``np.random.Generator``, a seed, or ``None`` for fresh entropy) so that models are
reproducible, and a ``dtype`` (float32 by default: the dtype deep-learning code trains in on
CPUs and GPUs alike, as PyTorch's default and Knet's GPU arrays; pass ``np.float64`` for
gradient checks). Random values are always drawn on the host by NumPy's generator, so that
a seed gives the same weights on every device; the result is then moved to the default device
(``ag.set_device``, ``with ag.device(...)``): NumPy arrays on the CPU default, CuPy arrays on a
GPU default. ``ag.to_device`` moves an existing model.

Fans follow PyTorch's layout of weights, ``(out_features, in_features)`` for dense layers and
``(out_channels, in_channels / groups, kh, kw)`` for convolutions: ``fan_in`` is the number of
inputs each output sees, ``fan_out`` the number of outputs each input feeds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..primitive import on_default_device

__all__ = [
    "as_generator", "calculate_gain", "fans",
    "xavier_uniform", "xavier_normal", "glorot_uniform", "glorot_normal",
    "kaiming_uniform", "kaiming_normal", "he_uniform", "he_normal",
    "gaussian", "uniform", "zeros", "ones",
]

Shape = int | tuple[int, ...]


def as_generator(rng: Any = None) -> np.random.Generator:
    """``rng`` as an ``np.random.Generator``: a Generator is used as it is, a seed seeds one.

    Example:
        >>> from minitorch_ag.nn.init import as_generator
        >>> float(as_generator(0).random()) == float(as_generator(0).random())
        True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng must be an np.random.Generator, an integer seed or None; got {type(rng).__name__}"
    )


def _shape(shape: Shape, who: str) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(int(n) for n in shape)
    if any(n < 0 for n in shape):
        raise ValueError(f"{who}: shape {shape} has a negative dimension")
    return shape


def _float_dtype(dtype: Any, who: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"{who}: dtype must be a floating-point type; got {dt}")
    return dt


def fans(shape: Shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape`` (PyTorch's layout, see the module doc).

    Example:
        >>> from minitorch_ag.nn.init import fans
        >>> fans((20, 1, 5, 5))
        (25, 500)
    """
    shape = _shape(shape, "fans")
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    field = math.prod(shape[2:])
    return shape[1] * field, shape[0] * field


_GAINS = {"linear": 1.0, "identity": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0,
          "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0), "selu": 0.75}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (as PyTorch's ``calculate_gain``).

    ``leaky_relu`` takes its negative slope as ``param`` (0.01 by default).

    Example:
        >>> from minitorch_ag.nn.init import calculate_gain
        >>> round(calculate_gain("relu"), 4)
        1.4142
    """
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + slope * slope))
    try:
        return _GAINS[nonlinearity]
    except KeyError:
        raise ValueError(
            f"calculate_gain: unknown nonlinearity {nonlinearity!r}; known: "
            f"{', '.join(sorted([*_GAINS, 'leaky_relu']))}"
        ) from None


def uniform(shape: Shape, low: float = 0.0, high: float = 1.0, *, rng: Any = None,
            dtype: Any = np.float32) -> np.ndarray:
    """Values drawn uniformly from ``[low, high)``.

    Example:
        >>> from minitorch_ag.nn import init
        >>> w = init.uniform((2, 3), -1, 1, rng=0)
        >>> w.shape, w.dtype, bool((abs(w) <= 1).all())
        ((2, 3), dtype('float32'), True)
    """
    shape = _shape(shape, "uniform")
    dt = _float_dtype(dtype, "uniform")
    return on_default_device(as_generator(rng).uniform(low, high, shape).astype(dt))


def gaussian(shape: Shape, std: float = 0.01, mean: float = 0.0, *, rng: Any = None,
             dtype: Any = np.float32) -> np.ndarray:
    """Normal values with mean ``mean`` and standard deviation ``std`` (Knet's default 0.01).

    Example:
        >>> from minitorch_ag.nn import init
        >>> w = init.gaussian((100, 100), rng=0)
        >>> round(float(w.std()), 3)
        0.01
    """
    shape = _shape(shape, "gaussian")
    dt = _float_dtype(dtype, "gaussian")
    return on_default_device((mean + std * as_generator(rng).standard_normal(shape)).astype(dt))


def xavier_uniform(shape: Shape, gain: float = 1.0, *, rng: Any = None,
                   dtype: Any = np.float32) -> np.ndarray:
    """Glorot & Bengio (2010): uniform on ``±gain * sqrt(6 / (fan_in + fan_out))``.

    Example:
        >>> from minitorch_ag.nn import init
        >>> w = init.xavier_uniform((3, 5), rng=0)
        >>> bool((abs(w) <= (6 / 8) ** 0.5).all())
        True
    """
    fan_in, fan_out = fans(_shape(shape, "xavier_uniform"))
    bound = gain * math.sqrt(6.0 / max(fan_in + fan_out, 1))
    return uniform(shape, -bound, bound, rng=rng, dtype=dtype)


def xavier_normal(shape: Shape, gain: float = 1.0, *, rng: Any = None,
                  dtype: Any = np.float32) -> np.ndarray:
    """Glorot & Bengio (2010): normal with std ``gain * sqrt(2 / (fan_in + fan_out))``.

    Example:
        >>> from minitorch_ag.nn import init
        >>> init.xavier_normal((4, 4), rng=0).dtype
        dtype('float32')
    """
    fan_in, fan_out = fans(_shape(shape, "xavier_normal"))
    std = gain * math.sqrt(2.0 / max(fan_in + fan_out, 1))
    return gaussian(shape, std, rng=rng, dtype=dtype)


def _kaiming_scale(shape: Shape, a: float, mode: str, nonlinearity: str, who: str) -> float:
    fan_in, fan_out = fans(_shape(shape, who))
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{who}: mode must be 'fan_in' or 'fan_out'; got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(max(fan, 1))


def kaiming_uniform(shape: Shape, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "relu", *, rng: Any = None,
                    dtype: Any = np.float32) -> np.ndarray:
    """He et al. (2015): uniform on ``±gain * sqrt(3 / fan)`` (``fan`` chosen by ``mode``).

    ``a`` is the negative slope when ``nonlinearity`` is ``"leaky_relu"``.

    Example:
        >>> from minitorch_ag.nn import init
        >>> w = init.kaiming_uniform((10, 6), rng=0)
        >>> bool((abs(w) <= (2 * 3 / 6) ** 0.5).all())
        True
    """
    bound = math.sqrt(3.0) * _kaiming_scale(shape, a, mode, nonlinearity, "kaiming_uniform")
    return uniform(shape, -bound, bound, rng=rng, dtype=dtype)


def kaiming_normal(shape: Shape, a: float = 0.0, mode: str = "fan_in",
                   nonlinearity: str = "relu", *, rng: Any = None,
                   dtype: Any = np.float32) -> np.ndarray:
    """He et al. (2015): normal with std ``gain / sqrt(fan)`` (``fan`` chosen by ``mode``).

    Example:
        >>> from minitorch_ag.nn import init
        >>> init.kaiming_normal((8, 3, 3, 3), rng=0).shape
        (8, 3, 3, 3)
    """
    std = _kaiming_scale(shape, a, mode, nonlinearity, "kaiming_normal")
    return gaussian(shape, std, rng=rng, dtype=dtype)


def zeros(shape: Shape, *, rng: Any = None, dtype: Any = np.float32) -> np.ndarray:
    """Zeros (``rng`` is accepted, and ignored, so that every initializer is called alike).

    Example:
        >>> from minitorch_ag.nn import init
        >>> init.zeros(2)
        array([0., 0.], dtype=float32)
    """
    return on_default_device(np.zeros(_shape(shape, "zeros"), dtype=_float_dtype(dtype, "zeros")))


def ones(shape: Shape, *, rng: Any = None, dtype: Any = np.float32) -> np.ndarray:
    """Ones (``rng`` is accepted, and ignored, so that every initializer is called alike).

    Example:
        >>> from minitorch_ag.nn import init
        >>> init.ones(2)
        array([1., 1.], dtype=float32)
    """
    return on_default_device(np.ones(_shape(shape, "ones"), dtype=_float_dtype(dtype, "ones")))


glorot_uniform = xavier_uniform
glorot_normal = xavier_normal
he_uniform = kaiming_uniform
he_normal = kaiming_normal
