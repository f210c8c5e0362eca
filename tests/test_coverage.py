"""The coverage report and the dry run (check_differentiable)."""

import numpy as np
import pytest

import minitorch_ag as ag


def test_report_partitions_numpy_functions_from_the_registry():
    report = ag.coverage()
    groups = (report.differentiable, report.in_place, report.zerograd, report.missing)
    names = [n for g in groups for n in g]
    assert len(names) == len(set(names))  # each function in exactly one group
    assert {"np.exp", "np.sum", "np.matmul", "np.concatenate"} <= set(report.differentiable)
    assert {"np.floor", "np.argmax", "np.less"} <= set(report.zerograd)
    assert "Tensor.sum" in report.methods and "Tensor.__mul__" in report.methods
    text = str(report)
    assert f"{len(report.differentiable)} differentiable" in text
    table = report.to_markdown()
    assert "| `np.exp` | rule |" in table
    # writing functions are recorded copy-on-write, so they are not "missing"
    assert {"np.put", "np.copyto", "np.fill_diagonal"} <= set(report.in_place)
    assert "| `np.put` | in place: recorded as a copy-on-write update |" in table
    assert len(report.differentiable) + len(report.methods) >= 250  # issue 3's bar


@pytest.fixture
def unregistered():
    """np.nextafter and np.spacing without rules during the test, whatever the tables register
    (their rules, if any, are put back afterwards)."""
    saved = {fn: ag.registry.PRIMITIVES.pop(fn, None) for fn in (np.nextafter, np.spacing)}
    yield
    for fn, prim in saved.items():
        ag.registry.PRIMITIVES.pop(fn, None)
        if prim is not None:
            ag.registry.PRIMITIVES[fn] = prim


def test_report_follows_new_registrations(unregistered):
    fn = np.nextafter
    assert "np.nextafter" in ag.coverage().missing
    ag.primitive(fn, lambda dy, y, a, b: dy, None)
    try:
        assert "np.nextafter" in ag.coverage().differentiable
    finally:
        del ag.registry.PRIMITIVES[fn]


def test_dry_run_lists_every_missing_rule_in_order_without_raising(unregistered):
    def f(x, k):
        y = np.nextafter(x, 10.0) * np.spacing(x)
        return np.sum(np.nextafter(x, 0.0) + y) * k

    missing = ag.check_differentiable(f, np.ones(3), 2)
    assert missing == ["np.nextafter", "np.spacing"]
    assert ag.check_differentiable(lambda x: np.sum(np.exp(x) * x), np.ones(2)) == []
    with pytest.raises(TypeError, match="np.nextafter has no gradient rule"):
        ag.grad(f)(np.ones(3), 2)  # outside the dry run: the usual error
