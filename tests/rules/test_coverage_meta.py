"""Meta-tests of the gradient tables: every registered rule is tested, and the tables say true.

- Every differentiable primitive in ``minitorch_ag.registry.PRIMITIVES`` is covered by a case
  of some table in ``tests/rules`` (so a new rule without a test fails CI), and each case
  really records the primitives it claims to cover (to second order where it checks that).
- Every zerograd primitive has a sample call below, and returns plain (untracked) values
  while recording, through ``Param`` + ``diff`` and through ``grad(f)``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag.registry import Primitive

from ._cases import entry_specs, resolve, scalarize, weights
from ._tables import TABLE_MODULES, TABLES

CASES = [(area, c) for area, table in TABLES.items() for c in table]


# What importing minitorch_ag registers, read in a fresh interpreter: primitives that other
# tests register for themselves (ag.primitive(np.hypot, ...)) do not leak in.
_REGISTERED = """
import json, minitorch_ag
from minitorch_ag.registry import PRIMITIVES
prims = list({id(p): p for p in PRIMITIVES.values()}.values())
print(json.dumps([[p.name, p.zerograd] for p in prims]))
"""


@pytest.fixture(scope="module")
def registered():
    """``{name: zerograd}`` of every primitive registered by ``import minitorch_ag``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, "-c", _REGISTERED], capture_output=True, text=True,
                          env=env, check=True, timeout=120)
    pairs = json.loads(proc.stdout)
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"primitive names are not unique: {sorted(names)}"
    return dict(pairs)


def test_the_tables_are_not_empty():
    for area, table in TABLES.items():
        assert table, f"the {area} table is empty"


def test_every_registered_rule_has_a_case(registered):
    covered = {resolve(f).name for _, c in CASES for f in c.covers}
    missing = sorted(n for n, zero in registered.items() if not zero and n not in covered)
    assert not missing, (
        f"registered primitives with no case in tests/rules: {missing}; add a line to the table "
        f"of their area (the case's covers= names them)"
    )


def test_case_names_are_unique():
    for area, table in TABLES.items():
        names = [c.name for c in table]
        assert len(names) == len(set(names)), f"{area}: duplicate case names"


def recorded(fn, args, order):
    """The primitives recorded by ``sum(sin(fn(*params)) * w)`` (and its gradient, order 2)."""
    rng = np.random.default_rng(0)
    f = scalarize(fn, weights(fn, args, rng), nonlinear=True)
    params = [ag.Param(a) for a in args]
    if order == 1:
        tape = ag.diff(f, *params)
    else:
        directions = [rng.standard_normal(np.shape(a)) for a in args]

        def projected():
            inner = ag.diff(f, *params)
            total = 0.0
            for p, d in zip(params, directions, strict=True):
                g = ag.grad(inner, p)
                if g is not None:
                    total = total + np.sum(g * d)
            return total

        tape = ag.diff(projected)
    return {id(n.prim) for n in tape.nodes if n is not None and isinstance(n.prim, Primitive)}


@pytest.mark.parametrize(("area", "c"), [pytest.param(a, c, id=f"{a}-{c.name}")
                                          for a, c in CASES])
def test_cases_record_what_they_cover(area, c):
    args = c.inputs(entry_specs(c)[0], np.float64)
    for form, fn in c.all_forms().items():
        seen = recorded(fn, args, 2 if c.order2 else 1)
        for cover in c.covers:
            prim = resolve(cover)
            assert id(prim) in seen, f"{area} case {c.name} ({form}) does not record {prim.name}"


# -- zerograd -------------------------------------------------------------------------------

