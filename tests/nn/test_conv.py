"""Convolution and pooling (``minitorch_ag.nn.conv``, reached as ``F.conv2d`` & co).

Values and gradients equal ``torch.nn.functional``'s over every option (stride, padding as an
int, a pair, 'same' and 'valid', dilation, groups, bias, output_padding, count_include_pad);
gradcheck to first and second order through ``grad(f)`` and ``Param`` + ``diff``; float32 kept;
non-contiguous inputs; clear errors for bad shapes and dtypes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag.nn import functional as F

from .test_functional import check_float32, check_grad, check_param, check_torch

CONV_OPTIONS = [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
    dict(padding="same", dilation=2),
    dict(padding="valid", groups=2),
    dict(stride=2, padding=2, dilation=2, groups=2),
    dict(padding="same", groups=4),  # depthwise
]


def _conv_inputs(seed, groups=1, kernel=(3, 3), n=2, c=4, o=6, h=7, w=6):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c // groups) + kernel),
            rng.standard_normal(o))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # PyTorch's note
@pytest.mark.parametrize("opts", CONV_OPTIONS, ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_equals_torch(opts, bias):
    torch = pytest.importorskip("torch")
    # an even kernel width too: 'same' then pads one column more on the right, as PyTorch
    kernel = (3, 2) if opts.get("stride") == (2, 1) or opts.get("padding") == "same" else (3, 3)
    o = 8 if opts.get("groups") == 4 else 6
    x, w, b = _conv_inputs(len(str(opts)), opts.get("groups", 1), kernel, o=o)
    if bias:
        check_torch(lambda x, w, b: F.conv2d(x, w, b, **opts),
                    lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **opts), x, w, b)
    else:
        check_torch(lambda x, w: F.conv2d(x, w, **opts),
                    lambda x, w: torch.nn.functional.conv2d(x, w, **opts), x, w)


TRANSPOSE_OPTIONS = [
    dict(),
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=(2, 3), padding=(0, 1), output_padding=(1, 2)),
    dict(dilation=2, output_padding=1),  # output_padding < dilation: the extra row is free
    dict(stride=2, groups=2, dilation=(1, 2)),
]


@pytest.mark.parametrize("opts", TRANSPOSE_OPTIONS, ids=str)
def test_conv_transpose2d_equals_torch(opts):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(len(str(opts)))
    g = opts.get("groups", 1)
    x = rng.standard_normal((2, 4, 3, 4))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(3 * g)
    check_torch(lambda x, w, b: F.conv_transpose2d(x, w, b, **opts),
                lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, **opts), x, w, b)


POOL_OPTIONS = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0)),
    dict(kernel_size=3, stride=1),
]


@pytest.mark.parametrize("opts", POOL_OPTIONS, ids=str)
def test_pooling_equals_torch(opts):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = np.random.default_rng(len(str(opts))).standard_normal((2, 3, 7, 6))
    check_torch(lambda v: F.max_pool2d(v, **opts), lambda v: tf.max_pool2d(v, **opts), x)
    check_torch(lambda v: F.avg_pool2d(v, **opts), lambda v: tf.avg_pool2d(v, **opts), x)
    check_torch(lambda v: F.avg_pool2d(v, **opts, count_include_pad=False),
                lambda v: tf.avg_pool2d(v, **opts, count_include_pad=False), x)


def test_max_pool_ties_go_to_the_first_maximum_as_torch():
    torch = pytest.importorskip("torch")
    x = np.maximum(np.random.default_rng(0).standard_normal((2, 2, 6, 6)), 0)  # many zeros
    x[0, 0, :2, :2] = 1.0  # a whole window of ties
    for opts in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)):
        check_torch(lambda v: F.max_pool2d(v, **opts),
                    lambda v: torch.nn.functional.max_pool2d(v, **opts), x)


def test_float32_equals_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x, w, b = (a.astype(np.float32) for a in _conv_inputs(1, 2))
    check_torch(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2),
                lambda x, w, b: tf.conv2d(x, w, b, stride=2, padding=1, groups=2), x, w, b,
                rtol=1e-4, atol=1e-4)
    check_torch(lambda v: F.max_pool2d(v, 3, 2, 1), lambda v: tf.max_pool2d(v, 3, 2, 1), x,
                rtol=1e-6, atol=1e-6)
    check_torch(lambda v: F.avg_pool2d(v, 3, 2, 1), lambda v: tf.avg_pool2d(v, 3, 2, 1), x,
                rtol=1e-5, atol=1e-6)


# -- gradcheck, first and second order, both interfaces ----------------------------------------

SMALL = dict(n=1, c=2, o=2, h=5, w=4)


@pytest.mark.parametrize("opts", [dict(stride=2, padding=1), dict(padding="same", dilation=2),
                                  dict(groups=2, padding=(0, 1))], ids=str)
def test_conv2d_gradcheck(opts):
    x, w, b = _conv_inputs(3, opts.get("groups", 1), (3, 2), **SMALL)
    fn = lambda x, w, b: F.conv2d(x, w, b, **opts)  # noqa: E731
    check_grad(fn, x, w, b)
    check_param(fn, x, w, b)
    check_float32(fn, x, w, b)


def test_conv_transpose2d_gradcheck():
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((1, 2, 3, 2)), rng.standard_normal((2, 2, 2, 3)), \
        rng.standard_normal(2)
    fn = lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1,  # noqa: E731
                                            output_padding=1)
    check_grad(fn, x, w, b)
    check_param(fn, x, w, b)
    check_float32(fn, x, w, b)


@pytest.mark.parametrize("pool", ["max", "avg", "avg_exclude_pad"])
def test_pooling_gradcheck(pool):
    x = np.random.default_rng(5).permutation(60).reshape(1, 2, 6, 5) / 10.0  # no ties
    fn = {"max": lambda v: F.max_pool2d(v, 3, 2, 1),
          "avg": lambda v: F.avg_pool2d(v, (2, 3), 1, (1, 1)),
          "avg_exclude_pad": lambda v: F.avg_pool2d(v, 3, 2, 1, count_include_pad=False)}[pool]
    check_grad(fn, x)
    check_param(fn, x)
    check_float32(fn, x)


def test_third_order_through_a_small_cnn():
    """conv -> tanh -> max pool -> conv: gradient of the Hessian-vector product checks the
    rules of the gradient primitives' own gradients."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 1, 6, 6))
    w1 = rng.standard_normal((2, 1, 3, 3))
    w2 = rng.standard_normal((1, 2, 2, 2))

    def net(w1):
        h = F.max_pool2d(np.tanh(F.conv2d(x, w1, padding=1)), 2)
        return np.sum(F.conv2d(h, w2) ** 2)

    v = rng.standard_normal(w1.shape)
    hvp = lambda w: np.sum(ag.grad(net)(w) * v)  # noqa: E731
    assert ag.gradcheck(lambda w: np.sum(ag.grad(hvp)(w) * v), w1, rtol=1e-4, atol=1e-6)


