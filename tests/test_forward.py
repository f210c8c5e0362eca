"""Forward mode (``ag.jvp``, ``ag.linearize``): every gradient table's case, native rules
against the rules derived from the gradient rules, PyTorch's ``torch.func.jvp``, nesting."""

from __future__ import annotations

import operator

import numpy as np
import pytest
from rules._cases import Case, entry_specs, make_rng, resolve
from rules._tables import TABLES

import minitorch_ag as ag
from minitorch_ag.registry import PRIMITIVES

CASES = [pytest.param(c, id=f"{table}-{c.name}") for table, cases in TABLES.items()
         for c in cases]


def _inputs(c: Case) -> tuple[list[np.ndarray], list[np.ndarray], np.random.Generator]:
    args = c.inputs(entry_specs(c)[0], np.float64, "jvp")
    rng = make_rng(c.name, "tangents")
    tangents = [rng.standard_normal(np.shape(a)) for a in args]
    return args, tangents, rng


def _finite_difference(fn, args, tangents, eps=1e-6):
    plus = fn(*[(a + eps * t).astype(a.dtype) for a, t in zip(args, tangents, strict=True)])
    minus = fn(*[(a - eps * t).astype(a.dtype) for a, t in zip(args, tangents, strict=True)])
    return (np.asarray(plus, dtype=float) - np.asarray(minus, dtype=float)) / (2 * eps)


def _check_jvp(c: Case) -> np.ndarray:
    """``ag.jvp`` of case ``c`` equals ``<w, J t> = <J^T w, t>`` from reverse mode for a random
    ``w``, and the central difference along ``t``; returns the JVP."""
    args, tangents, rng = _inputs(c)
    copies = lambda: [a.copy() for a in args]  # noqa: E731  (some cases write into inputs)
    value, jt = ag.jvp(c.fn, copies(), tangents)
    np.testing.assert_allclose(value, c.fn(*copies()), rtol=1e-12, atol=1e-12)
    assert np.shape(jt) == np.shape(value)
    single = np.result_type(value) == np.float32  # a case that computes in float32
    # reverse mode: the adjoint identity, exact up to rounding
    w = rng.standard_normal(np.shape(value))
    _, back = ag.vjp(c.fn, *copies())
    grads = back(w)
    adjoint = sum(float(np.sum(g * t)) for g, t in zip(grads, tangents, strict=True)
                  if g is not None)
    tol = max(1e-5 if single else 1e-9, c.tol.get("rtol", 0.0))  # the case's own tolerance
    np.testing.assert_allclose(float(np.sum(w * jt)), adjoint, rtol=tol, atol=tol)
    # finite differences (a looser tolerance: they are approximate)
    eps = 1e-3 if single else c.tol.get("eps", 1e-6)
    fd = _finite_difference(c.fn, args, tangents, eps=eps)
    tol = 1e-2 if single else 1e-4
    np.testing.assert_allclose(jt, fd, rtol=tol, atol=tol / 10)
    return jt


@pytest.mark.parametrize("c", CASES)
def test_jvp_of_every_table_case(c: Case) -> None:
    _check_jvp(c)


def _natives() -> set[int]:
    return {id(p) for p in PRIMITIVES.values() if p.jvps or p.jvp_all is not None}


NATIVE_CASES = [pytest.param(c, id=f"{table}-{c.name}") for table, cases in TABLES.items()
                for c in cases if any(id(resolve(cv)) in _natives() for cv in c.covers)]


@pytest.mark.parametrize("c", NATIVE_CASES)
def test_native_rules_equal_the_derived_ones(c: Case, monkeypatch) -> None:
    """Each native JVP rule gives what the transpose trick derives from the gradient rule."""
    args, tangents, _ = _inputs(c)
    _, native = ag.jvp(c.fn, [a.copy() for a in args], tangents)
    for prim in {id(p): p for p in PRIMITIVES.values()}.values():
        monkeypatch.setattr(prim, "jvps", ())
        monkeypatch.setattr(prim, "jvp_all", None)
    _, derived = ag.jvp(c.fn, [a.copy() for a in args], tangents)
    tol = 1e-6 if np.result_type(native) == np.float32 else 1e-12
    np.testing.assert_allclose(native, derived, rtol=tol, atol=tol)


