"""The backend accessor: which array module owns a value, and scatter-add."""

import numpy as np

from minitorch_ag.backend import array_module, is_array, scatter_add


def test_array_module_of_cpu_values():
    for v in (np.ones(2), np.float32(1.0), 1.0, [1.0], None):
        assert array_module(v) is np


def test_is_array():
    assert is_array(np.ones(2)) and is_array(np.ones(2).view(np.matrix))
    assert not is_array(1.0) and not is_array([1.0]) and not is_array(np.float64(1.0))


def test_scatter_add_adds_repeated_indices():
    target = np.zeros(4)
    scatter_add(target, np.array([0, 0, 3]), np.array([1.0, 2.0, 5.0]))
    np.testing.assert_array_equal(target, [3.0, 0.0, 0.0, 5.0])
