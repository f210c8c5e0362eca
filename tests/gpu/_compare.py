"""Device-against-host comparisons shared by the GPU tests and their CPU stand-in.

Each check runs the same computation twice, on host arrays and on copies moved with
``ag.to_device(..., device)``, then asserts that every result lives on the device (CuPy, with
the input's dtype) and agrees with the host's to the dtype's tolerance. ``device`` is
``"gpu"`` in ``tests/gpu/test_gpu.py`` (real CuPy) and in ``test_simulated.py`` (the CPU
stand-in of ``fake_cupy``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from rules._cases import Case, entry_specs, scalarize, weights
from rules._tables import TABLES

import minitorch_ag as ag
from minitorch_ag import backend
from minitorch_ag.nn import LSTM, BatchNorm, Chain, Conv2d, Linear, MaxPool2d
from minitorch_ag.nn import functional as F
from minitorch_ag.optim import Adam, update_


def tolerance(dtype: Any) -> dict[str, float]:
    """Agreement expected between two devices: a few ulps of reordered sums, per dtype."""
    return ({"rtol": 2e-4, "atol": 2e-5} if np.dtype(dtype) == np.float32
            else {"rtol": 1e-9, "atol": 1e-11})


def on_device(x: Any) -> bool:
    return backend.is_array(x) and backend.array_module(x) is not np


def assert_same(dev: Any, host: Any, what: str, **tol: float) -> None:
    """``dev`` is a device array of ``host``'s shape and dtype and agrees with it."""
    if host is None:
        assert dev is None, f"{what}: the device gave a gradient where the host gave None"
        return
    assert on_device(dev), f"{what}: the result is {type(dev).__name__}, not a device array"
    assert dev.shape == np.shape(host), f"{what}: shape {dev.shape} vs {np.shape(host)}"
    assert dev.dtype == np.result_type(host), f"{what}: dtype {dev.dtype} vs {host.dtype}"
    np.testing.assert_allclose(ag.to_device(dev, "cpu"), host, err_msg=what,
                               **(tol or tolerance(dev.dtype)))


def sample(table: Sequence[Case], every: int = 1) -> list[Case]:
    """Every ``every``-th case of a table (all of them with 1)."""
    return list(table)[::every]


def compare_case(c: Case, dtype: Any, device: str) -> None:
    """Gradients of case ``c`` (its entry-point grid entry) on ``device`` against the host's."""
    specs = entry_specs(c)[0]
    args = c.inputs(specs, dtype)
    w = weights(c.fn, args, np.random.default_rng(0))
    argnum = tuple(range(len(args)))
    host = ag.grad(scalarize(c.fn, w), argnum=argnum)(*args)
    dw = w if isinstance(w, float) else ag.to_device(w, device)
    dev_args = [ag.to_device(a, device) for a in args]
    dev = ag.grad(scalarize(c.fn, dw), argnum=argnum)(*dev_args)
    for i, (g, h) in enumerate(zip(dev, host, strict=True)):
        assert_same(g, h, f"{c.name} argument {i}", **{k: v for k, v in c.tol.items()
                                                       if k in ("rtol", "atol")})


