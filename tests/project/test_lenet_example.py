"""examples/lenet.py trains LeNet with Adam on (a slice of) MNIST and reports its accuracy.

Needs the MNIST test files (``$MINITORCH_AG_DATA/mnist/t10k-*.gz``); skipped without them.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = re.compile(
    r"^lenet: held-out accuracy (\S+)% on (\d+) images after (\d+) epochs?, (\d+) training "
    r"images, (\S+) s", re.MULTILINE)


def _mnist_available() -> bool:
    from minitorch_ag.datasets import search_roots

    return any((Path(r) / "mnist" / "t10k-images-idx3-ubyte.gz").exists()
               for r in search_roots())


def run_lenet(*args, **env_extra):
    env = dict(os.environ, **env_extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, str(ROOT / "examples" / "lenet.py"), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_lenet_help():
    proc = run_lenet("--help")
    assert proc.returncode == 0, proc.stderr
    for option in ("--epochs", "--device", "--seed", "--batchsize", "--lr", "--limit"):
        assert option in proc.stdout


@pytest.mark.skipif(not _mnist_available(), reason="the MNIST test files are not available")
def test_lenet_one_short_epoch_learns(tmp_path):
    png = tmp_path / "lenet.png"
    proc = run_lenet("--epochs", "1", "--limit", "512", "--no-download",
                     OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                     MINITORCH_AG_EXAMPLES_OUT=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = SUMMARY.search(proc.stdout)
    assert found, proc.stdout
    accuracy, held_out, epochs, ntrain, seconds = found.groups()
    assert int(epochs) == 1 and int(ntrain) == 512
    assert int(held_out) > 0 and float(seconds) > 0
    # 8 steps of Adam on 512 images: far above chance (10%), far below the full run's 97%
    assert 30 < float(accuracy) <= 100, proc.stdout
    assert "after 1 epoch," in proc.stdout
    assert png.stat().st_size > 1000  # the learning curve was written, where the variable says


def test_lenet_rejects_a_bad_limit():
    proc = run_lenet("--limit", "3", "--batchsize", "64")
    assert proc.returncode == 1
    assert "--limit 3 is smaller than one batch" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_lenet_rejects_an_unknown_device():
    proc = run_lenet("--device", "tpu")
    assert proc.returncode == 1  # as every example: 1 for a usage problem found after parsing
    assert "--device" in proc.stderr and "tpu" in proc.stderr


def test_lenet_offline_names_every_missing_file_and_the_fix(tmp_path):
    proc = run_lenet("--no-download", MINITORCH_AG_DATA=str(tmp_path / "empty"),
                     XDG_CACHE_HOME=str(tmp_path / "cache"))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                 "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        assert f"mnist/{name}" in proc.stderr
    assert "MINITORCH_AG_DATA=<dir> python examples/lenet.py" in proc.stderr
    assert "without --no-download" in proc.stderr
    assert "root=" not in proc.stderr  # the scripts take no root argument
    assert "The two t10k-* files are enough" in proc.stderr
    assert not (tmp_path / "cache").exists() and not (tmp_path / "empty").exists()
