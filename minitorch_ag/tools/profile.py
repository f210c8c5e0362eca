"""Per-primitive timing of the forward and backward passes (AutoGrad.jl's ``sum``, ``sum[2]`` rows).

``with ag.profile() as prof:`` times every primitive called in the block: ``np.sum`` is the
forward computation of ``np.sum``, ``np.sum[1]`` its gradient rule for argument 1 (positions
start at 0, as everywhere in Python), ``np.concatenate[*]`` a rule computing all arguments'
gradients at once. Two rows time the library itself: ``(record)`` is the call path around
each primitive (unwrapping arguments, appending the node) and ``(backward sweep)`` the
bookkeeping of the backward loop (fitting gradients to shapes, accumulating them). Times are
*self* times: a gradient rule that itself calls primitives (second-order gradients) is charged
only for what those do not take, so the shares add up to 100%.

Setting ``MINITORCH_AG_TIMER=1`` in the environment before importing minitorch_ag profiles the
whole script and prints the table to stderr at exit (AutoGrad.jl's ``AUTOGRAD_TIMER``).

Profiling switches in by replacing the primitives' functions (see ``tools/_switch.py``); when no
profile is active the engine runs exactly its ordinary code. Arrays on a GPU are synchronised
before and after each timed call, so that the times are those of the work, not of its launch.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from .. import tensor
from ..backend import array_module
from ..registry import Primitive
from . import _switch

__all__ = ["Profile", "ProfileRow", "profile", "TIMER"]

_clock = time.perf_counter


@dataclass(frozen=True)
class ProfileRow:
    """One line of the table: a primitive's forward pass or one of its gradient rules."""

    name: str
    calls: int
    seconds: float
    bytes: int
    share: float

    @property
    def mean(self) -> float:
        """Seconds per call."""
        return self.seconds / self.calls if self.calls else 0.0


