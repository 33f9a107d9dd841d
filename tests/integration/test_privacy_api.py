"""Subject rights through HTTP (issue 17 item 5): the export ZIP (records, crops, snapshots with
other people's faces blurred by the real dlib detector, consent history), erasure with its
report, the end of employment deleting templates, the retention purge per data class, and the
DPIA record command. One hub (no MQTT) for the module; records are seeded straight into its
SQLite database, as the ingest and enrolment would have written them."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from skimage import data as skdata
from sqlmodel import select

from hub.auth.keys import with_secrets
from hub.crypto import PiiCipher, bind_pii_cipher
from hub.db import SessionFactory, create_engine, create_session_factory
from hub.face_templates import template_protector
from hub.gallery import GalleryService
from hub.privacy.employment import sweep_ended_employment
from hub.privacy.retention import purge_data_classes
from hub.settings import HubSettings
from hub.storage import LocalFolderStore
from hub.tables import (
    AttendanceLog,
    AttendanceMark,
    AuditLog,
    Booking,
    ConsentRecord,
    Device,
    Employee,
    EmployeeFace,
    Event,
    FaceRecognitionLog,
    GalleryVersionRecord,
    Guest,
    OcrResult,
    RoomAnalysisLog,
    ServiceLog,
    utcnow,
)
from innsight.cli import main as innsight_main
from models.face_dlib import DlibFaceAnalyzer
from testkit.hub import RunningHub, hub_settings, running_hub, scoped_headers

pytestmark = pytest.mark.integration

EMAIL = "b.tran@example.com"


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, :, ::-1])


HEAD = _bgr(skdata.astronaut()[0:260, 120:380])  # type: ignore[no-untyped-call]
# one frame, two people: the subject on the left, someone else on the right
FRAME = np.ascontiguousarray(np.hstack([HEAD, HEAD[:, ::-1]]))


def _jpeg(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return bytes(encoded.tobytes())


@asynccontextmanager
async def _db(settings: HubSettings) -> AsyncIterator[SessionFactory]:
    engine = create_engine(settings.database_url.get_secret_value())
    bind_pii_cipher(engine, PiiCipher.from_secret(with_secrets(settings).pii_key))
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


def _in_db(settings: HubSettings, rows: list[Any]) -> None:
    async def main() -> None:
        async with _db(settings) as factory, factory() as session:
            for row in rows:
                session.add(row)
                await session.flush()
            await session.commit()

    asyncio.run(main())


def _all(settings: HubSettings, table: Any, *where: Any) -> list[Any]:
    async def main() -> list[Any]:
        async with _db(settings) as factory, factory() as session:
            return list((await session.exec(select(table).where(*where))).all())

    return asyncio.run(main())


@pytest.fixture(scope="module")
def analyzer() -> DlibFaceAnalyzer:
    return DlibFaceAnalyzer(upsample=1)


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory, analyzer: DlibFaceAnalyzer
) -> Iterator[RunningHub]:
    settings = hub_settings(
        tmp_path_factory.mktemp("privacy"), None, attendance_cameras=["entrance-1"]
    )
    with running_hub(settings, face_analyzer=analyzer, start_ingest=False) as running:
        yield running


def _employee(hub: RunningHub, employee_id: str) -> None:
    response = hub.http.post(
        "/api/v1/hotel/employees",
        json={"employee_id": employee_id, "name": "Tran Thi B", "email": EMAIL},
    )
    assert response.status_code == 201, response.text


def _enrolled(hub: RunningHub, employee_id: str, faces: int) -> list[bytes]:
    """Templates and their sealed crops, as enrolment stores them; the crops' JPEG bytes."""
    rows = [
        EmployeeFace(
            employee_id=employee_id,
            embedding=np.ones(128, dtype="<f4").tobytes(),
            dim=128,
            model_id="dlib-resnet-v1",
            quality=0.9,
        )
        for _ in range(faces)
    ]
    _in_db(hub.settings, list(rows))
    store = LocalFolderStore(hub.settings.objects_dir)
    cipher = PiiCipher.from_secret(with_secrets(hub.settings).pii_key)
    crops = []
    for row in _all(hub.settings, EmployeeFace, EmployeeFace.employee_id == employee_id):
        crop = _jpeg(HEAD[40 + row.id : 200, 60:200])
        store.put(f"faces/{employee_id}/{row.id}.jpg", cipher.encrypt_bytes(crop), "image/jpeg")
        crops.append(crop)
    return crops


