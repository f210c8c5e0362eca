"""Data for training: the ``minibatch`` iterator and loaders of public data sets.

Loaders return NumPy arrays (batch-first, images NCHW, labels 0-based). Their files are looked
for under ``root=``, then ``$MINITORCH_AG_DATA``, then the user's cache directory
(``user_cache()``: where the platform keeps caches), each as ``<dir>/<dataset>/<file>``; a
missing file is downloaded from its usual public source with a progress bar, verified against a
pinned checksum and written atomically. Offline, the loader gives up at once, with one error
that names every missing file and how to provide them.
"""

from ._files import DataFile, DataUnavailableError, fetch, fetch_all, search_roots, user_cache
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
    "DataFile", "DataUnavailableError", "fetch", "fetch_all", "search_roots", "user_cache",
]
