"""The flows' share of stored events, off the ingest's commit-and-ack path.

The ingest writes an ``event_flow_work`` row for each event the flows must look at (a face with a
person or a spoof verdict, an anomaly seen for the first time) in the same transaction as the
event, and acks without waiting for the flows. :class:`EventWorkQueue` takes those rows in
order, a page at a time, hands the events to the attendance and to the hazard escalation, and
deletes the rows once that is done: work committed by the ingest is never lost (a hub that stops
in between finds the rows at its next start), and a row is done at least once (attendance marks
and hazard alerts are idempotent per event).

Hazard alerts are coalesced per hazard and zone: of the anomalies of one page, one event per
(hazard, zone) is escalated, and none for a (hazard, zone) that already has an open
(unacknowledged) alert; that alert is re-sent by the re-alert schedule until acknowledged.

On PostgreSQL the page is claimed with ``FOR UPDATE SKIP LOCKED``, so several hub processes
share the queue without doing a row twice. On SQLite one process writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, delete, select

from hub.db import SessionFactory
from hub.tables import Event, EventFlowWork, HazardAlert

logger = logging.getLogger(__name__)

PAGE = 500
# How often the queue is looked at without a wake-up (work committed by other processes:
# ingest workers, another replica).
POLL_S = 1.0
# After a failed page: wait before trying again (the rows stay).
RETRY_S = 5.0
# How long a stopping hub waits for the page in hand.
STOP_TIMEOUT_S = 5.0

_WORK: Table = EventFlowWork.__table__  # type: ignore[attr-defined]
_EVENTS: Table = Event.__table__  # type: ignore[attr-defined]
_ALERTS: Table = HazardAlert.__table__  # type: ignore[attr-defined]
_EVENT_FIELDS = (
    "event_id",
    "kind",
    "person_id",
    "liveness",
    "camera_id",
    "started_at",
    "ended_at",
    "payload",
    "messages",
)

ApplyEvents = Callable[[list[dict[str, Any]], list[str]], Awaitable[None]]


# Event kinds that raise an alert: a hazard the edge saw, or a camera the edge lost.
ALERT_KINDS = frozenset({"anomaly", "camera"})
CAMERA_LOST = "camera"  # the alert's ``hazard`` for a lost camera (the console's label key)


def hazard_key(row: Mapping[str, Any]) -> tuple[str, str]:
    """(hazard, location) of an anomaly or camera event row, as a hazard alert names them: an
    anomaly's type and zone (else its camera), or ``camera`` and the camera that was lost."""
    payload = row.get("payload") or {}
    if row.get("kind") == "camera":
        return CAMERA_LOST, str(row.get("camera_id"))[:128]
    hazard = str(payload.get("type", "unknown"))[:16]
    location = str(payload.get("zone") or row.get("camera_id"))[:128]
    return hazard, location


def coalesce_hazards(
    rows: Sequence[Mapping[str, Any]], open_alerts: set[tuple[str, str]]
) -> list[str]:
    """The events to escalate: the first of each (hazard, zone) without an open alert."""
    chosen: dict[tuple[str, str], str] = {}
    for row in sorted(rows, key=lambda r: r["started_at"]):
        if row.get("kind") not in ALERT_KINDS:
            continue
        key = hazard_key(row)
        if key not in open_alerts and key not in chosen:
            chosen[key] = str(row["event_id"])
    return list(chosen.values())


class EventWorkQueue:
    """Consumes ``event_flow_work`` in a background task (see the module docstring).

    ``apply(events, hazard_event_ids)`` does the work of one page: ``events`` are the event rows
    (column dicts), ``hazard_event_ids`` the coalesced anomalies to escalate."""

    def __init__(self, session_factory: SessionFactory, apply: ApplyEvents) -> None:
        self._sessions = session_factory
        self._apply = apply
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        """New work was committed (or may be there): look now; starts the task if needed."""
        self._wake.set()
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="event-flow-work")

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Finish the page in hand (at most ``timeout_s``), then stop; what is left stays for
        the next start."""
        task = self._task
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                while not self._stopping and await self.run_once() == PAGE:
                    pass
            except Exception:  # the rows stay; tried again later
                logger.exception("flow work on stored events failed; retrying in %.0f s", RETRY_S)
                await asyncio.sleep(RETRY_S)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)

    async def run_once(self) -> int:
        """One page: claim, apply, delete. Returns the number of work rows done."""
        async with self._sessions() as session:
            conn = await session.connection()
            postgres = conn.dialect.name == "postgresql"
            claim = select(_WORK.c.id, _WORK.c.event_id).order_by(_WORK.c.id).limit(PAGE)
            if postgres:
                claim = claim.with_for_update(skip_locked=True)
            work = (await conn.execute(claim)).all()
            if not work:
                return 0
            event_ids = list({row.event_id for row in work})
            query = select(*(_EVENTS.c[name] for name in _EVENT_FIELDS)).where(
                _EVENTS.c.event_id.in_(event_ids)
            )
            events = [dict(row) for row in (await conn.execute(query)).mappings().all()]
            anomalies = [e for e in events if e["kind"] in ALERT_KINDS]
            open_alerts: set[tuple[str, str]] = set()
            if anomalies:
                rows = await conn.execute(
                    select(_ALERTS.c.hazard, _ALERTS.c.location).where(
                        _ALERTS.c.acknowledged_at.is_(None)
                    )
                )
                open_alerts = {(str(h), str(loc)) for h, loc in rows.all()}
            if not postgres:
                await session.commit()  # SQLite: no lock held while the flows write
            await self._apply(events, coalesce_hazards(anomalies, open_alerts))
            conn = await session.connection()
            await conn.execute(delete(_WORK).where(_WORK.c.id.in_([row.id for row in work])))
            await session.commit()
        return len(work)
