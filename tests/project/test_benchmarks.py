"""The overhead benchmark still runs (tiny settings: a smoke test, no timing assertions)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_overhead_benchmark_runs():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "overhead.py"), "--quick", "--repeats", "1",
         "--max-ops", "1000", "--mem-ops", "1000", "--min-sample", "0.001", "--warmup", "1"],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert "minitorch_ag diff/grad" in out.stdout
    assert "bytes/node" in out.stdout


def test_train_step_benchmark_runs():
    """The quick mode builds every model in every implementation, checks that their gradients
    agree (it exits non-zero when they do not), times and measures them."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "train_step.py"), "--quick"],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "GRADIENT MISMATCH" not in out.stdout
    for row in ("minitorch_ag", "NumPy by hand", "minitorch_ag nn.LSTM",
                "minitorch_ag cells (lstm_cell)"):
        assert f"\n  {row} " in out.stdout, row
    assert out.stdout.count("gradients of all") == 3
    assert "peak MB" in out.stdout
