"""Workflow completions posted to ``POST /api/v1/llm/webhooks/workflow-complete`` (the seeds'
integration pattern 3: Prefect tells the assistant a workflow finished).

The run's workflow_logs row is updated (status, result, error, finish time) or created when the
hub did not start it; an audit row names who posted it; a failed run queues a staff message to
the managers (staff_messages, delivered on the MQTT staff topic when the hub has one). The
assistant's ``recent_workflows`` tool then answers from workflow_logs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from hub.db import SessionFactory
from hub.tables import AuditLog, StaffMessage, WorkflowLog

FAILED = frozenset({"failed", "crashed", "cancelled"})
NOTIFY_ROLE = "manager"


@dataclass(frozen=True, slots=True)
class Completion:
    workflow_name: str
    status: str
    flow_run_id: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    finished_at: datetime | None = None
    parameters: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    workflow_log_id: int
    created: bool
    staff_message_id: int | None


async def record_completion(
    session_factory: SessionFactory, completion: Completion, *, actor: str
) -> Recorded:
    finished = completion.finished_at or datetime.now(UTC)
    async with session_factory() as session:
        row: WorkflowLog | None = None
        if completion.flow_run_id is not None:
            query = select(WorkflowLog).where(WorkflowLog.run_id == completion.flow_run_id)
            row = (await session.exec(query.order_by(col(WorkflowLog.id).desc()))).first()
        created = row is None
        if row is None:
            row = WorkflowLog(
                flow_name=completion.workflow_name,
                run_id=completion.flow_run_id,
                status=completion.status,
                parameters=completion.parameters or {},
                started_at=finished,
            )
        row.status = completion.status
        row.result = completion.result
        row.error = completion.error
        row.finished_at = finished
        session.add(row)
        message: StaffMessage | None = None
        if completion.status in FAILED:
            reason = (completion.error or "no reason given")[:500]
            message = StaffMessage(
                recipient=NOTIFY_ROLE,
                subject=f"Workflow {completion.workflow_name} {completion.status}",
                body=(
                    f"The workflow {completion.workflow_name} (run "
                    f"{completion.flow_run_id or '-'}) ended {completion.status} at "
                    f"{finished:%Y-%m-%d %H:%M} UTC: {reason}"
                ),
                created_by=actor,
            )
            session.add(message)
        session.add(
            AuditLog(
                actor=actor,
                action="workflow.completed",
                target=f"workflow_run:{completion.flow_run_id or '-'}",
                detail={"workflow": completion.workflow_name, "status": completion.status},
            )
        )
        await session.commit()
        await session.refresh(row)
        if message is not None:
            await session.refresh(message)
    assert row.id is not None  # noqa: S101 - set by the insert
    return Recorded(row.id, created, message.id if message is not None else None)
