"""Gradient table of ``minitorch_ag/rules/statistics.py``.

average (weights of the same shape, along an axis, along a tuple of axes; ``returned=True``),
the order statistics (median, percentile, quantile and their nan-versions) over every axis
form with ``keepdims``, ``q`` a number, an array or tracked, and the interpolation methods;
cov and corrcoef (``rowvar``, ``bias``, ``ddof``, weights, a second variable ``y``); convolve
and correlate in every mode and with either argument the longer. Plus the values: ties of the
order statistics share the gradient, NaN entries get none, and the errors for what is refused.
"""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_ag as ag

from ._cases import (
    DTYPE_IDS,
    DTYPES,
    case,
    check,
    positive,
    real,
    shape,
    strided,
    table_tests,
    transposed,
)
from .test_reductions import AXES, NAN_AXES, STEP2, axis_id, with_nan


def reduction(name, fn, domain, axes=AXES, covers=None, **kwargs):
    """One case per (axis, keepdims): ``fn(x, axis=..., keepdims=..., **kwargs)``."""
    return [case(f"{name}-{axis_id(axis, keepdims)}",
                 lambda x, kw=dict(kwargs, axis=axis, keepdims=keepdims): fn(x, **kw), domain,
                 covers=covers or fn, grid=[(s,) for s in specs])
            for (axis, keepdims), specs in axes.items()]


# NumPy's nan-quantiles loop over the groups in Python: a smaller 3-d input keeps them quick.
SMALL_NAN_AXES = {k: [shape(3, 3, 3) if s.base == (3, 4, 5) else s for s in v]
                  for k, v in NAN_AXES.items()}


def _quantiles(fn, q):
    return lambda x, **kw: fn(x, q, **kw)


Q = np.array([[0.1, 0.5], [0.75, 1.0]])  # q as a 2-d array: the result gets its shape first

