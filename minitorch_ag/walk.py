"""The one object walker: what ``params``, ``to_device`` and ``state_dict`` visit in a model.

Owns :func:`children` (which objects a walk enters from an object, in which order, under which
name, and how a replacement is stored back) and :func:`to_device`. ``ag.params`` (``api.py``)
and ``ag.state_dict`` (``serialization.py``) walk with the same :func:`children`, so the three
agree on what a model holds. A walk enters attributes (``__dict__`` and ``__slots__``),
mappings, lists, tuples, sets, closure cells, bound methods and ``functools.partial``
arguments; it stops at :func:`is_atom` values (numbers, strings, types, modules, NumPy scalars),
arrays, Params and recorded values. Sets have no stable order to name by: their members carry
no name, and ``state_dict`` refuses Params reachable only through one.

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
import numbers
import types
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import backend
from .backend import is_array
from .device import checked_device
from .tape import Tape
from .tensor import Param, Tensor

__all__ = ["to_device", "children", "is_atom", "is_opaque"]

_ATOMS = (str, bytes, bytearray, numbers.Number, type, types.ModuleType, range, np.dtype,
          np.generic, types.BuiltinFunctionType, np.ufunc, types.CodeType)

# How a child is stored in its holder: (kind, holder, key); put() writes a replacement there.
_ITEM, _ATTR, _SLOT, _CELL, _TUPLE, _FIXED = range(6)


def is_atom(x: Any) -> bool:
    """True for values a walk never enters: None, numbers, strings, types, modules, dtypes."""
    return x is None or isinstance(x, _ATOMS)


def is_opaque(x: Any) -> bool:
    """True for atoms, arrays and Tensors (a Param is a leaf of the walk), and tapes."""
    return is_atom(x) or is_array(x) or isinstance(x, (Tensor, Tape))


def children(obj: Any) -> list[tuple[str | None, Any, tuple]]:
    """What a walk enters from ``obj``: ``(name of the step, value, where)``, in a stable order.

    ``name`` is the key, index, attribute or closure variable (``""`` for a bound method's
    object, ``None`` for a set's members, which have no stable name); ``where`` is what
    :func:`put` needs to store a replacement back.
    """
    if isinstance(obj, Mapping):
        kind = _ITEM if isinstance(obj, dict) else _FIXED
        return [(str(k), v, (kind, obj, k)) for k, v in obj.items()]
    if isinstance(obj, list):
        return [(str(i), v, (_ITEM, obj, i)) for i, v in enumerate(obj)]
    if isinstance(obj, tuple):
        return [(str(i), v, (_TUPLE, obj, i)) for i, v in enumerate(obj)]
    if isinstance(obj, (set, frozenset)):
        return [(None, v, (_FIXED, obj, None)) for v in sorted(obj, key=id)]
    if isinstance(obj, types.FunctionType):
        cells = obj.__closure__ or ()
        return [(name, cell.cell_contents, (_CELL, cell, None))
                for name, cell in zip(obj.__code__.co_freevars, cells, strict=True)
                if _cell_filled(cell)]
    if isinstance(obj, types.MethodType):
        return [("", obj.__self__, (_FIXED, obj, None))]
    if isinstance(obj, functools.partial):
        return [("func", obj.func, (_FIXED, obj, None)),
                *((f"args.{i}", v, (_FIXED, obj, None)) for i, v in enumerate(obj.args)),
                *((f"keywords.{k}", v, (_FIXED, obj, None)) for k, v in obj.keywords.items())]
    out: list[tuple[str | None, Any, tuple]] = []
    d = getattr(obj, "__dict__", None)
    if isinstance(d, dict):
        out.extend((k, v, (_ATTR, d, k)) for k, v in d.items())
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot not in ("__dict__", "__weakref__") and hasattr(obj, slot):
                out.append((slot, getattr(obj, slot), (_SLOT, obj, slot)))
    return out


def params(obj: Any) -> list[Param]:
    """Every ``Param`` reachable from ``obj``, each once, in a stable order.

    Walks attributes (``__dict__`` and ``__slots__``), lists, tuples, dicts, sets, closures and
    bound methods, depth first, as ``to_device`` and ``state_dict`` do (``walk.children``);
    cycles are safe. For a ``Tape`` (what ``diff`` returns) it is the Params the tape recorded,
    in the order the computation met them (Knet's ``minimize`` updates ``params(J)``).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import Param, params
        >>> class Linear:
        ...     def __init__(self):
        ...         self.w = Param(np.zeros((3, 2)))
        ...         self.b = Param(np.zeros(2))
        >>> [p.shape for p in params(Linear())]
        [(3, 2), (2,)]
    """
    if isinstance(obj, Tape):  # the Param each leaf stands for (leaves: id(param) -> node)
        return [leaf.args[0] for leaf in obj.leaves.values()]
    found: list[Param] = []
    seen: set[int] = set()
    todo = [obj]
    while todo:
        x = todo.pop()
        if isinstance(x, Param):
            if id(x) not in seen:
                seen.add(id(x))
                found.append(x)
            continue
        if is_opaque(x) or id(x) in seen:
            continue
        seen.add(id(x))
        todo.extend(reversed([v for _, v, _ in children(x)]))
    return found


def put(where: tuple, new: Any, who: str) -> None:
    """Store ``new`` where :func:`children` found the value it replaces."""
    kind, holder, key = where
    if kind in (_ITEM, _ATTR):
        holder[key] = new
    elif kind == _SLOT:
        setattr(holder, key, new)
    elif kind == _CELL:
        holder.cell_contents = new
    else:
        raise TypeError(
            f"{who}: a {type(holder).__module__}.{type(holder).__name__} holds an array "
            f"argument ({type(new).__name__} of shape {getattr(new, 'shape', '?')}) that cannot "
            f"be replaced in place; move the array before making the "
            f"{type(holder).__name__}"
        )


def _cell_filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


# ----------------------------------------------------------------------------------------
# to_device
# ----------------------------------------------------------------------------------------


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
        if is_atom(x):
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
        else:
            for _, v, where in children(x):
                new = self.move(v)
                if new is not v:
                    put(where, new, "to_device")
        return x

    def _param(self, p: Param) -> None:
        v = p.value
        new = self.move(v)
        if new is not v:
            p.value = new
        if p.opt is not None:
            self.move(p.opt)

    def _tuple(self, t: tuple) -> tuple:
        items = [self.move(v) for _, v, _ in children(t)]
        if all(a is b for a, b in zip(items, t, strict=True)):
            return t
        return type(t)(*items) if hasattr(t, "_fields") else type(t)(items)