class Profile(_switch.Hook):
    """Timings collected while active; ``str(prof)`` is the table.

    Use it through :func:`profile`; ``start()`` and ``stop()`` do the same by hand.
    """

    def __init__(self) -> None:
        self._stats: dict[str, list[float]] = {}  # name -> [calls, self seconds, bytes]
        self._local = threading.local()
        self._started: float | None = None
        self.wall = 0.0  # seconds the profile was active
        self.active = False

    # -- switching on and off ------------------------------------------------------------

    def start(self) -> Profile:
        """Begin timing (every primitive, from now on, in every thread)."""
        if not self.active:
            self.active = True
            self._started = _clock()
            _switch.activate(self)
        return self

    def stop(self) -> Profile:
        """Stop timing; the engine's own functions are back in place once no tool is active."""
        if self.active:
            _switch.deactivate(self)
            self.wall += _clock() - (self._started or _clock())
            self.active = False
        return self

    def reset(self) -> None:
        """Forget what was collected so far."""
        self._stats.clear()
        self.wall = 0.0
        if self.active:
            self._started = _clock()

    # -- the table -----------------------------------------------------------------------

    def rows(self) -> list[ProfileRow]:
        """The rows, slowest first."""
        total = sum(s[1] for s in self._stats.values()) or 1.0
        rows = [ProfileRow(name, int(c), t, int(b), t / total)
                for name, (c, t, b) in self._stats.items()]
        rows.sort(key=lambda r: (-r.seconds, r.name))
        return rows

    def total(self) -> float:
        """Seconds measured (the sum of the rows' self times)."""
        return sum(s[1] for s in self._stats.values())

    def table(self, top: int | None = None) -> str:
        """The table as text: calls, total and mean time, share and bytes allocated."""
        rows = self.rows()
        shown = rows if top is None else rows[:top]
        width = max([len(r.name) for r in shown] + [len("section")])
        head = (f"{'section':<{width}}  {'calls':>7}  {'time':>9}  {'%tot':>6}  {'mean':>9}  "
                f"{'alloc':>9}")
        lines = [
            f"minitorch_ag profile: {_seconds(self.total())} measured in {len(rows)} sections"
            f" ({_seconds(self.wall + (self._since_start()))} wall)",
            head, "-" * len(head),
        ]
        for r in shown:
            lines.append(
                f"{r.name:<{width}}  {r.calls:>7}  {_seconds(r.seconds):>9}  "
                f"{100 * r.share:>5.1f}%  {_seconds(r.mean):>9}  {_bytes(r.bytes):>9}"
            )
        if top is not None and len(rows) > top:
            lines.append(f"... {len(rows) - top} more sections")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return f"<Profile: {len(self._stats)} sections, {_seconds(self.total())}>"

    def _since_start(self) -> float:
        return _clock() - self._started if self.active and self._started is not None else 0.0

    # -- the wrappers ----------------------------------------------------------------------

    def _timed(self, name: str, fn: Callable[..., Any],
               measure: Callable[[Any, tuple], int]) -> Callable[..., Any]:
        """``fn`` timed under ``name`` (self time), its result measured by ``measure``."""
        stats = self._stats
        local = self._local

        def timed(*args: Any, **kwargs: Any) -> Any:
            entered = _clock()
            stack = getattr(local, "stack", None)
            if stack is None:
                stack = local.stack = []
            _synchronize(args)
            stack.append(0.0)
            t0 = _clock()
            out = None
            try:
                out = fn(*args, **kwargs)
                _synchronize((out,))
            finally:
                elapsed = _clock() - t0
                children = stack.pop()
                row = stats.get(name)
                if row is None:
                    row = stats[name] = [0, 0.0, 0]
                row[0] += 1
                row[1] += elapsed - children
                row[2] += measure(out, args)
                if stack:  # the caller's self time excludes this call and its bookkeeping
                    stack[-1] += _clock() - entered
            return out

        return timed

    def wrap_forward(self, prim: Primitive, fn: Callable[..., Any]) -> Callable[..., Any]:
        return self._timed(prim.name, fn, _new_bytes)

    def wrap_rule(self, prim: Primitive, position: int,
                  rule: Callable[..., Any]) -> Callable[..., Any]:
        return self._timed(f"{prim.name}[{position}]", rule, _new_bytes)

    def wrap_grad_all(self, prim: Primitive, rule: Callable[..., Any]) -> Callable[..., Any]:
        return self._timed(f"{prim.name}[*]", rule, _new_bytes)

    def wrap_engine(self, kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        name = "(backward sweep)" if kind == "sweep" else f"({kind})"
        return self._timed(name, fn, _no_bytes)


# ----------------------------------------------------------------------------------------
# Measuring
# ----------------------------------------------------------------------------------------


_PLAIN = (np.ndarray, float, int, bool, str, type(None), np.generic)


def _synchronize(values: tuple) -> None:
    """Wait for the GPU when one of ``values`` is a CuPy array (a no-op for NumPy)."""
    for v in values:
        if isinstance(v, _PLAIN):
            continue
        if isinstance(v, (tuple, list)):
            if v:
                _synchronize(tuple(v))
            continue
        v = tensor.raw(v)
        if isinstance(v, _PLAIN) or not hasattr(v, "shape"):
            continue
        xp = array_module(v)
        if xp is not np:
            xp.cuda.get_current_stream().synchronize()
            return


def _nbytes(x: Any) -> int:
    x = tensor.raw(x)
    if isinstance(x, (tuple, list)):
        return sum(_nbytes(v) for v in x)
    n = getattr(x, "nbytes", None)
    if isinstance(n, int):
        return n
    if hasattr(x, "values") and hasattr(x, "indices"):  # a Sparse gradient
        return _nbytes(x.values) + _nbytes(x.indices)
    return 0


def _new_bytes(out: Any, args: tuple) -> int:
    """Bytes of ``out`` that are new: an argument passed through (a rule returning ``dy``) or
    a view of one (``reshape``) allocates nothing."""
    if isinstance(out, (tuple, list)):
        return sum(_new_bytes(v, args) for v in out)
    out = tensor.raw(out)
    if any(out is tensor.raw(a) for a in args):  # an argument passed through (dy, often)
        return 0
    base = getattr(out, "base", None)
    if base is not None:
        xp = array_module(out)
        share = getattr(xp, "may_share_memory", None)
        if share is not None:
            for a in args:
                a = tensor.raw(a)
                if hasattr(a, "shape") and share(out, a):
                    return 0
    return _nbytes(out)


def _no_bytes(out: Any, args: tuple) -> int:
    return 0


def _seconds(s: float) -> str:
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3f} ms"
    return f"{s * 1e6:.1f} us"


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


# ----------------------------------------------------------------------------------------
# The public entry points
# ----------------------------------------------------------------------------------------


@contextmanager
def profile() -> Iterator[Profile]:
    """Time every primitive's forward pass and gradient rules inside the ``with`` block.

    Yields a :class:`Profile`; ``print(prof)`` shows calls, total and mean time, share and
    bytes allocated per section, slowest first. Profiles may nest; outside them the engine
    runs its ordinary code at its ordinary speed.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> w = ag.Param(np.ones(3))
        >>> with ag.profile() as prof:
        ...     g = ag.grad(ag.diff(lambda: np.sum(np.tanh(w))), w)
        >>> sorted(r.name for r in prof.rows() if not r.name.startswith("("))
        ['np.sum', 'np.sum[0]', 'np.tanh', 'np.tanh[0]']
    """
    prof = Profile().start()
    try:
        yield prof
    finally:
        prof.stop()


def _from_environment(stream: TextIO | None = None) -> Profile | None:
    """The whole-script profile asked for by ``MINITORCH_AG_TIMER=1`` (read once, at import)."""
    flag = os.environ.get("MINITORCH_AG_TIMER", "").strip().lower()
    if flag in ("", "0", "false", "no", "off"):
        return None
    prof = Profile().start()

    def report() -> None:
        prof.stop()
        print(prof.table(), file=stream or sys.stderr)

    atexit.register(report)
    return prof


TIMER: Profile | None = None  # set by minitorch_ag/__init__.py from MINITORCH_AG_TIMER
