"""The end of employment (issue 17 item 5; Vietnam's Decree 13: data deleted when employment
ends): when an employee turns inactive, their face templates and enrolment crops are deleted
through the gallery's delete path (a new gallery version without them is published, so the
edges drop them at their next sync), with an audit row (counts only).

Employees made inactive another way (a CSV import, the PMS) are caught by the retention purge:
:func:`sweep_ended_employment` deletes the templates of every inactive employee that still has
some, the same way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlmodel import col, select

from hub.db import SessionFactory
from hub.gallery import RemovalResult
from hub.privacy.erasure import TemplateRemover
from hub.tables import AuditLog, Employee, EmployeeFace

EMPLOYMENT_END_ACTION = "privacy.employment_end"

EmploymentEnded = Callable[[str], Awaitable[object]]


async def delete_templates_at_employment_end(
    gallery: TemplateRemover, session_factory: SessionFactory, employee_id: str, actor: str
) -> RemovalResult:
    removal = await gallery.remove_faces(employee_id)
    async with session_factory() as session:
        session.add(
            AuditLog(
                actor=actor,
                action=EMPLOYMENT_END_ACTION,
                target=f"employee:{employee_id}",
                detail={
                    "faces_deleted": removal.faces_deleted,
                    "crops_deleted": removal.crops_deleted,
                    "gallery_version": removal.gallery.version if removal.gallery else None,
                },
            )
        )
        await session.commit()
    return removal


def employment_end_hook(
    gallery: TemplateRemover, session_factory: SessionFactory, actor: str
) -> EmploymentEnded:
    """What :func:`hub.hotel.staff.update_employee` calls when an employee turns inactive."""

    async def ended(employee_id: str) -> RemovalResult:
        return await delete_templates_at_employment_end(
            gallery, session_factory, employee_id, actor
        )

    return ended


SWEEP_ACTOR = "flow:retention_purge"


async def sweep_ended_employment(
    gallery: TemplateRemover, session_factory: SessionFactory
) -> dict[str, int]:
    """Deletes the templates of every inactive employee that still has some (each audited);
    how many employees and templates."""
    async with session_factory() as session:
        found = await session.exec(
            select(EmployeeFace.employee_id)
            .join(Employee, col(Employee.employee_id) == col(EmployeeFace.employee_id))
            .where(col(Employee.is_active).is_(False))
            .distinct()
        )
        ended = sorted(found.all())
    faces = 0
    for employee_id in ended:
        removal = await delete_templates_at_employment_end(
            gallery, session_factory, employee_id, SWEEP_ACTOR
        )
        faces += removal.faces_deleted
    return {"employees": len(ended), "employee_faces": faces}
