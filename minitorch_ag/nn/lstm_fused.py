"""The LSTM layer's step as one kernel on a GPU, forward and backward.

``nn.rnn.lstm_layer`` runs the recurrence step by step with in-place array operations: fast on
the CPU, but on a GPU each of a step's dozen operations is a kernel launch, and a 32-step layer
costs over a thousand of them. Here the elementwise part of a step (the gates' nonlinearities,
the cell and hidden states; in the backward pass, the gates' gradients and the carried cell
gradient) is one kernel, beside the step's matrix product. The arithmetic is the CPU code's, in
its order (``sigmoid(x)`` as ``tanh(x / 2) / 2 + 1 / 2``), so both devices agree to rounding.

Each function returns False where the arrays' module has no kernels (NumPy, or the CPU
stand-in for CuPy): the caller's array code then does the step.
"""

from __future__ import annotations

from typing import Any

from ..backend import array_module, fused_kernel

# One element per (row r, unit j) of the (N, H) states; the gates of row r are the four runs
# of H values at r * 4H + k * H, in PyTorch's order: input, forget, cell, output. The arrays
# a kernel writes by hand (raw) are outputs: CuPy passes raw inputs as constants.
_FORWARD = """
long long r = i / H, j = i % H, at = r * 4 * H + j;
T half = 0.5;
T ig = tanh((a[at] + xw[at]) * half) * half + half;
T fg = tanh((a[at + H] + xw[at + H]) * half) * half + half;
T gg = tanh(a[at + 2 * H] + xw[at + 2 * H]);
T og = tanh((a[at + 3 * H] + xw[at + 3 * H]) * half) * half + half;
a[at] = ig; a[at + H] = fg; a[at + 2 * H] = gg; a[at + 3 * H] = og;
T cn = fg * c + ig * gg;
c_new = cn;
T t = tanh(cn);
tc = t;
h = og * t;
"""

_BACKWARD = """
long long r = i / H, j = i % H, at = r * 4 * H + j;
T ig = a[at], fg = a[at + H], gg = a[at + 2 * H], og = a[at + 3 * H];
T dh2 = dh + dhs;
T dtc = dh2 * og;
dtc = dtc * (1 - tc * tc);
T dc2 = dc + dtc;
d[at] = dc2 * gg * ((1 - ig) * ig);
d[at + H] = dc2 * cp * ((1 - fg) * fg);
d[at + 2 * H] = dc2 * ig * (1 - gg * gg);
d[at + 3 * H] = dh2 * tc * ((1 - og) * og);
dc = dc2 * fg;
"""


def forward_step(a: Any, xw_t: Any, c: Any, c_new: Any, tc: Any, h: Any) -> bool:
    """Finish step ``t`` in one kernel: ``a`` (N, 4H) holds ``h_prev @ W_hh^T`` and becomes
    the activations; ``c_new``, ``tc`` and ``h`` are written. False where no kernel exists."""
    xp = array_module(a)
    kernel = fused_kernel(xp, "minitorch_ag_lstm_forward", "raw T xw, T c, int64 H",
                          "raw T a, T c_new, T tc, T h", _FORWARD)
    if kernel is None or not (a.flags.c_contiguous and xw_t.flags.c_contiguous):
        return False
    kernel(xw_t, c, h.shape[-1], a, c_new, tc, h)
    return True


def backward_step(d: Any, a: Any, tc: Any, c_prev: Any, dh: Any, dhs_t: Any, dc: Any) -> bool:
    """Step ``t`` of the backward sweep in one kernel: the gates' gradients into ``d`` (N, 4H)
    from the activations ``a``, ``tanh(c_t)``, ``c_{t-1}``, the carried ``dh`` plus this step's
    ``dhs_t`` (zeros where the loss does not read ``h_t``), and ``dc``, which becomes the
    gradient carried to ``c_{t-1}``. False where no kernel exists."""
    xp = array_module(a)
    kernel = fused_kernel(xp, "minitorch_ag_lstm_backward",
                          "raw T a, T tc, T cp, T dh, T dhs, int64 H", "raw T d, T dc", _BACKWARD)
    if kernel is None or not (d.flags.c_contiguous and a.flags.c_contiguous):
        return False
    kernel(a, tc, c_prev, dh, dhs_t, dc.shape[-1], d, dc)
    return True
