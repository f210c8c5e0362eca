"""A model at a glance: its layers, nested as they are, with their parameter counts.

``print(nn.summary(model))`` lists the layers of any model (a ``Chain``, a layer, or a plain
Python class holding layers as attributes) one per line, nested containers indented under
their name, each with how many parameters (the elements of its ``Param``s) it holds, and the
total. Layers print as their ``repr``, so a layer shows its activation. Given an example input,
``summary(model, x)`` also runs a ``Chain`` layer by layer (outside ``diff``, nothing recorded)
and shows the shape each layer outputs, as Keras' ``model.summary()`` does.

A Param shared by two layers counts in each of their rows but once in the total.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..primitive import Param
from ..primitive import constant as value
from ..walk import params
from .layers import Chain

__all__ = ["summary", "Summary"]


@dataclass(frozen=True)
class Row:
    """One line of a summary: the nesting depth, the label, the parameters under it, and the
    shape it outputs (None when no input was given or the shape is unknown)."""

    depth: int
    label: str
    count: int
    shape: tuple[int, ...] | None = None


class Summary:
    """The layers of a model with their parameter counts; ``str()`` is the table.

    Attributes:
        rows: one ``Row`` per layer or container, in the model's order.
        total: the number of parameters of the model (each shared Param once).
    """

    def __init__(self, rows: list[Row], total: int) -> None:
        self.rows = rows
        self.total = total

    def __str__(self) -> str:
        shapes = any(r.shape is not None for r in self.rows)
        labels = ["  " * r.depth + r.label for r in self.rows]
        counts = [f"{r.count:,}" for r in self.rows]
        outs = [str(r.shape) if r.shape is not None else "" for r in self.rows]
        total = f"{self.total:,}"
        w1 = max([len(s) for s in labels] + [len("layer")])
        w2 = max([len(s) for s in counts] + [len("parameters"), len(total)])
        w3 = max([len(s) for s in outs] + [len("output shape")])
        head = f"{'layer':<{w1}}  " + (f"{'output shape':<{w3}}  " if shapes else "")
        lines = [head + f"{'parameters':>{w2}}"]
        lines.append("-" * len(lines[0]))
        for label, out, count in zip(labels, outs, counts, strict=True):
            lines.append(f"{label:<{w1}}  " + (f"{out:<{w3}}  " if shapes else "") +
                         f"{count:>{w2}}")
        lines.append("-" * len(lines[0]))
        lines.append(f"{'total':<{w1}}  " + (" " * (w3 + 2) if shapes else "") +
                     f"{total:>{w2}}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)


def _count(obj: Any) -> int:
    return sum(int(np.size(value(p))) for p in params(obj))


def _children(obj: Any) -> list[tuple[str, Any]]:
    """The parts of ``obj`` that hold Params: a Chain's layers in order, otherwise its
    attributes (lists, tuples and dicts of layers entry by entry), Params themselves left out."""
    if isinstance(obj, Chain):
        return [(f"[{i}]", layer) for i, layer in enumerate(obj.layers)]
    attrs = getattr(obj, "__dict__", None)
    if not isinstance(attrs, dict):
        return []
    found = []
    for name, v in attrs.items():
        if isinstance(v, Param) or name.startswith("_"):
            continue
        if isinstance(v, (list, tuple)):
            found += [(f"{name}[{i}]", item) for i, item in enumerate(v) if params(item)]
        elif isinstance(v, dict):
            found += [(f"{name}[{k!r}]", item) for k, item in v.items() if params(item)]
        elif params(v):
            found.append((name, v))
    return found


def _is_container(obj: Any) -> bool:
    return isinstance(obj, Chain) or any(not isinstance(c, Param) for _, c in _children(obj))


def _rows(obj: Any, depth: int, name: str | None, out: list[Row]) -> None:
    prefix = "" if name is None or name.startswith("[") else f"{name}: "
    if _is_container(obj):
        out.append(Row(depth, prefix + type(obj).__name__, _count(obj)))
        for child_name, child in _children(obj):
            _rows(child, depth + 1, child_name, out)
    else:
        out.append(Row(depth, prefix + _label(obj), _count(obj)))


def _label(layer: Any) -> str:
    """The layer's repr, or for a class without one, its name and its Params' shapes."""
    if type(layer).__repr__ is not object.__repr__:
        return repr(layer)
    attrs = getattr(layer, "__dict__", {})
    shapes = [f"{n} {np.shape(value(p))}" for n, p in attrs.items() if isinstance(p, Param)]
    return f"{type(layer).__name__}({', '.join(shapes)})"


def _shapes(chain: Chain, x: Any, rows: list[Row], start: int) -> tuple[Any, int]:
    """Run ``chain`` (whose row is ``rows[start]``) on ``x`` layer by layer, filling in the
    output shape of each layer's row; return the output and the index of the next row after
    the chain's."""
    i = start + 1
    for layer in chain.layers:
        if isinstance(layer, Chain):
            x, i = _shapes(layer, x, rows, i)
            continue
        x = layer(x)
        rows[i] = _with_shape(rows[i], x)
        depth, i = rows[i].depth, i + 1
        while i < len(rows) and rows[i].depth > depth:  # the rows inside a container layer
            i += 1
    rows[start] = _with_shape(rows[start], x)
    return x, i


def _with_shape(row: Row, x: Any) -> Row:
    return Row(row.depth, row.label, row.count, tuple(np.shape(value(x))))


def summary(model: Any, x: Any = None) -> Summary:
    """The layers of ``model`` with their parameter counts (``print`` it for the table).

    Args:
        model: a ``Chain``, a single layer, or any object holding layers and Params in its
            attributes (lists, tuples and dicts of them too).
        x: an example input batch; when given and ``model`` is a ``Chain``, each layer's
            output shape is shown too (the model runs once on ``x``, nothing is recorded).

    Example:
        >>> from minitorch_ag import nn
        >>> model = nn.Chain(nn.Linear(4, 8, nn.relu), nn.Linear(8, 3))
        >>> print(nn.summary(model))
        layer                            parameters
        -------------------------------------------
        Chain                                    67
          Linear(4, 8, activation=relu)          40
          Linear(8, 3, activation=None)          27
        -------------------------------------------
        total                                    67
    """
    rows: list[Row] = []
    _rows(model, 0, None, rows)
    if x is not None and isinstance(model, Chain):
        _shapes(model, x, rows, 0)
    return Summary(rows, _count(model))
