"""Gradient table of ``minitorch_ag/rules/reductions.py``.

Every reduction is checked over axis as an int, a negative int, a tuple and None, with
``keepdims`` False and True, on 0-d, size-1, 3-d and non-contiguous inputs, in float64 and
float32 and to second order; plus ties of max/min (the gradient is shared equally), prod at
inputs with zeros, var/std with ``ddof``/``correction``, and the ``where=``/``initial=``
arguments.
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
    nonzero,
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
