"""Gradient clipping: per parameter (Knet's ``gclip``) and over all parameters of a step.

Both rescale a gradient whose norm is too large so that its norm equals the limit, keeping its
direction; a gradient within the limit is returned unchanged (the same object). Nothing here
writes into a gradient: a clipped gradient is a new array (or a new ``Sparse``), because the
array ``grad`` returned may be one the caller still reads. Norms of ``Sparse`` gradients come
from ``Sparse.sum_of_squares`` (repeated rows summed first), so they never densify.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

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
    norm = grad_norm(*grads)
    if limit == 0 or norm <= limit:
        return grads, norm
    scale = limit / norm
    return [None if g is None else g * scale for g in grads], norm
