"""Convolution and pooling on NCHW images: conv2d, conv_transpose2d, max_pool2d, avg_pool2d.

How they are computed (no Python loop ever runs over pixels):

- ``conv2d`` is a cross-correlation, as in PyTorch. The padded input, laid out batch-last as
  ``(C, H, W, N)``, is viewed through ``as_strided`` as windows ``(C, KH, KW, OH, OW, N)``; one
  reshape copies them into columns (im2col, long contiguous runs of N values) and ONE matrix
  product per channel group, ``(O, C*KH*KW) @ (C*KH*KW, OH*OW*N)``, covers every pixel of the
  whole batch; the result is transposed back to NCHW.
- Its gradients are primitives of their own. The input gradient is the transposed convolution
  (a matrix product, then col2im: a loop over the KH*KW kernel offsets, each adding a whole
  strided slice), and ``conv_transpose2d`` is that same primitive. The weight gradient is a
  correlation of the input with the output gradient (im2col, a matrix product). The three are
  linear in each argument and each is the adjoint of the others, so their rules call one
  another: second and higher derivatives are exact.
- ``max_pool2d`` compares the KH*KW shifted strided slices (a loop over kernel offsets) and
  returns the first maximal offset of each window too (as PyTorch, ties go to the first). Its
  gradient scatters to those offsets (a primitive), whose own gradient gathers from them (a
  primitive), and back: piecewise linear, so second order holds away from ties.
- ``avg_pool2d`` sums the shifted slices; its gradient spreads each output back over its
  window, and the two are adjoint.

Every array is allocated with the array module of the input (``backend.array_module``) and
the windows are taken with that module's ``as_strided``, so CuPy arrays stay on the device.
Skipped, on purpose: ``ceil_mode``, dilation of pooling windows, 1-d and 3-d variants.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import array_module, fused_kernel
from ..primitive import primitive, raw

__all__ = ["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d"]

Pair = tuple[int, int]
Pads = tuple[int, int, int, int]  # top, bottom, left, right


# ----------------------------------------------------------------------------------------
# Argument checking
# ----------------------------------------------------------------------------------------


def _pair(v: Any, fn: str, name: str, minimum: int = 1) -> Pair:
    """``v`` (an int or a pair of ints) as a pair; anything else is a clear error."""
    pair = (v, v) if isinstance(v, (int, np.integer)) else tuple(v) if isinstance(
        v, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not all(isinstance(k, (int, np.integer)) for k in pair):
        raise TypeError(f"{fn}: {name} must be an int or a pair of ints; got {v!r}")
    if min(pair) < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}; got {v!r}")
    return int(pair[0]), int(pair[1])


def _image(x: Any, fn: str, name: str = "x") -> tuple[int, ...]:
    """The shape of a 4-d float array (N, C, H, W); a clear error for anything else."""
    shape = np.shape(x)
    if len(shape) != 4:
        raise ValueError(f"{fn}: {name} must be 4-d (N, C, H, W); got shape {shape}")
    dtype = raw(x).dtype if hasattr(raw(x), "dtype") else np.result_type(raw(x))
    if dtype.kind != "f":
        raise TypeError(f"{fn}: {name} must be a floating-point array; got dtype {dtype}")
    return shape


def _out_size(size: int, pad: int, k: int, stride: int, dilation: int) -> int:
    return (size + pad - dilation * (k - 1) - 1) // stride + 1


def _check_fits(fn: str, shape: tuple, pads: Pads, k: Pair, dilation: Pair) -> None:
    for axis, size, pad, kk, d in (("height", shape[2], pads[0] + pads[1], k[0], dilation[0]),
                                   ("width", shape[3], pads[2] + pads[3], k[1], dilation[1])):
        span = d * (kk - 1) + 1
        if span > size + pad:
            raise ValueError(
                f"{fn}: the (dilated) kernel {axis} {span} is larger than the padded input "
                f"{axis} {size + pad} (input shape {shape}, padding {pad})"
            )


# ----------------------------------------------------------------------------------------
# Windows: padding, im2col, col2im
# ----------------------------------------------------------------------------------------


def _pad(x: Any, pads: Pads, fill: float = 0.0) -> Any:
    """``x`` with ``pads`` rows/columns of ``fill`` around its last two axes."""
    if not any(pads):
        return x
    t, b, l, r = pads
    n, c, h, w = x.shape
    out = array_module(x).full((n, c, h + t + b, w + l + r), fill, dtype=x.dtype)
    out[:, :, t:t + h, l:l + w] = x
    return out


def _crop(xp: Any, pads: Pads, shape: tuple) -> Any:
    if not any(pads):
        return xp
    return xp[:, :, pads[0]:pads[0] + shape[2], pads[2]:pads[2] + shape[3]]


def _offset(i: int, j: int, out: Pair, stride: Pair, dilation: Pair) -> tuple:
    """The slice of a padded NCHW image that kernel offset ``(i, j)`` sees, for every output."""
    r0, c0 = i * dilation[0], j * dilation[1]
    return (slice(None), slice(None), slice(r0, r0 + stride[0] * (out[0] - 1) + 1, stride[0]),
            slice(c0, c0 + stride[1] * (out[1] - 1) + 1, stride[1]))


# The convolutions work in a batch-last layout, (C, H, W, N): there each kernel offset of the
# whole batch is one block of contiguous runs of N values, so im2col and col2im copy long runs,
# and each product is ONE large matrix product (per group) over all pixels of the batch.


def _batch_last(x: Any, pads: Pads) -> Any:
    """``x`` (N, C, H, W) as a contiguous (C, H + top + bottom, W + left + right, N) array."""
    n, c, h, w = x.shape
    t, b, l, r = pads
    xpm = array_module(x)
    if not any(pads):
        return xpm.ascontiguousarray(x.transpose(1, 2, 3, 0))
    out = xpm.zeros((c, h + t + b, w + l + r, n), dtype=x.dtype)
    out[:, t:t + h, l:l + w, :] = x.transpose(1, 2, 3, 0)
    return out


def _im2col(x: Any, k: Pair, out: Pair, stride: Pair, pads: Pads, dilation: Pair,
            groups: int) -> Any:
    """Columns ``(G, C/G * KH * KW, OH * OW * N)`` of ``x``: row ``(c, i, j)``, column
    ``(p, q, n)`` holds ``x[n, c, p * stride + i * dilation, q * stride + j * dilation]`` of
    the padded input. One copy, through an ``as_strided`` view of the windows (never written
    to: its elements overlap)."""
    xt = _batch_last(x, pads)
    c, _, _, n = xt.shape
    sc, sh, sw, sn = xt.strides
    view = array_module(xt).lib.stride_tricks.as_strided(
        xt, (c, k[0], k[1], out[0], out[1], n),
        (sc, sh * dilation[0], sw * dilation[1], sh * stride[0], sw * stride[1], sn))
    return view.reshape(groups, (c // groups) * k[0] * k[1], out[0] * out[1] * n)


# On a GPU each array operation is a kernel launch, and the loops over kernel offsets below
# would launch dozens per call: there col2im and max pooling are one kernel each, written as
# gathers (each output element sums what reaches it, in the order the loops add it up, so
# both devices round alike). NumPy keeps the loops, which are fast on the CPU.

_COL2IM = """
int xw = i % W; int r = i / W; int yh = r % H; r /= H; int ch = r % C; int nb = r / C;
int yp = yh + PT, xq = xw + PL;
T s = 0;
for (int ki = 0; ki < KH; ki++) {
    int ry = yp - ki * DH;
    if (ry < 0 || ry % SH != 0 || ry / SH >= OH) continue;
    for (int kj = 0; kj < KW; kj++) {
        int rx = xq - kj * DW;
        if (rx < 0 || rx % SW != 0 || rx / SW >= OW) continue;
        s += cols[((((long long)(ch * KH + ki) * KW + kj) * OH + ry / SH) * OW + rx / SW) * N
                  + nb];
    }
}
img = s;
"""
_GEOMETRY = ("int32 N, int32 C, int32 H, int32 W, int32 KH, int32 KW, int32 OH, int32 OW, "
             "int32 SH, int32 SW, int32 PT, int32 PL")


def _col2im_kernel(cols: Any, shape: tuple, k: Pair, out: Pair, stride: Pair, pads: Pads,
                   dilation: Pair) -> Any:
    """``_col2im`` as one kernel where the arrays' module has them (a GPU); else None."""
    xp = array_module(cols)
    kernel = fused_kernel(xp, "minitorch_ag_col2im", f"raw T cols, {_GEOMETRY}, int32 DH, "
                          "int32 DW", "T img", _COL2IM)
    if kernel is None:
        return None
    n, c, h, w = shape
    img = xp.empty((n, c, h, w), dtype=cols.dtype)
    kernel(xp.ascontiguousarray(cols), n, c, h, w, k[0], k[1], out[0], out[1], stride[0],
           stride[1], pads[0], pads[2], dilation[0], dilation[1], img)
    return img


