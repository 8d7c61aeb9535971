"""Imports point one way: data/config -> models -> training -> run -> explain -> report -> demo -> cli.

Every ``import`` in the package (at module level or inside a function) is read with ``ast``; a module
may import its own layer or a lower one, never a higher one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import stylex

PACKAGE = Path(stylex.__file__).resolve().parent

# Lowest first. The package root only holds __version__ and lazy re-exports (its own imports are exempt).
LAYERS = [
    ("base", {"errors", "atomic", "device", "paths"}),
    ("data", {"data"}),
    ("models", {"models"}),
    ("training", {"training"}),
    ("run", {"trained_run"}),
    ("explain", {"explain"}),
    ("report", {"report"}),
    ("demo", {"demo"}),
    ("cli", {"cli", "commands", "__main__"}),
]
RANK = {part: i for i, (_, parts) in enumerate(LAYERS) for part in parts}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    """Rank of a ``stylex.*`` module; None for the package root and for outside modules."""
    parts = module.split(".")
    if parts[0] != "stylex" or len(parts) == 1:
        return None
    if parts[1] not in RANK and not (PACKAGE / parts[1]).is_dir() and not (PACKAGE / f"{parts[1]}.py").is_file():
        return None  # a name defined in the package root (__version__), not a module
    if parts[1] not in RANK:
        raise AssertionError(f"{module}: add its top-level name to LAYERS in {__file__}")
    return RANK[parts[1]]


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every import in ``source`` (relative imports resolved)."""
    out = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from . import x` / `from .. import trained_run`: the names may be modules themselves
            out += [(node.lineno, target)] + [(node.lineno, f"{target}.{a.name}") for a in node.names]
    return out


def upward_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """Imports in ``source`` (the text of ``module``) of a higher layer than ``module``'s own."""
    own = layer_of(module)
    if own is None:
        return []
    bad = []
    for line, target in imported_modules(source, module, is_package):
        rank = layer_of(target)
        if rank is not None and rank > own:
            bad.append(f"{module}:{line} imports {target} ({LAYERS[rank][0]} is above {LAYERS[own][0]})")
    return bad


def test_no_module_imports_a_higher_layer():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        bad += upward_imports(path.read_text(), module_name(path), path.name == "__init__.py")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_the_check_finds_an_upward_import():
    # a module-level and a deferred (function-level) import, absolute and relative
    assert upward_imports("from ..training.loop import train\n", "stylex.models.generator")
    assert upward_imports("def f():\n    from ..trained_run import load_run\n", "stylex.training.loop")
    assert upward_imports("import stylex.report.build\n", "stylex.explain.pipeline")
    assert upward_imports("from .. import demo\n", "stylex.data.dataset")
    assert upward_imports("from . import userstudy\n", "stylex.report", is_package=True) == []
    assert upward_imports("from ..models.config import NetworkConfig\n", "stylex.training.config") == []
    assert upward_imports("from .. import __version__\n", "stylex.training.config") == []
