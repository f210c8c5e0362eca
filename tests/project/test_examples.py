"""The example scripts run end to end, on reduced budgets, and do what their summary line says.

Each script runs in a subprocess, as a user runs it. Data come from ``$MINITORCH_AG_DATA`` (or
``../shared/data`` next to the repository); the scripts are run with ``--no-download`` so that
no test touches the network, and figures go to a temporary directory. BLAS is held to one
thread: these runs are small, and on a busy machine threads only wait for one another.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
DATA = Path(os.environ.get("MINITORCH_AG_DATA") or ROOT.parent / "shared" / "data")
HAVE_MNIST = (DATA / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()
HAVE_SHAKESPEARE = (DATA / "tinyshakespeare" / "input.txt").is_file()
needs_mnist = pytest.mark.skipif(not HAVE_MNIST, reason=f"MNIST's test files are not in {DATA}")
needs_shakespeare = pytest.mark.skipif(not HAVE_SHAKESPEARE,
                                       reason=f"Tiny Shakespeare is not in {DATA}")


def run_example(name, *args, out=None, timeout=300):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["MINITORCH_AG_DATA"] = str(DATA)
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = "1"
    env["MPLBACKEND"] = "Agg"
    if out is not None:
        env["MINITORCH_AG_EXAMPLES_OUT"] = str(out)
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def summary(proc, pattern):
    """The match of ``pattern`` on the output's last line; the run must have succeeded."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr
    m = re.fullmatch(pattern, lines[-1])
    assert m, f"unexpected summary line {lines[-1]!r}\n{proc.stdout}"
    return m


# ----------------------------------------------------------------------------------------
# Every script: --help, the common flags
# ----------------------------------------------------------------------------------------


def test_every_example_is_tested():
    tested = {"linear_regression.py", "housing.py", "mnist_mlp.py", "lenet.py", "charlm.py",
              "vae.py", "higher_order.py", "custom_primitive.py", "vjp.py", "delta.py",
              "mnist_distributed.py"}  # tested in tests/distributed/test_example.py
    assert set(SCRIPTS) <= tested, f"examples without a test: {set(SCRIPTS) - tested}"


SHARED_FLAGS = ("--epochs", "--device", "--seed", "--no-plot", "--no-download")


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_lists_the_common_flags(name):
    proc = run_example(name, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage:")
    for option in SHARED_FLAGS:
        assert option in proc.stdout, f"{name} --help lacks {option}"
    assert "--plot " not in proc.stdout, "figures are switched off with --no-plot, not moved"


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_accepts_the_shared_flags(name):
    """All the shared flags at once are accepted (argparse would exit with 2 on an unknown
    one); the device check then stops the run with status 1 and a message, no traceback."""
    proc = run_example(name, "--epochs", "1", "--seed", "3", "--no-plot", "--no-download",
                       "--device", "tpu")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "unrecognized arguments" not in proc.stderr
    assert proc.stderr.startswith("error: --device: ") and "tpu" in proc.stderr


@pytest.mark.parametrize("name", SCRIPTS)
def test_without_the_examples_extra_a_script_says_what_to_install(name, tmp_path):
    """With NumPy only (tqdm and matplotlib made unimportable), no traceback: one line that
    names the missing packages and the command that installs them, before any work."""
    for module in ("tqdm", "matplotlib"):
        (tmp_path / module).mkdir()
        (tmp_path / module / "__init__.py").write_text("raise ImportError('hidden by a test')")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]),
               MINITORCH_AG_DATA=str(DATA))
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), "--epochs", "1",
                           "--no-download"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "tqdm (for the progress bars) and matplotlib (for the figures)" in proc.stderr
    assert "pip install -e '.[examples]'" in proc.stderr


def test_the_shared_flags_are_the_ones_common_defines():
    sys.path.insert(0, str(EXAMPLES))
    try:
        import _common
    finally:
        sys.path.remove(str(EXAMPLES))
    assert _common.SHARED_FLAGS == SHARED_FLAGS