def _face_event(person_id: str | None, age_days: float, **extra: Any) -> Event:
    now = utcnow()
    return Event(
        event_id=uuid.uuid4(),
        device_id=extra.pop("device_id", "edge-1"),
        seq=1,
        last_seq=1,
        camera_id=extra.pop("camera_id", "entrance-1"),
        kind=extra.pop("kind", "face"),
        phase="end",
        started_at=now - timedelta(days=age_days),
        person_id=person_id,
        payload=extra.pop("payload", {"person_id": person_id}),
        received_at=now,
        updated_at=now,
        **extra,
    )


def test_export_zip_has_records_crops_consent_and_blurred_snapshots(
    hub: RunningHub, analyzer: DlibFaceAnalyzer
) -> None:
    _employee(hub, "EXP1")
    crops = _enrolled(hub, "EXP1", 2)
    boxes = sorted((f.box for f in analyzer.detect(FRAME)), key=lambda b: b.x)
    assert len(boxes) == 2, "the test frame must show two faces"
    subject, other = boxes
    store = LocalFolderStore(hub.settings.objects_dir)
    store.put("snapshots/edge-1/frame-1.jpg", _jpeg(FRAME), "image/jpeg")
    bbox = {"x": subject.x, "y": subject.y, "w": subject.w, "h": subject.h}
    event = _face_event(
        "EXP1",
        1,
        snapshot_key="snapshots/edge-1/frame-1.jpg",
        payload={"person_id": "EXP1", "bbox": bbox},
    )
    now = utcnow()
    _in_db(
        hub.settings,
        [
            event,
            AttendanceLog(employee_id="EXP1", work_date=date.today(), check_in_at=now),
            ConsentRecord(
                employee_id="EXP1",
                purpose="attendance",
                notice_version="2026-1",
                notice_language="vi",
                method="signed_paper",
                given_at=now,
                recorded_by="user:admin",
            ),
        ],
    )

    refused = hub.anonymous.get(
        "/api/v1/privacy/subjects/EXP1/export", headers=scoped_headers(hub.settings, "hotel:pii")
    )
    assert refused.status_code == 403
    response = hub.anonymous.get(
        "/api/v1/privacy/subjects/EXP1/export",
        headers=scoped_headers(hub.settings, "privacy:admin"),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["subject"] == {"kind": "employee", "id": "EXP1"}
    assert {f["path"] for f in manifest["files"]} == set(archive.namelist()) - {"manifest.json"}
    assert json.loads(archive.read("person.json"))["email"] == EMAIL  # decrypted
    assert manifest["sections"]["attendance"]["records"] == 1
    consent = json.loads(archive.read("consent.json"))
    assert [c["purpose"] for c in consent] == ["attendance"]
    templates = json.loads(archive.read("templates.json"))
    assert "embedding" not in templates[0]
    assert sorted(archive.read(t["crop"]) for t in templates) == sorted(crops)

    (exported,) = json.loads(archive.read("face_events.json"))
    assert exported["other_faces_blurred"] >= 1
    shown = cv2.imdecode(np.frombuffer(archive.read(exported["snapshot"]), np.uint8), 1)
    assert shown is not None
    assert shown.shape == FRAME.shape

    def diff(box: Any) -> float:
        window = np.s_[box.y : box.y + box.h, box.x : box.x + box.w]
        return float(np.abs(shown[window].astype(int) - FRAME[window].astype(int)).mean())

    assert diff(other) > 15.0, "the other person's face must be blurred"
    assert diff(subject) < 6.0, "the subject's own face stays as it was"

    (row,) = _all(hub.settings, AuditLog, AuditLog.action == "privacy.export")
    assert row.target == "employee:EXP1"
    assert EMAIL not in json.dumps(row.detail)


def test_erasure_reports_and_removes_the_person(hub: RunningHub) -> None:
    _employee(hub, "ERA1")
    _enrolled(hub, "ERA1", 2)
    store = LocalFolderStore(hub.settings.objects_dir)
    store.put("snapshots/edge-1/era.jpg", _jpeg(HEAD), "image/jpeg")
    now = utcnow()
    old = AttendanceLog(
        employee_id="ERA1",
        work_date=date(2020, 1, 2),
        check_in_at=now - timedelta(days=2000),
    )
    recent = AttendanceLog(employee_id="ERA1", work_date=date.today(), check_in_at=now)
    _in_db(
        hub.settings,
        [
            _face_event("ERA1", 1, snapshot_key="snapshots/edge-1/era.jpg"),
            _face_event("ERA1", 2),
            old,
            recent,
            FaceRecognitionLog(
                captured_at=now,
                status="success",
                employee_id="ERA1",
                recognition_time_ms=5.0,
                model_id="dlib-resnet-v1",
            ),
            Device(device_id="edge-1", site="demo", enrolled_at=now),
            GalleryVersionRecord(
                version=1,
                sha256="0" * 64,
                object_key="galleries/1.json",
                model_id="dlib-resnet-v1",
                dim=128,
                people=1,
                embeddings=2,
                size_bytes=10,
            ),
        ],
    )
    _in_db(
        hub.settings,
        [
            AttendanceMark(
                event_id=uuid.uuid4(),
                attendance_log_id=int(old.id or 0),
                employee_id="ERA1",
                first_seen_at=old.check_in_at,
                last_seen_at=old.check_in_at,
            )
        ],
    )

    response = hub.http.delete("/api/v1/privacy/subjects/ERA1")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["subject"] == {"kind": "employee", "id": "ERA1"}
    assert report["deleted"]["employee_faces"] == 2
    assert report["deleted"]["face_recognitions"] == 1
    assert report["deleted"]["attendance_logs"] == 1
    assert report["deleted"]["attendance_marks"] == 1
    assert report["pseudonymised"]["events"] == 2
    assert report["kept"]["attendance_logs"]["rows"] == 1
    assert report["objects"] == {"deleted": 3, "failed": 0}  # two crops, one snapshot
    assert report["edges"]["gallery_version"] == 2
    assert report["edges"]["devices_notified"] == 1

    assert _all(hub.settings, EmployeeFace, EmployeeFace.employee_id == "ERA1") == []
    assert _all(hub.settings, FaceRecognitionLog, FaceRecognitionLog.employee_id == "ERA1") == []
    assert _all(hub.settings, Event, Event.person_id == "ERA1") == []
    assert [
        a.id for a in _all(hub.settings, AttendanceLog, AttendanceLog.employee_id == "ERA1")
    ] == [recent.id]
    (tombstone,) = _all(hub.settings, Employee, Employee.employee_id == "ERA1")
    assert tombstone.name == "[erased]"
    assert tombstone.email is None
    assert not store.exists("snapshots/edge-1/era.jpg")
    assert not any(Path(hub.settings.objects_dir, "faces", "ERA1").glob("*.jpg"))
    (row,) = _all(hub.settings, AuditLog, AuditLog.action == "privacy.erase")
    assert row.target == "employee:ERA1"
    assert row.detail["deleted"]["employee_faces"] == 2

    again = hub.http.delete("/api/v1/privacy/subjects/ERA1", params={"attendance": "delete"})
    assert again.status_code == 200, again.text
    assert again.json()["deleted"]["employees"] == 1
    assert _all(hub.settings, Employee, Employee.employee_id == "ERA1") == []
    missing = hub.http.delete("/api/v1/privacy/subjects/ERA1")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["field"] == "subject_id"


def test_guest_erasure_clears_pii_and_deletes_ocr(hub: RunningHub) -> None:
    for ref in ("Gé 1", "GERA2"):
        created = hub.http.post(
            "/api/v1/hotel/guests",
            json={"guest_ref": ref, "full_name": "Nguyen Van A", "email": EMAIL},
        )
        assert created.status_code == 201, created.text
    (kept,) = _all(hub.settings, Guest, Guest.guest_ref == "Gé 1")
    (gone,) = _all(hub.settings, Guest, Guest.guest_ref == "GERA2")
    _in_db(
        hub.settings,
        [
            Booking(
                booking_ref="BERA1",
                guest_id=kept.id,
                check_in_date=date(2026, 1, 1),
                check_out_date=date(2026, 1, 3),
            ),
            OcrResult(guest_id=gone.id, document_type="passport", text="P<VNM", engine="rapidocr"),
        ],
    )
    exported = hub.http.get("/api/v1/privacy/subjects/Gé 1/export")
    assert exported.status_code == 200, exported.text
    assert "subject-guest-G__1.zip" in exported.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(exported.content))
    assert json.loads(archive.read("person.json"))["email"] == EMAIL
    assert [b["booking_ref"] for b in json.loads(archive.read("bookings.json"))] == ["BERA1"]
    assert json.loads(archive.read("consent.json")) == []
    first = hub.http.delete("/api/v1/privacy/subjects/Gé 1", params={"kind": "guest"})
    assert first.status_code == 200, first.text
    assert first.json()["kept"]["bookings"]["rows"] == 1
    second = hub.http.delete("/api/v1/privacy/subjects/GERA2")
    assert second.status_code == 200, second.text
    assert second.json()["deleted"] == {"ocr_results": 1, "guests": 1}
    (tombstone,) = _all(hub.settings, Guest, Guest.guest_ref == "Gé 1")
    assert (tombstone.full_name, tombstone.email) == ("[erased]", None)
    assert _all(hub.settings, Guest, Guest.guest_ref == "GERA2") == []
    assert _all(hub.settings, OcrResult, OcrResult.guest_id == gone.id) == []


