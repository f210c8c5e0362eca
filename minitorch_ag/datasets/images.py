"""Image classification data sets: MNIST, Fashion-MNIST (IDX files) and CIFAR-10 (binary).

Every loader returns NumPy arrays, batch-first and channels-first (NCHW) as the nn layers
expect: images of shape ``(N, C, H, W)``, scaled to [0, 1] in ``dtype`` (``dtype=np.uint8``
keeps the raw bytes), and 0-based ``int64`` labels of shape ``(N,)``. CIFAR-10 is read from
its binary version (fixed-length records), never from the Python-pickle version: loading data
must never run code from a file.
"""

from __future__ import annotations

import gzip
import os
import tarfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ._files import DataFile, DataUnavailableError, fetch, fetch_all

__all__ = ["read_idx", "read_cifar_archive", "mnist", "fashion_mnist", "cifar10",
           "mnist_offline_split",
           "MNIST_CLASSES", "FASHION_MNIST_CLASSES", "CIFAR10_CLASSES"]

MNIST_CLASSES = tuple(str(d) for d in range(10))
"""The names of MNIST's labels 0-9: the digits as strings."""
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")
"""The names of Fashion-MNIST's labels 0-9."""
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
"""The names of CIFAR-10's labels 0-9."""

# -- IDX ------------------------------------------------------------------------------------

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
              0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX file (gzip-compressed when the name ends in ``.gz``).

    The header (two zero bytes, a type code, the number of dimensions, then each dimension
    as a big-endian 32-bit integer) is checked against the file's length.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {data[:4]!r})")
    dtype = np.dtype(_IDX_TYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data[4:header], dtype=">u4"))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"{path}: IDX header says shape {shape} ({expected} bytes), but the "
                         f"file holds {len(data)} bytes: truncated or corrupt")
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def _scale(images: np.ndarray, dtype: Any) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return images
    return images.astype(dtype) / dtype.type(255)


# -- MNIST and Fashion-MNIST ------------------------------------------------------------------

_MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
               "https://storage.googleapis.com/cvdf-datasets/mnist/",
               "http://yann.lecun.com/exdb/mnist/")
_MNIST = {
    "train-images-idx3-ubyte.gz":
        ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
    "train-labels-idx1-ubyte.gz":
        ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
    "t10k-images-idx3-ubyte.gz":
        ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
    "t10k-labels-idx1-ubyte.gz":
        ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
}
# Fashion-MNIST's publishers give MD5 sums only; those are pinned (a SHA-256 could not be
# verified against the published bytes from here).
_FASHION_URLS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/"
                 "fashion/")
_FASHION = {
    "train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26421880),
    "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe", 29515),
    "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79", 4422102),
    "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310", 5148),
}


def _mnist_file(name: str) -> DataFile:
    sha, size = _MNIST[name]
    return DataFile("mnist", name, tuple(u + name for u in _MNIST_URLS), sha256=sha, size=size)


def _fashion_file(name: str) -> DataFile:
    md5, size = _FASHION[name]
    return DataFile("fashion-mnist", name, tuple(u + name for u in _FASHION_URLS), md5=md5,
                    size=size)


def _split_prefix(split: str, who: str) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"{who}: split must be 'train' or 'test', got {split!r}")
    return "train" if split == "train" else "t10k"


