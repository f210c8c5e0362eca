"""Knet's vocabulary: ``param``, ``param0``, ``mat``, ``conv4``, ``pool``, ``unpool``, ``deconv4``.

For code ported from Knet, the names and argument orders it uses, on top of the PyTorch-style
functions in ``conv.py`` (``conv2d``, ``conv_transpose2d``, ``max_pool2d``, ``avg_pool2d``),
which stay the library's own.

**Layout.** Knet's arrays are column-major with the batch last: images are WHCN (width, height,
channels, instances) and convolution weights ``(KW, KH, C_in, C_out)``. Here, as everywhere in
this library, arrays are row-major with the batch first: images are **NCHW** and convolution
weights ``(C_out, C_in, KH, KW)``; a pair such as ``padding=(1, 2)`` is ``(height, width)``.
The argument *order* is Knet's: ``conv4(w, x)``, weights first.

**Modes.** Knet's ``conv4`` computes a true convolution by default (``mode=0``: the kernel is
flipped, as in mathematics and in ``scipy.signal.convolve2d``) and a cross-correlation with
``mode=1`` (what PyTorch's ``conv2d`` and this library's ``nn.conv2d`` compute). ``pool``'s
``mode`` is 0 for max, 1 for the average over the window including padding, 2 for the average
over the window's elements inside the image.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..primitive import Param, raw
from . import init
from .conv import avg_pool2d, conv2d, conv_transpose2d, max_pool2d

__all__ = ["param", "param0", "mat", "conv4", "pool", "unpool", "deconv4"]


# ----------------------------------------------------------------------------------------
# Parameters and shapes
# ----------------------------------------------------------------------------------------


def param(*dims: Any, init: Any = init.xavier_uniform, dtype: Any = np.float32,
          rng: Any = None) -> Param:
    """A new ``Param`` of shape ``dims``, filled by ``init`` (Knet's ``param(dims...)``).

    ``param(3, 5)`` is a float32 Param of shape ``(3, 5)`` initialised with Xavier/Glorot
    uniform values, on the default device (``ag.set_device``); ``param(array)`` wraps an
    existing array, as Knet's ``param(x)``. Shapes follow this library's layout: ``(out, in)``
    for a dense weight, ``(C_out, C_in, KH, KW)`` for a convolution (see the module's note).

    Args:
        *dims: the shape, as integers (or one tuple), or a single array to wrap.
        init: ``init(shape, rng=..., dtype=...)`` giving the values (any of ``nn.init``).
        dtype: the float dtype (float32, as Knet's default ``atype``).
        rng: a seed or ``np.random.Generator`` for ``init``.

    Example:
        >>> from minitorch_ag import nn
        >>> w = nn.param(10, 784, rng=0)
        >>> w.shape, w.dtype, nn.param0(10).value.tolist() == [0.0] * 10
        ((10, 784), dtype('float32'), True)
    """
    if len(dims) == 1 and hasattr(dims[0], "shape") and not isinstance(dims[0], tuple):
        return Param(dims[0])
    shape = _dims("param", dims)
    return Param(init(shape, rng=rng, dtype=dtype))


def param0(*dims: Any, dtype: Any = np.float32) -> Param:
    """A new ``Param`` of zeros of shape ``dims`` (Knet's ``param0``, for biases).

    Example:
        >>> from minitorch_ag import nn
        >>> nn.param0(2, 3).value.sum(), nn.param0((4,)).shape
        (np.float32(0.0), (4,))
    """
    return Param(init.zeros(_dims("param0", dims), dtype=dtype))


def _dims(fn: str, dims: tuple) -> tuple[int, ...]:
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if not dims or not all(isinstance(d, (int, np.integer)) and d >= 0 for d in dims):
        raise TypeError(f"{fn}(dims...): give the shape as non-negative integers, e.g. "
                        f"{fn}(10, 784); got {dims!r}")
    return tuple(int(d) for d in dims)


def mat(x: Any, dims: int | None = None) -> Any:
    """``x`` as a matrix, its last ``dims`` axes joined into columns (Knet's ``mat``).

    Knet's ``mat(x; dims=ndims(x)-1)`` joins the first ``dims`` axes of a column-major,
    batch-last array into rows. Here arrays are batch first, so ``mat`` joins the *last*
    ``dims`` axes (all but the batch axis by default): NCHW images of shape ``(N, C, H, W)``
    become ``(N, C*H*W)``, ready for a dense layer. A vector of length ``n`` becomes ``(n, 1)``.
    Recorded as a reshape, so gradients flow through it.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import nn
        >>> nn.mat(np.zeros((8, 3, 4, 5))).shape, nn.mat(np.zeros((8, 3, 4, 5)), dims=2).shape
        ((8, 60), (24, 20))
    """
    shape = np.shape(raw(x))
    nd = len(shape)
    k = nd - 1 if dims is None else int(dims)
    if not 0 <= k <= nd:
        raise ValueError(f"mat(x, dims={dims}): dims must be between 0 and x.ndim = {nd}")
    return np.reshape(x, (math.prod(shape[:nd - k]), math.prod(shape[nd - k:])))


# ----------------------------------------------------------------------------------------
# Convolution and pooling, Knet's signatures
# ----------------------------------------------------------------------------------------


def _flip(w: Any) -> Any:
    """The kernel turned by 180 degrees: a true convolution is a cross-correlation with it."""
    return w[:, :, ::-1, ::-1]


def _mode(fn: str, mode: int, allowed: tuple[int, ...]) -> int:
    if mode not in allowed:
        raise ValueError(f"{fn}: mode must be one of {allowed}; got {mode!r}")
    return mode


def _scaled(y: Any, alpha: float) -> Any:
    return y if alpha == 1 else y * alpha


def conv4(w: Any, x: Any, *, padding: Any = 0, stride: Any = 1, dilation: Any = 1,
          mode: int = 0, alpha: float = 1, group: int = 1) -> Any:
    """Knet's ``conv4(w, x)``: 2-d convolution of NCHW images ``x`` with weights ``w``.

    ``mode=0`` (Knet's default) is a true convolution, the kernel flipped; ``mode=1`` is a
    cross-correlation, as ``nn.conv2d``. No bias: add one as Knet does (``conv4(w, x) .+ b``
    with ``b`` of shape ``(1, C_out, 1, 1)``). Layout NCHW (Knet's is WHCN): ``w`` is
    ``(C_out, C_in / group, KH, KW)``, ``x`` is ``(N, C_in, H, W)``; pairs are
    ``(height, width)``.

    Args:
        w: the kernels.
        x: the images.
        padding, stride, dilation: an int or an ``(h, w)`` pair each.
        mode: 0 convolution, 1 cross-correlation.
        alpha: a factor applied to the result.
        group: the number of channel groups.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import nn
        >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
        >>> w = np.array([[[[1.0, 0.0], [0.0, 0.0]]]])
        >>> nn.conv4(w, x)[0, 0].tolist(), nn.conv4(w, x, mode=1)[0, 0].tolist()
        ([[4.0, 5.0], [7.0, 8.0]], [[0.0, 1.0], [3.0, 4.0]])
    """
    kernel = _flip(w) if _mode("conv4", mode, (0, 1)) == 0 else w
    y = conv2d(x, kernel, None, stride=stride, padding=padding, dilation=dilation, groups=group)
    return _scaled(y, alpha)


def deconv4(w: Any, x: Any, *, padding: Any = 0, stride: Any = 1, dilation: Any = 1,
            mode: int = 0, alpha: float = 1, group: int = 1) -> Any:
    """Knet's ``deconv4(w, x)``: the transpose of ``conv4(w, .)``, which grows images.

    With the same ``w``, ``padding``, ``stride``, ``dilation`` and ``mode``, ``deconv4`` is
    the gradient of ``conv4`` with respect to its input (``nn.conv_transpose2d`` for
    ``mode=1``). Layout NCHW (Knet's is WHCN): ``w`` is ``(C_in, C_out / group, KH, KW)``
    (the channels of ``x`` first), ``x`` is ``(N, C_in, H, W)``, and the output is
    ``(N, C_out, (H - 1) * stride - 2 * padding + dilation * (KH - 1) + 1, ...)``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import nn
        >>> nn.deconv4(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), stride=2).shape
        (1, 1, 4, 4)
    """
    kernel = _flip(w) if _mode("deconv4", mode, (0, 1)) == 0 else w
    y = conv_transpose2d(x, kernel, None, stride=stride, padding=padding, dilation=dilation,
                         groups=group)
    return _scaled(y, alpha)


def pool(x: Any, *, window: Any = 2, padding: Any = 0, stride: Any = None, mode: int = 0,
         alpha: float = 1) -> Any:
    """Knet's ``pool(x)``: max or average over windows of NCHW images.

    Defaults as Knet: a 2x2 window, no padding, the stride equal to the window, max pooling.
    ``mode=1`` averages over the whole window, padding included; ``mode=2`` over the elements
    inside the image only. Layout NCHW (Knet's is WHCN); pairs are ``(height, width)``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import nn
        >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
        >>> nn.pool(x)[0, 0].tolist(), nn.pool(x, mode=1)[0, 0].tolist()
        ([[5.0, 7.0], [13.0, 15.0]], [[2.5, 4.5], [10.5, 12.5]])
    """
    mode = _mode("pool", mode, (0, 1, 2))
    if mode == 0:
        y = max_pool2d(x, window, stride, padding)
    else:
        y = avg_pool2d(x, window, stride, padding, count_include_pad=mode == 1)
    return _scaled(y, alpha)


def unpool(x: Any, *, window: Any = 2, padding: Any = 0, stride: Any = None,
           alpha: float = 1) -> Any:
    """Knet's ``unpool(x)``: each value spread over its window, so that ``pool(unpool(x)) == x``.

    The gradient of average pooling (``pool(., mode=1)``) with respect to its input, times the
    window's size: with the default non-overlapping 2x2 windows, each element becomes a 2x2
    block. Layout NCHW (Knet's is WHCN); pairs are ``(height, width)``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import nn
        >>> nn.unpool(np.array([[[[1.0, 2.0]]]]))[0, 0].tolist()
        [[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]]
    """
    shape = np.shape(raw(x))
    if len(shape) != 4:
        raise ValueError(f"unpool: x must be NCHW images (4 axes); got shape {shape}")
    k = (window, window) if isinstance(window, (int, np.integer)) else tuple(window)
    ones = np.ones((shape[1], 1, *k), dtype=raw(x).dtype)
    y = conv_transpose2d(x, ones, None, stride=k if stride is None else stride,
                         padding=padding, groups=shape[1])
    return _scaled(y, alpha)
