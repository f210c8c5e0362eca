"""Gradients of ``np.linalg``'s inverses, determinants, solvers and decompositions: inv, pinv,
det, slogdet, solve, cholesky, eigh, eigvalsh, svd, svdvals, qr, matrix_power, tensorinv,
tensorsolve, lstsq and cond; ``matrix_rank`` has no gradient.

All take stacks of matrices where NumPy does (``lstsq`` and the tensor functions do not).
Every rule is written with recorded NumPy calls (matmul, solve, inv, eigh, svd, einsum ...), so
gradients of every order work. The formulas are the textbook ones for real matrices and hold
where the function is differentiable, which the tests make sure of:

- inv, det, slogdet, solve, matrix_power with a negative power, tensorinv, tensorsolve:
  nonsingular matrices (``det`` of a singular matrix computes, but its gradient, the
  adjugate, raises ``ValueError``: the rule goes through the inverse). ``slogdet``'s ``sign``
  has no gradient (piecewise constant).
- cholesky, eigh, eigvalsh (and ``hermitian=True`` in svd and pinv) read one triangle of their
  argument only (the lower one by default; ``upper=True`` / ``UPLO='U'`` the upper one), so the
  other triangle gets a zero gradient: the gradient is that of the symmetric matrix the
  triangle stands for, folded onto it.
- eigh: distinct eigenvalues; svd (and svdvals, cond): distinct, nonzero singular values. Where
  two coincide the eigen/singular vectors are not unique and have no derivative. Eigen- and
  singular vectors are differentiated as NumPy returns them (their signs are locally constant).
- svd with ``full_matrices=True`` (NumPy's default) on a non-square matrix, and qr with
  ``mode='complete'`` on a tall one: the extra columns of ``U`` (rows of ``Vh``, columns of
  ``Q``) are any basis of a complement and have no derivative. A result that does not use them
  differentiates (the gradient treats them as unused); one that does raises ``ValueError``.
  ``qr``'s ``mode='raw'`` (Householder reflectors) raises too.
- pinv and lstsq: matrices of full rank (the rank must not change under a small perturbation);
  lstsq's ``rank`` has no gradient, its ``residuals`` and singular values do.
- cond: ``p`` in ``None``, ``2``, ``-2`` (ratios of singular values) and ``'fro'``; the other
  norms (1, -1, inf, -inf, 'nuc') raise, as their maxima of sums have kinks everywhere ties
  occur.

Skipped here, on purpose: ``eig`` and ``eigvals``: the eigenvalues of a general real matrix are
complex (in conjugate pairs) and this library differentiates real values only; symmetric
matrices have ``eigh``/``eigvalsh``. Complex arguments in general (the formulas are the real
ones).
"""

from __future__ import annotations

import numpy as np

from ..backend import array_module
from ..primitive import primitive, raw, zerograd
from ._util import dtype_of


def _T(x):  # noqa: N802 - the matrix transpose of the last two axes
    return np.swapaxes(x, -1, -2)


_mm = np.matmul


def _eye(n, like):
    return array_module(raw(like)).eye(n, dtype=dtype_of(like))


def _diag_embed(v):
    """Diagonal matrices from the vectors along ``v``'s last axis."""
    return np.expand_dims(v, -1) * _eye(np.shape(v)[-1], v)


def _sym(g):
    return (g + _T(g)) / 2


def _fold(g, lower):
    """The gradient of a function that reads one triangle of its argument as a symmetric matrix.

    ``g`` is the gradient with respect to that symmetric matrix (any matrix with the right
    symmetric part); each off-diagonal entry of the triangle stands for two of its entries.
    """
    n = np.shape(g)[-1]
    xp = array_module(raw(g))
    tri = xp.tri(n, k=-1, dtype=dtype_of(g))
    weight = 2 * (tri if lower else tri.T) + xp.eye(n, dtype=dtype_of(g))
    return _sym(g) * weight


