"""Retention per data class (issue 17 item 5): how long each kind of record is kept, and the
purge that deletes what is older, one audited step per class (counts, never data).

The classes and their settings (hub/settings.py ``retention_*_days``):

- ``face_snapshots``: face crops of events (``retention_biometric_days`` for recognised people,
  ``retention_unknown_face_days`` for unknown ones): :func:`hub.flows.maintenance.purge`.
- ``unknown_face_events``: face events of unknown people, the row and its snapshot.
- ``face_events``: face events of recognised people (whereabouts) and ``face_recognitions``;
  an attendance row keeps its check-in and loses the link to the deleted event.
- ``snapshots``: snapshots of the other events (hazards) and of anomaly detections.
- ``attendance``: attendance rows and the marks that fed them.
- ``ocr``: OCR readings (identity documents, invoices).
- ``inspection_photos``: room inspection photos (the analysis row stays).
- ``logs``: shipped service logs, notification logs, dead letters.
- ``audit``: the audit trail is hash-chained and append-only (hub/audit_chain.py): its rows
  past retention are counted and reported, never deleted here, so ``audit verify`` still
  proves the chain from its first row (archive and restart the chain to drop them).

An object whose delete fails keeps its row (or key), so the next run tries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.db import SessionFactory
from hub.settings import HubSettings
from hub.storage import ObjectStore, StorageError
from hub.tables import (
    AnomalyDetection,
    AttendanceLog,
    AttendanceMark,
    AuditLog,
    DeadLetter,
    Event,
    FaceRecognitionLog,
    NotificationLog,
    OcrResult,
    RoomAnalysisLog,
    ServiceLog,
    utcnow,
)

logger = logging.getLogger(__name__)

PURGE_ACTOR = "flow:retention_purge"
PURGE_ACTION = "retention.purge"
CHUNK = 500  # ids per IN (...) list: under SQLite's variable limit


@dataclass(frozen=True, slots=True)
class DataClass:
    """One data class: its name, the setting that fixes its retention, and what it holds."""

    name: str
    setting: str
    days: int
    holds: str


def data_classes(settings: HubSettings) -> list[DataClass]:
    """Every data class with its retention, in the order the purge runs them."""
    table = (
        ("face_snapshots", "retention_biometric_days", "face crops of recognised people's events"),
        (
            "face_snapshots_unknown",
            "retention_unknown_face_days",
            "face crops of unknown people's events",
        ),
        ("unknown_face_events", "retention_unknown_face_days", "face events of unknown people"),
        (
            "face_events",
            "retention_face_event_days",
            "recognised people's face events, recognitions",
        ),
        ("snapshots", "retention_snapshot_days", "hazard event and anomaly snapshots"),
        ("attendance", "retention_attendance_days", "attendance rows and their marks"),
        ("ocr", "retention_ocr_days", "OCR readings (identity documents, invoices)"),
        ("inspection_photos", "retention_inspection_days", "room inspection photos"),
        ("logs", "retention_log_days", "service logs, notification logs, dead letters"),
        ("audit", "retention_audit_days", "the audit trail (reported, kept: hash chain)"),
    )
    return [DataClass(name, key, int(getattr(settings, key)), holds) for name, key, holds in table]


@dataclass(slots=True)
class ClassPurge:
    """What one class's purge removed: rows per table, objects deleted, objects that failed."""

    name: str
    days: int
    cutoff: datetime
    rows: dict[str, int] = field(default_factory=dict)
    objects: int = 0
    failed: int = 0
    kept: int = 0  # rows past retention that are kept on purpose (the audit trail)

    def as_detail(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "days": self.days,
            "cutoff": self.cutoff.isoformat(),
            "rows": dict(self.rows),
            "objects": self.objects,
            "failed": self.failed,
        }
        if self.kept:
            out["kept"] = self.kept
        return out


def chunks(ids: Sequence[Any]) -> list[Sequence[Any]]:
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]


