"""Gradient table of ``minitorch_ag/rules/reductions.py``.

Every reduction is checked over axis as an int, a negative int, a tuple and None, with
``keepdims`` False and True, on 0-d, size-1, 3-d and non-contiguous inputs, in float64 and
float32 and to second order; plus ties of max/min/ptp and of the inf-norms (the gradient is
shared equally), prod and cumprod at inputs with zeros (exact first derivative, second order
refused), var/std with ``ddof``/``correction``/``mean``, the ``where=``/``initial=``
arguments, NaN entries of the nan-functions (zero gradient), the cumulative functions along
every axis (``include_initial`` too), trace, diff/ediff1d/trapezoid with their optional
arguments tracked, and every order of the vector and matrix norms (zero gradient at 0).
"""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_ag as ag

from ._cases import (
    DTYPE_IDS,
    DTYPES,
    Spec,
    case,
    check,
    nonzero,
    positive,
    real,
    shape,
    strided,
    table_tests,
    transposed,
)

# axis/keepdims -> inputs: every axis form on a 3-d input, plus small and non-contiguous ones
# (the last input of each is the one the entry-point tests use).
AXES = {
    **{(axis, keepdims): [shape(2, 3, 4)]
       for axis in (None, 0, -1, (0, 2), (-1, 0)) for keepdims in (False, True)},
    (None, False): [shape(), strided(4, 3), shape(2, 3, 4)],
    (None, True): [shape(1), shape(2, 3, 4)],
    (0, False): [shape(1, 3), shape(2, 3, 4)],
    (0, True): [shape(1), transposed(4, 3), shape(2, 3, 4)],
    (-1, False): [shape(5), shape(2, 3, 4)],
    (1, False): [strided(4, 3)],
}
# var and std need at least two elements in each group (std is not differentiable at 0).
SPREAD_AXES = {k: [s for s in v if s.base not in ((), (1,), (1, 3))] for k, v in AXES.items()}
CORRECTION_AXES = {k: v for k, v in SPREAD_AXES.items() if k in ((None, False), (-1, True))}

def axis_id(axis, keepdims):
    return f"axis={axis}" + ("-keepdims" if keepdims else "")


def reduction(name, fn, domain, axes=AXES, method=None, **kwargs):
    """One case per (axis, keepdims) of reduction ``fn``: ``fn(x, axis=..., keepdims=...)``."""
    cases = []
    for (axis, keepdims), specs in axes.items():
        kw = dict(kwargs, axis=axis, keepdims=keepdims)
        forms = {}
        if method is not None:
            forms["method"] = lambda x, kw=kw: getattr(x, method)(**kw)
        cases.append(case(f"{name}-{axis_id(axis, keepdims)}", lambda x, kw=kw: fn(x, **kw),
                          domain, covers=fn, grid=[(s,) for s in specs], **forms))
    return cases


# A constant where= mask for (3, 4) inputs: every row and column keeps an element.
MASK = np.array([[True, False, True, True], [False, True, False, False], [True] * 4])

