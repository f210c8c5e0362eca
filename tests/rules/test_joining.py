"""Gradient table of ``minitorch_ag/rules/joining.py``: concatenate, stack, vstack, hstack,
dstack, column_stack (and ``np.row_stack``, which calls vstack), block, append, split,
array_split, hsplit, vsplit, dsplit, unstack, tile, repeat (``x.repeat``), resize and pad in
every linear mode, in float64 and float32 and to second order.

The splitting functions return a tuple: each case combines some of its items with different
weights and leaves one out, so the rule meets both incoming gradients and missing ones.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minitorch_ag as ag

from ._cases import case, real, shape, strided, table_tests, transposed

S23, S234 = shape(2, 3), shape(2, 3, 4)
T43, ST43 = transposed(4, 3), strided(4, 3)


def parts(split, *weights):
    """``sum(w * part)`` over the parts ``split`` returns (a weight of 0 leaves a part out)."""

    def f(x):
        pieces = split(x)
        total = 0.0
        for w, p in zip(weights, pieces, strict=False):
            if w:
                total = total + w * p
        return total

    return f


def pad_case(name, pad_width, grid, **kwargs):
    return case(f"pad-{name}", lambda x: np.pad(x, pad_width, **kwargs), real, covers=np.pad,
                grid=grid)


TABLE = [
    # -- concatenate and stack
    case("concatenate-axis0", lambda x, y: np.concatenate([x, y]), real, real,
         covers=np.concatenate, grid=[[S23, shape(1, 3)], [shape(3), shape(2)]]),
    case("concatenate-axis1", lambda x, y: np.concatenate([x, y], axis=1), real, real,
         covers=np.concatenate, grid=[[S23, shape(2, 2)], [T43, ST43]]),
    case("concatenate-axis-minus-one", lambda x, y: np.concatenate((x, y), -1), real, real,
         covers=np.concatenate, grid=[[S234, shape(2, 3, 1)]]),
    case("concatenate-axis-None", lambda x, y: np.concatenate([x, y], axis=None), real, real,
         covers=np.concatenate, grid=[[shape(), S23], [S23, shape(4)]]),
    case("concatenate-three", lambda x, y, z: np.concatenate([x, y, z], axis=0), real, real,
         real, covers=np.concatenate, grid=[[shape(1, 3), S23, ST43]],
         concat=lambda x, y, z: np.concat([x, y, z])),
    case("concatenate-with-constant", lambda x: np.concatenate([x, np.ones((2, 3)), x]), real,
         covers=np.concatenate, grid=[[S23]]),
    case("stack", lambda x, y: np.stack([x, y]), real, real, covers=np.stack,
         grid=[[shape(), shape()], [S23, strided(2, 3)]]),
    case("stack-axis-minus-one", lambda x, y: np.stack((x, y), axis=-1), real, real,
         covers=np.stack, grid=[[shape(3), shape(3)], [T43, ST43]]),
    case("stack-axis1-three", lambda x, y, z: np.stack([x, y, z], 1), real, real, real,
         covers=np.stack, grid=[[S23, S23, S23]]),
    case("stack-with-constant", lambda x: np.stack([np.zeros(3), x, x]), real, covers=np.stack,
         grid=[[shape(3)]]),
    case("vstack", lambda x, y: np.vstack([x, y]), real, real, covers=np.vstack,
         grid=[[shape(), shape()], [shape(3), S23], [T43, ST43]]),
    case("hstack", lambda x, y: np.hstack((x, y)), real, real, covers=np.hstack,
         grid=[[shape(), shape(1)], [shape(3), shape(2)], [T43, ST43]]),
    case("dstack", lambda x, y: np.dstack([x, y]), real, real, covers=np.dstack,
         grid=[[shape(), shape()], [shape(3), shape(1, 3)], [T43, ST43], [S234, S234]]),
    case("column_stack", lambda x, y: np.column_stack([x, y]), real, real,
         covers=np.column_stack, grid=[[shape(1), shape(1)], [shape(4), ST43], [T43, ST43]]),
    case("block", lambda x, y, z: np.block([[x, y], [z]]), real, real, real, covers=np.block,
         grid=[[shape(2, 1), S23, shape(4)], [ST43, T43, shape(1, 6)]]),
    case("block-flat-with-number", lambda x, y: np.block([x, y, 1.0]), real, real,
         covers=np.block, grid=[[shape(), shape(2)], [shape(1), shape(3)]]),
    case("block-3d", lambda x, y: np.block([[[x, y]]]), real, real, covers=np.block,
         grid=[[S234, shape(2, 3, 1)], [T43, ST43]]),
    case("block-single", lambda x: np.block(x), real, covers=np.block, grid=[[shape()], [ST43]]),
    case("append", lambda x, y: np.append(x, y), real, real, covers=np.append,
         grid=[[shape(), shape()], [S23, shape(3)], [T43, ST43]]),
    case("append-axis", lambda x, y: np.append(x, y, axis=1), real, real, covers=np.append,
         grid=[[S23, shape(2, 1)], [T43, ST43]]),
    # -- splitting (a tuple out)
    case("split", parts(lambda x: np.split(x, 3), 1.0, 0, -2.0), real, covers=np.split,
         grid=[[shape(3)], [shape(6, 2)], [shape(3, 3)]]),
    case("split-indices-axis", parts(lambda x: np.split(x, [1, 2], axis=-1), 0, 3.0, 1.0),
         real, covers=np.split, grid=[[shape(3)], [ST43], [T43]]),
    case("array_split", parts(lambda x: np.array_split(x, 3), 0, 2.0, -1.0), real,
         covers=np.array_split, grid=[[shape(4)], [shape(5, 2)], [T43]]),
    case("array_split-axis", parts(lambda x: np.array_split(x, 2, axis=1), 1.0, 3.0), real,
         covers=np.array_split, grid=[[ST43], [S234]]),
    case("hsplit", parts(lambda x: np.hsplit(x, [1]), 2.0, -1.0), real, covers=np.hsplit,
         grid=[[shape(3)], [ST43], [S234]]),
    case("vsplit", parts(lambda x: np.vsplit(x, 2), 0, 1.5), real, covers=np.vsplit,
         grid=[[shape(2, 1)], [T43], [S234]]),
    case("dsplit", parts(lambda x: np.dsplit(x, [1, 3]), 1.0, 0, 2.0), real, covers=np.dsplit,
         grid=[[S234], [shape(1, 1, 4)]]),
    case("unstack", parts(np.unstack, 1.0, 0, -1.0), real, covers=np.unstack,
         grid=[[shape(3)], [shape(3, 2)], [T43]]),
    case("unstack-axis", parts(lambda x: np.unstack(x, axis=-1), 2.0, 1.0, 0), real,
         covers=np.unstack, grid=[[ST43], [S234]]),
    # -- tiling, repeating, resizing
    case("tile", lambda x: np.tile(x, 2), real, covers=np.tile,
         grid=[[shape()], [shape(1)], [S23], [ST43]]),
    case("tile-more-reps", lambda x: np.tile(x, (2, 1, 3)), real, covers=np.tile,
         grid=[[shape(3)], [T43]]),
    case("tile-fewer-reps", lambda x: np.tile(x, (2, 1)), real, covers=np.tile,
         grid=[[S234], [ST43]]),
    case("repeat", lambda x: np.repeat(x, 3), real, covers=np.repeat,
         grid=[[shape()], [shape(1)], [S23], [ST43]], method=lambda x: x.repeat(3)),
    case("repeat-axis", lambda x: np.repeat(x, 2, axis=1), real, covers=np.repeat,
         grid=[[S23], [T43]], method=lambda x: x.repeat(2, axis=1)),
    case("repeat-per-element", lambda x: np.repeat(x, [2, 0, 3], axis=-1), real,
         covers=np.repeat, grid=[[shape(3)], [ST43], [T43]],
         method=lambda x: x.repeat([2, 0, 3], -1)),
    case("repeat-per-element-flat", lambda x: np.repeat(x, [1, 3, 0, 2, 1, 1]), real,
         covers=np.repeat, grid=[[S23], [shape(3, 2)]]),
    case("repeat-one-count-array", lambda x: np.repeat(x, np.array([2]), axis=0), real,
         covers=np.repeat, grid=[[shape(1)], [ST43]]),
    case("resize", lambda x: np.resize(x, (3, 5)), real, covers=np.resize,
         grid=[[shape()], [shape(1)], [S23], [ST43]]),
    case("resize-shrink", lambda x: np.resize(x, 4), real, covers=np.resize,
         grid=[[S23], [T43]]),
    # -- pad
    pad_case("constant", 1, [[shape()], [shape(1)], [S23], [ST43]]),
    pad_case("constant-values", ((1, 2), (0, 3)), [[S23], [T43]], constant_values=(1.5, -2.0)),
    pad_case("edge", ((2, 1), (1, 0)), [[shape(1, 1)], [S23], [ST43]], mode="edge"),
    pad_case("edge-3d", (1, 0), [[S234]], mode="edge"),
    pad_case("reflect", (2, 3), [[shape(4)], [ST43], [T43]], mode="reflect"),
    pad_case("reflect-odd", ((3, 1), (2, 2)), [[ST43], [S23]], mode="reflect",
             reflect_type="odd"),
    pad_case("symmetric", ((3, 1),), [[shape(2)], [ST43], [S234]], mode="symmetric"),
    pad_case("symmetric-odd", 2, [[shape(1, 3)], [T43]], mode="symmetric", reflect_type="odd"),
    pad_case("wrap", ((1, 4), (2, 0)), [[shape(1, 2)], [ST43]], mode="wrap"),
    pad_case("linear_ramp", ((2, 1), (1, 2)), [[S23], [ST43]], mode="linear_ramp",
             end_values=(0.5, -1.0)),
    pad_case("constant-dict", {-1: (2, 1)}, [[S23], [ST43]]),
    pad_case("reflect-dict", {0: 1, 1: (0, 2)}, [[shape(3, 3)], [T43]], mode="reflect"),
    pad_case("mean", 2, [[shape(3)], [ST43]], mode="mean"),
    pad_case("mean-stat_length", ((1, 2), (2, 1)), [[T43], [S23]], mode="mean",
             stat_length=2),
    case("pad-empty-interior", lambda x: np.pad(x, 1, mode="empty")[1:-1, 1:-1], real,
         covers=np.pad, grid=[[S23], [ST43]]),
]


# The four checks of every table (see _cases.table_tests).
test_gradient, test_second_order, test_views_match_contiguous, test_entry_points = (
    table_tests(TABLE))


# -- values ---------------------------------------------------------------------------------


def test_concatenate_and_stack_split_the_gradient():
    w = np.arange(10.0).reshape(2, 5)
    gx, gy = ag.grad(lambda a, b: np.sum(np.concatenate([a, b], axis=1) * w), argnum=(0, 1))(
        np.zeros((2, 2)), np.zeros((2, 3)))
    np.testing.assert_array_equal(gx, w[:, :2])
    np.testing.assert_array_equal(gy, w[:, 2:])
    gx, gy = ag.grad(lambda a, b: np.sum(np.stack([a, b], axis=-1) * w.reshape(5, 2)),
                     argnum=(0, 1))(np.zeros(5), np.zeros(5))
    np.testing.assert_array_equal(gx, w.reshape(5, 2)[:, 0])
    np.testing.assert_array_equal(gy, w.reshape(5, 2)[:, 1])


def test_row_stack_differentiates_through_vstack():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        g = ag.grad(lambda a: np.sum(np.row_stack([a, 2 * a]) * [[1.0], [10.0]]))(np.ones(3))
    np.testing.assert_array_equal(g, [21.0, 21.0, 21.0])


def test_split_returns_a_tuple_of_the_parts():
    x = ag.Param(np.arange(6.0))
    seen = []
    tape = ag.diff(lambda: seen.append(np.split(x, 3)) or np.sum(seen[-1][2]))
    assert isinstance(seen[-1], tuple) and len(seen[-1]) == 3
    np.testing.assert_array_equal(ag.grad(tape, x), [0, 0, 0, 0, 1, 1])


def test_repeated_copies_add_up():
    g = ag.grad(lambda a: np.sum(np.repeat(a, [3, 0, 1]) * [1.0, 2.0, 3.0, 4.0]))(np.zeros(3))
    np.testing.assert_array_equal(g, [6.0, 0.0, 4.0])
    g = ag.grad(lambda a: np.sum(np.resize(a, 7) * np.arange(7.0)))(np.zeros(3))
    np.testing.assert_array_equal(g, [0 + 3 + 6, 1 + 4, 2 + 5])
    g = ag.grad(lambda a: np.sum(np.tile(a, (2, 2))))(np.zeros((2, 3)))
    np.testing.assert_array_equal(g, np.full((2, 3), 4.0))


def test_pad_reflect_odd_gradient_is_exact():
    # reflect "odd": the padded value is 2 * edge - mirrored element.
    g = ag.grad(lambda a: np.sum(np.pad(a, (1, 0), mode="reflect", reflect_type="odd")))(
        np.zeros(3))
    np.testing.assert_array_equal(g, [3.0, 0.0, 1.0])


@pytest.mark.parametrize("mode", ["maximum", "minimum", "median"])
def test_pad_modes_without_a_rule_raise(mode):
    with pytest.raises(TypeError, match=f"np.pad: mode '{mode}' has no gradient rule"):
        ag.grad(lambda a: np.sum(np.pad(a, 1, mode=mode)))(np.arange(3.0))