def test_coverage_reports_native_and_derived_jvp_rules() -> None:
    report = ag.coverage()
    assert {"np.exp", "np.matmul", "np.sum", "np.reshape", "np.einsum",
            "np.concatenate"} <= set(report.jvp_native)
    assert "np.sort" not in report.jvp_native and "np.sort" in report.differentiable
    assert set(report.jvp_native) <= set(report.differentiable)
    assert "natively in forward mode" in str(report)


# -- against PyTorch ----------------------------------------------------------------------

torch = pytest.importorskip("torch")

TORCH_PAIRS = [
    ("exp", lambda x: np.exp(x), lambda x: torch.exp(x), [(3, 4)]),
    ("tanh-sin", lambda x: np.tanh(np.sin(x) * x), lambda x: torch.tanh(torch.sin(x) * x),
     [(5,)]),
    ("log-sqrt", lambda x: np.log(x * x + 1) + np.sqrt(x * x + 2),
     lambda x: torch.log(x * x + 1) + torch.sqrt(x * x + 2), [(2, 3)]),
    ("matmul", lambda a, b: a @ b, lambda a, b: a @ b, [(3, 4), (4, 2)]),
    ("broadcast-div", lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1),
     [(2, 3), (3,)]),
    ("sum-mean", lambda x: np.sum(x, axis=0) * np.mean(x),
     lambda x: torch.sum(x, 0) * torch.mean(x), [(4, 3)]),
    ("einsum", lambda a, b: np.einsum("ij,jk->ik", a, b),
     lambda a, b: torch.einsum("ij,jk->ik", a, b), [(2, 3), (3, 4)]),
    ("index-reshape", lambda x: np.reshape(x[1:, ::2], (-1,)) ** 2,
     lambda x: torch.reshape(x[1:, ::2], (-1,)) ** 2, [(3, 4)]),
    ("concat-transpose", lambda a, b: np.concatenate([a, b.T], axis=0),
     lambda a, b: torch.cat([a, b.T], 0), [(2, 3), (3, 4)]),
    ("max-sort", lambda x: np.max(x, axis=1) + np.sort(x, axis=1)[:, 0],
     lambda x: torch.max(x, 1).values + torch.sort(x, 1).values[:, 0], [(3, 4)]),
    ("softmax", lambda x: np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True),
     lambda x: torch.softmax(x, -1), [(2, 5)]),
    ("solve-det", lambda a: np.linalg.solve(a @ a.T + 3 * np.eye(3), a[:, 0])
     * np.linalg.det(a @ a.T + np.eye(3)),
     lambda a: torch.linalg.solve(a @ a.T + 3 * torch.eye(3, dtype=torch.float64), a[:, 0])
     * torch.linalg.det(a @ a.T + torch.eye(3, dtype=torch.float64)), [(3, 3)]),
]


@pytest.mark.parametrize(("name", "f", "tf", "shapes"), TORCH_PAIRS,
                         ids=[p[0] for p in TORCH_PAIRS])
def test_jvp_matches_torch_func_jvp(name, f, tf, shapes) -> None:
    rng = make_rng("torch-jvp", name)
    args = [rng.standard_normal(s) for s in shapes]
    tangents = [rng.standard_normal(s) for s in shapes]
    value, jt = ag.jvp(f, args, tangents)
    tvalue, tjt = torch.func.jvp(tf, tuple(map(torch.tensor, args)),
                                 tuple(map(torch.tensor, tangents)))
    np.testing.assert_allclose(value, tvalue.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jt, tjt.numpy(), rtol=1e-10, atol=1e-12)


# -- the interface --------------------------------------------------------------------------


def test_jvp_of_numbers_containers_and_several_outputs() -> None:
    assert ag.jvp(np.sin, (0.0,), (2.0,)) == (0.0, 2.0)
    f = lambda d: (d["a"] * d["b"][0], np.sum(d["b"][1]))  # noqa: E731
    primals = {"a": np.array([1.0, 2.0]), "b": [np.array([3.0, 4.0]), np.ones(3)]}
    tangents = {"a": np.array([1.0, 0.0]), "b": [np.array([0.0, 1.0]), np.arange(3.0)]}
    (p, s), (dp, ds) = ag.jvp(f, (primals,), (tangents,))
    np.testing.assert_allclose(p, [3.0, 8.0])
    np.testing.assert_allclose(dp, [3.0, 2.0])  # a' b + a b'
    assert s == 3.0 and ds == 3.0


