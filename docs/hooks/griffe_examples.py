"""Griffe extension: docstrings written for ``help()`` and Sphinx, rendered well by MkDocs.

- The package's Google-style docstrings title their runnable example ``Example:`` (singular).
  Griffe's Google parser knows only ``Examples:`` as an examples section and renders any other
  title as an admonition whose body is Markdown, where ``>>>`` lines become block quotes. This
  extension renames the title, so that the examples are shown as Python code.
- Some docstrings name other objects with Sphinx roles (``:class:`Tape```,
  ``:func:`~minitorch_ag.api.diff```). Markdown has no roles: the role would be printed as
  literal text. They become code spans of the name, as Sphinx shows them (``~`` keeps the
  last component only).

It changes nothing but the rendering of the API reference.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|exc|mod|obj|const):`(~?)([^`]+)`")


def _code(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"``{target.rsplit('.', 1)[-1] if tilde else target}``"


def render_roles(text: str) -> str:
    """``text`` with each Sphinx role replaced by a code span of the name it refers to."""
    return _ROLE.sub(_code, text)


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` section titles to ``Examples:`` and render Sphinx roles as code,
    before the docstrings are parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is None:
            return
        if "Example:" in docstring.value:
            docstring.value = _EXAMPLE.sub(r"\1Examples:", docstring.value)
        if "`" in docstring.value:
            docstring.value = render_roles(docstring.value)
