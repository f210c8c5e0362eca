"""Gradient table of ``minitorch_ag/rules/linalg.py``: inv, pinv, det, slogdet, solve, cholesky,
eigh, eigvalsh, svd, svdvals, qr, matrix_power, tensorinv, tensorsolve, lstsq and cond, on
single matrices, stacks and non-contiguous views, in float64 and float32 and to second order;
tuple results read by index, by unpacking and by field name.

Inputs are well conditioned, so that finite differences mean something: invertible matrices
near ``2 I``; symmetric positive definite matrices with eigenvalues about 1, 2, 3 ...;
matrices with singular values about k + 0.5, ..., 1.5. Eigen- and singular vectors are checked
with their sign fixed (each column times the sign of its first entry), which makes the checked
function independent of the sign NumPy happens to pick.
"""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_ag as ag

from ._cases import Spec, case, real, shape, table_tests

# -- domains: (rng, shape) -> matrices of that shape ------------------------------------------


def _orthogonal(rng, n, lead):
    q, r = np.linalg.qr(rng.standard_normal((*lead, n, n)))
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def invertible(rng, shape):
    """Square matrices near ``2 I`` (determinants far from zero)."""
    n = shape[-1]
    return rng.standard_normal(shape) / np.sqrt(n) + 2 * np.eye(n)


def spd(rng, shape):
    """Symmetric positive definite matrices with eigenvalues about 1, 2, ..., n (distinct)."""
    n, lead = shape[-1], shape[:-2]
    q = _orthogonal(rng, n, lead)
    lam = np.arange(1.0, n + 1) + 0.2 * rng.random((*lead, n))
    return (q * lam[..., None, :]) @ np.swapaxes(q, -1, -2)


def spread(rng, shape):
    """(m, n) matrices with distinct singular values about k + 0.5, ..., 1.5 (k = min(m, n))."""
    m, n, lead = shape[-2], shape[-1], shape[:-2]
    k = min(m, n)
    u, v = _orthogonal(rng, m, lead)[..., :k], _orthogonal(rng, n, lead)[..., :k]
    s = np.arange(k, 0, -1) + 0.5 + 0.2 * rng.random((*lead, k))
    return (u * s[..., None, :]) @ np.swapaxes(v, -1, -2)


# -- non-contiguous matrices whose values still come from the domain --------------------------


