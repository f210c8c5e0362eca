"""Gradients of reductions: sum, mean, max/amax, min/amin, prod, var, std.

Each takes ``axis`` (an int, a negative int, a tuple or None) and ``keepdims``, and honours
``where=`` (and ``initial=`` where NumPy has it). Ties in ``max``/``min`` share the
gradient equally. ``prod`` is exact at inputs containing zeros (products of the other
elements); its second derivative there is refused with an error, not approximated.
Skipped here, on purpose: the other reductions (nan-versions, cumulative, ptp, average ...),
which the NumPy-coverage issue adds.
"""

from __future__ import annotations

import numpy as np

from ..primitive import primitive
from ..tensor import Tensor, raw
from ._util import count, dtype_of, keep_dims, reduced_axes


def _grad_sum(dy, y, a, axis=None, dtype=None, out=None, keepdims=False, initial=None,
              where=True):
    g = keep_dims(dy, a, axis, keepdims)
    return g if where is True else g * np.broadcast_to(where, np.shape(a))


def _grad_mean(dy, y, a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    g = keep_dims(dy, a, axis, keepdims)
    if where is True:
        return g / count(a, axis)
    mask = np.broadcast_to(where, np.shape(a))
    n = np.sum(mask, axis=axis, keepdims=True).astype(dtype_of(dy))
    return g * mask / n


def _grad_extreme(dy, y, a, axis=None, out=None, keepdims=False, initial=None, where=True):
    hit = a == keep_dims(y, a, axis, keepdims)
    if where is not True:
        hit = hit & where
    ties = np.maximum(np.sum(hit, axis=axis, keepdims=True), 1)
    return keep_dims(dy, a, axis, keepdims) * (hit / ties).astype(dtype_of(dy))


primitive(np.sum, _grad_sum)
primitive(np.mean, _grad_mean)
for _fn in (np.max, np.amax, np.min, np.amin):
    primitive(_fn, _grad_extreme)


def _products_of_others(a, axis):
    """For each element, the product of the other elements in its reduction group."""
    v = raw(a)
    axes = reduced_axes(v.ndim, axis)
    dest = tuple(range(v.ndim - len(axes), v.ndim))
    moved = np.moveaxis(v, axes, dest)
    flat = moved.reshape(moved.shape[: v.ndim - len(axes)] + (-1,))
    ones = np.ones_like(flat[..., :1])
    left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return np.moveaxis((left * right).reshape(moved.shape), dest, axes)


def _grad_prod(dy, y, a, axis=None, dtype=None, out=None, keepdims=False, initial=None,
               where=True):
    g = keep_dims(dy, a, axis, keepdims)
    if where is not True:  # the elements left out count as ones and get no gradient
        g = g * np.broadcast_to(where, np.shape(a))
        a = np.where(where, a, 1)
    if not np.any(raw(a) == 0):
        return g * keep_dims(y, a, axis, keepdims) / a
    if isinstance(a, Tensor) or isinstance(dy, Tensor):
        raise TypeError(
            "np.prod: higher-order gradients at an input that contains zeros are not "
            "supported yet (the first derivative is exact)"
        )
    others = _products_of_others(a, axis)
    return g * (others if initial is None else others * initial)


primitive(np.prod, _grad_prod)


def _ddof(ddof, kwargs):
    correction = kwargs.get("correction", np._NoValue)
    return ddof if correction is np._NoValue else correction


def _centred(a, axis, ddof, kwargs, where):
    """``a`` minus its mean over ``axis`` (zero where ``where`` leaves it out), and the divisor."""
    if where is True:
        return a - np.mean(a, axis=axis, keepdims=True), count(a, axis) - _ddof(ddof, kwargs)
    mask = np.broadcast_to(where, np.shape(a))
    n = np.sum(mask, axis=axis, keepdims=True).astype(dtype_of(a))
    centred = (a - np.mean(a, axis=axis, keepdims=True, where=mask)) * mask
    return centred, n - _ddof(ddof, kwargs)


def _grad_var(dy, y, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *,
              where=True, **kwargs):
    centred, n = _centred(a, axis, ddof, kwargs, where)
    return keep_dims(dy, a, axis, keepdims) * centred * (2 / n)


def _grad_std(dy, y, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *,
              where=True, **kwargs):
    centred, n = _centred(a, axis, ddof, kwargs, where)
    return keep_dims(dy, a, axis, keepdims) * centred / (keep_dims(y, a, axis, keepdims) * n)


primitive(np.var, _grad_var)
primitive(np.std, _grad_std)
