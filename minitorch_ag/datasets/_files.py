"""Finding, downloading and verifying data files: the cache every loader shares.

A data file is looked for, in order, under the ``root=`` a loader was given, under the directory
named by ``MINITORCH_AG_DATA``, and under the user's cache directory (where each platform keeps
caches: ``$XDG_CACHE_HOME/minitorch_ag`` or ``~/.cache/minitorch_ag`` on Linux,
``~/Library/Caches/minitorch_ag`` on macOS, ``%LOCALAPPDATA%\\minitorch_ag\\Cache`` on Windows),
each laid out as ``<root>/<dataset>/<file>``. A file found there is used only after its pinned
checksum matches; a run whose files are all present never touches the network.

Missing files are downloaded into the first of those directories that is writable: with a
progress bar, into a temporary file beside the target, verified, then renamed into place, so an
interrupted or corrupt download never leaves a file that looks complete. Before downloading, one
quick probe (all sources at once, a few seconds at most) finds which servers answer; when none
does, the loader gives up at once, without retry rounds or sleeps, and no folder it created is
left behind. The error then names every missing file in one message, where it was looked for,
and how to provide it.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DataFile", "DataUnavailableError", "fetch", "fetch_all", "search_roots",
           "user_cache", "verify"]

ENV_VAR = "MINITORCH_AG_DATA"

# How long the probe waits for a server to accept a connection. A server that answers does so
# in well under a second; a network that drops packets would otherwise hold every run for the
# full download timeout.
PROBE_TIMEOUT = 3.0


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

    @property
    def key(self) -> str:
        """``<dataset>/<name>``: the file's place under any data root."""
        return f"{self.dataset}/{self.name}"


class DataUnavailableError(FileNotFoundError):
    """Data files are neither cached nor downloadable (offline, or every source failed).

    Attributes:
        missing: the files that could not be had, in the order they were asked for.
        roots: the data roots that were looked in.
        reason: why they were not downloaded (one line).
    """

    def __init__(self, missing: Sequence[DataFile], roots: Sequence[Path], reason: str) -> None:
        self.missing = tuple(missing)
        self.roots = tuple(roots)
        self.reason = reason
        super().__init__(self.describe())

    def describe(self, fix: str | None = None) -> str:
        """The message: which files are missing, where they were looked for, why none was
        downloaded, and ``fix`` (by default: set ``MINITORCH_AG_DATA`` or pass ``root=``)."""
        n = len(self.missing)
        what = "is" if n == 1 else "are"
        datasets = sorted({f.dataset for f in self.missing})
        looked = ", ".join(str(r / d) for r in self.roots for d in datasets)
        lines = [f"{'this data file' if n == 1 else f'these {n} data files'} {what} not "
                 f"available (looked in {looked}; {self.reason}):"]
        lines += [f"  {f.key}   from {f.urls[0]}" for f in self.missing]
        if fix is None:
            fix = (f"To provide {'it' if n == 1 else 'them'} by hand, put "
                   f"{'it' if n == 1 else 'each'} at <dir>/<dataset>/<file> as listed above and "
                   f"set the environment variable {ENV_VAR}=<dir> (or pass root=<dir> to the "
                   f"loader)")
        lines.append(fix)
        return "\n".join(lines)


def user_cache() -> Path:
    """The per-user cache directory for data, where the platform keeps caches.

    Linux and other Unix systems follow the XDG base directories (``$XDG_CACHE_HOME``, by
    default ``~/.cache``); macOS uses ``~/Library/Caches``; Windows ``%LOCALAPPDATA%``.
    """
    home = Path(os.path.expanduser("~"))
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / "minitorch_ag" / "Cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "minitorch_ag"
    return Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "minitorch_ag"


def search_roots(root: str | os.PathLike | None = None) -> list[Path]:
    """The data roots looked in, in order: ``root``, ``$MINITORCH_AG_DATA``, the user cache."""
    roots = []
    if root is not None:
        roots.append(Path(root).expanduser())
    env = os.environ.get(ENV_VAR)
    if env:
        roots.append(Path(env).expanduser())
    roots.append(user_cache())
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


def _cached(spec: DataFile, roots: Sequence[Path]) -> Path | None:
    """The verified cached copy of ``spec``, or None; a copy that fails its checksum is an
    error (it would be silently shadowed otherwise)."""
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
    return None


# -- the network --------------------------------------------------------------------------------

