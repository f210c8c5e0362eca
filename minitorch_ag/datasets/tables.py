"""Tabular data: the UCI Boston housing table of the AutoGrad.jl README's example.

506 rows of 13 features and the median house value (in $1000s), as regression data.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._files import DataFile, fetch

__all__ = ["housing", "read_housing", "HOUSING_FEATURES"]

HOUSING_FEATURES = ("CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX",
                    "PTRATIO", "B", "LSTAT")
"""The names of the housing table's 13 feature columns, in order (the 14th is the price)."""

_HOUSING = DataFile(
    "housing", "housing.data",
    ("https://archive.ics.uci.edu/ml/machine-learning-databases/housing/housing.data",),
    sha256="baadf72995725d76efe787b664e1f083388c79ba21ef9a7990d87f774184735a",
)


def read_housing(path: str | os.PathLike) -> np.ndarray:
    """The whitespace-separated housing table as a float64 array of shape ``(rows, 14)``."""
    table = np.loadtxt(path, dtype=np.float64, ndmin=2)
    if table.shape[1] != 14:
        raise ValueError(f"{path}: expected 14 columns (13 features and the price), got "
                         f"{table.shape[1]}")
    return table


def housing(*, root: str | os.PathLike | None = None, download: bool = True,
            normalize: bool = True, dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Boston housing: features ``(506, 13)`` and prices ``(506,)``.

    With ``normalize`` (the AutoGrad.jl example's preprocessing) each feature is shifted and scaled
    to mean 0 and standard deviation 1; prices are left in $1000s.
    """
    table = read_housing(fetch(_HOUSING, root, download=download))
    x, y = table[:, :13], table[:, 13]
    if normalize:
        x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x.astype(dtype), y.astype(dtype)
