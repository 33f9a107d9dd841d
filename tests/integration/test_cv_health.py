"""GET /api/v1/cv/health (the seed's status/timestamp/version/checks, and our details: database,
storage, models, ONNX Runtime providers, GPU) and the CV service's Prometheus metrics on /metrics
and /api/v1/cv/metrics."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime

import cv2
import pytest

from hub.vision.gpu import gpu_memory, parse_nvidia_smi
from hub.vision.services import gpu_devices
from innsight.demo import photos
from models.face_dlib import DlibFaceAnalyzer
from models.session import available_providers
from testkit.hub import RunningHub, hub_settings, running_hub, scoped_headers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    settings = hub_settings(tmp_path_factory.mktemp("hub"), None)
    with running_hub(
        settings, face_analyzer=DlibFaceAnalyzer(upsample=1), start_ingest=False
    ) as running:
        yield running


def test_anonymous_callers_see_only_the_status(hub: RunningHub) -> None:
    response = hub.anonymous.get("/api/v1/cv/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["version"] == hub.app.version
    assert datetime.fromisoformat(body["timestamp"]).tzinfo is not None
    shown = {"status", "timestamp", "version"}
    assert all(value is None for key, value in body.items() if key not in shown)


def test_details_for_cv_read(hub: RunningHub) -> None:
    headers = scoped_headers(hub.settings, "cv:read")
    body = hub.anonymous.get("/api/v1/cv/health", headers=headers).json()
    assert body["status"] == "healthy"
    checks = body["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["database"]["latency_ms"] >= 0
    assert checks["vector_db"]["status"] == "ok"
    assert checks["vector_db"]["people"] == 0  # nobody enrolled
    assert checks["redis"]["status"] == "not_used"  # the hub has no Redis
    assert checks["redis"]["latency_ms"] == 0.0
    assert checks["storage"]["status"] == "ok"
    memory = gpu_memory()
    assert checks["gpu"]["status"] == memory.status
    assert checks["gpu"]["memory_total_mb"] == memory.total_mb
    assert checks["models"]["face_recognition"] == "loaded"
    assert checks["models"]["anomaly_detection"] == "loaded"  # health loads the detectors
    assert body["database"] == {"ok": True, "detail": None}
    assert body["storage"] == {"ok": True, "detail": None}
    assert body["face_model"] == {"loaded": True, "model_id": "dlib-resnet-v1", "reason": None}
    liveness = body["liveness_model"]
    if liveness["loaded"]:
        assert liveness["model_id"] == "minifasnet-v2"
    else:
        assert "minifasnet-v2" in liveness["reason"]
    hazards = body["hazard_models"]
    assert "pose-landmark-full" in hazards["loaded"]
    assert {"person", "fall"} <= set(hazards["kinds"])
    for other in ("image_model", "ocr_engines"):  # reported without loading them
        if body[other] is not None and not body[other]["loaded"]:
            assert body[other]["reason"]
    providers = available_providers()
    assert body["onnx_providers"] == providers
    assert "CPUExecutionProvider" in providers
    devices = gpu_devices()
    assert body["gpu"]["devices"] == devices
    assert body["gpu"]["available"] is bool(devices)
    assert "CPUExecutionProvider" not in body["gpu"]["providers"]
    assert body["ingest"] == {"enabled": False, "connected": False, "incompatible_edges": {}}


def test_metrics_count_recognitions_and_keep_the_http_names(hub: RunningHub) -> None:
    ok, encoded = cv2.imencode(".jpg", photos.tom_hanks())
    assert ok
    image = base64.b64encode(encoded.tobytes()).decode()
    for _ in range(2):
        response = hub.http.post("/api/v1/cv/face/recognize", json={"image": image})
        assert response.status_code == 200
        assert response.json()["status"] == "face_not_found"  # nobody is enrolled
    text = hub.anonymous.get("/metrics").text  # loopback: open by default
    assert 'innsight_cv_face_recognitions_total{status="face_not_found"} 2.0' in text
    assert "innsight_cv_faces_unknown_total 2.0" in text
    assert "innsight_cv_face_recognition_seconds_count 2.0" in text
    assert "innsight_cv_liveness_failures_total 0.0" in text
    assert (
        'innsight_http_requests_total{method="POST",route="/api/v1/cv/face/recognize",'
        'status="200"} 2.0'
    ) in text
    assert "innsight_http_request_duration_seconds_bucket" in text
    for name in (
        "innsight_cv_ocr_requests",
        "innsight_cv_image_search_requests",
        "innsight_cv_room_analyses",
        "innsight_cv_hazard_detections",
    ):
        assert f"# TYPE {name}" in text


def test_the_seed_metrics_are_served_on_the_cv_route(hub: RunningHub) -> None:
    ok, encoded = cv2.imencode(".jpg", photos.tom_hanks())
    assert ok
    image = base64.b64encode(encoded.tobytes()).decode()
    before = hub.anonymous.get("/api/v1/cv/metrics").text  # loopback: open by default
    response = hub.http.post("/api/v1/cv/face/recognize", json={"image": image})
    assert response.json()["status"] == "face_not_found"
    text = hub.anonymous.get("/api/v1/cv/metrics").text
    assert all(
        line.split("{")[0].split(" ")[0].startswith("cv_")
        for line in text.splitlines()
        if line and not line.startswith("#")
    )
    assert "innsight_" not in text
    failures = 'cv_face_recognition_total{status="failure"} '
    count = float(text.split(failures)[1].split()[0])
    assert count == float(before.split(failures)[1].split()[0]) + 1
    assert 'cv_face_recognition_total{status="success"} 0.0' in text
    assert 'cv_ocr_total{type="invoice"} 0.0' in text
    assert 'cv_model_loaded{model_name="face_recognition"} 1.0' in text
    assert "cv_face_recognition_duration_seconds_bucket" in text
    assert "# TYPE cv_gpu_memory_usage_bytes gauge" in text
    assert 'cv_face_recognition_total{status="failure"}' in hub.anonymous.get("/metrics").text


def test_nvidia_smi_output_is_summed_over_gpus() -> None:
    assert parse_nvidia_smi("4096, 8192\n1024, 16384\n") == (5120, 24576, 2)
    with pytest.raises(ValueError, match="no GPU"):
        parse_nvidia_smi("")
