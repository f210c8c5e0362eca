"""``Sparse``: a gradient that is zero except at some rows of a large array.

A lookup of a few rows of a large array (an embedding table indexed by token ids) has a gradient
that is zero almost everywhere. Storing it densely costs a full-size array per step; ``Sparse``
keeps only the rows that were looked up (as AutoGrad.jl's ``Sparse`` does): row indices along the
first axis, which may repeat, and one row of values per index. It adds and scales like an array,
``axpy_`` and the optimizers apply it to the touched rows only, and it turns into a dense array
(``to_dense()`` or ``np.asarray``) wherever a dense gradient is needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import array_module, is_array, scatter_add

__all__ = ["Sparse"]


class Sparse:
    """The array of ``shape`` that is zero but for ``values[k]`` added at row ``indices[k]``.

    Args:
        shape: the shape of the dense array this stands for.
        indices: 1-d integer array of row indices into the first axis (repeats add up).
        values: array of shape ``(len(indices), *shape[1:])``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.sparse import Sparse
        >>> g = Sparse((4, 2), np.array([1, 3, 1]), np.ones((3, 2)))
        >>> g.to_dense()
        array([[0., 0.],
               [2., 2.],
               [0., 0.],
               [1., 1.]])
    """

    __slots__ = ("shape", "indices", "values")
    __array_priority__ = 1001.0  # ndarray's operators defer to ours

    def __init__(self, shape: tuple[int, ...], indices: Any, values: Any) -> None:
        shape = tuple(int(n) for n in shape)
        if not shape:
            raise ValueError("Sparse: shape must have at least one axis (rows), got ()")
        indices = array_module(indices).asarray(indices).reshape(-1)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"Sparse: indices must be integers, got dtype {indices.dtype}")
        # -1 is the last row: one name per row (coalesce). On a device, normalised without
        # looking (reading the minimum back would wait on the device).
        if indices.dtype.kind == "i" and len(indices) and (
                array_module(indices) is not np or int(indices.min()) < 0):
            indices = indices % shape[0]
        expected = (indices.shape[0], *shape[1:])
        if tuple(values.shape) != expected:
            raise ValueError(
                f"Sparse: values have shape {tuple(values.shape)}; {len(indices)} rows of an "
                f"array of shape {shape} need shape {expected}"
            )
        self.shape = shape
        self.indices = indices
        self.values = values

    # -- array-like attributes -----------------------------------------------------------

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __repr__(self) -> str:
        return (f"Sparse(shape={self.shape}, dtype={self.dtype}, rows={len(self.indices)}, "
                f"unique rows={len(np.unique(_host(self.indices)))})")

    # -- conversions ---------------------------------------------------------------------

    def to_dense(self) -> Any:
        """The dense array this gradient stands for (on the device of its values)."""
        xp = array_module(self.values)
        out = xp.zeros(self.shape, dtype=self.values.dtype)
        scatter_add(out, self.indices, self.values)
        return out

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        dense = self.to_dense()
        return np.asarray(dense, dtype=dtype)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """NumPy functions see the dense array, except ``dense + sparse`` (and ``+=``), which
        adds the stored rows only."""
        out = kwargs.get("out")
        if ufunc is np.add and method == "__call__" and len(inputs) == 2:
            a, b = inputs
            dense, sparse = (a, b) if b is self else (b, a)
            if out is None and not kwargs:
                return sparse + dense
            if (out is not None and len(out) == 1 and out[0] is dense and is_array(dense)
                    and len(kwargs) == 1 and dense.shape == self.shape):
                return sparse.add_to_(dense)
        inputs = tuple(x.to_dense() if isinstance(x, Sparse) else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def coalesce(self) -> Sparse:
        """The same gradient with each row index once (sorted) and its values summed.

        Example:
            >>> import numpy as np
            >>> from minitorch_ag.sparse import Sparse
            >>> g = Sparse((4,), np.array([3, 1, 3]), np.array([1.0, 2.0, 3.0])).coalesce()
            >>> g.indices, g.values
            (array([1, 3]), array([2., 4.]))
        """
        xp = array_module(self.values)
        rows, inverse = xp.unique(self.indices, return_inverse=True)
        if len(rows) == len(self.indices):
            order = xp.argsort(self.indices)
            return Sparse(self.shape, self.indices[order], self.values[order])
        summed = xp.zeros((len(rows), *self.shape[1:]), dtype=self.values.dtype)
        scatter_add(summed, inverse.reshape(-1), self.values)
        return Sparse(self.shape, rows, summed)

    def astype(self, dtype: Any) -> Sparse:
        """The same gradient with values of ``dtype``."""
        return Sparse(self.shape, self.indices, self.values.astype(dtype))

    # -- arithmetic: stays sparse where it can ------------------------------------------

    def __add__(self, other: Any) -> Any:
        if isinstance(other, Sparse):
            _same_shape(self, other)
            xp = array_module(self.values)
            return Sparse(self.shape, xp.concatenate([self.indices, other.indices]),
                          xp.concatenate([self.values, other.values]))
        if not is_array(other) or other.shape != self.shape:  # numbers, Tensors, broadcasting
            return self.to_dense() + other
        out = other.astype(np.result_type(other, self.values), copy=True)
        scatter_add(out, self.indices, self.values)
        return out

    __radd__ = __add__

    def __mul__(self, a: Any) -> Any:
        if _is_scalar(a):
            return Sparse(self.shape, self.indices, self.values * a)
        return self.to_dense() * a  # elementwise with an array: dense, as NumPy would give

    def __rmul__(self, a: Any) -> Any:
        return self * a if _is_scalar(a) else a * self.to_dense()

    def __truediv__(self, a: Any) -> Any:
        if _is_scalar(a):
            return Sparse(self.shape, self.indices, self.values / a)
        return self.to_dense() / a

    def __neg__(self) -> Sparse:
        return Sparse(self.shape, self.indices, -self.values)

    def __sub__(self, other: Any) -> Any:
        return self + (-other)

    def __rsub__(self, other: Any) -> Any:
        return (-self) + other

    # -- applying it ---------------------------------------------------------------------

    def add_to_(self, target: Any, alpha: Any = 1) -> Any:
        """``target += alpha * self`` in place, touching only the stored rows; returns it."""
        if tuple(target.shape) != self.shape:
            raise ValueError(
                f"Sparse.add_to_: the target has shape {tuple(target.shape)}, the gradient "
                f"{self.shape}"
            )
        values = self.values if alpha == 1 else self.values * alpha
        scatter_add(target, self.indices, values.astype(target.dtype, copy=False))
        return target

    def sum_of_squares(self) -> Any:
        """The squared Frobenius norm of the dense array (repeated rows summed first)."""
        v = self.coalesce().values
        return (v * v).sum()


def _is_scalar(a: Any) -> bool:
    """A plain number or 0-d array (not a Tensor: scaling by one must be recorded densely)."""
    return (isinstance(a, (int, float, complex, np.generic)) or is_array(a)) and np.ndim(a) == 0


def _same_shape(a: Sparse, b: Sparse) -> None:
    if a.shape != b.shape:
        raise ValueError(f"Sparse + Sparse: shapes {a.shape} and {b.shape} differ")


def _host(x: Any) -> np.ndarray:
    """A host (NumPy) copy of an index array, for printing only."""
    get = getattr(x, "get", None)
    return get() if get is not None else np.asarray(x)
