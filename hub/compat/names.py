"""Which recognised people may be named outside the hub (Frigate's ``sub_label``, Home
Assistant's last recognised employee): an active employee who keeps face check-in and holds an
active consent for one of the configured purposes (hub/privacy/consent_store.py). Everyone else
stays unnamed. Read per batch, so a withdrawal takes effect at the next event."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Literal

from sqlmodel import col, select

from hub.db import SessionFactory
from hub.tables import ConsentRecord, Employee

SubLabel = Literal["name", "employee_id"]


def parse_purposes(value: str) -> frozenset[str]:
    """``compat_name_purposes`` (comma-separated; ``none``: no purpose) as a set."""
    return frozenset(p.strip() for p in value.split(",") if p.strip() and p.strip() != "none")


async def allowed_names(
    session_factory: SessionFactory,
    person_ids: Iterable[str],
    purposes: Collection[str],
    show: SubLabel,
) -> dict[str, str]:
    """person id -> what may be shown (the name or the employee id) for those allowed."""
    ids = sorted(set(person_ids))
    if not ids or not purposes:
        return {}
    async with session_factory() as session:
        consenting = set(
            (
                await session.exec(
                    select(ConsentRecord.employee_id).where(
                        col(ConsentRecord.employee_id).in_(ids),
                        col(ConsentRecord.withdrawn_at).is_(None),
                        col(ConsentRecord.purpose).in_(sorted(purposes)),
                    )
                )
            ).all()
        )
        if not consenting:
            return {}
        employees = (
            await session.exec(
                select(Employee.employee_id, Employee.name).where(
                    col(Employee.employee_id).in_(sorted(consenting)),
                    col(Employee.is_active).is_(True),
                    col(Employee.non_biometric_checkin).is_(False),
                )
            )
        ).all()
    return {eid: (name if show == "name" else eid) for eid, name in employees}
