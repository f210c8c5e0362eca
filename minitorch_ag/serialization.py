"""Saving and loading models: ``save``/``load`` and ``state_dict``/``load_state_dict``.

A model's *state* is a dict from names to host (NumPy) arrays: every ``Param`` reachable from
the model (as ``params`` finds them), named by its attribute path (``"layers.0.w"``,
``"encoder.weight_ih_l0"``), and the *buffers* of layers that keep arrays that are not
parameters (BatchNorm's running statistics): a class lists them in its ``state_buffers``
attribute, a tuple of attribute names.

Checkpoints are ``.npz`` archives of plain arrays, which NumPy reads with
``allow_pickle=False``: loading a file can never run code from it, and a pickled file, or one
holding object arrays, is refused with an error that says so. Writes are atomic: the archive
goes to a temporary file in the same directory, is flushed to disk (``fsync``), read back and
compared with what was meant to be written, and only then renamed over the target with
``os.replace``. A crash at any moment leaves either the old checkpoint or the new one, never a
truncated file; the zip format's CRC-32 of every entry catches later damage on load.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from .api import params
from .backend import array_module, is_array
from .tensor import Param, Tensor
from .walk import children, is_opaque

__all__ = ["save", "load", "state_dict", "load_state_dict"]


# ----------------------------------------------------------------------------------------
# Naming the state: Params and buffers by attribute path
# ----------------------------------------------------------------------------------------


class _Entry:
    """One named piece of state: a Param, or the buffer ``owner.<attr>``."""

    __slots__ = ("name", "param", "owner", "attr")

    def __init__(self, name: str, param: Param | None, owner: Any = None, attr: str = "") -> None:
        self.name = name
        self.param = param
        self.owner = owner
        self.attr = attr

    def get(self) -> Any:
        return self.param.value if self.param is not None else getattr(self.owner, self.attr)

    def set(self, new: np.ndarray) -> None:
        old = self.get()
        if is_array(old):
            old[...] = array_module(old).asarray(new)
        elif self.param is not None:
            self.param.value = type(old)(new[()]) if isinstance(old, (int, float)) else new[()]
        else:
            setattr(self.owner, self.attr, new[()] if isinstance(old, np.generic) else new)


def _join(prefix: str, key: str) -> str:
    if not key:
        return prefix
    return f"{prefix}.{key}" if prefix else key


def _entries(model: Any, who: str) -> list[_Entry]:
    """Every Param and buffer of ``model`` with its name, depth first, each once."""
    found: list[_Entry] = []
    seen: set[int] = set()
    todo: list[tuple[str, Any]] = [("", model)]
    while todo:
        name, x = todo.pop()
        if isinstance(x, Param):
            if id(x) not in seen:
                seen.add(id(x))
                found.append(_Entry(name, x))
            continue
        if is_opaque(x) or id(x) in seen:
            continue
        seen.add(id(x))
        for attr in getattr(type(x), "state_buffers", ()):
            buf = getattr(x, attr, None)
            if buf is not None and id(buf) not in seen:
                seen.add(id(buf))
                found.append(_Entry(_join(name, attr), None, x, attr))
        todo.extend(reversed([(_join(name, k), v) for k, v, _ in children(x) if k is not None]))
    named = {id(e.param) for e in found if e.param is not None}
    unnamed = [p for p in params(model) if id(p) not in named]
    if unnamed:
        raise ValueError(
            f"{who}: {len(unnamed)} Param(s) of the model (first of shape {unnamed[0].shape}) "
            f"are reachable only through a set, which has no stable order to name them by; "
            f"keep them in a list, a dict or an attribute"
        )
    names = [e.name for e in found]
    if "" in names:
        raise ValueError(
            f"{who}: the model is a bare Param, which has no name to save it under; pass a "
            f"dict such as {{'w': w}} or an object holding it"
        )
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(
            f"{who}: two pieces of the model's state have the same name {dup!r} (dict keys "
            f"that print alike); give them distinct names"
        )
    return found


def _to_host(v: Any) -> np.ndarray:
    """A NumPy copy of ``v`` (a GPU array is copied to the host with ``.get()``)."""
    if is_array(v) and not isinstance(v, np.ndarray) and hasattr(v, "get"):
        return v.get()
    return np.array(v, copy=True)


def state_dict(model: Any) -> dict[str, np.ndarray]:
    """The model's Params and buffers as host arrays (copies), named by attribute path.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> model = {"layers": [{"w": ag.Param(np.ones(2))}], "scale": ag.Param(np.zeros(1))}
        >>> {k: v.tolist() for k, v in ag.state_dict(model).items()}
        {'layers.0.w': [1.0, 1.0], 'scale': [0.0]}
    """
    return {e.name: _to_host(e.get()) for e in _entries(model, "state_dict")}


def _describe(v: Any) -> str:
    return f"shape {tuple(np.shape(v))}, {np.result_type(v)}"


def load_state_dict(model: Any, state: Mapping[str, Any], strict: bool = True) -> Any:
    """Copy ``state`` (names to arrays, as ``state_dict`` makes) into the model, in place.

    Every entry is checked before anything is written: a name the model lacks or a parameter
    the state lacks (unless ``strict=False``), or a shape or dtype that differs, raises a
    ``ValueError`` naming each parameter concerned, and leaves the model unchanged. Arrays on
    the GPU are updated on the GPU. Returns the model.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> w = ag.Param(np.zeros(2))
        >>> _ = ag.load_state_dict({"w": w}, {"w": np.array([1.0, 2.0])})
        >>> w
        P(array([1., 2.]))
    """
    entries = _entries(model, "load_state_dict")
    problems = []
    have = {e.name for e in entries}
    if strict:
        missing = [e for e in entries if e.name not in state]
        problems += [f"{e.name!r} ({_describe(e.get())}) is missing from the state"
                     for e in missing]
        problems += [f"{k!r} in the state is not in the model" for k in state if k not in have]
    updates = []
    for e in entries:
        if e.name not in state:
            continue
        new, old = state[e.name], e.get()
        new = _to_host(new.value if isinstance(new, Tensor) else new)
        if np.shape(new) != np.shape(old) or np.result_type(new) != np.result_type(old):
            problems.append(f"{e.name!r}: the model has {_describe(old)}, the state "
                            f"{_describe(new)}")
        else:
            updates.append((e, new))
    if problems:
        listed = "; ".join(problems[:8]) + ("; ..." if len(problems) > 8 else "")
        raise ValueError(
            f"load_state_dict: the state does not fit the model ({len(problems)} problem(s); "
            f"nothing was loaded): {listed}"
        )
    for e, new in updates:
        e.set(new)
    return model


# ----------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------


def _write_npz(fh: Any, state: Mapping[str, np.ndarray], compress: bool) -> None:
    """The ``.npz`` layout (a zip of ``<name>.npy`` entries), written without pickling."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(fh, "w", compression=method, allowZip64=True) as zf:
        for name, arr in state.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, arr, allow_pickle=False)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def _verify(path: str, state: Mapping[str, np.ndarray], who: str) -> None:
    """Read the written file back and compare it with ``state`` (CRCs are checked on read)."""
    back = _read(path, who)
    if set(back) != set(state) or not all(_same(state[k], back[k]) for k in state):
        raise OSError(f"{who}: the file written to {path!r} does not read back as written")


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    """The process's file-creation mask, read without changing it (Linux); else 0o022."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _file_mode(path: str) -> int:
    """The permissions the checkpoint gets: those of the file it replaces, or the default."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def save(path: str | os.PathLike, model: Any, *, compress: bool = False) -> None:
    """Write the model's state (``state_dict``) to ``path`` as an ``.npz`` archive, atomically.

    The file is written to a temporary file next to ``path``, flushed to disk, read back and
    checked, then renamed over ``path``: if anything fails (a full disk, a crash, an
    interrupt), the previous file at ``path`` is left as it was. A replaced file keeps its
    permissions; a new one gets the usual ones (``0o666`` less the umask). GPU arrays are saved
    as host arrays. ``path`` is used as given (no extension is added).

    Args:
        path: the file to write.
        model: any object holding Params (as ``params`` finds them), or a dict of arrays.
        compress: deflate the archive (smaller, slower).

    Example:
        >>> import numpy as np, minitorch_ag as ag, tempfile, os
        >>> w = ag.Param(np.arange(3.0))
        >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
        >>> ag.save(path, {"w": w})
        >>> ag.load(path)["w"]
        array([0., 1., 2.])
    """
    state = _plain_state(model)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            _write_npz(fh, state, compress)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _file_mode(path))  # a temporary file is private (0600) until now
        _verify(tmp, state, "save")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _plain_state(model: Any) -> dict[str, np.ndarray]:
    """``model``'s state; a dict of plain arrays (no Params) is taken as a state already."""
    if isinstance(model, Mapping) and model and all(
        is_array(v) or isinstance(v, np.generic) for v in model.values()
    ):
        state = {str(k): _to_host(v) for k, v in model.items()}
    else:
        state = state_dict(model)
    for name, arr in state.items():
        if arr.dtype.kind not in "biufc":
            raise TypeError(
                f"save: {name!r} has dtype {arr.dtype}; only numeric arrays are saved (a "
                f"checkpoint must load without pickle)"
            )
    return state


