"""The errors audit: every message names the function, the argument and the shapes or dtypes,
and suggests the fix where one is known (issue 7, part 5).

One row per message: how to trigger it, the exception type, and the pieces the message must
contain. Messages that still fall short are listed in the audit report for their owners; the
rows here check the messages as they are.
"""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_ag as ag
from minitorch_ag import Param, diff, grad, primitive, registry
from minitorch_ag.backend import parse_device
from minitorch_ag.sparse import Sparse

w = Param(np.ones((2, 3)))
v = Param(np.ones(3))


def _recording(fn):
    """Run ``fn()`` while a tape records (the refusals only apply then)."""
    return lambda: diff(lambda: (fn(), np.sum(v))[1])


def _bad_rule_shape():
    f = primitive(_twice, lambda dy, y, x: np.ones(5))
    try:
        grad(diff(lambda: np.sum(f(v))), v)
    finally:
        registry.PRIMITIVES.pop(_twice, None)


def _twice(x):
    return 2 * x



def _setitem():
    def f():
        v[0] = 1.0  # a Param: a leaf cannot be updated in place while recording
        return np.sum(v)

    diff(f)


CASES = [
    # api.py
    ("diff of a vector", lambda: diff(lambda: v * 2.0), ValueError,
     ["diff:", "must return a scalar", "shape (3,)", "reduce it first, e.g. with np.sum"]),
    ("diff of a string", lambda: diff(lambda: "loss"), ValueError,
     ["diff:", "must return a scalar", "returned str"]),
    ("grad(f) of a vector", lambda: grad(lambda x: x * 2)(np.ones(2)), ValueError,
     ["grad:", "shape (2,)", "np.sum"]),
    ("grad of an array", lambda: grad(diff(lambda: np.sum(v)), np.ones(3)), TypeError,
     ["grad(tape, x)", "must be a Param", "got ndarray"]),
    ("grad without x", lambda: grad(diff(lambda: np.sum(v))), TypeError,
     ["grad(tape, x)", "which Param"]),
    ("grad of a number", lambda: grad(3.0), TypeError, ["grad:", "Tape", "function", "float"]),
    ("grad(f, x)", lambda: grad(np.sin, 1), TypeError, ["grad(f, ...)", "argnum="]),
    ("argnum out of range", lambda: grad(lambda a: a, argnum=2)(1.0), IndexError,
     ["grad: argnum 2", "1 arguments"]),
    ("axpy_ into a number", lambda: ag.axpy_(1.0, 2.0, 3.0), TypeError,
     ["axpy_(a, x, y)", "y must be an array or a Param", "float"]),
    ("vjp cotangents", lambda: ag.vjp(lambda a: a * 2, 1.0)[1](1.0, 2.0), TypeError,
     ["vjp:", "one cotangent per output", "1 expected", "2 given"]),
    # tensor.py
    ("float() while recording", _recording(lambda: float(np.sum(v))), TypeError,
     ["float()", "shape ()", "float64", "lose its gradient", "ag.value(x)"]),
    ("np.asarray while recording", _recording(lambda: np.asarray(w)), TypeError,
     ["np.asarray()", "shape (2, 3), float64", "np.stack"]),
    (".item() while recording", _recording(lambda: np.sum(v).item()), TypeError,
     [".item()", "ag.value(x)"]),
    ("function without a rule", _recording(lambda: np.gradient(v)),
     TypeError, ["np.gradient has no gradient rule", "ag.primitive(np.gradient", "ag.value(x)"]),
    ("assignment into a Param while recording", _setitem, TypeError,
     ["x[...] = v", "Param (shape (3,)", "np.copy(x)"]),
    ("out= while recording", _recording(lambda: np.exp(v, out=np.empty(3))), TypeError,
     ["np.exp(..., out=...)", "y = np.exp(...)"]),
    ("Param of a Param", lambda: Param(v), TypeError, ["Param(x)", "already a Param",
                                                      "ag.value(x)"]),
    ("pow with a modulus", lambda: pow(v, 2, 3), TypeError, ["pow(x, y, mod)"]),
    # tape.py
    ("rule returns a wrong shape", _bad_rule_shape, ValueError,
     ["_twice", "argument 0", "shape (5,)", "argument's shape (3,)"]),
    # primitive.py
    ("non-callable rule", lambda: primitive(np.hypot, 1.0), TypeError,
     ["primitive(hypot, ...)", "argument 0", "rule(dy, y, *args) or None", "got float"]),
    ("both kinds of rules", lambda: primitive(np.hypot, None, grad_all=lambda *a: a), TypeError,
     ["primitive(hypot, ...)", "not both"]),
    ("non-callable fn", lambda: primitive("hypot"), TypeError,
     ["primitive(fn, ...)", "must be a function", "got str"]),
    ("non-callable zerograd", lambda: ag.zerograd(3), TypeError, ["zerograd(fn)", "got int"]),
    # backend.py
    ("unknown device", lambda: parse_device("tpu"), ValueError,
     ["to_device", "'tpu'", "'cpu', 'gpu' or 'gpu:<index>'"]),
    # gradcheck.py
    ("gradcheck order", lambda: ag.gradcheck(np.sum, np.ones(2), order=3), ValueError,
     ["gradcheck: order must be 1 or 2", "got 3"]),
    ("gradcheck without floats", lambda: ag.gradcheck(np.sum, np.arange(3)), ValueError,
     ["gradcheck: no floating-point argument", "ndarray of int64", "dtype=float"]),
    ("gradcheck mismatch", lambda: ag.gradcheck(_wrong_gradient(), np.array([0.5, 1.0])),
     AssertionError, ["gradcheck:", "shape (2,), float64", "index", "analytic", "numeric"]),
    # sparse.py
    ("Sparse of a 0-d shape", lambda: Sparse((), np.zeros(0, int), np.zeros(0)), ValueError,
     ["Sparse:", "at least one axis", "()"]),
    ("Sparse float indices", lambda: Sparse((3, 2), np.zeros(1), np.zeros((1, 2))), TypeError,
     ["Sparse: indices must be integers", "float64"]),
    ("Sparse values shape", lambda: Sparse((3, 2), np.array([0]), np.zeros((2, 2))),
     ValueError, ["Sparse: values have shape (2, 2)", "need shape (1, 2)"]),
    # rules
    ("det at a singular matrix",
     lambda: grad(lambda a: np.linalg.det(a))(np.zeros((2, 2))), ValueError,
     ["np.linalg.det", "singular matrix", "shape (2, 2)"]),
    ("qr raw", lambda: grad(lambda a: np.sum(np.linalg.qr(a, mode="raw")[0]))(np.eye(2)),
     TypeError, ["np.linalg.qr: mode='raw'", "use mode='reduced'"]),
    ("cond with p=1", lambda: grad(lambda a: np.linalg.cond(a, 1))(np.eye(2)), TypeError,
     ["np.linalg.cond", "p=1", "use p=None, 2, -2 or 'fro'"]),
    ("lstsq rank-deficient",
     lambda: grad(lambda a: np.sum(np.linalg.lstsq(a, np.ones(2))[0]))(np.ones((2, 2))),
     ValueError, ["np.linalg.lstsq", "rank 1 < 2", "full rank"]),
    # the tools of this issue
    ("show of a Param", lambda: ag.show(v), TypeError,
     ["show/listing/nodes(tape)", "Tape returned by ag.diff", "got Param"]),
    ("draw to .jpg", lambda: ag.draw(diff(lambda: np.sum(v)), "graph.jpg"), ValueError,
     ["draw(tape, path)", "'.jpg'", ".dot or .gv", ".png, .svg or .pdf"]),
    # the common mistakes of a first hour (issue 16)
    ("diff of a value, not a function", lambda: diff(np.sum(v ** 2)), TypeError,
     ["diff: the first argument must be the function", "np.float64(3.0)",
      "diff(lambda: <expression>)"]),
    ("grad of a value, not a function", lambda: grad(np.sum(v ** 2)), TypeError,
     ["grad:", "float64", "tape = diff(lambda: <expression>)"]),
    ("tape.backward()", lambda: diff(lambda: np.sum(v)).backward(), AttributeError,
     ["Tape has no backward", "grad(tape, p)", "ag.params(tape)"]),
    ("the missing-rule message points to the docs, not to internal files",
     _recording(lambda: np.linalg.eig(w[:, :2])), TypeError,
     ["np.linalg.eig has no gradient rule", '"Extending with primitives" page']),
    ("a training loop over batches without labels", lambda: _train_without_labels(),
     ValueError, ["must return a scalar", "shape (5, 3)", "model(x, y)",
                  "minibatch(x, y, batchsize)"]),
    ("grad of a model", lambda: grad(diff(lambda: np.sum(v)), _chain()), TypeError,
     ["must be a Param", "got Chain", "[grad(tape, p) for p in ag.params(model)]"]),
    ("model.parameters()", lambda: _chain().parameters(), AttributeError,
     ["Chain has no parameters()", "ag.params(model)"]),
    ("model.eval()", lambda: _chain().eval(), AttributeError,
     ["Chain has no eval()", "while diff() records", "no mode to set"]),
    ("images into a dense layer", lambda: _chain()(np.ones((2, 1, 2, 1), np.float32)),
     ValueError, ["Linear: the input's last axis must have 2 features", "(2, 1, 2, 1)",
                  "nn.Flatten()", "x.reshape(len(x), -1)"]),
    ("draw without Graphviz", lambda: _draw_without_renderers(),
     RuntimeError, ["draw(tape, 'g.png')", "Graphviz's dot program", "apt install graphviz",
                    "write a .dot file instead"]),
]


