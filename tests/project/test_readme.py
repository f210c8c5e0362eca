"""Every command and code example in README.md is checked.

The README's commands are the lines of its ```bash blocks (inline code is prose, never a
command to run). Each must be one of the kinds below, or this test fails, so a new command
cannot be added without a check:

- the test set-up: identical to the command .ci/run runs (the suite running is its check);
- the main job: creates the venv, installs an extra that pyproject.toml defines and runs an
  example script, which must exist and is run here with its fastest flags;
- a script under benchmarks/, run here with tiny settings;
- opening the notebooks: installs an extra that pyproject.toml defines and starts Jupyter on
  a folder that holds notebooks (tests/test_notebooks.py runs them);
- the docs build, run here into a temporary directory.

The ```python blocks run in order, in one namespace; their asserts are the checks.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)

TEST_COMMAND_RE = re.compile(r"^python3 -m venv \.venv && .*\.venv/bin/python -m pytest$")
MAIN_JOB_RE = re.compile(
    r'^python3 -m venv \.venv && \.venv/bin/pip install -q -e "\.\[(?P<extra>\w+)\]" && '
    r"\.venv/bin/python (?P<script>examples/[\w/]+\.py)$"
)
BENCHMARK_RE = re.compile(
    r"^\.venv/bin/python (?P<script>benchmarks/\w+\.py)(?P<args>(?: --[\w-]+(?: [\w.,]+)?)*)$")
DOCS_BUILD = ".venv/bin/mkdocs build --strict"
NOTEBOOKS_RE = re.compile(
    r'^python3 -m venv \.venv && \.venv/bin/pip install -q -e "\.\[(?P<extra>\w+)\]" && '
    r"\.venv/bin/jupyter lab (?P<folder>[\w/]+)$"
)

# Tiny settings per benchmark script: a smoke run, no timing is asserted.
BENCHMARK_FLAGS = {
    "benchmarks/overhead.py": ["--quick", "--repeats", "1", "--max-ops", "1000", "--mem-ops",
                               "1000", "--min-sample", "0.001", "--warmup", "1"],
    "benchmarks/train_step.py": ["--quick", "--repeats", "1", "--warmup", "1"],
}


def blocks(lang: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(README) if m.group(1) == lang]


def commands() -> list[str]:
    return [line.strip() for block in blocks("bash") for line in block.splitlines()
            if line.strip()]


def ci_test_command() -> str:
    """The last command of .ci/run: the README's test command, verbatim."""
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")][-1]


def env_with_package() -> dict[str, str]:
    env = dict(os.environ, MPLBACKEND="Agg", NO_MKDOCS_2_WARNING="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    shared = ROOT.parent / "shared" / "data"  # the offline data sets, as .ci/run finds them
    if "MINITORCH_AG_DATA" not in env and shared.is_dir():
        env["MINITORCH_AG_DATA"] = str(shared)
    return env


def run(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env_with_package(), capture_output=True,
                          text=True, timeout=timeout)


def test_every_command_has_a_check():
    cmds = commands()
    assert cmds, "the README has no commands"
    for cmd in cmds:
        known = (TEST_COMMAND_RE.match(cmd) or MAIN_JOB_RE.match(cmd)
                 or BENCHMARK_RE.match(cmd) or cmd == DOCS_BUILD or NOTEBOOKS_RE.match(cmd))
        assert known, f"README command without a check in tests/project/test_readme.py: {cmd}"


def test_the_two_setup_commands():
    cmds = commands()
    tests = [c for c in cmds if TEST_COMMAND_RE.match(c)]
    jobs = [c for c in cmds if MAIN_JOB_RE.match(c)]
    assert len(tests) == 1 and len(jobs) == 1, cmds
    assert tests[0] == ci_test_command(), "the README's test command must be what CI runs"
    for cmd in (tests[0], jobs[0]):
        shlex.split(cmd)  # well-formed shell words
    pyproject = (ROOT / "pyproject.toml").read_text()
    extras_section = pyproject.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    extras = re.findall(r"^(\w+) = \[", extras_section, re.MULTILINE)
    job = MAIN_JOB_RE.match(jobs[0])
    assert job["extra"] in extras, f"the main job installs an undefined extra {job['extra']}"
    assert "-e \".[dev]\"" in tests[0]


def _extras() -> dict[str, list[str]]:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]


