"""Gradient table of ``minitorch_ag/rules/interpolation.py``: linspace and logspace with
tracked endpoints, interp with respect to ``x`` and ``fp``, polyval with respect to both."""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_ag as ag

from ._cases import case, check, intervals, real, shape, strided, table_tests

XP = np.array([-1.0, -0.2, 0.5, 1.0, 2.0])
# x inside the pieces, away from the knots (where the slope jumps), and beyond both ends
OFF_KNOTS = intervals((-1.8, -1.2), (-0.9, -0.3), (-0.1, 0.4), (0.6, 0.9), (1.1, 1.9),
                      (2.2, 2.8))
SMALL = intervals((-1.0, 1.0))

TABLE = [
    case("linspace", lambda a, b: np.linspace(a, b, 7), real, real, covers=np.linspace,
         grid=[[shape(), shape()], [shape(3), shape()], [shape(2, 3), shape(3)],
               [strided(4, 3), shape(3)]]),
    case("linspace-no-endpoint-axis", lambda a, b: np.linspace(a, b, 4, endpoint=False, axis=-1),
         real, real, covers=np.linspace, grid=[[shape(), shape()], [shape(3), shape(3)]]),
    case("logspace", lambda a, b: np.logspace(a, b, 5, base=2.0), SMALL, SMALL,
         covers=np.logspace, grid=[[shape(), shape()], [shape(3), shape(1)]]),
    case("interp", lambda x, fp: np.interp(x, XP, fp), OFF_KNOTS, real, covers=np.interp,
         grid=[[shape(), shape(5)], [shape(9), shape(5)], [shape(2, 4), shape(5)]]),
    case("interp-left-right", lambda x, fp: np.interp(x, XP, fp, left=-3.0, right=4.0),
         OFF_KNOTS, real, covers=np.interp, grid=[[shape(9), shape(5)]]),
    case("polyval", np.polyval, real, real,
         grid=[[shape(1), shape()], [shape(4), shape()], [shape(3), shape(5)],
               [shape(4), shape(2, 3)], [shape(3), strided(4, 3)]]),
]

test_gradient, test_second_order, test_views_match_contiguous, test_entry_points = (
    table_tests(TABLE))


def test_interp_gradient_with_respect_to_fp_is_the_hat_weights():
    x = np.array([-0.6, 0.75, 3.0])  # inside two pieces, beyond the right end
    w = np.array([1.0, 2.0, 3.0])
    g = ag.grad(lambda fp: np.sum(np.interp(x, XP, fp) * w))(np.zeros(5))
    # -0.6 is halfway between -1 and -0.2; 0.75 halfway between 0.5 and 1; 3.0 takes fp[-1]
    np.testing.assert_allclose(g, [0.5, 0.5, 1.0, 1.0, 3.0])
    check(lambda x: np.interp(x, XP, np.sin(XP)), [np.array([0.2, 1.5])], order=2)


def test_refused_cases_say_why():
    with pytest.raises(TypeError, match="retstep"):
        ag.grad(lambda a: np.sum(np.linspace(a, 2.0, 5, retstep=True)[0]))(0.0)
    with pytest.raises(TypeError, match="period"):
        ag.grad(lambda x: np.sum(np.interp(x, XP, XP, period=3.0)))(np.array([0.1]))