class _Every2nd(Spec):
    """Every other column of a wider array: the domain's matrix, not contiguous."""

    def make(self, rng, domain, dtype):
        want = (*self.base[:-1], self.base[-1] // 2)
        full = real(rng, self.base)
        full[..., ::2] = domain(rng, want)
        return self.view(full.astype(dtype))


def every2nd(*dims):
    return _Every2nd(f"every2nd{dims}", (*dims[:-1], 2 * dims[-1]), lambda a: a[..., ::2])


def fortran(*dims):
    """A Fortran-ordered copy (not C-contiguous), counted as a view by the layout checks."""
    return Spec(f"fortran{dims}", tuple(dims), np.asfortranarray)


SQ = [[shape(3, 3)], [shape(1, 1)], [shape(2, 3, 3)], [every2nd(3, 3)], [fortran(3, 3)]]
SQ_SMALL = [[shape(3, 3)], [shape(2, 2, 2)], [every2nd(3, 3)]]
RECT = [[shape(3, 3)], [shape(4, 2)], [shape(2, 4)], [shape(2, 4, 3)], [every2nd(4, 2)],
        [fortran(2, 3)]]


# -- functions of tuple results that do not depend on NumPy's choice of signs ------------------


def _fix_columns(v):
    return v * np.sign(v[..., :1, :])


def eigh_parts(res):
    w, v = res
    return np.concatenate([np.expand_dims(w, -2), _fix_columns(v)], axis=-2)


def svd_parts(u, s, vh):
    sign = np.sign(u[..., :1, :])
    flat = [np.reshape(u * sign, (*np.shape(u)[:-2], -1)), s,
            np.reshape(vh * np.swapaxes(sign, -1, -2), (*np.shape(vh)[:-2], -1))]
    return np.concatenate(flat, axis=-1)


def qr_parts(q, r):
    return np.concatenate([np.reshape(q, (*np.shape(q)[:-2], -1)),
                           np.reshape(r, (*np.shape(r)[:-2], -1))], axis=-1)


def _svd_fields(a):
    res = np.linalg.svd(a, full_matrices=False)
    return svd_parts(res.U, res.S, res.Vh)


def _svd_unpacked(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return svd_parts(u, s, vh)


def _lstsq_all(a, b):
    x, residuals, rank, s = np.linalg.lstsq(a, b)
    assert int(rank) == min(np.shape(a))
    return np.concatenate([np.ravel(x), residuals, s])


TABLE = [
    # -- inverses and determinants
    case("inv", np.linalg.inv, invertible, grid=SQ),
    case("det", np.linalg.det, invertible, grid=SQ),
    case("slogdet", lambda a: np.linalg.slogdet(a)[1], invertible, covers=np.linalg.slogdet,
         grid=SQ, fields=lambda a: np.linalg.slogdet(a).logabsdet,
         unpacked=lambda a: (lambda s, logdet: s * np.exp(logdet))(*np.linalg.slogdet(a))),
    case("solve-matrix", np.linalg.solve, invertible, real,
         grid=[[shape(3, 3), shape(3, 2)], [shape(2, 3, 3), shape(2, 3, 1)],
               [shape(2, 3, 3), shape(3, 4)], [shape(1, 3, 3), shape(2, 3, 2)],
               [every2nd(3, 3), fortran(3, 2)]]),
    case("solve-vector", np.linalg.solve, invertible, real,
         grid=[[shape(3, 3), shape(3)], [shape(2, 3, 3), shape(3)], [fortran(3, 3), shape(3)]]),
    case("matrix_power", lambda a: np.linalg.matrix_power(a, 3), invertible,
         covers=np.linalg.matrix_power, grid=SQ_SMALL),
    case("matrix_power-1", lambda a: np.linalg.matrix_power(a, 1), invertible,
         covers=np.linalg.matrix_power, grid=[[shape(3, 3)]]),
    case("matrix_power-negative", lambda a: np.linalg.matrix_power(a, -2), invertible,
         covers=(np.linalg.matrix_power, np.linalg.inv), grid=SQ_SMALL),
    case("matrix_power-minus-1", lambda a: np.linalg.matrix_power(a, -1), invertible,
         covers=np.linalg.matrix_power, grid=[[shape(3, 3)]]),
    case("tensorinv", lambda a: np.linalg.tensorinv(np.reshape(a, (2, 3, 6))), invertible,
         covers=np.linalg.tensorinv, grid=[[shape(6, 6)], [every2nd(6, 6)]],
         ind=lambda a: np.linalg.tensorinv(np.reshape(a, (6, 2, 3)), ind=1)),
    case("tensorsolve", lambda a, b: np.linalg.tensorsolve(np.reshape(a, (2, 3, 3, 2)), b),
         invertible, real, covers=np.linalg.tensorsolve,
         grid=[[shape(6, 6), shape(2, 3)], [fortran(6, 6), shape(2, 3)]],
         axes=lambda a, b: np.linalg.tensorsolve(np.moveaxis(np.reshape(a, (2, 3, 3, 2)), 2, 0),
                                                 b, axes=(0,))),
    case("pinv", np.linalg.pinv, spread, grid=RECT),
    case("pinv-hermitian", lambda a: np.linalg.pinv(a, hermitian=True), spd,
         covers=np.linalg.pinv, grid=[[shape(3, 3)], [shape(2, 3, 3)]]),
    case("lstsq", lambda a, b: np.linalg.lstsq(a, b)[0], spread, real,
         covers=np.linalg.lstsq,
         grid=[[shape(4, 2), shape(4)], [shape(4, 2), shape(4, 3)], [shape(2, 4), shape(2)],
               [shape(3, 3), shape(3)], [every2nd(4, 3), fortran(4, 2)]],
         all=_lstsq_all),
    case("lstsq-residuals", lambda a, b: np.linalg.lstsq(a, b)[1], spread, real,
         covers=np.linalg.lstsq, grid=[[shape(4, 2), shape(4)], [shape(5, 3), shape(5, 2)]]),
    case("lstsq-singular-values", lambda a: np.linalg.lstsq(a, np.ones(np.shape(a)[0]))[3],
         spread, covers=np.linalg.lstsq, grid=[[shape(4, 2)], [shape(2, 3)]]),
    case("cond", np.linalg.cond, spread, grid=RECT, two=lambda a: np.linalg.cond(a, 2)),
    case("cond-minus-2", lambda a: np.linalg.cond(a, -2), spread, covers=np.linalg.cond,
         grid=[[shape(3, 3)], [shape(2, 4, 3)]]),
    case("cond-fro", lambda a: np.linalg.cond(a, "fro"), invertible, covers=np.linalg.cond,
         grid=SQ_SMALL),
    # -- decompositions
    case("cholesky", np.linalg.cholesky, spd, grid=SQ),
    case("cholesky-upper", lambda a: np.linalg.cholesky(a, upper=True), spd,
         covers=np.linalg.cholesky, grid=SQ_SMALL),
    case("eigh", lambda a: eigh_parts(np.linalg.eigh(a)), spd, covers=np.linalg.eigh, grid=SQ,
         fields=lambda a: (lambda r: eigh_parts((r.eigenvalues, r.eigenvectors)))(
             np.linalg.eigh(a))),
    case("eigh-upper", lambda a: eigh_parts(np.linalg.eigh(a, UPLO="U")), spd,
         covers=np.linalg.eigh, grid=SQ_SMALL),
    case("eigh-values", lambda a: np.linalg.eigh(a)[0], spd, covers=np.linalg.eigh,
         grid=[[shape(3, 3)]]),
    case("eigh-vectors", lambda a: _fix_columns(np.linalg.eigh(a)[1]), spd,
         covers=np.linalg.eigh, grid=[[shape(3, 3)]]),
    case("eigvalsh", np.linalg.eigvalsh, spd, grid=SQ,
         upper=lambda a: np.linalg.eigvalsh(a, UPLO="U")),
    case("svd", lambda a: svd_parts(*np.linalg.svd(a, full_matrices=False)), spread,
         covers=np.linalg.svd, grid=RECT, fields=_svd_fields, unpacked=_svd_unpacked),
    case("svd-square-full", lambda a: svd_parts(*np.linalg.svd(a)), spread,
         covers=np.linalg.svd, grid=[[shape(3, 3)], [shape(2, 2, 2)]]),
    case("svd-full-reduced-use",
         lambda a: (lambda u, s, vh: svd_parts(u[..., :2], s, vh))(*np.linalg.svd(a)), spread,
         covers=np.linalg.svd, grid=[[shape(4, 2)]]),
    case("svd-values", lambda a: np.linalg.svd(a, compute_uv=False), spread,
         covers=np.linalg.svd, grid=RECT),
    case("svd-hermitian", lambda a: np.linalg.svd(a, hermitian=True)[1], spd,
         covers=np.linalg.svd, grid=[[shape(3, 3)]]),
    case("svdvals", np.linalg.svdvals, spread, grid=RECT),
    case("qr", lambda a: qr_parts(*np.linalg.qr(a)), spread, covers=np.linalg.qr, grid=RECT,
         fields=lambda a: (lambda r: qr_parts(r.Q, r.R))(np.linalg.qr(a))),
    case("qr-r", lambda a: np.linalg.qr(a, mode="r"), spread, covers=np.linalg.qr, grid=RECT),
    case("qr-q", lambda a: np.linalg.qr(a)[0], spread, covers=np.linalg.qr,
         grid=[[shape(4, 2)], [shape(2, 4)]]),
    case("qr-complete", lambda a: qr_parts(*np.linalg.qr(a, mode="complete")), spread,
         covers=np.linalg.qr, grid=[[shape(3, 3)], [shape(2, 4)]]),
]

ZEROGRAD_CALLS = [
    ("matrix_rank", np.linalg.matrix_rank, lambda x, y, i, j: np.linalg.matrix_rank(x)),
]

# The four checks of every table (see _cases.table_tests).
test_gradient, test_second_order, test_views_match_contiguous, test_entry_points = (
    table_tests(TABLE))


# -- values and errors ------------------------------------------------------------------------


def test_det_gradient_is_the_cofactor_matrix():
    a = invertible(np.random.default_rng(1), (3, 3))
    np.testing.assert_allclose(ag.grad(np.linalg.det)(a),
                               np.linalg.det(a) * np.linalg.inv(a).T, rtol=1e-12)


def test_triangle_readers_give_the_other_triangle_no_gradient():
    a = spd(np.random.default_rng(2), (3, 3))
    for f, upper in ((lambda x: np.sum(np.linalg.cholesky(x)), False),
                     (lambda x: np.sum(np.linalg.cholesky(x, upper=True)), True),
                     (lambda x: np.sum(np.linalg.eigvalsh(x) ** 2), False),
                     (lambda x: np.sum(np.linalg.eigvalsh(x, UPLO="U") ** 2), True)):
        g = ag.grad(f)(a)
        other = np.tril(g, -1) if upper else np.triu(g, 1)
        assert np.all(other == 0)


def test_svd_tuple_results_unpack_and_have_fields():
    a = spread(np.random.default_rng(3), (4, 3))
    p = ag.Param(a)
    seen = {}

    def loss():
        _, s, _ = np.linalg.svd(p, full_matrices=False)
        res = np.linalg.svd(p, full_matrices=False)
        seen["type"] = type(res).__name__
        return np.sum(s) + np.sum(res.S)

    tape = ag.diff(loss)
    assert seen["type"] == "SVDResult"
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(ag.grad(tape, p), 2 * u @ vh, rtol=1e-10)


def test_slogdet_sign_has_no_gradient():
    a = invertible(np.random.default_rng(4), (3, 3))
    g = ag.grad(lambda x: np.linalg.slogdet(x)[0] * 3.0 + 1.0)(a)
    assert g is None or np.all(g == 0)


def test_svd_full_matrices_extra_columns_are_refused():
    a = spread(np.random.default_rng(5), (4, 2))
    with pytest.raises(ValueError, match="full_matrices"):
        ag.grad(lambda x: np.sum(np.linalg.svd(x)[0] ** 3))(a)


def test_qr_complete_extra_columns_are_refused():
    a = spread(np.random.default_rng(6), (4, 2))
    with pytest.raises(ValueError, match="mode='complete'"):
        ag.grad(lambda x: np.sum(np.linalg.qr(x, mode="complete")[0] ** 3))(a)


def test_unsupported_forms_are_clear_errors():
    a = invertible(np.random.default_rng(7), (3, 3))
    with pytest.raises(TypeError, match="mode='raw'"):
        ag.grad(lambda x: np.sum(np.linalg.qr(x, mode="raw")[0]))(a)
    with pytest.raises(TypeError, match="p=1"):
        ag.grad(lambda x: np.linalg.cond(x, 1))(a)


def test_lstsq_of_a_rank_deficient_matrix_is_refused():
    a = np.outer(np.arange(1.0, 5.0), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="rank 1"):
        ag.grad(lambda x: np.sum(np.linalg.lstsq(x, np.ones(4))[0]))(a)


def test_det_gradient_at_a_singular_matrix_is_a_clear_error():
    a = np.outer([1.0, 2.0, 3.0], [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="np.linalg.det: no gradient at a singular matrix"):
        ag.grad(np.linalg.det)(a)
