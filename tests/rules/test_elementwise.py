"""Gradient table of ``minitorch_ag/rules/elementwise.py``: one line per rule (or calling form).

Each case is checked with ``ag.gradcheck`` over its domain on the arity's shape grid (0-d,
size-1, broadcast pairs, non-contiguous views) in float64 and float32, to second order in
float64, and through every entry point (operator, NumPy function, method; ``grad(f)`` and
``Param`` + ``diff``).
"""

from __future__ import annotations

import operator

import numpy as np
import pytest

import minitorch_ag as ag

from ._cases import (
    DTYPE_IDS,
    DTYPES,
    case,
    check,
    intervals,
    nonzero,
    positive,
    real,
    shape,
    strided,
    table_tests,
    transposed,
)


def reflected(name: str):
    """``a <op> b`` as Python runs it when ``a`` is not a Tensor: ``b.__r<op>__(a)``."""
    return lambda a, b: getattr(b, f"__r{name}__")(a)


def checker(*xs):
    """A constant boolean mask of the broadcast shape of ``xs``: a checkerboard."""
    s = np.broadcast_shapes(*(np.shape(x) for x in xs))
    return np.indices(s).sum(axis=0) % 2 == 0


# Away from the kinks of clip(x, -0.5, 0.5) and of clip(x, lo, hi) with lo in [-0.9, -0.7]
# and hi in [0.7, 0.9].
OFF_HALF = intervals((-1.5, -0.6), (-0.4, 0.4), (0.6, 1.5))
OFF_BOUNDS = intervals((-1.5, -1.0), (-0.5, 0.5), (1.0, 1.5))
LOWER = intervals((-0.9, -0.7))
UPPER = intervals((0.7, 0.9))
# 1.5 / x and (x + 1) / 0.5 stay away from integers (the kinks of the remainders below).
OFF_INTEGER_RATIO = intervals((0.8, 0.9), (1.6, 1.9))

TABLE = [
    # -- arithmetic
    case("add", np.add, real, real, op=operator.add, rop=reflected("add")),
    case("subtract", np.subtract, real, real, op=operator.sub, rop=reflected("sub")),
    case("multiply", np.multiply, real, real, op=operator.mul, rop=reflected("mul")),
    case("true_divide", np.true_divide, real, nonzero, op=operator.truediv,
         rop=reflected("truediv"), alias=np.divide),
    case("negative", np.negative, real, op=operator.neg),
    case("positive", np.positive, real, op=operator.pos),
    case("remainder", np.remainder, real, nonzero, op=operator.mod, rop=reflected("mod"),
         alias=np.mod),
    case("scalar-ops", lambda x: (2.0 - x) * 3.0 / x + 1.5 % x - x / 4.0 + (x + 1) % 0.5,
         OFF_INTEGER_RATIO, covers=(np.subtract, np.multiply, np.true_divide, np.add,
                                    np.remainder), main="op"),
    # -- powers
    case("power", np.power, positive, real, op=operator.pow, rop=reflected("pow")),
    case("x**2", lambda x: x ** 2, real, covers=np.power, main="op",
         np=lambda x: np.power(x, 2)),
    case("x**3.0", lambda x: x ** 3.0, real, covers=np.power, main="op"),
    case("x**0.5", lambda x: x ** 0.5, positive, covers=np.power, main="op"),
    case("x**-1", lambda x: x ** -1, nonzero, covers=np.power, main="op"),
    case("x**0d-array", lambda x: x ** np.array(2.5), positive, covers=np.power, main="op"),
    case("2**x", lambda x: 2 ** x, real, covers=np.power, main="op",
         np=lambda x: np.power(2.0, x)),
    case("square", np.square, real),
    case("sqrt", np.sqrt, positive),
    # -- exponentials, logarithms, trigonometry
    case("exp", np.exp, real),
    case("log", np.log, positive),
    case("tanh", np.tanh, real),
    case("sin", np.sin, real),
    case("cos", np.cos, real),
    # -- piecewise linear
    case("absolute", np.absolute, nonzero, op=abs, method=lambda x: x.__abs__()),
    case("maximum", np.maximum, real, real),
    case("minimum", np.minimum, real, real),
    case("maximum-scalar", lambda x: np.maximum(x, 0.0), nonzero, covers=np.maximum),
    case("minimum-scalar", lambda x: np.minimum(0.0, x), nonzero, covers=np.minimum),
    case("where", lambda x, y: np.where(checker(x, y), x, y), real, real, covers=np.where),
    case("where-scalar", lambda x: np.where(checker(x), 0.0, x), real, covers=np.where),
    case("where-from-tensor", lambda x: np.where(x > 0, x, 0.1 * x), nonzero, covers=np.where),
    case("clip", lambda x: np.clip(x, -0.5, 0.5), OFF_HALF, covers=np.clip,
         method=lambda x: x.clip(-0.5, 0.5)),
    case("clip-lower", lambda x: np.clip(x, -0.5, None), OFF_HALF, covers=np.clip,
         method=lambda x: x.clip(min=-0.5)),
    case("clip-upper", lambda x: np.clip(x, None, 0.5), OFF_HALF, covers=np.clip,
         method=lambda x: x.clip(max=0.5), keywords=lambda x: np.clip(x, a_min=None, a_max=0.5)),
    case("clip-min-max-keywords", lambda x: np.clip(x, min=-0.5, max=0.5), OFF_HALF,
         covers=np.clip),
    case("clip-arrays", np.clip, OFF_BOUNDS, LOWER, UPPER,
         method=lambda x, lo, hi: x.clip(lo, hi)),
    case("clip-array-lower", lambda x, lo: np.clip(x, lo, None), OFF_BOUNDS, LOWER,
         covers=np.clip),
    case("clip-array-upper", lambda x, hi: np.clip(x, None, hi), OFF_BOUNDS, UPPER,
         covers=np.clip),
]