def _idx_pair(files: tuple[DataFile, DataFile], root: Any, download: bool,
              dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    images_path, labels_path = fetch_all(files, root, download=download)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if len(images) != len(labels):
        raise ValueError(f"{files[0].name} has {len(images)} images but {files[1].name} has "
                         f"{len(labels)} labels")
    return _scale(images[:, None], dtype), labels.astype(np.int64)


def mnist(split: str = "train", *, root: str | os.PathLike | None = None,
          download: bool = True, dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """MNIST handwritten digits: images ``(N, 1, 28, 28)`` in [0, 1], labels 0-9.

    ``split`` is ``"train"`` (60,000) or ``"test"`` (10,000). Files are cached and verified
    against pinned SHA-256 sums (see ``minitorch_ag.datasets`` for where they are looked for).

    Example:
        >>> from minitorch_ag.datasets import mnist
        >>> x, y = mnist("test")      # doctest: +SKIP
        >>> x.shape, y[:3]            # doctest: +SKIP
        ((10000, 1, 28, 28), array([7, 2, 1]))
    """
    p = _split_prefix(split, "mnist")
    files = (_mnist_file(f"{p}-images-idx3-ubyte.gz"), _mnist_file(f"{p}-labels-idx1-ubyte.gz"))
    return _idx_pair(files, root, download, dtype)


def fashion_mnist(split: str = "train", *, root: str | os.PathLike | None = None,
                  download: bool = True, dtype: Any = np.float32
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST (Zalando): images ``(N, 1, 28, 28)`` in [0, 1], labels 0-9
    (:data:`FASHION_MNIST_CLASSES` names them)."""
    p = _split_prefix(split, "fashion_mnist")
    files = (_fashion_file(f"{p}-images-idx3-ubyte.gz"),
             _fashion_file(f"{p}-labels-idx1-ubyte.gz"))
    return _idx_pair(files, root, download, dtype)


def mnist_offline_split(*, root: str | os.PathLike | None = None, download: bool = True,
                        dtype: Any = np.float32, ntrain: int = 8000
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST as ``(xtrn, ytrn, xtst, ytst)``, falling back to a split of the test set.

    When the training files can be had, this is the usual 60,000/10,000 split. When they
    cannot (offline, with only the test files cached), it warns, saying so, and splits the
    10,000 test images into the first ``ntrain`` for training and the rest for evaluation.
    """
    test = (_mnist_file("t10k-images-idx3-ubyte.gz"), _mnist_file("t10k-labels-idx1-ubyte.gz"))
    train = (_mnist_file("train-images-idx3-ubyte.gz"),
             _mnist_file("train-labels-idx1-ubyte.gz"))
    try:  # all four at once, so that one error names every file that is missing
        fetch_all(test + train, root, download=download)
    except DataUnavailableError as e:
        if any(f in test for f in e.missing):
            raise
        missing = ", ".join(f.name for f in e.missing)
        xtst, ytst = _idx_pair(test, root, False, dtype)
        warnings.warn(
            f"MNIST's training images are unavailable ({missing}: {e.reason}); training on "
            f"the first {ntrain} test images and evaluating on the last {len(xtst) - ntrain}",
            stacklevel=2,
        )
        return xtst[:ntrain], ytst[:ntrain], xtst[ntrain:], ytst[ntrain:]
    xtrn, ytrn = _idx_pair(train, root, False, dtype)
    xtst, ytst = _idx_pair(test, root, False, dtype)
    return xtrn, ytrn, xtst, ytst


# -- CIFAR-10 ------------------------------------------------------------------------------

_CIFAR = DataFile(
    "cifar10", "cifar-10-binary.tar.gz",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
    sha256="c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    size=170052171,
)
_CIFAR_RECORD = 1 + 3 * 32 * 32
_CIFAR_MEMBERS = {
    "train": tuple(f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("cifar-10-batches-bin/test_batch.bin",),
}


def read_cifar_archive(path: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels of ``split`` from the binary tar archive.

    Only the expected regular-file members are read, straight from the archive (nothing is
    extracted to disk); each is checked to be a whole number of 3,073-byte records.
    """
    if split not in _CIFAR_MEMBERS:
        raise ValueError(f"cifar10: split must be 'train' or 'test', got {split!r}")
    chunks = []
    with tarfile.open(path, "r:gz") as tar:
        for name in _CIFAR_MEMBERS[split]:
            member = tar.getmember(name)
            if not member.isfile():
                raise ValueError(f"{path}: {name} is not a regular file")
            f = tar.extractfile(member)
            assert f is not None
            data = f.read()
            if len(data) % _CIFAR_RECORD:
                raise ValueError(f"{path}: {name} holds {len(data)} bytes, not a whole number "
                                 f"of {_CIFAR_RECORD}-byte records")
            chunks.append(np.frombuffer(data, dtype=np.uint8).reshape(-1, _CIFAR_RECORD))
    records = np.concatenate(chunks)
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].astype(np.int64)


def cifar10(split: str = "train", *, root: str | os.PathLike | None = None,
            download: bool = True, dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10: images ``(N, 3, 32, 32)`` in [0, 1], labels 0-9 (:data:`CIFAR10_CLASSES`).

    ``split`` is ``"train"`` (50,000) or ``"test"`` (10,000). Read from the binary version
    of the archive (never the pickled Python version), verified against a pinned SHA-256.
    """
    images, labels = read_cifar_archive(fetch(_CIFAR, root, download=download), split)
    return _scale(images, dtype), labels
