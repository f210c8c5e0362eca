"""minitorch_ag: automatic differentiation of plain NumPy code, after Julia's AutoGrad.jl.

Wrap parameters in ``Param``, record a computation with ``diff`` and read gradients with
``grad``; or differentiate a function with ``grad(f)``. The documentation's API reference
lists every public name.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from . import rules as _rules  # noqa: F401  (registers the gradient tables)
from .api import axpy_, diff, grad, gradloss, params, value, vjp
from .backend import TransferCount, count_transfers, gpu_available
from .checkpoint import checkpoint
from .codegen import Compiled, Delta, checkdiff, compile, defdelta, delta
from .device import default_device, device, set_device
from .forward import jvp, linearize
from .jacobians import elementwise_grad, hessian, hvp, jacobian, value_and_grad
from .primitive import defjvp, primitive, zerograd
from .serialization import load, load_state_dict, save, state_dict
from .tape import Tape, recording
from .tensor import Param, Result, Tensor
from .tools import (
    AnomalyError,
    Coverage,
    NodeView,
    Profile,
    check_differentiable,
    coverage,
    detect_anomaly,
    draw,
    gradcheck,
    listing,
    nodes,
    profile,
    set_detect_anomaly,
    set_gcnode,
    show,
)
from .walk import to_device

try:  # one place for the version: pyproject.toml, read back from the installed metadata
    __version__ = _version("minitorch_ag")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
del _version, PackageNotFoundError

__all__ = [
    "Tensor", "Param", "Result", "Tape",
    "diff", "grad", "gradloss", "value", "params", "axpy_", "vjp",
    "gradcheck", "primitive", "zerograd", "recording",
    "coverage", "check_differentiable", "Coverage",
    "save", "load", "state_dict", "load_state_dict",
    "show", "listing", "nodes", "NodeView", "draw", "set_gcnode",
    "profile", "Profile", "detect_anomaly", "set_detect_anomaly", "AnomalyError",
    "to_device", "set_device", "device", "default_device", "gpu_available",
    "count_transfers", "TransferCount",
    "delta", "Delta", "compile", "Compiled", "defdelta", "checkdiff",
    "jvp", "linearize", "defjvp",
    "jacobian", "hessian", "hvp", "elementwise_grad", "value_and_grad",
    "checkpoint",
]
