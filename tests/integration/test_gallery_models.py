"""Issue 22 item 3 over the real API: a hub configured for two more face models enrols a person
once into a template per model it can run, keeps the site's template protection for each,
serves each model's gallery by model id, reports the models' back-fill progress, and deletes
every model's templates with the person's faces. (The heartbeat-triggered back-fill and two
edges on two models: tests/e2e/test_two_models.py.)"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from contracts.messages import GallerySnapshot
from edge_agent.index.template_transform import transform
from innsight.demo import photos
from models.face_dlib import DlibFaceAnalyzer
from models.face_lbph import LbphFaceAnalyzer
from testkit.consent import record_consent
from testkit.hub import RunningHub, hub_settings, running_hub, wait_until

pytestmark = pytest.mark.integration

PERSON = "emp-0042"
DLIB, LBPH, SFACE = "dlib-resnet-v1", "lbph-u2-4x4", "sface-2021dec"


@pytest.fixture(scope="module")
def analyzer() -> DlibFaceAnalyzer:
    return DlibFaceAnalyzer(upsample=1)


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory, analyzer: DlibFaceAnalyzer
) -> Iterator[RunningHub]:
    settings = hub_settings(
        Path(tmp_path_factory.mktemp("hub")), None, gallery_face_models=[LBPH, SFACE]
    )
    with running_hub(settings, face_analyzer=analyzer, start_ingest=False) as running:
        yield running


def _galleries(hub: RunningHub) -> dict[str, dict[str, Any]]:
    response = hub.http.get("/api/v1/cv/galleries")
    assert response.status_code == 200, response.text
    return {g["model_id"]: g for g in response.json()}


def _settled(hub: RunningHub) -> dict[str, dict[str, Any]] | None:
    found = _galleries(hub)
    states = {m: found[m]["backfill_status"] for m in (LBPH, SFACE) if m in found}
    return found if states == {LBPH: "done", SFACE: "failed"} else None


def test_one_enrolment_a_template_per_model_served_and_deleted_per_model(
    hub: RunningHub, analyzer: DlibFaceAnalyzer
) -> None:
    # the configured models are back-filled at start: LBPH runs here (an empty gallery, no
    # crops yet), SFace's weights ship in no package: its back-fill says how to get them
    started = wait_until(lambda: _settled(hub), what="the configured models' back-fills")
    assert list(started) == [DLIB, LBPH, SFACE]
    assert started[SFACE]["gallery_version"] is None
    assert "innsight models fetch" in (started[SFACE]["backfill_error"] or "")

    portrait = photos.astronaut_portrait()
    ok, jpeg = cv2.imencode(".jpg", portrait)
    assert ok
    record_consent(hub.http, PERSON)
    enrolled = hub.http.post(
        "/api/v1/cv/face/enroll",
        json={
            "employee_id": PERSON,
            "metadata": {"name": "E. Collins"},
            "images": [base64.b64encode(jpeg.tobytes()).decode()],
        },
    )
    assert enrolled.status_code == 200, enrolled.text
    body = enrolled.json()
    assert body["embeddings_created"] == 1
    assert any(w.startswith(f"no {SFACE} templates yet") for w in body["warnings"])
    after = _galleries(hub)
    assert {m: after[m]["templates"] for m in after} == {DLIB: 1, LBPH: 1, SFACE: 0}
    assert after[DLIB]["people"] == after[LBPH]["people"] == 1

    # each model's gallery by model id, its templates under the site's transform for that model
    got = hub.http.get("/api/v1/cv/gallery/latest", params={"model_id": LBPH})
    assert got.status_code == 200, got.text
    snapshot = GallerySnapshot.model_validate_json(got.content)
    assert (snapshot.model_id, snapshot.dim, snapshot.version) == (
        LBPH,
        944,
        after[LBPH]["gallery_version"],
    )
    assert [p.person_id for p in snapshot.people] == [PERSON]
    assert snapshot.protection is not None
    stored = np.frombuffer(base64.b64decode(snapshot.people[0].embeddings_b64), "<f4")
    uploaded = np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), dtype=np.uint8)  # as the hub
    face = max(analyzer.detect(uploaded), key=lambda f: f.box.area)
    clear = LbphFaceAnalyzer(analyzer, analyzer).embed(uploaded, face)
    key = base64.b64decode(snapshot.protection.transform_key_b64)
    assert float(stored @ clear) < 0.9  # not stored in clear ...
    assert float(stored @ transform(key, clear)) > 0.99  # ... but rotated under the site key
    dlib_version = after[DLIB]["gallery_version"]
    assert (
        GallerySnapshot.model_validate_json(
            hub.http.get("/api/v1/cv/gallery/latest").content
        ).model_id
        == DLIB
    )
    wrong = hub.http.get(f"/api/v1/cv/gallery/{dlib_version}", params={"model_id": LBPH})
    assert wrong.status_code == 404
    assert hub.http.get("/api/v1/cv/gallery/latest", params={"model_id": "a b"}).status_code == 422

    removed = hub.http.delete(f"/api/v1/cv/face/{PERSON}")
    assert removed.status_code == 200, removed.text
    assert removed.json()["face_crops_deleted"] == 1
    gone = _galleries(hub)
    assert {m: gone[m]["templates"] for m in gone} == {DLIB: 0, LBPH: 0, SFACE: 0}
    assert gone[DLIB]["people"] == gone[LBPH]["people"] == 0
    assert gone[LBPH]["gallery_version"] > after[LBPH]["gallery_version"]
