"""nn.summary: layers nested as in the model, parameter counts per layer and in total."""

from __future__ import annotations

import numpy as np

import minitorch_ag as ag
from minitorch_ag import Param, nn


def test_a_chain_lists_each_layer_with_its_activation_and_count():
    model = nn.Chain(nn.Conv2d(1, 4, 3, activation=nn.relu, rng=0), nn.MaxPool2d(2),
                     nn.Flatten(), nn.Linear(4 * 3 * 3, 10, rng=1))
    s = nn.summary(model)
    assert [(r.depth, r.count) for r in s.rows] == [(0, 40 + 370), (1, 40), (1, 0), (1, 0),
                                                    (1, 370)]
    assert s.total == sum(p.size for p in ag.params(model)) == 410
    text = str(s)
    assert "Conv2d(1, 4, (3, 3), stride=1, padding=0, activation=relu)" in text
    assert "Linear(36, 10, activation=None)" in text
    assert text.splitlines()[-1].split() == ["total", "410"]


def test_nested_chains_indent_and_count_their_subtree():
    inner = nn.Chain(nn.Linear(3, 4, nn.relu, rng=0), nn.Dropout(0.5))
    model = nn.Chain(inner, nn.Linear(4, 2, rng=1))
    lines = str(nn.summary(model)).splitlines()
    assert lines[2].split() == ["Chain", "26"]
    assert lines[3].startswith("  Chain ") and lines[3].split()[-1] == "16"
    assert lines[4].startswith("    Linear(3, 4, activation=relu)")
    assert lines[5].startswith("    Dropout(p=0.5)") and lines[5].split()[-1] == "0"
    assert lines[6].startswith("  Linear(4, 2")


def test_the_chain_repr_indents_nested_chains():
    model = nn.Chain(nn.Chain(nn.Linear(3, 4, rng=0)), nn.Flatten())
    assert repr(model) == ("Chain(\n  Chain(\n    Linear(3, 4, activation=None)\n  ),\n"
                           "  Flatten()\n)")


def test_output_shapes_of_a_chain_for_an_example_input():
    model = nn.Chain(nn.Chain(nn.Linear(3, 4, rng=0), nn.Linear(4, 5, rng=1)), nn.Flatten(),
                     nn.Linear(5, 2, rng=2))
    s = nn.summary(model, np.zeros((7, 3), np.float32))
    assert [r.shape for r in s.rows] == [(7, 2), (7, 5), (7, 4), (7, 5), (7, 5), (7, 2)]
    assert "output shape" in str(s).splitlines()[0]
    assert not ag.recording()


class Dense:
    """A layer written as in the README: Params as attributes, no repr of its own."""

    def __init__(self, nin, nout):
        self.w = Param(np.zeros((nin, nout)))
        self.b = Param(np.zeros(nout))

    def __call__(self, x):
        return x @ self.w + self.b


class Model:
    def __init__(self):
        self.layers = [Dense(4, 3), Dense(3, 2)]
        self.heads = {"a": Dense(2, 1)}
        self.scale = Param(np.ones(()))
        self.name = "not a layer"


def test_any_object_holding_layers():
    s = nn.summary(Model())
    labels = [(r.depth, r.label, r.count) for r in s.rows]
    assert labels == [(0, "Model", 15 + 8 + 3 + 1),
                      (1, "layers[0]: Dense(w (4, 3), b (3,))", 15),
                      (1, "layers[1]: Dense(w (3, 2), b (2,))", 8),
                      (1, "heads['a']: Dense(w (2, 1), b (1,))", 3)]
    assert s.total == 27  # the Model's own Param (scale) counts in its row and the total


def test_a_shared_param_counts_once_in_the_total():
    layer = nn.Linear(3, 3, rng=0)
    model = nn.Chain(layer, layer)
    s = nn.summary(model)
    assert [r.count for r in s.rows] == [12, 12, 12]
    assert s.total == 12


def test_the_docstring_example_prints_what_it_shows():
    import doctest

    import minitorch_ag.nn.model_summary as module

    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0