# Cases whose function passes host (NumPy) constants next to its arguments (a ``where=`` mask,
# a constant matrix, an index array): on a device they fail in the forward pass with the
# TypeError CuPy gives for mixed host and device arrays, which is the right behaviour, so they
# are not device checks of the rules. Found by running every case on the CPU stand-in
# (``fake_cupy``): these and only these fail before the backward sweep.
HOST_CONSTANT_CASES = frozenset({
    "elementwise:heaviside-at-zero", "elementwise:ldexp", "elementwise:select",
    "elementwise:where", "elementwise:where-scalar", "elementwise:x**0d-array",
    "joining:concatenate-with-constant", "joining:repeat-one-count-array",
    "joining:stack-with-constant",
    "linalg:lstsq-singular-values", "products:dot-constant", "products:einsum-constant",
    "products:matmul-constant-left", "products:matmul-constant-right", "reductions:max-where",
    "reductions:mean-where-axis", "reductions:mean-where-keepdims", "reductions:min-where",
    "reductions:nanmax-where", "reductions:nanmean-where", "reductions:nanprod-where",
    "reductions:nanstd-mean", "reductions:nansum-where", "reductions:nanvar-where",
    "reductions:prod-where", "reductions:std-where-correction1", "reductions:std-where-keepdims",
    "reductions:sum-where", "reductions:sum-where-axis", "reductions:var-mean",
    "reductions:var-where", "reductions:var-where-ddof1", "selection:bincount",
    "selection:choose", "selection:choose-clip", "selection:delete-slice-mask",
    "selection:extract", "selection:select", "selection:select-default",
    "selection:take-2d-indices", "selection:take_along_axis", "selection:take_along_axis-None",
    "selection:take_along_axis-broadcast", "selection:trim_zeros", "selection:trim_zeros-2d",
    "selection:trim_zeros-view", "special:polygamma-1", "special:polygamma-2",
    "special:xlogy-zeros", "statistics:cov-aweights", "statistics:nanquantile-axis=-1",
    "statistics:nanquantile-axis=-1-keepdims", "statistics:nanquantile-axis=0",
    "statistics:nanquantile-axis=0-keepdims", "statistics:nanquantile-axis=None",
    "statistics:nanquantile-axis=None-keepdims", "statistics:quantile-weights",
    # found on a real GPU: a Python list next to device arrays, integer weights on the host
    "selection:trim_zeros-front", "selection:bincount-minlength", "statistics:cov-fweights",
    "selection:choose-wrap", "selection:choose-from-array",
    "statistics:cov-both-weights-ddof0",
    # a host grid xp next to the arguments
    "interpolation:interp", "interpolation:interp-left-right",
})

# Cases whose forward pass CuPy cannot run: it lacks the function, the keyword or the form of
# argument (seen on CuPy 14.2 with NumPy 2.5 on an NVIDIA H200, 2026-12-04). On a device they
# must fail with CuPy's clear TypeError or ValueError before anything is recorded, never give a
# result; if a CuPy release adds one, its strict expected failure turns into a test failure that
# says so. ``True``: the stand-in refuses it too (a missing function, ufunc or keyword, see
# fake_cupy.MISSING_*); ``False``: only real CuPy does (a form of argument it does not take).
_NO_FUNCTION = "CuPy 14 has no implementation of this NumPy function"
_NO_UFUNC = "CuPy 14 does not dispatch this ufunc"
_NO_KEYWORD = "CuPy 14's version does not take this keyword"
CUPY_GAPS: dict[str, tuple[str, bool]] = {
    **{f"joining:{n}*": (_NO_FUNCTION, True) for n in ("block", "unstack")},
    **{f"selection:{n}*": (_NO_FUNCTION, True) for n in ("insert", "linalg.diagonal")},
    **{f"products:{n}*": (_NO_FUNCTION, True)
       for n in ("linalg.outer", "linalg.tensordot", "linalg.vecdot", "multi_dot")},
    **{f"reductions:{n}*": (_NO_FUNCTION, True)
       for n in ("linalg.trace", "matrix_norm", "vector_norm")},
    **{f"statistics:{n}*": (_NO_FUNCTION, True) for n in ("nanpercentile", "nanquantile")},
    "linalg:svdvals*": (_NO_FUNCTION, True),
    **{f"products:{n}*": (_NO_UFUNC, True) for n in ("matvec", "vecmat", "vecdot")},
    **{f"special:{n}*": (_NO_UFUNC, True) for n in ("iv", "ive")},
    "elementwise:clip-min-max-keywords": (_NO_KEYWORD + " (min=, max=)", True),
    "linalg:cholesky-upper": (_NO_KEYWORD + " (upper=)", True),
    "linalg:pinv-hermitian": (_NO_KEYWORD + " (hermitian=)", True),
    "linalg:svd-hermitian": (_NO_KEYWORD + " (hermitian=)", True),
    **{f"reductions:{n}-correction1*": (_NO_KEYWORD + " (correction=)", True)
       for n in ("std", "var", "nanstd")},
    "reductions:prod-initial": (_NO_KEYWORD + " (initial=)", True),
    "shape:reshape-shape-keyword": (_NO_KEYWORD + " (shape=)", True),
    "selection:sort-stable-keyword": (_NO_KEYWORD + " (stable=)", True),
    **{f"selection:take-{m}": (_NO_KEYWORD + " (mode=)", True) for m in ("clip", "wrap")},
    **{f"statistics:quantile-method={m}": ("CuPy 14 supports only the linear, lower, higher, "
                                           "midpoint and nearest methods", False)
       for m in ("averaged_inverted_cdf", "closest_observation", "hazen",
                 "interpolated_inverted_cdf", "inverted_cdf", "median_unbiased",
                 "normal_unbiased", "weibull")},
    "statistics:percentile-array*": ("CuPy 14 takes q of at most one dimension", False),
    "statistics:quantile-tracked-q": ("CuPy 14 takes q of at most one dimension", False),
    **{f"joining:pad-{m}-dict": ("CuPy 14's pad takes no dict of widths", False)
       for m in ("constant", "reflect")},
    **{f"products:{n}": ("CuPy 14's cross takes only 3-element vectors, unbroadcast", False)
       for n in ("cross-2", "cross-2-3", "cross-2-axis", "cross-axes", "linalg.cross")},
    "statistics:average-weights-axes": ("CuPy 14's average takes 1-d weights with an axis",
                                        False),
}


