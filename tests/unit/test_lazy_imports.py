"""The heavy libraries load when their work first runs, not with every ``innsight`` process: the
CLI's parser loads none of the hub, and importing the hub's app and building it (without its
lifespan) loads neither LangChain/LangGraph (the assistant's first question does) nor pandas (the
ML work does). One subprocess, so that nothing this test session imported counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
found = {}

def loaded(names):
    return sorted(n for n in names if n in sys.modules)

from innsight.cli import build_parser
build_parser()
found["parser"] = loaded(%(parser)r)

import hub.api.app
found["import"] = loaded(%(app)r)

from hub.settings import HubSettings
settings = HubSettings.model_validate({"data_dir": sys.argv[1], "mqtt_enabled": False})
hub.api.app.create_app(settings)
found["create_app"] = loaded(%(app)r)
print(json.dumps(found))
"""

# what the CLI's parser must not load: the hub, its database stack, asyncio
PARSER_LAZY = ("asyncio", "pydantic", "sqlalchemy", "alembic", "hub.tables", "numpy", "yaml")
# what the hub's app must not load before it is used
APP_LAZY = (
    "langchain_core",
    "langgraph",
    "langsmith",
    "langchain_ollama",
    "hub.assistant.graph",
    "httpx",
    "pandas",
    "matplotlib",
    "lightgbm",
    "sklearn",
)


def test_heavy_libraries_load_on_first_use(tmp_path: Path) -> None:
    code = PROBE % {"parser": PARSER_LAZY, "app": APP_LAZY}
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {"parser": [], "import": [], "create_app": []}