def test_end_of_employment_deletes_templates(hub: RunningHub) -> None:
    _employee(hub, "LEFT1")
    _enrolled(hub, "LEFT1", 2)
    etag = hub.http.get("/api/v1/hotel/employees/LEFT1").headers["etag"]
    response = hub.http.patch(
        "/api/v1/hotel/employees/LEFT1", json={"is_active": False}, headers={"If-Match": etag}
    )
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    assert _all(hub.settings, EmployeeFace, EmployeeFace.employee_id == "LEFT1") == []
    assert not any(Path(hub.settings.objects_dir, "faces", "LEFT1").glob("*.jpg"))
    (row,) = _all(
        hub.settings,
        AuditLog,
        AuditLog.action == "privacy.employment_end",
        AuditLog.target == "employee:LEFT1",
    )
    assert row.detail["faces_deleted"] == 2


def test_the_purge_deletes_templates_of_employees_made_inactive_elsewhere(
    hub: RunningHub,
) -> None:
    _employee(hub, "GONE1")
    _enrolled(hub, "GONE1", 1)
    _employee(hub, "STAY1")
    _enrolled(hub, "STAY1", 1)

    async def sweep() -> dict[str, int]:
        settings = with_secrets(hub.settings)
        async with _db(settings) as factory:
            async with factory() as session:  # as a CSV import or the PMS would
                (row,) = (
                    await session.exec(select(Employee).where(Employee.employee_id == "GONE1"))
                ).all()
                row.is_active = False
                session.add(row)
                await session.commit()
            gallery = GalleryService(
                factory,
                LocalFolderStore(settings.objects_dir),
                site=settings.site,
                public_base_url=settings.public_base_url,
                max_image_bytes=settings.max_upload_bytes,
                templates=template_protector(settings, PiiCipher.from_secret(settings.pii_key)),
            )
            return await sweep_ended_employment(gallery, factory)

    assert asyncio.run(sweep()) == {"employees": 1, "employee_faces": 1}
    assert _all(hub.settings, EmployeeFace, EmployeeFace.employee_id == "GONE1") == []
    assert len(_all(hub.settings, EmployeeFace, EmployeeFace.employee_id == "STAY1")) == 1
    (row,) = _all(
        hub.settings,
        AuditLog,
        AuditLog.action == "privacy.employment_end",
        AuditLog.target == "employee:GONE1",
    )
    assert row.actor == "flow:retention_purge"


