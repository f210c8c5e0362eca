"""Forward mode: Jacobian-vector products (``jvp``, ``linearize``).

Owns the forward sweep and the JVP rules derived from gradient rules. Does not own recording
(``api.py`` records ``f`` exactly as ``grad(f)`` does), the native JVP rules (the tables
``rules/*_jvp.py``, attached to the primitives' records with ``primitive.defjvp``) or the
helpers built on it (``jacobians.py``).

How a JVP is computed, in three steps:

1. **Record.** ``f`` runs once on fresh leaves for its arguments, recording every primitive
   on a tape (the same recording as ``grad(f)``: Params, nested ``diff`` and in-place updates
   all work). No backward pass runs; the nodes stay on the tape.
2. **Sweep forward.** One loop over the tape in creation order (a topological order) gives
   each node the tangent of its value: the seeds at the argument leaves, and for a primitive
   node the sum over its tracked arguments of each argument's contribution ``J_k · t_k``.
   A node none of whose arguments has a tangent gets none (it is constant along the
   tangent), so the sweep does work only where the tangent flows.
3. **Rules.** A primitive with native JVP rules (``defjvp``) gives ``J_k · t_k`` directly,
   broadcast to its output's shape by the framework. Any other differentiable primitive uses
   its gradient rule by the *transpose trick*: the gradient rule ``u -> rule_k(u, y, *args)``
   is linear in the cotangent ``u`` and is ``J_k^T u``; so ``J_k · t_k`` is the gradient with
   respect to ``u`` of ``<rule_k(u, y, *args), t_k>``, computed by a (nested) reverse pass
   through the rule. Every differentiable primitive therefore works in forward mode, at the
   cost of a small reverse pass per node for those without native rules.

``linearize(f, *primals)`` records once and returns a function that runs only the forward
sweep for each new tangent: this is what a forward-mode Jacobian uses, one sweep per input
direction. Tangents are computed with ``np.*`` calls on the recorded values, so a JVP is
itself differentiable: ``grad`` of a JVP, or forward over reverse (``hvp``), record as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .api import _differentiate, _leaf_of, _zip_structure, grad
from .backend import array_module
from .sparse import Sparse
from .tape import ITEM, Tape, unbroadcast
from .tensor import Tensor, peel, raw

__all__ = ["jvp", "linearize", "forward_sweep"]


# ----------------------------------------------------------------------------------------
# The forward sweep
# ----------------------------------------------------------------------------------------


def forward_sweep(tape: Tape, seeds: dict[int, Any]) -> dict[int, Any]:
    """The tangent of every node of ``tape`` reached from ``seeds`` (``id(leaf) -> tangent``).

    Returns a dict from ``id(node)`` to its tangent (a tuple for multi-output primitives);
    nodes missing from it have a zero tangent. The tape must not have been swept backwards
    (that releases the nodes' arguments).
    """
    tangents: dict[int, Any] = {}
    for node in tape.nodes:
        if node is None:
            raise ValueError("forward_sweep: this tape's backward pass already released it")
        prim = node.prim
        if prim is None:  # a leaf: its seed, if any
            t = seeds.get(id(node))
            if t is not None:
                tangents[id(node)] = t
            continue
        parents = node.parents
        if prim is ITEM:  # one output of a multi-output primitive
            whole = tangents.get(id(parents[0]))
            if whole is not None and whole[node.args[1]] is not None:
                tangents[id(node)] = whole[node.args[1]]
            continue
        ts = [None if p is None else tangents.get(id(p)) for p in parents]
        if any(t is not None for t in ts):
            t = _node_tangent(prim, node, ts)
            if t is not None:
                tangents[id(node)] = t
    return tangents


def _node_tangent(prim: Any, node: Any, ts: list[Any]) -> Any:
    """The tangent of ``node``'s output, given its arguments' tangents ``ts``."""
    y = node.value
    args = node.args
    kwargs = node.kwargs or {}
    if prim.jvp_all is not None:
        return _fit(prim.jvp_all(ts, y, *args, **kwargs), y)
    if prim.grad_all is not None:
        return _derived(prim, node, ts, range(len(ts)))
    total = None
    derive = []
    for k, t in enumerate(ts):
        if t is None:
            continue
        rule = prim.jvps[k] if k < len(prim.jvps) else None
        if rule is None:
            if k < len(prim.grads) and prim.grads[k] is not None:
                derive.append(k)  # no native rule: from the gradient rule
            continue
        total = _add(total, _fit(rule(t, y, *args, **kwargs), y))
    if derive:
        total = _add(total, _derived(prim, node, ts, derive))
    return total


def _fit(c: Any, y: Any) -> Any:
    """A rule's tangent broadcast to the shape of output ``y`` and cast to its float dtype."""
    if (c.__class__ is np.ndarray and y.__class__ is np.ndarray and c.shape == y.shape
            and (c.dtype == y.dtype or y.dtype.kind not in "fc")):
        return c  # the common case: nothing to fit
    if c is None:
        return None
    if isinstance(y, tuple):
        return tuple(_fit(ci, yi) for ci, yi in zip(c, y, strict=True))
    if c.__class__ is Sparse:
        c = c.to_dense()
    shape = np.shape(raw(y))
    if np.shape(raw(c)) != shape:
        c = np.broadcast_to(c, shape)
    dtype = getattr(raw(y), "dtype", None)
    if dtype is not None and dtype.kind in "fc":
        have = getattr(raw(c), "dtype", None)
        if have is None:
            c = dtype.type(c)
        elif have != dtype:
            c = c.astype(dtype)
    return c


def _add(a: Any, b: Any) -> Any:
    """``a + b`` for tangents, where ``None`` is zero and tuples add item by item."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, tuple):
        return tuple(_add(x, z) for x, z in zip(a, b, strict=True))
    return a + b


def _zero_cotangent(y: Any) -> Any:
    """Zeros shaped like output ``y`` (a tuple of them for several outputs), in a float type."""
    if isinstance(y, tuple):
        return tuple(_zero_cotangent(v) for v in y)
    v = raw(y)
    xp = array_module(v)
    kind = getattr(getattr(v, "dtype", None), "kind", "f")
    return xp.zeros_like(v, dtype=None if kind in "fc" else float)


def _derived(prim: Any, node: Any, ts: list[Any], ks: Sequence[int]) -> Any:
    """``sum_k J_k · t_k`` over ``ks`` from the gradient rules, by the transpose trick.

    ``g(u) = sum_k <rule_k(u, y, *args), t_k>`` is linear in the cotangent ``u``, and its
    gradient is ``sum_k J_k · t_k``; a reverse pass through the rules (nested, so that it works
    whatever the rules compute) gives it. The point ``u`` is irrelevant (``g`` is linear): zeros.
    """
    y = node.value
    args = node.args
    kwargs = node.kwargs or {}
    active = [k for k in ks if ts[k] is not None]

    def pairing(u: Any) -> Any:
        if prim.grad_all is not None:
            gs = prim.grad_all(u, y, *args, **kwargs)
        else:
            gs = {k: prim.grads[k](u, y, *args, **kwargs) for k in active}
        total: Any = 0.0
        for k in active:
            g = gs[k]
            if g is None:
                continue
            if g.__class__ is Sparse:
                g = g.to_dense()
            total = total + np.sum(unbroadcast(g, args[k], prim, k) * ts[k])
        return total

    return _fit(grad(pairing)(_zero_cotangent(y)), y)


# ----------------------------------------------------------------------------------------
# The public functions
# ----------------------------------------------------------------------------------------


def _plain(t: Any, like: Any) -> Any:
    """An output tangent as the user gets it: zeros for none, writable, a number for a number."""
    v = raw(like)
    if t is None:
        xp = array_module(v)
        kind = getattr(getattr(v, "dtype", None), "kind", "f")
        t = xp.zeros_like(v, dtype=None if kind in "fc" else float)
    if isinstance(t, Tensor):
        return t
    if isinstance(v, (int, float)) and not isinstance(v, np.generic):
        return float(t)
    if hasattr(t, "flags") and not t.flags.writeable:
        t = t.copy()
    return t


def linearize(f: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[..., Any]]:
    """``f(*primals)`` and a function that maps tangents of the primals to ``J · tangents``.

    ``f`` is recorded once; each call of the returned function runs only the forward sweep,
    so many directions (the columns of a Jacobian) cost one recording and one sweep each.
    Arguments may be numbers, arrays or nested lists, tuples and dicts of them; the tangents
    have the same structure. When ``f`` returns a tuple, so does the linear map.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> y, f_jvp = ag.linearize(np.sin, 0.0)
        >>> float(y), float(f_jvp(2.0)), float(f_jvp(-1.0))
        (0.0, 2.0, -1.0)
    """
    argnums = tuple(range(len(primals)))
    tape, out, wrapped, result = _differentiate(f, argnums, primals, {})
    several = isinstance(out, tuple)
    outputs = tuple(out) if several else (out,)
    nodes = tuple(result) if several else (result,)
    values = tuple(n.value if n is not None else peel(o)
                   for n, o in zip(nodes, outputs, strict=True))

    def apply(*tangents: Any) -> Any:
        if len(tangents) != len(primals):
            raise TypeError(f"linearize: the linear map takes one tangent per argument: "
                            f"{len(primals)} expected, {len(tangents)} given")
        seeds: dict[int, Any] = {}
        for w, t in zip(wrapped, tangents, strict=True):
            _zip_structure(lambda leaf, tl: _seed(seeds, tape, leaf, tl), w, t)
        found = forward_sweep(tape, seeds)
        ts = tuple(_plain(None if n is None else found.get(id(n)), v)
                   for n, v in zip(nodes, values, strict=True))
        return ts if several else ts[0]

    z = (type(out)(*values) if hasattr(out, "_fields") else values) if several else values[0]
    return z, apply


def _seed(seeds: dict[int, Any], tape: Tape, leaf: Any, t: Any) -> None:
    if t is None:
        return
    node = _leaf_of(tape, leaf)
    like = raw(node.value)
    dtype = getattr(like, "dtype", None)
    if dtype is not None and dtype.kind in "fc" and getattr(raw(t), "dtype", dtype) != dtype:
        t = t.astype(dtype)
    if np.shape(raw(t)) != np.shape(like):
        raise ValueError(f"jvp: a tangent of shape {np.shape(raw(t))} for an argument of shape "
                         f"{np.shape(like)}; each tangent must have its primal's shape")
    seeds[id(node)] = t


def jvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """``(f(*primals), J · tangents)``: the value and the Jacobian-vector product (forward mode).

    ``primals`` and ``tangents`` are sequences with one entry per argument of ``f``; each
    tangent has the structure, shapes and dtype of its primal. The product is computed by
    propagating the tangents forward through JVP rules (native, or derived from the
    gradient rules), one sweep, without forming the Jacobian.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> y, t = ag.jvp(lambda x: x ** 2, (np.array([1.0, 2.0]),), (np.array([1.0, 0.5]),))
        >>> y, t
        (array([1., 4.]), array([2., 2.]))
    """
    primals = tuple(primals)
    tangents = tuple(tangents)
    if len(primals) != len(tangents):
        raise TypeError(f"jvp: one tangent per primal: {len(primals)} primals, "
                        f"{len(tangents)} tangents")
    out, apply = linearize(f, *primals)
    return out, apply(*tangents)

