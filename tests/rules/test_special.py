"""Gradient table of ``minitorch_ag/rules/special.py``.

``logsumexp``, ``softmax`` and ``log_softmax`` (NumPy only) are checked always, over their axis,
``keepdims`` and weight forms; the ``scipy.special`` ufuncs only where SciPy is installed (it is
optional: without it their cases are absent and the SciPy-only tests skip). Every case runs the
four table checks of ``_cases.table_tests``: gradcheck on the shape grid in float64 and float32,
second order, non-contiguous views and every calling form.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag.rules import special
from minitorch_ag.rules.special import log_softmax, logsumexp, softmax

from ._cases import (
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

try:
    import scipy.special as sc
except ImportError:  # optional: the SciPy cases are left out, the SciPy tests skip
    sc = None

AT_LEAST_1D = [(shape(5),), (shape(2, 3),), (transposed(4, 3),), (strided(4, 3),)]
AT_LEAST_2D = [(shape(2, 3),), (shape(1, 4),), (transposed(4, 3),), (strided(4, 3),)]
# Weights b for logsumexp, broadcast against a in both directions.
WEIGHTED = [
    (shape(2, 3), shape(3)),
    (shape(3), shape(2, 3)),
    (shape(5), shape(5)),
    (strided(4, 3), transposed(4, 3)),
]
NEGATIVE = intervals((-2.0, -0.5))  # weights whose sum is negative (return_sign)


def reductions(name, fn, **forms):
    """Cases of ``fn(x, axis=...)`` for axis None, -1, 0 and (0, 1) (``softmax`` ...)."""
    return [
        case(name, lambda x: fn(x), real, covers=fn, **forms),
        case(f"{name}-axis=-1", lambda x: fn(x, axis=-1), real, covers=fn, grid=AT_LEAST_1D,
             positional=lambda x: fn(x, -1)),
        case(f"{name}-axis=0", lambda x: fn(x, axis=0), real, covers=fn, grid=AT_LEAST_2D),
        case(f"{name}-axis=(0,1)", lambda x: fn(x, axis=(0, 1)), real, covers=fn,
             grid=AT_LEAST_2D),
    ]


TABLE = [
    *reductions("logsumexp", logsumexp),
    case("logsumexp-axis=0-keepdims", lambda x: logsumexp(x, axis=0, keepdims=True), real,
         covers=logsumexp, grid=AT_LEAST_2D),
    case("logsumexp-keepdims", lambda x: logsumexp(x, keepdims=True), real, covers=logsumexp),
    case("logsumexp-weights", lambda a, b: logsumexp(a, axis=-1, b=b), real, positive,
         covers=logsumexp, grid=WEIGHTED, positional=lambda a, b: logsumexp(a, -1, b)),
    case("logsumexp-weights-all", lambda a, b: logsumexp(a, b=b, keepdims=True), real,
         positive, covers=logsumexp, grid=WEIGHTED),
    case("logsumexp-return-sign", lambda a, b: logsumexp(a, -1, b, return_sign=True)[0], real,
         NEGATIVE, covers=logsumexp, grid=WEIGHTED),
    *reductions("softmax", softmax),
    *reductions("log_softmax", log_softmax),
]

if sc is not None:
    from minitorch_ag.rules.special import polygamma

    UNIT = intervals((-0.9, 0.9))
    AROUND_ONE = intervals((0.1, 1.9))
    PROBABILITY = intervals((0.1, 0.9))
    # Away from the poles of gamma and digamma at 0, -1, -2, ...
    OFF_POLES = intervals((-1.8, -1.2), (0.5, 3.0))
    ABOVE_MINUS_ONE = intervals((-0.5, 2.0))

    def zeros_on_checker(x):
        """A constant of ``x``'s shape: 0 on a checkerboard, 1.5 elsewhere (xlogy's x)."""
        s = np.shape(x)
        return np.where(np.indices(s).sum(axis=0) % 2 == 0, 0.0, 1.5)

    TABLE += [
        case("erf", sc.erf, real, main="scipy"),
        case("erfc", sc.erfc, real, main="scipy"),
        case("erfinv", sc.erfinv, UNIT, main="scipy"),
        case("erfcinv", sc.erfcinv, AROUND_ONE, main="scipy"),
        case("gamma", sc.gamma, OFF_POLES, main="scipy"),
        case("gammaln", sc.gammaln, OFF_POLES, main="scipy"),
        case("digamma", sc.digamma, OFF_POLES, main="scipy", psi=sc.psi),
        case("polygamma-1", lambda x: polygamma(1, x), OFF_POLES, covers=polygamma),
        case("polygamma-2", lambda x: polygamma(2, x), positive, covers=polygamma),
        case("expit", sc.expit, real, main="scipy"),
        case("logit", sc.logit, PROBABILITY, main="scipy"),
        case("log_expit", sc.log_expit, real, main="scipy"),
        case("xlogy", sc.xlogy, real, positive, main="scipy"),
        case("xlogy-zeros", lambda y: sc.xlogy(zeros_on_checker(y), y), positive,
             covers=sc.xlogy, main="scipy"),
        case("xlog1py", sc.xlog1py, real, ABOVE_MINUS_ONE, main="scipy"),
        case("entr", sc.entr, positive, main="scipy"),
        case("i0", sc.i0, real, main="scipy"),
        case("i1", sc.i1, real, main="scipy"),
        case("i0e", sc.i0e, nonzero, main="scipy"),
        case("i1e", sc.i1e, nonzero, main="scipy"),
        case("iv-integer-order", lambda z: sc.iv(2, z), real, covers=sc.iv, main="scipy"),
        case("iv", lambda z: sc.iv(1.5, z), positive, covers=sc.iv, main="scipy"),
        case("ive", lambda z: sc.ive(0.5, z), positive, covers=sc.ive, main="scipy"),
        case("ive-integer-order", lambda z: sc.ive(1, z), nonzero, covers=sc.ive,
             main="scipy"),
    ]


# The four checks of every table (see _cases.table_tests).
test_gradient, test_second_order, test_views_match_contiguous, test_entry_points = (
    table_tests(TABLE))


# -- values and conventions -----------------------------------------------------------------


def test_logsumexp_gradient_values():
    a = np.log(np.array([[1.0, 3.0], [2.0, 2.0]]))
    b = np.array([1.0, 2.0])
    ga, gb = ag.grad(lambda u, v: np.sum(logsumexp(u, axis=1, b=v)), argnum=(0, 1))(a, b)
    # row sums of b * exp(a): 7 and 6
    np.testing.assert_allclose(ga, [[1 / 7, 6 / 7], [2 / 6, 4 / 6]])
    np.testing.assert_allclose(gb, [1 / 7 + 2 / 6, 3 / 7 + 2 / 6])


def test_logsumexp_ignores_minus_infinity_entries():
    a = np.array([-np.inf, 0.0, 0.0])
    np.testing.assert_array_equal(ag.grad(logsumexp)(a), [0.0, 0.5, 0.5])
    assert logsumexp(np.array([-np.inf, -np.inf])) == -np.inf
    assert logsumexp(np.zeros(0)) == -np.inf


def test_logsumexp_return_sign_values():
    a = np.array([0.0, np.log(3.0)])
    b = np.array([1.0, -1.0])  # s = 1 - 3 = -2
    r, s = logsumexp(a, b=b, return_sign=True)
    np.testing.assert_allclose(r, np.log(2.0))
    assert s == -1.0
    # d log|s| / da = b exp(a) / s
    np.testing.assert_allclose(ag.grad(lambda u: logsumexp(u, b=b, return_sign=True)[0])(a),
                               [-0.5, 1.5])


def test_softmax_rows_sum_to_one_and_gradients_sum_to_zero():
    x = np.random.default_rng(5).standard_normal((3, 4))
    np.testing.assert_allclose(np.sum(softmax(x, axis=1), axis=1), 1.0)
    g = ag.grad(lambda u: np.sum(softmax(u, axis=1) * np.arange(4.0)))(x)
    np.testing.assert_allclose(np.sum(g, axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.exp(log_softmax(x, axis=1)), softmax(x, axis=1))


def test_the_wrappers_differentiate_through_the_param_interface():
    w = ag.Param(np.array([[0.5, -1.0, 2.0], [0.1, 0.2, 0.3]]))
    tape = ag.diff(lambda: -np.sum(log_softmax(w, axis=1)[:, 0]))
    np.testing.assert_allclose(ag.grad(tape, w), softmax(w.value, axis=1) - [[1.0, 0.0, 0.0]])


# -- SciPy --------------------------------------------------------------------------------------


def test_scipy_cases_are_in_the_table():
    pytest.importorskip("scipy.special")
    assert special.HAVE_SCIPY
    assert {"erf", "gammaln", "digamma", "xlogy", "i1e"} <= {c.name for c in TABLE}


@pytest.mark.parametrize("name", ["logsumexp", "softmax", "log_softmax"])
def test_wrappers_match_scipy(name):
    scipy_special = pytest.importorskip("scipy.special")
    ours, theirs = getattr(special, name), getattr(scipy_special, name)
    x = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    for axis in (None, 0, -1, (0, 2)):
        got, expected = ours(x, axis=axis), theirs(x, axis=axis)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
        assert np.result_type(got) == np.result_type(expected) == np.float32


def test_logsumexp_weights_and_sign_match_scipy():
    scipy_special = pytest.importorskip("scipy.special")
    a = np.random.default_rng(3).standard_normal((2, 3))
    b = np.array([1.0, -2.0, 0.5])
    for kwargs in ({"axis": 1, "b": b, "return_sign": True},
                   {"axis": 0, "b": np.abs(b), "keepdims": True}):
        got, expected = logsumexp(a, **kwargs), scipy_special.logsumexp(a, **kwargs)
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_scipy_logsumexp_itself_cannot_see_tensors():
    """Why the wrappers exist: SciPy's Python functions convert Tensors with np.asarray."""
    scipy_special = pytest.importorskip("scipy.special")
    with pytest.raises(TypeError, match="would lose its gradient"):
        ag.grad(lambda u: scipy_special.logsumexp(u))(np.ones(3))


