"""The alerts inbox: hazard alerts (hub/flows/hazard.py) with the event they came from and how
staff handled them (:class:`~hub.tables.AlertHandling`), the actions on them, and the changes
since a cursor (what the console's server-sent events stream sends)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.audit import AuditAction, audit
from hub.console.errors import FieldRefusedError
from hub.tables import AlertHandling, Event, HazardAlert, utcnow

# how urgent a hazard is (the inbox sorts and colours by it)
SEVERITY: dict[str, str] = {
    "fire": "critical",
    "smoke": "critical",
    "intrusion": "high",
    "fall": "high",
    "water": "medium",
    "camera": "high",  # a camera the edge lost (hub/flows/event_work.py CAMERA_LOST)
}
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
CLOSED = frozenset({"resolved", "false_alarm"})


class AlertAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ASSIGN = "assign"
    RESOLVE = "resolve"
    FALSE_ALARM = "false_alarm"
    REOPEN = "reopen"


_STATUS_AFTER = {
    AlertAction.ACKNOWLEDGE: "acknowledged",
    AlertAction.RESOLVE: "resolved",
    AlertAction.FALSE_ALARM: "false_alarm",
    AlertAction.REOPEN: "open",
}


class AlertNotFoundError(LookupError):
    pass


def severity_of(hazard: str) -> str:
    return SEVERITY.get(hazard, "medium")


@dataclass(frozen=True, slots=True)
class AlertView:
    id: int
    hazard: str
    severity: str
    status: str
    location: str
    camera_id: str | None
    device_id: str | None
    zone: str | None
    score: float | None
    detected_at: datetime
    has_snapshot: bool
    assigned_to: str | None
    note: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    updated_at: datetime
    updated_by: str | None


@dataclass(frozen=True, slots=True)
class Cursor:
    """What a client has seen: the highest alert id and the latest handling change."""

    last_id: int = 0
    changed_at: datetime | None = None


def _view(alert: HazardAlert, handling: AlertHandling | None, event: Event | None) -> AlertView:
    payload: dict[str, Any] = (event.payload or {}) if event is not None else {}
    status = (
        handling.status
        if handling is not None
        else ("acknowledged" if alert.acknowledged_at is not None else "open")
    )
    score = payload.get("score")
    return AlertView(
        id=int(alert.id or 0),
        hazard=alert.hazard,
        severity=severity_of(alert.hazard),
        status=status,
        location=alert.location,
        camera_id=event.camera_id if event is not None else None,
        device_id=event.device_id if event is not None else None,
        zone=str(payload["zone"]) if payload.get("zone") else None,
        score=float(score) if isinstance(score, int | float) else None,
        detected_at=alert.detected_at,
        has_snapshot=bool(event is not None and event.snapshot_key),
        assigned_to=handling.assigned_to if handling is not None else None,
        note=handling.note if handling is not None else None,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
        resolved_at=handling.resolved_at if handling is not None else None,
        updated_at=handling.updated_at if handling is not None else alert.created_at,
        updated_by=handling.updated_by if handling is not None else None,
    )


def _joined() -> Any:
    return (
        select(HazardAlert, AlertHandling, Event)
        .join(AlertHandling, col(AlertHandling.alert_id) == col(HazardAlert.id), isouter=True)
        .join(Event, col(Event.event_id) == col(HazardAlert.event_id), isouter=True)
    )


async def list_alerts(
    session: AsyncSession, *, open_only: bool = False, limit: int = 100
) -> list[AlertView]:
    """Newest first; ``open_only``: neither resolved nor a false alarm."""
    query = _joined()
    if open_only:
        query = query.where(
            or_(col(AlertHandling.status).is_(None), col(AlertHandling.status).not_in(CLOSED))
        )
    rows = (await session.exec(query.order_by(col(HazardAlert.id).desc()).limit(limit))).all()
    return [_view(a, h, e) for a, h, e in rows]


async def get_alert(session: AsyncSession, alert_id: int) -> AlertView | None:
    row = (await session.exec(_joined().where(col(HazardAlert.id) == alert_id))).first()
    return None if row is None else _view(*row)


async def changes_since(session: AsyncSession, cursor: Cursor) -> tuple[list[AlertView], Cursor]:
    """Alerts created after ``cursor.last_id`` or handled after ``cursor.changed_at``."""
    conditions = [col(HazardAlert.id) > cursor.last_id]
    if cursor.changed_at is not None:
        conditions.append(col(AlertHandling.updated_at) > cursor.changed_at)
    query = _joined().where(or_(*conditions)).order_by(col(HazardAlert.id))
    views = [_view(a, h, e) for a, h, e in (await session.exec(query.limit(500))).all()]
    return views, advance(cursor, views)


async def current_cursor(session: AsyncSession) -> Cursor:
    last = (await session.exec(select(HazardAlert.id).order_by(col(HazardAlert.id).desc()))).first()
    changed = (
        await session.exec(
            select(AlertHandling.updated_at).order_by(col(AlertHandling.updated_at).desc())
        )
    ).first()
    return Cursor(int(last or 0), changed)


def advance(cursor: Cursor, views: list[AlertView]) -> Cursor:
    last_id = max([cursor.last_id, *(v.id for v in views)])
    handled = [v.updated_at for v in views if v.updated_by is not None]
    changed = max([*([cursor.changed_at] if cursor.changed_at else []), *handled], default=None)
    return Cursor(last_id, changed)


async def snapshot_key(session: AsyncSession, alert_id: int) -> str | None:
    alert = await session.get(HazardAlert, alert_id)
    if alert is None:
        raise AlertNotFoundError(alert_id)
    if alert.event_id is None:
        return None
    event = await session.get(Event, uuid.UUID(str(alert.event_id)))
    return event.snapshot_key if event is not None else None


async def act(
    session: AsyncSession,
    alert_id: int,
    action: AlertAction,
    actor: str,
    *,
    assignee: str | None = None,
    note: str | None = None,
) -> AlertView:
    """Applies ``action`` to the alert (audited). Acknowledging, resolving or marking a false
    alarm also stops the alert's re-sends (``hazard_alerts.acknowledged_at``)."""
    alert = await session.get(HazardAlert, alert_id)
    if alert is None:
        raise AlertNotFoundError(alert_id)
    handling = await session.get(AlertHandling, alert_id)
    if handling is None:
        handling = AlertHandling(alert_id=alert_id, updated_by=actor)
    if action is AlertAction.ASSIGN:
        if not assignee:
            raise FieldRefusedError("assignee", "required to assign an alert")
        handling.assigned_to = assignee
        if handling.status == "open":
            handling.status = "acknowledged"
    else:
        if action is AlertAction.REOPEN and handling.status not in CLOSED:
            raise FieldRefusedError("action", f"the alert is {handling.status}, not closed")
        if action is not AlertAction.REOPEN and handling.status in CLOSED:
            raise FieldRefusedError("action", f"the alert is already {handling.status}")
        handling.status = _STATUS_AFTER[action]
    now = utcnow()
    handling.resolved_at = now if handling.status in CLOSED else None
    if note is not None:
        handling.note = note
    handling.updated_at = now
    handling.updated_by = actor[:160]
    if handling.status != "open" and alert.acknowledged_at is None:
        alert.acknowledged_at = now
        alert.acknowledged_by = actor[:128]
        session.add(alert)
    session.add(handling)
    audit(
        session,
        actor=actor,
        action=AuditAction.ALERT_HANDLE,
        target=f"hazard_alert:{alert_id}",
        detail={"action": action.value, "status": handling.status},
    )
    await session.commit()
    view = await get_alert(session, alert_id)
    assert view is not None  # noqa: S101 - just written
    return view
