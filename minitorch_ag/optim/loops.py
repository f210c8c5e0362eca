"""Knet-style training loops: lazy iterators that take one optimizer step per data item.

``minimize(loss, data, opt)`` works like ``map(loss, data)`` that also trains: for each item
it records ``loss(*item)`` with ``diff``, updates every parameter the loss used, and yields the
loss value. Nothing runs until the iterator is consumed, so the caller decides how long to
train by how it consumes it (Knet's idiom)::

    for loss in progress(adam(f, epochs(data, 10))): ...     # ten epochs with a progress bar
    for loss in converge(sgd(f, epochs(data))): ...          # until the loss stops falling
    last = list(itertools.islice(adam(f, epochs(data)), 1000))[-1]   # exactly 1000 steps

Knet's draining forms (``adam!(f, data)``, ``progress!(itr)``, ``minimize!``) are the same
names with a trailing underscore, as ``axpy_``: ``adam_(f, data)`` trains through the whole of
``data`` at once and returns the last loss; ``progress_(adam(f, epochs(data, 10)))`` does the
same with a progress bar.

Each parameter keeps its own optimizer state in ``p.opt`` (see ``update.py``): the first loop
that updates a parameter gives it a copy of its template, later loops continue with it, so
training can pause and resume without losing moments.
"""

from __future__ import annotations

import itertools
import math
import numbers
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..api import diff, grad
from ..api import params as find_params
from ..tensor import Param
from .clipping import clip_global_norm
from .optimizers import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    AdamW,
    Momentum,
    Nesterov,
    Optimizer,
    RMSprop,
)
from .update import _step_param

__all__ = ["minimize", "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam",
           "adamw", "progress", "converge", "epochs", "take", "drain", "minimize_", "sgd_",
           "momentum_", "nesterov_", "adagrad_", "rmsprop_", "adadelta_", "adam_", "adamw_",
           "progress_"]


class _Stream:
    """A lazy iterator that knows its length when its source does (for progress bars)."""

    __slots__ = ("_it", "_len")

    def __init__(self, it: Iterator[Any], length: int | None) -> None:
        self._it = it
        self._len = length

    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> Any:
        return next(self._it)

    def __len__(self) -> int:
        if self._len is None:
            raise TypeError("this iterator's length is unknown (its data has no len())")
        return self._len

    def __length_hint__(self) -> int:
        return 0 if self._len is None else self._len


def _length(x: Any) -> int | None:
    try:
        return len(x)
    except TypeError:
        return None


# ----------------------------------------------------------------------------------------
# minimize and its shorthands
# ----------------------------------------------------------------------------------------


def minimize(loss: Callable[..., Any], data: Iterable[Any], opt: Optimizer | None = None, *,
             params: Any = None, max_norm: float | None = None) -> Iterator[float]:
    """A lazy iterator that trains: one optimizer step per item of ``data``, yielding the loss.

    For each item ``d`` of ``data`` (a tuple is unpacked into arguments, anything else is the
    one argument) it records ``tape = diff(loss, *d)``, updates every parameter with the
    gradient ``grad(tape, p)`` and yields ``loss(*d)`` as a float (the loss *before* the
    step). Each parameter is updated by its own optimizer ``p.opt``, which is set to
    ``opt.clone()`` the first time; a Param whose ``p.opt`` is already set keeps it.

    Args:
        loss: a function returning a scalar.
        data: an iterable of argument tuples (or single arguments).
        opt: the template optimizer; ``Adam()`` when omitted.
        params: the Params to update (a list, or a model to search with ``ag.params``);
            by default the Params each step's tape recorded (those the loss used).
        max_norm: clip the gradients of each step together to this global norm.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import Param
        >>> from minitorch_ag.optim import SGD, minimize
        >>> w = Param(np.array([3.0]))
        >>> losses = list(minimize(lambda: np.sum(w ** 2), [()] * 3, SGD(lr=0.25)))
        >>> losses, w
        ([9.0, 2.25, 0.5625], P(array([0.375])))
    """
    if not callable(loss):
        raise TypeError(f"minimize: loss must be a function; got {type(loss).__name__}")
    if opt is None:
        opt = Adam()
    elif not isinstance(opt, Optimizer):
        raise TypeError(f"minimize: opt must be an Optimizer (SGD(), Adam(), ...); got "
                        f"{type(opt).__name__}")
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise TypeError(f"minimize: data must be an iterable of argument tuples; got "
                        f"{type(data).__name__}")
    chosen = None if params is None else ([params] if isinstance(params, Param)
                                          else find_params(params))
    return _Stream(_minimize(loss, data, opt, chosen, max_norm), _length(data))