def test_the_notebooks_command_installs_jupyter_and_opens_the_notebooks():
    found = [NOTEBOOKS_RE.match(c) for c in commands() if NOTEBOOKS_RE.match(c)]
    assert len(found) == 1, "the README says how to open the notebooks, once"
    extra = _extras()[found[0]["extra"]]
    assert "jupyterlab" in extra and "ipywidgets" in extra  # tqdm.auto's widgets need it
    assert sorted((ROOT / found[0]["folder"]).glob("*.ipynb")), found[0]["folder"]


def _fastest_flags(script: str) -> list[str]:
    """The flags that make an example script quickest, from the options its --help lists."""
    proc = run([sys.executable, script, "--help"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    usage = proc.stdout
    flags = ["--epochs", "1"] if "--epochs" in usage else []
    for flag in ("--no-plot", "--no-download"):
        if flag in usage:
            flags.append(flag)
    if "--limit" in usage:
        flags += ["--limit", "1000"]
    return flags


def test_main_job_runs():
    job = next(MAIN_JOB_RE.match(c) for c in commands() if MAIN_JOB_RE.match(c))
    script = job["script"]
    assert (ROOT / script).is_file(), f"the README's main job {script} does not exist"
    flags = _fastest_flags(script)
    proc = run([sys.executable, script, *flags])
    if proc.returncode != 0 and "--no-download" in flags and "so none was tried" in (
            proc.stdout + proc.stderr):
        pytest.skip(f"{script}: its data set is not on disk and tests never download (set "
                    f"MINITORCH_AG_DATA, as .ci/run does when ../shared/data exists)")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip(), f"{script} printed nothing"


def test_benchmark_commands_run():
    """Each benchmark runs with tiny settings, and takes the options the README gives it."""
    for cmd in commands():
        m = BENCHMARK_RE.match(cmd)
        if m:
            script = m["script"]
            assert script in BENCHMARK_FLAGS, f"give {script} tiny settings in BENCHMARK_FLAGS"
            usage = run([sys.executable, script, "--help"])
            assert usage.returncode == 0, usage.stdout + usage.stderr
            for option in re.findall(r"--[\w-]+", m["args"]):
                assert option in usage.stdout, f"{script} has no option {option}"
            proc = run([sys.executable, script, *BENCHMARK_FLAGS[script]])
            assert proc.returncode == 0, proc.stdout + proc.stderr


def test_docs_build_command_is_the_tested_one():
    """The README's docs command is the build that tests/project/test_docs.py runs (into a
    temporary --site-dir, with warnings as errors), so the suite runs it."""
    assert DOCS_BUILD in commands()
    test_docs = (ROOT / "tests" / "project" / "test_docs.py").read_text()
    assert '"-m", "mkdocs", "build", "--strict", "--site-dir"' in test_docs


def test_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    code = blocks("python")
    assert code, "the README has no example"
    namespace: dict = {"__name__": "readme"}
    for i, block in enumerate(code):
        exec(compile(block, f"<README.md python block {i + 1}>", "exec"), namespace)


def test_relative_links_exist():
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README links to a missing file: {target}"


def test_feature_claims_hold():
    """The numbers in the features table are true of the package."""
    sys.path.insert(0, str(ROOT))
    import minitorch_ag as ag

    m = re.search(r"over (\d+) NumPy functions with rules", README)
    assert m, "the features table states how many NumPy functions have rules"
    assert len(ag.coverage().differentiable) > int(m.group(1))
