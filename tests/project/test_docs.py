"""The documentation is real: its code runs, its printed output is what the code prints, and
the site builds with warnings as errors.

Every ```python block of every page under ``docs/`` runs, in page order, in one namespace per
page (later blocks use what earlier ones defined), in a temporary working directory. A marker
comment on the line just before a block changes what is checked:

- ``<!-- doc-test: skip (reason) -->``: the block is not run (the reason says why);
- ``<!-- doc-test: raises NAME -->``: the block must raise the exception class ``NAME``;
- ``<!-- doc-test: gpu -->``: the block runs only where CuPy sees a GPU (skipped elsewhere);
- ``<!-- doc-test: output -->`` before a ```text block: that text must equal what the python
  block just before it printed (trailing spaces aside), so pasted output cannot go stale.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
MARKER = re.compile(r"<!--\s*doc-test:\s*(skip|raises|output|gpu)\b\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    page: str
    line: int
    lang: str
    code: str
    marker: str | None  # skip, raises, output, gpu or None
    detail: str


def blocks(page: str, docs: Path = DOCS) -> list[Block]:
    """The fenced blocks of a page, each with the marker on the line before it."""
    text = (docs / page).read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARKER.search(before)
        found.append(Block(page, text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2),
                           mark.group(1) if mark else None, mark.group(2) if mark else ""))
    return found


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def gpu_present() -> bool:
    """True when CuPy is installed and sees at least one GPU."""
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # CuPy without a driver or a device raises its own errors
        return False


def run_page(page: str, workdir: Path, docs: Path = DOCS) -> int:
    """Run the python blocks of ``page``; return how many ran. Fails on the first problem."""
    namespace: dict = {"__name__": f"docs_{page}"}
    printed: str | None = None
    ran = 0
    for block in blocks(page, docs):
        where = f"docs/{page}, line {block.line}"
        if block.marker == "output":
            assert block.lang == "text", f"{where}: an output marker belongs before a text block"
            assert printed is not None, f"{where}: no python block ran before this output"
            assert _normalise(block.code) == _normalise(printed), (
                f"{where}: the documented output differs from what the code prints:\n"
                f"--- documented\n{block.code}\n--- printed\n{printed}"
            )
            continue
        if block.lang != "python":
            continue
        if block.marker == "skip" or (block.marker == "gpu" and not gpu_present()):
            assert block.marker == "gpu" or block.detail, f"{where}: say why it is not run"
            printed = None
            continue
        out = io.StringIO()
        code = compile(block.code, f"<{where}>", "exec")
        cwd = os.getcwd()
        os.chdir(workdir)
        try:
            with contextlib.redirect_stdout(out):
                if block.marker == "raises":  # NumPy's warnings on the way are expected
                    with pytest.raises(Exception) as info, np.errstate(all="ignore"):
                        exec(code, namespace)
                    assert type(info.value).__name__ == block.detail, (
                        f"{where}: expected {block.detail}, got {info.value!r}")
                else:
                    exec(code, namespace)
        finally:
            os.chdir(cwd)
        printed = out.getvalue()
        ran += 1
    return ran


@pytest.mark.parametrize("page", PAGES)
def test_page_code_runs(page, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.syspath_prepend(str(ROOT))
    for block in blocks(page):
        if block.marker == "raises":
            assert block.lang == "python", f"docs/{page}, line {block.line}: raises a text block"
    run_page(page, tmp_path)


def _page(tmp_path: Path, text: str) -> int:
    (tmp_path / "page.md").write_text(text, encoding="utf-8")
    return run_page("page.md", tmp_path, docs=tmp_path)


def test_the_checker_checks(tmp_path):
    """Each marker does what the module docstring says, and a wrong page fails."""
    good = (
        "```python\nx = 2\nprint(x * 3)\n```\n<!-- doc-test: output -->\n```text\n6\n```\n"
        "<!-- doc-test: skip (shows a call that would fail) -->\n```python\n1 / 0\n```\n"
        "<!-- doc-test: raises ZeroDivisionError -->\n```python\nx / 0\n```\n"
        "<!-- doc-test: gpu -->\n```python\nimport cupy\n```\n"
        "```bash\nnot python, not run\n```\n"
    )
    assert _page(tmp_path, good) == (3 if gpu_present() else 2)
    wrong_output = "```python\nprint(1)\n```\n<!-- doc-test: output -->\n```text\n2\n```\n"
    with pytest.raises(AssertionError, match="documented output differs"):
        _page(tmp_path, wrong_output)
    wrong_error = "<!-- doc-test: raises KeyError -->\n```python\n1 / 0\n```\n"
    with pytest.raises(AssertionError, match="expected KeyError"):
        _page(tmp_path, wrong_error)
    with pytest.raises(ZeroDivisionError):
        _page(tmp_path, "```python\n1 / 0\n```\n")
    with pytest.raises(AssertionError, match="say why"):
        _page(tmp_path, "<!-- doc-test: skip -->\n```python\n1\n```\n")


def test_tutorial_and_howto_pages_have_code():
    """The pages that teach by example keep their examples (and so, their checks)."""
    for page in PAGES:
        if page.startswith(("tutorial/", "howto/")) and page != "tutorial/install.md":
            assert any(b.lang == "python" and b.marker is None for b in blocks(page)), page


def test_markers_are_well_formed():
    for page in PAGES:
        text = (DOCS / page).read_text(encoding="utf-8")
        for line in text.splitlines():
            if "doc-test" in line:
                assert MARKER.search(line), f"docs/{page}: malformed marker {line!r}"


def test_coverage_page_is_generated():
    """The table is not committed: the page holds the marker the build hook replaces."""
    text = (DOCS / "coverage.md").read_text(encoding="utf-8")
    assert "<!-- coverage-table -->" in text
    assert "| `np." not in text, "coverage.md must not hold a hand-copied table"


# Names that mean something only inside the project (its planning files, "the seed" code it
# started from), and Sphinx roles, which Markdown prints as literal text.
INTERNAL = re.compile(r"API\.md|DESIGN\.md|\bthe seed\b|\bseed's\b|DESIGN §|API §", re.IGNORECASE)
SPHINX_ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|mod|obj):(?:`|<code>)")


def test_pages_name_no_internal_files():
    """A reader of the docs (or the README) has no API.md, DESIGN.md or "seed" to look at."""
    offenders = []
    for path in [*DOCS.rglob("*.md"), ROOT / "README.md"]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if INTERNAL.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_site_has_no_button_to_another_project():
    """The repository button (mkdocs' repo_url) must lead to this project, not its origin."""
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    repo = re.findall(r"^repo_url:\s*(\S+)", config, re.M)
    assert not any("AutoGrad.jl" in url for url in repo), repo


def test_sphinx_roles_are_rendered_as_code():
    sys.path.insert(0, str(DOCS / "hooks"))
    try:
        from griffe_examples import render_roles
    finally:
        sys.path.remove(str(DOCS / "hooks"))
    text = "a :class:`Tape`, :func:`~minitorch_ag.api.diff` and :py:meth:`x.y`"
    assert render_roles(text) == "a ``Tape``, ``diff`` and ``x.y``"


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                    reason="mkdocs is not installed (pip install -e '.[docs]'; the dev extra "
                           "has it, so CI builds the docs)")