def test_retention_purge_removes_old_rows_only_and_audits(hub: RunningHub) -> None:
    settings = hub.settings
    store = LocalFolderStore(settings.objects_dir)
    store.put("snapshots/edge-1/old-unknown.jpg", b"\xff\xd8old", "image/jpeg")
    store.put("inspections/old.jpg", b"\xff\xd8old", "image/jpeg")
    now = utcnow()
    old_unknown = _face_event(
        None, 8, camera_id="lobby-9", snapshot_key="snapshots/edge-1/old-unknown.jpg"
    )
    new_unknown = _face_event(None, 1, camera_id="lobby-9")
    old_known = _face_event("KNOWN9", 100, camera_id="lobby-9")
    _in_db(
        settings,
        [
            old_unknown,
            new_unknown,
            old_known,
            ServiceLog(ts=now - timedelta(days=91), service="hub", level="INFO", message="old"),
            ServiceLog(ts=now - timedelta(days=1), service="hub", level="INFO", message="new"),
            OcrResult(
                document_type="invoice",
                text="old",
                engine="rapidocr",
                created_at=now - timedelta(days=31),
            ),
            RoomAnalysisLog(
                analysis_type="cleanliness",
                photo_key="inspections/old.jpg",
                analysed_at=now - timedelta(days=181),
            ),
        ],
    )

    async def purge() -> dict[str, Any]:
        async with _db(settings) as factory:
            return await purge_data_classes(settings, factory, store, now)

    report = asyncio.run(purge())
    assert report["unknown_face_events"]["rows"]["events"] >= 1
    assert report["unknown_face_events"]["objects"] >= 1
    assert report["face_events"]["rows"]["events"] >= 1
    assert report["logs"]["rows"]["service_logs"] == 1
    assert report["ocr"]["rows"]["ocr_results"] == 1
    assert report["inspection_photos"]["rows"]["room_analysis_logs_photo_cleared"] == 1
    lobby = {e.event_id for e in _all(settings, Event, Event.camera_id == "lobby-9")}
    assert lobby == {new_unknown.event_id}
    assert [r.message for r in _all(settings, ServiceLog)] == ["new"]
    assert not store.exists("snapshots/edge-1/old-unknown.jpg")
    assert not store.exists("inspections/old.jpg")
    audits = _all(settings, AuditLog, AuditLog.action == "retention.purge")
    classes = {a.target: a.detail for a in audits}
    assert set(classes) >= {
        "class:unknown_face_events",
        "class:logs",
        "class:attendance",
        "class:audit",
    }
    assert classes["class:logs"]["rows"]["service_logs"] == 1
    assert "old" not in json.dumps(classes["class:logs"])


