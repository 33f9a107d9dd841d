"""Bad input on every image endpoint of this service (face recognise/enrol, room reference and
analysis, hazard detection and camera references, OCR; image search has its own in
test_image_search_api.py): not base64, not an image, a 40 MB image, a 1x1 image, a PDF, a
truncated JPEG, an empty or mistyped field -> a 4xx whose body names the field and the reason,
never a 500."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np
import pytest

from models.face_dlib import DlibFaceAnalyzer
from testkit.consent import record_consent
from testkit.hub import RunningHub, hub_settings, running_hub

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MAX_UPLOAD = 10 * 1024 * 1024  # the hub's default per-image limit


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _png(image: np.ndarray, compression: int = 3) -> bytes:
    ok, encoded = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    assert ok
    return encoded.tobytes()


def _forty_megabytes() -> str:
    """A real PNG of 40 MB (noise does not compress)."""
    noise = np.random.default_rng(5).integers(0, 256, size=(3652, 3652, 3), dtype=np.uint8)
    data = _png(noise, compression=0)
    assert len(data) >= 40_000_000
    return _b64(data)


GOOD = np.random.default_rng(1).integers(0, 256, size=(200, 200, 3), dtype=np.uint8)
_jpeg_ok, _jpeg = cv2.imencode(".jpg", GOOD)
JPEG = _jpeg.tobytes()
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n"
BIG = _forty_megabytes()

# (request id, status, reason fragment, the image value)
CASES: list[tuple[str, int, str, Any]] = [
    ("not-base64", 422, "base64", "!!! this is not base64 !!!"),
    ("not-an-image", 415, "not a JPEG or PNG", _b64(b"hello, this is plain text, not pixels")),
    ("40-MB-image", 413, "larger than", BIG),
    ("1x1-image", 422, "too small", _b64(_png(np.zeros((1, 1, 3), np.uint8)))),
    ("pdf", 415, "PDF", _b64(PDF)),
    ("truncated-jpeg", 422, "decode", _b64(JPEG[:300])),
    ("empty", 422, "at least 1 character|the image is empty", ""),
    ("number", 422, "string", 12345),
]

REGION = {"name": "bed", "kind": "bed", "x": 0.0, "y": 0.0, "w": 0.5, "h": 0.5}
Endpoint = tuple[str, str, Callable[[Any], dict[str, Any]], str]
ENDPOINTS: list[Endpoint] = [
    ("POST", "/api/v1/cv/face/recognize", lambda image: {"image": image}, "image"),
    (
        "POST",
        "/api/v1/cv/face/enroll",
        lambda image: {"employee_id": "emp-bad", "name": "Bad Input", "images": [image]},
        "images[0]",
    ),
    (
        "POST",
        "/api/v1/cv/room/analyze",
        lambda image: {"room_number": "101", "image": image},
        "image",
    ),
    (
        "PUT",
        "/api/v1/cv/room/reference/double",
        lambda image: {"image": image, "regions": [REGION]},
        "image",
    ),
    ("POST", "/api/v1/cv/anomaly/detect", lambda image: {"image": image}, "image"),
    ("PUT", "/api/v1/cv/anomaly/reference/cam_bad", lambda image: {"image": image}, "image"),
    ("POST", "/api/v1/cv/ocr/invoice", lambda image: {"image": image, "language": "vi"}, "image"),
    (
        "POST",
        "/api/v1/cv/ocr/id",
        lambda image: {"image": image, "document_type": "id_card", "country": "VN"},
        "image",
    ),
]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    settings = hub_settings(tmp_path_factory.mktemp("hub"), None, max_upload_bytes=MAX_UPLOAD)
    with running_hub(
        settings, face_analyzer=DlibFaceAnalyzer(upsample=0), start_ingest=False
    ) as running:
        record_consent(running.http, "emp-bad")  # the image checks come after the consent's
        yield running


@pytest.mark.parametrize(
    "endpoint",
    ENDPOINTS,
    ids=[f"{method} {path.rsplit('/cv/', 1)[1]}" for method, path, _, _ in ENDPOINTS],
)
@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_image_is_4xx_with_reason(
    hub: RunningHub, endpoint: Endpoint, case: tuple[str, int, str, Any]
) -> None:
    method, path, body, field = endpoint
    _name, status, reason, image = case
    response = hub.http.request(method, path, json=body(image))
    assert response.status_code == status, response.text[:500]
    payload = response.json()
    assert payload["detail"]
    fields = [e["field"] for e in payload["errors"]]
    reasons = reason.lower().split("|")
    assert any(
        e["field"] == field and any(r in e["reason"].lower() for r in reasons)
        for e in payload["errors"]
    ), (fields, payload["detail"][:300])


@pytest.mark.parametrize(
    "endpoint",
    ENDPOINTS,
    ids=[f"{method} {path.rsplit('/cv/', 1)[1]}" for method, path, _, _ in ENDPOINTS],
)
def test_malformed_json_and_unknown_fields(hub: RunningHub, endpoint: Endpoint) -> None:
    method, path, body, _field = endpoint
    response = hub.http.request(
        method, path, content=b'{"image": "abc', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"]
    response = hub.http.request(method, path, json={**body(_b64(JPEG)), "surprise": 1})
    assert response.status_code == 422
    assert any(e["field"] == "surprise" for e in response.json()["errors"])