def _col2im(cols: Any, shape: tuple, k: Pair, out: Pair, stride: Pair, pads: Pads,
            dilation: Pair) -> Any:
    """The adjoint of im2col: ``cols`` ``(G, C/G * KH * KW, OH * OW * N)`` added into an
    image of ``shape`` (N, C, H, W); one vectorised addition per kernel offset."""
    img = _col2im_kernel(cols, shape, k, out, stride, pads, dilation)
    if img is not None:
        return img
    n, c, h, w = shape
    t, b, l, r = pads
    cols = cols.reshape(c, k[0], k[1], out[0], out[1], n)
    acc = array_module(cols).zeros((c, h + t + b, w + l + r, n), dtype=cols.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            acc[_offset(i, j, out, stride, dilation)[1:] + (slice(None),)] += cols[:, i, j]
    return array_module(acc).ascontiguousarray(
        acc[:, t:t + h, l:l + w, :].transpose(3, 0, 1, 2))


def _rows(dy: Any, groups: int) -> Any:
    """``dy`` (N, O, OH, OW) as ``(G, O/G, OH * OW * N)`` (the layout of ``_im2col``)."""
    n, o, oh, ow = dy.shape
    return dy.transpose(1, 2, 3, 0).reshape(groups, o // groups, oh * ow * n)


def _unrows(y: Any, n: int, out: Pair) -> Any:
    """``(G, O/G, OH * OW * N)`` back to a contiguous (N, O, OH, OW) array."""
    y = y.reshape(-1, out[0], out[1], n).transpose(3, 0, 1, 2)
    return array_module(y).ascontiguousarray(y)


# ----------------------------------------------------------------------------------------
# Convolution: three primitives, each the adjoint of the others
# ----------------------------------------------------------------------------------------


def _conv(x, w, stride, pads, dilation, groups):
    """Cross-correlation of ``x`` (N, C, H, W) with ``w`` (O, C/G, KH, KW): (N, O, OH, OW)."""
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    out = (_out_size(h, pads[0] + pads[1], kh, stride[0], dilation[0]),
           _out_size(wd, pads[2] + pads[3], kw, stride[1], dilation[1]))
    cols = _im2col(x, (kh, kw), out, stride, pads, dilation, groups)
    y = np.matmul(w.reshape(groups, o // groups, cg * kh * kw), cols)  # (G, O/G, P * N)
    return _unrows(y, n, out)


def _conv_input(dy, w, x_shape, stride, pads, dilation, groups):
    """The gradient of ``_conv`` with respect to its input: the transposed convolution of
    ``dy`` (N, O, OH, OW) with ``w``, an image of ``x_shape``."""
    _, o, oh, ow = dy.shape
    _, cg, kh, kw = w.shape
    wt = np.swapaxes(w.reshape(groups, o // groups, cg * kh * kw), 1, 2)  # (G, C/G*KK, O/G)
    cols = np.matmul(wt, _rows(dy, groups))  # (G, C/G * KK, P * N)
    return _col2im(cols, tuple(x_shape), (kh, kw), (oh, ow), stride, pads, dilation)


def _conv_weight(x, dy, w_shape, stride, pads, dilation, groups):
    """The gradient of ``_conv`` with respect to its weights: the correlation of ``x`` with
    ``dy``, an array of ``w_shape``."""
    _, _, oh, ow = dy.shape
    _, _, kh, kw = w_shape
    cols = _im2col(x, (kh, kw), (oh, ow), stride, pads, dilation, groups)
    dw = np.matmul(_rows(dy, groups), np.swapaxes(cols, 1, 2))  # (G, O/G, C/G * KK)
    return dw.reshape(w_shape)


def _fit(y, shape):
    """``y`` cropped to ``shape`` (a transposed convolution with output padding makes an
    image one convolution maps to a slightly larger output)."""
    if np.shape(y) == tuple(shape):
        return y
    return y[:, :, :shape[2], :shape[3]]


_conv = primitive(
    _conv,
    lambda g, y, x, w, *a: _conv_input(g, w, np.shape(x), *a),
    lambda g, y, x, w, *a: _conv_weight(x, g, np.shape(w), *a),
    name="nn.conv2d")
_conv_input = primitive(
    _conv_input,
    lambda g, y, dy, w, xs, *a: _fit(_conv(g, w, *a), np.shape(dy)),
    lambda g, y, dy, w, xs, *a: _conv_weight(g, dy, np.shape(w), *a),
    name="nn.conv2d_input_grad")
_conv_weight = primitive(
    _conv_weight,
    lambda g, y, x, dy, ws, *a: _conv_input(dy, g, np.shape(x), *a),
    lambda g, y, x, dy, ws, *a: _fit(_conv(x, g, *a), np.shape(dy)),
    name="nn.conv2d_weight_grad")


def _conv_padding(padding: Any, k: Pair, dilation: Pair, stride: Pair, fn: str) -> Pads:
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{fn}: padding='same' needs stride 1; got stride {stride}")
            th, tw = dilation[0] * (k[0] - 1), dilation[1] * (k[1] - 1)
            return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        raise ValueError(f"{fn}: padding must be an int, a pair, 'same' or 'valid'; "
                         f"got {padding!r}")
    ph, pw = _pair(padding, fn, "padding", minimum=0)
    return (ph, ph, pw, pw)


def _check_bias(b: Any, channels: int, fn: str) -> None:
    if b is not None and np.shape(b) != (channels,):
        raise ValueError(f"{fn}: bias b must have shape ({channels},) (one per output "
                         f"channel); got shape {np.shape(b)}")


def _add_bias(y: Any, b: Any) -> Any:
    return y if b is None else y + np.reshape(b, (-1, 1, 1))


def _check_groups(groups: Any, fn: str) -> None:
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{fn}: groups must be a positive int; got {groups!r}")


def conv2d(x: Any, w: Any, b: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Any:
    """2-d cross-correlation of NCHW images, as ``torch.nn.functional.conv2d``.

    Args:
        x: input images, shape ``(N, C, H, W)``.
        w: filters, shape ``(O, C / groups, KH, KW)``.
        b: optional bias, shape ``(O,)``.
        stride: an int or an (height, width) pair.
        padding: an int, a pair, ``"valid"`` (none) or ``"same"`` (output as large as the
            input; stride 1 only; the odd extra row or column goes to the bottom/right).
        dilation: spacing between kernel elements (an int or a pair).
        groups: input and output channels are split into this many independent groups.

    Returns:
        The output, shape ``(N, O, OH, OW)`` with ``OH = (H + 2 * ph - dh * (KH - 1) - 1) //
        sh + 1`` (likewise ``OW``).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> F.conv2d(np.ones((1, 1, 4, 4)), np.ones((2, 1, 3, 3)), padding=1).shape
        (1, 2, 4, 4)
    """
    fn = "conv2d"
    xs = _image(x, fn, "x")
    ws = _image(w, fn, "w")
    _check_groups(groups, fn)
    if xs[1] != ws[1] * groups or ws[0] % groups:
        raise ValueError(
            f"{fn}: x has {xs[1]} channels and w has shape {ws} with groups={groups}; need "
            f"C == w.shape[1] * groups and w.shape[0] divisible by groups (x shape {xs})"
        )
    k = (ws[2], ws[3])
    stride_ = _pair(stride, fn, "stride")
    dilation_ = _pair(dilation, fn, "dilation")
    pads = _conv_padding(padding, k, dilation_, stride_, fn)
    _check_fits(fn, xs, pads, k, dilation_)
    _check_bias(b, ws[0], fn)
    return _add_bias(_conv(x, w, stride_, pads, dilation_, int(groups)), b)


def conv_transpose2d(x: Any, w: Any, b: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Any:
    """2-d transposed convolution of NCHW images, as ``torch.nn.functional.conv_transpose2d``
    (the gradient of ``conv2d`` with respect to its input).

    Args:
        x: input images, shape ``(N, C, H, W)``.
        w: filters, shape ``(C, O / groups, KH, KW)`` (PyTorch's layout).
        b: optional bias, shape ``(O,)``.
        stride, padding, dilation: those of the ``conv2d`` this transposes (ints or pairs).
        output_padding: rows/columns added at the bottom/right of the output (an int or a
            pair, each smaller than the stride or the dilation), to pick among the output
            sizes a strided ``conv2d`` maps to the same input size.
        groups: channel groups, as in ``conv2d``.

    Returns:
        The output, shape ``(N, O, OH, OW)`` with ``OH = (H - 1) * sh - 2 * ph + dh * (KH - 1)
        + oph + 1``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> F.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 1, 2, 2)), stride=2).shape
        (1, 1, 6, 6)
    """
    fn = "conv_transpose2d"
    xs = _image(x, fn, "x")
    ws = _image(w, fn, "w")
    _check_groups(groups, fn)
    if xs[1] != ws[0] or ws[0] % groups:
        raise ValueError(
            f"{fn}: x has {xs[1]} channels but w has shape {ws} (layout (C, O / groups, KH, "
            f"KW), C divisible by groups={groups}); x shape {xs}"
        )
    stride_ = _pair(stride, fn, "stride")
    dilation_ = _pair(dilation, fn, "dilation")
    ph, pw = _pair(padding, fn, "padding", minimum=0)
    oph, opw = _pair(output_padding, fn, "output_padding", minimum=0)
    if oph >= max(stride_[0], dilation_[0]) or opw >= max(stride_[1], dilation_[1]):
        raise ValueError(f"{fn}: output_padding {output_padding!r} must be smaller than the "
                         f"stride {stride_} or the dilation {dilation_}")
    out_c = ws[1] * groups
    oh = (xs[2] - 1) * stride_[0] - 2 * ph + dilation_[0] * (ws[2] - 1) + oph + 1
    ow = (xs[3] - 1) * stride_[1] - 2 * pw + dilation_[1] * (ws[3] - 1) + opw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"{fn}: the output would be empty ({oh} x {ow}) for input shape {xs}, "
                         f"w shape {ws} and padding {padding!r}")
    _check_bias(b, out_c, fn)
    y = _conv_input(x, w, (xs[0], out_c, oh, ow), stride_, (ph, ph, pw, pw), dilation_,
                    int(groups))
    return _add_bias(y, b)


# ----------------------------------------------------------------------------------------
# Pooling
# ----------------------------------------------------------------------------------------


def _pool_geometry(x, kernel, stride, padding, fn):
    xs = _image(x, fn, "x")
    k = _pair(kernel, fn, "kernel_size")
    s = k if stride is None else _pair(stride, fn, "stride")
    ph, pw = _pair(padding, fn, "padding", minimum=0)
    if 2 * ph > k[0] or 2 * pw > k[1]:
        raise ValueError(f"{fn}: padding {padding!r} must be at most half the kernel size {k}")
    pads = (ph, ph, pw, pw)
    _check_fits(fn, xs, pads, k, (1, 1))
    out = (_out_size(xs[2], 2 * ph, k[0], s[0], 1), _out_size(xs[3], 2 * pw, k[1], s[1], 1))
    return k, s, pads, out


def _offsets(k: Pair):
    return [(i, j) for i in range(k[0]) for j in range(k[1])]


_MAX_POOL = """
int q = i % OW; int r = i / OW; int p = r % OH; r /= OH; int ch = r % C; int nb = r / C;
long long base = ((long long)nb * C + ch) * H * W;
T b = NEGINF; int m = 0;
for (int ki = 0; ki < KH; ki++) {
    for (int kj = 0; kj < KW; kj++) {
        int y = p * SH + ki - PT, x = q * SW + kj - PL;
        T v = (y >= 0 && y < H && x >= 0 && x < W) ? img[base + y * W + x] : NEGINF;
        int o = ki * KW + kj;
        if (o == 0) { b = v; } else if (v > b) { b = v; m = o; } else if (v != v) { b = v; }
    }
}
best = b; where = m;
"""
_MAX_SCATTER = """
int xw = i % W; int r = i / W; int yh = r % H; r /= H; int ch = r % C; int nb = r / C;
long long base = ((long long)nb * C + ch) * OH * OW;
int yp = yh + PT, xq = xw + PL;
T s = 0;
for (int ki = 0; ki < KH; ki++) {
    int ry = yp - ki;
    if (ry < 0 || ry % SH != 0 || ry / SH >= OH) continue;
    for (int kj = 0; kj < KW; kj++) {
        int rx = xq - kj;
        if (rx < 0 || rx % SW != 0 || rx / SW >= OW) continue;
        long long o = base + (ry / SH) * OW + rx / SW;
        if (where[o] == ki * KW + kj) s += dy[o];
    }
}
img = s;
"""


def _max_pool_kernel(x, k, stride, pads, out):
    """``_max_pool`` as one kernel where the arrays' module has them (a GPU); else None."""
    xpm = array_module(x)
    kernel = fused_kernel(xpm, "minitorch_ag_max_pool", f"raw T img, {_GEOMETRY}, T NEGINF",
                          "T best, M where", _MAX_POOL)
    if kernel is None:
        return None
    n, c, h, w = x.shape
    best = xpm.empty((n, c) + tuple(out), dtype=x.dtype)
    where = xpm.empty(best.shape, dtype=np.uint8 if k[0] * k[1] < 256 else np.int32)
    kernel(xpm.ascontiguousarray(x), n, c, h, w, k[0], k[1], out[0], out[1], stride[0],
           stride[1], pads[0], pads[2], -np.inf, best, where)
    return best, where


def _max_pool(x, k, stride, pads, out):
    """The window maxima of ``x`` and, for each, the (first) offset ``i * KW + j`` of it."""
    fused = _max_pool_kernel(x, k, stride, pads, out)
    if fused is not None:
        return fused
    xp = _pad(x, pads, -np.inf)
    xpm = array_module(x)
    best = xp[_offset(0, 0, out, stride, (1, 1))].copy()
    where = xpm.zeros(best.shape, dtype=np.uint8 if k[0] * k[1] < 256 else np.int32)
    for m, (i, j) in enumerate(_offsets(k)[1:], start=1):
        v = xp[_offset(i, j, out, stride, (1, 1))]
        bigger = v > best
        xpm.maximum(best, v, out=best)
        where += bigger * (m - where)  # where = m where bigger; branch-free, so fast
    return best, where


def _max_scatter(dy, where, x_shape, k, stride, pads, out):
    """``dy`` placed at the offsets ``where`` of each window, in an image of ``x_shape``."""
    n, c, h, w = x_shape
    xpm = array_module(dy)
    kernel = fused_kernel(xpm, "minitorch_ag_max_scatter",
                          f"raw T dy, raw M where, {_GEOMETRY}", "T img", _MAX_SCATTER)
    if kernel is not None:
        img = xpm.empty((n, c, h, w), dtype=dy.dtype)
        kernel(xpm.ascontiguousarray(dy), xpm.ascontiguousarray(where), n, c, h, w, k[0],
               k[1], out[0], out[1], stride[0], stride[1], pads[0], pads[2], img)
        return img
    xp = array_module(dy).zeros((n, c, h + pads[0] + pads[1], w + pads[2] + pads[3]),
                                dtype=dy.dtype)
    for m, (i, j) in enumerate(_offsets(k)):
        xp[_offset(i, j, out, stride, (1, 1))] += dy * (where == m)
    return _crop(xp, pads, x_shape)


def _max_gather(g, where, k, stride, pads, out):
    """For each window, ``g`` at the offset ``where`` (the adjoint of ``_max_scatter``)."""
    gp = _pad(g, pads)
    y = array_module(g).zeros(where.shape, dtype=g.dtype)
    for m, (i, j) in enumerate(_offsets(k)):
        y += gp[_offset(i, j, out, stride, (1, 1))] * (where == m)
    return y


_max_pool = primitive(
    _max_pool,
    lambda dy, y, x, *a: _max_scatter(dy[0], raw(y[1]), np.shape(x), *a),
    name="nn.max_pool2d")
_max_scatter = primitive(
    _max_scatter,
    lambda g, y, dy, where, xs, *a: _max_gather(g, where, *a),
    name="nn.max_pool2d_scatter")
_max_gather = primitive(
    _max_gather,
    lambda g2, y, g, where, *a: _max_scatter(g2, where, np.shape(g), *a),
    name="nn.max_pool2d_gather")


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
    """Maximum over each window of NCHW images, as ``torch.nn.functional.max_pool2d``.

    Padding counts as minus infinity. The gradient goes to the first maximal element of
    each window (as PyTorch), and is itself differentiable (second order).

    Args:
        x: input images, shape ``(N, C, H, W)``.
        kernel_size: the window (an int or a pair).
        stride: the step between windows (default: the window, so windows do not overlap).
        padding: implicit border on each side, at most half the window.

    Returns:
        Shape ``(N, C, OH, OW)``, ``OH = (H + 2 * ph - KH) // sh + 1``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> F.max_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)[0, 0]
        array([[ 5.,  7.],
               [13., 15.]])
    """
    k, s, pads, out = _pool_geometry(x, kernel_size, stride, padding, "max_pool2d")
    return _max_pool(x, k, s, pads, out)[0]


def _divisor(shape, k, stride, pads, out, include_pad, xpm):
    """How many elements each window averages: KH*KW, or only those inside the image."""
    if include_pad or not any(pads):
        return k[0] * k[1]
    ones = _pad(xpm.ones((1, 1, shape[2], shape[3])), pads)
    count = xpm.zeros((1, 1) + out)
    for i, j in _offsets(k):
        count += ones[_offset(i, j, out, stride, (1, 1))]
    return count


def _avg_pool(x, k, stride, pads, out, include_pad):
    """The mean of each window of ``x``."""
    xp = _pad(x, pads)
    y = array_module(x).zeros(x.shape[:2] + tuple(out), dtype=x.dtype)
    for i, j in _offsets(k):
        y += xp[_offset(i, j, out, stride, (1, 1))]
    d = _divisor(x.shape, k, stride, pads, out, include_pad, array_module(x))
    y /= d if isinstance(d, int) else d.astype(x.dtype)
    return y


def _avg_spread(dy, x_shape, k, stride, pads, out, include_pad):
    """Each output gradient spread evenly over its window (the adjoint of ``_avg_pool``)."""
    xpm = array_module(dy)
    d = _divisor(x_shape, k, stride, pads, out, include_pad, xpm)
    g = dy / (d if isinstance(d, int) else d.astype(dy.dtype))
    n, c, h, w = x_shape
    xp = xpm.zeros((n, c, h + pads[0] + pads[1], w + pads[2] + pads[3]), dtype=dy.dtype)
    for i, j in _offsets(k):
        xp[_offset(i, j, out, stride, (1, 1))] += g
    return _crop(xp, pads, x_shape)


_avg_pool = primitive(
    _avg_pool,
    lambda dy, y, x, *a: _avg_spread(dy, np.shape(x), *a),
    name="nn.avg_pool2d")
_avg_spread = primitive(
    _avg_spread,
    lambda g, y, dy, xs, *a: _avg_pool(g, *a),
    name="nn.avg_pool2d_spread")


def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               count_include_pad: bool = True) -> Any:
    """Mean over each window of NCHW images, as ``torch.nn.functional.avg_pool2d``.

    Args:
        x: input images, shape ``(N, C, H, W)``.
        kernel_size: the window (an int or a pair).
        stride: the step between windows (default: the window).
        padding: implicit zero border on each side, at most half the window.
        count_include_pad: divide by the whole window (PyTorch's default), or only by the
            number of its elements inside the image.

    Returns:
        Shape ``(N, C, OH, OW)``, ``OH = (H + 2 * ph - KH) // sh + 1``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import functional as F
        >>> F.avg_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)[0, 0]
        array([[ 2.5,  4.5],
               [10.5, 12.5]])
    """
    k, s, pads, out = _pool_geometry(x, kernel_size, stride, padding, "avg_pool2d")
    return _avg_pool(x, k, s, pads, out, bool(count_include_pad))
