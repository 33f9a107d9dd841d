"""DESIGN §3 rule 1: logic under hub/ never imports the HTTP layer (hub/api). Only the
composition roots that build and serve the app may: hub/serve.py."""

from __future__ import annotations

import ast
from pathlib import Path

HUB = Path(__file__).resolve().parents[2] / "hub"
COMPOSITION_ROOTS = frozenset({"serve.py"})  # builds and runs create_app()


def _imports(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def _is_http_layer(name: str) -> bool:
    return name == "hub.api" or name.startswith("hub.api.")


def test_logic_under_hub_never_imports_hub_api() -> None:
    modules = [
        p
        for p in sorted(HUB.rglob("*.py"))
        if p.relative_to(HUB).parts[0] != "api" and str(p.relative_to(HUB)) not in COMPOSITION_ROOTS
    ]
    assert len(modules) > 20  # the walk found the hub's packages
    offenders = [
        f"hub/{path.relative_to(HUB)}:{line} imports {name}"
        for path in modules
        for line, name in _imports(path)
        if _is_http_layer(name)
    ]
    assert offenders == []


def test_the_rule_sees_an_import_of_the_http_layer(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from hub.api.auth import Principal\nimport hub.api.app\nimport hub.db\n")
    assert [name for _line, name in _imports(sample) if _is_http_layer(name)] == [
        "hub.api.auth.Principal",
        "hub.api.app",
    ]