def _minimize(loss: Callable[..., Any], data: Iterable[Any], template: Optimizer,
              chosen: list[Param] | None, max_norm: float | None) -> Iterator[float]:
    for d in data:
        try:
            tape = diff(loss, *d) if isinstance(d, tuple) else diff(loss, d)
        except ValueError as e:
            raise _without_labels(e, d) from e
        ps = find_params(tape) if chosen is None else chosen  # params(J), as Knet
        grads = [grad(tape, p) for p in ps]
        if max_norm is not None:
            grads, _ = clip_global_norm(grads, max_norm)
        for p, g in zip(ps, grads, strict=True):
            if g is not None:
                if p.opt is None:
                    p.opt = template.clone()
                _step_param(p, g, p.opt)
        value = float(tape.item())
        del tape, grads  # free the recording before the caller runs
        yield value


def _without_labels(error: ValueError, item: Any) -> ValueError:
    """``error`` (diff's non-scalar result) with advice when the batch holds one array only:
    a model gives its loss only with the labels, ``model(x, y)``."""
    if "must return a scalar" not in str(error) or isinstance(item, tuple) and len(item) > 1:
        return error
    return ValueError(
        f"{error}. Each item of the data here is one array, so the loss was called as "
        f"loss(x): a model (nn.Chain and most models) returns its loss only when given the "
        f"labels too, model(x, y). Pass (x, y) pairs, e.g. minibatch(x, y, batchsize), or a "
        f"loss function of one argument")


def _shorthand(cls: type[Optimizer], name: str, hyper: str) -> Callable[..., Iterator[float]]:
    def train(loss: Callable[..., Any], data: Iterable[Any], *, params: Any = None,
              max_norm: float | None = None, **opt_kw: Any) -> Iterator[float]:
        return minimize(loss, data, cls(**opt_kw), params=params, max_norm=max_norm)

    train.__name__ = train.__qualname__ = name
    train.__doc__ = f"""``minimize(loss, data, {cls.__name__}(...))``: train with {cls.__name__}.

    Keyword arguments ``params`` and ``max_norm`` go to ``minimize``; all others
    ({hyper}, gclip, weight_decay, schedule) to ``{cls.__name__}``.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import Param
        >>> from minitorch_ag.optim import {name}
        >>> w = Param(np.array([3.0]))
        >>> losses = list({name}(lambda: np.sum(w ** 2), [()] * 100))
        >>> losses[-1] < losses[0]
        True
    """
    return train


sgd = _shorthand(SGD, "sgd", "lr=0.1")
momentum = _shorthand(Momentum, "momentum", "lr=0.05, gamma=0.95")
nesterov = _shorthand(Nesterov, "nesterov", "lr=0.05, gamma=0.95")
adagrad = _shorthand(Adagrad, "adagrad", "lr=0.05, eps=1e-6")
rmsprop = _shorthand(RMSprop, "rmsprop", "lr=0.01, rho=0.9, eps=1e-6")
adadelta = _shorthand(Adadelta, "adadelta", "lr=1.0, rho=0.9, eps=1e-6")
adam = _shorthand(Adam, "adam", "lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8")
adamw = _shorthand(AdamW, "adamw", "lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, "
                                   "weight_decay=0.01")


# ----------------------------------------------------------------------------------------
# Iterator tools: progress, converge, epochs, take
# ----------------------------------------------------------------------------------------