TABLE = [
    *reduction("sum", np.sum, real, method="sum"),
    *reduction("mean", np.mean, real, method="mean"),
    *reduction("max", np.max, real, method="max"),
    *reduction("amax", np.amax, real),
    *reduction("min", np.min, real, method="min"),
    *reduction("amin", np.amin, real),
    *reduction("prod", np.prod, nonzero, method="prod"),
    *reduction("var", np.var, real, SPREAD_AXES, method="var"),
    *reduction("var-ddof1", np.var, real, SPREAD_AXES, method="var", ddof=1),
    *reduction("var-correction1", np.var, real, CORRECTION_AXES, correction=1),
    *reduction("std", np.std, real, SPREAD_AXES, method="std"),
    *reduction("std-ddof1", np.std, real, SPREAD_AXES, method="std", ddof=1),
    *reduction("std-correction1", np.std, real, CORRECTION_AXES, correction=1),
    # where= masks
    case("sum-where", lambda x: np.sum(x, where=MASK), real, covers=np.sum, grid=[[(3, 4)]],
         method=lambda x: x.sum(where=MASK)),
    case("sum-where-axis", lambda x: np.sum(x, axis=1, where=MASK), real, covers=np.sum,
         grid=[[(3, 4)]]),
    case("mean-where-axis", lambda x: np.mean(x, axis=1, where=MASK), real, covers=np.mean,
         grid=[[(3, 4)]], method=lambda x: x.mean(axis=1, where=MASK)),
    case("mean-where-keepdims", lambda x: np.mean(x, axis=0, keepdims=True, where=MASK),
         real, covers=np.mean, grid=[[(3, 4)]]),
    case("max-where", lambda x: np.max(x, axis=1, initial=-10.0, where=MASK), real,
         covers=np.max, grid=[[(3, 4)]]),
    case("min-where", lambda x: np.min(x, axis=-1, initial=10.0, where=MASK), real,
         covers=np.min, grid=[[(3, 4)]]),
    case("prod-where", lambda x: np.prod(x, axis=1, where=MASK), nonzero, covers=np.prod,
         grid=[[(3, 4)]], method=lambda x: x.prod(axis=1, where=MASK)),
    case("prod-initial", lambda x: np.prod(x, axis=0, initial=1.5), nonzero, covers=np.prod,
         grid=[[(3, 4)]]),
    case("var-where", lambda x: np.var(x, axis=1, where=MASK), real, covers=np.var,
         grid=[[(3, 4)]], method=lambda x: x.var(axis=1, where=MASK)),
    case("var-where-ddof1", lambda x: np.var(x, ddof=1, where=MASK), real, covers=np.var,
         grid=[[(3, 4)]]),
    case("std-where-keepdims", lambda x: np.std(x, axis=0, keepdims=True, where=MASK), real,
         covers=np.std, grid=[[(3, 4)]], method=lambda x: x.std(axis=0, keepdims=True,
                                                                where=MASK)),
    case("std-where-correction1", lambda x: np.std(x, correction=1, where=MASK), real,
         covers=np.std, grid=[[(3, 4)]]),
    case("sum-dtype", lambda x: np.sum(x, axis=0, dtype=np.float64), real, covers=np.sum,
         grid=[[(3, 4)]]),
]


# -- nan-reductions: NaN entries get no gradient ------------------------------------------


def with_nan(rng, shape):
    """Standard normal values with a NaN at index (1, 1, ...) when every axis has 3 or more
    elements (so that each group along any axis keeps at least two numbers)."""
    x = rng.standard_normal(shape)
    if shape and min(shape) >= 3:
        x[(1,) * len(shape)] = np.nan
    return x


def _bigger(axes):
    """``axes`` with the 3-d input (2, 3, 4) replaced by (3, 4, 5), which holds a NaN."""
    return {k: [shape(3, 4, 5) if s.base == (2, 3, 4) else s for s in v]
            for k, v in axes.items()}


NAN_AXES, NAN_SPREAD_AXES = _bigger(AXES), _bigger(SPREAD_AXES)

