"""Gradient checks of layers: a layer's output as a function of its input and its weights.

``gradcheck_layer`` swaps each ``Param`` attribute of the layer for the value that
``ag.gradcheck`` perturbs (and restores them afterwards), so that the weights are checked like
any other argument, to first or second order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import minitorch_ag as ag


def weight_names(layer: Any) -> list[str]:
    """The attribute names of the layer's own Params, in definition order."""
    return [k for k, v in vars(layer).items() if isinstance(v, ag.Param)]


def projection(rng: np.random.Generator, out: Any) -> Callable[[Any], Any]:
    """A scalar of ``out`` (arrays, nested tuples): sum of each array times fixed random weights."""
    weights: dict[int, np.ndarray] = {}

    def leaves(x: Any) -> list[Any]:
        if isinstance(x, (tuple, list)):
            return [leaf for v in x for leaf in leaves(v)]
        return [x]

    for k, leaf in enumerate(leaves(out)):
        weights[k] = rng.standard_normal(np.shape(ag.value(leaf)))

    def reduce(y: Any) -> Any:
        total = 0.0
        for k, leaf in enumerate(leaves(y)):
            total = total + np.sum(np.sin(leaf) * weights[k])
        return total

    return reduce


def gradcheck_layer(layer: Any, inputs: Sequence[Any], *, order: int = 1, seed: int = 0,
                    **kwargs: Any) -> bool:
    """``ag.gradcheck`` of a random projection of ``layer(*inputs)`` wrt inputs and weights."""
    names = weight_names(layer)
    values = [getattr(layer, k).value for k in names]
    reduce = projection(np.random.default_rng(seed), layer(*inputs))

    def f(xs: list[Any], ws: list[Any]) -> Any:
        saved = {k: getattr(layer, k) for k in names}
        try:
            for k, w in zip(names, ws, strict=True):
                setattr(layer, k, w)
            return reduce(layer(*xs))
        finally:
            for k, p in saved.items():
                setattr(layer, k, p)

    return ag.gradcheck(f, list(inputs), values, order=order, **kwargs)
