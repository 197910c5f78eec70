"""The dependency rule of docs/architecture.md, checked on every import in src/topline."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "topline"
# Lower number = further right in the rule; a package may import only equal-or-lower layers
# (the same package always).
LAYERS = {
    "storage": 0,
    "audit": 0,
    "auth": 1,
    "crm": 2,
    "quotas": 3,
    "forecasting": 5,
    "access": 4,
    "demo": 4,
    "importers": 4,
    "exporters": 4,
    "analytics": 4,
    "scoring": 4,
    "web": 6,
    "cli": 6,
}
# Modules that sit lower than the rest of their package: the forecast call's record is read by
# the access rule and written by the demo, while the forecast engine builds on analytics and
# scoring.
MODULE_LAYERS = {"forecasting.models": 3}
SHARED = {"config", "errors", "clock", "money", "types", "__init__"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_dependency_rule(path: Path) -> None:
    parts = path.relative_to(SRC).with_suffix("").parts
    package = parts[0]
    if package in SHARED or path.name == "all_models.py":
        return
    own = MODULE_LAYERS.get(".".join(parts), LAYERS[package])
    for name in _imports(path):
        root = name.split(".")[0]
        if root in {"fastapi", "starlette"}:
            assert package == "web", f"{path.name} imports {name}: only web/ may use FastAPI"
        if root != "topline" or name.count(".") == 0:
            continue
        target = name.split(".")[1]
        if target in SHARED:
            continue
        module = ".".join(name.split(".")[1:3])
        assert MODULE_LAYERS.get(module, LAYERS[target]) <= own, (
            f"{path.relative_to(SRC)} imports {name}: against the rule"
        )