# (scheme, host, port) -> whether it accepted a connection; probed once per process.
_ANSWERS: dict[tuple[str, str, int], bool] = {}


def _server(url: str) -> tuple[str, str, int]:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname or "", port


def _answers(server: tuple[str, str, int]) -> bool:
    scheme, host, port = server
    if scheme not in ("http", "https"):
        return True  # file:// and the like: nothing to probe
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT).close()
    except OSError:
        return False
    return True


def _reachable(urls: Sequence[str]) -> list[str]:
    """The ``urls`` whose servers accept a connection, probed all at once (each server once
    per process), so that an offline run learns it in one short wait."""
    unknown = sorted({_server(u) for u in urls} - _ANSWERS.keys())
    if unknown:
        with ThreadPoolExecutor(max_workers=len(unknown)) as pool:
            _ANSWERS.update(zip(unknown, pool.map(_answers, unknown), strict=True))
    return [u for u in urls if _ANSWERS[_server(u)]]


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


def _make_dirs(directory: Path) -> list[Path]:
    """Create ``directory`` and its missing parents; return those created, deepest first."""
    created = []
    d = directory
    while not d.exists():
        created.append(d)
        d = d.parent
    directory.mkdir(parents=True, exist_ok=True)
    return created


def _remove_if_empty(created: Sequence[Path]) -> None:
    for d in created:  # deepest first
        try:
            d.rmdir()
        except OSError:
            return  # not empty (or gone): stop, its parents are not empty either


def _try_download(spec: DataFile, target: Path, retries: int, timeout: float) -> str | None:
    """Download ``spec`` to ``target`` from the first source that works; None on success,
    otherwise why every source failed (one line). Sources whose server does not answer are
    skipped at once; the others get ``retries`` rounds, back to back."""
    urls = _reachable(spec.urls)
    if not urls:
        hosts = ", ".join(dict.fromkeys(_server(u)[1] for u in spec.urls))
        return f"no network: none of {hosts} answered"
    created = _make_dirs(target.parent)
    errors = []
    try:
        for _ in range(max(1, retries)):
            for url in urls:
                try:
                    _download(url, target, spec, timeout)
                    return None
                except (urllib.error.URLError, OSError, TimeoutError) as e:
                    errors.append(f"{url}: {e}")
    finally:
        if errors and not target.exists():
            _remove_if_empty(created)
    last = errors[-1]
    return f"the download failed: {last}" + (f" (and {len(errors) - 1} more failures)"
                                             if len(errors) > 1 else "")


def fetch_all(specs: Sequence[DataFile], root: str | os.PathLike | None = None, *,
              download: bool = True, retries: int = 2, timeout: float = 60.0) -> list[Path]:
    """The verified local paths of ``specs``' files, downloading those that are not cached.

    Files already on disk are used without any network access. The rest are downloaded one
    after another; if any cannot be had, one error names all of them.

    Raises:
        DataUnavailableError: some files are not cached and could not be downloaded (or
            ``download`` is False); the message lists each with its source, the places
            looked in, and how to provide them by hand.
        OSError: a cached file exists but does not match its pinned checksum.
    """
    roots = search_roots(root)
    paths = [_cached(spec, roots) for spec in specs]
    missing = [spec for spec, path in zip(specs, paths, strict=True) if path is None]
    if not missing:
        return paths  # type: ignore[return-value]
    if not download:
        raise DataUnavailableError(missing, roots, "download=False, so none was tried")
    writable = [r for r in roots if _writable(r)]
    if not writable:
        raise DataUnavailableError(missing, roots, "no writable data directory to download into")
    failed, reasons = [], []
    for i, spec in enumerate(specs):
        if paths[i] is None:
            target = writable[0] / spec.dataset / spec.name
            reason = _try_download(spec, target, retries, timeout)
            if reason is None:
                paths[i] = target
            else:
                failed.append(spec)
                reasons.append(reason)
    if failed:
        raise DataUnavailableError(failed, roots, "; ".join(dict.fromkeys(reasons)))
    return paths  # type: ignore[return-value]


def fetch(spec: DataFile, root: str | os.PathLike | None = None, *, download: bool = True,
          retries: int = 2, timeout: float = 60.0) -> Path:
    """The verified local path of ``spec``'s file, downloading it if it is not cached
    (``fetch_all`` of one file; it raises the same errors)."""
    return fetch_all([spec], root, download=download, retries=retries, timeout=timeout)[0]
