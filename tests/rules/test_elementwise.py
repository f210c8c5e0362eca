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
from minitorch_ag.rules.elementwise import bessel_i

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

# Away from the singularities and branch points of tan, arcsin/arccos/arctanh and arccosh,
# from the powers of two (where frexp's mantissa jumps) and from the integers (modf).
TAN = intervals((-1.2, 1.2))
UNIT = intervals((-0.9, 0.9))
ABOVE_ONE = intervals((1.2, 3.0))
ABOVE_MINUS_ONE = intervals((-0.5, 2.0))
OFF_POWERS_OF_TWO = intervals((-1.9, -1.1), (0.55, 0.95), (1.1, 1.9), (2.2, 3.8))
OFF_INTEGERS = intervals((-1.9, -1.1), (-0.9, -0.1), (0.1, 0.9), (1.1, 1.9))


def wide(rng, shape):
    """Normal values of standard deviation 4: phases that unwrap has to correct."""
    return 4.0 * rng.standard_normal(shape)


def quarters(*xs):
    """A constant boolean mask of the broadcast shape of ``xs``, true at every fourth index."""
    s = np.broadcast_shapes(*(np.shape(x) for x in xs))
    return np.arange(int(np.prod(s))).reshape(s) % 4 == 1


def int_exponents(x):
    """A constant integer array of ``x``'s shape, in [-2, 2] (exponents for ldexp)."""
    return np.arange(np.size(x)).reshape(np.shape(x)) % 5 - 2


def zeros_on_checker(x):
    """A constant of ``x``'s shape: 0 on a checkerboard, +-1 elsewhere (heaviside's x1)."""
    return np.where(checker(x), 0.0, np.where(np.indices(np.shape(x)).sum(axis=0) % 4 == 1,
                                              1.0, -1.0))


def divmod_parts(a, b):
    q, r = np.divmod(a, b)
    return r + 0.25 * q  # the quotient is piecewise constant: no gradient through it


def frexp_parts(x):
    m, e = np.frexp(x)
    return m * e


def modf_parts(x):
    f, i = np.modf(x)
    return 2.0 * f + i


