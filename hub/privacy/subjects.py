"""Who a subject-rights request is about: an employee (``employee_id``) or a guest
(``guest_ref``, or the numeric guest id), resolved once for export and erasure."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.tables import AuditLog, Employee, Guest


class SubjectKind(StrEnum):
    EMPLOYEE = "employee"
    GUEST = "guest"


class SubjectError(ValueError):
    """A request about a subject that cannot be served; ``status`` is the HTTP status."""

    def __init__(self, status: int, field: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Subject:
    kind: SubjectKind
    subject_id: str  # the employee_id or the guest_ref (else the guest's numeric id)
    employee: Employee | None = None
    guest: Guest | None = None

    @property
    def target(self) -> str:
        """The audit row's target: ids only."""
        return f"{self.kind.value}:{self.subject_id}"


async def find_subject(session: AsyncSession, subject_id: str, kind: str | None) -> Subject:
    """The employee or guest ``subject_id`` names; ``kind`` settles an id both could be."""
    employee = guest = None
    if kind in (None, SubjectKind.EMPLOYEE):
        employee = (
            await session.exec(select(Employee).where(Employee.employee_id == subject_id))
        ).first()
    if kind in (None, SubjectKind.GUEST):
        guest = (await session.exec(select(Guest).where(Guest.guest_ref == subject_id))).first()
        if guest is None and subject_id.isdigit() and kind == SubjectKind.GUEST:
            guest = await session.get(Guest, int(subject_id))
    if employee is not None and guest is not None:
        raise SubjectError(
            409, "kind", f"{subject_id!r} is both an employee and a guest: give kind=employee|guest"
        )
    if employee is not None:
        return Subject(SubjectKind.EMPLOYEE, subject_id, employee=employee)
    if guest is not None:
        return Subject(SubjectKind.GUEST, subject_id, guest=guest)
    what = kind or "employee or guest"
    raise SubjectError(404, "subject_id", f"no {what} {subject_id!r}")


def record(
    session: AsyncSession, actor: str, action: str, subject: Subject, counts: dict[str, Any]
) -> None:
    """The audit row of a privacy action: actor, action, the subject's id, counts only."""
    session.add(AuditLog(actor=actor, action=action, target=subject.target, detail=counts))


def plain(value: Any) -> Any:
    """Table rows and their values as JSON-ready data (datetimes ISO 8601, ids as text)."""
    if isinstance(value, SQLModel):
        return {k: plain(v) for k, v in value.model_dump().items()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return None  # embeddings and payload bytes are not exported
    return value


def to_json(value: Any) -> bytes:
    return json.dumps(plain(value), ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