TABLE += [
    *reduction("ptp", np.ptp, real),
    *reduction("nansum", np.nansum, with_nan, NAN_AXES),
    *reduction("nanmean", np.nanmean, with_nan, NAN_AXES),
    *reduction("nanmax", np.nanmax, with_nan, NAN_AXES),
    *reduction("nanmin", np.nanmin, with_nan, NAN_AXES),
    *reduction("nanprod", np.nanprod, with_nan, NAN_AXES),
    *reduction("nanvar", np.nanvar, with_nan, NAN_SPREAD_AXES),
    *reduction("nanvar-ddof1", np.nanvar, with_nan, CORRECTION_AXES, ddof=1),
    *reduction("nanstd", np.nanstd, with_nan, NAN_SPREAD_AXES),
    *reduction("nanstd-correction1", np.nanstd, with_nan, CORRECTION_AXES, correction=1),
    case("nansum-where", lambda x: np.nansum(x, axis=1, where=MASK), with_nan,
         covers=np.nansum, grid=[[(3, 4)]]),
    case("nanmean-where", lambda x: np.nanmean(x, axis=0, where=MASK), with_nan,
         covers=np.nanmean, grid=[[(3, 4)]]),
    case("nanmax-where", lambda x: np.nanmax(x, axis=1, initial=-10.0, where=MASK), with_nan,
         covers=np.nanmax, grid=[[(3, 4)]]),
    case("nanprod-where", lambda x: np.nanprod(x, axis=1, where=MASK), with_nan,
         covers=np.nanprod, grid=[[(3, 4)]]),
    case("nanvar-where", lambda x: np.nanvar(x, axis=0, where=MASK), with_nan, covers=np.nanvar,
         grid=[[(3, 4)]]),
    case("var-mean", lambda x: np.var(x, axis=1, mean=np.full((3, 1), 0.25)), real,
         covers=np.var, grid=[[(3, 4)]]),
    case("nanstd-mean", lambda x: np.nanstd(x, axis=0, keepdims=True,
                                            mean=np.full((1, 4), -0.5)),
         with_nan, covers=np.nanstd, grid=[[(3, 4)]]),
]

# -- cumulative sums and products ---------------------------------------------------------

# axis -> inputs (the last input of each is the one the entry-point tests use)
CUM_AXES = {
    None: [shape(), shape(1), shape(5), strided(4, 3), shape(2, 3, 4)],
    0: [shape(5), shape(1, 3), transposed(4, 3), shape(2, 3, 4)],
    1: [strided(4, 3), shape(2, 3, 4)],
    -1: [shape(1, 3), shape(2, 3, 4)],
}
CUMULATIVE_AXES = {None: [shape(), shape(5)], 0: [shape(1, 3), shape(2, 3, 4)],
                   -1: [strided(4, 3), shape(2, 3, 4)]}


def along_axis(name, fn, domain, axes, method=None, **kwargs):
    """One case per axis of the cumulative function ``fn``: ``fn(x, axis=...)``."""
    cases = []
    for axis, specs in axes.items():
        kw = dict(kwargs, axis=axis)
        forms = {}
        if method is not None:
            forms["method"] = lambda x, kw=kw: getattr(x, method)(**kw)
        cases.append(case(f"{name}-axis={axis}", lambda x, kw=kw: fn(x, **kw), domain,
                          covers=fn, grid=[(s,) for s in specs], **forms))
    return cases


TABLE += [
    *along_axis("cumsum", np.cumsum, real, CUM_AXES, method="cumsum"),
    *along_axis("cumprod", np.cumprod, nonzero, CUM_AXES, method="cumprod"),
    *along_axis("nancumsum", np.nancumsum, with_nan, _bigger(CUM_AXES)),
    *along_axis("nancumprod", np.nancumprod, with_nan, _bigger(CUM_AXES)),
    *along_axis("cumulative_sum", np.cumulative_sum, real, CUMULATIVE_AXES),
    *along_axis("cumulative_sum-initial", np.cumulative_sum, real, CUMULATIVE_AXES,
                include_initial=True),
    *along_axis("cumulative_prod", np.cumulative_prod, nonzero, CUMULATIVE_AXES),
    *along_axis("cumulative_prod-initial", np.cumulative_prod, nonzero, CUMULATIVE_AXES,
                include_initial=True),
    case("cumsum-dtype", lambda x: np.cumsum(x, axis=0, dtype=np.float64), real,
         covers=np.cumsum, grid=[[(3, 4)]]),
]

# -- trace ------------------------------------------------------------------------------------

