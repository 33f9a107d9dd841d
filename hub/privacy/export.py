"""A subject access export (issue 17 item 5): one ZIP of everything the hub holds about one
person, as JSON + images, with a manifest.

``person.json`` (the employee or guest row, personal fields decrypted), ``face_events.json`` and
``snapshots/{event_id}.jpg`` (other people's faces blurred: :mod:`hub.privacy.blur`),
``recognitions.json``, ``attendance.json``, ``templates.json`` (template metadata: the vectors
themselves are not exported) and ``crops/{face_id}.jpg`` (the enrolment crops), ``consent.json``
(the consent history), ``shifts.json``; for a guest ``bookings.json``, ``service_orders.json``,
``ocr_results.json``, ``lost_items.json``. ``manifest.json`` lists each file with its sha256,
each section's record count, and notes (snapshots or crops that could not be read).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import cv2
import numpy as np
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.crypto import PiiCipher
from hub.face_templates import is_sealed
from hub.gallery import face_crop_key
from hub.privacy.blur import redact
from hub.privacy.subjects import Subject, SubjectKind, plain, to_json
from hub.storage import ObjectStore, StorageError
from hub.tables import (
    AttendanceLog,
    AttendanceMark,
    Booking,
    ConsentRecord,
    EmployeeFace,
    Event,
    FaceRecognitionLog,
    LostItem,
    OcrResult,
    ServiceOrder,
    ShiftSchedule,
)
from models.faces import FaceBox, Image

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
Detector = Callable[[Image], list[FaceBox]]
Opener = Callable[[bytes], bytes]  # stored crop bytes -> JPEG (crops are sealed at rest)


@dataclass(slots=True)
class ExportBundle:
    """The ZIP's files and the manifest's sections and notes, filled section by section."""

    files: dict[str, bytes] = field(default_factory=dict)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add_section(self, name: str, records: Sequence[Any]) -> None:
        path = f"{name}.json"
        self.files[path] = to_json(list(records))
        self.sections[name] = {"file": path, "records": len(records)}


def sealed_crop_opener(cipher: PiiCipher) -> Opener:
    """Crops sealed at rest (hub/face_templates.py) opened; crops stored in clear as they are."""

    def open_crop(data: bytes) -> bytes:
        return cipher.decrypt_bytes(data) if is_sealed(data) else data

    return open_crop


def _box(payload: dict[str, Any]) -> FaceBox | None:
    bbox = payload.get("bbox")
    if not isinstance(bbox, dict):
        return None
    try:
        return FaceBox(int(bbox["x"]), int(bbox["y"]), int(bbox["w"]), int(bbox["h"]))
    except (KeyError, TypeError, ValueError):
        return None


def redacted_snapshot(
    jpeg: bytes, stored: FaceBox | None, extra: Sequence[FaceBox], detect: Detector | None
) -> tuple[bytes, int] | None:
    """The snapshot with every face but the subject's blurred (JPEG), and how many faces were
    blurred (-1: no detector, all but the subject blurred); None when it does not decode."""
    decoded = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        return None
    image: Image = np.ascontiguousarray(decoded, dtype=np.uint8)
    found = detect(image) if detect is not None else None
    out, blurred = redact(image, stored=stored, found=found, extra=extra)
    ok, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return (bytes(encoded.tobytes()), blurred) if ok else None


async def _read(store: ObjectStore, key: str) -> bytes | None:
    try:
        return await asyncio.to_thread(store.get, key)
    except StorageError as err:
        logger.warning("export: an object could not be read: %s", type(err).__name__)
        return None


async def _face_events(
    session: AsyncSession,
    store: ObjectStore,
    bundle: ExportBundle,
    person_id: str,
    detect: Detector | None,
) -> None:
    events = (
        await session.exec(
            select(Event).where(Event.person_id == person_id).order_by(col(Event.started_at))
        )
    ).all()
    keys = [e.snapshot_key for e in events if e.snapshot_key]
    # other people's events in the same frame (a shared snapshot reference): their boxes
    neighbours = (
        (
            await session.exec(
                select(Event).where(
                    col(Event.snapshot_key).in_(keys),
                    (col(Event.person_id) != person_id) | col(Event.person_id).is_(None),
                )
            )
        ).all()
        if keys
        else []
    )
    records = []
    for event in events:
        record = plain(event)
        record.pop("snapshot_key", None)
        if event.snapshot_key:
            jpeg = await _read(store, event.snapshot_key)
            extra = [
                b
                for n in neighbours
                if n.snapshot_key == event.snapshot_key and (b := _box(n.payload)) is not None
            ]
            done = (
                await asyncio.to_thread(redacted_snapshot, jpeg, _box(event.payload), extra, detect)
                if jpeg is not None
                else None
            )
            if done is None:
                bundle.notes.append(f"snapshot of event {event.event_id} could not be read")
            else:
                path = f"snapshots/{event.event_id}.jpg"
                bundle.files[path] = done[0]
                record["snapshot"] = path
                record["other_faces_blurred"] = done[1] if done[1] >= 0 else "all but the subject"
        records.append(record)
    bundle.add_section("face_events", records)


async def _enrolment(
    session: AsyncSession,
    store: ObjectStore,
    bundle: ExportBundle,
    employee_id: str,
    open_crop: Opener,
) -> None:
    faces = (
        await session.exec(
            select(EmployeeFace)
            .where(EmployeeFace.employee_id == employee_id)
            .order_by(col(EmployeeFace.id))
        )
    ).all()
    templates = []
    for face in faces:
        face_id = int(face.id or 0)
        entry: dict[str, Any] = {
            "face_id": face_id,
            "model_id": face.model_id,
            "dim": face.dim,
            "quality": face.quality,
            "created_at": face.created_at.isoformat(),
        }
        crop = await _read(store, face_crop_key(employee_id, face_id))
        if crop is not None:
            try:
                crop = open_crop(crop)
            except ValueError:
                crop = None
        if crop is None:
            bundle.notes.append(f"enrolment crop of face {face_id} could not be read")
        else:
            entry["crop"] = f"crops/{face_id}.jpg"
            bundle.files[entry["crop"]] = crop
        templates.append(entry)
    bundle.add_section("templates", templates)


async def _rows(session: AsyncSession, query: Any) -> list[Any]:
    return list((await session.exec(query)).all())


async def _employee_sections(
    session: AsyncSession,
    store: ObjectStore,
    bundle: ExportBundle,
    employee_id: str,
    open_crop: Opener,
) -> None:
    await _enrolment(session, store, bundle, employee_id, open_crop)
    # section -> (table, its employee column, the column it is ordered by)
    sections: tuple[tuple[str, Any, Any, Any], ...] = (
        ("attendance", AttendanceLog, AttendanceLog.employee_id, AttendanceLog.check_in_at),
        (
            "attendance_marks",
            AttendanceMark,
            AttendanceMark.employee_id,
            AttendanceMark.first_seen_at,
        ),
        (
            "recognitions",
            FaceRecognitionLog,
            FaceRecognitionLog.employee_id,
            FaceRecognitionLog.captured_at,
        ),
        ("consent", ConsentRecord, ConsentRecord.employee_id, ConsentRecord.given_at),
        ("shifts", ShiftSchedule, ShiftSchedule.employee_id, ShiftSchedule.id),
    )
    for name, table, column, order in sections:
        query = select(table).where(column == employee_id).order_by(col(order))
        bundle.add_section(name, await _rows(session, query))


async def _guest_sections(session: AsyncSession, bundle: ExportBundle, guest_id: int) -> None:
    for name, table in (
        ("bookings", Booking),
        ("service_orders", ServiceOrder),
        ("ocr_results", OcrResult),
        ("lost_items", LostItem),
    ):
        column = table.guest_id
        bundle.add_section(name, await _rows(session, select(table).where(column == guest_id)))
    bundle.add_section("consent", [])
    bundle.notes.append("consent records are kept for employees only; a guest has none")


async def build_export(
    session: AsyncSession,
    store: ObjectStore,
    subject: Subject,
    *,
    detect: Detector | None,
    open_crop: Opener,
    actor: str,
    now: datetime,
) -> tuple[bytes, dict[str, Any]]:
    """The ZIP's bytes and its manifest."""
    bundle = ExportBundle()
    person = subject.employee if subject.kind is SubjectKind.EMPLOYEE else subject.guest
    bundle.files["person.json"] = to_json(person)
    bundle.sections["person"] = {"file": "person.json", "records": 1}
    if subject.kind is SubjectKind.EMPLOYEE:
        await _face_events(session, store, bundle, subject.subject_id, detect)
        await _employee_sections(session, store, bundle, subject.subject_id, open_crop)
    else:
        assert subject.guest is not None  # noqa: S101 - a guest subject has its row
        bundle.notes.append("face events name employees only: a guest has none")
        await _guest_sections(session, bundle, int(subject.guest.id or 0))
    if detect is None:
        bundle.notes.append(
            "no face detector: snapshots have everything but the subject's face blurred"
        )
    manifest = {
        "format": FORMAT_VERSION,
        "subject": {"kind": subject.kind.value, "id": subject.subject_id},
        "generated_at": now.isoformat(),
        "generated_by": actor,
        "sections": bundle.sections,
        "files": [
            {"path": path, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for path, data in sorted(bundle.files.items())
        ],
        "notes": bundle.notes,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", to_json(manifest))
        for path, data in sorted(bundle.files.items()):
            archive.writestr(path, data)
    return buffer.getvalue(), manifest