def _chain():
    from minitorch_ag import nn

    return nn.Chain(nn.Linear(2, 3, rng=np.random.default_rng(0)))


def _train_without_labels():
    from minitorch_ag import nn
    from minitorch_ag.datasets import minibatch
    from minitorch_ag.optim import adam

    model = nn.Chain(nn.Linear(2, 3, rng=np.random.default_rng(0)))
    list(adam(model, minibatch(np.ones((10, 2)), None, 5)))


def _draw_without_renderers():
    import shutil
    import sys

    saved_which, saved_mpl = shutil.which, sys.modules.get("matplotlib")
    shutil.which = lambda name: None
    sys.modules["matplotlib"] = None  # makes `import matplotlib` fail
    try:
        ag.draw(diff(lambda: np.sum(v)), "g.png")
    finally:
        shutil.which = saved_which
        if saved_mpl is None:
            del sys.modules["matplotlib"]
        else:
            sys.modules["matplotlib"] = saved_mpl


def test_a_tape_without_an_attribute_says_so_plainly():
    with pytest.raises(AttributeError, match="'Tape' object has no attribute 'foo'"):
        diff(lambda: np.sum(v)).foo  # noqa: B018
    assert not hasattr(diff(lambda: np.sum(v)), "backward")
    with pytest.raises(AttributeError, match="'Chain' object has no attribute 'foo'"):
        _chain().foo  # noqa: B018


