"""Issue 17, the edge-side half: a replayed photo in front of an attendance camera, through
the real processes (``innsight hub serve``, ``innsight edge run`` with the real dlib pipeline
and liveness, Mosquitto), checks nobody in.

The clip is innsight's demo clip: still photos (the enrolled astronaut's portrait among them)
moved and scaled across the frame, i.e. a printed-photo replay; no blink or parallax ever
happens in it. The camera's edge config gets liveness ``require`` exactly as provisioning
writes it for the hub's attendance cameras (provisioning.bundle.with_attendance_liveness), and
the hub counts attendance from that camera (INNSIGHT_ATTENDANCE_CAMERAS). The live half (a
``live`` face checks in) is tests/e2e/test_attendance_liveness_e2e.py: no recording of a real
live person exists in this environment to replay through the edge."""

from __future__ import annotations

import base64
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import cv2
import httpx
import pytest
import yaml

from hub.auth.local import issue_admin_token, issue_local_token
from hub.settings import HubSettings
from innsight.broker import MosquittoBroker, free_port
from innsight.demo import photos
from innsight.demo.clip import build_clip
from provisioning.bundle import with_attendance_liveness
from testkit.consent import record_consent

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SITE = "hotel-e2e"
DEVICE = "edge-e2e-01"
PERSON = "emp-0007"
CAMERA = "staff-door"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "innsight", "--log-level", "warning", *args]


def _hub_data(tmp_path: Path) -> HubSettings:
    return HubSettings(data_dir=tmp_path / "hub", site=SITE)


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
        "INNSIGHT_ATTENDANCE_CAMERAS": CAMERA,
    }
    env.pop("INNSIGHT_DATABASE_URL", None)
    env.pop("DATABASE_URL", None)
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
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
            if process.stderr:
                process.stderr.close()


def _edge_config(tmp_path: Path, mosquitto: MosquittoBroker, hub_url: str, clip: Path) -> Path:
    settings = with_attendance_liveness({"cameras": [{"id": CAMERA, "url": str(clip)}]}, [CAMERA])
    config = {
        "device_id": DEVICE,
        "site": SITE,
        "data_dir": str(tmp_path / "edge"),
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port},
        "hub": {
            "url": hub_url,
            "token": issue_local_token(_hub_data(tmp_path), ["cv:read"], subject=DEVICE),
        },
        "gallery": {"wait_on_start_s": 30},
        **settings,
    }
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_a_replayed_photo_at_an_attendance_camera_checks_nobody_in(
    tmp_path: Path, mosquitto: MosquittoBroker, hub: str
) -> None:
    ok, jpeg = cv2.imencode(".jpg", photos.astronaut_portrait())
    assert ok
    admin = {"Authorization": f"Bearer {issue_admin_token(_hub_data(tmp_path))}"}
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
    assert len(faces) == manifest.appearances  # the edge saw every face and the hub has them
    assert all(e["camera_id"] == CAMERA for e in faces)
    assert all(e["liveness"] != "live" for e in faces)  # a photo never passes liveness
    assert all(e["person_id"] is None for e in faces)  # require: a not-live track is unnamed
    time.sleep(1.0)  # the attendance step runs right after the ingest's ack
    with closing(sqlite3.connect(tmp_path / "hub" / "hub.db")) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM attendance_logs").fetchone()
    assert count == 0