AT_LEAST_1D = [(shape(5),), (shape(2, 3),), (transposed(4, 3),), (strided(4, 3),)]

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
    case("fmod", np.fmod, real, nonzero),
    case("divmod", divmod_parts, real, nonzero, covers=np.divmod),
    case("divmod-builtin", lambda a, b: divmod(a, b)[1] + 0.25 * divmod(a, b)[0], real,
         nonzero, covers=np.remainder, main="op"),
    case("reciprocal", np.reciprocal, nonzero),
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
    case("float_power", np.float_power, positive, real),
    case("float_power-constant", lambda x: np.float_power(x, 3), real, covers=np.float_power),
    case("float_power-root", lambda x: np.float_power(x, 0.5), positive, covers=np.float_power),
    case("float_power-base", lambda x: np.float_power(1.5, x), real, covers=np.float_power),
    case("square", np.square, real),
    case("sqrt", np.sqrt, positive),
    case("cbrt", np.cbrt, nonzero),
    # -- exponentials and logarithms
    case("exp", np.exp, real),
    case("exp2", np.exp2, real),
    case("expm1", np.expm1, real),
    case("log", np.log, positive),
    case("log2", np.log2, positive),
    case("log10", np.log10, positive),
    case("log1p", np.log1p, ABOVE_MINUS_ONE),
    case("logaddexp", np.logaddexp, real, real),
    case("logaddexp2", np.logaddexp2, real, real),
    case("ldexp", lambda x: np.ldexp(x, int_exponents(x)), real, covers=np.ldexp),
    case("ldexp-scalar", lambda x: np.ldexp(x, 3), real, covers=np.ldexp),
    case("frexp", frexp_parts, OFF_POWERS_OF_TWO, covers=np.frexp),
    case("frexp-mantissa", lambda x: np.frexp(x)[0], OFF_POWERS_OF_TWO, covers=np.frexp),
    # -- trigonometric and hyperbolic
    case("sin", np.sin, real),
    case("cos", np.cos, real),
    case("tan", np.tan, TAN),
    case("arcsin", np.arcsin, UNIT),
    case("arccos", np.arccos, UNIT),
    case("arctan", np.arctan, real),
    case("arctan2", np.arctan2, nonzero, nonzero),
    case("hypot", np.hypot, nonzero, nonzero),
    case("sinh", np.sinh, real),
    case("cosh", np.cosh, real),
    case("tanh", np.tanh, real),
    case("arcsinh", np.arcsinh, real),
    case("arccosh", np.arccosh, ABOVE_ONE),
    case("arctanh", np.arctanh, UNIT),
    case("deg2rad", np.deg2rad, real),
    case("radians", np.radians, real),
    case("rad2deg", np.rad2deg, real),
    case("degrees", np.degrees, real),
    # -- sinc and Bessel functions
    case("sinc", np.sinc, real),
    case("i0", np.i0, real),
    case("bessel_i-0", lambda x: bessel_i(0, x), real, covers="bessel_i"),
    case("bessel_i-2", lambda x: bessel_i(2, x), real, covers="bessel_i"),
    # -- piecewise linear and selections
    case("absolute", np.absolute, nonzero, op=abs, method=lambda x: x.__abs__()),
    case("fabs", np.fabs, nonzero),
    case("maximum", np.maximum, real, real),
    case("minimum", np.minimum, real, real),
    case("maximum-scalar", lambda x: np.maximum(x, 0.0), nonzero, covers=np.maximum),
    case("minimum-scalar", lambda x: np.minimum(0.0, x), nonzero, covers=np.minimum),
    case("fmax", np.fmax, real, real),
    case("fmin", np.fmin, real, real),
    case("fmax-scalar", lambda x: np.fmax(x, 0.0), nonzero, covers=np.fmax),
    case("fmin-scalar", lambda x: np.fmin(0.0, x), nonzero, covers=np.fmin),
    # "+ b": every checked argument needs a gradient; the check then shows that the
    # function itself passes none to b.
    case("copysign", lambda a, b: np.copysign(a, b) + b, nonzero, nonzero, covers=np.copysign),
    case("heaviside", lambda a, b: np.heaviside(a, b) + a, nonzero, real, covers=np.heaviside),
    case("heaviside-at-zero", lambda x2: np.heaviside(zeros_on_checker(x2), x2), real,
         covers=np.heaviside),
    case("select", lambda a, b, d: np.select([checker(a, b, d), quarters(a, b, d)], [a, b], d),
         real, real, real, covers="np.select",
         keywords=lambda a, b, d: np.select(condlist=[checker(a, b, d), quarters(a, b, d)],
                                            choicelist=[a, b], default=d)),
    case("select-scalar-default", lambda a: np.select([a > 0.3, a < -0.2], [2.0 * a, a]),
         intervals((-1.5, -0.3), (-0.1, 0.2), (0.4, 1.5)), covers="np.select"),
    case("nextafter", lambda a, b: np.nextafter(a, b) + b, real, real, covers=np.nextafter),
    case("modf", modf_parts, OFF_INTEGERS, covers=np.modf),
    case("nan_to_num", np.nan_to_num, real),
    case("nan_to_num-keywords", lambda x: np.nan_to_num(x, copy=True, nan=1.0, posinf=2.0),
         real, covers=np.nan_to_num),
    case("unwrap", np.unwrap, wide, grid=AT_LEAST_1D),
    case("unwrap-axis-period", lambda x: np.unwrap(x, axis=0, period=4.0), wide,
         covers=np.unwrap, grid=AT_LEAST_1D[1:]),
    # -- real and imaginary parts (real inputs)
    case("real", np.real, real, property=lambda x: x.real),
    case("conjugate", np.conjugate, real, alias=np.conj, method=lambda x: x.conj(),
         method_long=lambda x: x.conjugate()),
    case("real_if_close", np.real_if_close, real),
    case("imag", lambda x: 2.0 * x + np.imag(x), real, covers=np.imag,
         property=lambda x: 2.0 * x + x.imag),
    case("angle", lambda x: 2.0 * x + np.angle(x), nonzero, covers=np.angle,
         degrees=lambda x: 2.0 * x + np.angle(x, deg=True)),
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


# -- zero-gradient sample calls (read by test_coverage_meta.py) ----------------------------