def _inverse_gaps(w):
    """``F[..., i, j] = 1 / (w_j - w_i)`` off the diagonal, 0 on it."""
    gaps = np.expand_dims(w, -2) - np.expand_dims(w, -1)
    eye = _eye(np.shape(w)[-1], w)
    return 1 / (gaps + eye) - eye


def _unique_part(name, d, extra, axis):
    """``d`` without the ``extra`` trailing columns (``axis=-1``) or rows (``axis=-2``), which
    belong to a non-unique basis: refused when the result depends on them."""
    if d is None or extra == 0:
        return d
    tail = raw(d)[..., -extra:] if axis == -1 else raw(d)[..., -extra:, :]
    if np.any(tail != 0):
        raise ValueError(
            f"{name}: the result depends on the extra {'columns' if axis == -1 else 'rows'} "
            f"that full_matrices=True / mode='complete' adds for a non-square matrix; they are "
            f"any basis of a complement, not a function of the argument, and have no gradient. "
            f"Use the reduced factorisation (full_matrices=False / mode='reduced')"
        )
    return d[..., :-extra] if axis == -1 else d[..., :-extra, :]


# -- inverses, determinants, solvers -----------------------------------------------------

def _inv_of(name, a):
    """``inv(a)`` for the gradient of ``name``; a singular ``a`` is a clear error."""
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name}: no gradient at a singular matrix (shape {np.shape(a)}); "
                         f"the rule needs its inverse") from None


primitive(np.linalg.inv, lambda dy, y, a: -_mm(_T(y), _mm(dy, _T(y))))
primitive(np.linalg.det, lambda dy, y, a: np.expand_dims(dy * y, (-2, -1))
          * _T(_inv_of("np.linalg.det", a)))


def _grad_slogdet(dy, y, a):
    dlog = dy[1]
    if dlog is None:
        return None
    return np.expand_dims(dlog, (-2, -1)) * _T(_inv_of("np.linalg.slogdet", a))


primitive(np.linalg.slogdet, _grad_slogdet)


def _grad_solve_b(dy, y, a, b):
    if np.ndim(b) == 1:  # NumPy's vector case: b is (M,), x is (..., M)
        return np.squeeze(np.linalg.solve(_T(a), np.expand_dims(dy, -1)), -1)
    return np.linalg.solve(_T(a), dy)


def _grad_solve_a(dy, y, a, b):
    db = _grad_solve_b(dy, y, a, b)
    if np.ndim(b) == 1:
        return -np.expand_dims(db, -1) * np.expand_dims(y, -2)
    return -_mm(db, _T(y))


primitive(np.linalg.solve, _grad_solve_a, _grad_solve_b)


def _grad_matrix_power(dy, y, a, n):
    n = int(n)
    if n == 0:
        return np.zeros_like(raw(a))
    base = a if n > 0 else np.linalg.inv(a)
    m = abs(n)
    # d(B^m) = sum_k B^k dB B^(m-1-k): the adjoint is sum_k (B^T)^k dY (B^T)^(m-1-k)
    powers = [None, _T(base)]
    for _ in range(2, m):
        powers.append(_mm(powers[-1], powers[1]))
    g = None
    for k in range(m):
        term = dy if powers[k] is None else _mm(powers[k], dy)
        if powers[m - 1 - k] is not None:
            term = _mm(term, powers[m - 1 - k])
        g = term if g is None else g + term
    if n < 0:  # through B = inv(A)
        g = -_mm(_T(base), _mm(g, _T(base)))
    return g


primitive(np.linalg.matrix_power, _grad_matrix_power, None)


def _grad_tensorinv(dy, y, a, ind=2):
    shape = np.shape(a)
    rows = int(np.prod(shape[:ind]))
    ym = np.reshape(y, (-1, rows))
    dym = np.reshape(dy, (-1, rows))
    return np.reshape(-_mm(_T(ym), _mm(dym, _T(ym))), shape)


primitive(np.linalg.tensorinv, _grad_tensorinv)


def _tensorsolve_order(a, axes):
    """The axis order NumPy's tensorsolve puts ``a`` in (``axes`` moved to the end)."""
    order = list(range(np.ndim(a)))
    for k in axes or ():
        order.remove(int(k) % np.ndim(a))
        order.append(int(k) % np.ndim(a))
    return order


