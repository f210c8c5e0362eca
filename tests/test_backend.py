"""The backend accessor: which array module owns a value, and scatter-add."""

import numpy as np
import pytest

from minitorch_ag import backend
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


def test_to_device_cpu_is_the_identity_for_numpy_arrays():
    a = np.arange(3.0)
    assert backend.to_device(a, "cpu") is a and backend.to_device(a, None) is a
    assert backend.to_device(2.5, "cpu") == 2.5


@pytest.mark.parametrize(("text", "parsed"), [("cpu", ("cpu", 0)), ("gpu", ("gpu", 0)),
                                               ("GPU:1", ("gpu", 1)), ("cuda:2", ("gpu", 2))])
def test_parse_device(text, parsed):
    assert backend.parse_device(text) == parsed


@pytest.mark.parametrize("bad", ["tpu", "gpu:x", "cpu:1:2"])
def test_parse_device_refuses_unknown_names(bad):
    with pytest.raises(ValueError, match="expected 'cpu', 'gpu' or 'gpu:<index>'"):
        backend.parse_device(bad)


def test_gpu_without_cupy_says_so():
    try:
        import cupy  # noqa: F401, PLC0415
    except ImportError:
        with pytest.raises(RuntimeError, match="CuPy, which is not installed"):
            backend.to_device(np.ones(2), "gpu")
    else:
        pytest.skip("CuPy is installed: the GPU tests cover this")
