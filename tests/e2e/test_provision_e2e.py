"""Provisioning end to end, as an operator does it: ``innsight provision init-site``, a broker
from the generated config, ``innsight hub serve`` with the hub credentials init-site wrote,
``innsight provision enroll`` on that fresh hub, then ``innsight edge run --config BUNDLE``: the
edge connects over TLS with its bundle alone, and its events reach the hub's database."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from innsight.broker import free_port, mosquitto_binary
from innsight.demo.clip import build_clip
from models.registry import MODELS_DIR_ENV, default_models_dir
from provisioning.site import SitePaths
from testkit.provisioning import SiteBroker

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SITE = "hotel-e2e-prov"
DEVICE = "edge-prov-01"


def _cli(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "innsight", "--log-level", "warning", *(str(a) for a in args)]


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs if not key.startswith("#")}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    api_port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("INNSIGHT_")}
    base.pop("DATABASE_URL", None)
    return {
        **base,
        "INNSIGHT_DATA_DIR": str(tmp_path / "hub"),
        "INNSIGHT_SITE": SITE,
        "INNSIGHT_API_PORT": str(api_port),
        "INNSIGHT_PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
    }


@pytest.fixture
def site(tmp_path: Path, env: dict[str, str]) -> Iterator[SiteBroker]:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    paths = SitePaths(tmp_path / "site")
    subprocess.run(
        _cli(
            "provision", "init-site", "--site", SITE, "--dir", paths.root,
            "--broker-host", "127.0.0.1", "--broker-port", str(free_port()),
            "--local-port", str(free_port()), "--listen-address", "127.0.0.1",
        ),
        env=env, check=True, timeout=60, capture_output=True,
    )  # fmt: skip
    broker = SiteBroker(paths, paths.load_info())
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def hub(tmp_path: Path, env: dict[str, str], site: SiteBroker) -> Iterator[str]:
    hub_env = {**env, **_env_file(site.paths.hub_env)}  # INNSIGHT_MQTT_* for the hub's user
    base_url = env["INNSIGHT_PUBLIC_BASE_URL"]
    log = (tmp_path / "hub.log").open("w")
    process = subprocess.Popen(_cli("hub", "serve"), env=hub_env, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "hub.log").read_text()
            try:
                if httpx.get(f"{base_url}/api/v1/cv/health", timeout=2).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "hub did not answer within 60 s"
            time.sleep(0.3)
        hub_user = f"u'{hub_env['INNSIGHT_MQTT_USERNAME']}'"
        while hub_user not in site.log():  # its ingest logged in on the loopback listener
            assert time.monotonic() < deadline, f"hub never connected: {site.log()[-2000:]}"
            time.sleep(0.1)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
            log.close()


def test_enroll_then_edge_run_with_the_bundle(
    tmp_path: Path, env: dict[str, str], site: SiteBroker, hub: str
) -> None:
    manifest = build_clip(tmp_path / "clip.avi", "emp-0001")
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text(
        f"cameras:\n  - id: back-door\n    url: {manifest.path}\ndata_dir: {tmp_path / 'edge'}\n"
    )
    bundle = tmp_path / f"{DEVICE}.bundle.yaml"
    enrolled = subprocess.run(
        _cli(
            "provision", "enroll", DEVICE, "--site", SITE, "--dir", site.paths.root,
            "--cameras", cameras, "--out", bundle,
        ),
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    assert f"written to {bundle}" in enrolled.stdout
    assert "reloaded" in enrolled.stdout  # the running broker took the new credentials

    edge_env = {k: v for k, v in env.items() if not k.startswith("INNSIGHT_")}
    # the models are the installation's (where `models fetch` put them), not the bundle's
    edge_env[MODELS_DIR_ENV] = str(default_models_dir().resolve())
    ran = subprocess.run(
        _cli("edge", "run", "--config", bundle, "--until-end"),
        env=edge_env, capture_output=True, text=True, timeout=240, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-4000:]
    password = next(
        line.split(":", 1)[1].strip()
        for line in bundle.read_text().splitlines()
        if line.strip().startswith("password:")
    )
    assert password not in ran.stderr + enrolled.stdout + enrolled.stderr + site.log()

    with sqlite3.connect(tmp_path / "hub" / "hub.db") as db:
        events = db.execute(
            "SELECT device_id, camera_id, person_id, ended_at FROM events WHERE kind = 'face'"
        ).fetchall()
        device = db.execute(
            "SELECT status, enrolled_at, revoked_at, token_hash FROM devices WHERE device_id = ?",
            (DEVICE,),
        ).fetchone()
    assert len(events) == manifest.appearances
    assert all(e[0] == DEVICE and e[1] == "back-door" and e[3] is not None for e in events)
    assert all(e[2] is None for e in events)  # no gallery was published: every face unknown
    status, enrolled_at, revoked_at, token_hash = device
    assert status == "stopped"  # its clean shutdown reached the hub over the ACL'd topic
    assert enrolled_at is not None
    assert revoked_at is None
    assert len(token_hash) == 64