def progress(iterator: Iterable[Any], *, desc: str | None = None, smoothing: float = 0.05,
             **tqdm_kw: Any) -> Iterator[Any]:
    """``iterator``, unchanged, with a progress bar that shows the running loss.

    The loss shown is an exponential moving average of the numeric items
    (``avg += smoothing * (x - avg)``), so that the noise of single minibatches does not hide
    the trend. The bar knows its total when the iterator has a length (``minimize`` over a
    list, ``epochs``). The bar is tqdm's (``tqdm.auto``: a widget in Jupyter) when tqdm is
    installed (``pip install 'minitorch_ag[examples]'``); without it, a plain line of text on
    stderr, rewritten at most once a second, takes its place, so training code that uses
    ``progress`` runs with NumPy alone. Keyword arguments go to tqdm.

    Example:
        >>> from minitorch_ag.optim import progress
        >>> list(progress([3.0, 2.0, 1.0], disable=True))
        [3.0, 2.0, 1.0]
    """
    try:
        from tqdm.auto import tqdm  # noqa: PLC0415 - tqdm is an optional dependency
    except ImportError:
        tqdm = _TextBar
    smoothing = _check_smoothing("progress", smoothing)
    tqdm_kw.setdefault("total", _length(iterator))
    return _Stream(_progress(iterator, tqdm, desc, smoothing, tqdm_kw), tqdm_kw["total"])


class _TextBar:
    """The part of tqdm's interface ``progress`` uses, as one line of text on stderr."""

    def __init__(self, desc: str | None = None, total: int | None = None,
                 disable: bool = False, **unused: Any) -> None:
        self.desc, self.total, self.disable = desc or "progress", total, disable
        self.n, self.postfix, self.shown, self.width = 0, "", 0.0, 0

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self.shown >= 1.0:
            self._show("\r")

    def close(self) -> None:
        self._show("\r")
        if not self.disable:
            sys.stderr.write("\n")

    def _show(self, start: str) -> None:
        if self.disable:
            return
        self.shown = time.monotonic()
        count = f"{self.n}" if self.total is None else f"{self.n}/{self.total}"
        line = f"{self.desc}: {count} {self.postfix}".rstrip()
        sys.stderr.write(f"{start}{line:<{self.width}}")  # spaces cover a longer last line
        sys.stderr.flush()
        self.width = len(line)


def _progress(iterator: Iterable[Any], tqdm: Any, desc: str | None, smoothing: float,
              tqdm_kw: dict[str, Any]) -> Iterator[Any]:
    avg = None
    bar = tqdm(desc=desc, **tqdm_kw)  # created on the first next(): nothing shows before
    try:
        for x in iterator:
            if isinstance(x, numbers.Real):
                avg = float(x) if avg is None else avg + smoothing * (x - avg)
                bar.set_postfix(loss=f"{avg:.4g}", refresh=False)
            bar.update(1)
            yield x
    finally:
        bar.close()


def _check_smoothing(where: str, smoothing: float) -> float:
    s = float(smoothing)
    if not 0 < s <= 1:
        raise ValueError(f"{where}: smoothing must be in (0, 1]; got {smoothing!r}")
    return s


def converge(iterator: Iterable[float], *, patience: int = 100, rtol: float = 1e-3,
             atol: float = 0.0, smoothing: float = 0.1) -> Iterator[float]:
    """``iterator``, unchanged, but stopping once the smoothed loss has stopped falling.

    The loss is smoothed by an exponential moving average (``avg += smoothing * (x - avg)``).
    The iterator stops after ``patience`` items in a row in which the average did not get
    below ``best - max(rtol * |best|, atol)`` (``best`` the lowest average so far), so
    plateaus and slow drifts end training as well as rises (``atol`` for losses that approach
    zero, whose relative progress never stalls). A NaN loss never counts as progress.

    Example:
        >>> from minitorch_ag.optim import converge
        >>> losses = [5.0, 4.0, 3.0] + [3.0] * 100
        >>> len(list(converge(iter(losses), patience=10, smoothing=1.0)))
        13
    """
    if int(patience) != patience or patience < 1:
        raise ValueError(f"converge: patience must be a positive integer; got {patience!r}")
    if not (float(rtol) >= 0 and float(atol) >= 0):
        raise ValueError(f"converge: rtol and atol must be >= 0; got {rtol!r} and {atol!r}")
    smoothing = _check_smoothing("converge", smoothing)
    return _converge(iter(iterator), int(patience), float(rtol), float(atol), smoothing)


def _converge(it: Iterator[float], patience: int, rtol: float, atol: float,
              smoothing: float) -> Iterator[float]:
    avg = best = math.inf
    stale = 0
    for x in it:
        yield x
        x = float(x)
        avg = x if avg == math.inf else avg + smoothing * (x - avg)
        if best == math.inf and math.isfinite(avg) or avg < best - max(rtol * abs(best), atol):
            best, stale = avg, 0
        else:
            stale += 1
            if stale >= patience:
                return