@pytest.mark.parametrize("name", SCRIPTS)
def test_epochs_help_says_what_one_epoch_is(name):
    text = re.sub(r"-\s+", "-", " ".join(run_example(name, "--help").stdout.split()))
    m = re.search(r"--epochs EPOCHS (.*?) \(default \d+\)", text)
    assert m, text
    if name in ("higher_order.py",):
        assert "Newton step" in m[1]
    elif name in ("custom_primitive.py", "vjp.py", "housing.py", "delta.py"):
        assert "gradient-descent step" in m[1]
    else:
        assert "one pass over the training data" in m[1]


def test_plural():
    sys.path.insert(0, str(EXAMPLES))
    try:
        from _common import plural
    finally:
        sys.path.remove(str(EXAMPLES))
    assert plural(1, "epoch") == "1 epoch" and plural(3, "epoch") == "3 epochs"
    assert plural(2, "batch", "batches") == "2 batches" and plural(1, "batch") == "1 batch"


def test_smoothed_curves_line_up_with_the_raw_values():
    sys.path.insert(0, str(EXAMPLES))
    try:
        from _common import smooth
    finally:
        sys.path.remove(str(EXAMPLES))
    x, y = smooth([0, 0, 0, 10, 10, 10], 3)
    # the mean of values i-2..i is drawn at i: the step shows where it happened, not earlier
    assert x.tolist() == [2, 3, 4, 5]
    np.testing.assert_allclose(y, [0, 10 / 3, 20 / 3, 10])


