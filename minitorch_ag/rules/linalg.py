"""Gradients of matrix products: matmul (``@``) and dot, for vectors, matrices and stacks
of matrices (batch dimensions broadcast; the framework sums them back).

Skipped here, on purpose: the rest of linear algebra (inv, solve, det, svd, einsum, ...), and
the higher-order gradients of ``np.dot`` between arrays of more than two dimensions (their
first derivative is exact; the NumPy-coverage issue adds ``tensordot``'s rule).
"""

from __future__ import annotations

import numpy as np

from ..primitive import primitive


def _grad_matmul_a(dy, y, a, b):
    nb = np.ndim(b)
    if nb == 1:
        return dy * b if np.ndim(a) == 1 else np.expand_dims(dy, -1) * b
    if np.ndim(a) == 1:
        if nb == 2:
            return np.matmul(b, dy)
        return np.squeeze(np.matmul(np.expand_dims(dy, -2), np.swapaxes(b, -1, -2)), -2)
    return np.matmul(dy, np.swapaxes(b, -1, -2))


def _grad_matmul_b(dy, y, a, b):
    na = np.ndim(a)
    if na == 1:
        return dy * a if np.ndim(b) == 1 else np.expand_dims(a, -1) * np.expand_dims(dy, -2)
    if np.ndim(b) == 1:
        if na == 2:
            return np.matmul(np.swapaxes(a, -1, -2), dy)
        return np.squeeze(np.matmul(np.swapaxes(a, -1, -2), np.expand_dims(dy, -1)), -1)
    return np.matmul(np.swapaxes(a, -1, -2), dy)


primitive(np.matmul, _grad_matmul_a, _grad_matmul_b)


def _grad_dot_a(dy, y, a, b, out=None):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return dy * b
    if np.ndim(b) <= 2:  # then dot is matmul
        return _grad_matmul_a(dy, y, a, b)
    # dot(a, b)[i.., j.., m] = sum_k a[i.., k] b[j.., k, m]
    nb = np.ndim(b)
    dy_axes = list(range(np.ndim(a) - 1, np.ndim(dy)))
    return np.tensordot(dy, b, axes=(dy_axes, [*range(nb - 2), nb - 1]))


def _grad_dot_b(dy, y, a, b, out=None):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return dy * a
    if np.ndim(b) <= 2:
        return _grad_matmul_b(dy, y, a, b)
    lead = list(range(np.ndim(a) - 1))
    g = np.tensordot(a, dy, axes=(lead, lead))  # (k, j.., m)
    return np.moveaxis(g, 0, -2)


primitive(np.dot, _grad_dot_a, _grad_dot_b)
