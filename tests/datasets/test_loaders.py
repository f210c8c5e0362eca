"""The loaders: IDX, MNIST (on the shared real data when present), CIFAR-10's binary archive,
character corpora and the housing table, on files the tests write themselves."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from minitorch_ag import datasets as D
from minitorch_ag.datasets import DataFile, images, tables

SHARED = os.environ.get("MINITORCH_AG_DATA")


def write_idx(path: Path, array: np.ndarray, code: int, compress: bool) -> Path:
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize(("dtype", "code"), [(np.uint8, 0x08), (np.int32, 0x0C),
                                             (np.float32, 0x0D), (np.float64, 0x0E)])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, dtype, code, compress):
    a = (np.arange(24).reshape(2, 3, 4) * 3).astype(dtype)
    name = "a.idx.gz" if compress else "a.idx"
    got = D.read_idx(write_idx(tmp_path / name, a, code, compress))
    assert got.dtype == np.dtype(dtype) and got.shape == a.shape and got.flags.writeable
    np.testing.assert_array_equal(got, a)


def test_read_idx_refuses_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        D.read_idx(tmp_path / "bad")
    good = write_idx(tmp_path / "t.idx", np.zeros((5, 4), np.uint8), 0x08, False)
    good.write_bytes(good.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated"):
        D.read_idx(good)


@pytest.mark.skipif(not SHARED or not Path(SHARED, "mnist", "t10k-images-idx3-ubyte.gz")
                    .is_file(), reason="the shared MNIST test files are not available")
def test_mnist_test_split_from_the_shared_data():
    x, y = D.mnist("test", download=False)
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() == 1.0
    assert y.dtype == np.int64 and y[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(y).tolist()[:3] == [980, 1135, 1032]
    raw, _ = D.mnist("test", download=False, dtype=np.uint8)
    assert raw.dtype == np.uint8 and raw.max() == 255


@pytest.mark.skipif(not SHARED or not Path(SHARED, "mnist", "t10k-images-idx3-ubyte.gz")
                    .is_file(), reason="the shared MNIST test files are not available")
def test_mnist_offline_split_falls_back_with_a_clear_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    if Path(SHARED, "mnist", "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("the training images are present: no fallback to test")
    with pytest.warns(UserWarning, match="training images are unavailable"):
        xtrn, ytrn, xtst, ytst = D.mnist_offline_split(download=False)
    assert len(xtrn) == len(ytrn) == 8000 and len(xtst) == len(ytst) == 2000


def test_mnist_split_name_is_checked():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        D.mnist("validation")


def fake_cifar(path: Path, counts: dict[str, int]) -> np.ndarray:
    """A CIFAR-10 binary archive with ``counts`` records per member; returns all records."""
    rng = np.random.default_rng(0)
    everything = []
    with tarfile.open(path, "w:gz") as tar:
        for member, n in counts.items():
            records = rng.integers(0, 256, (n, 3073), dtype=np.uint8)
            records[:, 0] %= 10
            everything.append(records)
            data = records.tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{member}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return np.concatenate(everything)


def test_cifar10_reads_the_binary_archive(tmp_path, monkeypatch):
    members = {f"data_batch_{i}.bin": 3 for i in range(1, 6)} | {"test_batch.bin": 4}
    archive = tmp_path / "src" / "cifar-10-binary.tar.gz"
    archive.parent.mkdir()
    records = fake_cifar(archive, members)
    spec = DataFile("cifar10", archive.name, (archive.as_uri(),),
                    sha256=hashlib.sha256(archive.read_bytes()).hexdigest())
    monkeypatch.setattr(images, "_CIFAR", spec)
    x, y = D.cifar10("train", root=tmp_path / "data")
    assert x.shape == (15, 3, 32, 32) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(y, records[:15, 0])
    np.testing.assert_allclose(x[4, 1], records[4, 1 + 1024:1 + 2048].reshape(32, 32) / 255)
    xt, yt = D.cifar10("test", root=tmp_path / "data", dtype=np.uint8)
    assert xt.shape == (4, 3, 32, 32) and xt.dtype == np.uint8
    np.testing.assert_array_equal(yt, records[15:, 0])


def test_cifar10_refuses_a_truncated_member(tmp_path):
    archive = tmp_path / "c.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        info.size = 3000
        tar.addfile(info, io.BytesIO(b"\0" * 3000))
    with pytest.raises(ValueError, match="whole number"):
        D.read_cifar_archive(archive, "test")


def test_char_corpus_encodes_decodes_and_batches():
    text = "abcdefghij" * 20
    c = D.CharCorpus(text)
    assert c.vocab == tuple("abcdefghij") and len(c) == 200
    assert c.decode(c.encode("jab")) == "jab"
    with pytest.raises(ValueError, match="'z' is not in the vocabulary"):
        c.encode("az")
    batches = list(c.batches(batchsize=4, seqlen=7))
    assert len(batches) == c.nbatches(4, 7) == (199 // 4) // 7
    for x, y in batches:
        assert x.shape == y.shape == (4, 7)
        np.testing.assert_array_equal(y[:, :-1], x[:, 1:])  # y is x shifted by one
    # row b of batch k+1 continues row b of batch k
    (_, y0), (x1, _) = batches[0], batches[1]
    np.testing.assert_array_equal(x1[:, 0], y0[:, -1])
    train, valid = c.split(0.75)
    assert train.vocab == valid.vocab == c.vocab and train.text + valid.text == text
    with pytest.raises(ValueError, match="too few"):
        next(D.CharCorpus("abc").batches(4, 7))


@pytest.mark.skipif(not SHARED or not Path(SHARED, "tinyshakespeare", "input.txt").is_file(),
                    reason="the shared Tiny Shakespeare file is not available")
def test_tiny_shakespeare_from_the_shared_data():
    c = D.tiny_shakespeare(download=False)
    assert len(c) == 1115394 and len(c.vocab) == 65
    assert c.text.startswith("First Citizen:")


def test_housing_reads_and_normalizes(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    table = np.column_stack([rng.uniform(0, 100, (20, 13)), rng.uniform(5, 50, 20)])
    src = tmp_path / "housing.data"
    np.savetxt(src, table, fmt="%.4f")
    spec = DataFile("housing", "housing.data", (src.as_uri(),),
                    sha256=hashlib.sha256(src.read_bytes()).hexdigest())
    monkeypatch.setattr(tables, "_HOUSING", spec)
    x, y = D.housing(root=tmp_path / "data")
    assert x.shape == (20, 13) and y.shape == (20,)
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(x.std(axis=0), 1)
    np.testing.assert_allclose(y, table[:, 13], atol=1e-4)
    (tmp_path / "bad.data").write_text("1 2 3\n4 5 6\n")
    with pytest.raises(ValueError, match="14 columns"):
        D.read_housing(tmp_path / "bad.data")
