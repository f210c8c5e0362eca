"""The one object walker (minitorch_ag/walk.py): params, to_device and state_dict agree."""

from __future__ import annotations

import functools
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import Param, backend, nn, serialization, walk

Pair = namedtuple("Pair", "first second")


class Slotted:
    __slots__ = ("p", "q")

    def __init__(self):
        self.p = Param(np.ones(1))
        self.q = {"inner": (Param(np.ones(2)), 3.0)}


class FrozenMapping(Mapping):
    """A read-only mapping that is not a dict: walked through its items."""

    def __init__(self, **items):
        self._items = dict(items)

    def __getitem__(self, k):
        return self._items[k]

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)


class OneSlot:
    __slots__ = "weight"  # a string, not a tuple: one slot named "weight"

    def __init__(self):
        self.weight = Param(np.ones(2))


def _models():
    """Objects holding Params in every kind of place a walk enters."""
    w = Param(np.ones(3))
    dense = nn.Dense(2, 3)
    shared = Param(np.zeros(2))
    closure = lambda x: x @ w  # noqa: E731
    return {
        "chain": nn.Chain(nn.Dense(4, 3), nn.Dense(3, 2)),
        "slots": Slotted(),
        "closure": closure,
        "method": dense.__call__,
        "partial": functools.partial(lambda x, v: x, v=Param(np.ones(1))),
        "nested": {"a": [shared, (shared, Pair(Param(np.ones(1)), 2.0))],
                   "b": OrderedDict(c=Param(np.ones(2)))},
        "cycle": _cycle(),
        "batchnorm": nn.BatchNorm(3),
        "string_slots": [OneSlot()],  # params() and state_dict once read "weight" by letters
    }


def _cycle():
    a = nn.Dense(2, 2)
    c = nn.Chain(a, a)
    c.me = c
    c.layers.append(c.layers)
    return c


def _moved_by_to_device(obj, monkeypatch):
    """The Params whose values ``to_device`` handed to the backend, in the order it did."""
    seen: list[int] = []
    real = backend.to_device

    def recording(x, device):
        seen.append(id(x))
        return real(x, device)

    monkeypatch.setattr(backend, "to_device", recording)
    try:
        ag.to_device(obj, "cpu")
    finally:
        monkeypatch.setattr(backend, "to_device", real)
    return [p for p in ag.params(obj) if id(p.value) in seen], seen


@pytest.mark.parametrize("name", sorted(_models()))
def test_params_to_device_and_state_dict_visit_the_same_params(name, monkeypatch):
    obj = _models()[name]
    found = ag.params(obj)
    assert found, name
    named = [e.param for e in serialization._entries(obj, "test") if e.param is not None]
    moved, arrays = _moved_by_to_device(obj, monkeypatch)
    ids = [id(p) for p in found]
    assert [id(p) for p in named] == ids, "state_dict names other Params than params finds"
    assert sorted(id(p) for p in moved) == sorted(ids), "to_device moves other Params"
    assert all(id(p.value) in arrays for p in found)


def test_buffers_are_moved_and_saved_alike(monkeypatch):
    bn = nn.BatchNorm(3)
    names = set(ag.state_dict(bn))
    assert {"running_mean", "running_var"} <= names
    _, arrays = _moved_by_to_device(bn, monkeypatch)
    assert id(bn.running_mean) in arrays and id(bn.running_var) in arrays


def test_a_mapping_that_is_not_a_dict_is_walked_through_its_items():
    p = Param(np.ones(2))
    m = FrozenMapping(w=p)
    assert [id(q) for q in ag.params(m)] == [id(p)]
    assert list(ag.state_dict({"m": m})) == ["m.w"]


def test_children_names_and_stops():
    d = nn.Dense(2, 1)
    names = [n for n, _, _ in walk.children(d)]
    assert "weight" in names and "bias" in names
    assert [n for n, _, _ in walk.children({1, 2})] == [None, None]  # sets: no stable name
    assert [n for n, _, _ in walk.children(functools.partial(max, 1, key=abs))] == [
        "func", "args.0", "keywords.key"]
    assert all(walk.is_atom(x) for x in (None, 1, 2.5, "s", np.float32(1), np.dtype("f4"), int))
    assert walk.is_opaque(np.ones(2)) and walk.is_opaque(Param(np.ones(1)))
    assert not walk.is_opaque([1]) and not walk.is_atom(d)


def test_a_set_member_is_found_and_moved_but_not_named(monkeypatch):
    p = Param(np.ones(2))
    holder = {"s": {p}}
    assert ag.params(holder) == [p]
    moved, _ = _moved_by_to_device(holder, monkeypatch)
    assert moved == [p]
    with pytest.raises(ValueError, match="reachable only through a set"):
        ag.state_dict(holder)
