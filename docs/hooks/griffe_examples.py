"""Griffe extension: read the package's ``Example:`` sections as doctest examples.

The package's Google-style docstrings title their runnable example ``Example:`` (singular).
Griffe's Google parser knows only ``Examples:`` as an examples section and renders any other
title as an admonition whose body is Markdown, where ``>>>`` lines become block quotes. This
extension renames the title on the docstrings it loads, so that the examples are shown as
Python code. It changes nothing but the rendering of the API reference.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` section titles to ``Examples:`` before the docstrings are parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is not None and "Example:" in docstring.value:
            docstring.value = _EXAMPLE.sub(r"\1Examples:", docstring.value)