TABLE += [
    case("trace", np.trace, real, grid=[[(1, 1)], [(1, 4)], [(3, 3)], [transposed(4, 3)],
                                        [strided(3, 3)]],
         method=lambda x: x.trace()),
    case("trace-offset", lambda x: np.trace(x, 1), real, covers=np.trace,
         grid=[[(3, 4)], [strided(4, 3)]], method=lambda x: x.trace(offset=1)),
    case("trace-negative-offset", lambda x: np.trace(x, offset=-2), real, covers=np.trace,
         grid=[[(4, 3)]]),
    case("trace-axes", lambda x: np.trace(x, -1, axis1=2, axis2=0), real, covers=np.trace,
         grid=[[(3, 2, 4)]], method=lambda x: x.trace(-1, 2, 0)),
    case("trace-negative-axes", lambda x: np.trace(x, axis1=-2, axis2=-1), real,
         covers=np.trace, grid=[[(2, 3, 3)]]),
    case("linalg.trace", np.linalg.trace, real, grid=[[(3, 3)], [(2, 3, 4)], [strided(3, 3)]]),
    case("linalg.trace-offset", lambda x: np.linalg.trace(x, offset=1), real,
         covers=np.linalg.trace, grid=[[(2, 3, 4)]]),
]

# -- diff, ediff1d, trapezoid -------------------------------------------------------------

TABLE += [
    case("diff", np.diff, real, grid=[[(1,)], [(5,)], [(1, 4)], [(2, 3, 4)], [strided(4, 3)]]),
    case("diff-n2-axis0", lambda x: np.diff(x, 2, axis=0), real, covers=np.diff,
         grid=[[(4,)], [(4, 3)], [transposed(4, 3)]]),
    case("diff-n0", lambda x: np.diff(x, 0), real, covers=np.diff, grid=[[(3,)]]),
    case("diff-n3-axis1", lambda x: np.diff(x, n=3, axis=1), real, covers=np.diff,
         grid=[[(2, 5, 3)]]),
    case("diff-scalar-ends", lambda x: np.diff(x, axis=-1, prepend=0.5, append=2.0), real,
         covers=np.diff, grid=[[(5,)], [(2, 3, 4)]]),
    case("diff-ends", lambda x, p, q: np.diff(x, 2, 0, p, q), real, real, real,
         covers=np.diff, grid=[[(4,), (2,), (1,)], [(3, 4), (1, 4), (2, 4)],
                               [strided(4, 3), (2, 3), transposed(1, 3)]]),
    case("diff-tracked-ends", lambda x, p, q: np.diff(x, axis=0, prepend=p, append=q), real,
         real, real, covers=np.diff, grid=[[(3,), (), ()], [(3, 2), (1, 2), (2, 2)]]),
    case("ediff1d", np.ediff1d, real, grid=[[(1,)], [(5,)], [(2, 3)], [strided(4, 3)]]),
    case("ediff1d-ends", lambda x, b, e: np.ediff1d(x, to_end=e, to_begin=b), real, real,
         real, covers=np.ediff1d, grid=[[(4,), (), (2,)], [(2, 3), (2, 2), (1,)],
                                       [strided(4, 3), (3,), ()]]),
    case("trapezoid", np.trapezoid, real, grid=[[(1,)], [(5,)], [(2, 3, 4)], [strided(4, 3)]]),
    case("trapezoid-dx-axis0", lambda x: np.trapezoid(x, dx=0.3, axis=0), real,
         covers=np.trapezoid, grid=[[(4,)], [(4, 3)], [transposed(4, 3)]]),
    case("trapezoid-x", lambda y, x: np.trapezoid(y, x), real, real, covers=np.trapezoid,
         grid=[[(5,), (5,)], [(2, 3, 4), (4,)], [(2, 3, 4), (3, 4)], [strided(4, 3), (3,)]]),
    case("trapezoid-x-axis", lambda y, x: np.trapezoid(y, x, axis=1), real, real,
         covers=np.trapezoid, grid=[[(2, 4, 3), (4,)], [(2, 4, 3), (2, 4, 3)],
                                    [transposed(3, 4), strided(3, 4)]]),
    case("trapezoid-tracked-dx", lambda y, d: np.trapezoid(y, dx=d, axis=0), real, positive,
         covers=np.trapezoid, grid=[[(4,), ()], [(3, 2), ()], [strided(4, 3), ()]]),
    case("trapezoid-array-dx", lambda y, d: np.trapezoid(y, dx=d), real, positive,
         covers=np.trapezoid, grid=[[(3, 4), (3,)], [(2, 3, 4), (3, 1)]]),
]