TABLE = [
    # average
    *reduction("average", np.average, real),
    case("average-weights", lambda x, w: np.average(x, weights=w), real, positive,
         covers=np.average, grid=[[(), ()], [(5,), (5,)], [(2, 3), (2, 3)],
                                  [strided(4, 3), transposed(4, 3)]]),
    case("average-weights-axis", lambda x, w: np.average(x, axis=1, weights=w), real, positive,
         covers=np.average, grid=[[(1, 4), (4,)], [(2, 3, 4), (3,)], [strided(4, 3), (3,)]]),
    case("average-weights-axis-keepdims",
         lambda x, w: np.average(x, -1, w, keepdims=True), real, positive,
         covers=np.average, grid=[[(2, 3, 4), (4,)], [(2, 3, 4), (2, 3, 4)]]),
    case("average-weights-axes", lambda x, w: np.average(x, axis=(2, 0), weights=w), real,
         positive, covers=np.average, grid=[[(2, 3, 4), (4, 2)]]),
    case("average-returned", lambda x, w: (lambda r: r[0] * r[1])(
        np.average(x, axis=0, weights=w, returned=True)), real, positive, covers=np.average,
        grid=[[(5,), (5,)], [(3, 4), (3,)], [(3, 4), (3, 4)]]),
    case("average-returned-average-only", lambda x: np.average(x, 1, returned=True)[0], real,
         covers=np.average, grid=[[(3, 4)]]),
    # order statistics
    *reduction("median", np.median, real),
    *reduction("nanmedian", np.nanmedian, with_nan, SMALL_NAN_AXES),
    *reduction("quantile", _quantiles(np.quantile, 0.3), real, covers=np.quantile),
    *reduction("percentile-array", _quantiles(np.percentile, [[5.0, 50.0, 95.0]]), real,
               {k: v for k, v in AXES.items() if k[0] in (None, (0, 2), -1)},
               covers=np.percentile),
    *reduction("nanquantile", _quantiles(np.nanquantile, Q), with_nan,
               {k: v for k, v in SMALL_NAN_AXES.items() if k[0] in (None, 0, -1)},
               covers=np.nanquantile),
    case("nanquantile-axes", lambda x: np.nanquantile(x, [0.2, 0.7], axis=(-1, 0)), with_nan,
         covers=np.nanquantile, grid=[[(3, 3, 4)]]),
    *reduction("nanpercentile", _quantiles(np.nanpercentile, 40.0), with_nan,
               {k: v for k, v in SMALL_NAN_AXES.items() if k[0] in (None, -1)},
               covers=np.nanpercentile),
    case("quantile-tracked-q", lambda x, q: np.quantile(x, q, axis=1), real,
         lambda rng, s: rng.uniform(0.05, 0.95, s), covers=np.quantile,
         grid=[[(1, 4), ()], [(2, 5), (3,)], [strided(4, 3), (2, 2)]]),
    case("percentile-tracked-q", lambda x, q: np.percentile(x, q), real,
         lambda rng, s: rng.uniform(5.0, 95.0, s), covers=np.percentile,
         grid=[[(5,), ()], [(2, 3, 4), (2,)]]),
    case("nanquantile-tracked-q", lambda x, q: np.nanquantile(x, q, axis=0, keepdims=True),
         with_nan, lambda rng, s: rng.uniform(0.05, 0.95, s), covers=np.nanquantile,
         grid=[[(3, 4), (2,)], [(5,), ()]]),
    case("nanpercentile-tracked-q", lambda x, q: np.nanpercentile(x, q, axis=-1), with_nan,
         lambda rng, s: rng.uniform(5.0, 95.0, s), covers=np.nanpercentile,
         grid=[[(3, 4), ()]]),
    case("median-overwrite-input", lambda x: np.median(x, 0, None, True), real,
         covers=np.median, grid=[[(5, 3)]]),
    *[case(f"quantile-method={m}", lambda x, m=m: np.quantile(x, [0.2, 0.6], axis=0, method=m),
           real, covers=np.quantile, grid=[[(7,)], [(6, 2)]])
      for m in ("lower", "higher", "nearest", "midpoint", "inverted_cdf",
                "averaged_inverted_cdf", "closest_observation", "interpolated_inverted_cdf",
                "hazen", "weibull", "median_unbiased", "normal_unbiased")],
    case("quantile-weights", lambda x: np.quantile(x, 0.4, axis=1, method="inverted_cdf",
                                                   weights=np.array([1.0, 2.0, 0.5, 3.0])),
         real, covers=np.quantile, grid=[[(3, 4)]]),
    # covariance and correlation
    case("cov", np.cov, real, grid=[[(5,)], [(1, 4)], [(3, 5)], [strided(3, 4)]]),
    case("cov-rowvar-false", lambda m: np.cov(m, rowvar=False), real, covers=np.cov,
         grid=[[(5,)], [(5, 2)], [transposed(4, 3)]]),
    case("cov-bias", lambda m: np.cov(m, bias=True), real, covers=np.cov, grid=[[(3, 5)]]),
    case("cov-ddof2", lambda m: np.cov(m, ddof=2), real, covers=np.cov, grid=[[(2, 5)]]),
    case("cov-y", np.cov, real, real, grid=[[(5,), (5,)], [(2, 4), (3, 4)],
                                            [strided(3, 4), (4,)]]),
    case("cov-y-rowvar-false", lambda m, y: np.cov(m, y, False), real, real, covers=np.cov,
         grid=[[(5, 2), (5,)], [(4, 2), (4, 3)]]),
    case("cov-fweights", lambda m: np.cov(m, fweights=[1, 3, 2, 1, 2]), real, covers=np.cov,
         grid=[[(3, 5)]]),
    case("cov-aweights", lambda m: np.cov(m, aweights=np.array([0.5, 1.0, 2.0, 1.5])), real,
         covers=np.cov, grid=[[(4,)], [(2, 4)]]),
    case("cov-both-weights-ddof0",
         lambda m: np.cov(m, ddof=0, fweights=[2, 1, 1, 3], aweights=[0.5, 1.0, 2.0, 1.5]),
         real, covers=np.cov, grid=[[(2, 4)]]),
    case("corrcoef", np.corrcoef, real, grid=[[(5,)], [(3, 5)], [strided(3, 4)]]),
    case("corrcoef-rowvar-false", lambda x: np.corrcoef(x, rowvar=False), real,
         covers=np.corrcoef, grid=[[(5, 3)], [transposed(4, 3)]]),
    case("corrcoef-y", np.corrcoef, real, real, grid=[[(5,), (5,)], [(2, 4), (1, 4)]]),
    # convolutions
    *[case(f"{fn.__name__}-{mode}", lambda a, v, fn=fn, mode=mode: fn(a, v, mode), real, real,
           covers=fn, grid=[[(), (3,)], [(1,), (1,)], [(5,), (3,)], [(3,), (5,)], [(4,), (4,)],
                            [(2,), (5,)], [(6,), (2,)], [STEP2, (3,)]][fn is np.correlate:])
      for fn in (np.convolve, np.correlate) for mode in ("full", "same", "valid")],
]

# The four checks of every table (see _cases.table_tests).
test_gradient, test_second_order, test_views_match_contiguous, test_entry_points = (
    table_tests(TABLE))


# -- order statistics: ties share the gradient, NaN gets none ----------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize(("x", "expected"), [
    ([1.0, 3.0, 3.0], [0.0, 0.5, 0.5]),
    ([3.0, 1.0, 3.0, 5.0], [0.5, 0.0, 0.5, 0.0]),
    ([2.0, 1.0, 4.0, 5.0], [0.5, 0.0, 0.5, 0.0]),
    ([2.0, 2.0, 2.0, 2.0], [0.25, 0.25, 0.25, 0.25]),
])
def test_median_ties_share_the_gradient(x, expected, dtype):
    g = ag.grad(np.median)(np.array(x, dtype=dtype))
    np.testing.assert_array_equal(g, expected)
    assert g.dtype == dtype


