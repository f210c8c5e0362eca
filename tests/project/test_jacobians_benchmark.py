"""The forward/reverse and checkpoint benchmark runs (tiny sizes: a smoke test, no timing
assertions); its quick mode exits non-zero when forward and reverse mode, or the gradients
with and without checkpointing, disagree."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_jacobians_benchmark_runs():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "jacobians.py"), "--quick"],
                         capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    for line in ("minitorch_ag forward (one sweep per input)", "hvp forward over reverse",
                 "with checkpoints"):
        assert line in out.stdout, line
    assert "DISAGREE" not in out.stdout
