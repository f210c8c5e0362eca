"""Moving whole objects between devices: ``to_device`` walks a model and moves its arrays.

``to_device(obj, device)`` moves everything array-valued reachable from ``obj`` to ``"cpu"``
(NumPy), ``"gpu"`` or ``"gpu:N"`` (CuPy):

* an array gives a new array on ``device`` (the same one when it is there already);
* a ``Param`` is moved in place: ``p.value`` is replaced, and so are the state arrays of the
  optimizer in ``p.opt`` (Adam's moments, ...), so that training continues on the new device;
* any other object (a model, an optimizer, a dataset holder) is walked the way ``ag.params``
  walks it: attributes (``__dict__`` and ``__slots__``), lists, tuples, dicts, sets, closure
  cells and bound methods. Params met on the way are moved in place; plain arrays held in an
  attribute, a list item, a dict value or a closure cell (BatchNorm's running statistics, ...)
  are replaced there by their moved copy. Each object is visited once, cycles are safe, and a
  Param or array shared by two layers stays shared.
* Containers: lists, dicts and objects are updated **in place** and returned themselves;
  tuples (and named tuples) are immutable, so a tuple holding an array is **rebuilt** and the
  new tuple is returned and stored back where it was found. A tuple holding only Params and
  objects is moved in place and returned itself. Sets and frozensets hold no arrays (arrays
  are not hashable); their Params and objects are moved in place.

Left as they are: numbers, strings, types, modules, NumPy scalars, and recorded ``Result``
values (a value of a running computation; move its inputs instead). ``functools.partial``
arguments are walked for Params and objects, but an array among them cannot be replaced and
raises ``TypeError``.

The default device (``set_device``, ``with device(...)``) lives in ``device.py``; moving one
array in ``backend.py``.
"""

from __future__ import annotations

import functools
import types
from typing import Any

import numpy as np

from . import backend
from .backend import is_array
from .device import checked_device
from .tape import Tape
from .tensor import Param, Tensor

__all__ = ["to_device"]

_ATOMS = (str, bytes, bytearray, int, float, complex, bool, type, types.ModuleType, range,
          np.dtype, np.generic, types.BuiltinFunctionType, np.ufunc, types.CodeType)


def to_device(obj: Any, device: str) -> Any:
    """``obj`` with every array reachable from it on ``device``; see the module doc.

    Args:
        obj: an array, a ``Param``, a model or any nesting of lists, tuples, dicts and objects.
        device: ``"cpu"``, ``"gpu"`` (GPU 0), ``"gpu:N"`` (``"cuda:N"`` is accepted too).

    Returns:
        ``obj`` itself (moved in place), except for an array (its copy on ``device``) and a
        tuple that holds arrays (a new tuple).

    Raises:
        RuntimeError: a GPU is asked for and CuPy is not installed, or sees no such GPU.
        ValueError: ``device`` is not a device name.

    Example:
        >>> import numpy as np
        >>> import minitorch_ag as ag
        >>> class Affine:
        ...     def __init__(self):
        ...         self.w = ag.Param(np.ones((2, 2)))
        ...         self.scale = np.ones(2)
        >>> m = Affine()
        >>> ag.to_device(m, "cpu") is m
        True
    """
    name = checked_device(device, "to_device")
    return _Mover(name).move(obj)


class _Mover:
    """One walk of ``to_device``: the target device and the objects already seen."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.done: dict[int, Any] = {}  # id -> what the object became (itself, or a new tuple)
        self.keep: list[Any] = []  # keeps visited objects alive so that their ids stay unique

    def move(self, x: Any) -> Any:
        if x is None or isinstance(x, _ATOMS):
            return x
        if is_array(x):
            key = id(x)
            if key not in self.done:  # an array shared by two places becomes one moved array
                self.keep.append(x)
                self.done[key] = backend.to_device(x, self.name)
            return self.done[key]
        key = id(x)
        if key in self.done:
            return self.done[key]
        self.keep.append(x)
        self.done[key] = x  # provisional: a cycle back to x finds x itself
        if isinstance(x, Param):
            self._param(x)
        elif isinstance(x, (Tensor, Tape)):
            pass
        elif isinstance(x, tuple):
            self.done[key] = x = self._tuple(x)
        elif isinstance(x, list):
            for i, v in enumerate(x):
                new = self.move(v)
                if new is not v:
                    x[i] = new
        elif isinstance(x, dict):
            for k, v in list(x.items()):
                new = self.move(v)
                if new is not v:
                    x[k] = new
        elif isinstance(x, (set, frozenset)):
            for v in sorted(x, key=id):
                self.move(v)
        elif isinstance(x, types.FunctionType):
            for cell in x.__closure__ or ():
                try:
                    v = cell.cell_contents
                except ValueError:  # an empty cell
                    continue
                new = self.move(v)
                if new is not v:
                    cell.cell_contents = new
        elif isinstance(x, types.MethodType):
            self.move(x.__self__)
        elif isinstance(x, functools.partial):
            self._partial(x)
        else:
            self._attributes(x)
        return x

    def _param(self, p: Param) -> None:
        v = p.value
        new = self.move(v)
        if new is not v:
            p.value = new
        if p.opt is not None:
            self.move(p.opt)

    def _tuple(self, t: tuple) -> tuple:
        items = [self.move(v) for v in t]
        if all(a is b for a, b in zip(items, t, strict=True)):
            return t
        return type(t)(*items) if hasattr(t, "_fields") else type(t)(items)

    def _partial(self, f: functools.partial) -> None:
        for v in (f.func, *f.args, *f.keywords.values()):
            if self.move(v) is not v:
                raise TypeError(
                    f"to_device: a functools.partial holds an array argument "
                    f"({type(v).__name__} of shape {getattr(v, 'shape', '?')}) that cannot be "
                    f"replaced in place; move the array before making the partial"
                )

    def _attributes(self, obj: Any) -> None:
        d = getattr(obj, "__dict__", None)
        if isinstance(d, dict):
            for k, v in list(d.items()):
                new = self.move(v)
                if new is not v:
                    d[k] = new
        for cls in type(obj).__mro__:
            slots = cls.__dict__.get("__slots__", ())
            for slot in (slots,) if isinstance(slots, str) else slots:
                if slot in ("__dict__", "__weakref__") or not hasattr(obj, slot):
                    continue
                v = getattr(obj, slot)
                new = self.move(v)
                if new is not v:
                    setattr(obj, slot, new)
