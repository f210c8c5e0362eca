"""The tools: tape printing, graph drawing, profiling, anomaly detection, coverage, gradcheck.

Owns everything that looks at a computation from outside: ``debug`` (``show``, ``listing``,
``nodes``, ``draw``), ``profile``, ``anomaly``, ``coverage`` and ``gradcheck``. The tools switch
themselves in through what the core offers (the registry's listeners, and wrapping primitive
records and the engine's two steps, see ``_switch.py``); the core never imports this package.
Every public name here is re-exported by ``minitorch_ag`` itself.
"""

from . import anomaly as _anomaly_module
from . import profile as _profile_module
from .anomaly import AnomalyError, detect_anomaly, set_detect_anomaly
from .coverage import Coverage, check_differentiable, coverage
from .debug import NodeView, draw, listing, nodes, set_gcnode, show
from .gradcheck import gradcheck
from .profile import Profile, profile

__all__ = [
    "show", "listing", "nodes", "NodeView", "draw", "set_gcnode",
    "profile", "Profile", "detect_anomaly", "set_detect_anomaly", "AnomalyError",
    "coverage", "check_differentiable", "Coverage", "gradcheck",
]

# Whole-script switches, read once here (never on the hot path): MINITORCH_AG_TIMER=1 profiles
# and prints the table at exit; MINITORCH_AG_ANOMALY=1 turns anomaly detection on.
_profile_module.TIMER = _profile_module._from_environment()
_anomaly_module._from_environment()