def _read(path: str, who: str) -> dict[str, np.ndarray]:
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err):
            raise ValueError(
                f"{who}: {path!r} holds pickled Python objects; it is refused, because "
                f"unpickling can run code from the file. Checkpoints written by ag.save are "
                f".npz archives of plain arrays"
            ) from None
        raise ValueError(f"{who}: {path!r} is not an .npz archive ({err})") from None
    except (EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{who}: {path!r} is empty or damaged ({err})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{who}: {path!r} holds a single array, not an .npz archive of named arrays"
        )
    out = {}
    with data:
        for name in data.files:
            try:
                out[name] = data[name]
            except ValueError as err:
                if "allow_pickle" not in str(err) and "Object arrays" not in str(err):
                    raise
                raise ValueError(
                    f"{who}: entry {name!r} of {path!r} is an object array (pickled Python "
                    f"objects); it is refused, because unpickling can run code from the file"
                ) from None
            except (zipfile.BadZipFile, EOFError, OSError) as err:
                raise ValueError(
                    f"{who}: entry {name!r} of {path!r} is damaged ({err})"
                ) from None
            if not isinstance(out[name], np.ndarray):
                raise ValueError(
                    f"{who}: entry {name!r} of {path!r} is not a NumPy array (.npy) file"
                )
    return out


def load(path: str | os.PathLike, model: Any = None, *, strict: bool = True) -> Any:
    """Read an ``.npz`` checkpoint; with a ``model``, copy it into the model's Params in place.

    Loading never runs code from the file (``allow_pickle=False``): a pickled file, or an
    archive holding object arrays, raises ``ValueError``. Names, shapes and dtypes are checked
    as in ``load_state_dict`` before anything is written.

    Returns:
        The model (updated in place), or, without one, the state: a dict of arrays.

    Example:
        >>> import numpy as np, minitorch_ag as ag, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "w.npz")
        >>> ag.save(path, {"w": ag.Param(np.ones(2))})
        >>> w = ag.Param(np.zeros(2))
        >>> _ = ag.load(path, {"w": w})
        >>> w
        P(array([1., 1.]))
    """
    state = _read(os.fspath(path), "load")
    if model is None:
        return state
    return load_state_dict(model, state, strict=strict)
