"""MkDocs hook: write the NumPy coverage table into ``coverage.md`` at build time.

The table is ``minitorch_ag.coverage().to_markdown()``, computed from the registry of gradient
rules of the package being documented, so the published table can never go stale: no copy of
it is committed. ``coverage.md`` holds the marker ``<!-- coverage-table -->`` where it goes.
Run this file as a script to print the same table: ``python docs/hooks/coverage.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- coverage-table -->"
PAGE = "coverage.md"


def coverage_markdown() -> str:
    """The coverage report of the package in this repository, as a Markdown table."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import minitorch_ag as ag

    return ag.coverage().to_markdown()


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Replace the marker in ``coverage.md`` by the generated table (other pages unchanged)."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/{PAGE} must contain the marker {MARKER} for the coverage table")
    return markdown.replace(MARKER, coverage_markdown())


if __name__ == "__main__":
    print(coverage_markdown())
