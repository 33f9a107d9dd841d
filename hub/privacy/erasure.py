"""Erasure of one subject (issue 17 item 5), with a report of what was removed where.

Decisions (docs/api/privacy.md says the same):

- **Templates and crops** are deleted through the gallery's own delete path
  (:meth:`hub.gallery.GalleryService.remove_faces`): a new gallery version without the person
  is published and announced, so every edge drops them at its next gallery sync.
- **Face events** naming the person are *pseudonymised*, not deleted: their snapshot (the
  person's face) is deleted from the object store, and ``person_id`` (column and payload) is
  replaced by a random pseudonym made for this erasure (``erased-<12 hex>``), linked to nothing:
  the counts of the hotel's statistics stay right, the person cannot be found again.
- **Recognition log** rows (``face_recognitions``: whereabouts) are deleted; the person is
  removed as other people's shift supervisor and as the assignee of housekeeping tasks.
- **Attendance** older than ``retention_attendance_days`` is deleted; younger rows are working-
  time records the hotel must keep (GDPR Art. 17(3)(b), labour law) and stay, under the
  employee id, until the retention purge removes them: then the employee row is kept as a
  tombstone with every personal field cleared. ``attendance="delete"`` deletes them all too.
  With no attendance left, the employee row, shifts and consent records are deleted.
- **Consent records** are deleted with the employee row (kept while the tombstone is).
- **Guests**: OCR readings (identity documents) are deleted; bookings and service orders are
  accounting records and stay, under a tombstone guest row with every personal field cleared
  (the row is deleted when no booking refers to it); lost items and housekeeping tasks lose
  the link to the guest.
- **The audit trail** keeps its rows (ids and counts only, hash-chained): the erasure itself is
  recorded there.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.db import SessionFactory
from hub.gallery import RemovalResult
from hub.privacy.retention import chunks, delete_objects
from hub.privacy.subjects import Subject, SubjectKind, find_subject, record
from hub.storage import ObjectStore
from hub.tables import (
    AttendanceLog,
    AttendanceMark,
    Booking,
    ConsentRecord,
    Device,
    Employee,
    Event,
    FaceRecognitionLog,
    Guest,
    HousekeepingTask,
    LostItem,
    OcrResult,
    ServiceOrder,
    ShiftSchedule,
    utcnow,
)

AttendancePolicy = Literal["retention", "delete"]
ERASED_NAME = "[erased]"
ERASE_ACTION = "privacy.erase"


class TemplateRemover(Protocol):
    async def remove_faces(self, employee_id: str) -> RemovalResult: ...


@dataclass(slots=True)
class ErasureReport:
    subject: dict[str, str]
    deleted: dict[str, int] = field(default_factory=dict)  # table -> rows deleted
    pseudonymised: dict[str, int] = field(default_factory=dict)  # table -> rows rewritten
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)  # table -> count and why
    objects: dict[str, int] = field(default_factory=lambda: {"deleted": 0, "failed": 0})
    edges: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "deleted": self.deleted,
            "pseudonymised": self.pseudonymised,
            "kept": self.kept,
            "objects": self.objects,
            "edges": self.edges,
        }

    def audit_detail(self) -> dict[str, Any]:
        """Counts only (the pseudonym is not in it)."""
        return {
            "deleted": self.deleted,
            "pseudonymised": self.pseudonymised,
            "kept": {k: v["rows"] for k, v in self.kept.items()},
            "objects": self.objects,
            "gallery_version": self.edges.get("gallery_version"),
        }


def pseudonym() -> str:
    return f"erased-{secrets.token_hex(6)}"


async def _count(session: AsyncSession, query: Any) -> int:
    return int((await session.exec(query)).one())


async def _run(session: AsyncSession, statement: Any) -> int:
    return int((await session.exec(statement)).rowcount)


async def _erase_events(
    session: AsyncSession, store: ObjectStore, report: ErasureReport, person_id: str
) -> None:
    events = (await session.exec(select(Event).where(Event.person_id == person_id))).all()
    done, failed = await delete_objects(store, [e.snapshot_key for e in events if e.snapshot_key])
    report.objects["deleted"] += len(done)
    report.objects["failed"] += failed
    alias = pseudonym()
    for event in events:
        event.person_id = alias
        event.payload = {**event.payload, "person_id": alias}
        if event.snapshot_key in done:
            event.snapshot_key = None
        session.add(event)
    report.pseudonymised["events"] = len(events)
    report.deleted["face_recognitions"] = await _run(
        session, delete(FaceRecognitionLog).where(col(FaceRecognitionLog.employee_id) == person_id)
    )


async def _erase_attendance(
    session: AsyncSession,
    report: ErasureReport,
    employee_id: str,
    cutoff: datetime | None,
) -> int:
    """Deletes the employee's attendance (all, or older than ``cutoff``); how many stay."""
    query = select(AttendanceLog.id).where(AttendanceLog.employee_id == employee_id)
    if cutoff is not None:
        query = query.where(col(AttendanceLog.check_in_at) <= cutoff)
    ids = list((await session.exec(query)).all())
    marks = logs = 0
    for part in chunks(ids):
        marks += await _run(
            session, delete(AttendanceMark).where(col(AttendanceMark.attendance_log_id).in_(part))
        )
        logs += await _run(session, delete(AttendanceLog).where(col(AttendanceLog.id).in_(part)))
    report.deleted["attendance_logs"] = logs
    report.deleted["attendance_marks"] = marks
    return await _count(
        session,
        select(func.count())
        .select_from(AttendanceLog)
        .where(AttendanceLog.employee_id == employee_id),
    )