@pytest.mark.parametrize("name, args", [
    ("linear_regression.py", ["--epochs", "1"]),
    ("custom_primitive.py", ["--epochs", "1"]),
])
def test_one_epoch_runs_draw_a_readable_plot(name, args, tmp_path):
    """One epoch is one point per curve: the x axis spans whole steps around it, not the
    0.96-1.04 that matplotlib picks for a single value."""
    env = {"MINITORCH_AG_EXAMPLES_OUT": str(tmp_path)}
    code = (f"import sys, runpy; sys.argv = [{name!r}, *{args!r}];"
            "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt;"
            "saved = [];"
            "orig = plt.Figure.savefig;"
            "plt.Figure.savefig = lambda self, *a, **k: (saved.append("
            "[ax.get_xlim() for ax in self.axes]), orig(self, *a, **k))[1];"
            f"runpy.run_path({str(EXAMPLES / name)!r}, run_name='__main__');"
            "print('XLIMS', saved)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=EXAMPLES, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, **env, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    xlims = eval(proc.stdout.split("XLIMS", 1)[1])
    for lo, hi in xlims[0]:
        assert hi - lo >= 1, xlims


# ----------------------------------------------------------------------------------------
# linear_regression.py and housing.py
# ----------------------------------------------------------------------------------------

SUMMARY = re.compile(r"^(new|old) interface: loss (\S+) -> (\S+) in (\d+) epochs$", re.MULTILINE)


def test_linear_regression_both_interfaces_lower_the_loss(tmp_path):
    proc = run_example("linear_regression.py", "--epochs", "5", "--seed", "1", out=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = SUMMARY.findall(proc.stdout)
    summaries = {name: (float(a), float(b), int(n)) for name, a, b, n in found}
    assert len(found) == 2, proc.stdout
    assert set(summaries) == {"new", "old"}, proc.stdout
    for name, (first, last, epochs) in summaries.items():
        assert epochs == 5, name
        assert last * 10 < first, f"{name} interface: {first} -> {last}"
    assert (tmp_path / "linear_regression.png").stat().st_size > 1000


def test_linear_regression_help():
    proc = run_example("linear_regression.py", "--help")
    assert proc.returncode == 0, proc.stderr
    for option in ("--epochs", "--lr", "--seed"):
        assert option in proc.stdout


def write_housing_table(path, rng):
    """A table in housing.data's format: 506 rows of 13 features and a price."""
    x = rng.uniform(0, 10, (506, 13))
    w = rng.standard_normal(13)
    price = 22.5 + (x - x.mean(0)) / x.std(0) @ w + 0.5 * rng.standard_normal(506)
    np.savetxt(path, np.column_stack([x, price]), fmt="%.5f")
    return path


def test_housing_trains_both_interfaces_on_a_table_in_the_uci_format(tmp_path):
    table = write_housing_table(tmp_path / "housing.data", np.random.default_rng(0))
    proc = run_example("housing.py", "--file", str(table), "--epochs", "30", out=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    pattern = (r"housing: (old|new) interface rmse train (\S+) test (\S+) \(\$1000s\) "
               r"after 30 epochs")
    results = {}
    for line in lines[-2:]:
        m = re.fullmatch(pattern, line)
        assert m, proc.stdout
        results[m[1]] = float(m[2]), float(m[3])
    assert set(results) == {"old", "new"}
    # the noise has standard deviation 0.5: a fitted model is close to it
    for name, (train, test) in results.items():
        assert train < 0.7 and test < 0.9, (name, train, test)
    # the two interfaces run the same arithmetic from the same start
    assert results["old"] == results["new"]
    assert (tmp_path / "housing.png").is_file()


def test_housing_offline_says_which_file_is_missing_and_exits_nonzero(tmp_path):
    env_data = tmp_path / "empty"
    env_data.mkdir()
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "housing.py"), "--no-download", "--epochs", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MINITORCH_AG_DATA": str(env_data),
             "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "this data file is not available" in proc.stderr
    assert "housing/housing.data" in proc.stderr
    assert "MINITORCH_AG_DATA=<dir> python examples/housing.py" in proc.stderr
    assert "--file" in proc.stderr and "root=" not in proc.stderr
    assert not (tmp_path / "cache").exists(), "an empty cache folder was left behind"


# ----------------------------------------------------------------------------------------
# mnist_mlp.py
# ----------------------------------------------------------------------------------------


@needs_mnist
def test_mnist_mlp_trains_with_sgd_and_adam(tmp_path):
    proc = run_example("mnist_mlp.py", "--no-download", "--epochs", "3", "--limit", "4000",
                       "--hidden", "128", out=tmp_path)
    m = summary(proc, r"mnist_mlp: sgd (\S+)% adam (\S+)% held-out accuracy \((\d+) images\) "
                      r"in (\S+) s")
    sgd, adam, n = float(m[1]), float(m[2]), int(m[3])
    assert n == 2000
    assert sgd > 86 and adam > 86, proc.stdout
    assert len(re.findall(r"^sgd  epoch  \d: training loss", proc.stdout, re.M)) == 3
    assert len(re.findall(r"^adam epoch  \d: training loss", proc.stdout, re.M)) == 3
    assert "training on 4000 images, evaluating on 2000" in proc.stdout
    if not (DATA / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        assert "training on the first 8000 test images" in proc.stderr
    assert (tmp_path / "mnist_mlp.png").is_file()


# ----------------------------------------------------------------------------------------
# custom_primitive.py, vjp.py, higher_order.py
# ----------------------------------------------------------------------------------------


def test_custom_primitive_checks_hypot_and_finds_the_geometric_median(tmp_path):
    proc = run_example("custom_primitive.py", "--epochs", "150", out=tmp_path)
    m = summary(proc, r"custom_primitive: gradcheck passed \(orders 1 and 2\); geometric median "
                      r"within (\S+) of Weiszfeld's after 150 steps")
    assert float(m[1]) < 1e-6
    assert "math.hypot element by element, recorded: TypeError" in proc.stdout
    assert "as a primitive: 3 nodes" in proc.stdout
    assert (tmp_path / "custom_primitive.png").is_file()


def test_vjp_checks_every_readme_example_and_trains_with_pullbacks(tmp_path):
    proc = run_example("vjp.py", "--epochs", "100", out=tmp_path)
    m = summary(proc, r"vjp: (\d+) examples checked; autoencoder error (\S+) -> (\S+), "
                      r"rosenbrock (\S+) -> (\S+) in 100 steps")
    assert int(m[1]) == 6
    assert float(m[3]) < 0.5 * float(m[2]) and float(m[5]) < float(m[4])
    assert "const=(1,): ∂x = c, and ∂c is None" in proc.stdout


def test_delta_ports_every_readme_example_and_replays_the_training_loop(tmp_path):
    proc = run_example("delta.py", "--epochs", "60", out=tmp_path)
    m = summary(proc, r"delta: (\d+) examples checked; autoencoder error (\S+) -> (\S+) in 60 "
                      r"steps; replay (\S+)x the speed of vjp")
    assert int(m[1]) == 6
    assert float(m[3]) < float(m[2])
    assert "def forward(x, y):" in proc.stdout and "def backward(saved, dz):" in proc.stdout
    assert "runs eagerly" not in proc.stderr, proc.stderr


def test_higher_order_newton_converges():
    proc = run_example("higher_order.py", "--epochs", "30", "--no-plot")
    m = summary(proc, r"higher_order: derivatives checked; newton: rosenbrock gradient norm (\S+) "
                      r"after (\d+) steps, logistic regression gradient norm (\S+) after (\d+) "
                      r"steps")
    assert float(m[1]) < 1e-10 and float(m[3]) < 1e-10
    assert "x = [1. 1.]" in proc.stdout


# ----------------------------------------------------------------------------------------
# charlm.py and vae.py
# ----------------------------------------------------------------------------------------


@needs_shakespeare
def test_charlm_trains_an_lstm_and_prints_samples(tmp_path):
    proc = run_example("charlm.py", "--no-download", "--limit", "20000", "--batchsize", "16",
                       "--seqlen", "32", "--hidden", "64", "--sample-every", "10",
                       "--sample-length", "40", out=tmp_path)
    m = summary(proc, r"charlm: validation loss (\S+) nats/char \(perplexity (\S+)\) after 1 "
                      r"epoch \((\d+) batches\) in \d+ s")
    loss, batches = float(m[1]), int(m[3])
    assert batches == 35
    assert loss < np.log(65) - 0.5, "no better than a uniform guess over the 65 characters"
    assert "vocabulary of 65" in proc.stdout
    samples = re.findall(r"--- sample after (\d+) batches", proc.stdout)
    assert samples == ["10", "20", "30"]
    assert re.search(r"--- final sample ---\nROMEO:.{40}", proc.stdout, re.S)
    assert (tmp_path / "charlm.png").is_file()


@needs_shakespeare
@pytest.mark.parametrize("limit, advice", [
    ("10", "use --limit 2277 or more"),
    ("20000", None),
])
def test_charlm_small_inputs_give_a_clear_message_or_work(limit, advice, tmp_path):
    """Too little text for one batch is a message that says what to change; a text whose
    validation part cannot fill every stream is evaluated in fewer streams."""
    proc = run_example("charlm.py", "--no-download", "--limit", limit, "--no-plot",
                       "--hidden", "16", "--embed", "8", "--sample-length", "5",
                       "--sample-every", "1000", out=tmp_path)
    assert "Traceback" not in proc.stderr, proc.stderr
    if advice:
        assert proc.returncode == 1
        assert "10 characters are too few for one batch of --batchsize 32 streams x " \
               "--seqlen 64" in proc.stderr
        assert advice in proc.stderr
    else:
        summary(proc, r"charlm: validation loss \S+ nats/char \(perplexity \S+\) after 1 epoch "
                      r"\(8 batches\) in \d+ s")


@pytest.mark.parametrize("name", ["mnist_mlp.py", "vae.py"])
def test_a_limit_below_one_batch_is_a_clear_message(name):
    proc = run_example(name, "--limit", "10", "--batchsize", "50", "--no-download")
    assert proc.returncode == 1
    assert "--limit 10 is smaller than one batch (--batchsize 50)" in proc.stderr
    assert "Traceback" not in proc.stderr


@needs_mnist
def test_vae_improves_the_held_out_elbo(tmp_path):
    proc = run_example("vae.py", "--no-download", "--epochs", "2", "--limit", "1000",
                       "--hidden", "128", "--latent", "8", out=tmp_path)
    m = summary(proc, r"vae: held-out ELBO (\S+) nats per image \(reconstruction (\S+), KL "
                      r"(\S+)\) after 2 epochs in \d+ s")
    elbo, rec, kl = float(m[1]), float(m[2]), float(m[3])
    assert abs(elbo + rec + kl) < 0.11  # printed to one decimal each
    assert kl > 0
    per_epoch = [float(e) for e in re.findall(r"held-out ELBO (\S+) \(", proc.stdout)]
    assert len(per_epoch) == 2 and per_epoch[1] > per_epoch[0], proc.stdout
    assert elbo > -784 * np.log(2), "no better than a coin flip per pixel"
    assert (tmp_path / "vae.png").is_file() and (tmp_path / "vae_samples.png").is_file()


# ----------------------------------------------------------------------------------------
# --device gpu, on the simulated CuPy of tests/gpu/fake_cupy.py
# ----------------------------------------------------------------------------------------

FAKE_CUPY = ROOT / "tests" / "gpu" / "fake_cupy.py"
ON_SIMULATED_GPU = """
import runpy, sys
sys.path[:0] = [{gpu!r}, {examples!r}]
import fake_cupy
sys.argv = sys.argv[1:]
with fake_cupy.installed():
    runpy.run_path(sys.argv[0], run_name="__main__")
"""
TINY_RUNS = {
    "linear_regression.py": ["--epochs", "2"],
    "custom_primitive.py": ["--epochs", "20"],
    "vjp.py": ["--epochs", "10"],
    "delta.py": ["--epochs", "5"],
    "higher_order.py": ["--epochs", "10"],
    "mnist_mlp.py": ["--no-download", "--epochs", "1", "--limit", "500", "--hidden", "32"],
    "vae.py": ["--no-download", "--epochs", "1", "--limit", "500", "--hidden", "32",
               "--latent", "4"],
    "charlm.py": ["--no-download", "--limit", "5000", "--batchsize", "8", "--seqlen", "16",
                  "--hidden", "16", "--sample-every", "10", "--sample-length", "10"],
}


@pytest.mark.skipif(not FAKE_CUPY.is_file(), reason="tests/gpu/fake_cupy.py is not here")
@pytest.mark.parametrize("name", sorted(TINY_RUNS))
def test_examples_run_with_device_gpu_on_a_simulated_cupy(name, tmp_path):
    """Every array the example makes or moves must stay on the device: the stand-in refuses
    to mix device and host arrays, as CuPy does."""
    if name in ("mnist_mlp.py", "vae.py") and not HAVE_MNIST:
        pytest.skip(f"MNIST's test files are not in {DATA}")
    if name == "charlm.py" and not HAVE_SHAKESPEARE:
        pytest.skip(f"Tiny Shakespeare is not in {DATA}")
    code = ON_SIMULATED_GPU.format(gpu=str(FAKE_CUPY.parent), examples=str(EXAMPLES))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MINITORCH_AG_DATA": str(DATA),
           "MINITORCH_AG_EXAMPLES_OUT": str(tmp_path), "OPENBLAS_NUM_THREADS": "1",
           "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(EXAMPLES / name), *TINY_RUNS[name], "--device", "gpu"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    prefix = {"linear_regression.py": "old interface: loss"}.get(name, name[:-3] + ":")
    assert proc.stdout.strip().splitlines()[-1].startswith(prefix), proc.stdout


def test_housing_runs_with_device_gpu_on_a_simulated_cupy(tmp_path):
    if not FAKE_CUPY.is_file():
        pytest.skip("tests/gpu/fake_cupy.py is not here")
    table = write_housing_table(tmp_path / "housing.data", np.random.default_rng(1))
    code = ON_SIMULATED_GPU.format(gpu=str(FAKE_CUPY.parent), examples=str(EXAMPLES))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MINITORCH_AG_EXAMPLES_OUT": str(tmp_path),
           "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(EXAMPLES / "housing.py"), "--file", str(table),
         "--epochs", "5", "--device", "gpu"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1].startswith("housing: new interface rmse")
