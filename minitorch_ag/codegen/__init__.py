"""Generated gradient source and replay: AutoDiffSource.jl's ``δf``.

``delta(f)`` traces one call of ``f`` with the recording machinery, writes its forward pass
and pullback as straight-line Python (``_emit.py``), and replays that code for later calls
with the same signature (``_replay.py``); ``compile`` does the same for training steps over a
model's Params; ``defdelta`` makes a hand-written ``(value, pullback)`` function a building
block; ``checkdiff`` compares a ``δf`` with finite differences.
"""

from ._building import defdelta
from ._replay import Compiled, Delta, checkdiff, compile, delta

__all__ = ["delta", "Delta", "compile", "Compiled", "defdelta", "checkdiff"]
