"""Tools that change things: create a housekeeping task, trigger a workflow, send a staff message.

The assistant never runs them directly. Its tool only *proposes* the call: the arguments are
checked, a pending :class:`~hub.tables.AssistantAction` row is stored and the model is told that
the action awaits confirmation. ``POST /assistant/confirm`` then runs it, for the same caller only,
before it expires; the proposal and the decision are audited with who asked and who confirmed.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field
from sqlalchemy import update
from sqlmodel import col, select

from hub.assistant.data import SqlHotelData
from hub.assistant.generate import (
    GeneratedMessage,
    Lang,
    booking_fields,
    html_document,
    render,
)
from hub.auth.scopes import Role
from hub.db import SessionFactory
from hub.notify.base import Notification, NotifyError
from hub.tables import (
    AssistantAction,
    AuditLog,
    Booking,
    Guest,
    HousekeepingTask,
    Room,
    StaffMessage,
    WorkflowLog,
)

logger = logging.getLogger(__name__)

STAFF_ROLES = frozenset({Role.ADMIN, Role.MANAGER, Role.STAFF})
SUPERVISORS = frozenset({Role.ADMIN, Role.MANAGER})
PRIORITIES = ("high", "medium", "normal")
# The workflows (hub/flows, issue 8) the assistant may ask for.
KNOWN_WORKFLOWS = (
    "daily_pricing",
    "daily_report",
    "gallery_publish",
    "nightly_retrain",
    "retention_purge",
    "room_cleaning",
    # the seeds' names (hub/flows/registry.py maps them onto the flows)
    "daily_report_generation",
    "lost_found_return",
    "ml_model_retrain",
)
MAX_TEXT = 1000


class ActionArgsError(ValueError):
    """The proposed call's arguments are wrong (the message says which and why)."""


class ActionNotFoundError(LookupError):
    """No action with that id for this caller."""


class ActionConflictError(RuntimeError):
    """The action cannot be decided now: expired or already decided."""


class HotelActions(Protocol):
    """What the confirmed actions do (the SQL implementation below; flows may provide theirs)."""

    async def create_housekeeping_task(
        self, *, room_number: str, description: str, priority: str, requested_by: str
    ) -> dict[str, Any]: ...

    async def trigger_workflow(
        self, *, workflow: str, parameters: Mapping[str, Any], requested_by: str
    ) -> dict[str, Any]: ...

    async def send_staff_message(
        self, *, recipient: str, subject: str, body: str, requested_by: str
    ) -> dict[str, Any]: ...

    async def send_guest_email(
        self, *, booking_ref: str, template_type: str, requested_by: str
    ) -> dict[str, Any]: ...


class TaskArgs(BaseModel):
    room_number: str = Field(description="the room, e.g. '201'")
    description: str = Field(description="what to do, e.g. 'bring 2 towels'")
    priority: Literal["high", "medium", "normal"] = "normal"


class WorkflowArgs(BaseModel):
    workflow: str = Field(description="the workflow's name")
    parameters: dict[str, Any] = Field(default_factory=dict)


class MessageArgs(BaseModel):
    recipient: str = Field(description="a staff role (housekeeping, maintenance, ...) or id")
    subject: str
    body: str


class GuestEmailArgs(BaseModel):
    booking_ref: str = Field(description="the booking whose guest gets the e-mail, e.g. BOOK001")
    template_type: str = Field(
        default="booking_confirmation",
        description="booking_confirmation | room_ready | checkin_instructions",
    )


GUEST_EMAIL_KINDS = ("booking_confirmation", "room_ready", "checkin_instructions")


