"""Writing one batch in one transaction, with a few multi-row statements (DESIGN §2).

- ``received_messages``: ``INSERT ... ON CONFLICT (device_id, seq) DO NOTHING RETURNING``
  names the messages that are new; the rest were applied before (exactly-once in the database,
  whichever worker got them first);
- ``events``: one row per ``event_id``, merged in memory (:func:`merge_event`) and written with
  one ``INSERT ... ON CONFLICT (event_id) DO UPDATE``;
- ``event_flow_work``: the events the flows must look at (attendance, hazard alert), in the
  same transaction, so a crash after the commit loses none of that work;
- ``devices``: ``last_seq`` only grows (``GREATEST``), whichever worker commits last.

The statements are compiled once and run as executemany (SQLAlchemy's insertmanyvalues: a
multi-row ``VALUES`` per page), never rebuilt per batch. On PostgreSQL several ingest workers
may hold messages of the same event: a transaction first takes a transaction-level advisory
lock per event (in one sorted order, so two workers never deadlock), which serialises the
read-merge-write of an event row across workers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.messages import DeviceStatus
from hub.db import SessionFactory
from hub.ingest.classify import DEAD_LETTER_MAX_DETAIL
from hub.ingest.errors import storable
from hub.ingest.items import Batch, DeadLetterItem, EventMessage, Outcome, utcnow
from hub.ingest.merge import DEVICE_COLUMNS, EVENT_COLUMNS, SPOOF_VERDICT, merge_event
from hub.storage import ObjectStore
from hub.tables import DeadLetter, Device, Event, EventFlowWork, ReceivedMessage

DEAD_LETTER_MAX_BYTES = 64 * 1024
DEAD_LETTER_MAX_TOPIC = 1024
# Rows per dead-letter INSERT (SQLite's bound on SQL variables).
_DEAD_LETTER_CHUNK = 500

_RECEIVED: Table = ReceivedMessage.__table__  # type: ignore[attr-defined]
_EVENTS: Table = Event.__table__  # type: ignore[attr-defined]
_DEVICES: Table = Device.__table__  # type: ignore[attr-defined]
_WORK: Table = EventFlowWork.__table__  # type: ignore[attr-defined]
_DEAD: Table = DeadLetter.__table__  # type: ignore[attr-defined]

# One statement, sorted keys: every worker takes its events' locks in the same order.
_LOCK_EVENTS = text(
    "SELECT pg_advisory_xact_lock(k) FROM "
    "(SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY 1) AS sorted_keys"
)


def lock_key(event_id: uuid.UUID) -> int:
    """The advisory-lock key of an event: its uuid's last 64 bits, signed (collisions only
    serialise two events that need not be)."""
    return int.from_bytes(event_id.bytes[8:], "big", signed=True)


def needs_flows(row: Mapping[str, Any], created: bool) -> bool:
    """Whether the flows must look at this changed event row: a face with a person or a spoof
    verdict (attendance), or an anomaly or a camera outage seen for the first time (an alert;
    an outage whose ``restored`` came in the same batch as its ``lost`` still happened)."""
    kind = row.get("kind")
    if kind == "face":
        return row.get("person_id") is not None or row.get("liveness") == SPOOF_VERDICT
    return kind in ("anomaly", "camera") and created


class _Statements:
    """The batch's statements for one dialect, built once."""

    def __init__(self, dialect: str) -> None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self.claim = (
            insert(_RECEIVED)
            .on_conflict_do_nothing(index_elements=["device_id", "seq"])
            .returning(_RECEIVED.c.device_id, _RECEIVED.c.seq)
        )
        events = insert(_EVENTS)
        self.events = events.on_conflict_do_update(
            index_elements=["event_id"],
            set_={
                name: events.excluded[name]
                for name in EVENT_COLUMNS
                if name not in {"event_id", "received_at"}
            },
        )
        self.select_events = select(*(_EVENTS.c[name] for name in EVENT_COLUMNS)).where(
            _EVENTS.c.event_id.in_(bindparam("ids", expanding=True))
        )
        self.select_devices = select(*(_DEVICES.c[name] for name in DEVICE_COLUMNS)).where(
            _DEVICES.c.device_id.in_(bindparam("ids", expanding=True))
        )
        self.work = insert(_WORK)
        devices = insert(_DEVICES)
        greatest = func.greatest if dialect == "postgresql" else func.max
        update: dict[str, Any] = {
            name: devices.excluded[name]
            for name in DEVICE_COLUMNS
            if name not in {"device_id", "created_at", "last_seq"}
        }
        update["last_seq"] = greatest(_DEVICES.c.last_seq, devices.excluded.last_seq)
        self.devices = devices.on_conflict_do_update(index_elements=["device_id"], set_=update)
        self.postgres = dialect == "postgresql"