def _tensorsolve_matrix(a, b, axes):
    a = np.transpose(a, _tensorsolve_order(a, axes)) if axes else a
    n = int(np.prod(np.shape(b)))
    return np.reshape(a, (n, -1))


def _grad_tensorsolve_b(dy, y, a, b, axes=None):
    am = _tensorsolve_matrix(a, b, axes)
    return np.reshape(np.linalg.solve(_T(am), np.ravel(dy)), np.shape(b))


def _grad_tensorsolve_a(dy, y, a, b, axes=None):
    db = _grad_tensorsolve_b(dy, y, a, b, axes)
    order = _tensorsolve_order(a, axes)
    moved = tuple(np.shape(a)[i] for i in order)
    g = np.reshape(-np.outer(np.ravel(db), np.ravel(y)), moved)
    return np.transpose(g, tuple(sorted(range(len(order)), key=order.__getitem__)))


primitive(np.linalg.tensorsolve, _grad_tensorsolve_a, _grad_tensorsolve_b)


def _pinv_backward(a, p, dp):
    """The gradient of a full-rank ``a`` from that of its pseudo-inverse ``p`` (Golub-Pereyra):
    -P^T dP P^T + (I - A P) dP^T P P^T + P^T P dP^T (I - P A)."""
    dpt = _T(dp)
    pt = _T(p)
    g = -_mm(pt, _mm(dp, pt))
    g = g + _mm(dpt - _mm(a, _mm(p, dpt)), _mm(p, pt))
    return g + _mm(_mm(pt, p), dpt - _mm(_mm(dpt, p), a))


def _grad_pinv(dy, y, a, rcond=None, hermitian=False, **kwargs):
    g = _pinv_backward(a, y, dy)
    return _fold(g, lower=True) if hermitian else g


primitive(np.linalg.pinv, _grad_pinv)


def _grad_lstsq(which, dy, y, a, b, rcond=None):
    """Gradients of ``lstsq``'s solution, residuals and singular values (full rank)."""
    dx, dres, _, ds = dy
    x, rank = y[0], int(raw(y[2]))
    if rank < min(np.shape(a)):
        raise ValueError(f"np.linalg.lstsq: the matrix has rank {rank} < {min(np.shape(a))}; "
                         f"the least-squares solution is differentiable at full rank only")
    vec = np.ndim(b) == 1
    xm = np.expand_dims(x, -1) if vec else x
    bm = np.expand_dims(b, -1) if vec else b
    ga = gb = None
    if dx is not None:
        dxm = np.expand_dims(dx, -1) if vec else dx
        p = np.linalg.pinv(a)
        if which == "a":
            ga = _pinv_backward(a, p, _mm(dxm, _T(bm)))
        else:
            gb = _mm(_T(p), dxm)
    if dres is not None and np.size(raw(y[1])):  # sum of squares of b - a x at the optimum
        r = bm - _mm(a, xm)
        w = dres if not vec else np.reshape(dres, (1,))
        if which == "a":
            t = -2 * _mm(r * w, _T(xm))
            ga = t if ga is None else ga + t
        else:
            t = 2 * r * w
            gb = t if gb is None else gb + t
    if ds is not None and which == "a":
        u, _, vh = np.linalg.svd(a, full_matrices=False)
        t = _mm(u * np.expand_dims(ds, -2), vh)
        ga = t if ga is None else ga + t
    if which == "b" and gb is not None and vec:
        gb = np.squeeze(gb, -1)
    return ga if which == "a" else gb


primitive(np.linalg.lstsq,
          lambda dy, y, a, b, rcond=None: _grad_lstsq("a", dy, y, a, b, rcond),
          lambda dy, y, a, b, rcond=None: _grad_lstsq("b", dy, y, a, b, rcond),
          None)

# -- decompositions ----------------------------------------------------------------------


