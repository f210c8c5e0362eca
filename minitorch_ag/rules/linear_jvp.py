"""Forward-mode (JVP) rules of the linear and multilinear primitives: shapes, indexing,
sums, products and joins (``shape.py``, ``indexing.py``, ``reductions.py``, ``products.py``,
``joining.py``, ``selection.py``).

A function linear in its argument ``a`` has ``J · t = f(t, ...)``: the same call with the
tangent in the argument's place (reshape, transpose, ``x[i]``, sum, cumsum ...). A function
linear in each of several arguments (matmul, dot, einsum, outer, tensordot, kron) has one
such rule per argument: ``J_a · t = f(t, b)``, ``J_b · t = f(a, t)``, which the framework adds.
A join (concatenate, stack) is linear in all its arguments at once: the join of the tangents,
with zeros for the constant arguments.

Covers: reshape, ravel, transpose, swapaxes, moveaxis, expand_dims, squeeze, broadcast_to,
flip, fliplr, flipud, roll, rot90, copy, x[index] and its gradient index_put, x[index] = v
(index_set), take, take_along_axis, diagonal, diag,
triu, tril, sum, mean, cumsum, trace, matmul, dot, inner, outer, tensordot, vdot, kron,
einsum, concatenate, stack.

Skips: everything else (derived from the gradient rules by ``ag.jvp``), among them the
reductions that select elements (max, min, sort ...), whose JVP depends on ties. ``sum`` with
``initial=`` is affine: its rule drops ``initial``.
"""

from __future__ import annotations

import operator

import numpy as np

from ..backend import array_module
from ..primitive import defjvp, raw
from . import joining, products, reductions, selection, shape  # noqa: F401  (first)
from .indexing import index_put, index_set


def _linear(fn):
    """``J · t`` of ``fn``, linear in its first argument: ``fn(t, *rest)``."""
    return lambda t, y, a, *rest, **kwargs: fn(t, *rest, **kwargs)


def _in(fn, k):
    """``J_k · t`` of ``fn``, linear in each of its leading arguments: ``t`` in place ``k``."""
    def rule(t, y, *args, **kwargs):
        return fn(*args[:k], t, *args[k + 1:], **kwargs)
    return rule


def _sum(t, y, a, *rest, **kwargs):
    kwargs.pop("initial", None)  # sum(a, initial=c) is affine: its tangent has no c
    return np.sum(t, *rest, **kwargs)


def _zeros_like(a, t_like):
    v = raw(a)
    return array_module(v).zeros(np.shape(v), dtype=np.result_type(raw(t_like)))


def _join(fn):
    """``J · ts`` of a join: the join of the tangents, zeros for the constant arguments."""
    def rule(ts, y, *arrays, **kwargs):
        some = next(t for t in ts if t is not None)
        parts = [_zeros_like(a, some) if t is None else t for t, a in zip(ts, arrays, strict=True)]
        return fn(parts, **kwargs)
    return rule


for _fn in (np.reshape, np.ravel, np.transpose, np.swapaxes, np.moveaxis, np.expand_dims,
            np.squeeze, np.broadcast_to, np.flip, np.fliplr, np.flipud, np.roll, np.rot90,
            np.copy, np.take, np.take_along_axis, np.diagonal, np.diag, np.triu, np.tril,
            np.mean, np.cumsum, np.trace):
    defjvp(_fn, _linear(_fn))
defjvp(operator.getitem, lambda t, y, x, index: t[index])
defjvp(index_put, lambda t, y, dy, dims, index: index_put(t, dims, index))  # x[i]'s gradient
defjvp(index_set,  # x[i] = v: the update of the tangents, in the same order
       lambda t, y, x, index, v: index_set(t, index, 0),
       None,
       lambda t, y, x, index, v: index_set(_zeros_like(x, t), index, t))
defjvp(np.sum, _sum)
for _fn in (np.matmul, np.dot, np.inner, np.outer, np.tensordot, np.vdot, np.kron):
    defjvp(_fn, _in(_fn, 0), _in(_fn, 1))
defjvp(np.einsum, None, *(_in(np.einsum, k) for k in range(1, 53)))
defjvp(np.concatenate, jvp_all=_join(np.concatenate))
defjvp(np.stack, jvp_all=_join(np.stack))