def cupy_gap(key: str) -> tuple[str, bool] | None:
    """The entry of :data:`CUPY_GAPS` for case ``key``, or None. An entry names one case, or
    with a final ``*`` a case and the variants whose names continue with ``-``."""
    for name, entry in CUPY_GAPS.items():
        stem = name.rstrip("*")
        if key == stem or (name.endswith("*") and key.startswith(stem + "-")):
            return entry
    return None

# Rules that allocate on the host or call host-only functions in their gradient: each fails on
# the stand-in in the backward sweep (and would on CuPy). The files are not the device
# module's to edit; the fix is named for whoever owns them.
_PERCENTILE = ("rules/statistics.py:112 _order_weights: an array q (a host constant) enters "
               "the weights unconverted; fix: q = xp.asarray(q) (xp = array_module(v))")
DEVICE_BUGS = {
    "special:digamma": "rules/special.py:194: the gradient calls scipy.special.polygamma, a "
                       "Python function that converts to NumPy; fix: dispatch to "
                       "cupyx.scipy.special.polygamma for CuPy inputs",
}


def case_params(every: int = 1, real_cupy: bool = True) -> list[Any]:
    """``pytest.param(case, dtype)`` for every ``every``-th device-checkable case of each table;
    the known rule bugs, and the cases CuPy cannot run (all of them on ``real_cupy``, those the
    stand-in also refuses otherwise), are ``xfail(strict=True)`` with their reason."""
    import pytest  # noqa: PLC0415

    out = []
    for tname, table in TABLES.items():
        for c in sample([c for c in table if f"{tname}:{c.name}" not in HOST_CONSTANT_CASES],
                        every):
            key = f"{tname}:{c.name}"
            gap = cupy_gap(key)
            marks = ([pytest.mark.xfail(reason=DEVICE_BUGS[key], strict=True, raises=TypeError)]
                     if key in DEVICE_BUGS else [])
            if gap is not None and (real_cupy or gap[1]):
                marks.append(pytest.mark.xfail(reason=gap[0], strict=True,
                                               raises=(TypeError, ValueError)))
            for dt in (np.float64, np.float32):
                out.append(pytest.param(c, dt, id=f"{key}-{np.dtype(dt).name}", marks=marks))
    return out


# -- layers -------------------------------------------------------------------------------------


def _layer_cases() -> dict[str, tuple[Callable[[], Any], Callable[[np.random.Generator], Any]]]:
    return {
        "Linear": (lambda: Linear(5, 3, activation=F.relu, rng=0),
                   lambda r: r.standard_normal((4, 5))),
        "Conv2d": (lambda: Conv2d(2, 3, 3, padding=1, rng=0),
                   lambda r: r.standard_normal((2, 2, 6, 6))),
        "LSTM": (lambda: LSTM(3, 4, num_layers=2, rng=0),
                 lambda r: r.standard_normal((2, 5, 3))),
        "BatchNorm": (lambda: BatchNorm(3),
                      lambda r: r.standard_normal((6, 3, 2, 2))),
        "MaxPool2d": (lambda: Chain(Conv2d(1, 2, 3, rng=0), MaxPool2d(2)),
                      lambda r: r.standard_normal((2, 1, 6, 6))),
    }


