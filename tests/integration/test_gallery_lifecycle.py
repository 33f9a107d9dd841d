"""Enrol on the hub → the edge recognises; delete on the hub → the edge forgets; enrol again and
withdraw the consent → the hub and the edge forget, and stay so after a restart. Real hub (API +
ingest), real Mosquitto, the edge's real transport, gallery sync and hnswlib index, real dlib
embeddings."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import pytest

from edge_agent.index.hnsw_gallery import HnswFaceIndex
from edge_agent.services.gallery_sync import GallerySync
from edge_agent.transport.paho_transport import PahoTransport
from innsight.broker import MosquittoBroker
from innsight.demo import photos
from models.face_dlib import DlibFaceAnalyzer
from testkit.consent import record_consent
from testkit.hub import SITE, hub_settings, running_hub, scoped_headers, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DEVICE = "edge-gallery-01"
PERSON = "emp-0042"


@pytest.fixture(scope="module")
def analyzer() -> DlibFaceAnalyzer:
    return DlibFaceAnalyzer(upsample=1)


EDGE_GALLERY_KEY = b"k" * 32  # the site's gallery key: the saved gallery is sealed with it


@pytest.fixture
def edge(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> Iterator[tuple[HnswFaceIndex, GallerySync, Path]]:
    index_dir = tmp_path / "gallery"
    index = HnswFaceIndex.load(index_dir, key=EDGE_GALLERY_KEY)
    transport = PahoTransport(SITE, DEVICE, mosquitto.host, mosquitto.port, min_backoff_s=0.2)
    stop = threading.Event()
    # the token the hub (same data dir, so the same JWT secret) accepts for gallery downloads
    headers = scoped_headers(hub_settings(tmp_path / "hub", None), "cv:read")
    with httpx.Client(timeout=10, headers=headers) as http:
        sync = GallerySync(
            transport, index, SITE, DEVICE, http=http, index_dir=index_dir, min_backoff_s=0.2
        )
        sync.attach()
        transport.start()
        worker = threading.Thread(target=sync.run, args=(stop,), daemon=True)
        worker.start()
        try:
            yield index, sync, index_dir
        finally:
            stop.set()
            worker.join(5)
            transport.stop()


def test_enrol_delete_and_consent_withdrawal_reach_the_edge(
    tmp_path: Path,
    mosquitto: MosquittoBroker,
    analyzer: DlibFaceAnalyzer,
    edge: tuple[HnswFaceIndex, GallerySync, Path],
) -> None:
    index, sync, index_dir = edge
    portrait = photos.astronaut_portrait()
    probe = analyzer.embed(portrait, max(analyzer.detect(portrait), key=lambda f: f.box.area))
    ok, jpeg = cv2.imencode(".jpg", portrait)
    assert ok
    settings = hub_settings(tmp_path / "hub", mosquitto)
    with running_hub(settings, face_analyzer=analyzer) as hub:
        # the hub learns of the device from its retained 'online' status
        wait_until(
            lambda: any(
                d["device_id"] == DEVICE for d in hub.http.get("/api/v1/devices").json()["items"]
            ),
            what="the hub to see the device",
        )
        record_consent(hub.http, PERSON)
        enrol = {
            "employee_id": PERSON,
            "name": "Eileen",
            "images": [base64.b64encode(jpeg.tobytes()).decode()],
        }
        enrolled = hub.http.post("/api/v1/cv/face/enroll", json=enrol)
        assert enrolled.status_code == 200, enrolled.text
        version = enrolled.json()["gallery_version"]
        assert sync.wait_for_version(version, 20)
        (match,) = index.search(probe, k=1)
        assert match.person_id == PERSON
        assert match.similarity > 0.99

        deleted = hub.http.delete(f"/api/v1/cv/face/{PERSON}")
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["gallery_version"] > version
        assert sync.wait_for_version(deleted.json()["gallery_version"], 20)
        assert len(index) == 0
        assert index.search(probe, k=1) == []

        # enrolled again (the consent stands), synced, then the consent is withdrawn
        again = hub.http.post("/api/v1/cv/face/enroll", json=enrol)
        assert again.status_code == 200, again.text
        assert sync.wait_for_version(again.json()["gallery_version"], 20)
        assert index.search(probe, k=1)[0].person_id == PERSON
        withdrawn = hub.http.post(f"/api/v1/privacy/consents/{PERSON}/withdraw")
        assert withdrawn.status_code == 200, withdrawn.text
        body = withdrawn.json()
        assert (body["embeddings_deleted"], body["face_crops_deleted"]) == (1, 1)
        assert body["non_biometric_checkin"] is True
        final = body["gallery_version"]
        assert final > again.json()["gallery_version"]
        assert sync.wait_for_version(final, 20)
        assert len(index) == 0  # the edge no longer has her
        assert hub.http.get(f"/api/v1/cv/face/embedding/{PERSON}").json()["total_count"] == 0
        crops = [p for p in (settings.objects_dir / "faces").rglob("*") if p.is_file()]
        assert crops == []  # no crop left on the hub
        state = hub.http.get(f"/api/v1/privacy/consents/{PERSON}").json()
        assert state["active"] is False
        assert state["non_biometric_checkin"] is True
        refused = hub.http.post("/api/v1/cv/face/enroll", json=enrol)
        assert refused.status_code == 422  # no consent: no enrolment
        assert refused.json()["errors"][0]["field"] == "consent"

    # the edge restarts with what it saved: the person is still gone
    reloaded = HnswFaceIndex.load(index_dir, key=EDGE_GALLERY_KEY)
    assert reloaded.version == final
    assert len(reloaded) == 0
