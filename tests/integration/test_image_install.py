"""The hub image's install steps, run for real without Docker: the source tree as the build
context sees it (through .dockerignore), ``scripts/image-install.sh`` — the very script the
Dockerfile RUNs — into a fresh venv, then that venv's ``innsight hub serve`` answers
/api/v1/cv/health (the image's HEALTHCHECK) and the packaged models are in place.

Slow by nature (a whole ``innsight[hub]`` install, 1.3 GB): marked ``slow``, which CI runs.
Measured 2026-12-07: the install 895 s, the test 947 s, on 2 cores shared with other jobs (load
average ~10), the wheels served locally (pip's own index / find-links settings apply, as in a
build). The exporters' torch venv and exports are cached under ~/.cache/innsight and reused.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from innsight.broker import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(2400)]

ROOT = Path(__file__).resolve().parents[2]
EXPORTED_MODELS = ("efficientnet-lite0", "fire-yolov8-flame")


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _build_context(target: Path) -> Path:
    """Copy the tree as Docker would send it: every .dockerignore pattern left out."""
    patterns = _dockerignore()

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set()
        for name in names:
            rel = os.path.relpath(os.path.join(folder, name), ROOT)
            for pattern in patterns:
                if fnmatch.fnmatch(rel, pattern) or (
                    pattern.startswith("**/") and fnmatch.fnmatch(name, pattern[3:])
                ):
                    skipped.add(name)
        return skipped

    shutil.copytree(ROOT, target, ignore=ignore, symlinks=True)
    return target


def test_image_install_steps_then_health(tmp_path: Path) -> None:
    context = _build_context(tmp_path / "src")
    assert (context / "scripts" / "image-install.sh").is_file()
    assert not (context / ".venv").exists()
    assert not (context / "tests").exists()
    venv = tmp_path / "venv"
    models = tmp_path / "models"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INNSIGHT_", "VIRTUAL_ENV"))}
    env.update(INNSIGHT_MODELS_DIR=str(models), PYTHON=sys.executable)
    # the same steps; only pip's byte-compilation of ~1 GB of packages is left out here (an
    # image compiles them once at build time; in CI it would double the install time)
    env.setdefault("PIP_NO_COMPILE", "1")
    started = time.monotonic()
    install = subprocess.run(
        ["sh", str(context / "scripts" / "image-install.sh"), str(venv), str(context), "hub"],
        cwd=context,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    took = time.monotonic() - started
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-5000:]
    sys.stderr.write(f"image-install.sh took {took:.0f} s\n")
    # its last step prints the version the package metadata gives
    assert install.stdout.strip().splitlines()[-1].startswith("innsight ")
    for model_id in EXPORTED_MODELS:
        assert list((models / model_id).glob("*.onnx")), f"{model_id} not prepared"
    # a fresh venv: innsight comes from the copied context, not this checkout
    located = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import hub; print(hub.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert str(venv) in located.stdout, located.stdout

    port = free_port()
    data = tmp_path / "data"
    serve_env = {
        **env,
        "INNSIGHT_DATA_DIR": str(data),
        "INNSIGHT_MQTT_ENABLED": "false",
        "INNSIGHT_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    log = tmp_path / "hub.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(venv / "bin" / "innsight"), "hub", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=serve_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    health = httpx.get(f"http://127.0.0.1:{port}/api/v1/cv/health", timeout=3)
                    if health.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
            assert health.json()["status"] in ("healthy", "degraded"), health.text
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            finally:
                if process.poll() is None:
                    process.kill()
