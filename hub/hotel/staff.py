"""Employees and their shift schedules: weekly patterns (``weekday``, or every day when null)
and one-off shifts (``shift_date``), ``HH:MM`` in the hotel's time zone, an end before the
start crossing midnight."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.hotel.errors import HotelError, invalid, not_found
from hub.hotel.etag import check_if_match, etag_of
from hub.hotel.records import HotelAction, Page, changed_fields, lock_row, page, record
from hub.hotel.validation import check_email, check_shift
from hub.tables import Employee, ShiftSchedule, utcnow

EMPLOYEE_PII_FIELDS: tuple[str, ...] = ("email", "phone")


def employee_etag(row: Employee) -> str:
    return etag_of("employee", row.id, row.updated_at)


def shift_etag(row: ShiftSchedule) -> str:
    return etag_of("shift", row.id, row.updated_at)


async def get_employee(
    session: AsyncSession, employee_id: str, field: str = "employee_id"
) -> Employee:
    row = (await session.exec(select(Employee).where(Employee.employee_id == employee_id))).first()
    if row is None:
        raise not_found(field, "employee", employee_id)
    return row


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    if values.get("email") is not None:
        return {**values, "email": check_email(values["email"])}
    return values


async def create_employee(session: AsyncSession, values: dict[str, Any], actor: str) -> Employee:
    values = _checked(values)
    ref = values["employee_id"]
    if (await session.exec(select(Employee.id).where(Employee.employee_id == ref))).first():
        raise HotelError(409, "employee_id", f"employee {ref!r} exists")
    row = Employee(**values)
    session.add(row)
    await session.flush()
    record(session, actor, HotelAction.EMPLOYEE_CREATE, f"employee:{ref}")
    await session.commit()
    return row


async def update_employee(
    session: AsyncSession,
    employee_id: str,
    values: dict[str, Any],
    if_match: str | None,
    actor: str,
    on_employment_end: Callable[[str], Awaitable[object]] | None = None,
) -> Employee:
    """``on_employment_end``: called after the commit when the employee turns inactive
    (left / terminated): hub/privacy/employment.py deletes their face templates (audited)."""
    row = await get_employee(session, employee_id)
    assert row.id is not None  # noqa: S101 - a stored row
    await lock_row(session, Employee, row.id)
    await session.refresh(row)
    check_if_match(if_match, employee_etag(row))
    ended = row.is_active and values.get("is_active") is False
    for name, value in _checked(values).items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.add(row)
    record(
        session,
        actor,
        HotelAction.EMPLOYEE_UPDATE,
        f"employee:{employee_id}",
        {"fields": changed_fields(values)},
    )
    await session.commit()
    if ended and on_employment_end is not None:
        await on_employment_end(employee_id)
        await session.refresh(row)
    return row


async def list_employees(
    session: AsyncSession,
    *,
    department: str | None,
    is_active: bool | None,
    limit: int,
    offset: int,
) -> Page[Employee]:
    query = select(Employee)
    if department is not None:
        query = query.where(Employee.department == department)
    if is_active is not None:
        query = query.where(col(Employee.is_active).is_(is_active))
    return await page(session, query, col(Employee.employee_id), limit, offset)


async def _check_shift_values(session: AsyncSession, values: dict[str, Any]) -> None:
    """Times valid and different, weekday agreeing with a one-off date, people known."""
    check_shift(values["start_time"], values["end_time"])
    day: date | None = values.get("shift_date")
    if day is not None:
        if values.get("weekday") not in (None, day.weekday()):
            raise invalid("weekday", f"{day} is weekday {day.weekday()} (0 = Monday)")
        values["weekday"] = day.weekday()
    for name in ("employee_id", "supervisor_employee_id"):
        if values.get(name) is not None:
            try:
                await get_employee(session, values[name], name)
            except HotelError as err:
                raise invalid(name, err.reason) from None


async def get_shift(session: AsyncSession, shift_id: int) -> ShiftSchedule:
    row = await session.get(ShiftSchedule, shift_id)
    if row is None:
        raise not_found("shift_id", "shift", shift_id)
    return row


async def create_shift(session: AsyncSession, values: dict[str, Any], actor: str) -> ShiftSchedule:
    values = dict(values)
    await _check_shift_values(session, values)
    row = ShiftSchedule(**values)
    session.add(row)
    await session.flush()
    record(
        session,
        actor,
        HotelAction.SHIFT_CREATE,
        f"shift:{row.id}",
        {"employee": row.employee_id},
    )
    await session.commit()
    return row


async def update_shift(
    session: AsyncSession,
    shift_id: int,
    values: dict[str, Any],
    if_match: str | None,
    actor: str,
) -> ShiftSchedule:
    await lock_row(session, ShiftSchedule, shift_id)
    row = await get_shift(session, shift_id)
    await session.refresh(row)
    check_if_match(if_match, shift_etag(row))
    merged = {**row.model_dump(), **values}
    if "shift_date" in values and values["shift_date"] is None and "weekday" not in values:
        merged["weekday"] = None  # no longer one-off: every day unless a weekday is given
    await _check_shift_values(session, merged)
    for name in (*values, "weekday"):
        setattr(row, name, merged[name])
    row.updated_at = utcnow()
    session.add(row)
    record(
        session,
        actor,
        HotelAction.SHIFT_UPDATE,
        f"shift:{shift_id}",
        {"fields": changed_fields(values)},
    )
    await session.commit()
    return row


async def delete_shift(
    session: AsyncSession, shift_id: int, if_match: str | None, actor: str
) -> None:
    await lock_row(session, ShiftSchedule, shift_id)
    row = await get_shift(session, shift_id)
    check_if_match(if_match, shift_etag(row))
    employee = row.employee_id
    await session.delete(row)
    record(session, actor, HotelAction.SHIFT_DELETE, f"shift:{shift_id}", {"employee": employee})
    await session.commit()


async def list_shifts(
    session: AsyncSession,
    *,
    employee_id: str | None,
    on: date | None,
    limit: int,
    offset: int,
) -> Page[ShiftSchedule]:
    """``on``: the shifts that apply on that day (every-day, its weekday's, its one-offs)."""
    query = select(ShiftSchedule)
    if employee_id is not None:
        query = query.where(ShiftSchedule.employee_id == employee_id)
    if on is not None:
        query = query.where(
            (col(ShiftSchedule.shift_date) == on)
            | (
                col(ShiftSchedule.shift_date).is_(None)
                & (
                    col(ShiftSchedule.weekday).is_(None)
                    | (col(ShiftSchedule.weekday) == on.weekday())
                )
            )
        )
    return await page(session, query, col(ShiftSchedule.id), limit, offset)