def test_mkdocs_build_strict(tmp_path):
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr

    sys.path.insert(0, str(ROOT))
    import minitorch_ag as ag

    report = ag.coverage()
    page = (site / "coverage" / "index.html").read_text(encoding="utf-8")
    assert str(report) in page
    names = re.findall(r"^\| `([^`]+)` \|", report.to_markdown(), re.MULTILINE)
    assert len(names) > 300, "the table lists every public NumPy function"
    for name in names:
        assert f"<code>{name}</code>" in page, name
    # the rendered pages, the API reference included (docstrings and all): no internal names,
    # no Sphinx roles printed as text, no button to AutoGrad.jl's repository
    for html in site.rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        where = html.relative_to(site)
        assert not INTERNAL.search(text), f"{where}: {INTERNAL.search(text)[0]!r}"
        assert not SPHINX_ROLE.search(text), f"{where}: {SPHINX_ROLE.search(text)[0]!r}"
        assert 'href="https://github.com/denizyuret/AutoGrad.jl" title="Go to repository"' \
            not in text and "md-source" not in text, f"{where}: a repository button"
    # everything public is in the API reference: each name of the packages' __all__, also
    # the functions made at import time (optim's sgd, adam, ...) and aliases (nn.Dense)
    import importlib

    ids = set()
    for html in (site / "reference").rglob("*.html"):
        ids |= {i.rsplit(".", 1)[-1] for i in
                re.findall(r'id="(minitorch_ag[\w.]*)"', html.read_text(encoding="utf-8"))}
    for package in ("minitorch_ag", "minitorch_ag.nn", "minitorch_ag.optim",
                    "minitorch_ag.datasets"):
        missing = [n for n in importlib.import_module(package).__all__ if n not in ids]
        assert not missing, f"{package}: not in the API reference: {missing}"
    reference = (site / "reference" / "core" / "index.html").read_text(encoding="utf-8")
    for name in ("api.diff", "api.grad", "api.gradloss", "api.params", "api.axpy_", "api.vjp",
                 "tensor.Param", "primitive.primitive", "tools.gradcheck.gradcheck"):
        assert f'id="minitorch_ag.{name}"' in reference, name