# -- norms ------------------------------------------------------------------------------------

VECTOR_ORDS = [None, 2, 1, np.inf, -np.inf, 0, 3, 0.5, -1, -2.5]
MATRIX_ORDS = [None, "fro", 1, -1, np.inf, -np.inf, "nuc", 2, -2]
SVD_ORDS = ("nuc", 2, -2)  # second order needs np.linalg.svd's rule: see test_svd_norms_*


def norm_cases(name, fn, ords, grid, domain=nonzero, **kwargs):
    return [case(f"{name}-ord={o}", lambda x, o=o: fn(x, ord=o, **kwargs), domain, covers=fn,
                 grid=grid, order2=o not in SVD_ORDS) for o in ords]


STEP2 = Spec("step2(5,)", (10,), lambda a: a[::2])  # a 1-d view: every second element
VECTOR_GRID = [[()], [(1,)], [(5,)], [STEP2]]
MATRIX_GRID = [[(1, 1)], [(1, 4)], [(3, 4)], [transposed(4, 3)], [strided(3, 3)]]

TABLE += [
    *norm_cases("norm-vector", np.linalg.norm, VECTOR_ORDS, VECTOR_GRID[1:]),
    *norm_cases("norm-matrix", np.linalg.norm, MATRIX_ORDS, MATRIX_GRID),
    *norm_cases("norm-axis0", np.linalg.norm, VECTOR_ORDS[:5], [[(3, 4)], [(2, 3, 4)]], axis=0),
    *norm_cases("norm-axis-1-keepdims", np.linalg.norm, [None, 2, 1, 3], [[strided(4, 3)]],
                axis=-1, keepdims=True),
    *norm_cases("norm-axes(2,0)", np.linalg.norm, MATRIX_ORDS, [[(3, 2, 4)]], axis=(2, 0)),
    *norm_cases("norm-axes(-1,-2)-keepdims", np.linalg.norm, ["fro", 1, np.inf, "nuc"],
                [[(2, 3, 4)]], axis=(-1, -2), keepdims=True),
    case("norm", np.linalg.norm, nonzero, grid=[[()], [(5,)], [(2, 3, 4)], [strided(4, 3)]]),
    case("norm-keepdims", lambda x: np.linalg.norm(x, keepdims=True), nonzero,
         covers=np.linalg.norm, grid=[[(2, 3, 4)]]),
    *norm_cases("vector_norm", np.linalg.vector_norm, VECTOR_ORDS, [[()], [(2, 3, 4)]]),
    *norm_cases("vector_norm-axes", np.linalg.vector_norm, [2, 1, np.inf, 3],
                [[(2, 3, 4)], [strided(4, 3)]], axis=(0, -1), keepdims=True),
    *norm_cases("matrix_norm", np.linalg.matrix_norm, MATRIX_ORDS[1:],
                [[(3, 4)], [(2, 3, 4)], [transposed(4, 3)]]),
    *norm_cases("matrix_norm-keepdims", np.linalg.matrix_norm, ["fro", -1, "nuc"],
                [[(2, 4, 3)]], keepdims=True),
]


# The four checks of every table (see _cases.table_tests).
test_gradient, test_second_order, test_views_match_contiguous, test_entry_points = (
    table_tests(TABLE))


# -- max/min: ties share the gradient equally ---------------------------------------------

