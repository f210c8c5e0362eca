"""Neural-network building blocks: functional operations (``minitorch_ag.nn.functional``) and
Knet-style callable layers holding ``Param``s."""

from . import init
from .rnn import GRU, LSTM, RNN, detach, gru_cell, lstm_cell

__all__ = ["init", "RNN", "LSTM", "GRU", "lstm_cell", "gru_cell", "detach"]
