"""Data for training: the ``minibatch`` iterator and loaders of public data sets.

Loaders return NumPy arrays (batch-first, images NCHW, labels 0-based). Their files are looked
for under ``root=``, then ``$MINITORCH_AG_DATA``, then the user's cache directory, each as
``<dir>/<dataset>/<file>``; a missing file is downloaded from its usual public source with a
progress bar, verified against a pinned checksum and written atomically. Offline, a clear error
names the missing file and how to provide it.
"""

from ._files import DataFile, DataUnavailableError, fetch, search_roots
from .images import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    cifar10,
    fashion_mnist,
    mnist,
    mnist_offline_split,
    read_cifar_archive,
    read_idx,
)
from .minibatch import Minibatch, minibatch
from .tables import HOUSING_FEATURES, housing, read_housing
from .text import CharCorpus, tiny_shakespeare

__all__ = [
    "minibatch", "Minibatch",
    "mnist", "fashion_mnist", "cifar10", "mnist_offline_split", "tiny_shakespeare", "housing",
    "CharCorpus", "read_idx", "read_cifar_archive", "read_housing",
    "MNIST_CLASSES", "FASHION_MNIST_CLASSES", "CIFAR10_CLASSES", "HOUSING_FEATURES",
    "DataFile", "DataUnavailableError", "fetch", "search_roots",
]