EXTREMES = [np.max, np.amax, np.min, np.amin]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("fn", EXTREMES, ids=lambda f: f.__name__)
def test_ties_share_the_gradient(fn, dtype):
    sign = 1.0 if fn in (np.max, np.amax) else -1.0
    x = sign * np.array([1.0, 3.0, 3.0], dtype=dtype)
    g = ag.grad(fn)(x)
    np.testing.assert_array_equal(g, [0.0, 0.5, 0.5])
    assert g.dtype == dtype


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("fn", EXTREMES, ids=lambda f: f.__name__)
def test_ties_along_an_axis(fn, keepdims):
    sign = 1.0 if fn in (np.max, np.amax) else -1.0
    x = sign * np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, 5.0, 1.0]])
    w = np.array([1.0, 3.0, 2.0])
    if keepdims:
        w = w[:, None]
    g = ag.grad(lambda a: np.sum(fn(a, axis=1, keepdims=keepdims) * w))(x)
    np.testing.assert_allclose(g, [[0.0, 0.5, 0.5], [1.0, 1.0, 1.0], [0.0, 2.0, 0.0]])


def test_tie_methods_and_all_equal():
    x = np.full((2, 2), 4.0)
    np.testing.assert_array_equal(ag.grad(lambda a: a.max())(x), np.full((2, 2), 0.25))
    np.testing.assert_array_equal(ag.grad(lambda a: a.min(axis=0).sum())(x), np.full((2, 2), 0.5))


@pytest.mark.parametrize("fn", [np.max, np.min], ids=lambda f: f.__name__)
def test_ties_are_checked_by_finite_differences_of_a_symmetric_function(fn):
    # max(x, x) over a duplicated input: both copies tie, and the total gradient is exact.
    x = np.array([0.3, -1.2, 0.8])
    check(lambda a: fn(np.stack([a, a]), axis=0), [x])


# -- prod at zeros ----------------------------------------------------------------------------

ZEROS = {
    "one-zero": np.array([[1.5, 0.0, 2.0], [0.7, -1.1, 0.9], [1.2, 0.8, -0.6]]),
    "two-zeros-in-a-row": np.array([[1.5, 0.0, 0.0], [0.7, -1.1, 0.9], [0.0, 0.8, -0.6]]),
    "zeros-everywhere": np.array([[0.0, 0.0, 0.0], [0.0, -1.1, 0.9], [0.0, 0.8, 0.0]]),
}


