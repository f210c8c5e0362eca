"""The example scripts run end to end and do what they print."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"^(new|old) interface: loss (\S+) -> (\S+) in (\d+) epochs$", re.MULTILINE)


def run_example(name, *args):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_linear_regression_both_interfaces_lower_the_loss():
    proc = run_example("linear_regression.py", "--epochs", "5", "--seed", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = SUMMARY.findall(proc.stdout)
    summaries = {name: (float(a), float(b), int(n)) for name, a, b, n in found}
    assert len(found) == 2, proc.stdout
    assert set(summaries) == {"new", "old"}, proc.stdout
    for name, (first, last, epochs) in summaries.items():
        assert epochs == 5, name
        assert last * 10 < first, f"{name} interface: {first} -> {last}"


def test_linear_regression_help():
    proc = run_example("linear_regression.py", "--help")
    assert proc.returncode == 0, proc.stderr
    for option in ("--epochs", "--lr", "--seed"):
        assert option in proc.stdout
