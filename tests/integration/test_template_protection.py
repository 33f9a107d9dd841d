"""Protected face templates (issue 17 item 4) through the real hub, dlib and the edge's index:
no template in clear in the SQLite file, the object store or the edge's gallery file; a gallery
file copied to another site matches nobody there; re-keying keeps recognition working and the
old gallery stops matching."""

from __future__ import annotations

import asyncio
import base64
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from contracts.messages import GallerySnapshot
from edge_agent.index.hnsw_gallery import SEALED_FILE, HnswFaceIndex
from edge_agent.index.sealed import new_key, parse_key
from hub.auth.keys import with_secrets
from hub.crypto import PiiCipher, bind_pii_cipher
from hub.db import create_engine, create_session_factory
from hub.face_rekey import RekeyReport, rekey_templates
from hub.face_templates import (
    TemplateKeyring,
    TemplateProtector,
    protect_stored_templates,
    template_protector,
)
from hub.gallery import GalleryService, detect_faces
from hub.settings import HubSettings
from hub.storage import LocalFolderStore
from models.face_dlib import DlibFaceAnalyzer
from testkit.consent import record_consent
from testkit.hub import RunningHub, hub_settings, running_hub

pytestmark = pytest.mark.integration

PERSON = "emp-protected"
ASTRONAUT_BGR = np.ascontiguousarray(skdata.astronaut()[:, :, ::-1])  # type: ignore[no-untyped-call]
HEAD = np.ascontiguousarray(ASTRONAUT_BGR[0:260, 120:380])


def _b64(image: np.ndarray) -> str:
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return base64.b64encode(encoded.tobytes()).decode()


HEAD_JPEG_B64 = _b64(HEAD)


@pytest.fixture(scope="module")
def analyzer() -> DlibFaceAnalyzer:
    return DlibFaceAnalyzer(upsample=1)


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory, analyzer: DlibFaceAnalyzer
) -> Iterator[RunningHub]:
    settings = hub_settings(tmp_path_factory.mktemp("hub"), None)
    with running_hub(settings, face_analyzer=analyzer, start_ingest=False) as running:
        record_consent(running.http, PERSON)
        response = running.http.post(
            "/api/v1/cv/face/enroll",
            json={"employee_id": PERSON, "name": "Eileen Collins", "images": [HEAD_JPEG_B64]},
        )
        assert response.status_code == 200, response.text
        yield running


def _settings(hub: RunningHub) -> HubSettings:
    return with_secrets(hub.settings)


def _protector(hub: RunningHub) -> TemplateProtector:
    settings = _settings(hub)
    return template_protector(settings, PiiCipher.from_secret(settings.pii_key))


def _clear_embedding(analyzer: DlibFaceAnalyzer) -> np.ndarray:
    """The enrolled photo's embedding, as enrolment computed it (the JPEG the API received)."""
    decoded = cv2.imdecode(
        np.frombuffer(base64.b64decode(HEAD_JPEG_B64), np.uint8), cv2.IMREAD_COLOR
    )
    assert decoded is not None
    image = np.ascontiguousarray(decoded, dtype=np.uint8)
    face = max(detect_faces(analyzer, image), key=lambda f: f.box.area)
    return np.asarray(analyzer.embed(image, face), dtype="<f4")


def _stored_template(hub: RunningHub) -> bytes:
    """The template column decrypted with the hub's PII key (what a DB thief cannot do)."""
    settings = _settings(hub)
    db = Path(settings.database_url.get_secret_value().split("///", 1)[1])
    with sqlite3.connect(db) as conn:
        (token,) = conn.execute(
            "SELECT embedding FROM employee_faces WHERE employee_id = ?", (PERSON,)
        ).fetchone()
    return PiiCipher.from_secret(settings.pii_key).decrypt_bytes(token)


