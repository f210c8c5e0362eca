"""Gradient clipping: per parameter (Knet's ``gclip``) and over all parameters of a step.

Both rescale a gradient whose norm is too large so that its norm equals the limit, keeping its
direction; a gradient within the limit is returned unchanged (the same object). Nothing here
writes into a gradient: a clipped gradient is a new array (or a new ``Sparse``), because the
array ``grad`` returned may be one the caller still reads. Norms of ``Sparse`` gradients come
from ``Sparse.sum_of_squares`` (repeated rows summed first), so they never densify.

On a GPU, reading a norm back to decide whether to clip would stall every step, so there the
decision is taken on the device: the gradient is always multiplied by
``min(1, max_norm / norm)`` (a new array even when nothing is clipped), and the global norm is
returned as a 0-d device array.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backend import array_module
from ..sparse import Sparse

__all__ = ["grad_norm", "clip_norm", "clip_global_norm"]


def _sum_of_squares(g: Any) -> float:
    if isinstance(g, Sparse):
        return float(g.sum_of_squares())
    xp = array_module(g)
    g = xp.asarray(g)
    return float(xp.vdot(g, g).real)


def grad_norm(*grads: Any) -> float:
    """The Euclidean (Frobenius) norm of one gradient, or of several taken as one vector.

    ``None`` gradients (parameters the loss did not depend on) count as zero.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.optim import grad_norm
        >>> grad_norm(np.array([3.0]), np.array([[4.0]]))
        5.0
    """
    return math.sqrt(sum(_sum_of_squares(g) for g in grads if g is not None))


def _check_limit(where: str, max_norm: Any) -> float:
    limit = float(max_norm)
    if not limit >= 0:  # also refuses NaN
        raise ValueError(f"{where}: max_norm must be a number >= 0 (0 turns clipping off); "
                         f"got {max_norm!r}")
    return limit


def clip_norm(g: Any, max_norm: float) -> Any:
    """``g`` scaled so that its norm is at most ``max_norm`` (Knet's ``gclip``).

    When ``norm(g) > max_norm > 0`` the result is ``g * (max_norm / norm(g))``; otherwise ``g``
    itself. ``max_norm == 0`` means no clipping, as in Knet.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.optim import clip_norm
        >>> clip_norm(np.array([3.0, 4.0]), 1.0)
        array([0.6, 0.8])
    """
    limit = _check_limit("clip_norm", max_norm)
    if g is None or limit == 0:
        return g
    xp = _device_module(g)
    if xp is not None:
        return g * _device_scale(xp, _device_sum_of_squares(xp, g), limit)
    norm = grad_norm(g)
    if norm <= limit:
        return g
    return g * (limit / norm)


def clip_global_norm(grads: Sequence[Any], max_norm: float) -> tuple[list[Any], float]:
    """Scale all ``grads`` by one factor so that their joint norm is at most ``max_norm``.

    This is clipping by the global norm (Pascanu et al., 2013, "On the difficulty of training
    recurrent neural networks"; PyTorch's ``clip_grad_norm_``): the norm is taken over every
    gradient of the step as one vector, so the direction of the whole update is kept.
    ``max_norm == 0`` means no clipping. Returns the (possibly) scaled gradients, in order,
    and the norm before clipping.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.optim import clip_global_norm
        >>> clipped, norm = clip_global_norm([np.array([3.0]), np.array([4.0])], 1.0)
        >>> norm, clipped[0], clipped[1]
        (5.0, array([0.6]), array([0.8]))
    """
    limit = _check_limit("clip_global_norm", max_norm)
    grads = list(grads)
    present = [g for g in grads if g is not None]
    xp = _device_module(present[0]) if present else None
    if xp is not None:
        total = sum(_device_sum_of_squares(xp, g) for g in present)
        if limit == 0:
            return grads, xp.sqrt(total)
        scale = _device_scale(xp, total, limit)
        return [None if g is None else g * scale for g in grads], xp.sqrt(total)
    norm = grad_norm(*grads)
    if limit == 0 or norm <= limit:
        return grads, norm
    scale = limit / norm
    return [None if g is None else g * scale for g in grads], norm


def _device_module(g: Any) -> Any:
    """The array module of a gradient held on a GPU (CuPy), or None for host gradients."""
    v = g.values if isinstance(g, Sparse) else g
    xp = array_module(v)
    return None if xp is np else xp


def _device_sum_of_squares(xp: Any, g: Any) -> Any:
    """The squared norm of a device gradient, as a 0-d device array (nothing read back)."""
    if isinstance(g, Sparse):
        return g.sum_of_squares()
    return xp.vdot(g, g).real


def _device_scale(xp: Any, sum_of_squares: Any, limit: float) -> Any:
    """``min(1, limit / norm)`` on the device; 1 where the norm is 0."""
    norm = xp.sqrt(sum_of_squares)
    return xp.minimum(1.0, limit / xp.maximum(norm, 1e-300))
