"""Forward-mode (JVP) rules of the elementwise functions (``elementwise.py``).

Covers every single-output elementwise primitive of ``elementwise.py`` (add ... clip, where,
the real-input real/imag/conjugate/angle). An elementwise function's Jacobian is diagonal
(after broadcasting), so its transpose is itself: applied to a tangent ``t`` in place of the
cotangent, the gradient rule gives ``J · t``, broadcast to the output's shape like any JVP.
Each function's gradient rules therefore serve as its JVP rules, registered in one loop.

Skips (derived from the gradient rules by ``ag.jvp`` instead): the multi-output ``frexp``,
``modf`` and ``divmod``, whose rules read a tuple cotangent, and ``unwrap``, which is not
elementwise (it looks along an axis).
"""

from __future__ import annotations

import numpy as np

from ..primitive import defjvp, lookup
from . import elementwise  # noqa: F401  (registers the rules extended here)

ELEMENTWISE = (
    np.add, np.subtract, np.multiply, np.true_divide, np.negative, np.positive, np.reciprocal,
    np.remainder, np.fmod, np.power, np.float_power, np.square, np.sqrt, np.cbrt, np.exp,
    np.exp2, np.expm1, np.log, np.log2, np.log10, np.log1p, np.logaddexp, np.logaddexp2,
    np.ldexp, np.sin, np.cos, np.tan, np.arcsin, np.arccos, np.arctan, np.arctan2, np.hypot,
    np.sinh, np.cosh, np.tanh, np.arcsinh, np.arccosh, np.arctanh, np.deg2rad, np.radians,
    np.rad2deg, np.degrees, np.sinc, np.i0, np.absolute, np.fabs, np.maximum, np.minimum,
    np.fmax, np.fmin, np.copysign, np.heaviside, np.nextafter, np.where, np.nan_to_num,
    np.clip, np.real, np.conjugate, np.real_if_close, np.imag, np.angle,
)

for _fn in ELEMENTWISE:
    defjvp(_fn, *lookup(_fn).grads)
