"""minitorch_ag: automatic differentiation of plain NumPy code, after Julia's AutoGrad.jl.

Wrap parameters in ``Param``, record a computation with ``diff`` and read gradients with
``grad``; or differentiate a function with ``grad(f)``. See API.md for the contract.
"""

from . import anomaly as _anomaly_module
from . import profile as _profile_module
from . import rules as _rules  # noqa: F401  (registers the gradient tables)
from .anomaly import AnomalyError, detect_anomaly, set_detect_anomaly
from .api import axpy_, diff, grad, gradloss, params, value, vjp
from .backend import TransferCount, count_transfers, gpu_available
from .coverage import Coverage, check_differentiable, coverage
from .debug import NodeView, draw, listing, nodes, show
from .device import default_device, device, set_device
from .gradcheck import gradcheck
from .primitive import primitive, zerograd
from .profile import Profile, profile
from .serialization import load, load_state_dict, save, state_dict
from .tape import Tape, recording
from .tensor import Param, Result, Tensor
from .walk import to_device

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Param", "Result", "Tape",
    "diff", "grad", "gradloss", "value", "params", "axpy_", "vjp",
    "gradcheck", "primitive", "zerograd", "recording",
    "coverage", "check_differentiable", "Coverage",
    "save", "load", "state_dict", "load_state_dict",
    "show", "listing", "nodes", "NodeView", "draw",
    "profile", "Profile", "detect_anomaly", "set_detect_anomaly", "AnomalyError",
    "to_device", "set_device", "device", "default_device", "gpu_available",
    "count_transfers", "TransferCount",
]

# Whole-script switches, read once here (never on the hot path): MINITORCH_AG_TIMER=1 profiles
# and prints the table at exit; MINITORCH_AG_ANOMALY=1 turns anomaly detection on.
_profile_module.TIMER = _profile_module._from_environment()
_anomaly_module._from_environment()
