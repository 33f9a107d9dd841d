"""Guest request routing: classify -> a task assigned to an available staff member on shift
-> a confirmation to the guest."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from hub.assistant.routing import Routing, classify
from hub.flows.context import FlowDeps
from hub.flows.notifications import Target, deliver
from hub.tables import AttendanceLog, Booking, Employee, Guest, HousekeepingTask, Room

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Candidate:
    employee_id: str
    role: str
    open_tasks: int


def role_of(employee: Employee) -> str:
    return (employee.department or employee.position or "").strip().lower().replace(" ", "_")


def choose_assignee(candidates: Sequence[Candidate], role: str) -> str | None:
    """The on-shift staff member of ``role`` with the fewest open tasks (ties: by id)."""
    fitting = [c for c in candidates if c.role == role]
    if not fitting:
        return None
    return min(fitting, key=lambda c: (c.open_tasks, c.employee_id)).employee_id


async def on_shift(deps: FlowDeps, today: date) -> list[Candidate]:
    """Staff checked in today and not checked out, with their open task counts."""
    async with deps.session_factory() as session:
        present = await session.exec(
            select(AttendanceLog.employee_id).where(
                AttendanceLog.work_date == today, col(AttendanceLog.check_out_at).is_(None)
            )
        )
        ids = sorted(set(present.all()))
        if not ids:
            return []
        employees = (
            await session.exec(
                select(Employee).where(
                    col(Employee.employee_id).in_(ids), col(Employee.is_active).is_(True)
                )
            )
        ).all()
        counts_rows = await session.exec(
            select(HousekeepingTask.assigned_to, func.count())
            .where(col(HousekeepingTask.assigned_to).in_(ids), HousekeepingTask.status != "done")
            .group_by(col(HousekeepingTask.assigned_to))
        )
        counts: Mapping[str | None, int] = dict(counts_rows.all())
    return [Candidate(e.employee_id, role_of(e), counts.get(e.employee_id, 0)) for e in employees]


def request_summary(routing: Routing) -> str:
    items = ", ".join(routing.request.items) or routing.category
    quantity = f"{routing.request.quantity} x " if routing.request.quantity else ""
    return f"{quantity}{items}"


async def route_request(
    deps: FlowDeps, message: str, booking_id: int | None, today: date
) -> dict[str, Any]:
    routing = classify(message)
    candidates = await on_shift(deps, today)
    assignee = choose_assignee(candidates, routing.assignee_role)
    async with deps.session_factory() as session:
        booking = await session.get(Booking, booking_id) if booking_id else None
        if booking_id and booking is None:
            raise LookupError(f"no booking {booking_id}")
        room_number = routing.request.room_number
        if room_number is None and booking is not None and booking.room_id:
            room = await session.get(Room, booking.room_id)
            room_number = room.room_number if room else None
        task = HousekeepingTask(
            room_number=room_number,
            category=routing.category,
            priority=routing.priority,
            description=message,
            items=list(routing.request.items),
            quantity=routing.request.quantity,
            assignee_role=routing.assignee_role,
            assigned_to=assignee,
            status="assigned" if assignee else "open",
            guest_id=booking.guest_id if booking else None,
            booking_id=booking_id,
        )
        session.add(task)
        await session.commit()
        await session.refresh(task)
        guest = await session.get(Guest, booking.guest_id) if booking else None
    targets: list[Target] = []
    if assignee is not None and deps.notifier.has("mqtt"):
        targets.append(Target("mqtt", routing.assignee_role, f"employee:{assignee}"))
    confirmation: dict[str, Any] | None = None
    if guest is not None and guest.email and deps.notifier.has("email"):
        confirmation = await deliver(
            deps,
            "request_confirmation",
            {
                "guest_name": guest.full_name,
                "room_number": room_number or "-",
                "request": request_summary(routing),
            },
            [Target("email", guest.email, f"guest:{guest.id}")],
        )
    staff = (
        await deliver(
            deps,
            "request_confirmation",
            {
                "guest_name": f"guest {task.guest_id or '-'}",
                "room_number": room_number or "-",
                "request": request_summary(routing),
            },
            targets,
        )
        if targets
        else None
    )
    return {
        "task_id": task.id,
        "category": routing.category,
        "priority": routing.priority,
        "assignee_role": routing.assignee_role,
        "assigned_to": assignee,
        "room_number": room_number,
        "confirmation": confirmation,
        "staff_notified": staff is not None,
    }