ZEROGRAD_CALLS = [
    ("around", np.around, lambda x, y, i, j: np.around(x, 2)),
    ("fix", np.fix, lambda x, y, i, j: np.fix(3.0 * x)),
    ("spacing", np.spacing, lambda x, y, i, j: np.spacing(x)),
    ("isneginf", np.isneginf, lambda x, y, i, j: np.isneginf(np.where(x > 0, -np.inf, x))),
    ("isposinf", np.isposinf, lambda x, y, i, j: np.isposinf(np.where(x > 0, np.inf, y))),
    ("iscomplex", np.iscomplex, lambda x, y, i, j: np.iscomplex(x)),
    ("isreal", np.isreal, lambda x, y, i, j: np.isreal(y)),
    ("isnat", np.isnat, lambda x, y, i, j: np.isnat(i.astype("datetime64[D]"))),
    ("array_equiv", np.array_equiv, lambda x, y, i, j: np.array_equiv(x, x[0:1])),
    ("gcd", np.gcd, lambda x, y, i, j: np.gcd(i, j)),
    ("lcm", np.lcm, lambda x, y, i, j: np.lcm(i, 6)),
    ("bitwise_count", np.bitwise_count, lambda x, y, i, j: np.bitwise_count(i)),
]


# -- conventions: NaN, kinks, integer parts, tuple outputs --------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("fn", [np.fmax, np.fmin], ids=lambda f: f.__name__)
def test_fmax_fmin_give_the_gradient_to_the_argument_that_is_not_nan(fn, dtype):
    x = np.array([np.nan, 2.0, np.nan, 1.0, 0.5], dtype=dtype)
    y = np.array([1.0, np.nan, np.nan, 1.0, 3.0], dtype=dtype)
    dx, dy = ag.grad(lambda a, b: np.sum(fn(a, b) * np.arange(1.0, 6.0)), argnum=(0, 1))(x, y)
    x_wins = 0.0 if fn is np.fmax else 5.0
    np.testing.assert_array_equal(dx, np.array([0.0, 2.0, 3.0, 2.0, x_wins], dtype=dtype))
    np.testing.assert_array_equal(dy, np.array([1.0, 0.0, 0.0, 2.0, 5.0 - x_wins], dtype=dtype))
    assert dx.dtype == dy.dtype == dtype


def test_nan_to_num_passes_no_gradient_where_it_replaced():
    x = np.array([1.5, np.nan, np.inf, -np.inf, -2.0])
    g = ag.grad(lambda a: np.sum(np.nan_to_num(a, posinf=9.0, neginf=-9.0) * 3.0))(x)
    np.testing.assert_array_equal(g, [3.0, 0.0, 0.0, 0.0, 3.0])


def test_nan_to_num_in_place_is_refused_while_recording_and_works_outside():
    p = ag.Param(np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match=r"np\.nan_to_num\(x, copy=False\)"):
        ag.diff(lambda: np.sum(np.nan_to_num(p, copy=False)))
    np.nan_to_num(p, copy=False)  # outside diff: in place on the value, as NumPy does
    np.testing.assert_array_equal(p.value, [1.0, 0.0])


def test_heaviside_passes_the_gradient_to_x2_only_where_x1_is_zero():
    x1 = np.array([-1.0, 0.0, 2.0, 0.0])
    dx1, dx2 = ag.grad(lambda a, b: np.sum(np.heaviside(a, b) * np.array([1.0, 2.0, 3.0, 4.0])),
                       argnum=(0, 1))(x1, np.full(4, 0.5))
    np.testing.assert_array_equal(dx2, [0.0, 2.0, 0.0, 4.0])
    assert dx1 is None or not np.any(dx1)


def test_copysign_flips_the_gradient_where_the_signs_differ():
    a = np.array([1.5, -2.0, 3.0, -0.5])
    b = np.array([1.0, 1.0, -1.0, -0.0])
    g = ag.grad(lambda u: np.sum(np.copysign(u, b)))(a)
    np.testing.assert_array_equal(g, [1.0, -1.0, -1.0, 1.0])


def test_nextafter_moves_its_first_argument_one_step_so_the_gradient_is_one():
    g = ag.grad(lambda u: np.sum(np.nextafter(u, 10.0) * 2.0))(np.array([0.25, -3.0]))
    np.testing.assert_array_equal(g, [2.0, 2.0])