LAYERS = tuple(_layer_cases())


def _leaves(out: Any) -> list[Any]:
    if isinstance(out, (tuple, list)):
        return [leaf for v in out for leaf in _leaves(v)]
    return [out]


def compare_layer(name: str, dtype: Any, device: str) -> None:
    """Forward values and gradients (input and weights) of a layer on ``device`` vs the host."""
    make, data = _layer_cases()[name]
    host_layer, dev_layer = make(), make()
    for lay in (host_layer, dev_layer):
        for p in ag.params(lay):
            p.value = p.value.astype(dtype)
        for buf in getattr(lay, "state_buffers", ()):
            setattr(lay, buf, getattr(lay, buf).astype(dtype))
    ag.to_device(dev_layer, device)
    x = data(np.random.default_rng(1)).astype(dtype)
    wts = [np.random.default_rng(2 + k).standard_normal(np.shape(ag.value(leaf))).astype(dtype)
           for k, leaf in enumerate(_leaves(host_layer(x)))]
    dev_wts = [ag.to_device(w, device) for w in wts]

    def loss(layer: Any, xin: Any, ws: list[Any]) -> Any:
        total = 0.0
        for leaf, w in zip(_leaves(layer(xin)), ws, strict=True):
            total = total + np.sum(leaf * w)
        return total

    hx, dx = ag.Param(x), ag.Param(ag.to_device(x, device))
    host_tape = ag.diff(loss, host_layer, hx, wts)
    dev_tape = ag.diff(loss, dev_layer, dx, dev_wts)
    assert on_device(ag.value(dev_tape)), f"{name}: the loss left the device"
    np.testing.assert_allclose(float(ag.value(dev_tape)), float(ag.value(host_tape)),
                               **tolerance(dtype))
    assert_same(ag.grad(dev_tape, dx), ag.grad(host_tape, hx), f"{name}: input gradient")
    for k, (pd, ph) in enumerate(zip(ag.params(dev_layer), ag.params(host_layer), strict=True)):
        assert_same(ag.grad(dev_tape, pd), ag.grad(host_tape, ph), f"{name}: weight {k}")
    for buf in getattr(host_layer, "state_buffers", ()):
        assert_same(getattr(dev_layer, buf), getattr(host_layer, buf), f"{name}: {buf}")


# -- training -----------------------------------------------------------------------------------


def mlp(seed: int = 0) -> Chain:
    return Chain(Linear(8, 16, activation=F.relu, rng=seed), Linear(16, 4, rng=seed + 1))


def data(n: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    r = np.random.default_rng(seed)
    return r.standard_normal((n, 8)).astype(np.float32), r.integers(0, 4, n)


def train_step(model: Any, x: Any, y: Any) -> Any:
    """One step: the loss recorded with diff, every Param updated by Adam; the loss (a value)."""
    tape = ag.diff(lambda: F.cross_entropy(model(x), y))
    for p in ag.params(model):
        update_(p, ag.grad(tape, p), Adam(lr=0.01))
    return ag.value(tape)


def compare_training(device: str, steps: int = 5) -> None:
    """A few Adam steps of an MLP on ``device`` agree with the host's to float32 tolerance."""
    from minitorch_ag.datasets import minibatch  # noqa: PLC0415

    x, y = data()
    host, dev = mlp(), mlp()
    ag.to_device(dev, device)
    host_batches = minibatch(x, y, 8, shuffle=True, rng=3, device="cpu")
    dev_batches = minibatch(x, y, 8, shuffle=True, rng=3, device=device)
    for step, ((hx, hy), (dx, dy)) in enumerate(zip(host_batches, dev_batches, strict=True)):
        if step == steps:
            break
        assert on_device(dx) and on_device(dy)
        hl, dl = train_step(host, hx, hy), train_step(dev, dx, dy)
        np.testing.assert_allclose(float(dl), float(hl), rtol=1e-4, err_msg=f"loss, step {step}")
    for k, (pd, ph) in enumerate(zip(ag.params(dev), ag.params(host), strict=True)):
        assert_same(pd.value, ph.value, f"weight {k} after training", rtol=1e-3, atol=1e-5)
