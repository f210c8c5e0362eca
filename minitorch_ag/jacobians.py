"""Differential operators built on the two modes: Jacobians, Hessians, Hessian-vector products,
``elementwise_grad`` and ``value_and_grad``.

Owns choosing a mode and assembling the pieces. Does not own either mode: reverse mode is
``api.vjp``/``api.grad``, forward mode ``forward.linearize``/``forward.jvp``.

A Jacobian of ``f: R^n -> R^m`` costs ``m`` reverse sweeps (one row each, from one recording,
``vjp``'s pullback) or ``n`` forward sweeps (one column each, from one recording,
``linearize``); ``mode="auto"`` takes the smaller count. A Hessian is the forward-mode
Jacobian of the gradient (forward over reverse), and a Hessian-vector product one forward
sweep through the recorded gradient computation: about the cost of a few gradients,
whatever the dimension. Everything is assembled with ``np.*`` calls, so each operator can be
differentiated again (a Jacobian of a Jacobian, ``grad`` of an ``hvp``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from .api import grad, gradloss, vjp
from .backend import array_module
from .forward import jvp, linearize
from .tensor import raw

__all__ = ["jacobian", "hessian", "hvp", "elementwise_grad", "value_and_grad"]

_MODES = ("auto", "fwd", "rev")


def _check_mode(mode: str, who: str) -> None:
    if mode not in _MODES:
        raise ValueError(f"{who}: mode must be one of {_MODES}; got {mode!r}")


def _basis(like: Any) -> Any:
    """The rows of the identity, each shaped like ``like`` (float, on its device)."""
    v = raw(like)
    shape = np.shape(v)
    dtype = getattr(v, "dtype", np.dtype(float))
    dtype = dtype if dtype.kind in "fc" else np.dtype(float)
    n = int(np.prod(shape))
    eye = array_module(v).eye(n, dtype=dtype)
    return [eye[i].reshape(shape) for i in range(n)]


def _partial(f: Callable[..., Any], args: tuple, kwargs: dict, argnum: int) -> Callable[..., Any]:
    """``f`` as a function of argument ``argnum`` alone, the others held at ``args``."""
    def g(x: Any) -> Any:
        return f(*args[:argnum], x, *args[argnum + 1:], **kwargs)
    return g


def _one_jacobian(g: Callable[..., Any], x: Any, mode: str) -> Any:
    n_in = int(np.prod(np.shape(raw(x))))
    if mode != "fwd":
        out, back = vjp(g, x)
        if isinstance(out, tuple):
            raise TypeError("jacobian: f must return one array, not a tuple")
        n_out = int(np.prod(np.shape(raw(out))))
        if mode == "rev" or n_out <= n_in:
            rows = [back(e)[0] for e in _basis(out)]
            return np.reshape(np.stack(rows), np.shape(raw(out)) + np.shape(raw(x)))
    out, lin = linearize(g, x)
    if isinstance(out, tuple):
        raise TypeError("jacobian: f must return one array, not a tuple")
    cols = [lin(e) for e in _basis(x)]
    return np.reshape(np.stack(cols, axis=-1), np.shape(raw(out)) + np.shape(raw(x)))


def jacobian(f: Callable[..., Any], argnum: int | tuple[int, ...] = 0,
             mode: str = "auto") -> Callable[..., Any]:
    """The Jacobian of ``f`` with respect to argument ``argnum``, as a function of ``f``'s
    arguments.

    For an output of shape ``S`` and an argument of shape ``A`` the Jacobian has shape
    ``S + A``: ``J[i..., j...] = d f(x)[i...] / d x[j...]``. ``mode="rev"`` builds it row by row
    (one reverse sweep per output element), ``"fwd"`` column by column (one forward sweep per
    input element), ``"auto"`` whichever needs fewer sweeps. A tuple ``argnum`` gives a tuple
    of Jacobians.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> ag.jacobian(lambda x: x[:2] * x[1:])(np.array([1.0, 2.0, 3.0]))
        array([[2., 1., 0.],
               [0., 3., 2.]])
    """
    _check_mode(mode, "jacobian")

    @functools.wraps(f)
    def jac(*args: Any, **kwargs: Any) -> Any:
        nums = argnum if isinstance(argnum, tuple) else (argnum,)
        found = tuple(_one_jacobian(_partial(f, args, kwargs, i % len(args)), args[i], mode)
                      for i in nums)
        return found if isinstance(argnum, tuple) else found[0]

    return jac


def hessian(f: Callable[..., Any], argnum: int = 0) -> Callable[..., Any]:
    """The Hessian of scalar ``f`` with respect to argument ``argnum`` (forward over reverse).

    For an argument of shape ``A`` it has shape ``A + A``; built column by column, one forward
    sweep through the recorded gradient per input element.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> ag.hessian(lambda x: x[0] ** 2 * x[1])(np.array([1.0, 3.0]))
        array([[6., 2.],
               [2., 0.]])
    """
    return jacobian(grad(f, argnum=argnum), argnum=argnum, mode="fwd")


def hvp(f: Callable[..., Any], argnum: int = 0, mode: str = "fwd") -> Callable[..., Any]:
    """The Hessian-vector product of scalar ``f``: ``hvp(f)(*args, v)`` is ``H v``.

    ``H`` is the Hessian with respect to argument ``argnum``; ``v`` (the last argument) has
    that argument's shape. ``mode="fwd"`` (forward over reverse) is one forward sweep through
    the recorded gradient; ``"rev"`` (reverse over reverse) the gradient of ``<grad f, v>``,
    for comparison. Neither forms the Hessian.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> ag.hvp(lambda x: np.sum(x ** 3))(np.array([1.0, 2.0]), np.array([1.0, 1.0]))
        array([ 6., 12.])
    """
    if mode not in ("fwd", "rev"):
        raise ValueError(f"hvp: mode must be 'fwd' or 'rev'; got {mode!r}")
    gradient = grad(f, argnum=argnum)

    @functools.wraps(f)
    def product(*args_and_v: Any, **kwargs: Any) -> Any:
        *args, v = args_and_v
        args = tuple(args)
        i = argnum % len(args)
        g = _partial(gradient, args, kwargs, i)
        if mode == "fwd":
            return jvp(g, (args[i],), (v,))[1]
        return grad(lambda x: np.sum(g(x) * v))(args[i])

    return product


def elementwise_grad(f: Callable[..., Any], argnum: int = 0) -> Callable[..., Any]:
    """The gradient of ``sum(f(...))``: for an elementwise ``f``, its derivative at each element.

    (The vector-Jacobian product with ones, as in HIPS autograd.)

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> ag.elementwise_grad(np.tanh)(np.array([0.0, 1.0]))
        array([1.        , 0.41997434])
    """
    @functools.wraps(f)
    def summed(*args: Any, **kwargs: Any) -> Any:
        return np.sum(f(*args, **kwargs))

    return grad(summed, argnum=argnum)


def value_and_grad(f: Callable[..., Any],
                   argnum: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """``(f(...), grad(f)(...))`` from one recording: JAX's and autograd's name for ``gradloss``
    (which returns them the other way round).

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> loss, g = ag.value_and_grad(lambda w: np.sum(w ** 2))(np.array([1.0, 2.0]))
        >>> float(loss), g
        (5.0, array([2., 4.]))
    """
    with_loss = gradloss(f, argnum=argnum)

    @functools.wraps(f)
    def both(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        g, loss = with_loss(*args, **kwargs)
        return loss, g

    return both
