"""Employees as the flows' events see them."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.tables import Employee


async def active_employee(session: AsyncSession, employee_id: str) -> Employee | None:
    """The employee ``employee_id`` while employed; ``None`` for an unknown or former one."""
    row = (await session.exec(select(Employee).where(Employee.employee_id == employee_id))).first()
    return row if row is not None and row.is_active else None
