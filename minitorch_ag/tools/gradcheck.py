"""``gradcheck``: compare the gradients the library computes with finite differences.

Central differences evaluated in float64 are the reference; the analytic gradient is computed
at the arguments as given (float32 stays float32), so the default tolerances depend on the
arguments' dtype. ``order=2`` checks second derivatives: the gradient of a random projection
of the gradient, that is, Hessian-vector products.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..api import diff, grad
from ..backend import is_array
from ..tensor import Tensor, raw

__all__ = ["gradcheck"]


def _is_float_leaf(x: Any) -> bool:
    x = raw(x)
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (float, complex, np.floating)):
        return True
    return is_array(x) and x.dtype.kind == "f"


def _flatten(x: Any, path: str, out: list[tuple[str, Any]]) -> None:
    """Collect ``(path, value)`` for each float leaf of a nested argument."""
    if _is_float_leaf(x):
        out.append((path, raw(x)))
    elif isinstance(x, dict):
        for k, v in x.items():
            _flatten(v, f"{path}[{k!r}]", out)
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            _flatten(v, f"{path}[{i}]", out)


def _rebuild(x: Any, replace: dict[str, Any], path: str) -> Any:
    """``x`` with the float leaves named in ``replace`` swapped for new values."""
    if _is_float_leaf(x):
        return replace.get(path, x)
    if isinstance(x, dict):
        return type(x)((k, _rebuild(v, replace, f"{path}[{k!r}]")) for k, v in x.items())
    if isinstance(x, tuple):
        items = [_rebuild(v, replace, f"{path}[{i}]") for i, v in enumerate(x)]
        return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
    if isinstance(x, list):
        return type(x)(_rebuild(v, replace, f"{path}[{i}]") for i, v in enumerate(x))
    return x


def _lookup(g: Any, path: str, base: str) -> Any:
    """The leaf of gradient structure ``g`` at ``path`` (relative to ``base``)."""
    rest = path[len(base):]
    while rest:
        end = rest.index("]")
        key = rest[1:end]
        rest = rest[end + 1:]
        if g is None:
            return None
        g = g[eval(key, {}, {})] if isinstance(g, dict) else g[int(key)]  # noqa: S307
    return g


def _scalar(f: Callable[..., Any], args: list[Any]) -> float:
    return float(np.sum(raw(f(*args))))


def _default_tolerances(dtype: np.dtype) -> tuple[float, float]:
    if dtype == np.float64:
        return 1e-5, 1e-6
    if dtype == np.float32:
        return 2e-3, 2e-4
    return 2e-2, 2e-2


def gradcheck(f: Callable[..., Any], *args: Any, eps: float = 1e-6, rtol: float | None = None,
              atol: float | None = None, order: int = 1, seed: int = 0) -> bool:
    """Check the gradient of scalar ``f`` at ``args`` against central finite differences.

    Every float argument (arrays, numbers, and nested lists, tuples and dicts of them) is
    checked; integer and other arguments are held constant. The gradient must also have its
    argument's shape and dtype. Called with no ``args`` (AutoGrad.jl's ``@gcheck``), ``f`` is
    a closure such as ``lambda: loss(model, x, y)`` and every Param it reaches is checked.

    Args:
        f: a function of ``args`` returning a scalar.
        *args: the point at which to check.
        eps: the finite-difference step (applied to float64 copies of the arguments).
        rtol, atol: tolerances; by default 1e-5/1e-6 for float64 arguments and 2e-3/2e-4 for
            float32 ones.
        order: 1 checks the gradient, 2 the second derivatives (Hessian-vector products).
        seed: seeds the random projection used for ``order=2``.

    Returns:
        ``True``; a mismatch raises ``AssertionError`` naming the argument, the index and both
        values.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> ag.gradcheck(lambda x: np.sum(np.sin(x) * x), np.array([0.3, -1.2]))
        True
    """
    if order == 2:
        return gradcheck(_projected_gradient(f, args, seed), *args, eps=eps, rtol=rtol,
                         atol=atol, order=1)
    if order != 1:
        raise ValueError(f"gradcheck: order must be 1 or 2; got {order}")
    if not args:
        return _check_params(f, eps, rtol, atol)
    argnums = tuple(i for i, a in enumerate(args) if _has_float_leaf(a))
    if not argnums:
        kinds = ", ".join(type(a).__name__ if not hasattr(a, "dtype") else f"{type(a).__name__} "
                          f"of {a.dtype}" for a in args) or "no arguments"
        raise ValueError(
            f"gradcheck: no floating-point argument to check (got {kinds}); pass the point as "
            f"floats, e.g. np.asarray(x, dtype=float)"
        )
    analytic = grad(f, argnum=argnums)(*args)
    for i, g in zip(argnums, analytic, strict=True):
        _check_argument(f, args, i, g, eps, rtol, atol)
    return True


def _check_params(f: Callable[[], Any], eps: float, rtol: float | None,
                  atol: float | None) -> bool:
    """Check ``grad(diff(f), p)`` for every Param ``p`` that closure ``f`` reaches.

    The numeric gradient perturbs a float64 copy of each Param's value, put in place of the
    value while ``f`` runs and the original restored afterwards.
    """
    tape = diff(f)
    found = [leaf.args[0] for leaf in tape.leaves.values()]  # the Params f used, in order
    if not found:
        raise ValueError("gradcheck(f): f reaches no Param; pass the point as arguments, "
                         "gradcheck(f, *args), or use Params inside f")
    for k, p in enumerate(found):
        original = p.value
        g = grad(tape, p)
        dtype = np.result_type(original)
        r_default, a_default = _default_tolerances(dtype)
        rt = r_default if rtol is None else rtol
        at = a_default if atol is None else atol
        name = f"Param {k} (shape {np.shape(original)}, {dtype})"
        if g is not None and np.shape(g) != np.shape(original):
            raise AssertionError(f"gradcheck: {name}: gradient shape {np.shape(g)}")
        wide = np.array(original, dtype=np.float64, order="C")
        flat = wide.reshape(-1)
        numeric = np.zeros(wide.shape)
        try:
            p.value = wide
            for i in range(flat.size):
                old = flat[i]
                flat[i] = old + eps
                plus = float(np.sum(raw(f())))
                flat[i] = old - eps
                minus = float(np.sum(raw(f())))
                flat[i] = old
                numeric.reshape(-1)[i] = (plus - minus) / (2 * eps)
        finally:
            p.value = original
        got = np.zeros(wide.shape) if g is None else np.asarray(g, dtype=np.float64)
        bad = np.abs(got - numeric) > at + rt * np.abs(numeric)
        bad |= np.isnan(got) != np.isnan(numeric)
        if np.any(bad):
            idx = tuple(int(i) for i in np.argwhere(bad)[0]) if np.ndim(bad) else ()
            a, n = got[idx], numeric[idx]
            raise AssertionError(
                f"gradcheck: {name}, index {idx}: analytic {a:.8g} vs numeric {n:.8g} "
                f"(difference {abs(a - n):.3g} > tolerance {at + rt * abs(n):.3g})")
    return True


def _has_float_leaf(x: Any) -> bool:
    found: list[tuple[str, Any]] = []
    _flatten(x, "", found)
    return bool(found)


def _check_argument(f: Callable[..., Any], args: tuple, i: int, g: Any, eps: float,
                    rtol: float | None, atol: float | None) -> None:
    leaves: list[tuple[str, Any]] = []
    _flatten(args[i], "", leaves)
    for path, v in leaves:
        name = f"argument {i}{path}"
        gi = _lookup(g, path, "")
        if isinstance(gi, Tensor):
            raise AssertionError(f"gradcheck: {name}: the gradient is a tracked Tensor")
        dtype = np.result_type(v)
        r_default, a_default = _default_tolerances(dtype)
        rt = r_default if rtol is None else rtol
        at = a_default if atol is None else atol
        if gi is not None:
            if np.shape(gi) != np.shape(v):
                raise AssertionError(
                    f"gradcheck: {name}: gradient shape {np.shape(gi)} != argument shape "
                    f"{np.shape(v)}"
                )
            if is_array(v) and np.result_type(gi) != dtype:
                raise AssertionError(
                    f"gradcheck: {name}: gradient dtype {np.result_type(gi)} != argument dtype "
                    f"{dtype}"
                )
        numeric = _numeric_gradient(f, args, i, path, v, eps)
        got = np.zeros(np.shape(v)) if gi is None else np.asarray(gi, dtype=np.float64)
        bad = np.abs(got - numeric) > at + rt * np.abs(numeric)
        bad |= np.isnan(got) != np.isnan(numeric)  # a NaN compares as not bad above
        if np.any(bad):
            idx = tuple(int(k) for k in np.argwhere(bad)[0]) if np.ndim(bad) else ()
            a, n = got[idx], numeric[idx]
            raise AssertionError(
                f"gradcheck: {name} (shape {np.shape(v)}, {dtype}), index {idx}: analytic "
                f"{a:.8g} vs numeric {n:.8g} (difference {abs(a - n):.3g} > tolerance "
                f"{at + rt * abs(n):.3g})"
            )


def _numeric_gradient(f: Callable[..., Any], args: tuple, i: int, path: str, v: Any,
                      eps: float) -> np.ndarray:
    """Central differences of ``f`` with respect to one leaf, all arguments in float64."""
    wide = [_rebuild(a, {}, "") for a in args]
    wide = [_to_float64(a) for a in wide]
    base = np.array(v, dtype=np.float64, order="C")  # so that reshape(-1) is a view
    out = np.zeros(base.shape)
    flat = base.reshape(-1)
    grad_flat = out.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        values = []
        for step in (eps, -eps):
            flat[k] = old + step
            leaf = base.copy() if is_array(v) else float(base)
            point = list(wide)
            point[i] = _rebuild(wide[i], {path: leaf}, "")
            values.append(_scalar(f, point))
        flat[k] = old
        grad_flat[k] = (values[0] - values[1]) / (2 * eps)
    return out


def _to_float64(x: Any) -> Any:
    leaves: list[tuple[str, Any]] = []
    _flatten(x, "", leaves)
    return _rebuild(x, {p: (np.asarray(v, dtype=np.float64) if is_array(v) else float(v))
                        for p, v in leaves}, "")


def _projected_gradient(f: Callable[..., Any], args: tuple, seed: int) -> Callable[..., Any]:
    """``x -> sum_i <grad_i f(x), v_i>`` for fixed random ``v``: its gradient is H v."""
    rng = np.random.default_rng(seed)
    argnums = tuple(i for i, a in enumerate(args) if _has_float_leaf(a))
    directions = {}
    for i in argnums:
        leaves: list[tuple[str, Any]] = []
        _flatten(args[i], "", leaves)
        directions[i] = [(p, rng.standard_normal(np.shape(v))) for p, v in leaves]
    gradient = grad(f, argnum=argnums)

    def projected(*xs: Any) -> Any:
        total = 0.0
        for i, g in zip(argnums, gradient(*xs), strict=True):
            for p, d in directions[i]:
                gi = _lookup(g, p, "")
                if gi is not None:
                    total = total + np.sum(gi * d)
        return total

    return projected
