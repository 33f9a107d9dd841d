"""``innsight demo``: broker + hub + one edge agent on one machine, embedded defaults.

1. a Mosquitto on a free loopback port (an embedded amqtt broker when Mosquitto is absent);
2. the hub (SQLite, local object folder) serving its API on a free port, ingest connected;
3. a clip built from real photos shipped in packages (see :mod:`innsight.demo.clip`);
4. one person enrolled from one photo through ``POST /api/v1/cv/face/enroll``, after her
   consent is recorded (``POST /api/v1/privacy/consents``);
5. the edge agent replays the clip, waits for the hub's acks, stops;
6. the summary comes from the hub's REST API, i.e. from what was stored.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
from pydantic import SecretStr

from edge_agent.app import EdgeAgent
from edge_agent.config import CameraConfig, EdgeConfig, GalleryConfig, HubConfig, MqttConfig
from hub.api.app import create_app
from hub.auth.local import issue_admin_token, issue_local_token
from hub.auth.scopes import Scope
from hub.auth.tokens import TokenKind
from hub.serve import HubServerThread
from hub.settings import HubSettings
from innsight.broker import EmbeddedBroker, MosquittoBroker, free_port, mosquitto_binary
from innsight.demo import photos
from innsight.demo.clip import ClipManifest, build_clip

logger = logging.getLogger(__name__)

SITE = "demo"
DEVICE_ID = "edge-demo-01"
CAMERA_ID = "lobby"
ENROLLED_ID = "emp-astronaut"
ENROLLED_NAME = "Eileen Collins"


@dataclass(frozen=True)
class DemoOptions:
    once: bool = False
    json_output: bool = False
    data_dir: Path | None = None
    api_port: int | None = None
    broker: str = "auto"  # auto | mosquitto | embedded


class DemoError(RuntimeError):
    pass


def _enrol(client: httpx.Client) -> dict[str, Any]:
    ok, jpeg = cv2.imencode(".jpg", photos.astronaut_portrait(), [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise DemoError("could not encode the enrolment photo")
    # a face is enrolled only with a recorded consent (the notice signed on paper)
    consent = client.post(
        "/api/v1/privacy/consents",
        json={
            "employee_id": ENROLLED_ID,
            "purpose": "attendance",
            "notice_version": "face-v1",
            "notice_language": "en",
            "method": "signed_paper",
        },
    )
    if consent.status_code != 201:
        raise DemoError(f"recording the consent failed: {consent.status_code} {consent.text}")
    response = client.post(
        "/api/v1/cv/face/enroll",
        json={
            "employee_id": ENROLLED_ID,
            "images": [base64.b64encode(jpeg.tobytes()).decode()],
            "metadata": {"name": ENROLLED_NAME},
            "replace_existing": True,
        },
    )
    if response.status_code != 200:
        raise DemoError(f"enrolment failed: {response.status_code} {response.text}")
    body: dict[str, Any] = response.json()
    return body


def _stored_events(client: httpx.Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = client.get("/api/v1/events", params={"limit": 500, "offset": offset})
        page.raise_for_status()
        body = page.json()
        items.extend(body["items"])
        offset += len(body["items"])
        if not body["items"] or offset >= body["total"]:
            return items


def _summary(
    events: list[dict[str, Any]], manifest: ClipManifest, agent: EdgeAgent, elapsed_s: float
) -> dict[str, Any]:
    faces = [e for e in events if e["kind"] == "face"]
    counters = agent.cameras[CAMERA_ID]
    stats = counters.pipeline
    return {
        "events_stored": len(events),
        "recognized": sorted({e["person_id"] for e in faces if e["person_id"]}),
        "unknown_faces": sum(1 for e in faces if not e["person_id"]),
        "frames": counters.frames,
        "lost": max(manifest.appearances - len(faces), 0),
        "outbox_depth": agent.unacked_at_stop,
        "expected": {
            "appearances": manifest.appearances,
            "recognized": list(manifest.known_person_ids),
            "unknown_appearances": manifest.unknown_appearances,
        },
        "timing": {
            "elapsed_s": round(elapsed_s, 2),
            "frames_per_s": round(counters.frames / max(stats.detect_s + stats.embed_s, 1e-9), 2),
            "detect_s": round(stats.detect_s, 3),
            "embed_s": round(stats.embed_s, 3),
        },
        "events": [
            {k: e.get(k) for k in ("event_id", "person_id", "score", "started_at", "ended_at")}
            for e in faces
        ],
    }


def _print_human(summary: dict[str, Any], base_url: str, admin_token: str) -> None:
    print("innsight demo")
    print(f"  frames processed : {summary['frames']}")
    print(
        f"  events stored    : {summary['events_stored']} "
        f"(appearances in the clip: {summary['expected']['appearances']})"
    )
    print(f"  recognised       : {', '.join(summary['recognized']) or 'nobody'}")
    print(f"  unknown faces    : {summary['unknown_faces']}")
    print(f"  edge outbox      : {summary['outbox_depth']} unacked")
    print(f"  hub API          : {base_url}/docs  (events: {base_url}/api/v1/events)")
    print(f"  admin token      : {admin_token}")
    print("                     (send as 'Authorization: Bearer <token>', or paste it at")
    print("                      'Authorize' > BearerToken in /docs)")


def run_demo(options: DemoOptions) -> int:
    workdir = options.data_dir or Path(tempfile.mkdtemp(prefix="innsight-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    broker: MosquittoBroker | EmbeddedBroker
    use_mosquitto = options.broker == "mosquitto" or (
        options.broker == "auto" and mosquitto_binary() is not None
    )
    if use_mosquitto:
        broker = MosquittoBroker(workdir=workdir / "mosquitto")
    else:
        if options.broker == "auto":
            logger.warning("mosquitto not installed: using the embedded amqtt broker")
        broker = EmbeddedBroker()
    broker.start()
    started = time.monotonic()
    try:
        return _run(options, workdir, broker.host, broker.port, started)
    except (DemoError, photos.PhotoUnavailableError) as err:
        print(f"demo failed: {err}", file=sys.stderr)
        return 1
    finally:
        broker.stop()
        if options.data_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(
    options: DemoOptions, workdir: Path, mqtt_host: str, mqtt_port: int, started: float
) -> int:
    port = options.api_port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = HubSettings(
        data_dir=workdir / "hub",
        site=SITE,
        mqtt_host=mqtt_host,
        mqtt_port=mqtt_port,
        public_base_url=base_url,
        api_port=port,
    )
    manifest = build_clip(workdir / "clip.avi", ENROLLED_ID)
    admin_token = issue_admin_token(settings)
    # The demo's edge is not provisioned (no device token): it reads galleries with cv:read.
    edge_token = issue_local_token(
        settings, [Scope.CV_READ], subject=DEVICE_ID, kind=TokenKind.SERVICE, minutes=24 * 60
    )
    with (
        HubServerThread(create_app(settings), port=port) as hub,
        httpx.Client(
            base_url=hub.base_url,
            timeout=60.0,
            headers={"Authorization": f"Bearer {admin_token}"},
        ) as client,
    ):
        enrolment = _enrol(client)
        logger.info("enrolled %s: gallery v%s", ENROLLED_ID, enrolment.get("gallery_version"))
        agent = EdgeAgent(
            EdgeConfig(
                device_id=DEVICE_ID,
                site=SITE,
                data_dir=workdir / "edge",
                mqtt=MqttConfig(host=mqtt_host, port=mqtt_port),
                hub=HubConfig(url=base_url, token=SecretStr(edge_token)),
                cameras=[CameraConfig(id=CAMERA_ID, url=str(manifest.path))],
                gallery=GalleryConfig(wait_on_start_s=30.0),
            )
        )
        agent.start()
        if not agent.wait_for_gallery():
            agent.stop(drain_timeout_s=1.0)
            raise DemoError("the edge did not receive the gallery from the hub within 30 s")
        agent.start_cameras()
        agent.wait_cameras()
        drained = agent.stop(drain_timeout_s=30.0)
        summary = _summary(_stored_events(client), manifest, agent, time.monotonic() - started)
        summary["drained"] = drained
        if options.json_output:
            print(json.dumps(summary, indent=2))
        else:
            _print_human(summary, hub.base_url, admin_token)
        if not options.once:
            print("hub running; Ctrl-C to stop", file=sys.stderr)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return 0 if drained else 1