# One or more sample calls per zerograd primitive: x, y are float Tensors of shape (2, 3);
# i, j integer Tensors of the same shape.
ZEROGRAD_CALLS = [
    ("less", np.less, lambda x, y, i, j: x < y),
    ("less-np", np.less, lambda x, y, i, j: np.less(x, y)),
    ("less_equal", np.less_equal, lambda x, y, i, j: x <= y),
    ("greater", np.greater, lambda x, y, i, j: x > 0.0),
    ("greater_equal", np.greater_equal, lambda x, y, i, j: np.greater_equal(x, y)),
    ("equal", np.equal, lambda x, y, i, j: x == y),
    ("not_equal", np.not_equal, lambda x, y, i, j: x != y),
    ("logical_and", np.logical_and, lambda x, y, i, j: np.logical_and(x, y)),
    ("logical_or", np.logical_or, lambda x, y, i, j: np.logical_or(x > 0, y)),
    ("logical_not", np.logical_not, lambda x, y, i, j: np.logical_not(x)),
    ("logical_xor", np.logical_xor, lambda x, y, i, j: np.logical_xor(x, y)),
    ("bitwise_and", np.bitwise_and, lambda x, y, i, j: i & j),
    ("bitwise_or", np.bitwise_or, lambda x, y, i, j: i | j),
    ("bitwise_xor", np.bitwise_xor, lambda x, y, i, j: np.bitwise_xor(i, j)),
    ("invert", np.invert, lambda x, y, i, j: ~i),
    ("left_shift", np.left_shift, lambda x, y, i, j: i << j),
    ("right_shift", np.right_shift, lambda x, y, i, j: i >> 1),
    ("floor_divide", np.floor_divide, lambda x, y, i, j: x // y),
    ("floor_divide-np", np.floor_divide, lambda x, y, i, j: np.floor_divide(x, 0.3)),
    ("floor", np.floor, lambda x, y, i, j: np.floor(x)),
    ("ceil", np.ceil, lambda x, y, i, j: np.ceil(x)),
    ("trunc", np.trunc, lambda x, y, i, j: np.trunc(x)),
    ("rint", np.rint, lambda x, y, i, j: np.rint(x)),
    ("round", np.round, lambda x, y, i, j: np.round(x, 1)),
    ("round-method", np.round, lambda x, y, i, j: x.round()),
    ("sign", np.sign, lambda x, y, i, j: np.sign(x)),
    ("signbit", np.signbit, lambda x, y, i, j: np.signbit(x)),
    ("isnan", np.isnan, lambda x, y, i, j: np.isnan(x)),
    ("isinf", np.isinf, lambda x, y, i, j: np.isinf(x)),
    ("isfinite", np.isfinite, lambda x, y, i, j: np.isfinite(x)),
    ("isclose", np.isclose, lambda x, y, i, j: np.isclose(x, y)),
    ("allclose", np.allclose, lambda x, y, i, j: np.allclose(x, x)),
    ("array_equal", np.array_equal, lambda x, y, i, j: np.array_equal(x, y)),
    ("shape", np.shape, lambda x, y, i, j: np.shape(x)),
    ("ndim", np.ndim, lambda x, y, i, j: np.ndim(x)),
    ("size", np.size, lambda x, y, i, j: np.size(x)),
    ("zeros_like", np.zeros_like, lambda x, y, i, j: np.zeros_like(x)),
    ("ones_like", np.ones_like, lambda x, y, i, j: np.ones_like(x)),
    ("empty_like", np.empty_like, lambda x, y, i, j: np.empty_like(x)),
    ("full_like", np.full_like, lambda x, y, i, j: np.full_like(x, 2.5)),
    ("argmax", np.argmax, lambda x, y, i, j: np.argmax(x)),
    ("argmax-method", np.argmax, lambda x, y, i, j: x.argmax(axis=1)),
    ("argmin", np.argmin, lambda x, y, i, j: np.argmin(x, axis=0)),
    ("argmin-method", np.argmin, lambda x, y, i, j: x.argmin()),
    ("argsort", np.argsort, lambda x, y, i, j: np.argsort(x)),
    ("argsort-method", np.argsort, lambda x, y, i, j: x.argsort(axis=0)),
    ("nonzero", np.nonzero, lambda x, y, i, j: np.nonzero(x > 0)),
    ("nonzero-method", np.nonzero, lambda x, y, i, j: i.nonzero()),
    ("count_nonzero", np.count_nonzero, lambda x, y, i, j: np.count_nonzero(i)),
    ("all", np.all, lambda x, y, i, j: np.all(x)),
    ("all-method", np.all, lambda x, y, i, j: (x > -10).all()),
    ("any", np.any, lambda x, y, i, j: np.any(x > 0, axis=0)),
    ("any-method", np.any, lambda x, y, i, j: x.any()),
    ("iscomplexobj", np.iscomplexobj, lambda x, y, i, j: np.iscomplexobj(x)),
    ("isrealobj", np.isrealobj, lambda x, y, i, j: np.isrealobj(x)),
    ("result_type", np.result_type, lambda x, y, i, j: np.result_type(x, i)),
]
# A table module may list more sample calls of its own, in the same form.
ZEROGRAD_CALLS += [call for module in TABLE_MODULES
                   for call in getattr(module, "ZEROGRAD_CALLS", [])]
# Results that are not deterministic values (compared by shape and dtype only).
UNSPECIFIED = {"empty_like"}


def test_every_zerograd_primitive_has_a_sample_call(registered):
    sampled = {resolve(fn).name for _, fn, _ in ZEROGRAD_CALLS}
    missing = sorted(n for n, zero in registered.items() if zero and n not in sampled)
    assert not missing, f"zerograd primitives with no sample call in ZEROGRAD_CALLS: {missing}"
    for name, fn, _ in ZEROGRAD_CALLS:
        assert resolve(fn).zerograd, f"{name}: {fn} is not registered with zerograd"


def _inputs():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3))
    y = x.copy()
    y[0] = rng.standard_normal(3)
    i = rng.integers(0, 4, (2, 3))
    j = rng.integers(0, 3, (2, 3))
    return x, y, i, j


