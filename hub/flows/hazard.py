"""Hazard escalation: anomaly events (fire, smoke, water, intrusion, fall) and lost cameras ->
alert channels; an alert is re-sent until someone acknowledges it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from hub.db import SessionFactory
from hub.flows.context import FlowDeps
from hub.flows.event_work import ALERT_KINDS, hazard_key
from hub.flows.notifications import Target, deliver
from hub.tables import Event, HazardAlert, utcnow

logger = logging.getLogger(__name__)

ALERT_ROLE = "security"


def due_for_realert(
    alert: HazardAlert, now: datetime, every: timedelta, max_sends: int = 20
) -> bool:
    """Unacknowledged, last sent at least ``every`` ago, and not sent ``max_sends`` times."""
    if alert.acknowledged_at is not None or alert.sends >= max_sends:
        return False
    return alert.last_sent_at is None or now - alert.last_sent_at >= every


def alert_targets(deps: FlowDeps) -> list[Target]:
    targets = []
    if deps.notifier.has("mqtt"):
        targets.append(Target("mqtt", ALERT_ROLE, f"role:{ALERT_ROLE}"))
    if deps.notifier.has("webhook"):
        targets.append(Target("webhook", ALERT_ROLE, f"role:{ALERT_ROLE}"))
    if deps.settings.attendance_notify_email and deps.notifier.has("email"):
        targets.append(Target("email", deps.settings.attendance_notify_email, "role:manager"))
    return targets


async def _send(deps: FlowDeps, alert: HazardAlert) -> dict[str, Any]:
    fields = {
        "hazard": alert.hazard,
        "location": alert.location,
        "detected_at": f"{alert.detected_at:%Y-%m-%d %H:%M:%S} UTC",
        "alert_id": str(alert.id),
    }
    return await deliver(deps, "hazard_alert", fields, alert_targets(deps))


async def escalate(deps: FlowDeps, event_ids: Sequence[str]) -> dict[str, Any]:
    """One alert per anomaly or camera-lost event (an event already alerted is not alerted
    again)."""
    ids = [uuid.UUID(e) for e in event_ids]
    created: list[HazardAlert] = []
    async with deps.session_factory() as session:
        events = (
            await session.exec(
                select(Event).where(
                    col(Event.event_id).in_(ids), col(Event.kind).in_(list(ALERT_KINDS))
                )
            )
        ).all()
        known = set(
            (
                await session.exec(
                    select(HazardAlert.event_id).where(col(HazardAlert.event_id).in_(ids))
                )
            ).all()
        )
        for event in events:
            if event.event_id in known:
                continue
            hazard, location = hazard_key(
                {"kind": event.kind, "payload": event.payload, "camera_id": event.camera_id}
            )
            alert = HazardAlert(
                event_id=event.event_id,
                hazard=hazard,
                location=location,
                detected_at=event.started_at,
            )
            session.add(alert)
            created.append(alert)
        await session.commit()
        for alert in created:
            await session.refresh(alert)
    return await _send_all(deps, created) | {"alerts": [a.id for a in created]}


async def _send_all(deps: FlowDeps, alerts: Sequence[HazardAlert]) -> dict[str, Any]:
    sent = 0
    for alert in alerts:
        try:
            await _send(deps, alert)
        finally:
            async with deps.session_factory() as session:
                row = await session.get(HazardAlert, alert.id)
                if row is not None:
                    row.sends += 1
                    row.last_sent_at = utcnow()
                    session.add(row)
                    await session.commit()
        sent += 1
    return {"sent": sent}


async def realert(deps: FlowDeps, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    every = timedelta(minutes=deps.settings.hazard_realert_minutes)
    async with deps.session_factory() as session:
        open_alerts = (
            await session.exec(
                select(HazardAlert).where(col(HazardAlert.acknowledged_at).is_(None))
            )
        ).all()
    due = [a for a in open_alerts if due_for_realert(a, now, every)]
    return await _send_all(deps, due) | {"alerts": [a.id for a in due]}


async def acknowledge(deps: FlowDeps, alert_id: int, actor: str) -> HazardAlert | None:
    async with deps.session_factory() as session:
        alert = await session.get(HazardAlert, alert_id)
        if alert is None:
            return None
        if alert.acknowledged_at is None:
            alert.acknowledged_at = utcnow()
            alert.acknowledged_by = actor[:128]
            session.add(alert)
            await session.commit()
            await session.refresh(alert)
        return alert


async def list_alerts(
    session_factory: SessionFactory, *, open_only: bool, limit: int
) -> list[HazardAlert]:
    """The newest ``limit`` alerts (only the unacknowledged ones when ``open_only``)."""
    query = select(HazardAlert)
    if open_only:
        query = query.where(col(HazardAlert.acknowledged_at).is_(None))
    async with session_factory() as session:
        rows = await session.exec(query.order_by(col(HazardAlert.detected_at).desc()).limit(limit))
        return list(rows.all())
