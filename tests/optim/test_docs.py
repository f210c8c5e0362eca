"""The examples in the docstrings of minitorch_ag.optim run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["minitorch_ag.optim", "minitorch_ag.optim.optimizers", "minitorch_ag.optim.clipping",
           "minitorch_ag.optim.schedules", "minitorch_ag.optim.update",
           "minitorch_ag.optim.loops"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    assert result.attempted > 0


def test_optim_imports_only_the_core():
    import ast
    from pathlib import Path

    import minitorch_ag.optim as optim

    for path in Path(optim.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                assert node.module not in {"nn", "datasets"}, path
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any("minitorch_ag.nn" in n or "minitorch_ag.datasets" in n
                               for n in names), path
