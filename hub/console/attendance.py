"""The attendance board (who is in, late, absent per shift on a day), corrections with a reason
(audited, kept in ``attendance_corrections``) and the payroll CSV export."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.audit import AuditAction, audit
from hub.console.errors import FieldRefusedError
from hub.flows.attendance import Shift, parse_hhmm, pick_shift, shift_start_at
from hub.tables import AttendanceCorrection, AttendanceLog, Employee, ShiftSchedule, utcnow

STATUSES = ("present", "late", "absent")
CSV_COLUMNS = (
    "employee_id",
    "name",
    "department",
    "work_date",
    "check_in",
    "check_out",
    "hours",
    "status",
    "method",
    "corrected",
)
# a cell a spreadsheet would run as a formula gets a leading apostrophe
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class EmployeeNotFoundError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class BoardRow:
    employee_id: str
    name: str
    department: str | None
    shift: str | None
    state: str  # in | late | out | absent | scheduled | off
    attendance_log_id: int | None
    check_in_at: datetime | None
    check_out_at: datetime | None
    method: str | None
    status: str | None
    corrected: bool


def _shifts_by_employee(
    rows: list[ShiftSchedule], grace: int
) -> dict[str, list[tuple[Any, Shift]]]:
    found: dict[str, list[tuple[Any, Shift]]] = {}
    for row in rows:
        try:
            shift = Shift(
                parse_hhmm(row.start_time),
                parse_hhmm(row.end_time),
                row.grace_minutes if row.grace_minutes is not None else grace,
            )
        except ValueError:
            continue
        when = row.shift_date if row.shift_date is not None else row.weekday
        found.setdefault(row.employee_id, []).append((when, shift))
    return found


def _employee_shift(
    employee: Employee, schedules: list[tuple[Any, Shift]], day: date, grace: int
) -> Shift | None:
    if schedules:
        return pick_shift(schedules, day)
    if employee.shift_start and employee.shift_end:
        try:
            return Shift(parse_hhmm(employee.shift_start), parse_hhmm(employee.shift_end), grace)
        except ValueError:
            return None
    return None


def state_of(
    log: AttendanceLog | None, shift: Shift | None, day: date, tz: ZoneInfo, now: datetime
) -> str:
    if log is not None:
        if log.status == "absent":
            return "absent"
        if log.check_out_at is not None:
            return "out"
        return "late" if log.status == "late" else "in"
    if shift is None:
        return "off"
    due = shift_start_at(day, shift, tz) + timedelta(minutes=shift.grace_minutes)
    return "absent" if now > due else "scheduled"


async def board(
    session: AsyncSession, day: date, tz: ZoneInfo, now: datetime, grace: int
) -> list[BoardRow]:
    employees = (
        await session.exec(
            select(Employee).where(col(Employee.is_active).is_(True)).order_by(col(Employee.name))
        )
    ).all()
    shifts = _shifts_by_employee(list((await session.exec(select(ShiftSchedule))).all()), grace)
    logs = {
        log.employee_id: log
        for log in (
            await session.exec(select(AttendanceLog).where(AttendanceLog.work_date == day))
        ).all()
    }
    corrected = set(
        (
            await session.exec(
                select(AttendanceCorrection.employee_id).where(
                    AttendanceCorrection.work_date == day
                )
            )
        ).all()
    )
    rows = []
    for employee in employees:
        shift = _employee_shift(employee, shifts.get(employee.employee_id, []), day, grace)
        log = logs.get(employee.employee_id)
        rows.append(
            BoardRow(
                employee_id=employee.employee_id,
                name=employee.name,
                department=employee.department,
                shift=f"{shift.start:%H:%M}-{shift.end:%H:%M}" if shift else None,
                state=state_of(log, shift, day, tz, now),
                attendance_log_id=log.id if log else None,
                check_in_at=log.check_in_at if log else None,
                check_out_at=log.check_out_at if log else None,
                method=log.method if log else None,
                status=log.status if log else None,
                corrected=employee.employee_id in corrected,
            )
        )
    return rows


async def correct(
    session: AsyncSession,
    *,
    employee_id: str,
    day: date,
    status: str,
    check_in_at: datetime | None,
    check_out_at: datetime | None,
    reason: str,
    actor: str,
    tz: ZoneInfo,
) -> AttendanceCorrection:
    """Sets the day's attendance of ``employee_id`` (creating a ``manual`` log when there is
    none) and records the correction with its reason; audited (the reason stays out of the audit
    row: it may be personal)."""
    if status not in STATUSES:
        raise FieldRefusedError("status", f"one of {', '.join(STATUSES)}")
    if check_in_at and check_out_at and check_out_at < check_in_at:
        raise FieldRefusedError("check_out_at", "before the check-in")
    employee = (
        await session.exec(select(Employee).where(Employee.employee_id == employee_id))
    ).first()
    if employee is None:
        raise EmployeeNotFoundError(employee_id)
    log = (
        await session.exec(
            select(AttendanceLog).where(
                AttendanceLog.employee_id == employee_id, AttendanceLog.work_date == day
            )
        )
    ).first()
    previous = log.status if log else None
    if log is None:
        start = check_in_at or datetime.combine(day, time(0, 0), tzinfo=tz)
        log = AttendanceLog(
            employee_id=employee_id, work_date=day, check_in_at=start, method="manual"
        )
    log.status = status
    if check_in_at is not None:
        log.check_in_at = check_in_at
    if check_out_at is not None:
        log.check_out_at = check_out_at
    session.add(log)
    await session.flush()
    assert log.id is not None  # noqa: S101 - flushed
    row = AttendanceCorrection(
        attendance_log_id=log.id,
        employee_id=employee_id,
        work_date=day,
        status=status,
        previous_status=previous,
        check_in_at=check_in_at,
        check_out_at=check_out_at,
        reason=reason,
        corrected_by=actor[:160],
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    audit(
        session,
        actor=actor,
        action=AuditAction.ATTENDANCE_CORRECT,
        target=f"attendance_log:{log.id}",
        detail={
            "employee_id": employee_id,
            "work_date": day.isoformat(),
            "status": status,
            "previous_status": previous,
            "correction_id": row.id,
        },
    )
    await session.commit()
    await session.refresh(row)
    return row


async def corrections_of(
    session: AsyncSession, employee_id: str, day: date
) -> list[AttendanceCorrection]:
    rows = await session.exec(
        select(AttendanceCorrection)
        .where(
            AttendanceCorrection.employee_id == employee_id, AttendanceCorrection.work_date == day
        )
        .order_by(col(AttendanceCorrection.id))
    )
    return list(rows.all())


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _local(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""


async def payroll_csv(session: AsyncSession, start: date, end: date, tz: ZoneInfo) -> str:
    """One line per employee and day from ``start`` to ``end`` (inclusive), times in the hotel's
    zone, hours worked to two decimals; ``corrected`` says a correction changed the day."""
    rows = await session.exec(
        select(AttendanceLog, Employee.name, Employee.department)
        .join(Employee, col(Employee.employee_id) == col(AttendanceLog.employee_id))
        .where(col(AttendanceLog.work_date) >= start, col(AttendanceLog.work_date) <= end)
        .order_by(col(AttendanceLog.work_date), col(AttendanceLog.employee_id))
    )
    corrected = set(
        (
            await session.exec(
                select(AttendanceCorrection.attendance_log_id).where(
                    col(AttendanceCorrection.work_date) >= start,
                    col(AttendanceCorrection.work_date) <= end,
                )
            )
        ).all()
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for log, name, department in rows.all():
        hours = ""
        if log.check_out_at is not None and log.status != "absent":
            hours = f"{(log.check_out_at - log.check_in_at).total_seconds() / 3600:.2f}"
        writer.writerow(
            [
                _cell(log.employee_id),
                _cell(name),
                _cell(department),
                log.work_date.isoformat(),
                "" if log.status == "absent" else _local(log.check_in_at, tz),
                _local(log.check_out_at, tz),
                hours,
                log.status,
                log.method,
                "yes" if log.id in corrected else "no",
            ]
        )
    return out.getvalue()
