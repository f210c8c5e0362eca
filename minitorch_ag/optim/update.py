"""``update_(w, g, opt)``: one optimizer step for a Param, an array, or a structure of them.

Where the state of each weight lives (as Knet's ``update!``):

- a ``Param`` keeps its own optimizer in ``p.opt``. The first update copies the given template
  (``opt.clone()``) into ``p.opt``; later updates use ``p.opt`` whatever template they are
  given, so that its moments carry on across calls and training loops. To change a
  parameter's optimizer, assign ``p.opt`` (or set it to ``None``) yourself.
- a plain array has nowhere to keep state: the optimizer passed with it *is* its state, so
  each array needs its own optimizer object (a structure of optimizers shaped like ``w``).
- with no optimizer at all, ``p.opt`` if set, otherwise plain ``SGD()`` (Knet's default).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..api import value
from ..backend import is_array
from ..sparse import Sparse
from ..tensor import Param, Tensor
from .clipping import clip_global_norm
from .optimizers import SGD, Optimizer

__all__ = ["update_"]


def update_(w: Any, g: Any, opt: Any = None, *, max_norm: float | None = None) -> Any:
    """Apply one optimizer step to ``w`` in place with gradient ``g``; returns ``w``.

    Args:
        w: a ``Param``, a float array, or lists, tuples and dicts (nested freely) of them.
        g: the gradient(s), in the same structure as ``w``; ``None`` entries (and dict keys
            missing from ``g``) are skipped. An entry may be a ``Sparse`` row gradient.
        opt: an optimizer (a template copied into each Param's ``p.opt`` the first time), or a
            structure of optimizers matching ``w``; ``None`` uses ``p.opt`` or ``SGD()``.
        max_norm: if given (and > 0), all gradients of this call are first scaled together so
            that their joint norm is at most ``max_norm`` (global-norm clipping).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import Param
        >>> from minitorch_ag.optim import Momentum, update_
        >>> w = Param(np.array([1.0, 2.0]))
        >>> update_(w, np.array([1.0, 1.0]), Momentum(lr=0.1, gamma=0.5))
        P(array([0.9, 1.9]))
        >>> w.opt.velocity
        array([-0.1, -0.1])
    """
    triples = list(_leaves(w, g, opt, "w"))
    if max_norm is not None:
        grads, _ = clip_global_norm([t[1] for t in triples], max_norm)
        triples = [(wi, gi, oi) for (wi, _, oi), gi in zip(triples, grads, strict=True)]
    for wi, gi, oi in triples:
        if isinstance(wi, Param):
            if wi.opt is None and oi is not None:
                wi.opt = oi.clone()
            _step_param(wi, gi, wi.opt if wi.opt is not None else SGD())
        else:
            (oi if oi is not None else SGD()).step_(wi, gi)
    return w


def _leaves(w: Any, g: Any, opt: Any, where: str) -> Iterator[tuple[Any, Any, Any]]:
    """The (weight, gradient, optimizer) triples of matching structures, skipping None grads."""
    if g is None:
        return
    if isinstance(w, Tensor) and not isinstance(w, Param):
        raise TypeError(f"update_: {where} is a {type(w).__name__}, a value computed while "
                        f"recording; only Params and arrays can be updated")
    if isinstance(w, Param) or is_array(w):
        if opt is not None and not isinstance(opt, Optimizer):
            raise TypeError(f"update_: the optimizer for {where} must be an Optimizer; got "
                            f"{type(opt).__name__}")
        yield w, g if isinstance(g, Sparse) else value(g), opt  # value() would densify
        return
    if isinstance(w, dict):
        if not isinstance(g, dict):
            raise TypeError(f"update_: {where} is a dict but its gradient is a "
                            f"{type(g).__name__}")
        for k, gk in g.items():  # g may hold fewer keys than w (Knet)
            if k not in w:
                raise KeyError(f"update_: the gradient has key {k!r} that {where} lacks")
            yield from _leaves(w[k], gk, _part(opt, k, w[k], where), f"{where}[{k!r}]")
        return
    if isinstance(w, (list, tuple)):
        if not isinstance(g, (list, tuple)):
            raise TypeError(f"update_: {where} is a {type(w).__name__} but its gradient is a "
                            f"{type(g).__name__}")
        if len(g) != len(w):
            raise ValueError(f"update_: {where} has {len(w)} entries but its gradient has "
                             f"{len(g)}")
        for i, (wi, gi) in enumerate(zip(w, g, strict=True)):
            yield from _leaves(wi, gi, _part(opt, i, wi, where), f"{where}[{i}]")
        return
    raise TypeError(f"update_: {where} must be a Param, a float array, or a list, tuple or "
                    f"dict of them; got {type(w).__name__}")


def _part(opt: Any, key: Any, w: Any, where: str) -> Any:
    """The optimizer for entry ``key`` of a structure: its own entry, or the shared template."""
    if isinstance(opt, (list, tuple, dict)):
        if isinstance(opt, dict) and key not in opt:
            raise KeyError(f"update_: no optimizer for {where}[{key!r}]")
        if isinstance(opt, (list, tuple)) and key >= len(opt):
            raise ValueError(f"update_: {len(opt)} optimizers for more entries of {where}")
        return opt[key]
    if isinstance(opt, Optimizer) and is_array(w) and (opt.state_names or opt.schedule):
        raise TypeError(
            f"update_: one {type(opt).__name__} for several arrays of {where} would mix their "
            f"states; give one optimizer per array (a structure like {where}), or wrap the "
            f"arrays in Params, which keep a copy each"
        )
    return opt


def _step_param(p: Param, g: Any, opt: Optimizer) -> Param:
    """One step of ``opt`` (the Param's own state) on ``p.value`` in place; returns ``p``.

    An array value is updated in place (views of it see the change); a number value (a Python
    or NumPy scalar) is updated through a 0-d array and stored back as the same type.
    """
    if g is None:
        return p
    if not isinstance(opt, Optimizer):
        raise TypeError(f"update_: p.opt must be an Optimizer (or None); got "
                        f"{type(opt).__name__}")
    opt.claim(p)
    v = p.value
    if is_array(v):
        opt.step_(v, g)
        return p
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)):
        raise TypeError(f"update_: the Param's value must be a float array or a number; got "
                        f"{type(v).__name__}")
    arr = np.array(v, dtype=v.dtype if isinstance(v, np.floating) else np.float64)
    opt.step_(arr, g)
    p.value = arr[()] if isinstance(v, np.generic) else float(arr)
    return p
