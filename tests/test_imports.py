"""The direction of imports (DESIGN.md §2), read from the source of every module.

Imports run one way through the core (backend, device, sparse, registry, tape, tensor, inplace,
primitive, walk, api, serialization: each imports only modules before it); rules files and
``nn`` import only the rule author's surface (``primitive``), ``backend`` and their own
siblings; nothing but the package's ``__init__`` imports the tools; only ``backend`` mentions
CuPy. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "minitorch_ag"

# The core, bottom first: each module may import only those before it.
CORE = ["backend", "device", "sparse", "registry", "tape", "tensor", "inplace", "primitive",
        "walk", "api", "serialization", "forward", "jacobians", "checkpoint", "numpy"]

# Subpackages: the package modules each may import besides its own (None: no limit).
SUBPACKAGES: dict[str, set[str] | None] = {
    "rules": {"primitive", "backend"},
    "nn": {"primitive", "backend", "walk"},  # walk: the Params a model holds (nn.summary)
    "optim": {"api", "backend", "sparse", "tape", "tensor"},
    "datasets": {"backend", "device"},
    "tools": None,
    # codegen: traces with the recording machinery, checks against recording (api), walks
    # what a function reaches (walk)
    "codegen": {"api", "walk", "backend", "registry", "tape", "tensor", "sparse"},
}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of everything ``path`` imports (``from . import x`` gives ``pkg.x``)."""
    name = _name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if node.module is None:  # from . import x: x is a module of that package
                found.update(f"{module}.{a.name}" for a in node.names)
            found.add(module)
    return found


def _internal(names: set[str]) -> set[str]:
    """The package's own modules among ``names``, as ``part`` or ``subpackage``."""
    out = set()
    for n in names:
        parts = n.split(".")
        if parts[0] == "minitorch_ag" and len(parts) > 1:
            out.add(parts[1])
    return out


def _where(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layout(path):
    where = _where(path)
    imported = _imports(path)
    internal = _internal(imported) - {where}
    if where == "__init__":
        return  # the package's face re-exports every part
    if where in CORE:
        earlier = set(CORE[: CORE.index(where)])
        assert internal <= earlier, (
            f"{where}.py imports {sorted(internal - earlier)}, which come after it (or are not "
            f"core): imports run {' <- '.join(CORE)}"
        )
    elif where in SUBPACKAGES:
        allowed = SUBPACKAGES[where]
        if allowed is not None:
            assert internal <= allowed, (
                f"{path.relative_to(PACKAGE)} imports {sorted(internal - allowed)}; "
                f"{where}/ may import only {sorted(allowed)} and its own modules"
            )
    assert "tools" not in internal, f"{path.relative_to(PACKAGE)}: only __init__ imports tools"
    if where != "backend":
        assert not any(n.split(".")[0] in ("cupy", "cupyx") for n in imported), (
            f"{path.relative_to(PACKAGE)} imports CuPy: only backend.py may"
        )


def test_the_checker_sees_imports_of_every_form(tmp_path):
    """``_imports`` resolves relative imports at any depth, and ``from . import x``."""
    rules = PACKAGE / "rules" / "indexing.py"
    names = _imports(rules)
    assert "minitorch_ag.primitive" in names and "minitorch_ag.backend" in names
    assert _internal(_imports(PACKAGE / "tools" / "_switch.py")) >= {"api", "registry", "tensor"}
    assert _where(rules) == "rules" and _where(PACKAGE / "tensor.py") == "tensor"
