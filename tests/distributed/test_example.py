"""examples/mnist_distributed.py on two processes trains as on one (the README's main job)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .test_distributed import MPIRUN, ROOT

DATA = Path(os.environ.get("MINITORCH_AG_DATA") or ROOT.parent / "shared" / "data")
SCRIPT = ROOT / "examples" / "mnist_distributed.py"
EPOCH = re.compile(r"^epoch +(\d+): training loss (\S+) +held-out accuracy (\S+)%$", re.M)
SUMMARY = re.compile(r"^mnist_distributed: adam (\S+)% held-out accuracy \(2000 images\), "
                     r"(\d) process(es)?, in \S+ s$", re.M)


def run(tmp_path, *launcher):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MINITORCH_AG_DATA": str(DATA),
           "MINITORCH_AG_EXAMPLES_OUT": str(tmp_path), "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*launcher, sys.executable, str(SCRIPT), "--no-download",
                           "--epochs", "2", "--limit", "2000"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    return done.stdout


@pytest.mark.skipif(MPIRUN is None, reason="needs mpi4py and mpirun (pip install -e '.[mpi]')")
@pytest.mark.skipif(not (DATA / "mnist" / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason=f"MNIST's test files are not in {DATA}")
def test_two_processes_train_as_one(tmp_path):
    two = run(tmp_path, MPIRUN, "-n", "2")
    one = run(tmp_path)
    assert two.count("mnist_distributed:") == 1  # rank 0 alone prints
    [(acc2, n2, _)], [(acc1, n1, _)] = SUMMARY.findall(two), SUMMARY.findall(one)
    assert (n2, n1) == ("2", "1") and float(acc2) > 80 and abs(float(acc2) - float(acc1)) <= 0.2
    epochs2, epochs1 = EPOCH.findall(two), EPOCH.findall(one)
    assert len(epochs2) == len(epochs1) == 2
    for (e2, loss2, a2), (e1, loss1, a1) in zip(epochs2, epochs1, strict=True):
        assert e2 == e1
        assert abs(float(loss2) - float(loss1)) <= 1e-3 * float(loss1)  # float32 rounding
        assert abs(float(a2) - float(a1)) <= 0.2
    assert (tmp_path / "mnist_distributed.npz").is_file()  # rank 0's checkpoint