async def delete_objects(store: ObjectStore, keys: Sequence[str]) -> tuple[set[str], int]:
    """Deletes ``keys`` (idempotent); the keys deleted and how many failed."""
    done: set[str] = set()
    failed = 0
    for key in dict.fromkeys(keys):
        try:
            await asyncio.to_thread(store.delete, key)
        except StorageError as err:
            failed += 1
            logger.warning("could not delete an expired object: %s", type(err).__name__)
            continue
        done.add(key)
    return done, failed


async def _delete_events(
    session: AsyncSession, store: ObjectStore, result: ClassPurge, rows: Sequence[Event]
) -> None:
    """Deletes events (their snapshots first; an event whose snapshot could not be deleted
    stays); attendance rows keep their check-in, unlinked from the event."""
    done, result.failed = await delete_objects(
        store, [r.snapshot_key for r in rows if r.snapshot_key]
    )
    result.objects = len(done)
    ids = [r.event_id for r in rows if not r.snapshot_key or r.snapshot_key in done]
    unlinked = deleted = 0
    for part in chunks(ids):
        unlinked += (
            await session.exec(
                update(AttendanceLog)
                .where(col(AttendanceLog.event_id).in_(part))
                .values(event_id=None)
            )
        ).rowcount
        deleted += (await session.exec(delete(Event).where(col(Event.event_id).in_(part)))).rowcount
    result.rows["events"] = deleted
    if unlinked:
        result.rows["attendance_logs_unlinked"] = unlinked


async def _purge_unknown_face_events(
    session: AsyncSession, store: ObjectStore, result: ClassPurge
) -> None:
    rows = (
        await session.exec(
            select(Event).where(
                Event.kind == "face",
                col(Event.person_id).is_(None),
                col(Event.started_at) <= result.cutoff,
            )
        )
    ).all()
    await _delete_events(session, store, result, rows)


async def _purge_face_events(session: AsyncSession, store: ObjectStore, result: ClassPurge) -> None:
    rows = (
        await session.exec(
            select(Event).where(
                Event.kind == "face",
                col(Event.person_id).is_not(None),
                col(Event.started_at) <= result.cutoff,
            )
        )
    ).all()
    await _delete_events(session, store, result, rows)
    result.rows["face_recognitions"] = await _delete_older(
        session, FaceRecognitionLog, col(FaceRecognitionLog.captured_at), result.cutoff
    )


async def _purge_snapshots(session: AsyncSession, store: ObjectStore, result: ClassPurge) -> None:
    events = (
        await session.exec(
            select(Event).where(
                Event.kind != "face",
                col(Event.snapshot_key).is_not(None),
                col(Event.started_at) <= result.cutoff,
            )
        )
    ).all()
    anomalies = (
        await session.exec(
            select(AnomalyDetection).where(
                col(AnomalyDetection.snapshot_key).is_not(None),
                col(AnomalyDetection.detected_at) <= result.cutoff,
            )
        )
    ).all()
    keys = [r.snapshot_key or "" for r in events] + [r.snapshot_key or "" for r in anomalies]
    done, result.failed = await delete_objects(store, keys)
    result.objects = len(done)
    cleared: dict[str, int] = {"events": 0, "anomaly_detections": 0}
    for table, rows in (("events", events), ("anomaly_detections", anomalies)):
        for row in rows:
            if row.snapshot_key in done:
                row.snapshot_key = None
                session.add(row)
                cleared[table] += 1
    result.rows = {f"{t}_snapshot_cleared": n for t, n in cleared.items()}


async def _purge_attendance(session: AsyncSession, _store: ObjectStore, result: ClassPurge) -> None:
    ids = list(
        (
            await session.exec(
                select(AttendanceLog.id).where(col(AttendanceLog.check_in_at) <= result.cutoff)
            )
        ).all()
    )
    marks = logs = 0
    for part in chunks(ids):
        marks += (
            await session.exec(
                delete(AttendanceMark).where(col(AttendanceMark.attendance_log_id).in_(part))
            )
        ).rowcount
        logs += (
            await session.exec(delete(AttendanceLog).where(col(AttendanceLog.id).in_(part)))
        ).rowcount
    result.rows = {"attendance_logs": logs, "attendance_marks": marks}