_STATEMENTS: dict[str, _Statements] = {}


def _statements(dialect: str) -> _Statements:
    statements = _STATEMENTS.get(dialect)
    if statements is None:
        statements = _STATEMENTS[dialect] = _Statements(dialect)
    return statements


class BatchWriter:
    """Applies a batch in one transaction (see the module docstring)."""

    def __init__(
        self,
        session_factory: SessionFactory,
        store: ObjectStore,
        site: str,
        *,
        site_of: Callable[[str], str] | None = None,
        flow_work: bool = True,
    ) -> None:
        """``site_of`` names the site of a stored device id (the chain hub's are per site;
        default: ``site``); ``flow_work=False`` writes no ``event_flow_work`` rows (a hub that
        runs no flows: the chain hub)."""
        self._session_factory = session_factory
        self._store = store
        self._site = site
        self._site_of = site_of
        self._flow_work = flow_work

    async def apply(self, batch: Batch) -> Outcome:
        """One transaction; raises what the database raised (the caller splits or retries)."""
        now = utcnow()
        outcome = Outcome()
        async with self._session_factory() as session:
            conn = await session.connection()
            statements = _statements(conn.dialect.name)
            highest = await self._apply_events(conn, statements, batch, now, outcome)
            await self._apply_devices(conn, statements, batch, highest, now, outcome)
            await write_dead_letters(conn, batch.dead, outcome)
            await session.commit()
        return outcome

    async def write_dead_letters(self, items: Sequence[DeadLetterItem], outcome: Outcome) -> None:
        """Dead letters alone, in their own transaction."""
        async with self._session_factory() as session:
            await write_dead_letters(await session.connection(), items, outcome)
            await session.commit()

    async def _apply_events(
        self,
        conn: AsyncConnection,
        statements: _Statements,
        batch: Batch,
        now: datetime,
        outcome: Outcome,
    ) -> dict[str, int]:
        """Apply event messages; returns the highest seq seen per device."""
        highest: dict[str, int] = {}
        unique: dict[tuple[str, int], EventMessage] = {}
        for message in batch.events:
            env = message.envelope
            key = (env.device_id, env.seq)
            outcome.ack(env.device_id, env.seq, message.received.mono)
            if env.seq > highest.get(env.device_id, 0):
                highest[env.device_id] = env.seq
            if key in unique:
                outcome.duplicates += 1
            else:
                unique[key] = message
        if not unique:
            return highest
        if statements.postgres:
            keys = sorted({lock_key(m.envelope.event_id) for m in unique.values()})
            await conn.execute(_LOCK_EVENTS, {"keys": keys})

        claimed = await conn.execute(
            statements.claim,
            [
                {
                    "device_id": m.envelope.device_id,
                    "seq": m.envelope.seq,
                    "event_id": m.envelope.event_id,
                    "received_at": now,
                }
                for m in unique.values()
            ],
        )
        new_keys = {(str(device_id), int(seq)) for device_id, seq in claimed.all()}
        fresh = sorted(
            (m for key, m in unique.items() if key in new_keys), key=lambda m: m.envelope.seq
        )
        outcome.duplicates += len(unique) - len(fresh)
        outcome.stored += len(fresh)
        if not fresh:
            return highest

        event_ids = list(dict.fromkeys(m.envelope.event_id for m in fresh))
        existing = await conn.execute(statements.select_events, {"ids": event_ids})
        states: dict[uuid.UUID, dict[str, Any]] = {
            row["event_id"]: dict(row) for row in existing.mappings().all()
        }
        created = {event_id for event_id in event_ids if event_id not in states}
        snapshots: dict[str, bytes] = {}
        for message in fresh:
            env = message.envelope
            state, snapshot_bytes = merge_event(states.get(env.event_id), env, now)
            states[env.event_id] = state
            if snapshot_bytes is not None:
                snapshots[state["snapshot_key"]] = snapshot_bytes
        for object_key, data in snapshots.items():
            await asyncio.to_thread(self._store.put, object_key, data, "image/jpeg")
        changed = [states[event_id] for event_id in event_ids]
        await conn.execute(statements.events, changed)
        work = [
            {"event_id": row["event_id"], "created_at": now}
            for row in changed
            if self._flow_work and needs_flows(row, row["event_id"] in created)
        ]
        if work:
            await conn.execute(statements.work, work)
        outcome.stored_events.extend(changed)
        return highest

    async def _apply_devices(
        self,
        conn: AsyncConnection,
        statements: _Statements,
        batch: Batch,
        highest: Mapping[str, int],
        now: datetime,
        outcome: Outcome,
    ) -> None:
        device_ids = sorted(set(highest) | set(batch.statuses) | set(batch.heartbeats))
        if not device_ids:
            return
        existing = await conn.execute(statements.select_devices, {"ids": device_ids})
        rows: dict[str, dict[str, Any]] = {
            row["device_id"]: dict(row) for row in existing.mappings().all()
        }
        for device_id in device_ids:
            row = rows.get(device_id) or {
                "device_id": device_id,
                "site": self._site if self._site_of is None else self._site_of(device_id),
                "status": "unknown",
                "status_at": None,
                "last_seen": None,
                "last_seq": 0,
                "gallery_version": None,
                "last_heartbeat": None,
                "created_at": now,
            }
            if device_id in highest:
                row["last_seq"] = max(row["last_seq"], highest[device_id])
                row["last_seen"] = now
            status_message = batch.statuses.get(device_id)
            if status_message is not None:
                status = status_message.status
                row["status"] = status.value
                row["status_at"] = now
                if status is DeviceStatus.ONLINE:
                    row["last_seen"] = now
                    outcome.online.append(device_id)
            heartbeat_message = batch.heartbeats.get(device_id)
            if heartbeat_message is not None:
                heartbeat = heartbeat_message.heartbeat
                if heartbeat.models.get("face") != _face_model(row["last_heartbeat"]):
                    outcome.online.append(device_id)  # its gallery's model is new or changed
                row["last_heartbeat"] = heartbeat.model_dump(mode="json", by_alias=True)
                row["gallery_version"] = heartbeat.gallery_version
                row["last_seen"] = now
            rows[device_id] = row
        await conn.execute(statements.devices, [rows[d] for d in device_ids])


