"""Finding, downloading and verifying data files: the cache every loader shares.

A data file is looked for, in order, under the ``root=`` a loader was given, under the directory
named by ``MINITORCH_AG_DATA``, and under the user's cache directory
(``$XDG_CACHE_HOME/minitorch_ag`` or ``~/.cache/minitorch_ag``), each laid out as
``<root>/<dataset>/<file>``. A file found there is used only after its pinned checksum matches.
A missing file is downloaded into the first of those directories that is writable: with a
progress bar, into a temporary file beside the target, verified, then renamed into place, so an
interrupted or corrupt download never leaves a file that looks complete. Offline, the error says
which file is missing, where it was looked for, and how to provide it.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DataFile", "DataUnavailableError", "fetch", "search_roots", "verify"]

ENV_VAR = "MINITORCH_AG_DATA"


class DataUnavailableError(FileNotFoundError):
    """A data file is neither cached nor downloadable (offline, or every source failed)."""


@dataclass(frozen=True)
class DataFile:
    """One published data file: where it comes from and what its bytes must hash to.

    Attributes:
        dataset: the sub-directory of a data root that holds it (``"mnist"``).
        name: its file name (``"t10k-images-idx3-ubyte.gz"``).
        urls: the sources to try, in order (mirrors after the original).
        sha256: the pinned SHA-256 of the file, when the publisher's bytes are known by it.
        md5: the publisher's MD5, for files whose SHA-256 could not be pinned; checked
            the same way, and documented as the weaker guarantee it is.
        size: the expected size in bytes, if known (for the progress bar and a quick check).
    """

    dataset: str
    name: str
    urls: tuple[str, ...]
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None

    def __post_init__(self) -> None:
        if not (self.sha256 or self.md5):
            raise ValueError(f"DataFile {self.name}: a checksum (sha256 or md5) must be pinned")


def _user_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "minitorch_ag"


def search_roots(root: str | os.PathLike | None = None) -> list[Path]:
    """The data roots looked in, in order: ``root``, ``$MINITORCH_AG_DATA``, the user cache."""
    roots = []
    if root is not None:
        roots.append(Path(root).expanduser())
    env = os.environ.get(ENV_VAR)
    if env:
        roots.append(Path(env).expanduser())
    roots.append(_user_cache())
    unique: list[Path] = []
    for r in roots:
        if r not in unique:
            unique.append(r)
    return unique


# (path, size, mtime) -> verified; so that a file is hashed once per process.
_VERIFIED: set[tuple[str, int, float]] = set()


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, spec: DataFile) -> bool:
    """True when the file at ``path`` has ``spec``'s pinned size and checksum."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime)
    if key in _VERIFIED:
        return True
    if spec.size is not None and st.st_size != spec.size:
        return False
    if spec.sha256 is not None:
        ok = _digest(path, "sha256") == spec.sha256.lower()
    else:
        ok = _digest(path, "md5") == str(spec.md5).lower()
    if ok:
        _VERIFIED.add(key)
    return ok


def _progress(total: int | None, desc: str):
    """A tqdm bar when tqdm is installed, otherwise a silent stand-in."""
    try:
        from tqdm.auto import tqdm  # noqa: PLC0415 - optional dependency
    except ImportError:
        return _Silent()
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
                leave=False, file=sys.stderr)


class _Silent:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _download(url: str, target: Path, spec: DataFile, timeout: float) -> None:
    """Download ``url`` to ``target`` atomically, verified against ``spec``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "minitorch_ag"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
            total = resp.headers.get("Content-Length")
            bar = _progress(int(total) if total else spec.size, spec.name)
            try:
                for chunk in iter(lambda: resp.read(1 << 16), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
            finally:
                bar.close()
            out.flush()
            os.fsync(out.fileno())
        if not verify(tmp, spec):
            raise OSError(f"{spec.name}: the download from {url} does not match its pinned "
                          f"checksum (corrupt or changed at the source)")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _writable(directory: Path) -> bool:
    probe = directory
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return os.access(probe, os.W_OK)


def fetch(spec: DataFile, root: str | os.PathLike | None = None, *, download: bool = True,
          retries: int = 3, timeout: float = 60.0) -> Path:
    """The verified local path of ``spec``'s file, downloading it if it is not cached.

    Raises:
        DataUnavailableError: the file is not cached and could not be downloaded (or
            ``download`` is False); the message names the file, the places looked in, the
            sources tried, and how to provide the file by hand.
        OSError: a cached file exists but does not match its pinned checksum.
    """
    roots = search_roots(root)
    for r in roots:
        path = r / spec.dataset / spec.name
        if path.is_file():
            if verify(path, spec):
                return path
            raise OSError(
                f"{path} does not match the pinned checksum of {spec.name} "
                f"({'sha256 ' + spec.sha256 if spec.sha256 else 'md5 ' + str(spec.md5)}): the "
                f"file is corrupt or a different version; delete it to download it again"
            )
    errors: list[str] = []
    if download:
        targets = [r / spec.dataset / spec.name for r in roots if _writable(r)]
        if targets:
            for attempt in range(retries):
                for url in spec.urls:
                    try:
                        _download(url, targets[0], spec, timeout)
                        return targets[0]
                    except (urllib.error.URLError, OSError, TimeoutError) as e:
                        errors.append(f"{url}: {e}")
                if attempt + 1 < retries:
                    time.sleep(min(2.0 ** attempt, 8.0))
        else:
            errors.append("no writable data directory to download into")
    raise DataUnavailableError(_missing_message(spec, roots, download, errors))


def _missing_message(spec: DataFile, roots: Sequence[Path], download: bool,
                     errors: Sequence[str]) -> str:
    looked = ", ".join(str(r / spec.dataset) for r in roots)
    lines = [f"{spec.dataset}/{spec.name} is not available: not found in {looked}"]
    if not download:
        lines.append("(download=False, so no download was tried)")
    elif errors:
        last = errors[-1] if len(errors) < 4 else f"{errors[-1]} (and {len(errors) - 1} more)"
        lines.append(f"and the download failed: {last}")
    lines.append(
        f"To provide it by hand, download {spec.urls[0]} and put it at "
        f"<dir>/{spec.dataset}/{spec.name}, where <dir> is the directory named by the "
        f"{ENV_VAR} environment variable or given as root=<dir>"
    )
    return "\n".join(lines)