EXTRA = {
    "plain": {},
    "where": {"where": np.array([[True, True, False], [False, True, True], [True] * 3])},
    "initial": {"initial": 2.0},
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("extra", EXTRA)
@pytest.mark.parametrize(("axis", "keepdims"), [(None, False), (0, False), (1, True),
                                                (-1, False), ((0, 1), True)],
                         ids=lambda v: str(v))
@pytest.mark.parametrize("name", ZEROS)
def test_prod_with_zeros(name, axis, keepdims, extra, dtype):
    x = ZEROS[name].astype(dtype)
    check(lambda a: np.prod(a, axis=axis, keepdims=keepdims, **EXTRA[extra]), [x])


def test_prod_with_zeros_values():
    g = ag.grad(np.prod)(np.array([2.0, 0.0, 3.0]))
    np.testing.assert_array_equal(g, [0.0, 6.0, 0.0])
    g = ag.grad(np.prod)(np.array([2.0, 0.0, 0.0, 3.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0, 0.0])
    g = ag.grad(lambda a: np.sum(np.prod(a, axis=1)))(np.array([[2.0, 0.0, 3.0], [1.0, 2.0, 4.0]]))
    np.testing.assert_array_equal(g, [[0.0, 6.0, 0.0], [8.0, 4.0, 2.0]])


def test_prod_second_order_at_zeros_is_refused():
    # reductions.py documents it: the first derivative is exact, the second is an error.
    x = np.array([2.0, 0.0, 3.0])
    with pytest.raises(TypeError, match="np.prod"):
        ag.grad(lambda a: np.sum(ag.grad(np.prod)(a) * [1.0, 2.0, 3.0]))(x)


# -- var and std --------------------------------------------------------------------------


@pytest.mark.parametrize("ddof", [0, 1, 2])
@pytest.mark.parametrize("fn", [np.var, np.std], ids=lambda f: f.__name__)
def test_ddof_values(fn, ddof):
    x = np.array([1.0, 2.0, 4.0, 7.0])
    centred = x - x.mean()
    if fn is np.var:
        expected = 2 * centred / (4 - ddof)
    else:
        expected = centred / ((4 - ddof) * np.std(x, ddof=ddof))
    np.testing.assert_allclose(ag.grad(lambda a: fn(a, ddof=ddof))(x), expected)


# -- nan-functions: NaN entries get zero gradient, the others that of the plain function ----

NAN_PAIRS = [(np.nansum, np.sum), (np.nanmean, np.mean), (np.nanmax, np.max),
             (np.nanmin, np.min), (np.nanprod, np.prod), (np.nanvar, np.var),
             (np.nanstd, np.std), (np.nancumsum, np.cumsum), (np.nancumprod, np.cumprod)]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize(("nanfn", "fn"), NAN_PAIRS, ids=lambda f: f.__name__)
def test_nan_entries_get_zero_gradient(nanfn, fn, dtype):
    x = np.array([0.7, np.nan, -1.3, 2.1, np.nan], dtype=dtype)
    kept = [0, 2, 3]
    w = np.arange(1.0, 1.0 + np.size(nanfn(x)), dtype=dtype)
    g = ag.grad(lambda a: np.sum(nanfn(a) * w))(x)
    assert g.dtype == dtype and np.all(np.isfinite(g))
    np.testing.assert_array_equal(g[[1, 4]], 0.0)
    if nanfn in (np.nancumsum, np.nancumprod):  # NaN counts as 0 or 1 in the running result
        w = np.array([w[0] + w[1], w[2], w[3] + w[4]], dtype=dtype)
    expected = ag.grad(lambda a: np.sum(fn(a) * w))(x[kept])
    np.testing.assert_allclose(g[kept], expected, rtol=1e-5)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy warns of the empty group
@pytest.mark.parametrize("fn", [np.nansum, np.nanmean, np.nanmax, np.nanprod, np.nanvar])
def test_all_nan_groups_get_zero_gradient(fn):
    x = np.array([[np.nan, np.nan], [1.0, 2.0]])
    g = ag.grad(lambda a: fn(a, axis=1)[1])(x)
    np.testing.assert_array_equal(g, [[0.0, 0.0], list(ag.grad(fn)(x[1]))])


# -- ptp and the norms: ties share the gradient ---------------------------------------------


def test_ptp_ties_and_constant_groups():
    g = ag.grad(np.ptp)(np.array([1.0, 4.0, 4.0, 1.0, 2.0]))
    np.testing.assert_array_equal(g, [-0.5, 0.5, 0.5, -0.5, 0.0])
    np.testing.assert_array_equal(ag.grad(np.ptp)(np.full(3, 2.0)), np.zeros(3))


@pytest.mark.parametrize(("ord", "expected"), [(np.inf, [0.0, -0.5, 0.5]),
                                               (-np.inf, [1.0, 0.0, 0.0])])
def test_inf_norm_ties(ord, expected):
    x = np.array([0.5, -2.0, 2.0])
    np.testing.assert_array_equal(ag.grad(lambda a: np.linalg.norm(a, ord))(x), expected)


def test_matrix_one_norm_ties():
    x = np.array([[1.0, -2.0], [-2.0, 1.0]])  # both columns sum to 3
    np.testing.assert_array_equal(ag.grad(lambda a: np.linalg.norm(a, 1))(x),
                                  [[0.5, -0.5], [-0.5, 0.5]])


ZERO_NORMS = {
    "norm": (np.linalg.norm, (3,)),
    "norm-2": (lambda a: np.linalg.norm(a, 2), (3,)),
    "norm-fro": (lambda a: np.linalg.norm(a, "fro"), (2, 2)),
    "norm-p3": (lambda a: np.linalg.norm(a, 3), (3,)),
    "vector_norm": (lambda a: np.linalg.vector_norm(a, axis=0), (3, 2)),
    "matrix_norm": (np.linalg.matrix_norm, (2, 2, 3)),
}


@pytest.mark.parametrize("name", ZERO_NORMS)
def test_norm_at_zero_has_zero_gradient(name):
    fn, dims = ZERO_NORMS[name]
    x = np.zeros(dims)
    np.testing.assert_array_equal(ag.grad(lambda a: np.sum(fn(a)))(x), np.zeros(dims))
    hessian_row = ag.grad(lambda a: ag.grad(lambda b: np.sum(fn(b)))(a).ravel()[0])(x)
    np.testing.assert_array_equal(hessian_row, np.zeros(dims))


def test_svd_norms_value():
    x = np.array([[3.0, 1.0], [0.5, 2.0], [1.0, -1.0]])
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    np.testing.assert_allclose(ag.grad(lambda a: np.linalg.norm(a, "nuc"))(x), u @ vh)
    np.testing.assert_allclose(ag.grad(lambda a: np.linalg.norm(a, 2))(x),
                               np.outer(u[:, 0], vh[0]))
    np.testing.assert_allclose(ag.grad(lambda a: np.linalg.norm(a, -2))(x),
                               np.outer(u[:, 1], vh[1]))


@pytest.mark.parametrize("ord", SVD_ORDS)
def test_svd_norms_second_order(ord):
    from minitorch_ag.registry import lookup

    x = np.array([[3.0, 1.0, 0.2], [0.5, 2.0, -0.7], [1.0, -1.0, 0.4]])

    def f(a):
        return np.sum(np.sin(np.linalg.norm(a, ord, axis=(1, 0))))

    if lookup(np.linalg.svd) is not None:  # differentiable gradient: check it
        assert ag.gradcheck(f, x, order=2)
    else:  # without svd's rule the second derivative is refused, not silently wrong
        with pytest.raises(TypeError, match="np.linalg.norm.*svd"):
            ag.grad(lambda a: np.sum(ag.grad(f)(a)))(x)


# -- cumprod at zeros: exact first derivative, second order refused ----------------------

CUM_ZEROS = {
    "one-zero": np.array([[1.5, 0.0, 2.0, -0.5], [0.7, -1.1, 0.9, 1.3], [0.0, 0.8, -0.6, 1.1]]),
    "two-zeros": np.array([[1.5, 0.0, 0.0, 2.0], [0.7, 0.0, 0.9, 0.0], [1.2, 0.8, -0.6, 0.0]]),
}
CUM_FNS = {
    "cumprod": lambda a, axis: np.cumprod(a, axis=axis),
    "nancumprod": lambda a, axis: np.nancumprod(a, axis=axis),
    "cumulative_prod": lambda a, axis: np.cumulative_prod(a, axis=0 if axis is None else axis,
                                                          include_initial=True),
}


def _cumprod_by_hand(x, w):
    """The gradient of sum(w * cumprod(x)) for a 1-d x: products of the others, summed."""
    g = np.zeros_like(x)
    for k in range(len(x)):
        for i in range(k, len(x)):
            g[k] += w[i] * np.prod(np.delete(x[: i + 1], k))
    return g


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("name", CUM_ZEROS)
@pytest.mark.parametrize("fn", CUM_FNS)
def test_cumprod_with_zeros(fn, name, axis, dtype):
    check(lambda a: CUM_FNS[fn](a, axis), [CUM_ZEROS[name].astype(dtype)])


@pytest.mark.parametrize("x", [[2.0, 0.0, 3.0, 0.5], [0.0, 2.0, 0.0, 3.0], [1.0, 2.0, 0.0, 0.0]])
def test_cumprod_with_zeros_values(x):
    x, w = np.array(x), np.array([1.0, -2.0, 0.5, 3.0])
    np.testing.assert_allclose(ag.grad(lambda a: np.sum(np.cumprod(a) * w))(x),
                               _cumprod_by_hand(x, w))


def test_cumprod_second_order_at_zeros_is_refused():
    x = np.array([2.0, 0.0, 3.0])
    for name, fn in (("np.cumprod", np.cumprod), ("np.nancumprod", np.nancumprod)):
        with pytest.raises(TypeError, match=name):
            ag.grad(lambda a, fn=fn: np.sum(ag.grad(lambda b: np.sum(fn(b) * b))(a)))(x)