async def _purge_ocr(session: AsyncSession, _store: ObjectStore, result: ClassPurge) -> None:
    result.rows["ocr_results"] = await _delete_older(
        session, OcrResult, col(OcrResult.created_at), result.cutoff
    )


async def _purge_inspection_photos(
    session: AsyncSession, store: ObjectStore, result: ClassPurge
) -> None:
    rows = (
        await session.exec(
            select(RoomAnalysisLog).where(
                col(RoomAnalysisLog.photo_key).is_not(None),
                col(RoomAnalysisLog.analysed_at) <= result.cutoff,
            )
        )
    ).all()
    done, result.failed = await delete_objects(store, [r.photo_key or "" for r in rows])
    result.objects = len(done)
    cleared = 0
    for row in rows:
        if row.photo_key in done:
            row.photo_key = None
            session.add(row)
            cleared += 1
    result.rows["room_analysis_logs_photo_cleared"] = cleared


async def _purge_logs(session: AsyncSession, _store: ObjectStore, result: ClassPurge) -> None:
    result.rows = {
        "service_logs": await _delete_older(session, ServiceLog, col(ServiceLog.ts), result.cutoff),
        "notification_logs": await _delete_older(
            session, NotificationLog, col(NotificationLog.sent_at), result.cutoff
        ),
        "dead_letters": await _delete_older(
            session, DeadLetter, col(DeadLetter.received_at), result.cutoff
        ),
    }


async def _count_audit(session: AsyncSession, _store: ObjectStore, result: ClassPurge) -> None:
    counted = await session.exec(
        select(func.count()).select_from(AuditLog).where(col(AuditLog.at) <= result.cutoff)
    )
    result.kept = int(counted.one())
    result.rows["audit_log"] = 0


async def _delete_older(session: AsyncSession, table: Any, column: Any, cutoff: datetime) -> int:
    outcome = await session.exec(delete(table).where(column <= cutoff))
    return int(outcome.rowcount)


Purger = Callable[[AsyncSession, ObjectStore, ClassPurge], Awaitable[None]]

# the classes this module purges (face_snapshots*: hub.flows.maintenance.purge)
PURGERS: dict[str, Purger] = {
    "unknown_face_events": _purge_unknown_face_events,
    "face_events": _purge_face_events,
    "snapshots": _purge_snapshots,
    "attendance": _purge_attendance,
    "ocr": _purge_ocr,
    "inspection_photos": _purge_inspection_photos,
    "logs": _purge_logs,
    "audit": _count_audit,
}


async def purge_data_classes(
    settings: HubSettings,
    session_factory: SessionFactory,
    store: ObjectStore,
    now: datetime | None = None,
) -> dict[str, dict[str, Any]]:
    """Runs each class's purge in its own transaction with its audit row; the counts per
    class. A class that fails is logged and reported (``error``); the others still run."""
    now = now or utcnow()
    report: dict[str, dict[str, Any]] = {}
    for data_class in data_classes(settings):
        purger = PURGERS.get(data_class.name)
        if purger is None:
            continue
        result = ClassPurge(data_class.name, data_class.days, now - timedelta(days=data_class.days))
        try:
            async with session_factory() as session:
                await purger(session, store, result)
                session.add(
                    AuditLog(
                        actor=PURGE_ACTOR,
                        action=PURGE_ACTION,
                        target=f"class:{data_class.name}",
                        detail=result.as_detail(),
                    )
                )
                await session.commit()
        except Exception as err:  # noqa: BLE001 - one class's failure must not stop the others
            logger.warning("retention purge of %s failed: %s", data_class.name, type(err).__name__)
            report[data_class.name] = {"error": type(err).__name__}
            continue
        report[data_class.name] = result.as_detail()
    return report