def test_tuple_outputs_values():
    a, b = np.array([7.5, -7.5]), np.array([2.0, 2.0])
    da, db = ag.grad(lambda u, v: np.sum(np.divmod(u, v)[1]), argnum=(0, 1))(a, b)
    np.testing.assert_array_equal(da, [1.0, 1.0])
    np.testing.assert_array_equal(db, [-3.0, 4.0])
    x = np.array([3.0, -0.3, 12.0])  # frexp: mantissas 0.75, -0.6, 0.75; exponents 2, -1, 4
    np.testing.assert_array_equal(ag.grad(lambda u: np.sum(np.frexp(u)[0]))(x), [0.25, 2.0, 1 / 16])
    np.testing.assert_array_equal(ag.grad(lambda u: np.sum(np.modf(u)[0] + np.modf(u)[1]))(x),
                                  [1.0, 1.0, 1.0])
    # Only a piecewise-constant output used: no gradient reaches the argument.
    for fn in (lambda u: np.frexp(u)[1] * 1.0, lambda u: np.modf(u)[1], lambda u: u // 2.0):
        g = ag.grad(lambda u, fn=fn: np.sum(fn(u)))(x)
        assert g is None or not np.any(g)


def test_ldexp_keeps_float32_and_scales_the_gradient():
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    g = ag.grad(lambda u: np.sum(np.ldexp(u, np.array([1, -1, 3]))))(x)
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g, [2.0, 0.5, 8.0])


# -- sinc and the Bessel series -------------------------------------------------------------


def _dsinc_reference(x):
    return (np.cos(np.pi * x) - np.sinc(x)) / x


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_sinc_derivatives_at_and_near_zero(dtype):
    x = np.array([0.0, 1e-8, -1e-3, 0.05, 0.0999, 0.1001, -0.3, 2.5], dtype=dtype)
    g = ag.grad(lambda u: np.sum(np.sinc(u)))(x)
    assert g.dtype == dtype
    wide = x.astype(np.float64)
    expected = np.where(wide == 0, 0.0, _dsinc_reference(np.where(wide == 0, 1.0, wide)))
    # the reference loses digits to cancellation near 0: compare there with its Taylor term
    expected = np.where(np.abs(wide) < 1e-2, -np.pi ** 2 / 3 * wide, expected)
    np.testing.assert_allclose(g, expected, rtol=1e-6 if dtype == np.float64 else 1e-4,
                               atol=1e-12 if dtype == np.float64 else 1e-6)
    # sinc''(0) = -pi^2 / 3, and the third derivative vanishes there (sinc is even)
    d2 = ag.grad(ag.grad(np.sinc))(0.0)
    d3 = ag.grad(ag.grad(ag.grad(np.sinc)))(0.0)
    np.testing.assert_allclose(d2, -np.pi ** 2 / 3, rtol=1e-12)
    assert abs(d3) < 1e-12
    check(np.sinc, [np.array([0.0, 0.02, -0.0999, 0.1001])], order=2)


def test_bessel_series_matches_numpy_i0_and_is_accurate_far_out():
    x = np.array([0.0, 1e-3, -0.7, 3.0, -12.5, 40.0, 300.0])
    np.testing.assert_allclose(bessel_i(0, x), np.i0(x), rtol=1e-13)
    # I_1 from the recurrence I_0 - I_2 = 2 I_1 / x, and the Wronskian-free identity
    # I_1' = I_0 - I_1 / x, both against the series itself
    nz = x[x != 0]
    np.testing.assert_allclose(bessel_i(0, nz) - bessel_i(2, nz), 2 * bessel_i(1, nz) / nz,
                               rtol=1e-12)
    assert bessel_i(1, 0.0) == 0.0 and bessel_i(3, -2.0) == -bessel_i(3, 2.0)
    assert bessel_i(0, np.float32(2.0)).dtype == np.float32
    with pytest.raises(ValueError, match="bessel_i: the order n must be an integer"):
        bessel_i(-1, x)


def test_i0_third_order():
    check(lambda x: ag.grad(lambda u: np.sum(np.i0(u) * u))(x), [np.array([-1.3, 0.2, 2.0])],
          order=2)


# -- complex inputs are refused, not silently mis-differentiated --------------------------


@pytest.mark.parametrize(("name", "fn"), [
    ("np.real", np.real), ("np.imag", np.imag), ("np.conjugate", np.conjugate),
    ("np.angle", np.angle), ("np.real_if_close", np.real_if_close),
], ids=lambda v: v if isinstance(v, str) else "")
def test_complex_inputs_raise_a_clear_error(name, fn):
    z = np.array([1.0 + 2.0j, -0.5j])
    with pytest.raises(TypeError, match=rf"{name}: the argument is complex"):
        ag.grad(lambda u: np.sum(np.abs(fn(u)) ** 2 if name == "np.conjugate" else fn(u)))(z)