def _grad_cholesky(dy, y, a, upper=False):
    low, dlow = (_T(y), _T(dy)) if upper else (y, dy)
    # Murray (2016): the symmetric gradient is L^-T Phi(L^T dL) L^-1, where Phi keeps the lower
    # triangle and halves the diagonal
    n = np.shape(low)[-1]
    xp = array_module(raw(low))
    phi = xp.tri(n, dtype=dtype_of(dy)) - xp.eye(n, dtype=dtype_of(dy)) / 2
    p = _mm(_T(low), dlow) * phi
    z = np.linalg.solve(_T(low), p)  # L^-T P
    g = _T(np.linalg.solve(_T(low), _T(z)))  # L^-T P L^-1
    return _fold(g, lower=not upper)


primitive(np.linalg.cholesky, _grad_cholesky)


def _grad_eigh(dy, y, a, UPLO="L"):  # noqa: N803 - NumPy's name
    dw, dv = dy
    w, v = y
    inner = None
    if dv is not None:
        inner = _inverse_gaps(w) * _mm(_T(v), dv)
    if dw is not None:
        inner = _diag_embed(dw) if inner is None else inner + _diag_embed(dw)
    if inner is None:
        return None
    return _fold(_mm(v, _mm(inner, _T(v))), lower=UPLO.upper() == "L")


primitive(np.linalg.eigh, _grad_eigh)


def _grad_eigvalsh(dy, y, a, UPLO="L"):  # noqa: N803 - NumPy's name
    v = np.linalg.eigh(a, UPLO=UPLO)[1]
    return _fold(_mm(v * np.expand_dims(dy, -2), _T(v)), lower=UPLO.upper() == "L")


primitive(np.linalg.eigvalsh, _grad_eigvalsh)


def _svd_backward(u, s, vh, du, ds, dvh):
    """The gradient of ``a = u diag(s) vh`` (reduced, real, distinct nonzero ``s``) from those
    of its factors (Townsend 2016); ``None`` for a factor the result does not use."""
    m, n = np.shape(u)[-2], np.shape(vh)[-1]
    k = np.shape(s)[-1]
    v = _T(vh)
    inner = None if ds is None else _diag_embed(ds)
    g_extra = None
    if du is not None or dvh is not None:
        f = _inverse_gaps(s * s)  # 1 / (s_j^2 - s_i^2)
    if du is not None:
        ut_du = _mm(_T(u), du)
        t = f * (ut_du - _T(ut_du)) * np.expand_dims(s, -2)
        inner = t if inner is None else inner + t
        if m > k:  # the part of du outside the span of u
            g_extra = _mm((du - _mm(u, ut_du)) / np.expand_dims(s, -2), vh)
    if dvh is not None:
        dv = _T(dvh)
        vt_dv = _mm(vh, dv)
        t = np.expand_dims(s, -1) * (f * (vt_dv - _T(vt_dv)))
        inner = t if inner is None else inner + t
        if n > k:
            t = _mm(u, _T((dv - _mm(v, vt_dv)) / np.expand_dims(s, -2)))
            g_extra = t if g_extra is None else g_extra + t
    g = _mm(u, _mm(inner, vh)) if inner is not None else None
    if g_extra is not None:
        g = g_extra if g is None else g + g_extra
    return g


def _grad_svd(dy, y, a, full_matrices=True, compute_uv=True, hermitian=False):
    if not compute_uv:
        extra = {"hermitian": True} if hermitian else {}  # CuPy's svd has no such keyword
        u, _, vh = np.linalg.svd(a, full_matrices=False, **extra)
        g = _mm(u * np.expand_dims(dy, -2), vh)
    else:
        (du, ds, dvh), (u, s, vh) = dy, y
        if full_matrices:
            m, n = np.shape(a)[-2:]
            k = min(m, n)
            du = _unique_part("np.linalg.svd", du, m - k, -1)
            dvh = _unique_part("np.linalg.svd", dvh, n - k, -2)
            u, vh = u[..., :k], vh[..., :k, :]
        g = _svd_backward(u, s, vh, du, ds, dvh)
    return _fold(g, lower=True) if hermitian and g is not None else g


