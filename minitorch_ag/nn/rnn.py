"""Recurrent layers: ``RNN`` (tanh or relu), ``LSTM`` and ``GRU``, and their fused cells.

The layers follow ``torch.nn.RNN/LSTM/GRU`` (``batch_first=True``): input ``(N, T, F)``, an
optional initial state of shape ``(num_layers, N, H)`` (a pair ``(h0, c0)`` for the LSTM), and
the result ``(output, state)`` with ``output`` of shape ``(N, T, H)`` (the last layer's hidden
state at every step) and ``state`` the last step's state of every layer. Weights have PyTorch's
names, shapes and gate order (LSTM: input, forget, cell, output; GRU: reset, update, new), with
its two bias vectors, so that weights copy over from PyTorch one to one.

``bidirectional=True`` (Knet's ``bidirectional=true``, PyTorch's option) adds to every layer
a second recurrence that reads the sequence backwards, with its own weights (PyTorch's names
with ``_reverse``): each layer's output is then the two directions' hidden states side by
side, ``(N, T, 2H)``, and the states are ``(2 * num_layers, N, H)``, forward then backward
for each layer, as PyTorch orders them.

Sequences of different lengths share a batch as Knet's ``batchSizes`` allow: pad them to
the longest (``(N, T, F)``) and pass ``lengths=`` (one per sequence). Each sequence then runs
only over its own steps: the outputs past its end are zeros, its final state is the state at
its last step, and the backward direction of a bidirectional layer starts at that last step.
The result is the same as running each sequence alone.

Carrying the state between batches (truncated backpropagation through time)::

    state = None
    for x, y in batches:
        kept = {}

        def loss():
            out, kept["state"] = lstm(embed(x), state)      # state: None, or (h, c)
            return F.cross_entropy(np.reshape(head(out), (-1, vocab)), y.reshape(-1))

        tape = ag.diff(loss)
        ...                                                 # update the weights
        state = nn.detach(kept["state"])                    # ag.value of each array

A state left over from a finished ``diff`` is already a constant to later tapes (no gradient
flows back into the batch that made it); detaching it with ``ag.value`` (``detach`` does so
for the LSTM's pair) also lets that batch's tape be freed.

Speed: each layer computes the input projections of all time steps in one matrix product.
The LSTM and GRU then run the whole recurrence of a layer as one primitive (``lstm_layer``,
``gru_layer``, defined with their rules in ``rnn_kernels.py``): the forward pass works in place
step by step, and the backward pass, written by hand, runs the steps in reverse and computes
the recurrent weights' gradient in one product over all steps. The single-step cells
``lstm_cell`` and ``gru_cell`` are primitives too, for models written step by step; the
``RNN`` runs its steps with ordinary recorded operations. All of them are differentiable to
any order: with plain arrays their rules run a fast in-place NumPy path, and when they are
themselves recorded (higher-order gradients) the same formulas run on Tensors.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..backend import array_module, is_array, to_host
from ..primitive import Param, constant, raw
from . import functional as F
from . import init as _init
from .rnn_kernels import _unstack, gru_cell, gru_layer, lstm_cell, lstm_layer

__all__ = ["RNN", "LSTM", "GRU", "lstm_cell", "lstm_layer", "gru_cell", "gru_layer", "detach"]


# ----------------------------------------------------------------------------------------
# The layers
# ----------------------------------------------------------------------------------------


class _Recurrent:
    """What RNN, LSTM and GRU share: weights, checks, the input projection, the layer loop."""

    _gates = 1
    _name = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *,
                 bias: bool = True, dropout: float = 0.0, bidirectional: bool = False,
                 rng: Any = None, dtype: Any = np.float32) -> None:
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{self._name}: dropout must be in [0, 1]; got {dropout!r}")
        if input_size < 1 or hidden_size < 1 or num_layers < 1:
            raise ValueError(
                f"{self._name}: input_size, hidden_size and num_layers must be positive; got "
                f"{input_size}, {hidden_size}, {num_layers}"
            )
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias = bool(bias)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        gen = _init.as_generator(rng)
        self.rng = gen  # also draws the dropout masks
        k = 1.0 / math.sqrt(hidden_size)  # PyTorch's default: all weights uniform on ±k
        rows = self._gates * hidden_size
        for layer in range(num_layers):
            fan = input_size if layer == 0 else hidden_size * self._directions
            shapes = [("weight_ih", (rows, fan)), ("weight_hh", (rows, hidden_size))]
            if bias:
                shapes += [("bias_ih", (rows,)), ("bias_hh", (rows,))]
            for suffix in self._suffixes:
                for name, shape in shapes:
                    w = _init.uniform(shape, -k, k, rng=gen, dtype=dtype)
                    setattr(self, f"{name}_l{layer}{suffix}", Param(w))

    @property
    def _directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def _suffixes(self) -> tuple[str, ...]:
        """The weights' name endings of each direction (PyTorch's)."""
        return ("", "_reverse") if self.bidirectional else ("",)

    def __repr__(self) -> str:
        both = ", bidirectional=True" if self.bidirectional else ""
        return (f"{type(self).__name__}({self.input_size}, {self.hidden_size}, "
                f"num_layers={self.num_layers}{both})")

    def _weights(self, layer: int, suffix: str = "") -> tuple[Any, Any, Any, Any]:
        get = self.__dict__.get
        return (get(f"weight_ih_l{layer}{suffix}"), get(f"weight_hh_l{layer}{suffix}"),
                get(f"bias_ih_l{layer}{suffix}"), get(f"bias_hh_l{layer}{suffix}"))

    def _check_input(self, x: Any) -> tuple[int, int]:
        shape = np.shape(raw(x))
        if len(shape) != 3 or shape[2] != self.input_size:
            raise ValueError(
                f"{self._name}: the input must have shape (batch, time, {self.input_size}) "
                f"(batch first); got {shape}"
            )
        if shape[1] == 0:
            raise ValueError(f"{self._name}: the input has no time steps (shape {shape})")
        return shape[0], shape[1]

    def _check_state(self, h: Any, n: int, what: str) -> Any:
        want = (self.num_layers * self._directions, n, self.hidden_size)
        if np.shape(raw(h)) != want:
            layers = "2 * num_layers" if self.bidirectional else "num_layers"
            raise ValueError(
                f"{self._name}: the initial {what} must have shape ({layers}, batch, "
                f"hidden_size) = {want}; got {np.shape(raw(h))}"
            )
        return h

    def _zero_state(self, proj: Any) -> Any:
        """Zeros ``(N, H)``: the initial state, on the device and in the dtype of ``proj``."""
        v = raw(proj)
        return np.zeros_like(v, shape=(v.shape[1], self.hidden_size))

    def _projections(self, x_tm: Any, layer: int, bias_sum: bool, suffix: str = "") -> Any:
        """Input projections of every step of time-major ``x_tm`` (T, N, F), in one product:
        ``(T, N, gates * H)``, with ``b_ih`` (and ``b_hh`` when ``bias_sum``) added."""
        w_ih, _, b_ih, b_hh = self._weights(layer, suffix)
        t, n, f = np.shape(raw(x_tm))
        proj = np.reshape(x_tm, (t * n, f)) @ w_ih.T
        if b_ih is not None:
            proj = proj + (b_ih + b_hh if bias_sum else b_ih)
        return np.reshape(proj, (t, n, -1))

    def _single_state_call(self, x: Any, h0: Any = None, *,
                           lengths: Any = None) -> tuple[Any, Any]:
        """``(out, h_n)`` for the recurrences with one state (RNN, GRU); LSTM has two."""
        n, _ = self._check_input(x)
        count = self.num_layers * self._directions
        if h0 is None:
            states = [None] * count
        else:
            h0 = self._check_state(h0, n, "state h0")
            states = [h0[k] for k in range(count)]
        out, states = self._layers(x, states, lengths)
        return out, np.stack(states)

    def _layers(self, x: Any, states: list[Any], lengths: Any = None) -> tuple[Any, list[Any]]:
        """Run every layer; ``states[l]`` is layer ``l``'s initial state, replaced by its last.

        Layers run time-major, ``(T, N, F)``: each step's rows are then contiguous, and one
        layer's output is the next one's input without a copy. With ``lengths``, each
        sequence's final state is read at its own last step (``last``), the reversed direction
        reverses each sequence within its length (``order``), and the padding steps' outputs
        are zeroed (``mask``) before the next layer sees them.
        """
        n, t = self._check_input(x)
        seq = np.swapaxes(x, 0, 1)
        last = order = mask = None
        if lengths is not None:
            last, order, mask = self._padding(lengths, n, t, raw(x))
        d = self._directions
        for layer in range(self.num_layers):
            if layer and self.dropout:
                seq = F.dropout(seq, self.dropout, rng=self.rng)
            ahead, states[d * layer] = self._run_layer(seq, layer, states[d * layer], "", last)
            if d == 2:  # the same layer over the reversed steps, its outputs turned back
                flip = seq[::-1] if order is None else seq[order]
                back, states[d * layer + 1] = self._run_layer(flip, layer, states[d * layer + 1],
                                                              "_reverse", last)
                back = back[::-1] if order is None else back[order]
                ahead = np.concatenate([ahead, back], axis=2)
            seq = ahead if mask is None else ahead * mask
        return np.swapaxes(seq, 0, 1), states

    def _padding(self, lengths: Any, n: int, t: int, like: Any) -> tuple[Any, Any, Any]:
        """For padded sequences: the index of each one's last step ``(last, rows)``, the
        time-major index that reverses each within its length (padding stays at the end), and
        the ``(T, N, 1)`` mask of the real steps."""
        given = raw(lengths)
        host = np.asarray(to_host(given) if is_array(given) else given)
        if host.shape != (n,) or host.dtype.kind not in "iu" or host.min() < 1 or host.max() > t:
            raise ValueError(
                f"{self._name}: lengths must hold one integer in 1..{t} (the steps) per "
                f"sequence, shape ({n},); got {host.dtype} {host.shape} {host.tolist()[:8]}"
            )
        xp = array_module(like)
        steps = np.arange(t)[:, None]
        rows = np.arange(n)[None, :]
        reverse = np.where(steps < host, host - 1 - steps, steps)
        mask = (steps < host).astype(like.dtype)[:, :, None]
        return ((xp.asarray(host - 1), xp.asarray(np.arange(n))),
                (xp.asarray(reverse), xp.asarray(np.broadcast_to(rows, (t, n)))),
                xp.asarray(mask))


class RNN(_Recurrent):
    """Elman RNN: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, act tanh or relu.

    Args:
        input_size: features of each input step ``F``.
        hidden_size: features of the hidden state ``H``.
        num_layers: stacked layers (each feeds the next).
        nonlinearity: ``"tanh"`` (default) or ``"relu"``.
        bias: whether to use the bias vectors ``bias_ih_l*`` and ``bias_hh_l*``.
        dropout: dropout on the outputs of every layer but the last, while ``diff`` records.
        bidirectional: add a backward recurrence to every layer (outputs ``2H`` wide).
        rng: random generator or seed for the initial weights (uniform on ``±1/sqrt(H)``)
            and the dropout masks.
        dtype: of the weights (float32 by default).

    Calling ``rnn(x, h0=None, lengths=None)`` with ``x`` of shape ``(N, T, F)`` returns
    ``(output, h_n)``: ``output`` ``(N, T, H)``, ``h_n`` ``(num_layers, N, H)`` (``2H`` and
    ``2 * num_layers`` when bidirectional); ``lengths`` gives each padded sequence's steps.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import RNN
        >>> out, h = RNN(3, 5, num_layers=2, rng=0)(np.ones((2, 4, 3), np.float32))
        >>> out.shape, h.shape
        ((2, 4, 5), (2, 2, 5))
    """

    _name = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *,
                 nonlinearity: str = "tanh", bias: bool = True, dropout: float = 0.0,
                 bidirectional: bool = False, rng: Any = None, dtype: Any = np.float32) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu'; got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias=bias, dropout=dropout,
                         bidirectional=bidirectional, rng=rng, dtype=dtype)

    __call__ = _Recurrent._single_state_call

    def _run_layer(self, seq: Any, layer: int, h: Any, suffix: str = "",
                   last: Any = None) -> tuple[Any, Any]:
        w_hh_t = self._weights(layer, suffix)[1].T
        relu = self.nonlinearity == "relu"
        hs = []
        for xw in _unstack(self._projections(seq, layer, bias_sum=True, suffix=suffix)):
            pre = xw if h is None else xw + h @ w_hh_t
            h = np.maximum(pre, 0) if relu else np.tanh(pre)
            hs.append(h)
        hs = np.stack(hs)
        return hs, (h if last is None else hs[last])


class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), as ``torch.nn.LSTM``.

    ``i, f, g, o = split(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``;
    ``c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(g)``; ``h_t = sigmoid(o) tanh(c_t)``.

    Args:
        input_size: features of each input step ``F``.
        hidden_size: features of the hidden and cell states ``H``.
        num_layers: stacked layers (each feeds the next).
        bias: whether to use the bias vectors ``bias_ih_l*`` and ``bias_hh_l*``.
        dropout: dropout on the outputs of every layer but the last, while ``diff`` records.
        bidirectional: add a backward recurrence to every layer (outputs ``2H`` wide).
        rng: random generator or seed for the initial weights (uniform on ``±1/sqrt(H)``)
            and the dropout masks.
        dtype: of the weights (float32 by default).

    Calling ``lstm(x, state=None, lengths=None)`` with ``x`` of shape ``(N, T, F)`` and
    ``state`` an optional pair ``(h0, c0)`` of shape ``(num_layers, N, H)`` returns
    ``(output, (h_n, c_n))``; ``lengths`` gives each padded sequence's steps.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import LSTM
        >>> lstm = LSTM(3, 5, rng=0)
        >>> out, (h, c) = lstm(np.ones((2, 4, 3), np.float32))
        >>> out.shape, h.shape, c.shape
        ((2, 4, 5), (1, 2, 5), (1, 2, 5))
    """

    _gates = 4
    _name = "LSTM"

    def __call__(self, x: Any, state: Any = None, *,
                 lengths: Any = None) -> tuple[Any, tuple[Any, Any]]:
        n, _ = self._check_input(x)
        count = self.num_layers * self._directions
        if state is None:
            states = [None] * count
        else:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise TypeError(f"LSTM: the initial state must be a pair (h0, c0); got "
                                f"{type(state).__name__}")
            h0 = self._check_state(state[0], n, "hidden state h0")
            c0 = self._check_state(state[1], n, "cell state c0")
            states = [(h0[k], c0[k]) for k in range(count)]
        out, states = self._layers(x, states, lengths)
        return out, (np.stack([s[0] for s in states]), np.stack([s[1] for s in states]))

    def _run_layer(self, seq: Any, layer: int, state: Any, suffix: str = "",
                   last: Any = None) -> tuple[Any, Any]:
        w_hh = self._weights(layer, suffix)[1]
        xw = self._projections(seq, layer, bias_sum=True, suffix=suffix)
        if state is None:
            h = c = self._zero_state(xw)
        else:
            h, c = state
        hs, cs, _, _ = lstm_layer(xw, w_hh, h, c)
        if last is None:
            return hs, (hs[-1], cs[-1])
        return hs, (hs[last], cs[last])


