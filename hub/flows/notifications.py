"""Sending one message to several recipients, and the late-arrival notification.

Flow parameters carry ids only (never names or addresses): the steps read the personal fields
from the hub's database (decrypted there), so Prefect's own database holds no personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from sqlmodel import select

from hub.flows.context import FlowDeps
from hub.notify.base import NotifyError
from hub.notify.messages import compose
from hub.tables import AttendanceLog, AttendanceMark, Employee, ShiftSchedule, utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Target:
    channel: str
    address: str
    recipient: str  # a role or an id, for the log


class DeliveryFailedError(NotifyError):
    """No target took the message (the task retries)."""


def lang_of(deps: FlowDeps) -> Literal["vi", "en"]:
    return cast(Literal["vi", "en"], deps.settings.notify_language)


async def deliver(
    deps: FlowDeps, kind: str, fields: Mapping[str, str], targets: Sequence[Target]
) -> dict[str, Any]:
    """Send ``kind`` to every target; raises :class:`DeliveryFailedError` when there were
    targets and none took it."""
    note = compose(kind, lang_of(deps), fields)
    sent: list[str] = []
    failed: list[str] = []
    for target in targets:
        try:
            await deps.notifier.send(
                target.channel, target.address, note, recipient=target.recipient
            )
        except NotifyError as err:
            logger.warning(
                "%s to %s via %s failed: %s", kind, target.recipient, target.channel, err
            )
            failed.append(f"{target.channel}:{target.recipient}")
        else:
            sent.append(f"{target.channel}:{target.recipient}")
    if targets and not sent:
        raise DeliveryFailedError(f"{kind}: no channel delivered ({', '.join(failed)})")
    return {"kind": kind, "sent": sent, "failed": failed, "template": note.template}


def local_hhmm(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M")


async def late_arrival_targets(deps: FlowDeps, log: AttendanceLog) -> list[Target]:
    """The supervisor of the employee's shift by e-mail (else the configured address), and the
    ``supervisor`` staff topic."""
    targets: list[Target] = []
    async with deps.session_factory() as session:
        shifts = await session.exec(
            select(ShiftSchedule).where(ShiftSchedule.employee_id == log.employee_id)
        )
        supervisor_ids = [
            s.supervisor_employee_id for s in shifts.all() if s.supervisor_employee_id
        ]
        email: str | None = None
        label = "attendance_notify_email"
        for supervisor_id in supervisor_ids:
            found = await session.exec(
                select(Employee).where(Employee.employee_id == supervisor_id)
            )
            supervisor = found.first()
            if supervisor is not None and supervisor.email:
                email, label = supervisor.email, f"employee:{supervisor_id}"
                break
    email = email or deps.settings.attendance_notify_email
    if email and deps.notifier.has("email"):
        targets.append(Target("email", email, label))
    if deps.notifier.has("mqtt"):
        targets.append(Target("mqtt", "supervisor", "role:supervisor"))
    return targets


async def notify_late_arrival(deps: FlowDeps, attendance_log_id: int) -> dict[str, Any]:
    tz = ZoneInfo(deps.settings.timezone)
    async with deps.session_factory() as session:
        log = await session.get(AttendanceLog, attendance_log_id)
        if log is None:
            raise LookupError(f"no attendance log {attendance_log_id}")
        employee = (
            await session.exec(select(Employee).where(Employee.employee_id == log.employee_id))
        ).first()
        marks = await session.exec(
            select(AttendanceMark).where(AttendanceMark.attendance_log_id == attendance_log_id)
        )
        minutes = max((m.minutes_late for m in marks.all()), default=0)
        shift = (
            await session.exec(
                select(ShiftSchedule).where(ShiftSchedule.employee_id == log.employee_id)
            )
        ).first()
    shift_start = shift.start_time if shift else (employee.shift_start if employee else None)
    fields = {
        "employee_name": employee.name if employee else log.employee_id,
        "employee_id": log.employee_id,
        "shift_start": shift_start or "?",
        "arrived_at": local_hhmm(log.check_in_at, tz),
        "minutes_late": str(minutes),
    }
    targets = await late_arrival_targets(deps, log)
    result = await deliver(deps, "late_arrival", fields, targets)
    return result | {"attendance_log_id": attendance_log_id, "minutes_late": minutes}


async def attendance_notify_targets(deps: FlowDeps, employee_id: str) -> list[Target]:
    """Who hears of an attendance problem of ``employee_id``: the shift's supervisor by e-mail
    (else the configured address), and the ``supervisor`` staff topic."""
    now = utcnow()
    probe = AttendanceLog(employee_id=employee_id, work_date=now.date(), check_in_at=now)
    return await late_arrival_targets(deps, probe)


async def notify_attendance_retracted(
    deps: FlowDeps, employee_id: str, work_date: str, event_id: str
) -> dict[str, Any]:
    """Tells the manager that a face check-in was taken back (its track was a spoof)."""
    async with deps.session_factory() as session:
        employee = (
            await session.exec(select(Employee).where(Employee.employee_id == employee_id))
        ).first()
    fields = {
        "employee_name": employee.name if employee else employee_id,
        "employee_id": employee_id,
        "work_date": work_date,
    }
    targets = await attendance_notify_targets(deps, employee_id)
    result = await deliver(deps, "attendance_retracted", fields, targets)
    return result | {"employee_id": employee_id, "event_id": event_id}


DEAD_LETTER_ROLE = "manager"


async def notify_dead_letter_alert(
    deps: FlowDeps, device_id: str, count: int, window_s: float
) -> dict[str, Any]:
    """Tells the managers (MQTT staff topic, webhook, the configured e-mail) that one edge keeps
    producing dead letters (the ingest's alarm, issue 14); never the messages themselves."""
    targets: list[Target] = []
    if deps.notifier.has("mqtt"):
        targets.append(Target("mqtt", DEAD_LETTER_ROLE, f"role:{DEAD_LETTER_ROLE}"))
    if deps.notifier.has("webhook"):
        targets.append(Target("webhook", DEAD_LETTER_ROLE, f"role:{DEAD_LETTER_ROLE}"))
    if deps.settings.attendance_notify_email and deps.notifier.has("email"):
        targets.append(Target("email", deps.settings.attendance_notify_email, "role:manager"))
    fields = {
        "device_id": device_id,
        "count": str(count),
        "window_minutes": str(max(1, round(window_s / 60))),
    }
    return await deliver(deps, "dead_letter_alert", fields, targets)
