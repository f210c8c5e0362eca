"""The gradient tables of ``tests/rules``, listed once: the coverage meta-test and the device
comparisons (``tests/gpu``) both run over them."""

from __future__ import annotations

from . import (
    test_elementwise,
    test_indexing,
    test_interpolation,
    test_joining,
    test_linalg,
    test_products,
    test_reductions,
    test_selection,
    test_shape,
    test_special,
    test_statistics,
)

TABLE_MODULES = [test_elementwise, test_reductions, test_shape, test_indexing, test_linalg,
                 test_products, test_joining, test_selection, test_special, test_statistics,
                 test_interpolation]
TABLES = {module.__name__.rsplit("_", 1)[-1]: module.TABLE for module in TABLE_MODULES}