class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al., 2014), as ``torch.nn.GRU``.

    ``r, z = sigmoid(x_t W_i{r,z}^T + b_i{r,z} + h W_h{r,z}^T + b_h{r,z})``;
    ``n = tanh(x_t W_in^T + b_in + r (h W_hn^T + b_hn))``; ``h_t = (1 - z) n + z h_{t-1}``.

    Args:
        input_size: features of each input step ``F``.
        hidden_size: features of the hidden state ``H``.
        num_layers: stacked layers (each feeds the next).
        bias: whether to use the bias vectors ``bias_ih_l*`` and ``bias_hh_l*``.
        dropout: dropout on the outputs of every layer but the last, while ``diff`` records.
        bidirectional: add a backward recurrence to every layer (outputs ``2H`` wide).
        rng: random generator or seed for the initial weights (uniform on ``±1/sqrt(H)``)
            and the dropout masks.
        dtype: of the weights (float32 by default).

    Calling ``gru(x, h0=None, lengths=None)`` with ``x`` of shape ``(N, T, F)`` returns
    ``(output, h_n)``; ``lengths`` gives each padded sequence's steps.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag.nn import GRU
        >>> out, h = GRU(3, 5, rng=0)(np.ones((2, 4, 3), np.float32))
        >>> out.shape, h.shape
        ((2, 4, 5), (1, 2, 5))
    """

    _gates = 3
    _name = "GRU"

    __call__ = _Recurrent._single_state_call

    def _run_layer(self, seq: Any, layer: int, h: Any, suffix: str = "",
                   last: Any = None) -> tuple[Any, Any]:
        _, w_hh, _, b_hh = self._weights(layer, suffix)
        xg = self._projections(seq, layer, bias_sum=False, suffix=suffix)
        if h is None:
            h = self._zero_state(xg)
        hs, _, _ = gru_layer(xg, w_hh, b_hh, h)
        return hs, (hs[-1] if last is None else hs[last])


def detach(state: Any) -> Any:
    """``state`` (an array, a Tensor, or a tuple of them) with every Tensor replaced by its value.

    Example:
        >>> import numpy as np
        >>> from minitorch_ag import Param
        >>> from minitorch_ag.nn.rnn import detach
        >>> detach((Param(np.zeros(1)), np.ones(1)))
        (array([0.]), array([1.]))
    """
    if isinstance(state, (tuple, list)):
        return type(state)(detach(s) for s in state)
    return constant(state)
