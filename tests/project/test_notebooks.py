"""The notebooks in examples/notebooks run from top to bottom without an error.

Each is executed with nbclient in a fresh Jupyter kernel, on a small budget set through the
environment variables the notebooks read (fewer epochs, fewer training images). They are
committed with their outputs cleared, which is checked too: diffs stay readable and the
repository small. Needs the ``dev`` extra (nbclient, nbformat, ipykernel); the MNIST notebook
needs MNIST's test files under ``$MINITORCH_AG_DATA`` or ``../shared/data``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "examples" / "notebooks"
DATA = Path(os.environ.get("MINITORCH_AG_DATA") or ROOT.parent / "shared" / "data")
HAVE_MNIST = (DATA / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()


def execute(name, monkeypatch, tmp_path, **env):
    """Run notebook ``name`` in a new kernel; return it with its outputs."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MINITORCH_AG_DATA", str(DATA))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # never the user's cache
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend shows figures
    for key in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(key, "1")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    return nb


def text_of(nb):
    """Everything the notebook's cells printed or displayed as text, in order."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out["text"])
            elif "data" in out and "text/plain" in out["data"]:
                parts.append(out["data"]["text/plain"])
    return "\n".join(parts)


def images_in(nb):
    return sum("image/png" in out.get("data", {}) for cell in nb.cells
               for out in cell.get("outputs", []))


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebooks_are_committed_with_cleared_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{name}: clear the outputs before committing (Kernel > Restart & Clear Output, "
                f"or jupyter nbconvert --clear-output --inplace {name})")


def test_quickstart_runs(monkeypatch, tmp_path):
    nb = execute("quickstart.ipynb", monkeypatch, tmp_path, QUICKSTART_EPOCHS="5")
    out = text_of(nb)
    assert "T(14.0)" in out and "[2. 4. 6.]" in out  # the README's interface section
    assert "1. P(ndarray{float64,2}(2,3)) ∇=ndarray{float64,2}(2,3)" in out  # the tape listing
    assert "np.matmul" in out and "np.sum" in out  # the profile table
    assert "mean squared error after 5 epochs" in out
    assert "(4.0, 28.0)" in out  # f's pullback from AutoDiffSource's README
    assert images_in(nb) >= 1  # the learning curve


@pytest.mark.skipif(not HAVE_MNIST, reason=f"MNIST's test files are not in {DATA}")
def test_mnist_walkthrough_runs(monkeypatch, tmp_path):
    nb = execute("mnist_walkthrough.ipynb", monkeypatch, tmp_path, WALKTHROUGH_EPOCHS="1",
                 WALKTHROUGH_LIMIT="2000")
    out = text_of(nb)
    assert "(2000, 1, 28, 28) float32" in out
    assert "epoch 1: held-out accuracy" in out
    assert "misclassified" in out
    assert "(same: True)" in out
    assert images_in(nb) >= 3  # digits, learning curves, mistakes


def test_knet_basics_runs(monkeypatch, tmp_path):
    nb = execute("knet_basics.ipynb", monkeypatch, tmp_path, BASICS_STEPS="100")
    out = text_of(nb)
    assert "T(14.0) 14.0 [2. 4. 6.]" in out and "recorded Params: True" in out
    assert "3. P(ndarray{float64,2}(2,1)) ∇=ndarray{float64,2}(2,1)" in out
    assert " Section " in out and "sum_outgrads" in out  # the TimerOutputs table
    assert "(array([3., 3.]), None)" in out  # the omitted rule: no gradient for k
    assert "same steps, same losses: True" in out
    assert images_in(nb) >= 1  # the learning curves


@pytest.mark.skipif(not HAVE_MNIST, reason=f"MNIST's test files are not in {DATA}")
def test_knet_mnist_runs(monkeypatch, tmp_path):
    nb = execute("knet_mnist.ipynb", monkeypatch, tmp_path, MNIST_LIMIT="1000", MNIST_EPOCHS="1")
    out = text_of(nb)
    assert "(1000, 1, 28, 28)" in out
    for name in ("softmax", "mlp", "lenet"):
        assert f"{name:8s} held-out nll" in out
    assert "correct, counted: (" in out
    assert images_in(nb) >= 1


HAVE_SHAKESPEARE = any((DATA / "tinyshakespeare").glob("*"))


@pytest.mark.skipif(not HAVE_SHAKESPEARE, reason=f"Tiny Shakespeare is not in {DATA}")
def test_knet_charlm_runs(monkeypatch, tmp_path):
    nb = execute("knet_charlm.ipynb", monkeypatch, tmp_path, CHARLM_CHARS="20000",
                 CHARLM_EPOCHS="1")
    out = text_of(nb)
    assert "18000 training characters, 65 distinct" in out
    assert "epoch 1: training loss" in out and "nats/char" in out
    assert "ROMEO:" in out  # the sample starts from its prime
    assert images_in(nb) >= 1
