"""Shared pieces of the gradient tables in ``tests/rules``: domains, shape specs, cases, checks.

A table is a list of :class:`Case` lines, one per primitive (or per calling form of one), in
the spirit of AutoGrad.jl's ``randcheck(acos, abs_lt_1)``: the function, the domain of each
argument, the shapes to check it at and the registered functions it exercises (``covers``,
which ``test_coverage_meta.py`` holds against ``minitorch_ag.registry.PRIMITIVES``).

Every check differentiates ``sum(f(*args) * W)`` for a fixed random ``W`` of ``f``'s output
shape, so the rules see a generic incoming gradient (not ones), and second-order checks
differentiate ``sum(sin(f(*args)) * W)``, so the gradient rules are fed a tracked incoming
gradient and are differentiated themselves.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag.registry import PRIMITIVES

DTYPES = (np.float64, np.float32)
DTYPE_IDS = ("float64", "float32")

Domain = Callable[[np.random.Generator, tuple], Any]


# -- random numbers ---------------------------------------------------------------------------


def make_rng(*parts: Any) -> np.random.Generator:
    """A generator seeded from ``parts`` (a test's case, shapes and dtype): reproducible."""
    return np.random.default_rng(zlib.crc32(repr(parts).encode()))


# -- input domains: (rng, shape) -> float64 values --------------------------------------------


def real(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Standard normal values."""
    return rng.standard_normal(shape)


def positive(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Values in [0.5, 2] (log, sqrt, bases of powers with tensor exponents)."""
    return rng.uniform(0.5, 2.0, shape)


def nonzero(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Values of magnitude in [0.5, 1.5], either sign (divisors, abs, prod)."""
    sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return sign * rng.uniform(0.5, 1.5, shape)


def intervals(*spans: tuple[float, float]) -> Domain:
    """Values drawn uniformly from the union of ``spans`` (to stay away from kinks)."""
    lo, hi = np.array(spans, dtype=np.float64).T

    def domain(rng: np.random.Generator, shape: tuple) -> np.ndarray:
        k = rng.integers(len(spans), size=shape)
        return rng.uniform(lo[k], hi[k])

    domain.__name__ = "intervals" + repr(spans)
    return domain


# -- shape specs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """How to build one argument: a base shape and an optional view (to be non-contiguous)."""

    name: str
    base: tuple
    view: Callable[[np.ndarray], np.ndarray] | None = None

    def make(self, rng: np.random.Generator, domain: Domain, dtype: Any) -> np.ndarray:
        a = np.asarray(domain(rng, self.base), dtype=np.float64).reshape(self.base)
        a = a.astype(dtype)
        return a if self.view is None else self.view(a)

    def __str__(self) -> str:
        return self.name


def _dims(dims: Sequence[int]) -> str:
    return "(" + ",".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"


def shape(*dims: int) -> Spec:
    """A contiguous array of shape ``dims`` (``shape()`` is 0-d)."""
    return Spec(_dims(dims), tuple(dims))


def strided(*dims: int) -> Spec:
    """A (rows, cols) view with a column step of 2: ``randn(rows, 2 * cols)[:, ::2]``."""
    rows, cols = dims
    return Spec(f"strided({rows},{cols})", (rows, 2 * cols), lambda a: a[:, ::2])


def transposed(*dims: int) -> Spec:
    """A transposed (Fortran-ordered) array of shape ``dims``: ``randn(*dims[::-1]).T``."""
    return Spec("transposed" + _dims(dims), tuple(dims[::-1]), lambda a: a.T)


def as_spec(s: Spec | tuple) -> Spec:
    return s if isinstance(s, Spec) else shape(*s)


# The default shape grids, by number of arguments: 0-d, size-1, broadcast pairs and
# non-contiguous views (the entry-point tests use the last entry).
UNARY_GRID = (
    (shape(),), (shape(1),), (shape(5),), (shape(2, 3),), (transposed(4, 3),),
    (strided(4, 3),),
)
BINARY_GRID = (
    (shape(), shape()),
    (shape(1), shape(1)),
    (shape(4), shape()),
    (shape(), shape(2, 3)),
    (shape(2, 3), shape(3)),
    (shape(1, 3), shape(2, 1)),
    (strided(4, 3), transposed(4, 3)),
    (strided(4, 3), shape(3)),
    (shape(3, 1), shape(1, 4)),
)
TERNARY_GRID = (
    (shape(), shape(), shape()),
    (shape(5), shape(5), shape(5)),
    (strided(4, 3), shape(), shape(3)),
    (shape(2, 3), shape(3), shape(2, 1)),
)
GRIDS = {1: UNARY_GRID, 2: BINARY_GRID, 3: TERNARY_GRID}


def grid_id(specs: Sequence[Spec]) -> str:
    return ",".join(map(str, specs))


# -- cases ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Case:
    """One line of a gradient table.

    ``fn`` is the primary calling form (labelled ``main``); ``forms`` are the other entry
    points to the same rule (``"op"``: the Python operator, ``"method"``: the Tensor method,
    ...). ``grid`` lists the argument specs to check at; the entry-point tests use the last
    one that no known core bug affects. ``covers`` are the registered functions (or primitive
    names) the case exercises. ``order2`` says whether second derivatives are checked;
    ``tol`` holds extra ``gradcheck`` keywords (``eps``, ``rtol``, ``atol``); ``xfail`` the
    grid entries where a known core bug makes the check fail.
    """

    name: str
    fn: Callable[..., Any]
    domains: tuple
    covers: tuple
    grid: tuple
    main: str = "np"
    order2: bool = True
    forms: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    tol: Mapping[str, float] = field(default_factory=dict)
    xfail: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name

    def all_forms(self) -> dict[str, Callable[..., Any]]:
        return {self.main: self.fn, **self.forms}

    def inputs(self, specs: Sequence[Spec], dtype: Any, *salt: Any) -> list[np.ndarray]:
        rng = make_rng(self.name, grid_id(specs), np.dtype(dtype).name, *salt)
        return [s.make(rng, d, dtype) for s, d in zip(specs, self.domains, strict=True)]


def case(name: str, fn: Callable[..., Any], *domains: Domain, covers: Any = None,
         grid: Sequence[Sequence[Spec | tuple]] | None = None, main: str = "np",
         order2: bool = True, tol: Mapping[str, float] | None = None,
         xfail: Mapping[str, str] | None = None, **forms: Callable[..., Any]) -> Case:
    """Build a :class:`Case`; ``covers`` defaults to ``fn`` itself, ``grid`` to the arity's.

    ``xfail`` maps ``"<grid id>-<dtype>"`` to the core bug that makes that check fail.
    """
    if covers is None:
        covers = (fn,)
    elif not isinstance(covers, tuple):
        covers = (covers,)
    specs = GRIDS[len(domains)] if grid is None else tuple(
        tuple(as_spec(s) for s in g) for g in grid)
    return Case(name, fn, tuple(domains), covers, specs, main, order2, dict(forms),
                dict(tol or {}), dict(xfail or {}))


def _marks(c: Case, specs: Sequence[Spec], dtype: Any) -> list[Any]:
    reason = c.xfail.get(f"{grid_id(specs)}-{np.dtype(dtype).name}")
    return [pytest.mark.xfail(reason=reason, strict=True)] if reason else []


def grid_params(table: Sequence[Case], dtypes: Sequence[Any] = DTYPES, *,
                order2: bool = False) -> list[Any]:
    """``pytest.param(case, specs, dtype)`` for every case, grid entry and dtype.

    With ``order2``, only the cases whose second derivatives are checked. Known core bugs
    mark their tests ``xfail(strict=True)``.
    """
    return [pytest.param(c, g, d, id=f"{c.name}-{grid_id(g)}-{np.dtype(d).name}",
                         marks=_marks(c, g, d))
            for c in table if c.order2 or not order2 for g in c.grid for d in dtypes]


def layout_params(table: Sequence[Case]) -> list[Any]:
    """``pytest.param(case, specs, dtype)`` for the grid entries with non-contiguous views."""
    return [pytest.param(c, g, d, id=f"{c.name}-{grid_id(g)}-{np.dtype(d).name}")
            for c in table for g in c.grid if any(s.view is not None for s in g)
            for d in DTYPES]


def entry_specs(c: Case) -> tuple[Sequence[Spec], list[Any]]:
    """The grid entry the entry-point tests use: the last that no known core bug affects."""
    for g in reversed(c.grid):
        if not _marks(c, g, np.float64):
            return g, []
    return c.grid[-1], _marks(c, c.grid[-1], np.float64)


def form_params(table: Sequence[Case]) -> list[Any]:
    """``pytest.param(case, form)`` for every case and calling form."""
    return [pytest.param(c, f, id=f"{c.name}-{f}", marks=entry_specs(c)[1])
            for c in table for f in c.all_forms()]


# -- checks -----------------------------------------------------------------------------------


def weights(fn: Callable[..., Any], args: Sequence[Any], rng: np.random.Generator) -> Any:
    """A random array of ``fn``'s output shape and dtype (computed on plain values).

    A Python float for a 0-d output: weakly typed (NEP 50), it keeps a float32 result float32.
    """
    out = fn(*args)
    w = rng.standard_normal(np.shape(out)).astype(np.result_type(out))
    return float(w) if np.ndim(out) == 0 else w


def scalarize(fn: Callable[..., Any], w: Any, *, nonlinear: bool = False) -> Callable[..., Any]:
    """``sum(fn(*args) * w)``; with ``nonlinear``, ``sum(sin(fn(*args)) * w)``."""
    if nonlinear:
        return lambda *args: np.sum(np.sin(fn(*args)) * w)
    return lambda *args: np.sum(fn(*args) * w)


def check(fn: Callable[..., Any], args: Sequence[Any], *, order: int = 1,
          tol: Mapping[str, float] | None = None, seed: int = 0) -> None:
    """``ag.gradcheck`` of ``fn`` at ``args`` (through the function interface, ``grad(f)``)."""
    rng = np.random.default_rng(seed)
    f = scalarize(fn, weights(fn, args, rng), nonlinear=order == 2)
    # gradcheck lets NaN through (NaN > tolerance is False): make sure there is none.
    assert np.isfinite(f(*args)), "the checked function is not finite at these inputs"
    for i, g in enumerate(ag.grad(f, argnum=tuple(range(len(args))))(*args)):
        assert g is None or np.all(np.isfinite(g)), f"argument {i}: non-finite gradient {g}"
    try:
        ag.gradcheck(f, *args, order=order, seed=seed, **(tol or {}))
    except AssertionError as e:  # gradcheck's message says it all: no long traceback
        pytest.fail(str(e), pytrace=False)


def check_param_interface(fn: Callable[..., Any], args: Sequence[Any], seed: int = 0) -> None:
    """``Param`` + ``diff`` + ``grad(tape, p)`` agree with ``grad(f)`` (value, shape, dtype)."""
    rng = np.random.default_rng(seed)
    f = scalarize(fn, weights(fn, args, rng))
    expected = ag.grad(f, argnum=tuple(range(len(args))))(*args)
    params = [ag.Param(a) for a in args]
    tape = ag.diff(f, *params)
    np.testing.assert_allclose(ag.value(tape), f(*args), rtol=1e-6)
    for i, (p, e) in enumerate(zip(params, expected, strict=True)):
        g = ag.grad(tape, p)
        assert g is not None, f"argument {i}: no gradient through the Param interface"
        assert not isinstance(g, ag.Tensor), f"argument {i}: the gradient is a Tensor"
        assert np.shape(g) == np.shape(args[i]), f"argument {i}: shape {np.shape(g)}"
        assert np.result_type(g) == np.result_type(args[i]), f"argument {i}: dtype"
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7, err_msg=f"argument {i}")


def check_case(c: Case, specs: Sequence[Spec], dtype: Any, order: int = 1) -> None:
    """Gradcheck case ``c``'s primary form at ``specs`` in ``dtype``."""
    check(c.fn, c.inputs(specs, dtype), order=order, tol=c.tol)


def check_layout(c: Case, specs: Sequence[Spec], dtype: Any) -> None:
    """The gradient at non-contiguous views equals the gradient at contiguous copies."""
    args = c.inputs(specs, dtype)
    dense = [a.copy(order="C") for a in args]
    f = scalarize(c.fn, weights(c.fn, args, np.random.default_rng(0)))
    argnum = tuple(range(len(args)))
    got, expected = ag.grad(f, argnum=argnum)(*args), ag.grad(f, argnum=argnum)(*dense)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert np.result_type(g) == np.result_type(args[i]), f"argument {i}: dtype"
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6, err_msg=f"argument {i}")


def check_form(c: Case, form: str) -> None:
    """Case ``c`` called as ``form``: gradcheck (grad(f)) and the Param interface, float64."""
    fn = c.all_forms()[form]
    args = c.inputs(entry_specs(c)[0], np.float64, form)
    check(fn, args, tol=c.tol)
    check_param_interface(fn, args)


def resolve(cover: Any) -> Any:
    """The registered record (``Primitive``) of a function, a wrapper or a primitive's name."""
    if isinstance(cover, str):
        found = {id(p): p for p in PRIMITIVES.values() if p.name == cover}
        assert len(found) == 1, f"no unique primitive named {cover!r}"
        return next(iter(found.values()))
    prim = getattr(cover, "primitive", None)
    if prim is not None:
        return prim
    assert cover in PRIMITIVES, f"{cover!r} is not a registered primitive"
    return PRIMITIVES[cover]


def table_tests(table: Sequence[Case]) -> tuple[Callable[..., None], ...]:
    """The four checks every table runs, as test functions for the table's module.

    gradcheck on every grid entry and dtype; second order (float64) for the smooth cases;
    gradients at non-contiguous views equal to those at contiguous copies; every calling form.
    """

    @pytest.mark.parametrize(("c", "specs", "dtype"), grid_params(table))
    def test_gradient(c: Case, specs: Sequence[Spec], dtype: Any) -> None:
        check_case(c, specs, dtype)

    @pytest.mark.parametrize(("c", "specs", "dtype"),
                             grid_params(table, [np.float64], order2=True))
    def test_second_order(c: Case, specs: Sequence[Spec], dtype: Any) -> None:
        check_case(c, specs, dtype, order=2)

    @pytest.mark.parametrize(("c", "specs", "dtype"), layout_params(table))
    def test_views_match_contiguous(c: Case, specs: Sequence[Spec], dtype: Any) -> None:
        check_layout(c, specs, dtype)

    @pytest.mark.parametrize(("c", "form"), form_params(table))
    def test_entry_points(c: Case, form: str) -> None:
        check_form(c, form)

    return test_gradient, test_second_order, test_views_match_contiguous, test_entry_points