def test_xlogy_at_zero():
    scipy_special = pytest.importorskip("scipy.special")
    x, y = np.array([0.0, 0.0, 2.0]), np.array([0.0, 3.0, 3.0])
    with np.errstate(divide="ignore"):  # d/dx at y = 0 is log(0) = -inf
        gx, gy = ag.grad(lambda u, v: np.sum(scipy_special.xlogy(u, v)), argnum=(0, 1))(x, y)
    np.testing.assert_array_equal(gy, [0.0, 0.0, 2.0 / 3.0])
    np.testing.assert_allclose(gx, [-np.inf, np.log(3.0), np.log(3.0)])


def test_gammaln_third_order():
    pytest.importorskip("scipy.special")
    check(lambda x: ag.grad(lambda u: np.sum(sc.gammaln(u)))(x), [np.array([0.7, 2.5, -1.5])],
          order=2)


_WITHOUT_SCIPY = """
import sys
sys.modules["scipy"] = None  # "import scipy" now raises ImportError
import numpy as np
import minitorch_ag as ag
from minitorch_ag.rules import special
from minitorch_ag.registry import PRIMITIVES
assert not special.HAVE_SCIPY
assert not any(p.name.startswith("scipy.") for p in PRIMITIVES.values())
g = ag.grad(lambda u: special.logsumexp(u))(np.zeros(4))
assert np.allclose(g, 0.25), g
try:
    special.polygamma(1, 2.0)
except ImportError as e:
    assert "needs SciPy" in str(e)
else:
    raise AssertionError("polygamma without SciPy did not raise")
print("ok")
"""


def test_works_without_scipy():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, "-c", _WITHOUT_SCIPY], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
