"""The gradient tables: importing this package registers every rule.

One module per NumPy area; each opens with what it covers and what it skips on purpose.
"""

from . import (  # noqa: F401
    elementwise,
    indexing,
    joining,
    linalg,
    products,
    reductions,
    selection,
    shape,
    special,
    statistics,
)
