"""The registry of primitives: names in messages, lookups, replacement."""

import numpy as np

import minitorch_ag as ag
from minitorch_ag.registry import PRIMITIVES, Primitive, lookup, register


def test_numpy_names_read_as_users_write_them():
    assert lookup(np.exp).name == "np.exp"
    assert lookup(np.sum).name == "np.sum"
    assert lookup(np.concatenate).name == "np.concatenate"
    assert repr(lookup(np.floor)) == "<zerograd np.floor>"
    assert repr(lookup(np.tanh)) == "<primitive np.tanh>"


def test_register_replaces_and_lookup_misses_return_none():
    def f(x):
        return x

    assert lookup(f) is None
    first = register(f, Primitive(f, (None,)))
    assert lookup(f) is first
    second = register(f, Primitive(f, (lambda dy, y, x: dy,), name="mine"))
    assert lookup(f) is second and second.name == "mine"
    del PRIMITIVES[f]


def test_primitive_wrapper_exposes_its_record():
    wrapped = ag.primitive(lambda x: x * 2, lambda dy, y, x: dy * 2, name="double")
    assert isinstance(wrapped.primitive, Primitive) and wrapped.primitive.name == "double"
