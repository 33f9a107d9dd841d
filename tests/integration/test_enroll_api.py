"""Face enrolment over the real API with the dlib backend, gallery artefact and announcement."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from contracts.messages import GallerySnapshot, GalleryVersion
from hub.api.deps import FaceAnalyzerProvider
from innsight.broker import MosquittoBroker
from models.face_dlib import DlibFaceAnalyzer
from models.faces import FaceAnalyzer, ModelUnavailableError
from testkit.consent import record_consent
from testkit.hub import (
    DEVICE,
    SITE,
    RunningHub,
    hub_settings,
    mqtt_probe,
    running_hub,
    wait_until,
)

pytestmark = pytest.mark.integration

MAX_UPLOAD = 256 * 1024


def _encode(image_rgb: np.ndarray, ext: str = ".jpg") -> str:
    ok, encoded = cv2.imencode(ext, np.ascontiguousarray(image_rgb[:, :, ::-1]))
    assert ok
    return base64.b64encode(encoded.tobytes()).decode()


ASTRONAUT = skdata.astronaut()  # type: ignore[no-untyped-call]
HEAD_CROP = _encode(ASTRONAUT[0:260, 120:380])
MIRRORED_HEAD = _encode(np.ascontiguousarray(ASTRONAUT[0:260, 380:120:-1]))
NO_FACE = _encode(skdata.coffee())  # type: ignore[no-untyped-call]


@pytest.fixture(scope="module")
def analyzer() -> DlibFaceAnalyzer:
    return DlibFaceAnalyzer(upsample=1)


@pytest.fixture(scope="module")
def offline_hub(
    tmp_path_factory: pytest.TempPathFactory, analyzer: DlibFaceAnalyzer
) -> Iterator[RunningHub]:
    """A hub without MQTT, for the many bad-input cases."""
    settings = hub_settings(tmp_path_factory.mktemp("hub"), None, max_upload_bytes=MAX_UPLOAD)
    with running_hub(settings, face_analyzer=analyzer, start_ingest=False) as hub:
        for person in ("emp-100", "ghost-1"):  # the image checks come after the consent's
            record_consent(hub.http, person)
        yield hub


def _gallery(hub: RunningHub, which: str) -> tuple[bytes, str]:
    response = hub.http.get(f"/api/v1/cv/gallery/{which}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.content, response.headers["x-content-sha256"]


def _retained(broker: MosquittoBroker, topic: str) -> GalleryVersion:
    with mqtt_probe(broker, "gallery-probe") as probe:
        probe.subscribe(topic)
        message = probe.next_message()
        assert message.retain
        return GalleryVersion.model_validate_json(message.payload)


def test_enrol_publish_announce_and_revoke(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    settings = hub_settings(tmp_path / "hub", mosquitto)
    gallery_topic = f"innsight/{SITE}/{DEVICE}/gallery/version"
    with running_hub(settings) as hub:  # lazily loads the real dlib backend
        with mqtt_probe(mosquitto, "edge-probe") as edge:
            edge.publish(f"innsight/{SITE}/{DEVICE}/status", b"online", retain=True)
        wait_until(
            lambda: (
                [
                    d
                    for d in hub.http.get("/api/v1/devices").json()["items"]
                    if d["status"] == "online"
                ]
                or None
            ),
            what="the device to be known",
        )

        record_consent(hub.http, "emp-001")
        response = hub.http.post(
            "/api/v1/cv/face/enroll",
            json={"employee_id": "emp-001", "name": "Eileen Collins", "images": [HEAD_CROP]},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True
        assert body["employee_id"] == "emp-001"
        assert body["employee_created"] is True
        assert body["embeddings_created"] == 1
        assert len(body["quality_scores"]) == 1
        assert 0.0 < body["quality_scores"][0] <= 1.0
        assert body["warnings"] == []
        assert body["gallery_version"] == 1

        raw, sha = _gallery(hub, "latest")
        assert hashlib.sha256(raw).hexdigest() == sha
        assert _gallery(hub, "1") == (raw, sha)
        snapshot = GallerySnapshot.model_validate_json(raw)
        assert snapshot.version == 1
        assert snapshot.model_id == "dlib-resnet-v1"
        assert snapshot.dim == 128
        assert [p.person_id for p in snapshot.people] == ["emp-001"]
        vectors = np.frombuffer(base64.b64decode(snapshot.people[0].embeddings_b64), "<f4")
        assert vectors.shape == (128,)
        assert float(np.linalg.norm(vectors)) == pytest.approx(1.0, abs=1e-4)

        announced = _retained(mosquitto, gallery_topic)
        assert announced.version == 1
        assert announced.sha256 == sha
        assert announced.people == 1
        assert announced.url == f"{settings.public_base_url}/api/v1/cv/gallery/1"

        # A second photo of her (several faces of comparable size: see test_face_api.py).
        response = hub.http.post(
            "/api/v1/cv/face/enroll",
            json={"employee_id": "emp-001", "images": [MIRRORED_HEAD]},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["employee_created"] is False
        assert body["embeddings_created"] == 1
        assert body["warnings"] == []
        assert body["gallery_version"] == 2
        snapshot = GallerySnapshot.model_validate_json(_gallery(hub, "latest")[0])
        both = np.frombuffer(base64.b64decode(snapshot.people[0].embeddings_b64), "<f4")
        first, second = both.reshape(2, 128)
        assert float(first @ second) > 0.9  # the same face

        health = hub.http.get("/api/v1/cv/health").json()
        assert health["face_model"] == {
            "loaded": True,
            "model_id": "dlib-resnet-v1",
            "reason": None,
        }
        assert health["database"]["ok"] is True
        assert health["storage"]["ok"] is True
        assert health["ingest"] == {"enabled": True, "connected": True, "incompatible_edges": {}}
        assert health["gallery"]["version"] == 2
        assert health["status"] == "healthy"

        # Revocation: templates gone, new gallery without the person, announced.
        response = hub.http.delete("/api/v1/cv/face/emp-001")
        assert response.status_code == 200, response.text
        assert response.json()["embeddings_deleted"] == 2
        assert response.json()["gallery_version"] == 3
        snapshot = GallerySnapshot.model_validate_json(_gallery(hub, "latest")[0])
        assert snapshot.people == []
        announced = _retained(mosquitto, gallery_topic)
        assert (announced.version, announced.people) == (3, 0)

        missing = hub.http.get("/api/v1/cv/gallery/99")
        assert missing.status_code == 404
        assert missing.json()["errors"][0]["field"] == "version"
        assert hub.http.delete("/api/v1/cv/face/nobody").status_code == 404


def _png_1x1() -> str:
    ok, encoded = cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))
    assert ok
    return base64.b64encode(encoded.tobytes()).decode()


PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n").decode()
TEXT = base64.b64encode(b"hello, this is not an image at all").decode()
TRUNCATED_JPEG = base64.b64encode(base64.b64decode(HEAD_CROP)[:600]).decode()
OVERSIZE = base64.b64encode(b"\xff\xd8\xff\xe0" + bytes(MAX_UPLOAD + 10)).decode()


def _enrol(images: list[str], **extra: Any) -> dict[str, Any]:
    return {"employee_id": "emp-100", "name": "Test Person", "images": images, **extra}


BAD_INPUTS = [
    pytest.param(_enrol(["!!not base64!!"]), 422, "images[0]", "base64", id="not-base64"),
    pytest.param(_enrol([TEXT]), 415, "images[0]", "not a JPEG or PNG", id="not-an-image"),
    pytest.param(_enrol([_png_1x1()]), 422, "images[0]", "too small", id="1x1-png"),
    pytest.param(_enrol([PDF]), 415, "images[0]", "PDF", id="pdf-bytes"),
    pytest.param(_enrol([OVERSIZE]), 413, "images[0]", "larger than", id="oversize"),
    pytest.param(_enrol([TRUNCATED_JPEG]), 422, "images[0]", "decode", id="truncated-jpeg"),
    pytest.param(_enrol([HEAD_CROP, PDF]), 415, "images[1]", "PDF", id="second-image-bad"),
    pytest.param(_enrol([]), 422, "images", "at least 1", id="zero-images"),
    pytest.param(_enrol([HEAD_CROP] * 11), 422, "images", "at most 10", id="eleven-images"),
    pytest.param(
        {"employee_id": "ghost-1", "images": [HEAD_CROP]},
        404,
        "employee_id",
        "give metadata.name",
        id="unknown-employee-without-name",
    ),
    pytest.param(
        _enrol([HEAD_CROP], employee_id="../etc"),
        422,
        "employee_id",
        "pattern",
        id="bad-employee-id",
    ),
    pytest.param({"images": [HEAD_CROP]}, 422, "employee_id", "required", id="missing-id"),
    pytest.param(_enrol([HEAD_CROP], extra=1), 422, "extra", "not permitted", id="extra-field"),
    pytest.param(_enrol([NO_FACE]), 422, "images[0]", "no face", id="no-face"),
]


@pytest.mark.parametrize(("body", "status", "field", "reason"), BAD_INPUTS)
def test_bad_enrolment_inputs_are_4xx_with_reason(
    offline_hub: RunningHub, body: dict[str, Any], status: int, field: str, reason: str
) -> None:
    response = offline_hub.http.post("/api/v1/cv/face/enroll", json=body)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["detail"]
    assert any(
        e["field"] == field and reason.lower() in e["reason"].lower() for e in payload["errors"]
    ), payload


def test_malformed_json_body_is_422(offline_hub: RunningHub) -> None:
    response = offline_hub.http.post(
        "/api/v1/cv/face/enroll",
        content=b'{"employee_id": "emp-1", "images": [',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"]


def test_declared_body_over_limit_is_413(offline_hub: RunningHub) -> None:
    response = offline_hub.http.post(
        "/api/v1/cv/face/enroll",
        content=json.dumps(_enrol(["A" * (MAX_UPLOAD * 15)])).encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] == "body"


def test_nothing_was_stored_by_refused_requests(offline_hub: RunningHub) -> None:
    response = offline_hub.http.get("/api/v1/cv/gallery/latest")
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "version"
    health = offline_hub.http.get("/api/v1/cv/health").json()
    assert health["ingest"] == {"enabled": False, "connected": False, "incompatible_edges": {}}
    assert health["gallery"] is None


def _missing_model() -> FaceAnalyzer:
    raise ModelUnavailableError("dlib-resnet-v1: weights package missing (test)")


def test_missing_face_model_is_503_with_reason(tmp_path: Path) -> None:
    settings = hub_settings(tmp_path / "hub", None)
    with running_hub(settings, start_ingest=False) as hub:
        hub.app.state.hub.faces = FaceAnalyzerProvider(_missing_model)
        response = hub.http.post("/api/v1/cv/face/enroll", json=_enrol([HEAD_CROP]))
        assert response.status_code == 503
        assert "weights package missing" in response.json()["detail"]
        health = hub.http.get("/api/v1/cv/health").json()
        assert health["face_model"]["loaded"] is False
        assert "weights package missing" in health["face_model"]["reason"]
        assert health["status"] == "degraded"
        # the rest of the hub still answers
        assert hub.http.get("/api/v1/events").status_code == 200