primitive(np.linalg.svd, _grad_svd)


def _grad_svdvals(dy, y, x):
    u, _, vh = np.linalg.svd(x, full_matrices=False)
    return _mm(u * np.expand_dims(dy, -2), vh)


primitive(np.linalg.svdvals, _grad_svdvals)


def _qr_tall(q, r, dq, dr):
    """The gradient of ``a = q r`` for m >= n (Walter and Lehmann 2018):
    (dQ + Q copyltu(M)) R^-T with M = R dR^T - dQ^T Q."""
    n = np.shape(r)[-1]
    xp = array_module(raw(r))
    lower = xp.tri(n, dtype=dtype_of(r))
    m = None
    if dr is not None:
        m = _mm(r, _T(dr))
    if dq is not None:
        m = -_mm(_T(dq), q) if m is None else m - _mm(_T(dq), q)
    b = _mm(q, m * lower + _T(m * (lower - xp.eye(n, dtype=dtype_of(r)))))
    if dq is not None:
        b = b + dq
    return _T(np.linalg.solve(r, _T(b)))


def _grad_qr(dy, y, a, mode="reduced"):
    if mode == "raw":
        raise TypeError("np.linalg.qr: mode='raw' (Householder reflectors) has no gradient "
                        "rule; use mode='reduced' or 'r'")
    if mode == "r":
        (q, r), dq, dr = np.linalg.qr(a), None, dy
    else:
        (q, r), (dq, dr) = y, dy
    m, n = np.shape(a)[-2:]
    if mode == "complete" and m > n:
        dq = _unique_part("np.linalg.qr", dq, m - n, -1)
        q, r = q[..., :n], r[..., :n, :]
        dr = None if dr is None else dr[..., :n, :]  # R's extra rows are zeros: constants
    if m >= n:
        return _qr_tall(q, r, dq, dr)
    # wide: a = q [r1 r2] with a[:, :m] = q r1 (square) and a[:, m:] = q r2
    r1 = r[..., :m]
    dr1 = None if dr is None else dr[..., :m]
    dq_total, g_right = dq, None
    if dr is not None:
        dr2 = dr[..., m:]
        g_right = _mm(q, dr2)
        t = _mm(a[..., m:], _T(dr2))
        dq_total = t if dq is None else dq + t
    else:
        g_right = np.zeros_like(raw(a)[..., m:])
    return np.concatenate([_qr_tall(q, r1, dq_total, dr1), g_right], axis=-1)


primitive(np.linalg.qr, _grad_qr)


def _grad_cond(dy, y, x, p=None):
    if p in (None, 2, -2):
        u, s, vh = np.linalg.svd(x, full_matrices=False)
        hi, lo = s[..., 0], s[..., -1]
        if p == -2:  # cond = lo / hi
            d_hi, d_lo = -y / hi, 1 / hi
        else:  # cond = hi / lo
            d_hi, d_lo = 1 / lo, -y / lo
        ds = np.stack([d_hi, d_lo], axis=-1) * np.expand_dims(dy, -1)
        ends = _T(np.stack([u[..., :, 0], u[..., :, -1]], axis=-2))
        return _mm(ends * np.expand_dims(ds, -2), np.stack([vh[..., 0, :], vh[..., -1, :]], -2))
    if p == "fro":  # cond = |x| |inv(x)|
        inv = np.linalg.inv(x)
        nx = np.sqrt(np.sum(x * x, axis=(-2, -1), keepdims=True))
        ni = np.sqrt(np.sum(inv * inv, axis=(-2, -1), keepdims=True))
        g = x * (ni / nx) - _mm(_T(inv), _mm(inv, _T(inv))) * (nx / ni)
        return np.expand_dims(dy, (-2, -1)) * g
    raise TypeError(f"np.linalg.cond: no gradient rule for p={p!r}; use p=None, 2, -2 or 'fro'")


primitive(np.linalg.cond, _grad_cond)

zerograd(np.linalg.matrix_rank)
