"""Attendance in the ingest path (DESIGN §5): stored face events -> ``attendance_logs``.

Runs in process, once per ingest batch, after the events' commit. One ``attendance_marks`` row
per event makes it idempotent: a redelivered message, or a later message of the same appearance
that does not move its first/last sighting, changes nothing. Late arrivals are returned to the
caller (the hooks), which has the supervisor notified.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from hub.audit import AuditAction, audit
from hub.db import SessionFactory
from hub.flows.attendance import (
    DayRecord,
    Shift,
    ShiftWhen,
    Sighting,
    counts_for_attendance,
    fold,
    parse_hhmm,
    pick_shift,
    refold,
    resolve_day,
    retracts_attendance,
    shift_start_at,
)
from hub.settings import HubSettings
from hub.tables import AttendanceLog, AttendanceMark, Employee, Event, ShiftSchedule, utcnow

LIVENESS_ACTOR = "system:liveness"

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LateArrival:
    attendance_log_id: int
    employee_id: str
    minutes_late: int
    event_id: str


@dataclass(frozen=True, slots=True)
class Retraction:
    """A check-in taken back because its face track turned out to be a spoof."""

    attendance_log_id: int
    employee_id: str
    work_date: date
    event_id: str
    log_removed: bool  # no other sighting kept the day's record


@dataclass(frozen=True, slots=True)
class AttendanceOutcome:
    applied: int
    skipped: int
    late: list[LateArrival]
    retracted: list[Retraction] = field(default_factory=list)


def sighting_of(event: Mapping[str, Any]) -> Sighting:
    started: datetime = event["started_at"]
    ended: datetime | None = event.get("ended_at")
    updated: datetime | None = None
    return Sighting(
        event_id=str(event["event_id"]),
        employee_id=str(event["person_id"]),
        camera_id=str(event["camera_id"]),
        first_seen=started,
        last_seen=ended or updated or started,
    )


def _when_of(row: ShiftSchedule) -> ShiftWhen:
    """A one-off shift (``shift_date``) applies on its date only; else weekly or every day."""
    return row.shift_date if row.shift_date is not None else row.weekday


def _shift_of(row: ShiftSchedule, default_grace: int) -> Shift:
    return Shift(
        start=parse_hhmm(row.start_time),
        end=parse_hhmm(row.end_time),
        grace_minutes=row.grace_minutes if row.grace_minutes is not None else default_grace,
        supervisor_id=row.supervisor_employee_id,
    )


class AttendanceService:
    def __init__(self, settings: HubSettings, session_factory: SessionFactory) -> None:
        self._settings = settings
        self._sessions = session_factory
        self._tz = ZoneInfo(settings.timezone)
        self._lock = asyncio.Lock()  # one writer: (employee, day) rows have no unique key

    def relevant(self, events: Sequence[Mapping[str, Any]]) -> list[Sighting]:
        cameras = self._settings.attendance_cameras
        return [
            sighting_of(e)
            for e in events
            if counts_for_attendance(
                str(e.get("kind")),
                e.get("person_id"),
                e.get("liveness"),
                str(e["camera_id"]),
                cameras,
            )
        ]

    @staticmethod
    def spoofed(events: Sequence[Mapping[str, Any]]) -> list[str]:
        """The event ids of face events now known to be spoofs."""
        return [
            str(e["event_id"])
            for e in events
            if retracts_attendance(str(e.get("kind")), e.get("liveness"))
        ]

    async def apply(self, events: Sequence[Mapping[str, Any]]) -> AttendanceOutcome:
        sightings = self.relevant(events)
        spoofs = self.spoofed(events)
        if not sightings and not spoofs:
            return AttendanceOutcome(0, 0, [])
        async with self._lock:
            outcome = await self._apply(sightings) if sightings else AttendanceOutcome(0, 0, [])
            retracted = await self._retract(spoofs) if spoofs else []
        return AttendanceOutcome(outcome.applied, outcome.skipped, outcome.late, retracted)

    async def _retract(self, event_ids: Sequence[str]) -> list[Retraction]:
        """Takes back what each spoofed event added: its mark goes, and its day's record is
        rebuilt from the sightings left (removed when none is). Audited; idempotent (a
        retracted event has no mark left)."""
        done: list[Retraction] = []
        grace = self._settings.attendance_grace_minutes
        async with self._sessions() as session:
            for event_id in event_ids:
                mark = await session.get(AttendanceMark, uuid.UUID(event_id))
                if mark is None:
                    continue
                log = await session.get(AttendanceLog, mark.attendance_log_id)
                await session.delete(mark)
                await session.flush()
                if log is None or log.id is None:
                    continue
                rest = await session.exec(
                    select(AttendanceMark).where(AttendanceMark.attendance_log_id == log.id)
                )
                remaining = list(rest.all())
                shift = await self._shift_for(session, log.employee_id, log.work_date, grace)
                decision = refold(
                    [
                        Sighting(
                            event_id=str(m.event_id),
                            employee_id=m.employee_id,
                            camera_id=log.camera_id or "",
                            first_seen=m.first_seen_at,
                            last_seen=m.last_seen_at,
                        )
                        for m in remaining
                    ],
                    shift_start=shift_start_at(log.work_date, shift, self._tz) if shift else None,
                    grace_minutes=shift.grace_minutes if shift else grace,
                    debounce_s=self._settings.attendance_debounce_s,
                )
                log_id = log.id
                if decision is None:
                    await session.delete(log)
                else:
                    log.check_in_at = decision.record.check_in_at
                    log.check_out_at = decision.record.check_out_at
                    log.status = decision.record.status
                    if log.event_id is not None and str(log.event_id) == event_id:
                        earliest = min(remaining, key=lambda m: m.first_seen_at)
                        linked = await session.get(Event, earliest.event_id)
                        log.event_id = earliest.event_id if linked is not None else None
                    session.add(log)
                audit(
                    session,
                    actor=LIVENESS_ACTOR,
                    action=AuditAction.ATTENDANCE_RETRACT,
                    target=f"attendance_log:{log_id}",
                    detail={
                        "event_id": event_id,
                        "employee_id": log.employee_id,
                        "work_date": log.work_date.isoformat(),
                        "log_removed": decision is None,
                    },
                )
                done.append(
                    Retraction(log_id, log.employee_id, log.work_date, event_id, decision is None)
                )
            await session.commit()
        if done:
            logger.warning("attendance: %d check-ins retracted (spoofed faces)", len(done))
        return done

    async def _shift_for(
        self, session: Any, employee_id: str, day: date, grace: int
    ) -> Shift | None:
        rows = await session.exec(
            select(ShiftSchedule).where(ShiftSchedule.employee_id == employee_id)
        )
        shifts: list[tuple[ShiftWhen, Shift]] = []
        for row in rows.all():
            try:
                shifts.append((_when_of(row), _shift_of(row, grace)))
            except ValueError:
                continue
        if not shifts:
            employee = (
                await session.exec(select(Employee).where(Employee.employee_id == employee_id))
            ).first()
            if employee is not None and employee.shift_start and employee.shift_end:
                try:
                    shifts = [
                        (
                            None,
                            Shift(
                                parse_hhmm(employee.shift_start),
                                parse_hhmm(employee.shift_end),
                                grace,
                            ),
                        )
                    ]
                except ValueError:
                    shifts = []
        return pick_shift(shifts, day)

    async def catch_up(self, since: datetime) -> AttendanceOutcome:
        """Re-applies the recognised face events stored since ``since``. Attendance runs after
        the ingest's commit, so a hub stopped between the two has stored events whose attendance
        was never applied; marks make this idempotent (applied ones change nothing)."""
        async with self._sessions() as session:
            rows = await session.exec(
                select(Event).where(
                    col(Event.kind) == "face",
                    col(Event.person_id).is_not(None),
                    col(Event.started_at) >= since,
                )
            )
            events = [
                {
                    "event_id": row.event_id,
                    "kind": row.kind,
                    "person_id": row.person_id,
                    "liveness": row.liveness,
                    "camera_id": row.camera_id,
                    "started_at": row.started_at,
                    "ended_at": row.ended_at,
                }
                for row in rows.all()
            ]
        return await self.apply(events)

    async def apply_manual(
        self,
        employee_id: str,
        seen_at: datetime,
        method: str,
        camera_id: str | None,
        *,
        action: str | None = None,
        confidence: float | None = None,
        entered_by: str | None = None,
    ) -> tuple[AttendanceOutcome, AttendanceLog | None]:
        """A sighting that is not an MQTT face event: PIN, badge, manual entry (the alternative
        for employees who decline face attendance), or a recognition reported through the API
        (``/events/attendance``). ``action``: an explicit ``check_in`` or ``check_out`` (a
        check-out closes the day's log; :class:`~hub.flows.attendance.NoCheckInError` when
        there is none); None lets the day's sightings decide. ``entered_by``: the actor who
        entered it (kept on its mark and audited). Returns the day's log as it is now."""
        sighting = Sighting(
            event_id=str(uuid.uuid4()),
            employee_id=employee_id,
            camera_id=camera_id or method,
            first_seen=seen_at,
            last_seen=seen_at,
            method=method,
            link_event=False,
            action=action,
            confidence=confidence,
            entered_by=entered_by,
        )
        async with self._lock:
            outcome = await self._apply([sighting])
        async with self._sessions() as session:
            mark = await session.get(AttendanceMark, uuid.UUID(sighting.event_id))
            log = await session.get(AttendanceLog, mark.attendance_log_id) if mark else None
            if log is not None and entered_by is not None:
                audit(
                    session,
                    actor=entered_by,
                    action=AuditAction.ATTENDANCE_ENTRY,
                    target=f"attendance_log:{log.id}",
                    detail={
                        "employee_id": employee_id,
                        "method": method,
                        "action": action or "sighting",
                        "mark": sighting.event_id,
                    },
                )
                await session.commit()
                await session.refresh(log)
        return outcome, log

    async def minutes_late(self, attendance_log_id: int) -> int:
        async with self._sessions() as session:
            marks = await session.exec(
                select(AttendanceMark.minutes_late).where(
                    AttendanceMark.attendance_log_id == attendance_log_id
                )
            )
            return max(marks.all(), default=0)

    async def _apply(self, sightings: list[Sighting]) -> AttendanceOutcome:
        applied = skipped = 0
        late: list[LateArrival] = []
        grace = self._settings.attendance_grace_minutes
        async with self._sessions() as session:
            employee_ids = sorted({s.employee_id for s in sightings})
            found = await session.exec(
                select(Employee).where(col(Employee.employee_id).in_(employee_ids))
            )
            employees = {e.employee_id: e for e in found.all() if e.is_active}
            rows = await session.exec(
                select(ShiftSchedule).where(col(ShiftSchedule.employee_id).in_(employee_ids))
            )
            shifts: dict[str, list[tuple[ShiftWhen, Shift]]] = {}
            for row in rows.all():
                try:
                    shifts.setdefault(row.employee_id, []).append(
                        (_when_of(row), _shift_of(row, grace))
                    )
                except ValueError:
                    logger.warning("shift schedule %s has a bad time; ignored", row.id)
            for employee in employees.values():
                if (
                    employee.employee_id not in shifts
                    and employee.shift_start
                    and employee.shift_end
                ):
                    try:
                        every_day = Shift(
                            parse_hhmm(employee.shift_start), parse_hhmm(employee.shift_end), grace
                        )
                    except ValueError:
                        continue
                    shifts[employee.employee_id] = [(None, every_day)]
            for sighting in sorted(sightings, key=lambda s: s.first_seen):
                if sighting.employee_id not in employees:
                    skipped += 1  # unknown or inactive person: not an employee's attendance
                    continue
                if sighting.method == "face" and (
                    employees[sighting.employee_id].non_biometric_checkin
                ):
                    skipped += 1  # face consent withdrawn: PIN / badge only (hub/privacy)
                    continue
                event_id = uuid.UUID(sighting.event_id)
                mark = await session.get(AttendanceMark, event_id)
                if mark is not None and (
                    sighting.first_seen >= mark.first_seen_at
                    and sighting.last_seen <= mark.last_seen_at
                ):
                    skipped += 1  # already applied (redelivery or a message adding nothing)
                    continue
                day, shift = resolve_day(
                    sighting.first_seen, shifts.get(sighting.employee_id, []), self._tz
                )
                log = await self._log_for(session, mark, sighting.employee_id, day)
                state = (
                    DayRecord(log.check_in_at, log.check_out_at, log.status)
                    if log is not None
                    else None
                )
                decision = fold(
                    state,
                    sighting,
                    shift_start=shift_start_at(day, shift, self._tz) if shift else None,
                    grace_minutes=shift.grace_minutes if shift else grace,
                    debounce_s=self._settings.attendance_debounce_s,
                )
                if log is None:
                    log = AttendanceLog(
                        employee_id=sighting.employee_id,
                        work_date=day,
                        check_in_at=decision.record.check_in_at,
                        method=sighting.method,
                        device_id=None,
                        camera_id=sighting.camera_id,
                        event_id=event_id if sighting.link_event else None,
                        confidence=sighting.confidence,
                    )
                log.check_in_at = decision.record.check_in_at
                log.check_out_at = decision.record.check_out_at
                log.status = decision.record.status
                if (decision.created or decision.check_in_moved) and sighting.link_event:
                    log.event_id = event_id
                    log.camera_id = sighting.camera_id
                if sighting.action == "check_out":
                    if log.check_out_at == sighting.last_seen:
                        log.check_out_camera_id = sighting.camera_id
                        log.check_out_confidence = sighting.confidence
                elif sighting.action == "check_in" and (
                    decision.created or decision.check_in_moved
                ):
                    log.camera_id = sighting.camera_id
                    log.confidence = sighting.confidence
                    log.method = sighting.method
                session.add(log)
                await session.flush()
                assert log.id is not None  # noqa: S101 - flushed
                if mark is None:
                    mark = AttendanceMark(
                        event_id=event_id,
                        attendance_log_id=log.id,
                        employee_id=sighting.employee_id,
                        first_seen_at=sighting.first_seen,
                        last_seen_at=sighting.last_seen,
                        entered_by=sighting.entered_by,
                    )
                mark.first_seen_at = min(mark.first_seen_at, sighting.first_seen)
                mark.last_seen_at = max(mark.last_seen_at, sighting.last_seen)
                if decision.created or decision.check_in_moved:
                    mark.minutes_late = decision.minutes_late
                if decision.created and decision.minutes_late > 0:
                    mark.notified_at = utcnow()
                    late.append(
                        LateArrival(
                            log.id, sighting.employee_id, decision.minutes_late, sighting.event_id
                        )
                    )
                session.add(mark)
                applied += 1
            await session.commit()
        if applied:
            logger.info("attendance: %d sightings applied, %d late", applied, len(late))
        return AttendanceOutcome(applied, skipped, late)

    @staticmethod
    async def _log_for(
        session: Any, mark: AttendanceMark | None, employee_id: str, day: date
    ) -> AttendanceLog | None:
        if mark is not None:
            log: AttendanceLog | None = await session.get(AttendanceLog, mark.attendance_log_id)
            if log is not None:
                return log
        result = await session.exec(
            select(AttendanceLog)
            .where(AttendanceLog.employee_id == employee_id, AttendanceLog.work_date == day)
            .order_by(col(AttendanceLog.id))
            .limit(1)
        )
        found: AttendanceLog | None = result.first()
        return found
