"""The user-facing API: ``diff``, ``grad``, ``gradloss``, ``value``, ``params``, ``axpy_``,
``vjp``; the tutorial's "The interface" and "The function interface" pages show them at work.

Owns recording a function (pushing and popping tapes around it), reading gradients from
the leaves, and ``set_sweep``, the switch a tool uses to wrap the backward sweep. Does not own
the sweep itself (``tape.py``), the recording call (``tensor.py``) or walking objects
(``walk.py``, which ``params`` uses).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .backend import array_module, is_array
from .primitive import constant
from .sparse import Sparse
from .tape import Tape, backward, pop_tape, push_tape, seed_like
from .tensor import Param, Result, Tensor, lower, new_leaf, node_on, peel, raw
from .walk import params  # noqa: F401  (public here: ag.params)

__all__ = ["diff", "grad", "gradloss", "value", "params", "axpy_", "vjp"]


# ----------------------------------------------------------------------------------------
# diff and grad(tape, p)
# ----------------------------------------------------------------------------------------


def _kind(v: Any) -> str:
    """``v``'s type, with the dtype of an array (an object or string array is not a number)."""
    dtype = getattr(v, "dtype", None)
    return f"{type(v).__name__} of dtype {dtype}" if dtype is not None else type(v).__name__


def _scalar_check(where: str, v: Any) -> None:
    v = raw(v)
    if isinstance(v, numbers.Number) and not isinstance(v, bool):
        return
    size = getattr(v, "size", None)
    if size is None or getattr(v, "dtype", np.dtype(object)).kind not in "biufc":
        raise ValueError(
            f"{where}: the function must return a scalar (a number, or a 0-d or size-1 "
            f"array) to be differentiated; it returned {_kind(v)}"
        )
    if size != 1:
        raise ValueError(
            f"{where}: the function must return a scalar (a number, or a 0-d or size-1 "
            f"array) to be differentiated; it returned an array of shape {tuple(v.shape)} "
            f"(reduce it first, e.g. with np.sum or np.mean)"
        )


