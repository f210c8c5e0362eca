"""What a wheel carries besides code: the license, the type-hint marker, one version."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

import minitorch_ag as ag

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_license_is_mit_in_the_file_and_the_metadata():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in text
    assert PROJECT["license"] == "MIT"
    assert PROJECT["license-files"] == ["LICENSE"]


def test_the_package_is_marked_as_typed():
    assert (ROOT / "minitorch_ag" / "py.typed").is_file()
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "py.typed" in setuptools["package-data"]["minitorch_ag"]


def test_the_version_is_written_once_and_read_from_the_metadata():
    assert PROJECT["version"] not in (ROOT / "minitorch_ag" / "__init__.py").read_text()
    assert ag.__version__ == importlib.metadata.version("minitorch_ag") == PROJECT["version"]


@pytest.mark.parametrize("page", ["README.md", "docs/tutorial/install.md"])
def test_every_extra_is_explained(page):
    text = (ROOT / page).read_text()
    for extra in PROJECT["optional-dependencies"]:
        assert f"| `.[{extra}]` |" in text, f"{page} does not say what .[{extra}] installs"
