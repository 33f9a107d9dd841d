"""Edge → broker → hub as separate processes, started the way an operator starts them:
``innsight hub serve`` (settings from the environment) and ``innsight edge run --config FILE``."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import pytest

from hub.auth.local import issue_admin_token, issue_local_token
from hub.settings import HubSettings
from innsight.broker import MosquittoBroker, free_port
from innsight.demo import photos
from innsight.demo.clip import build_clip
from testkit.consent import record_consent

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SITE = "hotel-e2e"
DEVICE = "edge-e2e-01"
PERSON = "emp-0007"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "innsight", "--log-level", "warning", *args]


def _hub_data(tmp_path: Path) -> HubSettings:
    """Settings naming the hub process's data dir: tokens minted with them are signed with the
    JWT secret the hub keeps there (whoever comes first makes it)."""
    return HubSettings(data_dir=tmp_path / "hub", site=SITE)


def _admin(tmp_path: Path) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_admin_token(_hub_data(tmp_path))}"}


@pytest.fixture
def hub(tmp_path: Path, mosquitto: MosquittoBroker) -> Iterator[str]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "INNSIGHT_DATA_DIR": str(tmp_path / "hub"),
        "INNSIGHT_SITE": SITE,
        "INNSIGHT_MQTT_HOST": mosquitto.host,
        "INNSIGHT_MQTT_PORT": str(mosquitto.port),
        "INNSIGHT_PUBLIC_BASE_URL": base_url,
    }
    process = subprocess.Popen(
        _cli("hub", "serve", "--port", str(port)), env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                if httpx.get(f"{base_url}/api/v1/cv/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "hub did not answer within 60 s"
            time.sleep(0.3)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            # uvicorn shuts down gracefully, then re-raises SIGTERM: -15 is its clean exit
            assert process.wait(timeout=30) in (0, -signal.SIGTERM)
        finally:
            if process.poll() is None:
                process.kill()
            if process.stderr:
                process.stderr.close()


def _edge_config(tmp_path: Path, mosquitto: MosquittoBroker, hub_url: str, clip: Path) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(
        f"""\
device_id: {DEVICE}
site: {SITE}
data_dir: {tmp_path / "edge"}
mqtt:
  host: {mosquitto.host}
  port: {mosquitto.port}
hub:
  url: {hub_url}
  token: {issue_local_token(_hub_data(tmp_path), ["cv:read"], subject=DEVICE)}
cameras:
  - id: back-door
    url: {clip}
gallery:
  wait_on_start_s: 30
"""
    )
    return path


def test_hub_and_edge_processes(tmp_path: Path, mosquitto: MosquittoBroker, hub: str) -> None:
    ok, jpeg = cv2.imencode(".jpg", photos.astronaut_portrait())
    assert ok
    admin = _admin(tmp_path)
    with httpx.Client(base_url=hub, headers=admin, timeout=60) as client:
        record_consent(client, PERSON)
    enrolled = httpx.post(
        f"{hub}/api/v1/cv/face/enroll",
        headers=admin,
        json={
            "employee_id": PERSON,
            "name": "E. Collins",
            "images": [base64.b64encode(jpeg.tobytes()).decode()],
        },
        timeout=60,
    )
    assert enrolled.status_code == 200, enrolled.text
    manifest = build_clip(tmp_path / "clip.avi", PERSON)
    config = _edge_config(tmp_path, mosquitto, hub, manifest.path)

    checked = subprocess.run(
        _cli("edge", "check-config", str(config)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert "OK" in checked.stdout

    ran = subprocess.run(
        _cli("edge", "run", "--config", str(config), "--until-end"),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-4000:]

    events = httpx.get(
        f"{hub}/api/v1/events", params={"limit": 500}, headers=admin, timeout=10
    ).json()
    faces = [e for e in events["items"] if e["kind"] == "face"]
    assert events["total"] == len(faces) == manifest.appearances
    assert {e["person_id"] for e in faces} == {PERSON, None}
    assert sum(1 for e in faces if e["person_id"] is None) == manifest.unknown_appearances
    assert all(e["device_id"] == DEVICE and e["camera_id"] == "back-door" for e in faces)
    assert all(e["ended_at"] is not None for e in faces)

    devices = httpx.get(f"{hub}/api/v1/devices", headers=admin, timeout=10).json()["items"]
    (device,) = [d for d in devices if d["device_id"] == DEVICE]
    assert device["status"] == "stopped"  # clean shutdown, retained on the status topic
    assert device["missing"] == 0  # no seq gap: nothing lost between edge and hub


def test_check_config_points_at_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "device_id: edge-1\nsite: s\ncameras:\n  - id: cam\n    url: x.avi\n    fps: 5\n"
    )
    checked = subprocess.run(
        _cli("edge", "check-config", str(path)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 2
    assert f"{path}:6:5: cameras.0.fps: Extra inputs are not permitted" in checked.stderr