def _assert_plain(got, expected, name, exact):
    if isinstance(got, (tuple, list)):
        assert type(got) is type(expected) and len(got) == len(expected), name
        for g, e in zip(got, expected, strict=True):
            _assert_plain(g, e, name, exact)
        return
    assert not isinstance(got, ag.Tensor), f"{name}: returned a Tensor while recording"
    if exact:
        assert type(got) is type(expected), f"{name}: {type(got)} != {type(expected)}"
        np.testing.assert_array_equal(got, expected, err_msg=name)
    else:
        assert np.shape(got) == np.shape(expected) and got.dtype == expected.dtype, name


@pytest.mark.parametrize(("name", "call"), [pytest.param(n, c, id=n)
                                            for n, _, c in ZEROGRAD_CALLS])
def test_zerograd_returns_plain_values_while_recording(name, call):
    plain = _inputs()
    expected = call(*plain)
    exact = name not in UNSPECIFIED
    params = [ag.Param(v) for v in plain]
    seen = []

    def with_params():
        assert ag.recording()
        seen.append(call(*params))
        return np.sum(params[0] * params[1])

    tape = ag.diff(with_params)
    _assert_plain(seen[-1], expected, name, exact)
    assert ag.grad(tape, params[0]) is not None

    def with_leaves(x, y, i, j):
        seen.append(call(x, y, i, j))
        return np.sum(x * y)

    ag.grad(with_leaves, argnum=(0, 1))(*plain)
    _assert_plain(seen[-1], expected, name, exact)

    def nested(x, y, i, j):  # inside a gradient that is itself being differentiated
        def inner(a):
            _assert_plain(call(a, y, i, j), expected, name, exact)
            return np.sum(np.sin(a) * y)

        return np.sum(ag.grad(inner)(x))

    np.testing.assert_allclose(ag.grad(nested)(*plain), -np.sin(plain[0]) * plain[1])