def test_non_contiguous_inputs_give_the_same_results():
    x, w, b = _conv_inputs(7)
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # a strided view
    wt = np.asfortranarray(w)
    assert not xt.flags.c_contiguous and not wt.flags.c_contiguous
    f = lambda x, w, b: np.sum(np.sin(F.max_pool2d(F.conv2d(x, w, b, padding=1), 2)))  # noqa
    np.testing.assert_allclose(f(xt, wt, b), f(x, w, b))
    for g, e in zip(ag.grad(f, argnum=(0, 1, 2))(xt, wt, b),
                    ag.grad(f, argnum=(0, 1, 2))(x, w, b), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12)


def test_conv_is_one_node_and_its_gradients_are_primitives():
    x, w, b = _conv_inputs(8)
    wp = ag.Param(w)
    tape = ag.diff(lambda: np.sum(F.conv2d(x, wp)))
    assert [n.prim.name for n in tape.nodes if n is not None and n.prim is not None] == [
        "nn.conv2d", "np.sum"]
    outer = ag.diff(lambda: np.sum(ag.grad(lambda v: np.sum(F.conv2d(v, wp) ** 2))(x)))
    names = {n.prim.name for n in outer.nodes if n is not None and n.prim is not None}
    assert {"nn.conv2d_input_grad", "nn.conv2d"} <= names


# -- errors ----------------------------------------------------------------------------------