def test_quantile_interpolates_between_two_order_statistics():
    x = np.array([4.0, 1.0, 3.0, 2.0, 5.0])
    # q = 0.3: virtual index 1.2 between the sorted 2.0 (index 3) and 3.0 (index 2)
    np.testing.assert_allclose(ag.grad(lambda a: np.quantile(a, 0.3))(x),
                               [0.0, 0.0, 0.2, 0.8, 0.0])
    np.testing.assert_allclose(ag.grad(lambda q: np.quantile(x, q))(0.3), 4.0)
    np.testing.assert_allclose(ag.grad(lambda q: np.percentile(x, q))(30.0), 0.04)


def test_nanmedian_ignores_nan():
    x = np.array([[np.nan, 2.0, 1.0, 5.0], [3.0, np.nan, np.nan, 1.0]])
    g = ag.grad(lambda a: np.sum(np.nanmedian(a, axis=1) * [1.0, 2.0]))(x)
    np.testing.assert_array_equal(g, [[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 1.0]])


def test_tracked_q_with_a_continuous_method_is_refused():
    x = np.array([4.0, 1.0, 3.0, 2.0])
    with pytest.raises(TypeError, match="hazen"):
        ag.grad(lambda q: np.quantile(x, q, method="hazen"))(0.3)


def test_nan_quantile_layout_quirk_is_refused():
    # NumPy's nanquantile orders the result differently here: refused, not silently wrong
    x = np.arange(24.0).reshape(2, 3, 4)
    with pytest.raises(ValueError, match="np.nanquantile: with a q of 2 dimensions"):
        ag.grad(lambda a: np.sum(np.nanquantile(a, [[0.2, 0.5]], axis=(0, 1))))(x)


def test_overwrite_input_leaves_the_param_alone():
    x = ag.Param(np.array([4.0, 1.0, 3.0, 2.0, 5.0]))
    tape = ag.diff(lambda: np.median(x, overwrite_input=True))
    np.testing.assert_array_equal(x.value, [4.0, 1.0, 3.0, 2.0, 5.0])
    np.testing.assert_array_equal(ag.grad(tape, x), [0.0, 0.0, 1.0, 0.0, 0.0])


# -- average, cov and corrcoef: values --------------------------------------------------


def test_average_weights_gradient_values():
    x, w = np.array([1.0, 2.0, 4.0]), np.array([1.0, 1.0, 2.0])
    np.testing.assert_allclose(ag.grad(lambda a: np.average(a, weights=w))(x), w / 4)
    np.testing.assert_allclose(ag.grad(lambda v: np.average(x, weights=v))(w),
                               (x - 11 / 4) / 4)
    np.testing.assert_allclose(
        ag.grad(lambda v: np.average(x, weights=v, returned=True)[1])(w), np.ones(3))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_average_with_integer_list_weights(dtype):
    x = np.array([[1.0, 2.0, 4.0], [0.5, -1.0, 3.0]], dtype=dtype)
    g = ag.grad(lambda a: np.sum(np.average(a, axis=1, weights=[1, 1, 2])))(x)
    assert g.dtype == dtype
    np.testing.assert_allclose(g, np.tile([0.25, 0.25, 0.5], (2, 1)))


def test_cov_matches_the_explicit_formula():
    rng = np.random.default_rng(3)
    m, seed = rng.standard_normal((3, 6)), rng.standard_normal((3, 3))

    def explicit(a):
        centred = a - np.mean(a, axis=1, keepdims=True)
        return centred @ centred.T / (a.shape[1] - 1)

    np.testing.assert_allclose(ag.grad(lambda a: np.sum(np.cov(a) * seed))(m),
                               ag.grad(lambda a: np.sum(explicit(a) * seed))(m))


def test_cov_weights_are_not_differentiated():
    m = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]])
    with pytest.raises(TypeError, match="np.cov: gradients with respect to fweights/aweights"):
        ag.grad(lambda w: np.sum(np.cov(m, None, True, False, None, None, w)))(
            np.array([1.0, 2.0, 1.0]))


def test_corrcoef_of_one_variable_has_zero_gradient():
    np.testing.assert_allclose(ag.grad(np.corrcoef)(np.array([1.0, 3.0, 2.0])), 0.0,
                               atol=1e-15)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize(("n", "m"), [(5, 3), (3, 5), (4, 4), (2, 7), (7, 2)])
def test_convolutions_match_their_matrix_form(mode, n, m):
    rng = np.random.default_rng(n * 10 + m)
    a, v = rng.standard_normal(n), rng.standard_normal(m)
    for fn in (np.convolve, np.correlate):
        w = rng.standard_normal(np.size(fn(a, v, mode)))
        # the result is linear in a: its matrix is the result at the unit vectors
        matrix = np.stack([fn(e, v, mode) for e in np.eye(n)], axis=1)
        check(lambda x, fn=fn: fn(x, v, mode), [a])
        np.testing.assert_allclose(ag.grad(lambda x, fn=fn: np.sum(fn(x, v, mode) * w))(a),
                                   matrix.T @ w, err_msg=fn.__name__)


def test_small_shapes_of_the_order_statistics():
    check(np.median, [np.float64(0.5)])
    check(lambda x: np.quantile(x, 0.2), [np.array([[0.5]])])
    check(lambda x: np.percentile(x, [10.0, 90.0], axis=0), [shape(1, 3).make(
        np.random.default_rng(0), real, np.float64)])