def test_jvp_sees_params_as_constants_and_keeps_float32() -> None:
    w = ag.Param(np.array([2.0, -1.0], dtype=np.float32))
    x = np.array([0.5, 1.5], dtype=np.float32)
    value, jt = ag.jvp(lambda x: np.tanh(w * x), (x,), (np.ones(2, dtype=np.float32),))
    assert jt.dtype == np.float32 and value.dtype == np.float32
    np.testing.assert_allclose(jt, w.value * (1 - np.tanh(w.value * x) ** 2), rtol=1e-6)


def test_output_independent_of_the_input_has_a_zero_tangent() -> None:
    value, jt = ag.jvp(lambda x: np.ones(3) * 2.0, (np.ones(2),), (np.ones(2),))
    np.testing.assert_array_equal(jt, np.zeros(3))


def test_in_place_updates_inside_f() -> None:
    def f(x):
        y = x * 1.0
        y[0] = y[1] ** 2
        y += x
        return y

    x, t = np.array([1.0, 3.0]), np.array([0.5, 2.0])
    np.testing.assert_allclose(ag.jvp(f, (x,), (t,))[1], [2 * 3.0 * 2.0 + 0.5, 4.0])


def test_linearize_records_once_and_sweeps_per_tangent() -> None:
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    y, lin = ag.linearize(lambda x: np.sin(a @ x), np.array([0.1, 0.2]))
    for e in np.eye(2):
        np.testing.assert_allclose(lin(e), np.cos(a @ [0.1, 0.2]) * (a @ e))
    with pytest.raises(TypeError, match="one tangent per argument"):
        lin(np.ones(2), np.ones(2))


def test_tangent_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="tangent of shape"):
        ag.jvp(np.sin, (np.ones(3),), (np.ones(2),))


def test_jvp_is_differentiable_and_nests() -> None:
    """``grad`` of a JVP (reverse over forward) and a JVP of a JVP (forward over forward)."""
    f = lambda x: np.sum(np.sin(x) * x ** 2)  # noqa: E731
    x, v = np.array([0.3, -1.2]), np.array([1.0, 2.0])
    hv = (2 * np.sin(x) + 4 * x * np.cos(x) - x ** 2 * np.sin(x)) * v
    g_of_jvp = ag.grad(lambda x: ag.jvp(f, (x,), (v,))[1])(x)
    np.testing.assert_allclose(g_of_jvp, hv, rtol=1e-12)
    jvp_of_jvp = ag.jvp(lambda x: ag.jvp(f, (x,), (v,))[1], (x,), (np.array([1.0, 0.0]),))[1]
    np.testing.assert_allclose(jvp_of_jvp, hv[0], rtol=1e-12)


def test_defjvp_for_a_user_primitive_and_its_errors() -> None:
    calls = []
    cube = ag.primitive(lambda x: x ** 3, lambda dy, y, x: dy * 3 * x ** 2)
    ag.defjvp(cube, lambda t, y, x: calls.append(1) or t * 3 * x ** 2)
    assert ag.jvp(cube, (2.0,), (1.0,)) == (8.0, 12.0) and calls == [1]
    with pytest.raises(TypeError, match="not a differentiable primitive"):
        ag.defjvp(np.floor, lambda t, y, x: t)
    with pytest.raises(TypeError, match="not both"):
        ag.defjvp(cube, lambda t, y, x: t, jvp_all=lambda ts, y, x: ts[0])
    assert PRIMITIVES[operator.getitem].jvps  # the tables gave indexing a native rule


def test_docstring_examples_run() -> None:
    import doctest  # noqa: PLC0415
    import sys  # noqa: PLC0415

    for name in ("minitorch_ag.forward", "minitorch_ag.jacobians", "minitorch_ag.primitive"):
        result = doctest.testmod(sys.modules[name])
        assert result.failed == 0 and result.attempted > 0, name