def test_privacy_report_names_cameras_retention_and_licences(
    hub: RunningHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = hub.settings
    _in_db(settings, [_face_event("KNOWN9", 0, camera_id="lift-2", device_id="edge-2")])
    monkeypatch.setenv("INNSIGHT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("INNSIGHT_SITE", settings.site)
    monkeypatch.setenv("INNSIGHT_ATTENDANCE_CAMERAS", "entrance-1")
    monkeypatch.delenv("INNSIGHT_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert innsight_main(["hub", "privacy", "report", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    cameras = {c["camera_id"]: c for c in record["cameras"]}
    assert any("face recognition" in p for p in cameras["lift-2"]["purposes"])
    assert any("attendance" in p for p in cameras["entrance-1"]["purposes"])
    retention = {r["class"]: r["days"] for r in record["retention"]}
    assert retention["attendance"] == settings.retention_attendance_days
    licences = {m["id"]: m["licence"] for m in record["models"]}
    assert licences["dlib-resnet-v1"] == "CC0-1.0"
    assert "privacy:admin" in record["access"]["roles"]["dpo"]
    assert "password" not in record["storage"]["database"]

    assert innsight_main(["hub", "privacy", "report"]) == 0
    markdown = capsys.readouterr().out
    for needle in ("## Cameras", "lift-2", "## Retention", "retention_attendance_days", "CC0-1.0"):
        assert needle in markdown