def _record(f: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[Tape, Any]:
    """Run ``f`` on a new tape; return the finished tape and ``f``'s result node (or None)."""
    tape = push_tape()
    try:
        out = f(*args, **kwargs)
        result = node_on(out, tape)
    finally:
        pop_tape(tape)
    tape.result = result
    tape.value = result.value if result is not None else peel(out)
    return tape, out


def diff(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Tape:
    """Run ``f(*args, **kwargs)``, recording every operation on a ``Param``, and return the Tape.

    The result must be a scalar. ``value(tape)`` is the result and ``grad(tape, p)`` the
    gradient of the result with respect to ``Param`` ``p``. Nested calls give higher-order
    derivatives.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import Param, diff, grad, value
        >>> x = Param(np.array([1.0, 2.0, 3.0]))
        >>> y = diff(lambda: np.sum(x ** 2))
        >>> y
        T(14.0)
        >>> grad(y, x)
        array([2., 4., 6.])
    """
    if not callable(f):  # diff(np.sum(x ** 2)): the value was computed before diff could see it
        raise TypeError(
            f"diff: the first argument must be the function to run and record, such as "
            f"diff(lambda: np.sum(x ** 2)); got {f!r:.60}, a value "
            f"already computed (outside diff nothing is recorded). Wrap the expression in a "
            f"lambda: diff(lambda: <expression>)")
    tape, _ = _record(f, args, kwargs)
    _scalar_check("diff", tape.value)
    return tape


ENGINE_SWEEP = backward  # the engine's own backward sweep; set_sweep(None) puts it back


def set_sweep(fn: Callable[..., Any] | None) -> None:
    """Make ``fn`` the backward sweep that ``grad`` and ``vjp`` run (``None``: the engine's own).

    ``fn(tape, seeds, retain=False)`` must do what :func:`minitorch_ag.tape.backward` does; a
    tool such as the profiler passes a wrapper around it. Unused, this costs nothing.
    """
    global backward
    backward = ENGINE_SWEEP if fn is None else fn


def _sweep(tape: Tape) -> None:
    if not tape.swept:
        if tape.result is not None:
            backward(tape, [(tape.result, seed_like(raw(tape.value)))])
        tape.swept = True


def _finish(g: Any, like: Any) -> Any:
    """A leaf's gradient as the user gets it: the argument's type, writable, never shared."""
    if g is None or isinstance(g, Tensor):
        return g
    if isinstance(g, Sparse):
        if is_array(g.values) and not getattr(g.values.flags, "writeable", True):  # (CuPy: none)
            return Sparse(g.shape, g.indices, g.values.copy())
        return g
    if isinstance(like, numbers.Number) and not isinstance(like, np.generic):
        return complex(g) if isinstance(like, complex) else float(g)
    if is_array(g) and not getattr(g.flags, "writeable", True):
        return g.copy()
    return g


def _tape_grad(tape: Tape, x: Any) -> Any:
    _sweep(tape)
    if isinstance(x, Param):
        leaf = tape.leaves.get(id(x))
        return None if leaf is None else _finish(leaf.outgrad, x.value)
    if isinstance(x, Result) and x.mark is tape.mark and x.prim is None:
        return _finish(x.outgrad, raw(x.value))
    raise TypeError(
        f"grad(tape, x): x must be a Param (or a leaf of that tape); got {type(x).__name__}. "
        f"Gradients are kept for parameters only: for a model's (or a list's), ask for each, "
        f"[grad(tape, p) for p in ag.params(model)]"
    )


# ----------------------------------------------------------------------------------------
# The function interface: grad(f), gradloss(f)
# ----------------------------------------------------------------------------------------


def _is_differentiable_leaf(x: Any) -> bool:
    if isinstance(x, Tensor):
        return True
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, numbers.Number):
        return True
    return is_array(x) and x.dtype.kind in "iufc"


def _map_structure(fn: Callable[[Any], Any], x: Any) -> Any:
    """``fn`` applied to every leaf of ``x``, nested lists, tuples and dicts kept as they are."""
    if _is_differentiable_leaf(x):
        return fn(x)
    if isinstance(x, dict):
        return type(x)((k, _map_structure(fn, v)) for k, v in x.items())
    if isinstance(x, tuple):
        items = [_map_structure(fn, v) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
    if isinstance(x, list):
        return type(x)(_map_structure(fn, v) for v in x)
    return x


def _zip_structure(fn: Callable[[Any, Any], Any], x: Any, y: Any) -> Any:
    """``fn(leaf_of_x, leaf_of_y)`` over two structures of the same shape."""
    if _is_differentiable_leaf(x):
        return fn(x, y)
    if isinstance(x, dict):
        return type(x)((k, _zip_structure(fn, v, y[k])) for k, v in x.items())
    if isinstance(x, tuple):
        items = [_zip_structure(fn, a, b) for a, b in zip(x, y, strict=True)]
        return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
    if isinstance(x, list):
        return type(x)(_zip_structure(fn, a, b) for a, b in zip(x, y, strict=True))
    return None


def _leaf_of(tape: Tape, x: Any) -> Any:
    """The leaf node of argument ``x`` (moved out of ``x`` if ``f`` updated it in place)."""
    return tape.renamed.get(id(x), x)


def _dense(g: Any) -> Any:
    """A Sparse gradient as a dense array: the function interface returns plain arrays."""
    return g.to_dense() if isinstance(g, Sparse) else g


def _leaf_gradient(original: Any, leaf: Any) -> Any:
    return _finish(_dense(leaf.outgrad), raw(original))


def _differentiate(f: Callable[..., Any], argnums: tuple[int, ...], args: tuple,
                   kwargs: dict) -> tuple[Tape, Any, list, Any]:
    """Record ``f`` with fresh leaves for the arguments in ``argnums``.

    Returns the tape, ``f``'s output, the arguments as given to ``f`` and the output's node
    (a tuple of nodes when ``f`` returns a tuple; ``None`` for an untracked output).
    """
    for i in argnums:
        if not -len(args) <= i < len(args):
            raise IndexError(
                f"grad: argnum {i} is out of range for a call with {len(args)} arguments; use "
                f"an argnum between {-len(args)} and {len(args) - 1}"
            )
    lowered = [_map_structure(lower, a) if (i in argnums or i - len(args) in argnums) else a
               for i, a in enumerate(args)]
    tape = push_tape()
    try:
        wrapped = [
            _map_structure(lambda v: new_leaf(v, tape), a)
            if (i in argnums or i - len(args) in argnums) else a
            for i, a in enumerate(lowered)
        ]
        out = f(*wrapped, **kwargs)
        if isinstance(out, tuple):
            result = tuple(node_on(o, tape) for o in out)
        else:
            result = node_on(out, tape)
    finally:
        pop_tape(tape)
    if not isinstance(result, tuple):
        tape.result = result
        tape.value = result.value if result is not None else peel(out)
    return tape, out, wrapped, result


def _gradient_function(f: Callable[..., Any], argnum: int | tuple[int, ...], with_loss: bool,
                       name: str) -> Callable[..., Any]:
    argnums = argnum if isinstance(argnum, tuple) else (argnum,)

    @functools.wraps(f)
    def gradfun(*args: Any, **kwargs: Any) -> Any:
        tape, _, wrapped, _ = _differentiate(f, argnums, args, kwargs)
        _scalar_check(name, tape.value)
        _sweep(tape)
        grads = tuple(_zip_structure(lambda a, x: _leaf_gradient(a, _leaf_of(tape, x)),
                                     args[i], wrapped[i]) for i in argnums)
        g = grads if isinstance(argnum, tuple) else grads[0]
        return (g, tape.value) if with_loss else g

    return gradfun


def grad(f: Any, x: Any = None, *, argnum: int | tuple[int, ...] = 0) -> Any:
    """The gradient: of a recorded Tape with respect to a Param, or of a function.

    ``grad(tape, p)`` reads the gradient of ``tape``'s result with respect to ``p`` (``None``
    when the result does not depend on ``p``). Where ``p`` is only used through row lookups
    ``p[ids]`` (``ids`` an integer array, ``p`` with two or more axes: an embedding table), that
    gradient is a :class:`~minitorch_ag.sparse.Sparse` (the rows looked up and their gradients);
    ``axpy_`` applies it to those rows only, and ``np.asarray(g)`` or ``value(g)`` makes it
    dense. The function interface below always returns dense arrays. ``grad(f, argnum=0)``
    returns a function with
    ``f``'s arguments that computes the gradient of ``f``'s scalar result with respect to
    argument ``argnum`` (a tuple of positions gives a tuple of gradients). The gradient has the
    argument's structure: a number for a number, an array for an array, and nested lists,
    tuples and dicts of those; ``None`` where nothing depends on an entry.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import grad
        >>> grad(lambda w: np.sum(w ** 2))(np.array([1.0, 2.0]))
        array([2., 4.])
        >>> round(grad(grad(np.sin))(0.5), 6)
        -0.479426
    """
    if isinstance(f, Tape):
        if x is None:
            raise TypeError("grad(tape, x): say which Param x to take the gradient for")
        return _tape_grad(f, x)
    if not callable(f):
        raise TypeError(
            f"grad: the first argument must be a Tape (from diff) or a function; "
            f"got {type(f).__name__} {f!r:.60}. For the gradient of an expression, "
            f"record it first: tape = diff(lambda: <expression>), then grad(tape, x)"
        )
    if x is not None:
        raise TypeError("grad(f, ...): use the keyword argnum= to choose the argument")
    return _gradient_function(f, argnum, with_loss=False, name="grad")


def gradloss(f: Callable[..., Any], argnum: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """Like ``grad(f)``, but the returned function gives ``(gradient, loss)``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import gradloss
        >>> g, loss = gradloss(lambda w: np.sum(w ** 2))(np.array([1.0, 2.0]))
        >>> g, float(loss)
        (array([2., 4.]), 5.0)
    """
    return _gradient_function(f, argnum, with_loss=True, name="gradloss")


# ----------------------------------------------------------------------------------------
# Values, parameters, updates
# ----------------------------------------------------------------------------------------


def value(x: Any) -> Any:
    """The value inside a Tensor or Tape (a Sparse gradient densified); anything else is
    returned unchanged.

    Inside ``diff`` this detaches: the value is a constant to the innermost tape. The tape
    keeps that array, so it is read-only until recording stops.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import Param, value
        >>> value(Param(np.array([1.0, 2.0])))
        array([1., 2.])
        >>> value(3.0)
        3.0
    """
    return constant(x)


# Rows per block of axpy_'s update: ``a * x`` needs a temporary, and a whole-array one doubles
# the memory a large update touches; blocks of about this many elements keep it small.
_AXPY_BLOCK = 1 << 16


def _scaled_add(target: Any, a: Any, x: Any) -> None:
    """``target += a * x`` in place, through a temporary of at most one block of rows."""
    shape = getattr(x, "shape", ())
    if (len(shape) < 1 or shape != target.shape or x.size <= _AXPY_BLOCK
            or array_module(target) is not np):
        target += a * x
        return
    rows = max(1, _AXPY_BLOCK // max(1, x.size // shape[0]))
    for start in range(0, shape[0], rows):
        target[start:start + rows] += a * x[start:start + rows]


def axpy_(a: Any, x: Any, y: Any) -> Any:
    """``y += a * x`` in place, for an array or a ``Param`` ``y``; returns ``y``.

    A ``None`` gradient (the loss did not depend on ``y``) leaves ``y`` unchanged; a
    :class:`~minitorch_ag.sparse.Sparse` one updates only the rows it holds.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import Param, axpy_
        >>> w = Param(np.array([1.0, 2.0]))
        >>> axpy_(-0.5, np.array([2.0, 2.0]), w)
        P(array([0., 1.]))
    """
    if x is None:
        return y
    x = raw(x)
    target = y.value if isinstance(y, Tensor) else y
    if not is_array(target) and not isinstance(y, Tensor):
        raise TypeError(f"axpy_(a, x, y): y must be an array or a Param; got {type(y).__name__}")
    if isinstance(x, Sparse):
        if not is_array(target):
            raise TypeError("axpy_(a, x, y): a Sparse x needs an array y (or a Param of one)")
        x.add_to_(target, a)
    elif is_array(target):
        _scaled_add(target, a, x)
    else:
        y.value = target + a * x
    return y


# ----------------------------------------------------------------------------------------
# Value and pullback
# ----------------------------------------------------------------------------------------


def vjp(f: Callable[..., Any], *args: Any, const: Sequence[int] = ()) -> tuple[Any, Any]:
    """``f``'s value at ``args`` and its pullback (AutoDiffSource.jl's value-and-gradient API).

    ``back(dz)`` returns the gradients of ``<dz, f(*args)>`` with respect to each argument, as a
    tuple with one entry per argument (``None`` for those listed in ``const``; zeros for
    arguments the outputs do not depend on). When ``f`` returns a tuple, ``back`` takes one
    cotangent per output (``None`` for zero). ``back()`` with no cotangent means ones, for
    scalar outputs. The pullback can be called any number of times.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> z, back = ag.vjp(lambda x, y: (x + 2 * y) * y ** 2, 1.0, 2.0)
        >>> z, back(1.0)
        (20.0, (4.0, 28.0))
    """
    const_set = {i % len(args) for i in const} if args else set()
    argnums = tuple(i for i in range(len(args)) if i not in const_set)
    tape, out, wrapped, result = _differentiate(f, argnums, args, {})
    several = isinstance(out, tuple)
    outputs = tuple(out) if several else (out,)
    nodes = list(result) if several else [result]
    pairs = zip(nodes, outputs, strict=True)
    values = tuple(n.value if n is not None else peel(o) for n, o in pairs)

    def back(*cotangents: Any) -> tuple[Any, ...]:
        if not cotangents:
            cotangents = tuple(seed_like(raw(v)) for v in values)
        if len(cotangents) != len(outputs):
            raise TypeError(
                f"vjp: the pullback takes one cotangent per output: {len(outputs)} expected, "
                f"{len(cotangents)} given"
            )
        pairs = zip(nodes, cotangents, strict=True)
        seeds = [(n, c) for n, c in pairs if n is not None and c is not None]
        backward(tape, seeds, retain=True)
        grads = []
        for i, a in enumerate(args):
            if i in const_set:
                grads.append(None)
            else:
                grads.append(_zip_structure(
                    lambda o, x: _pullback_gradient(o, _leaf_of(tape, x)), a, wrapped[i]))
        return tuple(grads)

    z = values if several else values[0]
    return (type(out)(*z) if hasattr(out, "_fields") else z), back


def _pullback_gradient(original: Any, leaf: Any) -> Any:
    g = _dense(leaf.outgrad)
    if g is None:
        v = raw(original)
        g = np.zeros_like(v, dtype=float if np.result_type(v).kind in "biu" else None)
    elif not isinstance(g, Tensor) and is_array(g):
        g = g.copy()  # the next sweep reuses the leaf; the caller keeps this one
    return _finish(g, raw(original))