def _raw_files(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def _snapshot(hub: RunningHub, which: str = "latest") -> GallerySnapshot:
    response = hub.http.get(f"/api/v1/cv/gallery/{which}")
    assert response.status_code == 200, response.text
    return GallerySnapshot.model_validate_json(response.content)


def _recognise(hub: RunningHub) -> dict[str, object]:
    response = hub.http.post("/api/v1/cv/face/recognize", json={"image": HEAD_JPEG_B64})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_no_template_in_clear_in_the_database_the_object_store_or_the_edge_file(
    hub: RunningHub, analyzer: DlibFaceAnalyzer, tmp_path: Path
) -> None:
    clear = _clear_embedding(analyzer)
    stored = _stored_template(hub)
    protector = _protector(hub)
    # what is stored is the embedding under the site's transform: same geometry, other numbers
    assert np.frombuffer(stored, "<f4") == pytest.approx(
        np.frombuffer(protector.protect("dlib-resnet-v1", clear), "<f4"), abs=1e-5
    )
    assert float(np.frombuffer(stored, "<f4") @ clear) < 0.5
    needles = [clear.tobytes()[:16], clear.tobytes()[256:272], stored[:16], stored[256:272]]

    settings = _settings(hub)
    db_file = Path(settings.database_url.get_secret_value().split("///", 1)[1])
    database = b"".join(
        p.read_bytes() for p in db_file.parent.glob(db_file.name + "*") if p.is_file()
    )
    objects = _raw_files(settings.objects_dir)
    assert objects  # the crop and the gallery artefact are there...
    for needle in needles:
        assert needle not in database  # ...but no template, in clear or transformed
        assert needle not in objects
    assert b"\xff\xd8\xff" not in objects  # no JPEG crop in clear
    assert PERSON.encode() not in objects  # the artefact is sealed too

    snapshot = _snapshot(hub)  # served opened, to the edge's authenticated download
    assert snapshot.protection is not None
    edge = HnswFaceIndex(key=parse_key(new_key()))
    edge.replace(snapshot)
    (match,) = edge.search(clear.astype(np.float32))
    assert match.person_id == PERSON
    assert match.similarity == pytest.approx(1.0, abs=1e-3)
    edge.save(tmp_path / "edge")
    raw = (tmp_path / "edge" / SEALED_FILE).read_bytes()
    for needle in needles:
        assert needle not in raw
    assert snapshot.protection.transform_key not in raw


def test_a_gallery_copied_to_another_site_matches_nobody_there(
    hub: RunningHub, analyzer: DlibFaceAnalyzer, tmp_path: Path
) -> None:
    clear = _clear_embedding(analyzer).astype(np.float32)
    snapshot = _snapshot(hub)
    site_a = HnswFaceIndex(key=parse_key(new_key()))
    site_a.replace(snapshot)
    site_a.save(tmp_path / "a")
    (tmp_path / "b").mkdir()
    shutil.copy(tmp_path / "a" / SEALED_FILE, tmp_path / "b" / SEALED_FILE)
    at_b = HnswFaceIndex.load(tmp_path / "b", key=parse_key(new_key()))  # site B's own key
    assert at_b.search(clear) == []

    # Even decrypted, site A's templates under site B's transform (its own template key)
    # score the same person like a stranger.
    other_site = TemplateProtector(
        PiiCipher.from_secret(_settings(hub).pii_key),
        TemplateKeyring(path=tmp_path / "site-b.key"),  # another hotel's own template key
        site="other-hotel",
    )
    stolen = snapshot.model_copy(
        update={"protection": other_site.protection(snapshot.model_id, snapshot.dim)}
    )
    index_b = HnswFaceIndex()
    index_b.replace(stolen)
    (match,) = index_b.search(clear)
    assert match.similarity < hub.settings.face_match_threshold - 0.3


def test_rekey_keeps_recognition_and_the_old_gallery_stops_matching(
    hub: RunningHub, analyzer: DlibFaceAnalyzer
) -> None:
    clear = _clear_embedding(analyzer).astype(np.float32)
    before = _recognise(hub)
    assert (before["status"], before["employee_id"]) == ("success", PERSON)
    old = _snapshot(hub)
    assert old.protection is not None

    report = asyncio.run(_rekey(_settings(hub), analyzer))
    assert (report.rederived, report.dropped) == (1, 0)
    assert report.new_key_id != report.old_key_id

    after = _recognise(hub)  # the running hub picks the new key up
    assert (after["status"], after["employee_id"]) == ("success", PERSON)
    assert after["confidence"] == pytest.approx(before["confidence"], abs=1e-3)
    new = _snapshot(hub)
    assert new.protection is not None
    assert report.gallery_version is not None
    assert new.version == report.gallery_version > old.version
    assert new.protection.key_id == report.new_key_id != old.protection.key_id

    fresh = HnswFaceIndex()
    fresh.replace(new)
    assert fresh.search(clear)[0].person_id == PERSON
    # the old templates under the new key: no match
    stale = HnswFaceIndex()
    stale.replace(old.model_copy(update={"protection": new.protection}))
    assert stale.search(clear)[0].similarity < hub.settings.face_match_threshold - 0.3
    assert _stored_template(hub) != b""


async def _rekey(settings: HubSettings, analyzer: DlibFaceAnalyzer) -> RekeyReport:
    engine = create_engine(settings.database_url.get_secret_value())
    cipher = PiiCipher.from_secret(settings.pii_key)
    bind_pii_cipher(engine, cipher)
    try:
        sessions = create_session_factory(engine)
        store = LocalFolderStore(settings.objects_dir)
        gallery = GalleryService(
            sessions,
            store,
            site=settings.site,
            public_base_url=settings.public_base_url,
            max_image_bytes=settings.max_upload_bytes,
            templates=template_protector(settings, cipher),
        )
        return await rekey_templates(gallery, analyzer, sessions, store)
    finally:
        await engine.dispose()


def test_templates_stored_in_clear_before_0006_are_converted(
    hub: RunningHub, analyzer: DlibFaceAnalyzer
) -> None:
    settings = _settings(hub)
    clear = _clear_embedding(analyzer)
    first_gallery = hub.http.get("/api/v1/cv/gallery/1").content
    store = LocalFolderStore(settings.objects_dir)
    store.put("galleries/1.json", first_gallery, "application/json")  # as before issue 17
    db = Path(settings.database_url.get_secret_value().split("///", 1)[1])
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO employee_faces (employee_id, embedding, dim, model_id, quality, "
            "created_at) VALUES (?, ?, 128, 'dlib-resnet-v1', 0.9, '2026-01-01 00:00:00')",
            (PERSON, clear.tobytes()),
        )

    async def convert() -> int:
        engine = create_engine(settings.database_url.get_secret_value())
        cipher = PiiCipher.from_secret(settings.pii_key)
        bind_pii_cipher(engine, cipher)
        try:
            report = await protect_stored_templates(
                create_session_factory(engine),
                LocalFolderStore(settings.objects_dir),
                template_protector(settings, cipher),
            )
            again = await protect_stored_templates(
                create_session_factory(engine),
                LocalFolderStore(settings.objects_dir),
                template_protector(settings, cipher),
            )
            assert again.clear_templates == 0  # idempotent
            return report.clear_templates
        finally:
            await engine.dispose()

    assert asyncio.run(convert()) == 1
    assert PERSON.encode() not in store.get("galleries/1.json")  # sealed now
    assert hub.http.get("/api/v1/cv/gallery/1").content == first_gallery
    raw = db.read_bytes()
    assert clear.tobytes()[:16] not in raw
    protector = _protector(hub)
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT embedding, template_key_id FROM employee_faces WHERE employee_id = ?",
            (PERSON,),
        ).fetchall()
    assert {key_id for _token, key_id in rows} == {protector.key_id}
    cipher = PiiCipher.from_secret(settings.pii_key)
    stored = [np.frombuffer(cipher.decrypt_bytes(token), "<f4") for token, _ in rows]
    expected = np.frombuffer(protector.protect("dlib-resnet-v1", clear), "<f4")
    assert any(np.allclose(vector, expected, atol=1e-5) for vector in stored)
