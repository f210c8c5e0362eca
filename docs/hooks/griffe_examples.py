"""Griffe extension: docstrings written for ``help()`` and Sphinx, rendered well by MkDocs.

- The package's Google-style docstrings title their runnable example ``Example:`` (singular).
  Griffe's Google parser knows only ``Examples:`` as an examples section and renders any other
  title as an admonition whose body is Markdown, where ``>>>`` lines become block quotes. This
  extension renames the title, so that the examples are shown as Python code.
- Some docstrings name other objects with Sphinx roles (``:class:`Tape```,
  ``:func:`~minitorch_ag.api.diff```). Markdown has no roles: the role would be printed as
  literal text. They become code spans of the name, as Sphinx shows them (``~`` keeps the
  last component only).

- Functions a module makes at import time (``optim.loops``'s ``sgd``, ``adam``, ... come from
  one factory) look like undocumented variables to griffe's static analysis, so the reference
  would leave them out. Each such variable whose imported value is a function of that module
  and name is replaced by the function as griffe's inspection sees it: signature and docstring.

It changes nothing but the rendering of the API reference.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator
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

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for module in _modules(pkg):
            _inspect_runtime_functions(module, self)


def _modules(module: griffe.Module) -> Iterator[griffe.Module]:
    yield module
    for member in module.members.values():
        if not member.is_alias and member.is_module:
            yield from _modules(member)


def _inspect_runtime_functions(module: griffe.Module, extension: ExampleSections) -> None:
    """Replace ``module``'s undocumented variables that hold its own functions (made by a
    factory at import time) with those functions, as inspecting the imported module sees them."""
    candidates = [name for name, member in module.members.items()
                  if not member.is_alias and member.is_attribute and member.docstring is None]
    if not candidates:
        return
    runtime = importlib.import_module(module.path)
    names = []
    for name in candidates:
        value = getattr(runtime, name, None)
        if (inspect.isfunction(value) and value.__module__ == module.path
                and value.__name__ == name and value.__doc__):
            names.append(name)
    if not names:
        return
    inspected = griffe.inspect(module.path, filepath=module.filepath)
    for name in names:
        function = inspected[name]
        if function.docstring is not None and module.docstring is not None:
            # dedented and parsed as the module's own docstrings are (Google style)
            function.docstring.value = inspect.cleandoc(function.docstring.value)
            function.docstring.parser = module.docstring.parser
            function.docstring.parser_options = module.docstring.parser_options
        extension.on_instance(obj=function)
        module.set_member(name, function)
