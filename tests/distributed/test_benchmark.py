"""benchmarks/distributed.py still runs (tiny settings: a smoke test, no timing assertions)."""

import os
import subprocess
import sys

import pytest

from .test_distributed import MPIRUN, ROOT


@pytest.mark.skipif(MPIRUN is None, reason="needs mpi4py and mpirun (pip install -e '.[mpi]')")
def test_distributed_benchmark_runs():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "distributed.py"),
                          "--steps", "2", "--warmup", "1", "--mpirun", MPIRUN],
                         capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "\n1 rank(s)\n" in out.stdout and "\n2 rank(s)\n" in out.stdout
    assert out.stdout.count("1 data call(s), 2.679 MB handed over per step") == 2
    assert "32 data call(s)" in out.stdout and "scaling efficiency against 1 rank" in out.stdout