def _wrong_gradient():
    f = primitive(_cube, lambda dy, y, x: dy * x)  # should be 3 x**2
    registry.PRIMITIVES.pop(_cube, None)
    return lambda x: np.sum(f(x))


def _cube(x):
    return x ** 3


@pytest.mark.parametrize("what, trigger, kind, pieces", CASES, ids=[c[0] for c in CASES])
def test_message(what, trigger, kind, pieces):
    with pytest.raises(kind) as info:
        trigger()
    message = str(info.value)
    missing = [p for p in pieces if p not in message]
    assert not missing, f"{what}: {missing} not in {message!r}"


def test_one_hot_labels_get_a_hint():
    from minitorch_ag import nn

    scores = np.array([[2.0, 0.0, 1.0], [0.5, 3.0, 1.0]])
    one_hot = np.eye(3)[[0, 1]]
    with pytest.raises(TypeError, match=r"one-hot rows\? pass labels.argmax\(axis=1\)"):
        nn.cross_entropy(scores, one_hot)
    with pytest.raises(ValueError, match=r"look one-hot: pass labels.argmax\(axis=1\)"):
        nn.accuracy(scores, one_hot.astype(int))


def test_accuracy_over_batches_without_labels_says_what_to_pass():
    from minitorch_ag import nn

    model = _chain()
    with pytest.raises(TypeError, match=r"each batch of data must be an \(x, labels\) pair; "
                                        r"got a ndarray"):
        nn.accuracy(model, [np.ones((4, 2), np.float32)])