# The four checks of every table (see _cases.table_tests).
test_gradient, test_second_order, test_views_match_contiguous, test_entry_points = (
    table_tests(TABLE))


# -- mixed dtypes: each gradient has its own argument's dtype -----------------------------


@pytest.mark.parametrize("fn", [np.add, np.multiply, np.true_divide, np.maximum, np.power],
                         ids=lambda f: f.__name__)
def test_mixed_float32_float64(fn):
    rng = np.random.default_rng(7)
    x = rng.uniform(0.5, 2.0, (2, 3)).astype(np.float32)
    y = rng.uniform(0.5, 2.0, (3,))
    check(fn, [x, y])
    check(fn, [y, x])


# -- ties and conventions -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("fn", [np.maximum, np.minimum], ids=lambda f: f.__name__)
def test_ties_share_the_gradient(fn, dtype):
    x = np.array([1.0, 2.0, -3.0, 0.5], dtype=dtype)
    y = np.array([1.0, 0.0, -3.0, 4.0], dtype=dtype)
    dx, dy = ag.grad(lambda a, b: np.sum(fn(a, b)), argnum=(0, 1))(x, y)
    x_wins = (x > y) if fn is np.maximum else (x < y)
    np.testing.assert_array_equal(dx, np.where(x == y, 0.5, x_wins).astype(dtype))
    np.testing.assert_array_equal(dy, np.where(x == y, 0.5, ~x_wins).astype(dtype))
    assert dx.dtype == dy.dtype == dtype


def test_clip_passes_the_gradient_to_the_bounds():
    x = np.array([-2.0, 0.0, 2.0, 0.3])
    lo = np.array([-1.0, -1.0, -1.0, -1.0])
    hi = np.array([1.0, 1.0, 1.0, 1.0])
    dx, dlo, dhi = ag.grad(lambda a, b, c: np.sum(np.clip(a, b, c)), argnum=(0, 1, 2))(x, lo, hi)
    np.testing.assert_array_equal(dx, [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(dlo, [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(dhi, [0.0, 0.0, 1.0, 0.0])


def test_where_condition_gets_no_gradient_and_selects():
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([10.0, 20.0, 30.0])
    c = np.array([True, False, True])
    dx, dy = ag.grad(lambda a, b: np.sum(np.where(c, a, b) * [1.0, 2.0, 3.0]), argnum=(0, 1))(
        x, y)
    np.testing.assert_array_equal(dx, [1.0, 0.0, 3.0])
    np.testing.assert_array_equal(dy, [0.0, 2.0, 0.0])


def test_power_with_tensor_exponent_values():
    a, b = np.array([2.0, 3.0]), np.array([3.0, 0.0])
    da, db = ag.grad(lambda u, v: np.sum(u ** v), argnum=(0, 1))(a, b)
    np.testing.assert_allclose(da, [12.0, 0.0])
    np.testing.assert_allclose(db, [8.0 * np.log(2.0), np.log(3.0)])


def test_remainder_values():
    a, b = np.array([7.5, -7.5]), np.array([2.0, 2.0])
    da, db = ag.grad(lambda u, v: np.sum(u % v), argnum=(0, 1))(a, b)
    np.testing.assert_array_equal(da, [1.0, 1.0])
    np.testing.assert_array_equal(db, [-3.0, 4.0])


def test_gradcheck_reference_is_float64_for_a_0d_float32_argument():
    # (a + 100) ** 2 in float32 is ~1e4, whose rounding (~1e-3) swamps a step of 1e-6.
    check(lambda a: (a + 100.0) ** 2 * np.float32(1.0), [np.array(0.5, dtype=np.float32)])


@pytest.mark.parametrize("x", [shape(2, 3), strided(4, 3), transposed(4, 3)], ids=str)
def test_python_scalar_arguments(x):
    """Python numbers as differentiated arguments get Python float gradients."""
    v = x.make(np.random.default_rng(3), real, np.float64)
    gx, gs = ag.grad(lambda a, s: np.sum(a * s + s ** 2 * np.sin(a)), argnum=(0, 1))(v, 0.7)
    assert isinstance(gs, float)
    np.testing.assert_allclose(gs, np.sum(v + 1.4 * np.sin(v)))
    np.testing.assert_allclose(gx, 0.7 + 0.49 * np.cos(v))