def epochs(data: Iterable[Any], n: int | None = None) -> Iterator[Any]:
    """The items of ``data`` over ``n`` passes (forever when ``n`` is None), lazily.

    Each pass iterates ``data`` afresh, so a minibatch object that shuffles on each iteration
    gives a new order every epoch (Knet's ``repeat(data, n)``; ``itertools.cycle`` would
    replay the first order and keep every item in memory). ``data`` must be re-iterable: a
    list, a tuple, a minibatch object, not a one-shot iterator or generator.

    Example:
        >>> from minitorch_ag.optim import epochs
        >>> list(epochs([1, 2], 3))
        [1, 2, 1, 2, 1, 2]
    """
    if iter(data) is data:
        raise TypeError(f"epochs: data is a one-shot iterator ({type(data).__name__}); it "
                        f"would be empty after the first epoch. Pass a list or another "
                        f"re-iterable object")
    if n is not None and (int(n) != n or n < 0):
        raise ValueError(f"epochs: n must be a nonnegative integer or None; got {n!r}")
    size = _length(data)
    total = None if n is None or size is None else size * int(n)
    passes = itertools.count() if n is None else range(int(n))
    return _Stream(itertools.chain.from_iterable(data for _ in passes), total)


def take(iterator: Iterable[Any], n: int) -> Iterator[Any]:
    """The first ``n`` items of ``iterator``, lazily (Knet's ``take``; ``itertools.islice``).

    Example:
        >>> from minitorch_ag.optim import epochs, take
        >>> list(take(epochs([1, 2]), 5))
        [1, 2, 1, 2, 1]
    """
    if int(n) != n or n < 0:
        raise ValueError(f"take: n must be a nonnegative integer; got {n!r}")
    size = _length(iterator)
    return _Stream(itertools.islice(iterator, int(n)), int(n) if size is None else
                   min(size, int(n)))


# ----------------------------------------------------------------------------------------
# Knet's draining forms: adam!(f, data) is adam_(f, data)
# ----------------------------------------------------------------------------------------


def drain(iterator: Iterable[Any]) -> Any:
    """Run ``iterator`` to its end and return its last item (``None`` when it had none).

    What Knet's ``!`` forms do with a training iterator: ``drain(adam(f, data))`` trains
    through all of ``data``.

    Example:
        >>> from minitorch_ag.optim import drain
        >>> drain(iter([3.0, 2.0, 1.0])), drain([])
        (1.0, None)
    """
    last = None
    for last in iterator:  # noqa: B007 - the loop variable is the point
        pass
    return last


_DRAIN_EXAMPLES = {
    "minimize": ("SGD, minimize_", "minimize_(lambda: np.sum(w ** 2), [()] * 5, SGD(lr=0.25))",
                 "0.03515625"),
    "progress": ("progress_, sgd",
                 "progress_(sgd(lambda: np.sum(w ** 2), [()] * 5, lr=0.25), disable=True)",
                 "0.03515625"),
}


def _draining(lazy: Callable[..., Iterable[Any]], knet: str) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        return drain(lazy(*args, **kwargs))

    name = f"{lazy.__name__}_"
    imports, call, result = _DRAIN_EXAMPLES.get(
        lazy.__name__, (name, f"{name}(lambda: np.sum(w ** 2), [()] * 5) < 9.0", "True"))
    run.__name__ = run.__qualname__ = name
    run.__doc__ = f"""``drain({lazy.__name__}(...))``: Knet's ``{knet}``, run to the end.

    Takes the arguments of ``{lazy.__name__}`` and returns the last item (the last loss of a
    training iterator; ``None`` for empty data).

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import Param
        >>> from minitorch_ag.optim import {imports}
        >>> w = Param(np.array([3.0]))
        >>> {call}
        {result}
    """
    return run


minimize_ = _draining(minimize, "minimize!")
sgd_ = _draining(sgd, "sgd!")
momentum_ = _draining(momentum, "momentum!")
nesterov_ = _draining(nesterov, "nesterov!")
adagrad_ = _draining(adagrad, "adagrad!")
rmsprop_ = _draining(rmsprop, "rmsprop!")
adadelta_ = _draining(adadelta, "adadelta!")
adam_ = _draining(adam, "adam!")
adamw_ = _draining(adamw, "adamw!")
progress_ = _draining(progress, "progress!")