def _face_model(heartbeat: object) -> object:
    """``models.face`` of a stored heartbeat (a dict, or JSON text on some drivers)."""
    if isinstance(heartbeat, str):
        try:
            heartbeat = json.loads(heartbeat)
        except ValueError:
            return None
    models = heartbeat.get("models") if isinstance(heartbeat, dict) else None
    return models.get("face") if isinstance(models, dict) else None


async def write_dead_letters(
    conn: AsyncConnection, items: Sequence[DeadLetterItem], outcome: Outcome
) -> None:
    """Insert dead letters; a repeat of the same (reason, topic, bytes) bumps its count."""
    if not items:
        return
    rows: dict[str, dict[str, Any]] = {}
    for item in items:
        raw = item.received.raw
        digest = hashlib.sha256(raw).hexdigest()
        topic = storable(item.received.topic, DEAD_LETTER_MAX_TOPIC)
        fingerprint = hashlib.sha256(f"{item.reason}\x00{topic}\x00{digest}".encode()).hexdigest()
        row = rows.get(fingerprint)
        if row is None:
            rows[fingerprint] = {
                "topic": topic,
                "payload": raw[:DEAD_LETTER_MAX_BYTES],
                "payload_size": len(raw),
                "truncated": len(raw) > DEAD_LETTER_MAX_BYTES,
                "reason": item.reason,
                "detail": storable(item.detail, DEAD_LETTER_MAX_DETAIL),
                "device_id": item.device_id,
                "seq": item.seq,
                "received_at": item.received.at,
                "last_seen_at": item.received.at,
                "times_seen": 1,
                "sha256": digest,
                "fingerprint": fingerprint,
            }
        else:
            row["times_seen"] += 1
            row["last_seen_at"] = max(row["last_seen_at"], item.received.at)
        outcome.dead.append((item.reason, item.device_id))
        if item.ackable and item.device_id is not None and item.seq is not None:
            outcome.refuse(item.device_id, item.seq, item.reason, item.received.mono)
    values = list(rows.values())
    dialect = conn.dialect.name
    for start in range(0, len(values), _DEAD_LETTER_CHUNK):
        chunk = values[start : start + _DEAD_LETTER_CHUNK]
        stmt: sqlite.Insert | postgresql.Insert
        if dialect == "postgresql":
            stmt = postgresql.insert(_DEAD).values(chunk)
        else:
            stmt = sqlite.insert(_DEAD).values(chunk)
        stmt = stmt.on_conflict_do_update(
            index_elements=["fingerprint"],
            set_={
                "last_seen_at": stmt.excluded.last_seen_at,
                "times_seen": _DEAD.c.times_seen + stmt.excluded.times_seen,
            },
        )
        await conn.execute(stmt)
