"""The gradient tables: importing this package registers every rule.

One module per NumPy area; each opens with what it covers and what it skips on purpose.
"""

from . import (  # noqa: F401
    elementwise,
    elementwise_jvp,
    indexing,
    interpolation,
    joining,
    linalg,
    linear_jvp,
    products,
    reductions,
    selection,
    shape,
    special,
    statistics,
)