@dataclass(frozen=True, slots=True)
class ActionSpec:
    name: str
    description: str
    roles: frozenset[Role]
    args_schema: type[BaseModel]
    check: Callable[[dict[str, Any]], Awaitable[tuple[dict[str, Any], str]]]
    run: Callable[[HotelActions, dict[str, Any], str], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class PendingAction:
    id: str
    tool: str
    args: dict[str, Any]
    summary: str
    expires_at: datetime


def _text(args: Mapping[str, Any], name: str, *, limit: int = MAX_TEXT) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ActionArgsError(f"{name}: required text")
    if len(value) > limit:
        raise ActionArgsError(f"{name}: at most {limit} characters")
    return value.strip()


def action_specs(session_factory: SessionFactory) -> list[ActionSpec]:
    """The mutating tools; their ``check`` validates arguments against the hotel's data."""

    async def check_task(args: dict[str, Any]) -> tuple[dict[str, Any], str]:
        room = _text(args, "room_number", limit=16)
        description = _text(args, "description")
        priority = str(args.get("priority") or "normal")
        if priority not in PRIORITIES:
            raise ActionArgsError(f"priority: one of {', '.join(PRIORITIES)}")
        async with session_factory() as session:
            found = (await session.exec(select(Room).where(Room.room_number == room))).first()
        if found is None:
            raise ActionArgsError(f"room_number: no room {room!r}")
        clean = {"room_number": room, "description": description, "priority": priority}
        return (
            clean,
            f"Create a {priority}-priority housekeeping task for room {room}: {description}",
        )

    async def run_task(port: HotelActions, args: dict[str, Any], actor: str) -> dict[str, Any]:
        return await port.create_housekeeping_task(requested_by=actor, **args)

    async def check_workflow(args: dict[str, Any]) -> tuple[dict[str, Any], str]:
        workflow = _text(args, "workflow", limit=64)
        if workflow not in KNOWN_WORKFLOWS:
            raise ActionArgsError(f"workflow: one of {', '.join(KNOWN_WORKFLOWS)}")
        parameters = args.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise ActionArgsError("parameters: an object")
        if len(json.dumps(parameters)) > MAX_TEXT:
            raise ActionArgsError(f"parameters: at most {MAX_TEXT} characters of JSON")
        return {"workflow": workflow, "parameters": parameters}, f"Trigger the {workflow} workflow"

    async def run_workflow(port: HotelActions, args: dict[str, Any], actor: str) -> dict[str, Any]:
        return await port.trigger_workflow(requested_by=actor, **args)

    async def check_message(args: dict[str, Any]) -> tuple[dict[str, Any], str]:
        recipient = _text(args, "recipient", limit=128)
        subject = _text(args, "subject", limit=200)
        body = _text(args, "body")
        clean = {"recipient": recipient, "subject": subject, "body": body}
        return clean, f"Send a message to {recipient}: {subject}"

    async def run_message(port: HotelActions, args: dict[str, Any], actor: str) -> dict[str, Any]:
        return await port.send_staff_message(requested_by=actor, **args)

    async def check_guest_email(args: dict[str, Any]) -> tuple[dict[str, Any], str]:
        ref = _text(args, "booking_ref", limit=32)
        kind = str(args.get("template_type") or "booking_confirmation")
        if kind not in GUEST_EMAIL_KINDS:
            raise ActionArgsError(f"template_type: one of {', '.join(GUEST_EMAIL_KINDS)}")
        async with session_factory() as session:
            found = (await session.exec(select(Booking).where(Booking.booking_ref == ref))).first()
        if found is None:
            raise ActionArgsError(f"booking_ref: no booking {ref!r}")
        clean = {"booking_ref": ref, "template_type": kind}
        return clean, f"E-mail the guest of booking {ref} ({kind.replace('_', ' ')})"

    async def run_guest_email(
        port: HotelActions, args: dict[str, Any], actor: str
    ) -> dict[str, Any]:
        return await port.send_guest_email(requested_by=actor, **args)

    return [
        ActionSpec(
            "create_housekeeping_task",
            "Propose a housekeeping task for a room (room_number, description, priority: high | "
            "medium | normal). It runs only after the user confirms it.",
            STAFF_ROLES,
            TaskArgs,
            check_task,
            run_task,
        ),
        ActionSpec(
            "trigger_workflow",
            "Propose to start a workflow (workflow: "
            + " | ".join(KNOWN_WORKFLOWS)
            + ", parameters: object). It runs only after the user confirms it.",
            SUPERVISORS,
            WorkflowArgs,
            check_workflow,
            run_workflow,
        ),
        ActionSpec(
            "send_staff_message",
            "Propose a message to staff (recipient: a role such as housekeeping or an employee "
            "id, subject, body). It is sent only after the user confirms it.",
            STAFF_ROLES,
            MessageArgs,
            check_message,
            run_message,
        ),
        ActionSpec(
            "send_guest_email",
            "Propose an e-mail to the guest of a booking (booking_ref, template_type: "
            + " | ".join(GUEST_EMAIL_KINDS)
            + "). It is sent only after the user confirms it.",
            STAFF_ROLES,
            GuestEmailArgs,
            check_guest_email,
            run_guest_email,
        ),
    ]


def spec_named(specs: list[ActionSpec], name: str) -> ActionSpec | None:
    return next((s for s in specs if s.name == name), None)


class SqlHotelActions:
    """:class:`HotelActions` over the hub database: a housekeeping_tasks row, a scheduled
    workflow_logs row (the flows pick it up), a queued staff_messages row."""

    def __init__(self, session_factory: SessionFactory) -> None:
        self._sessions = session_factory

    async def create_housekeeping_task(
        self,
        *,
        room_number: str,
        description: str,
        priority: str,
        requested_by: str,  # noqa: ARG002 - the audit rows name who asked and who confirmed
    ) -> dict[str, Any]:
        task = HousekeepingTask(
            room_number=room_number,
            category="housekeeping",
            priority=priority,
            description=description,
            assignee_role="housekeeping",
        )
        async with self._sessions() as session:
            session.add(task)
            await session.commit()
            await session.refresh(task)
        logger.info("housekeeping task %s created by an assistant action", task.id)
        return {"task_id": task.id, "room_number": room_number, "status": task.status}

    async def trigger_workflow(
        self, *, workflow: str, parameters: Mapping[str, Any], requested_by: str
    ) -> dict[str, Any]:
        row = WorkflowLog(
            flow_name=workflow,
            status="scheduled",
            parameters={**parameters, "requested_by": requested_by},
        )
        async with self._sessions() as session:
            session.add(row)
            await session.commit()
            await session.refresh(row)
        return {"workflow_log_id": row.id, "workflow": workflow, "status": row.status}

    async def send_staff_message(
        self, *, recipient: str, subject: str, body: str, requested_by: str
    ) -> dict[str, Any]:
        row = StaffMessage(recipient=recipient, subject=subject, body=body, created_by=requested_by)
        async with self._sessions() as session:
            session.add(row)
            await session.commit()
            await session.refresh(row)
        return {"message_id": row.id, "recipient": recipient, "status": row.status}

    async def guest_email(
        self, booking_ref: str, template_type: str, lang: Lang | None = None
    ) -> tuple[GeneratedMessage, str | None, Lang]:
        """The rendered e-mail for a booking's guest, the guest's address (None when not on
        file) and its language (the guest's: vi for Vietnamese guests, else en)."""
        facts = await SqlHotelData(self._sessions).booking_facts(
            booking_ref=booking_ref, room_number=None, on_date=datetime.now(UTC).date()
        )
        if facts is None:
            raise ActionArgsError(f"booking_ref: no booking {booking_ref!r}")
        nationality = facts.pop("nationality", "")
        language: Lang = lang or ("vi" if nationality.upper() in ("VN", "") else "en")
        fields = booking_fields(facts, language)
        async with self._sessions() as session:
            row = (
                await session.exec(
                    select(Guest.email)
                    .join(Booking, col(Booking.guest_id) == Guest.id)
                    .where(Booking.booking_ref == booking_ref)
                )
            ).first()
        try:
            message = render(template_type, language, fields)
        except (KeyError, ValueError) as err:
            raise ActionArgsError(f"template_type: {err}") from err
        return message, row, language

    async def send_guest_email(
        self, *, booking_ref: str, template_type: str, requested_by: str
    ) -> dict[str, Any]:
        del requested_by  # audited by the action store
        message, _address, language = await self.guest_email(booking_ref, template_type)
        return {
            "status": "not_sent",
            "reason": "the hub has no e-mail channel",
            "subject": message.subject,
            "language": language,
        }


STAFF_CHANNEL = "mqtt"  # innsight/{site}/staff/{role}/notifications (hub/notify/mqtt.py)
EMAIL_CHANNEL = "email"


class WorkflowStarter(Protocol):
    """Starts a Prefect run (``hub.flows.runner.FlowRunner`` is one)."""

    async def trigger(self, name: str, parameters: dict[str, Any] | None = None) -> Any: ...


class StaffChannel(Protocol):
    """Delivers a staff message (``hub.notify.dispatch.Notifier`` is one)."""

    def has(self, channel: str) -> bool: ...

    async def send(self, channel: str, address: str, note: Any, *, recipient: str) -> Any: ...


class HubHotelActions(SqlHotelActions):
    """:class:`SqlHotelActions` wired to the hub: ``trigger_workflow`` starts the Prefect run
    (when flows are enabled; the runner mirrors it in workflow_logs) and ``send_staff_message``
    publishes on the staff apps' MQTT topic (when the hub has that channel); without them the
    rows are only recorded, as in the base class."""

    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        starter: WorkflowStarter | None = None,
        staff: StaffChannel | None = None,
    ) -> None:
        super().__init__(session_factory)
        self._starter = starter
        self._staff = staff

    async def trigger_workflow(
        self, *, workflow: str, parameters: Mapping[str, Any], requested_by: str
    ) -> dict[str, Any]:
        if self._starter is None:
            return await super().trigger_workflow(
                workflow=workflow, parameters=parameters, requested_by=requested_by
            )
        try:
            run = await self._starter.trigger(workflow, dict(parameters))
        except (LookupError, ValueError) as err:  # unknown workflow, parameters it refuses
            raise ActionArgsError(str(err)) from err
        logger.info(
            "workflow %s started by an assistant action (run %s)", workflow, run.flow_run_id
        )
        return {
            "flow_run_id": run.flow_run_id,
            "workflow": workflow,
            "status": run.state_name,
            "requested_by": requested_by,
        }

    async def send_staff_message(
        self, *, recipient: str, subject: str, body: str, requested_by: str
    ) -> dict[str, Any]:
        queued = await super().send_staff_message(
            recipient=recipient, subject=subject, body=body, requested_by=requested_by
        )
        if self._staff is None or not self._staff.has(STAFF_CHANNEL):
            return queued
        note = Notification(kind="staff_message", subject=subject, body=body)
        try:
            await self._staff.send(STAFF_CHANNEL, recipient, note, recipient=recipient)
        except (NotifyError, ValueError) as err:  # broker down, not a valid role for a topic
            return queued | {"delivery_error": str(err)[:200]}
        async with self._sessions() as session:
            row = await session.get(StaffMessage, queued["message_id"])
            if row is not None:
                row.status = "sent"
                session.add(row)
                await session.commit()
        return queued | {"status": "sent", "channel": STAFF_CHANNEL}

    async def send_guest_email(
        self, *, booking_ref: str, template_type: str, requested_by: str
    ) -> dict[str, Any]:
        message, address, language = await self.guest_email(booking_ref, template_type)
        if self._staff is None or not self._staff.has(EMAIL_CHANNEL):
            return await super().send_guest_email(
                booking_ref=booking_ref, template_type=template_type, requested_by=requested_by
            )
        if not address:
            return {"status": "not_sent", "reason": "the guest has no e-mail address on file"}
        note = Notification(
            kind=f"guest_{template_type}",
            subject=message.subject,
            body=message.body,
            html=html_document(message, language),
        )
        try:
            await self._staff.send(EMAIL_CHANNEL, address, note, recipient=f"booking:{booking_ref}")
        except (NotifyError, ValueError) as err:
            return {"status": "failed", "reason": str(err)[:200], "subject": message.subject}
        return {
            "status": "sent",
            "channel": EMAIL_CHANNEL,
            "subject": message.subject,
            "language": language,
        }


