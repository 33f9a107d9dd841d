"""The CompreFace-compatible REST API (issue 19 item 1, docs/compreface.md) against a real hub
(real dlib models, real SQLite, packaged photos).

The requests Double Take's CompreFace detector makes (api/src/util/detectors/compreface.js) are
replayed as it sends them: ``train`` (multipart ``file``, ``?subject=``), ``recognize``
(``?face_plugins=undefined`` when its option is unset, ``det_prob_threshold=0.8``) and
``remove`` (``DELETE /faces?subject=``); its ``normalize`` reads ``result[].subjects[0]``,
``box.{x_min,y_min,x_max,y_max}`` and, on an error body, ``code == 28``. Every route is checked
field by field, with its errors in CompreFace's shape ``{"message", "code"}``.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from hub.api.app import create_app
from hub.settings import HubSettings
from innsight.demo import photos
from models.face_dlib import DlibFaceAnalyzer
from models.faces import Image
from testkit.consent import record_consent
from testkit.hub import RunningHub, hub_settings, running_hub

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

API = "/api/v1"
EILEEN, TOM, NO_CONSENT = "E100", "E200", "E300"
BOX_FIELDS = {"probability", "x_max", "y_max", "x_min", "y_min"}


def _jpeg(image: Image) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return encoded.tobytes()


PORTRAIT = _jpeg(photos.astronaut_portrait())
FLIPPED = _jpeg(np.ascontiguousarray(photos.astronaut_portrait()[:, ::-1]))
# her face and, below it, a suit patch dlib takes for a weak face (probability ~0.57)
SCENE = _jpeg(np.ascontiguousarray(photos.astronaut()[40:440, 100:300]))
HANKS = _jpeg(photos.tom_hanks())
BLANK = _jpeg(np.full((200, 200, 3), 128, dtype=np.uint8))


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    settings = hub_settings(tmp_path_factory.mktemp("hub"), None, compat_compreface=True)
    with running_hub(
        settings, face_analyzer=DlibFaceAnalyzer(upsample=1), start_ingest=False
    ) as running:
        for employee_id, name in ((EILEEN, "Eileen"), (TOM, "Tom"), (NO_CONSENT, "Nobody")):
            made = running.http.post(
                f"{API}/hotel/employees", json={"employee_id": employee_id, "name": name}
            )
            assert made.status_code == 201, made.text
        record_consent(running.http, EILEEN)
        record_consent(running.http, TOM)
        yield running


def _key(hub: RunningHub, service: str | None, *scopes: str) -> str:
    body: dict[str, Any] = {"name": f"compreface {service}", "scopes": list(scopes)}
    if service is not None:
        body["service"] = service
    made = hub.http.post(f"{API}/admin/api-keys", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["service"] == service
    key: str = made.json()["key"]
    return key


@pytest.fixture(scope="module")
def keys(hub: RunningHub) -> dict[str, str]:
    return {
        "recognition": _key(hub, "recognition", "cv:read", "cv:write"),
        "detection": _key(hub, "detection", "cv:read"),
        "verification": _key(hub, "verification", "cv:read"),
        "reader": _key(hub, "recognition", "cv:read"),
        "plain": _key(hub, None, "cv:read", "cv:write"),
    }


class Client:
    """Sends as a CompreFace client does: the ``x-api-key`` header, no other credential."""

    def __init__(self, hub: RunningHub, key: str) -> None:
        self.http = hub.anonymous
        self.headers = {"x-api-key": key}

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, API + path, headers=self.headers, **kwargs)

    def upload(self, path: str, data: bytes, field: str = "file") -> httpx.Response:
        return self.send("POST", path, files={field: ("photo.jpg", data, "image/jpeg")})


def _error(response: httpx.Response, status: int, code: int, *words: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"message", "code"}, body
    assert body["code"] == code, body
    message: str = body["message"]
    for word in words:
        assert word in message, message
    return message


def _box(face: dict[str, Any]) -> dict[str, Any]:
    box: dict[str, Any] = face["box"]
    assert set(box) == BOX_FIELDS
    assert all(isinstance(box[k], int) for k in BOX_FIELDS - {"probability"})
    assert isinstance(box["probability"], float)
    assert 0.0 <= box["probability"] <= 1.0
    assert box["x_min"] < box["x_max"]
    assert box["y_min"] < box["y_max"]
    return box


def _train(client: Client, subject: str, data: bytes) -> str:
    trained = client.send(
        "POST",
        "/recognition/faces",
        params={"subject": subject},
        files={"file": ("photo.jpg", data, "image/jpeg")},
    )
    assert trained.status_code == 201, trained.text
    body = trained.json()
    assert set(body) == {"image_id", "subject"}
    assert body["subject"] == subject
    image_id: str = body["image_id"]
    uuid.UUID(image_id)
    return image_id


def _reset(client: Client) -> None:
    cleared = client.send("DELETE", "/recognition/subjects")
    assert cleared.status_code == 200, cleared.text


def test_keys_are_scoped_to_one_service(hub: RunningHub, keys: dict[str, str]) -> None:
    path = "/recognition/subjects"
    missing = hub.anonymous.get(API + path)
    _error(missing, 400, 20, "Missing header: x-api-key")
    _error(Client(hub, "not-a-key").send("GET", path), 400, 26, "ik_")
    unknown = Client(hub, "ik_" + "x" * 43).send("GET", path)
    message = _error(unknown, 404, 10, "Recognition service with API Key ik_xxxxxxxx")
    assert "x" * 43 not in message  # never the whole key
    for other in ("detection", "plain"):  # another service's key, a key of the hub's own API
        _error(Client(hub, keys[other]).send("GET", path), 404, 10, "Recognition service")
    _error(
        Client(hub, keys["recognition"]).upload("/detection/detect", PORTRAIT),
        404,
        10,
        "Detection service",
    )
    _error(
        Client(hub, keys["reader"]).upload("/recognition/faces?subject=E100", PORTRAIT),
        403,
        1,
        "cv:write",
    )
    # a service key is refused by the rest of the hub's API
    refused = hub.anonymous.get(f"{API}/cv/gallery/latest", headers={"X-API-Key": keys["reader"]})
    assert refused.status_code == 401, refused.text
    assert "CompreFace-compatible recognition" in refused.text
    listed = hub.http.get(f"{API}/admin/api-keys").json()["items"]
    assert {k["service"] for k in listed} >= {"recognition", "detection", "verification", None}


def test_double_take_train_recognize_remove(hub: RunningHub, keys: dict[str, str]) -> None:
    client = Client(hub, keys["recognition"])
    _reset(client)
    _train(client, EILEEN, PORTRAIT)
    # recognize exactly as Double Take sends it (FACE_PLUGINS unset, DET_PROB_THRESHOLD 0.8)
    url = "/recognition/recognize?face_plugins=undefined&det_prob_threshold=0.8"
    answer = client.upload(url, SCENE)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"result"}  # no plugins_versions without status=true
    (face,) = body["result"]  # the suit patch (probability ~0.6) is under 0.8
    assert set(face) == {"box", "subjects"}
    box = _box(face)
    assert box["probability"] >= 0.8
    assert 50 <= box["x_min"] <= 100
    assert 10 <= box["y_min"] <= 60
    (best,) = face["subjects"]
    assert best["subject"] == EILEEN
    assert isinstance(best["similarity"], float)
    assert 0.93 <= best["similarity"] <= 1.0
    # recorded as the hub's own recognitions are (whereabouts: admin only)
    recorded = hub.http.get(f"{API}/cv/face/recognitions", params={"limit": 1}).json()
    assert recorded["items"][0]["employee_id"] == EILEEN
    assert recorded["items"][0]["status"] == "success"
    # the hub's own recognition knows the face enrolled through the compatible API
    own = hub.http.post(
        f"{API}/cv/face/recognize", json={"image": base64.b64encode(FLIPPED).decode()}
    )
    assert own.status_code == 200, own.text
    assert own.json()["employee_id"] == EILEEN
    # ... and so does the gallery the edges download
    snapshot = json.loads(hub.http.get(f"{API}/cv/gallery/latest").content)
    assert EILEEN in {p["person_id"] for p in snapshot["people"]}
    # no face: Double Take's normalize() treats code 28 as "no faces"
    _error(client.upload(url, BLANK), 400, 28, "No face is found in the given image")
    # remove as Double Take does
    removed = client.send("DELETE", "/recognition/faces", params={"subject": EILEEN})
    assert removed.status_code == 200
    assert removed.json() == {"deleted": 1}
    again = client.upload(url, SCENE).json()
    assert again["result"][0]["subjects"] == []
    snapshot = json.loads(hub.http.get(f"{API}/cv/gallery/latest").content)
    assert EILEEN not in {p["person_id"] for p in snapshot["people"]}


def test_recognize_parameters_and_plugins(hub: RunningHub, keys: dict[str, str]) -> None:
    client = Client(hub, keys["recognition"])
    _reset(client)
    added = client.send(  # base64 JSON, as CompreFace accepts it
        "POST",
        "/recognition/faces",
        params={"subject": EILEEN, "det_prob_threshold": "0.5"},
        json={"file": base64.b64encode(PORTRAIT).decode()},
    )
    assert added.status_code == 201
    assert added.json()["subject"] == EILEEN
    query = "face_plugins=landmarks,calculator&status=true&prediction_count=2&det_prob_threshold=0"
    answer = client.upload(f"/recognition/recognize?{query}", SCENE)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body["plugins_versions"]) == {"detector", "calculator", "landmarks"}
    faces = body["result"]
    assert len(faces) == 2  # her face and the weak suit patch, the bigger first
    areas = [
        (f["box"]["x_max"] - f["box"]["x_min"]) * (f["box"]["y_max"] - f["box"]["y_min"])
        for f in faces
    ]
    assert areas == sorted(areas, reverse=True)
    (first,) = [f for f in faces if f["box"]["probability"] >= 0.8]
    assert set(first) == {"box", "landmarks", "embedding", "execution_time", "subjects"}
    box = _box(first)
    assert len(first["landmarks"]) == 5
    for x, y in first["landmarks"]:
        assert box["x_min"] <= x <= box["x_max"]
        assert box["y_min"] <= y <= box["y_max"]
    assert len(first["embedding"]) == 128
    assert all(isinstance(v, float) for v in first["embedding"])
    assert set(first["execution_time"]) == {"detector", "calculator"}
    assert [s["subject"] for s in first["subjects"]] == [EILEEN]  # only matches, never nearest
    assert any(face["subjects"] == [] for face in faces)
    limited = client.upload("/recognition/recognize?limit=1&det_prob_threshold=0", SCENE)
    assert len(limited.json()["result"]) == 1
    assert set(limited.json()["result"][0]) == {"box", "subjects"}
    _error(
        client.upload("/recognition/recognize?face_plugins=age", SCENE),
        400,
        26,
        "face_plugins",
        "'age'",
        "landmarks, calculator",
    )
    _error(
        client.upload("/recognition/recognize?det_prob_threshold=2", SCENE),
        400,
        26,
        "det_prob_threshold",
    )
    _error(client.send("POST", "/recognition/recognize", json={}), 400, 34, "file")


def test_faces_list_image_and_delete(hub: RunningHub, keys: dict[str, str]) -> None:
    client = Client(hub, keys["recognition"])
    _reset(client)
    first = _train(client, EILEEN, PORTRAIT)
    second = _train(client, EILEEN, FLIPPED)
    tom = _train(client, TOM, HANKS)
    page = client.send("GET", "/recognition/faces", params={"page": 0, "size": 2}).json()
    assert page == {
        "faces": [
            {"image_id": first, "subject": EILEEN},
            {"image_id": second, "subject": EILEEN},
        ],
        "page_number": 0,
        "page_size": 2,
        "total_pages": 2,
        "total_elements": 3,
    }
    only_tom = client.send("GET", "/recognition/faces", params={"subject": TOM}).json()
    assert only_tom["faces"] == [{"image_id": tom, "subject": TOM}]
    assert only_tom["page_size"] == 20
    assert only_tom["total_elements"] == 1
    crop = client.send("GET", f"/recognition/faces/{first}/img")
    assert crop.status_code == 200
    assert crop.content[:2] == b"\xff\xd8"
    absent = client.send("GET", f"/recognition/faces/{uuid.UUID(int=99999)}/img")
    assert absent.status_code == 200
    assert absent.content == b""
    deleted = client.send("DELETE", f"/recognition/faces/{first}")
    assert deleted.json() == {"image_id": first, "subject": EILEEN}
    _error(client.send("DELETE", f"/recognition/faces/{first}"), 404, 44, first)
    _error(client.send("DELETE", "/recognition/faces/not-a-uuid"), 400, 26, "image_id")
    bulk = client.send(
        "POST", "/recognition/faces/delete", json=[second, str(uuid.UUID(int=99999))]
    )
    assert bulk.status_code == 200
    assert bulk.json() == [{"image_id": second, "subject": EILEEN}]
    left = client.send("GET", "/recognition/faces").json()
    assert left["faces"] == [{"image_id": tom, "subject": TOM}]
    _error(client.upload(f"/recognition/faces?subject={TOM}", BLANK), 400, 28)
    _error(client.upload(f"/recognition/faces?subject={EILEEN}", SCENE), 400, 31)
    _error(client.upload("/recognition/faces", PORTRAIT), 400, 33, "subject")


def test_subjects_follow_employees_and_consent(hub: RunningHub, keys: dict[str, str]) -> None:
    client = Client(hub, keys["recognition"])
    _reset(client)
    assert client.send("GET", "/recognition/subjects").json() == {"subjects": []}
    made = client.send("POST", "/recognition/subjects", json={"subject": TOM})
    assert made.status_code == 201
    assert made.json() == {"subject": TOM}
    _error(
        client.send("POST", "/recognition/subjects", json={"subject": NO_CONSENT}),
        403,
        1,
        "consent",
    )
    _error(client.upload(f"/recognition/faces?subject={NO_CONSENT}", PORTRAIT), 403, 1, "consent")
    _error(
        client.send("POST", "/recognition/subjects", json={"subject": "E999"}),
        404,
        42,
        "Subject E999 not found",
    )
    _error(client.upload("/recognition/faces?subject=E999", PORTRAIT), 404, 42, "E999")
    _train(client, TOM, PORTRAIT)  # enrolled under the wrong employee, renamed below
    _error(client.send("POST", "/recognition/subjects", json={"subject": TOM}), 400, 43)
    assert client.send("GET", "/recognition/subjects").json() == {"subjects": [TOM]}
    renamed = client.send("PUT", f"/recognition/subjects/{TOM}", json={"subject": EILEEN})
    assert renamed.status_code == 200
    assert renamed.json() == {"updated": True}
    assert client.send("GET", "/recognition/subjects").json() == {"subjects": [EILEEN]}
    image_id = client.send("GET", "/recognition/faces").json()["faces"][0]["image_id"]
    moved = client.send("GET", f"/recognition/faces/{image_id}/img")
    assert moved.content[:2] == b"\xff\xd8"  # the crop moved with the template
    recognised = client.upload("/recognition/recognize", PORTRAIT).json()
    assert recognised["result"][0]["subjects"][0]["subject"] == EILEEN
    _error(
        client.send("PUT", f"/recognition/subjects/{EILEEN}", json={"subject": NO_CONSENT}),
        403,
        1,
        "consent",
    )
    _error(client.send("DELETE", f"/recognition/subjects/{TOM}"), 404, 42, TOM)
    gone = client.send("DELETE", f"/recognition/subjects/{EILEEN}")
    assert gone.status_code == 200
    assert gone.json() == {"subject": EILEEN}
    assert client.send("GET", "/recognition/subjects/").json() == {"subjects": []}
    _train(client, TOM, HANKS)
    assert client.send("DELETE", "/recognition/subjects").json() == {"deleted": 1}


def test_detect_and_verify(hub: RunningHub, keys: dict[str, str]) -> None:
    detector = Client(hub, keys["detection"])
    found = detector.upload("/detection/detect?face_plugins=landmarks&status=true", PORTRAIT)
    assert found.status_code == 200, found.text
    body = found.json()
    assert set(body["plugins_versions"]) == {"detector", "landmarks"}
    (face,) = body["result"]
    assert set(face) == {"box", "landmarks", "execution_time"}
    _box(face)
    _error(detector.upload("/detection/detect", BLANK), 400, 28)
    verifier = Client(hub, keys["verification"])
    files = {
        "source_image": ("a.jpg", PORTRAIT, "image/jpeg"),
        "target_image": ("b.jpg", SCENE, "image/jpeg"),
    }
    verified = verifier.send("POST", "/verification/verify", files=files)
    assert verified.status_code == 200, verified.text
    (item,) = verified.json()["result"]
    assert set(item) == {"source_image_face", "face_matches"}
    _box(item["source_image_face"])
    matches = item["face_matches"]
    assert len(matches) == 2
    assert set(matches[0]) == {"box", "similarity"}
    assert matches[0]["similarity"] >= 0.93 > matches[1]["similarity"]
    other = verifier.send(  # base64 JSON: her against Tom Hanks
        "POST",
        "/verification/verify",
        json={
            "source_image": base64.b64encode(PORTRAIT).decode(),
            "target_image": base64.b64encode(HANKS).decode(),
        },
    )
    assert other.status_code == 200, other.text
    assert other.json()["result"][0]["face_matches"][0]["similarity"] < 0.93
    swapped = {"source_image": files["target_image"], "target_image": files["source_image"]}
    _error(verifier.send("POST", "/verification/verify", files=swapped), 400, 31)
    blank = {"source_image": ("a.jpg", BLANK, "image/jpeg"), "target_image": files["target_image"]}
    _error(verifier.send("POST", "/verification/verify", files=blank), 400, 28)
    one = {"source_image": files["source_image"]}
    _error(verifier.send("POST", "/verification/verify", files=one), 400, 34, "target_image")


def test_off_by_default(tmp_path: Any) -> None:
    assert HubSettings.model_fields["compat_compreface"].default is False
    app = create_app(HubSettings.model_validate({"data_dir": tmp_path, "mqtt_enabled": False}))
    paths = {getattr(route, "path", "") for route in app.routes}
    assert not any(p.startswith(("/api/v1/recognition", "/api/v1/detection")) for p in paths)
