"""The data cache: lookup order, checksums, atomic downloads and the offline message.

Downloads are exercised with ``file://`` sources written by the tests: no network is needed.
"""

from __future__ import annotations

import hashlib
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from minitorch_ag.datasets import (
    DataFile,
    DataUnavailableError,
    _files,
    fetch,
    fetch_all,
    search_roots,
    user_cache,
)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """No test reads or writes the real user cache or the shared data directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("MINITORCH_AG_DATA", raising=False)
    monkeypatch.setattr(_files, "_ANSWERS", {})  # probe servers afresh in every test


PAYLOAD = b"some published bytes\n" * 100


def source(tmp_path: Path, payload: bytes = PAYLOAD) -> tuple[Path, DataFile]:
    src = tmp_path / "server" / "file.bin"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(payload)
    spec = DataFile("things", "file.bin", (src.as_uri(),),
                    sha256=hashlib.sha256(payload).hexdigest(), size=len(payload))
    return src, spec


def test_search_roots_order(tmp_path, monkeypatch):
    monkeypatch.setenv("MINITORCH_AG_DATA", str(tmp_path / "env"))
    roots = search_roots(tmp_path / "given")
    assert roots == [tmp_path / "given", tmp_path / "env", tmp_path / "cache" / "minitorch_ag"]


def test_download_verifies_and_caches(tmp_path):
    src, spec = source(tmp_path)
    path = fetch(spec, tmp_path / "data")
    assert path == tmp_path / "data" / "things" / "file.bin"
    assert path.read_bytes() == src.read_bytes()
    assert not list(path.parent.glob("*.part")), "a temporary file was left behind"
    src.unlink()  # now only the cache has it
    assert fetch(spec, tmp_path / "data") == path


def test_md5_pins_are_checked_too(tmp_path):
    payload = b"md5 pinned"
    src = tmp_path / "m.bin"
    src.write_bytes(payload)
    good = DataFile("m", "m.bin", (src.as_uri(),), md5=hashlib.md5(payload).hexdigest())
    assert fetch(good, tmp_path / "d").read_bytes() == payload
    bad = DataFile("m2", "m.bin", (src.as_uri(),), md5="0" * 32)
    with pytest.raises(DataUnavailableError, match="checksum"):
        fetch(bad, tmp_path / "d")


def test_a_checksum_must_be_pinned():
    with pytest.raises(ValueError, match="checksum"):
        DataFile("x", "y", ("file:///nowhere",))


def test_corrupt_download_leaves_nothing(tmp_path):
    src, spec = source(tmp_path)
    src.write_bytes(b"tampered" + src.read_bytes()[8:])
    with pytest.raises(DataUnavailableError) as err:
        fetch(spec, tmp_path / "data")
    assert "checksum" in str(err.value)
    folder = tmp_path / "data" / "things"
    assert not folder.exists() or not any(folder.iterdir())


def test_interrupted_download_leaves_no_file_that_looks_complete(tmp_path, monkeypatch):
    src, spec = source(tmp_path)
    real_urlopen = urllib.request.urlopen

    class Broken:
        def __init__(self, resp):
            self.resp, self.headers, self.calls = resp, resp.headers, 0

        def read(self, n):
            self.calls += 1
            if self.calls > 1:
                raise ConnectionResetError("connection dropped")
            return self.resp.read(100)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.resp.close()

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: Broken(real_urlopen(*a, **k)))
    with pytest.raises(DataUnavailableError, match="connection dropped"):
        fetch(spec, tmp_path / "data", retries=2)
    folder = tmp_path / "data" / "things"
    assert not folder.exists() or not any(folder.iterdir())


def test_retries_then_succeeds(tmp_path, monkeypatch):
    src, spec = source(tmp_path)
    real_urlopen = urllib.request.urlopen
    attempts = []

    def flaky(*a, **k):
        attempts.append(1)
        if len(attempts) < 3:
            raise urllib.error.URLError("temporary failure")
        return real_urlopen(*a, **k)

    monkeypatch.setattr(urllib.request, "urlopen", flaky)
    assert fetch(spec, tmp_path / "data", retries=3).is_file()
    assert len(attempts) == 3


def test_cached_file_with_wrong_checksum_is_refused(tmp_path):
    _, spec = source(tmp_path)
    bad = tmp_path / "data" / "things" / "file.bin"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"x" * spec.size)
    with pytest.raises(OSError, match="does not match the pinned checksum"):
        fetch(spec, tmp_path / "data")


def test_offline_message_names_the_file_and_the_fix(tmp_path):
    spec = DataFile("mnist", "train-images-idx3-ubyte.gz",
                    ((tmp_path / "missing").as_uri(),), sha256="0" * 64)
    with pytest.raises(DataUnavailableError) as err:
        fetch(spec, tmp_path / "data")
    text = str(err.value)
    assert "this data file is not available" in text
    assert "mnist/train-images-idx3-ubyte.gz" in text
    assert str(tmp_path / "data" / "mnist") in text
    assert "MINITORCH_AG_DATA" in text and "root=" in text
    assert err.value.missing == (spec,)
    with pytest.raises(DataUnavailableError, match="download=False"):
        fetch(spec, tmp_path / "data", download=False)


def offline(monkeypatch):
    """No server answers: every connection attempt fails, as with the network unplugged.
    Returns the list of URLs that anything tried to open (there must be none)."""
    def refuse(*a, **k):
        raise OSError("Network is unreachable")

    opened = []
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", lambda req, **k: opened.append(req))
    return opened


def web_file(name: str, dataset: str = "mnist") -> DataFile:
    return DataFile(dataset, name, (f"https://a.example.org/{name}",
                                    f"https://b.example.org/{name}"), sha256="0" * 64)


def test_offline_all_missing_files_fail_at_once_in_one_message(tmp_path, monkeypatch):
    opened = offline(monkeypatch)
    specs = [web_file("one.gz"), web_file("two.gz"), web_file("three.gz", "other")]
    start = time.perf_counter()
    with pytest.raises(DataUnavailableError) as err:
        fetch_all(specs, tmp_path / "data")
    assert time.perf_counter() - start < 1.0, "offline, the loader must give up at once"
    assert opened == [], "no download is tried when no server answers"
    text = str(err.value)
    assert "these 3 data files are not available" in text
    for key in ("mnist/one.gz", "mnist/two.gz", "other/three.gz"):
        assert key in text
    assert "no network: none of a.example.org, b.example.org answered" in text
    assert err.value.missing == tuple(specs)
    assert not (tmp_path / "data").exists(), "an empty cache folder was left behind"
    assert not (tmp_path / "cache").exists()


def test_each_server_is_probed_once_per_process(tmp_path, monkeypatch):
    probes = []

    def refuse(address, timeout=None):
        probes.append(address)
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    for name in ("one.gz", "two.gz"):
        with pytest.raises(DataUnavailableError):
            fetch(web_file(name), tmp_path / "data")
    assert sorted(probes) == [("a.example.org", 443), ("b.example.org", 443)]


def test_files_on_disk_are_used_without_touching_the_network(tmp_path, monkeypatch):
    src, spec = source(tmp_path)
    (tmp_path / "data" / "things").mkdir(parents=True)
    (tmp_path / "data" / "things" / "file.bin").write_bytes(src.read_bytes())
    web = DataFile("things", "file.bin", ("https://a.example.org/file.bin",),
                   sha256=spec.sha256, size=spec.size)

    def no_network(*a, **k):
        raise AssertionError("the network was used although the file is present")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert fetch_all([web, web], tmp_path / "data") == [tmp_path / "data" / "things" /
                                                        "file.bin"] * 2


def test_a_failed_download_removes_the_folders_it_created(tmp_path):
    spec = DataFile("deep", "f.bin", ((tmp_path / "nowhere").as_uri(),), sha256="0" * 64)
    with pytest.raises(DataUnavailableError, match="the download failed"):
        fetch(spec, tmp_path / "data" / "nested")
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("platform, env, expected", [
    ("linux", {"XDG_CACHE_HOME": "/xdg"}, "/xdg/minitorch_ag"),
    ("linux", {}, "~/.cache/minitorch_ag"),
    ("darwin", {"XDG_CACHE_HOME": "/xdg"}, "~/Library/Caches/minitorch_ag"),
    ("win32", {"LOCALAPPDATA": "/local"}, "/local/minitorch_ag/Cache"),
    ("win32", {}, "~/AppData/Local/minitorch_ag/Cache"),
])
def test_the_user_cache_is_where_each_platform_keeps_caches(platform, env, expected,
                                                            monkeypatch):
    for name in ("XDG_CACHE_HOME", "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)
    for name, val in env.items():
        monkeypatch.setenv(name, val)
    monkeypatch.setattr(_files.sys, "platform", platform)
    assert user_cache() == Path(expected).expanduser()


def test_read_only_root_is_searched_but_downloads_go_to_a_writable_one(tmp_path, monkeypatch):
    src, spec = source(tmp_path)
    ro = tmp_path / "readonly"
    ro.mkdir()
    monkeypatch.setattr(_files, "_writable", lambda d: d != ro)
    path = fetch(spec, ro)
    assert path == tmp_path / "cache" / "minitorch_ag" / "things" / "file.bin"