def _now() -> datetime:
    return datetime.now(UTC)


class ActionStore:
    """Pending actions in ``assistant_actions``, with the audit rows of their life."""

    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        ttl_s: float,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._sessions = session_factory
        self._ttl = timedelta(seconds=ttl_s)
        self._clock = clock

    async def propose(
        self, *, tool: str, args: dict[str, Any], summary: str, requested_by: str
    ) -> PendingAction:
        now = self._clock()
        row = AssistantAction(
            id=secrets.token_hex(12),
            tool=tool,
            args=json.dumps(args, ensure_ascii=False),
            summary=summary,
            requested_by=requested_by,
            created_at=now,
            expires_at=now + self._ttl,
        )
        async with self._sessions() as session:
            session.add(row)
            session.add(
                AuditLog(
                    actor=requested_by,
                    action="assistant.propose",
                    target=f"assistant_action:{row.id}",
                    detail={"tool": tool},
                )
            )
            await session.commit()
        return PendingAction(row.id, tool, args, summary, row.expires_at)

    async def decide(
        self,
        action_id: str,
        *,
        actor: str,
        approve: bool,
        specs: list[ActionSpec],
        port: HotelActions,
    ) -> AssistantAction:
        """Run (``approve``) or reject the caller's own pending action; the row as it ends.

        The row is claimed first (``pending`` -> ``running`` in one conditional UPDATE, so two
        concurrent confirmations cannot both run it), the action runs outside that transaction,
        and its outcome is stored with the audit row."""
        now = self._clock()
        async with self._sessions() as session:
            row = await session.get(AssistantAction, action_id)
            if row is None or row.requested_by != actor:
                raise ActionNotFoundError(f"no pending action {action_id!r} of yours")
            if row.status != "pending":
                raise ActionConflictError(f"action {action_id} was already {row.status}")
            if row.expires_at <= now:
                raise ActionConflictError(
                    f"action {action_id} expired at {row.expires_at.isoformat()}"
                )
            claimed = await session.exec(
                update(AssistantAction)
                .where(col(AssistantAction.id) == action_id)
                .where(col(AssistantAction.status) == "pending")
                .values(status="running", decided_by=actor, decided_at=now)
            )
            await session.commit()
            if claimed.rowcount != 1:
                raise ActionConflictError(f"action {action_id} is being decided already")
            tool, raw_args, requested_by = row.tool, row.args, row.requested_by
        spec = spec_named(specs, tool)
        result: dict[str, Any] | None = None
        if not approve:
            status = "rejected"
        elif spec is None:
            status, result = "failed", {"error": f"unknown tool {tool}"}
        else:
            try:
                args, _summary = await spec.check(json.loads(raw_args))  # still valid now?
                result = await spec.run(port, args, requested_by)
                status = "executed"
            except ActionArgsError as err:
                status, result = "failed", {"error": str(err)}
            except Exception as err:  # the outcome must be stored whatever failed
                logger.exception("assistant action %s (%s) failed", action_id, tool)
                status, result = "failed", {"error": f"the action failed ({type(err).__name__})"}
        async with self._sessions() as session:
            final = await session.get(AssistantAction, action_id)
            assert final is not None  # noqa: S101 - claimed above, never deleted
            final.status, final.result = status, result
            session.add(final)
            session.add(
                AuditLog(
                    actor=actor,
                    action="assistant.confirm" if approve else "assistant.reject",
                    target=f"assistant_action:{action_id}",
                    detail={
                        "tool": tool,
                        "requested_by": requested_by,
                        "confirmed_by": actor,
                        "status": status,
                    },
                )
            )
            await session.commit()
            await session.refresh(final)
        return final
