"""What every hotel write and list shares: paging, the row lock a write takes first, and the
audit row (who, what, ids and field names only: never a personal value)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import func, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from hub.audit import AuditAction, audit

T = TypeVar("T", bound=SQLModel)
P = TypeVar("P")


class HotelAction(StrEnum):
    ROOM_TYPE_CREATE = "room_type.create"
    ROOM_TYPE_UPDATE = "room_type.update"
    ROOM_CREATE = "room.create"
    ROOM_UPDATE = "room.update"
    GUEST_CREATE = "guest.create"
    GUEST_UPDATE = "guest.update"
    BOOKING_CREATE = "booking.create"
    BOOKING_UPDATE = "booking.update"
    BOOKING_STATUS = "booking.status"
    EMPLOYEE_CREATE = "employee.create"
    EMPLOYEE_UPDATE = "employee.update"
    SHIFT_CREATE = "shift.create"
    SHIFT_UPDATE = "shift.update"
    SHIFT_DELETE = "shift.delete"
    IMPORT_BOOKINGS = "import.bookings"
    IMPORT_ROOMS = "import.rooms"
    IMPORT_EMPLOYEES = "import.employees"
    IMPORT_SHIFTS = "import.shifts"
    PMS_SYNC = "pms.sync"
    PMS_WEBHOOK = "pms.webhook"


def record(
    session: AsyncSession,
    actor: str,
    action: HotelAction,
    target: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """An audit row through hub/audit.py's ``audit`` (committed with the caller's change).
    ``audit`` types its action as ``AuditAction`` and stores ``action.value``: the hotel's
    actions are their own StrEnum until hub/audit.py lists them."""
    audit(
        session,
        actor=actor[:128],
        action=cast(AuditAction, action),
        target=target[:128],
        detail=detail,
    )


def changed_fields(values: Mapping[str, Any]) -> list[str]:
    return sorted(values)


@dataclass(frozen=True, slots=True)
class Page(Generic[P]):
    items: Sequence[P]
    total: int
    limit: int
    offset: int


async def page(
    session: AsyncSession, query: SelectOfScalar[T], order: Any, limit: int, offset: int
) -> Page[T]:
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = (await session.exec(query.order_by(order).limit(limit).offset(offset))).all()
    return Page(rows, int(total), limit, offset)


async def lock_row(session: AsyncSession, table: type[SQLModel], row_id: int) -> None:
    """Start the transaction with a write to the row (a no-op update): PostgreSQL locks the row
    and SQLite takes its write lock, so check-then-write sequences (ETag, double booking) of two
    desks run one after the other."""
    column: Any = col(getattr(table, "id"))  # noqa: B009 - every hotel table has an id
    await session.exec(update(table).where(column == row_id).values(id=column))
