"""Per-primitive timing of the forward and backward passes, as AutoGrad.jl's TimerOutputs table.

``with ag.profile() as prof:`` times every primitive called in the block, with AutoGrad.jl's
labels: ``np.sum`` is the forward computation of ``np.sum``, ``np.sum[1]`` its gradient rule
for the first argument (positions count from 1, as in the README's ``sum[2]``),
``np.concatenate[*]`` a rule computing all arguments' gradients at once. Two rows time the
library itself, under the names AutoGrad.jl gives its own functions: ``record`` is the call
path around each primitive (unwrapping arguments, appending the node) and ``sum_outgrads`` the
backward sweep's own work (fitting each gradient to its argument's shape and adding it into
the node's gradient; one call per sweep, where AutoGrad.jl counts one per addition). Times are
*self* times: a gradient rule that itself calls primitives (second-order gradients) is charged
only for what those do not take, so the shares add up to 100%.

``print(prof)`` is TimerOutputs' table: the total and the share of the wall time measured, then
per section ``ncalls``, ``time``, ``%tot``, ``avg``, and for the bytes of new outputs
``alloc``, ``%tot``, ``avg``; slowest first.

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
        """The table as text, in TimerOutputs' layout (AutoGrad.jl's ``AutoGrad.to``).

        Columns: ``ncalls``, ``time``, ``%tot``, ``avg`` for the self time, then ``alloc``,
        ``%tot``, ``avg`` for the bytes of new outputs; ``top`` keeps the slowest rows.
        """
        rows = self.rows()
        shown = rows if top is None else rows[:top]
        measured = self.total()
        wall = self.wall + self._since_start()
        allocated = sum(r.bytes for r in rows)
        width = max([len(r.name) for r in shown] + [len("Section")])
        head = (f" {'Section':<{width}}  {'ncalls':>7}  {'time':>7}  {'%tot':>6}  {'avg':>7}  "
                f"{'alloc':>7}  {'%tot':>6}  {'avg':>7}")
        time_span = 7 + 2 + 6 + 2 + 7
        left = 1 + width + 2 + 7 + 2
        rule = "─" * len(head)
        lines = [
            rule,
            f"{'':<{left}}{'Time':^{time_span}}  {'Allocations':^{time_span}}",
            f"{'':<{left}}{'─' * time_span}  {'─' * time_span}",
            f"{' Tot / % measured:':<{left}}"
            f"{_time(wall) + ' / ' + _percent(measured / wall if wall else 1.0):^{time_span}}  "
            f"{_memory(allocated):^{time_span}}",
            "",
            head, rule,
        ]
        for r in shown:
            lines.append(
                f" {r.name:<{width}}  {r.calls:>7}  {_time(r.seconds):>7}  "
                f"{_percent(r.share):>6}  {_time(r.mean):>7}  {_memory(r.bytes):>7}  "
                f"{_percent(r.bytes / allocated if allocated else 0.0):>6}  "
                f"{_memory(r.bytes // r.calls if r.calls else 0):>7}"
            )
        if top is not None and len(rows) > top:
            lines.append(f" ... {len(rows) - top} more sections")
        lines.append(rule)
        return "\n".join(line.rstrip() for line in lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return f"<Profile: {len(self._stats)} sections, {_time(self.total())}>"

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
        return self._timed(f"{prim.name}[{position + 1}]", rule, _new_bytes)  # from 1

    def wrap_grad_all(self, prim: Primitive, rule: Callable[..., Any]) -> Callable[..., Any]:
        return self._timed(f"{prim.name}[*]", rule, _new_bytes)

    def wrap_engine(self, kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        name = "sum_outgrads" if kind == "sweep" else kind  # AutoGrad.jl's names
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


def _three(x: float) -> str:
    """Three significant digits, as TimerOutputs prints: 328, 38.8, 1.78."""
    return f"{x:.0f}" if x >= 99.95 else f"{x:.1f}" if x >= 9.995 else f"{x:.2f}"


def _time(s: float) -> str:
    """Seconds as TimerOutputs writes them: ``4.62s``, ``328ms``, ``282μs``, ``950ns``."""
    ns = s * 1e9
    for unit, size in (("s", 1e9), ("ms", 1e6), ("μs", 1e3)):
        if ns >= size * 0.9995:
            return f"{_three(ns / size)}{unit}"
    return f"{_three(ns)}ns"


def _memory(n: int) -> str:
    """Bytes as TimerOutputs writes them: ``46.4MiB``, ``595KiB``, ``80.0B``."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size * 0.9995:
            return f"{_three(n / size)}{unit}"
    return f"{_three(float(n))}B"


def _percent(x: float) -> str:
    """A share as TimerOutputs writes it: ``23.3%``, ``2.76%``, ``0.10%``."""
    p = 100 * x
    return f"{p:.1f}%" if p >= 9.995 else f"{p:.2f}%"


# ----------------------------------------------------------------------------------------
# The public entry points
# ----------------------------------------------------------------------------------------


@contextmanager
def profile() -> Iterator[Profile]:
    """Time every primitive's forward pass and gradient rules inside the ``with`` block.

    Yields a :class:`Profile`; ``print(prof)`` shows TimerOutputs' table (ncalls, time, %tot,
    avg, alloc, %tot, avg per section, slowest first). Profiles may nest; outside them the engine
    runs its ordinary code at its ordinary speed.

    Example:
        >>> import numpy as np, minitorch_ag as ag
        >>> w = ag.Param(np.ones(3))
        >>> with ag.profile() as prof:
        ...     g = ag.grad(ag.diff(lambda: np.sum(np.tanh(w))), w)
        >>> sorted(r.name for r in prof.rows())
        ['np.sum', 'np.sum[1]', 'np.tanh', 'np.tanh[1]', 'record', 'sum_outgrads']
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