def _clear_employee(row: Employee) -> None:
    row.name = ERASED_NAME
    for name in ("email", "phone", "department", "position", "shift_start", "shift_end"):
        setattr(row, name, None)
    row.is_active = False
    row.attendance_camera = False
    row.face_consent_at = None
    row.updated_at = utcnow()


async def erase_employee(
    session: AsyncSession,
    store: ObjectStore,
    subject: Subject,
    removal: RemovalResult,
    *,
    attendance_days: int,
    attendance: AttendancePolicy,
    now: datetime,
) -> ErasureReport:
    employee = subject.employee
    assert employee is not None  # noqa: S101 - an employee subject has its row
    employee_id = subject.subject_id
    report = ErasureReport({"kind": subject.kind.value, "id": employee_id})
    report.deleted["employee_faces"] = removal.faces_deleted
    report.objects["deleted"] += removal.crops_deleted
    report.objects["failed"] += max(0, removal.faces_deleted - removal.crops_deleted)
    devices = await _count(
        session, select(func.count()).select_from(Device).where(col(Device.revoked_at).is_(None))
    )
    report.edges = {
        "gallery_version": removal.gallery.version if removal.gallery is not None else None,
        "devices_notified": devices if removal.gallery is not None else 0,
        "when": "each edge drops the templates at its next gallery sync",
    }
    await _erase_events(session, store, report, employee_id)
    report.pseudonymised["shift_schedules_supervisor"] = await _run(
        session,
        update(ShiftSchedule)
        .where(col(ShiftSchedule.supervisor_employee_id) == employee_id)
        .values(supervisor_employee_id=None),
    )
    report.pseudonymised["housekeeping_tasks_assignee"] = await _run(
        session,
        update(HousekeepingTask)
        .where(col(HousekeepingTask.assigned_to) == employee_id)
        .values(assigned_to=None),
    )
    cutoff = None if attendance == "delete" else now - timedelta(days=attendance_days)
    remaining = await _erase_attendance(session, report, employee_id, cutoff)
    if remaining:
        report.kept["attendance_logs"] = {
            "rows": remaining,
            "why": f"working-time records kept for retention_attendance_days ({attendance_days})",
        }
        report.kept["employees"] = {"rows": 1, "why": "tombstone: personal fields cleared"}
        _clear_employee(employee)
        session.add(employee)
        report.pseudonymised["employees"] = 1
        return report
    report.deleted["attendance_marks"] += await _run(
        session, delete(AttendanceMark).where(col(AttendanceMark.employee_id) == employee_id)
    )
    report.deleted["shift_schedules"] = await _run(
        session, delete(ShiftSchedule).where(col(ShiftSchedule.employee_id) == employee_id)
    )
    report.deleted["consent_records"] = await _run(
        session, delete(ConsentRecord).where(col(ConsentRecord.employee_id) == employee_id)
    )
    await session.delete(employee)
    report.deleted["employees"] = 1
    return report


def _clear_guest(row: Guest) -> None:
    row.full_name = ERASED_NAME
    for name in (
        "email",
        "email_bidx",
        "phone",
        "nationality",
        "date_of_birth",
        "id_document_type",
        "id_document_number",
        "loyalty_tier",
        "notes",
        "face_consent_at",
    ):
        setattr(row, name, None)
    row.vip = False
    row.updated_at = utcnow()


async def erase_guest(session: AsyncSession, subject: Subject) -> ErasureReport:
    guest = subject.guest
    if guest is None or guest.id is None:
        raise ValueError("a guest subject without its stored row")
    guest_id = guest.id
    report = ErasureReport({"kind": subject.kind.value, "id": subject.subject_id})
    report.deleted["ocr_results"] = await _run(
        session, delete(OcrResult).where(col(OcrResult.guest_id) == guest_id)
    )
    for table, name in ((LostItem, "lost_items"), (HousekeepingTask, "housekeeping_tasks")):
        report.pseudonymised[name] = await _run(
            session,
            update(table).where(col(table.guest_id) == guest_id).values(guest_id=None),
        )
    bookings = await _count(
        session, select(func.count()).select_from(Booking).where(Booking.guest_id == guest_id)
    )
    orders = await _count(
        session,
        select(func.count()).select_from(ServiceOrder).where(ServiceOrder.guest_id == guest_id),
    )
    if bookings or orders:
        report.kept["bookings"] = {"rows": bookings, "why": "accounting records"}
        report.kept["service_orders"] = {"rows": orders, "why": "accounting records"}
        report.kept["guests"] = {"rows": 1, "why": "tombstone: personal fields cleared"}
        _clear_guest(guest)
        session.add(guest)
        report.pseudonymised["guests"] = 1
        return report
    await session.delete(guest)
    report.deleted["guests"] = 1
    return report


async def erase_subject(
    session_factory: SessionFactory,
    store: ObjectStore,
    gallery: TemplateRemover,
    subject: Subject,
    *,
    actor: str,
    attendance_days: int,
    attendance: AttendancePolicy = "retention",
    now: datetime | None = None,
) -> ErasureReport:
    """Erases ``subject`` (found by :func:`find_subject`) and writes the audit row (counts).

    An employee's templates go first, through the gallery (its own transaction, which
    publishes the new gallery); the rest runs in one transaction of its own, opened after it."""
    removal = None
    if subject.kind is SubjectKind.EMPLOYEE:
        removal = await gallery.remove_faces(subject.subject_id)
    async with session_factory() as session:
        fresh = await find_subject(session, subject.subject_id, subject.kind.value)
        if removal is not None:
            report = await erase_employee(
                session,
                store,
                fresh,
                removal,
                attendance_days=attendance_days,
                attendance=attendance,
                now=now or utcnow(),
            )
        else:
            report = await erase_guest(session, fresh)
        record(session, actor, ERASE_ACTION, fresh, report.audit_detail())
        await session.commit()
    return report
