"""A routed guest request becomes work (``POST /routing/classify``): with Prefect running, the
``guest_request`` workflow is started; otherwise the request is recorded here as a
housekeeping_tasks row for the routed team (what the flow would create), and its workflow id
names that row (``WF_HOUSEKEEPING_007``). Either way an audit row keeps the channel, the
guest's reference and when the request arrived (never the message text: it is encrypted in
the task)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.assistant.routing import Routing
from hub.db import SessionFactory
from hub.tables import AuditLog, HousekeepingTask


@dataclass(frozen=True, slots=True)
class GuestRequest:
    message: str
    guest_ref: str | None
    channel: str | None
    received_at: datetime | None


def local_workflow_id(category: str, task_id: int) -> str:
    return f"WF_{category.upper()}_{task_id:03d}"


async def record_task(
    session_factory: SessionFactory,
    request: GuestRequest,
    routing: Routing,
    stay: dict[str, Any] | None,
    *,
    room_number: str | None,
    quantity: int,
) -> tuple[int, str]:
    """The housekeeping_tasks row of the request; (task id, workflow id)."""
    task = HousekeepingTask(
        room_number=room_number,
        category=routing.category,
        priority=routing.priority,
        description=request.message,
        items=list(routing.request.items),
        quantity=quantity or None,
        assignee_role=routing.assignee_role,
        status="open",
        guest_id=stay["guest_id"] if stay else None,
        booking_id=stay["booking_id"] if stay else None,
    )
    async with session_factory() as session:
        session.add(task)
        await session.commit()
        await session.refresh(task)
    assert task.id is not None  # noqa: S101 - set by the insert
    return task.id, local_workflow_id(routing.category, task.id)


async def audit_request(
    session_factory: SessionFactory,
    request: GuestRequest,
    routing: Routing,
    *,
    actor: str,
    workflow_id: str,
    started_by: str,
) -> None:
    async with session_factory() as session:
        session.add(
            AuditLog(
                actor=actor,
                action="guest_request.routed",
                target=workflow_id,
                detail={
                    "guest_id": request.guest_ref,
                    "channel": request.channel,
                    "received_at": request.received_at.isoformat() if request.received_at else None,
                    "category": routing.category,
                    "priority": routing.priority,
                    "started_by": started_by,
                },
            )
        )
        await session.commit()
