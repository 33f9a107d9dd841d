"""The layers import one way (issue 20 item 7).

- The product (hub, edge_agent, models, contracts, provisioning, innsight) never imports the
  tests, the benchmarks or the test kit.
- Tests and benchmarks never import each other: what both need (real photos, harnesses,
  scratch databases, brokers) lives in ``testkit/``, which neither layer owns.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("hub", "edge_agent", "models", "contracts", "provisioning", "innsight")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(PRODUCT, ("tests", "benchmarks", "testkit")),
    "tests": ("benchmarks",),
    "benchmarks": ("tests",),
    "testkit": ("tests", "benchmarks"),
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def offences(package: str, banned: tuple[str, ...], root: Path = ROOT) -> list[str]:
    return [
        f"{path.relative_to(root)}:{line} imports {name}"
        for path in sorted((root / package).rglob("*.py"))
        for line, name in imported_modules(path)
        if name.split(".")[0] in banned
    ]


def test_every_layer_imports_only_downwards() -> None:
    assert all((ROOT / package).is_dir() for package in FORBIDDEN)
    found = [found for package, banned in FORBIDDEN.items() for found in offences(package, banned)]
    assert found == []


def test_the_rule_sees_a_forbidden_import(tmp_path: Path) -> None:
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "sample.py").write_text(
        "import json\nfrom tests.support.hub import hub_app\nimport testkit.photos\n"
    )
    assert offences("benchmarks", ("tests",), root=tmp_path) == [
        "benchmarks/sample.py:2 imports tests.support.hub"
    ]