X = np.ones((2, 4, 8, 8))
W = np.ones((6, 4, 3, 3))


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: F.conv2d(np.ones((4, 8, 8)), W), ValueError,
     r"conv2d: x must be 4-d \(N, C, H, W\); got shape \(4, 8, 8\)"),
    (lambda: F.conv2d(X, np.ones((6, 3, 3, 3))), ValueError, r"conv2d: x has 4 channels.*\(6, 3"),
    (lambda: F.conv2d(X, np.ones((6, 2, 3, 3)), groups=3), ValueError, "groups=3"),
    (lambda: F.conv2d(X, np.ones((6, 4, 9, 3))), ValueError,
     "conv2d: the .*kernel height 9 is larger than the padded input height 8"),
    (lambda: F.conv2d(X.astype(int), W), TypeError, "conv2d: x must be a floating-point"),
    (lambda: F.conv2d(X, W, np.ones(5)), ValueError, r"conv2d: bias b must have shape \(6,\)"),
    (lambda: F.conv2d(X, W, padding="full"), ValueError, "conv2d: padding must be"),
    (lambda: F.conv2d(X, W, stride=2, padding="same"), ValueError, "'same' needs stride 1"),
    (lambda: F.conv2d(X, W, stride=0), ValueError, "conv2d: stride must be >= 1"),
    (lambda: F.conv2d(X, W, dilation=(1, 2, 3)), TypeError, "conv2d: dilation must be"),
    (lambda: F.conv_transpose2d(X, np.ones((3, 2, 3, 3))), ValueError,
     "conv_transpose2d: x has 4 channels"),
    (lambda: F.conv_transpose2d(X, np.ones((4, 6, 3, 3)), stride=2, output_padding=2), ValueError,
     "conv_transpose2d: output_padding"),
    (lambda: F.max_pool2d(X, 2, padding=2), ValueError,
     "max_pool2d: padding 2 must be at most half the kernel"),
    (lambda: F.avg_pool2d(np.ones((1, 8, 8)), 2), ValueError, "avg_pool2d: x must be 4-d"),
    (lambda: F.max_pool2d(X, 9), ValueError, "max_pool2d: the .*kernel height 9"),
])
def test_errors_name_the_function_argument_and_shapes(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_conv_benchmark_runs():
    """benchmarks/conv.py still runs and agrees with PyTorch (a smoke test: no timing)."""
    pytest.importorskip("torch")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "conv.py"), "--threads", "1", "--repeat", "1"],
        capture_output=True, text=True, timeout=300, cwd=root,
        env=dict(os.environ, PYTHONPATH=str(root)))
    assert out.returncode == 0, out.stderr
    assert "minitorch_ag" in out.stdout and "x  (PyTorch = 1)" in out.stdout


def _random_geometry(rng):
    """Random kernel, stride, padding and dilation pairs (each axis on its own)."""
    k = tuple(int(v) for v in rng.integers(1, 5, 2))
    s = tuple(int(v) for v in rng.integers(1, 4, 2))
    p = tuple(int(v) for v in rng.integers(0, 3, 2))
    d = tuple(int(v) for v in rng.integers(1, 3, 2))
    return k, s, p, d


@pytest.mark.parametrize("seed", range(12))
def test_random_configurations_equal_torch(seed):
    """Twelve random combinations of every option, for conv2d, conv_transpose2d and pooling."""
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(100 + seed)
    k, s, p, d = _random_geometry(rng)
    groups = int(rng.choice([1, 2, 3]))
    n, c, o = int(rng.integers(1, 4)), groups * int(rng.integers(1, 3)), groups * 2
    h, w = (int(v) for v in rng.integers(max(k) * 2, 11, 2))
    x = rng.standard_normal((n, c, h, w))
    wc = rng.standard_normal((o, c // groups) + k)
    b = rng.standard_normal(o)
    opts = dict(stride=s, padding=p, dilation=d, groups=groups)
    check_torch(lambda x, w, b: F.conv2d(x, w, b, **opts),
                lambda x, w, b: tf.conv2d(x, w, b, **opts), x, wc, b)
    op = tuple(int(rng.integers(0, max(si, di))) for si, di in zip(s, d, strict=True))
    wt = rng.standard_normal((c, o // groups) + k)
    fits = all((size - 1) * si - 2 * pi + di * (ki - 1) + oi + 1 >= 1
               for size, si, pi, di, ki, oi in zip((h, w), s, p, d, k, op, strict=True))
    topts = dict(stride=s, padding=p if fits else (0, 0), output_padding=op, dilation=d,
                 groups=groups)
    check_torch(lambda x, w, b: F.conv_transpose2d(x, w, b, **topts),
                lambda x, w, b: tf.conv_transpose2d(x, w, b, **topts), x, wt, b)
    pp = tuple(min(pi, ki // 2) for pi, ki in zip(p, k, strict=True))
    popts = dict(kernel_size=k, stride=s, padding=pp)
    check_torch(lambda v: F.max_pool2d(v, **popts), lambda v: tf.max_pool2d(v, **popts), x)
    include = bool(rng.integers(0, 2))
    check_torch(lambda v: F.avg_pool2d(v, **popts, count_include_pad=include),
                lambda v: tf.avg_pool2d(v, **popts, count_include_pad=include), x)
