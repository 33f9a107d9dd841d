"""MQTT -> contracts -> database, once (DESIGN §2, §5, §8).

One aiomqtt client with a persistent session (``clean_session=False``, stable client id)
subscribes at QoS 1 to the site's events, status and heartbeat topics. Messages are validated
with :mod:`contracts`; whatever is malformed becomes a ``dead_letters`` row and the ingest
carries on. Valid messages are applied in batches, one transaction per batch:

- ``received_messages`` gets ``(device_id, seq)``; a message already there is a duplicate and is
  not applied again (exactly-once in the database);
- ``events`` keeps one row per ``event_id``: best score with its payload and snapshot, latest
  phase, end time, person once known;
- ``devices`` gets ``last_seq``/``last_seen``/status/heartbeat.

After the commit, an :class:`~contracts.messages.AckMessage` with every committed seq of the
batch (duplicates included, so a redelivered message is released again) goes to the device's
``acks`` topic.

One bad message never costs another (issue 14):

- A message the contract refuses (every :class:`~contracts.errors.ContractErrorCode`) becomes a
  dead letter; once that is committed it is acked with its seq in the ack's ``refused`` list
  (with the reason), so the edge drops it instead of re-sending it forever.
- A batch whose transaction fails is split in halves (bisection) until the message that fails
  is alone; the others are committed. A lone message that fails for a permanent reason is
  dead-lettered as ``apply_failed`` with the database's reason, and acked as refused.
- A failure of the database itself (after any failed transaction a ``SELECT 1`` on a fresh
  connection tells) is transient: nothing is acked or dead-lettered, the batch is kept in memory
  and retried with backoff (the edge re-sends it anyway after its timeout). A lone message that
  fails with a transient-looking error (SQLite's "database is locked") while the database
  answers is tried again, up to ``MAX_TRANSIENT_STRIKES`` times, before it is dead-lettered.
- No exception escapes: an unexpected one is logged and counted, and its messages are
  dead-lettered as ``ingest_error`` (and acked as refused).

Dead letters keep the evidence: the exact bytes received (first 64 KiB, with the whole size and
SHA-256), topic, reason, first and last time seen and how often; one row per distinct
(reason, topic, bytes). ``innsight_ingest_dead_letters_total{reason}`` counts every refusal, and
a device that produces more than ``alert_threshold`` of them in ``alert_window_s`` raises an
alert (a warning, ``innsight_ingest_dead_letter_alerts_total``, the ``on_dead_letter_alert``
callback).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiomqtt
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import func, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.errors import ContractError, ContractErrorCode
from contracts.ids import is_valid_id
from contracts.messages import (
    AckMessage,
    DeviceStatus,
    EventEnvelope,
    EventKind,
    Heartbeat,
    Phase,
    Refusal,
    parse_event,
    parse_heartbeat,
    peek_seq,
    seqs_to_ranges,
)
from contracts.topics import ROOT, Channel, device_topic, parse_topic, site_subscription
from hub.db import SessionFactory, upsert
from hub.edge_versions import EdgeContractWatch
from hub.settings import HubSettings
from hub.storage import ObjectStore, StorageError
from hub.tables import DeadLetter, Device, Event, ReceivedMessage

logger = logging.getLogger(__name__)

DEAD_LETTER_MAX_BYTES = 64 * 1024
DEAD_LETTER_MAX_DETAIL = 2000
DEAD_LETTER_MAX_TOPIC = 1024
# Dead-letter reasons beyond ContractErrorCode.
APPLY_FAILED = "apply_failed"  # the database refused the message (its reason in the detail)
INGEST_ERROR = "ingest_error"  # an unexpected error of the ingest itself (a bug)
# How long stop() waits for the last batch to commit and its acks to go out.
STOP_TIMEOUT_S = 10.0
# How long an ack may wait for the broker's PUBACK before the connection counts as broken and is
# replaced. aiomqtt does not wake a publish waiting for its PUBACK when the connection drops (the
# wait ran to the client's whole 10 s timeout, the ingest reading and committing nothing
# meanwhile), and a connection made right after a broker crash could come up unable to write (an
# event-loop poll left over from the dead socket, under uvloop: see hub/serve.py); it stayed
# wedged until its keepalive expired. Replacing it is safe: the session is persistent.
ACK_PUBLISH_TIMEOUT_S = 3.0
# Messages already received when stop() is called that are still applied before disconnecting.
MAX_DRAIN_ON_STOP = 10_000
# A database that is down: first and longest wait before the kept batch is tried again.
RETRY_MIN_S = 0.5
RETRY_MAX_S = 10.0
# How long the SELECT 1 that tells "database down" from "this message" may take.
HEALTH_PROBE_TIMEOUT_S = 5.0
# Event messages kept in memory while the database is down; beyond this the newest are left
# unacked (the edge re-sends them after its timeout).
MAX_HELD_EVENTS = 50_000
# A message failing alone with a "transient" error while the database answers: tries before it
# is dead-lettered as apply_failed (the edge stops re-sending it then).
MAX_TRANSIENT_STRIKES = 5
_MAX_STRIKE_KEYS = 10_000
# Rows per dead-letter INSERT (SQLite's bound on SQL variables).
_DEAD_LETTER_CHUNK = 500
# Devices tracked by the dead-letter alarm (topics name arbitrary device ids).
_ALARM_MAX_DEVICES = 10_000

OnDeviceOnline = Callable[[str], Awaitable[None]]
# Called after a batch's commit with the ``events`` rows (column dicts) it changed (hub/flows).
OnEventsStored = Callable[[list[dict[str, Any]]], Awaitable[None]]
# Called when one device produced ``count`` dead letters within the alarm's window.
OnDeadLetterAlert = Callable[[str, int], Awaitable[None]]


class IngestError(RuntimeError):
    """Base class of the ingest's errors."""


class IngestNotConnectedError(IngestError):
    """The ingest has no live broker connection (disabled, not started or reconnecting)."""


class PublishError(IngestError):
    """The broker did not take a message."""


def utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IngestMetrics:
    received: Counter
    stored: Counter
    duplicates: Counter
    dead_letters: Counter
    batch_failures: Counter
    transient_failures: Counter
    internal_errors: Counter
    dead_letter_alerts: Counter
    noisy_devices: Gauge
    held_messages: Gauge
    ack_latency: Histogram
    connected: Gauge

    @classmethod
    def register(cls, registry: CollectorRegistry) -> IngestMetrics:
        return cls(
            received=Counter(
                "innsight_ingest_messages_received",
                "MQTT messages received by the hub ingest, by channel.",
                ["channel"],
                registry=registry,
            ),
            stored=Counter(
                "innsight_ingest_messages_stored",
                "Event messages applied to the database (first delivery).",
                registry=registry,
            ),
            duplicates=Counter(
                "innsight_ingest_duplicates",
                "Event messages already applied before (redeliveries), acked again.",
                registry=registry,
            ),
            dead_letters=Counter(
                "innsight_ingest_dead_letters",
                "Messages refused into the dead-letter table, by reason (repeats included).",
                ["reason"],
                registry=registry,
            ),
            batch_failures=Counter(
                "innsight_ingest_batch_failures",
                "Transactions that failed (the batch was then split, or kept for a retry).",
                registry=registry,
            ),
            transient_failures=Counter(
                "innsight_ingest_transient_failures",
                "Batches kept for a retry because the database was unavailable.",
                registry=registry,
            ),
            internal_errors=Counter(
                "innsight_ingest_internal_errors",
                "Unexpected errors of the ingest caught by its last-resort handler.",
                registry=registry,
            ),
            dead_letter_alerts=Counter(
                "innsight_ingest_dead_letter_alerts",
                "Times a device went over the dead-letter alert threshold within the window.",
                registry=registry,
            ),
            noisy_devices=Gauge(
                "innsight_ingest_noisy_devices",
                "Devices over the dead-letter alert threshold in the current window.",
                registry=registry,
            ),
            held_messages=Gauge(
                "innsight_ingest_held_messages",
                "Messages kept in memory for a retry while the database is unavailable.",
                registry=registry,
            ),
            ack_latency=Histogram(
                "innsight_ingest_ack_latency_seconds",
                "From receipt of an event message to its ack being taken by the broker.",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
                registry=registry,
            ),
            connected=Gauge(
                "innsight_ingest_connected",
                "1 while the ingest holds a broker connection.",
                registry=registry,
            ),
        )


# ---------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Received:
    """The evidence of one message: where and when it came, and its exact bytes."""

    topic: str
    raw: bytes
    at: datetime
    mono: float


@dataclass(slots=True)
class _EventMessage:
    envelope: EventEnvelope
    received: _Received


@dataclass(slots=True)
class _StatusMessage:
    device_id: str
    status: DeviceStatus
    received: _Received


@dataclass(slots=True)
class _HeartbeatMessage:
    heartbeat: Heartbeat
    received: _Received


@dataclass(slots=True)
class _DeadLetterItem:
    received: _Received
    reason: str
    detail: str
    device_id: str | None
    seq: int | None
    ackable: bool


_Item = _EventMessage | _DeadLetterItem | _StatusMessage | _HeartbeatMessage


@dataclass(slots=True)
class _Batch:
    events: list[_EventMessage] = field(default_factory=list)
    dead: list[_DeadLetterItem] = field(default_factory=list)
    statuses: dict[str, _StatusMessage] = field(default_factory=dict)
    heartbeats: dict[str, _HeartbeatMessage] = field(default_factory=dict)
    opened_at: float | None = None

    def touch(self) -> None:
        if self.opened_at is None:
            self.opened_at = time.monotonic()

    def __len__(self) -> int:
        return len(self.events) + len(self.dead) + len(self.statuses) + len(self.heartbeats)

    def items(self) -> list[_Item]:
        items: list[_Item] = [*self.events, *self.dead]
        items.extend(self.statuses.values())
        items.extend(self.heartbeats.values())
        return items

    @classmethod
    def of(cls, items: Iterable[_Item]) -> _Batch:
        batch = cls()
        for item in items:
            batch.add(item)
        return batch

    def add(self, item: _Item) -> None:
        if isinstance(item, _EventMessage):
            self.events.append(item)
        elif isinstance(item, _DeadLetterItem):
            self.dead.append(item)
        elif isinstance(item, _StatusMessage):
            self.statuses[item.device_id] = item
        else:
            self.heartbeats[item.heartbeat.device_id] = item

    def halves(self) -> tuple[_Batch, _Batch]:
        items = self.items()
        middle = len(items) // 2
        return _Batch.of(items[:middle]), _Batch.of(items[middle:])

    def merge_newer(self, newer: _Batch) -> None:
        """Append ``newer`` (messages read after this batch was taken) to this kept batch."""
        self.events.extend(newer.events)
        self.dead.extend(newer.dead)
        self.statuses.update(newer.statuses)
        self.heartbeats.update(newer.heartbeats)
        if self.opened_at is None:
            self.opened_at = newer.opened_at


@dataclass(slots=True)
class _Outcome:
    acks: dict[str, dict[int, float]] = field(default_factory=dict)
    # seqs refused for good, per device, with the reason (also in ``acks``)
    refused: dict[str, dict[int, str]] = field(default_factory=dict)
    online: list[str] = field(default_factory=list)
    stored: int = 0
    duplicates: int = 0
    # (reason, device_id) of every dead letter committed
    dead: list[tuple[str, str | None]] = field(default_factory=list)
    stored_events: list[dict[str, Any]] = field(default_factory=list)
    # what could not be applied for a transient reason, to try again
    retry: _Batch | None = None
    # True when the database itself is unavailable (then the ingest holds off a while)
    database_down: bool = False

    def ack(self, device_id: str, seq: int, received_mono: float) -> None:
        seqs = self.acks.setdefault(device_id, {})
        seqs[seq] = min(seqs.get(seq, received_mono), received_mono)
        refused = self.refused.get(device_id)
        if refused is not None:
            refused.pop(seq, None)  # a stored message is not refused, whatever came with it

    def refuse(self, device_id: str, seq: int, reason: str, received_mono: float) -> None:
        seqs = self.acks.setdefault(device_id, {})
        if seq in seqs and seq not in self.refused.get(device_id, {}):
            return  # the same seq was stored (or acked as a duplicate) in this batch
        seqs[seq] = min(seqs.get(seq, received_mono), received_mono)
        self.refused.setdefault(device_id, {})[seq] = reason

    def merge(self, other: _Outcome) -> None:
        for device_id, seqs in other.acks.items():
            refused = other.refused.get(device_id, {})
            for seq, received in seqs.items():
                if seq in refused:
                    self.refuse(device_id, seq, refused[seq], received)
                else:
                    self.ack(device_id, seq, received)
        self.online.extend(other.online)
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.dead.extend(other.dead)
        self.stored_events.extend(other.stored_events)
        self.database_down = self.database_down or other.database_down
        if other.retry is not None:
            if self.retry is None:
                self.retry = other.retry
            else:
                for item in other.retry.items():
                    self.retry.add(item)


# ---------------------------------------------------------------------------------------------
# Errors: transient (the database is unavailable) or permanent (this message)
# ---------------------------------------------------------------------------------------------


def is_transient(err: BaseException) -> bool:
    """Errors that say the database (or object store) is unavailable, not that the data is bad."""
    if isinstance(err, DBAPIError) and err.connection_invalidated:
        return True
    return isinstance(
        err,
        OperationalError
        | InterfaceError
        | DisconnectionError
        | PoolTimeoutError
        | StorageError
        | ConnectionError
        | TimeoutError
        | OSError,
    )


def database_reason(err: BaseException) -> str:
    """The database's own reason for refusing a message (no SQL, no parameters)."""
    orig = getattr(err, "orig", None)
    cause = orig if isinstance(orig, BaseException) else err
    message = str(cause).strip().splitlines()
    first = message[0] if message else ""
    return f"{type(cause).__name__}: {first}" if first else type(cause).__name__


def storable(value: str, limit: int) -> str:
    """Text from a message or an error, made storable on both databases and bounded."""
    value = value[:limit]
    if "\x00" in value:
        value = value.replace("\x00", "\\x00")
    if not value.isascii():
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


# ---------------------------------------------------------------------------------------------
# The dead-letter alarm: one device producing many
# ---------------------------------------------------------------------------------------------


class DeadLetterAlarm:
    """Counts dead letters per device in fixed windows; says when one goes over a threshold."""

    def __init__(self, threshold: int, window_s: float) -> None:
        if threshold < 1 or window_s <= 0:
            raise ValueError("threshold must be >= 1 and window_s > 0")
        self.threshold = threshold
        self.window_s = window_s
        # device -> [window start, count, alerted]
        self._windows: dict[str, list[float]] = {}

    def record(self, device_id: str, count: int, now: float) -> int | None:
        """Add ``count`` dead letters; returns the window's total when this crosses the
        threshold (once per device and window), else None."""
        window = self._windows.get(device_id)
        if window is None or now - window[0] >= self.window_s:
            if window is None and len(self._windows) >= _ALARM_MAX_DEVICES:
                self._forget_stale(now)
            window = [now, 0.0, 0.0]
            self._windows[device_id] = window
        window[1] += count
        if window[1] >= self.threshold and not window[2]:
            window[2] = 1.0
            return int(window[1])
        return None

    def noisy(self, now: float) -> int:
        """Devices over the threshold in their current window."""
        return sum(1 for w in self._windows.values() if w[2] and now - w[0] < self.window_s)

    def _forget_stale(self, now: float) -> None:
        stale = [d for d, w in self._windows.items() if now - w[0] >= self.window_s]
        for device_id in stale or list(self._windows)[: _ALARM_MAX_DEVICES // 10]:
            del self._windows[device_id]


# ---------------------------------------------------------------------------------------------
# Pure merge of one message into an event row
# ---------------------------------------------------------------------------------------------


def snapshot_key(device_id: str, event_id: uuid.UUID) -> str:
    return f"snapshots/{device_id}/{event_id}.jpg"


SPOOF_VERDICT = "spoof"


def merge_event(
    state: dict[str, Any] | None, envelope: EventEnvelope, now: datetime
) -> tuple[dict[str, Any], bytes | None]:
    """Fold one (not yet applied) message into an ``events`` row.

    Returns the new row as a dict of column values and the inline snapshot bytes to store
    under the row's ``snapshot_key`` (``None`` when nothing is to be written).
    """
    payload = envelope.payload
    score: float | None = getattr(payload, "score", None)
    person_id: str | None = getattr(payload, "person_id", None)
    if state is None:
        row: dict[str, Any] = {
            "event_id": envelope.event_id,
            "device_id": envelope.device_id,
            "seq": envelope.seq,
            "last_seq": envelope.seq,
            "camera_id": envelope.camera_id,
            "kind": envelope.kind.value,
            "phase": envelope.phase.value,
            "started_at": envelope.started_at,
            "ended_at": envelope.ended_at,
            "person_id": None,
            "score": None,
            "liveness": None,
            "liveness_score": None,
            "payload": {},
            "snapshot_key": None,
            "messages": 0,
            "received_at": now,
            "updated_at": now,
        }
        is_best = True
    else:
        row = dict(state)
        best = row["score"]
        # Camera events carry no score: their latest message is the best.
        is_best = envelope.seq > row["last_seq"] if score is None else best is None or score > best
    newest = envelope.seq >= row["last_seq"]

    row["seq"] = min(row["seq"], envelope.seq)
    row["last_seq"] = max(row["last_seq"], envelope.seq)
    row["started_at"] = min(row["started_at"], envelope.started_at)
    if row["phase"] != Phase.END.value and (newest or envelope.phase is Phase.END):
        row["phase"] = envelope.phase.value
    if envelope.phase is Phase.END or (row["ended_at"] is None and envelope.ended_at):
        row["ended_at"] = envelope.ended_at
    liveness = getattr(payload, "liveness", None)
    verdict = liveness.value if liveness is not None else None
    if is_best:
        row["score"] = score
        row["payload"] = payload.model_dump(mode="json")
        if row["liveness"] != SPOOF_VERDICT:
            row["liveness"] = verdict
            row["liveness_score"] = getattr(payload, "liveness_score", None)
    if verdict == SPOOF_VERDICT:
        # A spoof verdict is sticky, whatever the message's score: a track that turned out to be
        # a photo or a screen must never keep the `live` of an earlier, better-scoring message
        # (attendance retracts its check-in on this, issue 17).
        row["liveness"] = SPOOF_VERDICT
        row["liveness_score"] = getattr(payload, "liveness_score", None)
    if person_id is not None and (is_best or row["person_id"] is None):
        row["person_id"] = person_id

    snapshot_bytes: bytes | None = None
    snapshot = envelope.snapshot
    if snapshot is not None and (is_best or row["snapshot_key"] is None):
        if snapshot.ref is not None:
            row["snapshot_key"] = snapshot.ref
        else:
            snapshot_bytes = snapshot.jpeg_bytes()
            row["snapshot_key"] = snapshot_key(envelope.device_id, envelope.event_id)
    row["messages"] += 1
    row["updated_at"] = now
    return row, snapshot_bytes


_EVENT_COLUMNS = [
    "event_id",
    "device_id",
    "seq",
    "last_seq",
    "camera_id",
    "kind",
    "phase",
    "started_at",
    "ended_at",
    "person_id",
    "score",
    "liveness",
    "liveness_score",
    "payload",
    "snapshot_key",
    "messages",
    "received_at",
    "updated_at",
]
_DEVICE_COLUMNS = [
    "device_id",
    "site",
    "status",
    "status_at",
    "last_seen",
    "last_seq",
    "gallery_version",
    "last_heartbeat",
    "created_at",
]


# ---------------------------------------------------------------------------------------------
# The ingest
# ---------------------------------------------------------------------------------------------


class MqttIngest:
    """The hub's MQTT consumer and publisher (see the module docstring)."""

    def __init__(
        self,
        settings: HubSettings,
        session_factory: SessionFactory,
        store: ObjectStore,
        *,
        registry: CollectorRegistry | None = None,
        on_device_online: OnDeviceOnline | None = None,
        alert_threshold: int = 100,
        alert_window_s: float = 300.0,
    ) -> None:
        self._settings = settings
        self._site = settings.site
        self._session_factory = session_factory
        self._store = store
        self._on_device_online = on_device_online
        registry = registry or CollectorRegistry()
        self.metrics = IngestMetrics.register(registry)
        # edges that speak another contract version: a gauge per device, one warning each
        self.contracts = EdgeContractWatch(registry)
        self._alarm = DeadLetterAlarm(alert_threshold, alert_window_s)
        self._on_dead_letter_alert: OnDeadLetterAlert | None = None
        self._batch = _Batch()
        self._pending_acks: dict[str, dict[int, float]] = {}
        self._pending_refusals: dict[str, dict[int, str]] = {}
        # While the database is unavailable: no flush before this (monotonic), next wait.
        self._hold_until = 0.0
        self._retry_delay = RETRY_MIN_S
        self._strikes: dict[str, int] = {}
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._connected_event = asyncio.Event()
        self._ack_stalled = False
        self._on_events_stored: OnEventsStored | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def set_on_device_online(self, callback: OnDeviceOnline | None) -> None:
        self._on_device_online = callback

    def set_on_events_stored(self, callback: OnEventsStored | None) -> None:
        self._on_events_stored = callback

    def set_on_dead_letter_alert(self, callback: OnDeadLetterAlert | None) -> None:
        """Called (device_id, count) when one device goes over the dead-letter threshold."""
        self._on_dead_letter_alert = callback

    async def start(self) -> None:
        if self.running:
            return
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="hub-mqtt-ingest")

    async def wait_connected(self, timeout_s: float) -> bool:
        """True once connected and subscribed (for tests and startup checks)."""
        try:
            await asyncio.wait_for(self._connected_event.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Commit what was read, send its acks, disconnect."""
        task = self._task
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT_S)
        except TimeoutError:
            logger.warning("ingest did not stop within %.0f s; cancelling", STOP_TIMEOUT_S)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            self._task = None

    async def process(self, messages: Iterable[tuple[str, bytes]]) -> None:
        """Classify and apply ``(topic, payload)`` messages as if they had just arrived, and
        commit them (replaying dead letters, tests). Their acks go out with the next ones
        once connected. Never raises on any input."""
        for topic, payload in messages:
            self._accept(topic, payload)
        await self._flush(self._client, force=True)

    # -- publishing for other hub parts ----------------------------------------------------

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish through the ingest's connection (gallery announcements, commands)."""
        client = self._client
        if client is None:
            raise IngestNotConnectedError("the hub is not connected to the MQTT broker")
        try:
            await client.publish(topic, payload, qos=qos, retain=retain)
        except aiomqtt.MqttError as err:
            raise PublishError(f"could not publish to {topic}: {err}") from err

    # -- connection loop -------------------------------------------------------------------

    def _new_client(self) -> aiomqtt.Client:
        s = self._settings
        password = s.mqtt_password.get_secret_value() if s.mqtt_password is not None else None
        return aiomqtt.Client(
            s.mqtt_host,
            s.mqtt_port,
            username=s.mqtt_username,
            password=password,
            identifier=s.mqtt_client_id,
            clean_session=False,
            keepalive=s.mqtt_keepalive_s,
            timeout=10,
            logger=logging.getLogger("hub.ingest.mqtt"),
        )

    async def _run(self) -> None:
        s = self._settings
        delay = s.mqtt_reconnect_min_s
        while not self._stopping.is_set():
            try:
                async with self._new_client() as client:
                    self._ack_stalled = False
                    for channel in (Channel.EVENTS, Channel.STATUS, Channel.HEARTBEAT):
                        await client.subscribe(site_subscription(self._site, channel), qos=1)
                    self._client = client
                    self.metrics.connected.set(1)
                    self._connected_event.set()
                    logger.info(
                        "ingest connected to %s:%d as %s (site %s)",
                        s.mqtt_host,
                        s.mqtt_port,
                        s.mqtt_client_id,
                        self._site,
                    )
                    delay = s.mqtt_reconnect_min_s
                    await self._send_acks(client)
                    await self._consume(client)
            except aiomqtt.MqttError as err:
                logger.warning(
                    "MQTT broker %s:%d unavailable (%s); retrying in %.1f s",
                    s.mqtt_host,
                    s.mqtt_port,
                    err,
                    delay,
                )
            except Exception:
                logger.exception("ingest loop failed; reconnecting in %.1f s", delay)
            finally:
                self._client = None
                self._connected_event.clear()
                self.metrics.connected.set(0)
            # Commit what was read before the connection went; its acks wait for the next one.
            await self._flush(None)
            if self._stopping.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, s.mqtt_reconnect_max_s)
        logger.info("ingest stopped")

    async def _consume(self, client: aiomqtt.Client) -> None:
        messages = client.messages
        stop_wait = asyncio.ensure_future(self._stopping.wait())
        next_message: asyncio.Future[aiomqtt.Message] | None = None
        max_delay = self._settings.ingest_max_batch_delay_s
        try:
            while not self._stopping.is_set():
                if self._ack_stalled:
                    raise aiomqtt.MqttError(
                        f"no PUBACK for an ack within {ACK_PUBLISH_TIMEOUT_S:.0f} s"
                    )
                if next_message is None:
                    next_message = asyncio.ensure_future(messages.__anext__())
                opened = self._batch.opened_at
                timeout = (
                    None
                    if opened is None
                    else max(0.0, opened + max_delay, self._hold_until) - time.monotonic()
                )
                if timeout is not None:
                    timeout = max(0.0, timeout)
                waiting: set[asyncio.Future[Any]] = {next_message, stop_wait}
                done, _ = await asyncio.wait(
                    waiting,
                    timeout=timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if next_message in done:
                    message = next_message.result()  # raises MqttError when disconnected
                    next_message = None
                    self._accept(message.topic.value, _payload_bytes(message.payload))
                    if len(self._batch) >= self._settings.ingest_batch_size:
                        await self._flush(client)
                elif not done:
                    await self._flush(client)
            # Stopping: what the client already received (and PUBACKed) is committed and acked
            # now rather than left for the edge's re-send timeout.
            if next_message is not None and not next_message.done():
                # cancel the pending read (asyncio.Queue.get loses nothing when cancelled); left
                # alone it would fail unobserved once the client disconnects
                next_message.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await next_message
            elif next_message is not None and next_message.exception() is None:
                message = next_message.result()
                self._accept(message.topic.value, _payload_bytes(message.payload))
            next_message = None
            for _ in range(min(len(messages), MAX_DRAIN_ON_STOP)):
                message = await messages.__anext__()
                self._accept(message.topic.value, _payload_bytes(message.payload))
                if len(self._batch) >= self._settings.ingest_batch_size:
                    await self._flush(client, force=True)
            await self._flush(client, force=True)
        finally:
            for future in (next_message, stop_wait):
                if future is not None and not future.done():
                    future.cancel()
                    with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                        await future

    # -- classification (never raises on input) --------------------------------------------

    def _accept(self, topic: str, payload: bytes) -> None:
        received = _Received(topic, payload, utcnow(), time.monotonic())
        try:
            self._classify(received)
        except Exception as err:  # last resort: a bug must not stop the ingest
            self.metrics.internal_errors.inc()
            logger.exception("unexpected error while reading a message on %s", storable(topic, 200))
            device_id = self._event_topic_device(topic)
            seq = peek_seq(payload) if device_id is not None else None
            detail = f"unexpected error while parsing: {type(err).__name__}"
            self._dead(received, INGEST_ERROR, detail, device_id, seq, ackable=True)
        self._batch.touch()

    def _dead(
        self,
        received: _Received,
        reason: str,
        detail: str,
        device_id: str | None,
        seq: int | None,
        *,
        ackable: bool = False,
    ) -> None:
        detail = storable(detail, DEAD_LETTER_MAX_DETAIL)
        logger.warning(
            "dead letter on %s: %s (%s)", storable(received.topic, 200), reason, detail[:300]
        )
        self._batch.dead.append(
            _DeadLetterItem(
                received=received,
                reason=reason,
                detail=detail,
                device_id=device_id,
                seq=seq,
                ackable=ackable and device_id is not None and seq is not None,
            )
        )

    def _classify(self, received: _Received) -> None:
        topic = received.topic
        try:
            parsed = parse_topic(topic)
        except ContractError as err:
            self.metrics.received.labels(channel="unknown").inc()
            # An unknown kind on an otherwise valid event topic still names the device, so the
            # refused message can be acked like any other refused event.
            device_id = self._event_topic_device(topic)
            seq = peek_seq(received.raw) if device_id is not None else None
            self._dead(received, err.code.value, err.detail, device_id, seq, ackable=True)
            return
        self.metrics.received.labels(channel=parsed.channel.value).inc()
        device = parsed.device
        if parsed.site != self._site:
            detail = f"site {parsed.site!r} is not this hub's site {self._site!r}"
            self._dead(received, ContractErrorCode.BAD_TOPIC.value, detail, device, None)
            return
        if parsed.channel is Channel.EVENTS:
            self._classify_event(received, device, parsed.event_kind)
        elif parsed.channel is Channel.STATUS:
            self._classify_status(received, device)
        elif parsed.channel is Channel.HEARTBEAT:
            self._classify_heartbeat(received, device)
        else:
            detail = f"the hub does not consume {parsed.channel.value!r} messages"
            self._dead(received, ContractErrorCode.BAD_TOPIC.value, detail, device, None)

    def _event_topic_device(self, topic: str) -> str | None:
        parts = topic.split("/")
        if (
            len(parts) == 5
            and parts[0] == ROOT
            and parts[1] == self._site
            and parts[3] == Channel.EVENTS.value
            and is_valid_id(parts[2])
        ):
            return parts[2]
        return None

    def _classify_event(self, received: _Received, device: str, kind: EventKind | None) -> None:
        try:
            envelope = parse_event(received.raw)
        except ContractError as err:
            seq = peek_seq(received.raw)
            self._dead(received, err.code.value, err.detail, device, seq, ackable=True)
            return
        if envelope.device_id != device or envelope.kind != kind:
            mismatch = []
            if envelope.device_id != device:
                mismatch.append(f"envelope device_id {envelope.device_id!r} != topic {device!r}")
            if envelope.kind != kind:
                topic_kind = kind.value if kind is not None else None
                mismatch.append(f"envelope kind {envelope.kind.value!r} != topic {topic_kind!r}")
            reason = ContractErrorCode.TOPIC_MISMATCH.value
            self._dead(received, reason, "; ".join(mismatch), device, envelope.seq, ackable=True)
            return
        self._batch.events.append(_EventMessage(envelope, received))

    def _classify_status(self, received: _Received, device: str) -> None:
        payload = received.raw
        if not payload:
            return  # a cleared retained status
        try:
            status = DeviceStatus(payload[:64].decode().strip()) if len(payload) <= 64 else None
        except (UnicodeDecodeError, ValueError):
            status = None
        if status is None:
            allowed = ", ".join(s.value for s in DeviceStatus)
            detail = f"status must be one of {allowed}; got {payload[:40]!r}"
            self._dead(received, ContractErrorCode.INVALID.value, detail, device, None)
            return
        self._batch.statuses[device] = _StatusMessage(device, status, received)

    def _classify_heartbeat(self, received: _Received, device: str) -> None:
        try:
            heartbeat = parse_heartbeat(received.raw)
        except ContractError as err:
            self.contracts.refused(device, received.raw)
            self._dead(received, err.code.value, err.detail, device, None)
            return
        if heartbeat.device_id != device:
            detail = f"heartbeat device_id {heartbeat.device_id!r} != topic {device!r}"
            reason = ContractErrorCode.TOPIC_MISMATCH.value
            self._dead(received, reason, detail, device, None)
            return
        self.contracts.accepted(device)
        self._batch.heartbeats[device] = _HeartbeatMessage(heartbeat, received)

    # -- applying a batch ----------------------------------------------------------------

    def _take_batch(self, force: bool) -> _Batch | None:
        """The next batch to apply: None while holding off a database that is down."""
        if not force and self._hold_until and time.monotonic() < self._hold_until:
            return None
        batch = self._batch
        if len(batch) == 0:
            return None
        limit = max(self._settings.ingest_batch_size, 1)
        if len(batch) <= limit:
            self._batch = _Batch()
            return batch
        # A batch kept through an outage can be large: apply it a batch at a time.
        items = batch.items()
        rest = _Batch.of(items[limit:])
        rest.opened_at = batch.opened_at
        self._batch = rest
        return _Batch.of(items[:limit])

    async def _flush(self, client: aiomqtt.Client | None, *, force: bool = False) -> None:
        """Apply what was read, then ack it. Never raises (last-resort handlers inside)."""
        while (batch := self._take_batch(force)) is not None:
            try:
                outcome = await self._apply(batch)
            except Exception:  # last resort: count, dead-letter, keep running
                self.metrics.internal_errors.inc()
                logger.exception("unexpected error while applying %d messages", len(batch))
                await self._record_internal_error(batch)
            else:
                try:
                    await self._after_commit(outcome, client)
                except Exception:  # last resort: what was committed stays committed
                    self.metrics.internal_errors.inc()
                    logger.exception("unexpected error after committing %d messages", len(batch))
            if self._hold_until:
                return  # the database is down: wait before the rest
            if not force and len(self._batch) < max(self._settings.ingest_batch_size, 1):
                return

    async def _after_commit(self, outcome: _Outcome, client: aiomqtt.Client | None) -> None:
        if outcome.retry is not None and outcome.database_down:
            self._keep_for_retry(outcome.retry)
        elif outcome.retry is not None:
            outcome.retry.merge_newer(self._batch)  # tried again at the next flush
            self._batch = outcome.retry
        elif self._hold_until:
            logger.info("database available again; the ingest carries on")
            self._hold_until = 0.0
            self._retry_delay = RETRY_MIN_S
            self.metrics.held_messages.set(0)
        self._account(outcome)
        if client is not None:
            await self._send_acks(client)
        for device_id in outcome.online:
            await self._notify_online(device_id)
        if outcome.stored_events and self._on_events_stored is not None:
            try:
                await self._on_events_stored(outcome.stored_events)
            except Exception:
                logger.exception("on_events_stored callback failed")
        await self._check_alarm(outcome)

    def _account(self, outcome: _Outcome) -> None:
        """Metrics and pending acks of a committed outcome."""
        self.metrics.stored.inc(outcome.stored)
        self.metrics.duplicates.inc(outcome.duplicates)
        for reason, _device in outcome.dead:
            self.metrics.dead_letters.labels(reason=reason).inc()
        for device_id, seqs in outcome.acks.items():
            pending = self._pending_acks.setdefault(device_id, {})
            refused = outcome.refused.get(device_id, {})
            pending_refused = self._pending_refusals.get(device_id)
            for seq, received in seqs.items():
                pending[seq] = min(pending.get(seq, received), received)
                if seq in refused:
                    self._pending_refusals.setdefault(device_id, {})[seq] = refused[seq]
                elif pending_refused is not None:
                    pending_refused.pop(seq, None)

    def _keep_for_retry(self, retry: _Batch) -> None:
        """The database is down: keep ``retry`` (before anything read since) and wait."""
        newer = self._batch
        retry.merge_newer(newer)
        if len(retry.events) > MAX_HELD_EVENTS:
            dropped = len(retry.events) - MAX_HELD_EVENTS
            del retry.events[MAX_HELD_EVENTS:]
            logger.warning(
                "database unavailable: %d newest event messages left unacked (the edges "
                "re-send them)",
                dropped,
            )
        retry.opened_at = retry.opened_at or time.monotonic()
        self._batch = retry
        self.metrics.transient_failures.inc()
        self.metrics.held_messages.set(len(retry))
        if not self._hold_until:
            logger.warning(
                "database unavailable: %d messages kept, retrying every %.1f s up to %.0f s",
                len(retry),
                self._retry_delay,
                RETRY_MAX_S,
            )
        self._hold_until = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_S)

    async def _apply(self, batch: _Batch, *, retried: bool = False) -> _Outcome:
        """Apply ``batch`` in one transaction; on failure split it until the message that fails
        is alone, and dead-letter that one (or keep the batch when the database is down)."""
        try:
            return await self._apply_in_transaction(batch)
        except Exception as err:  # noqa: BLE001 - handled below: split, keep or dead-letter
            failure = err
        self.metrics.batch_failures.inc()
        # Whatever the error says, a database that does not answer means: keep, retry later.
        if not await self._database_healthy():
            return _Outcome(retry=batch, database_down=True)
        if len(batch) > 1:
            logger.warning(
                "batch of %d messages failed (%s); splitting it",
                len(batch),
                database_reason(failure)[:200],
            )
            first, second = batch.halves()
            outcome = await self._apply(first)
            if outcome.database_down:  # the database went down meanwhile
                outcome.merge(_Outcome(retry=second, database_down=True))
            else:
                outcome.merge(await self._apply(second))
            return outcome
        if is_transient(failure):
            # The database answers, yet this one message failed as if it did not (SQLite's
            # "database is locked", a timeout): try again, up to MAX_TRANSIENT_STRIKES times.
            if not retried:
                return await self._apply(batch, retried=True)
            if self._strike(batch) < MAX_TRANSIENT_STRIKES:
                return _Outcome(retry=batch)
        return await self._refuse_for_good(batch, APPLY_FAILED, database_reason(failure))

    def _strike(self, batch: _Batch) -> int:
        """Count one more transient failure of this (single-message) batch; returns the count."""
        key = hashlib.sha256(b"".join(i.received.raw for i in batch.items())).hexdigest()
        if len(self._strikes) >= _MAX_STRIKE_KEYS:
            self._strikes.clear()
        self._strikes[key] = self._strikes.get(key, 0) + 1
        return self._strikes[key]

    async def _database_healthy(self) -> bool:
        try:
            async with asyncio.timeout(HEALTH_PROBE_TIMEOUT_S), self._session_factory() as session:
                connection = await session.connection()
                await connection.execute(text("SELECT 1"))
        except Exception as err:  # noqa: BLE001 - any failure: the database is not usable
            logger.debug("database health probe failed: %s", err)
            return False
        return True

    async def _refuse_for_good(self, batch: _Batch, reason: str, detail: str) -> _Outcome:
        """Messages that can never be stored: dead-letter them (evidence kept) and ack them as
        refused, so no edge re-sends them forever."""
        items: list[_DeadLetterItem] = []
        for item in batch.items():
            if isinstance(item, _DeadLetterItem):
                items.append(item)
                continue
            device_id: str | None
            seq: int | None = None
            if isinstance(item, _EventMessage):
                device_id, seq = item.envelope.device_id, item.envelope.seq
            elif isinstance(item, _HeartbeatMessage):
                device_id = item.heartbeat.device_id
            else:
                device_id = item.device_id
            detail_text = storable(detail, DEAD_LETTER_MAX_DETAIL)
            logger.warning(
                "message on %s refused by the database: %s",
                storable(item.received.topic, 200),
                detail_text[:300],
            )
            items.append(
                _DeadLetterItem(item.received, reason, detail_text, device_id, seq, seq is not None)
            )
        outcome = _Outcome()
        try:
            async with self._session_factory() as session:
                await self._write_dead_letters(session, items, outcome)
                await session.commit()
        except Exception as err:  # noqa: BLE001 - the dead letter itself could not be stored
            self.metrics.batch_failures.inc()
            if not await self._database_healthy():
                return _Outcome(retry=batch, database_down=True)
            self.metrics.internal_errors.inc()
            logger.error(  # noqa: TRY400 - the reason is enough; no traceback of message data
                "could not store %d dead letter(s) (%s); acking them as refused anyway",
                len(items),
                database_reason(err)[:300],
            )
            outcome = _Outcome()
            for item in items:
                if item.ackable and item.device_id is not None and item.seq is not None:
                    outcome.refuse(item.device_id, item.seq, item.reason, item.received.mono)
        return outcome

    async def _record_internal_error(self, batch: _Batch) -> None:
        """Last resort after an unexpected error: keep the evidence, ack as refused."""
        try:
            outcome = await self._refuse_for_good(
                batch, INGEST_ERROR, "unexpected error while applying (see the hub's log)"
            )
            if outcome.retry is not None:
                self._keep_for_retry(outcome.retry)
            self._account(outcome)
        except Exception:  # nothing more can be done; the edge re-sends what is unacked
            logger.exception("could not record an ingest error")

    async def _write_dead_letters(
        self, session: AsyncSession, items: Sequence[_DeadLetterItem], outcome: _Outcome
    ) -> None:
        """Insert dead letters; a repeat of the same (reason, topic, bytes) bumps its count."""
        if not items:
            return
        rows: dict[str, dict[str, Any]] = {}
        for item in items:
            raw = item.received.raw
            digest = hashlib.sha256(raw).hexdigest()
            topic = storable(item.received.topic, DEAD_LETTER_MAX_TOPIC)
            fingerprint = hashlib.sha256(
                f"{item.reason}\x00{topic}\x00{digest}".encode()
            ).hexdigest()
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
        table = DeadLetter.__table__  # type: ignore[attr-defined]
        dialect = session.get_bind().dialect.name
        for start in range(0, len(values), _DEAD_LETTER_CHUNK):
            chunk = values[start : start + _DEAD_LETTER_CHUNK]
            stmt: sqlite.Insert | postgresql.Insert
            if dialect == "postgresql":
                stmt = postgresql.insert(table).values(chunk)
            else:
                stmt = sqlite.insert(table).values(chunk)
            stmt = stmt.on_conflict_do_update(
                index_elements=["fingerprint"],
                set_={
                    "last_seen_at": stmt.excluded.last_seen_at,
                    "times_seen": table.c.times_seen + stmt.excluded.times_seen,
                },
            )
            await session.exec(stmt)

    async def _apply_in_transaction(self, batch: _Batch) -> _Outcome:
        now = utcnow()
        outcome = _Outcome()
        async with self._session_factory() as session:
            fresh = await self._apply_events(session, batch, now, outcome)
            await self._apply_devices(session, batch, fresh, now, outcome)
            await self._write_dead_letters(session, batch.dead, outcome)
            await session.commit()
        return outcome

    async def _apply_events(
        self, session: AsyncSession, batch: _Batch, now: datetime, outcome: _Outcome
    ) -> dict[str, int]:
        """Apply event messages; returns the highest seq seen per device."""
        highest: dict[str, int] = {}
        unique: dict[tuple[str, int], _EventMessage] = {}
        for message in batch.events:
            env = message.envelope
            key = (env.device_id, env.seq)
            outcome.ack(env.device_id, env.seq, message.received.mono)
            highest[env.device_id] = max(highest.get(env.device_id, 0), env.seq)
            if key in unique:
                outcome.duplicates += 1
            else:
                unique[key] = message
        if not unique:
            return highest

        seen: set[tuple[str, int]] = set()
        by_device: dict[str, list[int]] = {}
        for device_id, seq in unique:
            by_device.setdefault(device_id, []).append(seq)
        for device_id, seqs in by_device.items():
            rows = await session.exec(
                select(ReceivedMessage.seq).where(
                    ReceivedMessage.device_id == device_id, col(ReceivedMessage.seq).in_(seqs)
                )
            )
            seen.update((device_id, seq) for seq in rows.all())
        fresh = sorted(
            (m for key, m in unique.items() if key not in seen), key=lambda m: m.envelope.seq
        )
        outcome.duplicates += len(unique) - len(fresh)
        outcome.stored += len(fresh)
        if not fresh:
            return highest

        await upsert(
            session,
            ReceivedMessage,
            [
                {
                    "device_id": m.envelope.device_id,
                    "seq": m.envelope.seq,
                    "event_id": m.envelope.event_id,
                    "received_at": now,
                }
                for m in fresh
            ],
            conflict_columns=["device_id", "seq"],
        )

        event_ids = list({m.envelope.event_id for m in fresh})
        existing = await session.exec(select(Event).where(col(Event.event_id).in_(event_ids)))
        states: dict[uuid.UUID, dict[str, Any]] = {
            row.event_id: {name: getattr(row, name) for name in _EVENT_COLUMNS}
            for row in existing.all()
        }
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
        await upsert(
            session,
            Event,
            changed,
            conflict_columns=["event_id"],
            update_columns=[c for c in _EVENT_COLUMNS if c not in {"event_id", "received_at"}],
        )
        outcome.stored_events.extend(changed)
        return highest

    async def _apply_devices(
        self,
        session: AsyncSession,
        batch: _Batch,
        highest: Mapping[str, int],
        now: datetime,
        outcome: _Outcome,
    ) -> None:
        device_ids = set(highest) | set(batch.statuses) | set(batch.heartbeats)
        if not device_ids:
            return
        existing = await session.exec(select(Device).where(col(Device.device_id).in_(device_ids)))
        rows: dict[str, dict[str, Any]] = {
            d.device_id: {name: getattr(d, name) for name in _DEVICE_COLUMNS}
            for d in existing.all()
        }
        for device_id in sorted(device_ids):
            row = rows.get(device_id) or {
                "device_id": device_id,
                "site": self._site,
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
                row["last_heartbeat"] = heartbeat.model_dump(mode="json", by_alias=True)
                row["gallery_version"] = heartbeat.gallery_version
                row["last_seen"] = now
            rows[device_id] = row
        await upsert(
            session,
            Device,
            [rows[d] for d in sorted(device_ids)],
            conflict_columns=["device_id"],
            update_columns=[c for c in _DEVICE_COLUMNS if c not in {"device_id", "created_at"}],
        )

    # -- after the commit ------------------------------------------------------------------

    async def _send_acks(self, client: aiomqtt.Client) -> None:
        for device_id in list(self._pending_acks):
            seqs = self._pending_acks[device_id]
            if not seqs:
                del self._pending_acks[device_id]
                self._pending_refusals.pop(device_id, None)
                continue
            refusals = self._pending_refusals.get(device_id, {})
            topic = device_topic(self._site, device_id, Channel.ACKS)
            for ack in _ack_messages(device_id, seqs, refusals):
                try:
                    async with asyncio.timeout(ACK_PUBLISH_TIMEOUT_S):
                        await client.publish(topic, ack.to_json_bytes(), qos=1)
                except TimeoutError:
                    # The connection is dead or cannot write: _consume replaces it.
                    self._ack_stalled = True
                    logger.warning("ack to %s not confirmed by the broker; reconnecting", device_id)
                    return
                except aiomqtt.MqttError as err:
                    logger.warning("ack to %s not sent (%s); it will be re-sent", device_id, err)
                    return
            sent_at = time.monotonic()
            for received in seqs.values():
                self.metrics.ack_latency.observe(max(0.0, sent_at - received))
            del self._pending_acks[device_id]
            self._pending_refusals.pop(device_id, None)

    async def _notify_online(self, device_id: str) -> None:
        callback = self._on_device_online
        if callback is None:
            return
        try:
            await callback(device_id)
        except Exception:
            logger.exception("on_device_online callback failed for %s", device_id)

    async def _check_alarm(self, outcome: _Outcome) -> None:
        """Alert when one device produces many dead letters (a broken or hostile edge)."""
        if not outcome.dead:
            return
        per_device: dict[str, int] = {}
        for _reason, device_id in outcome.dead:
            if device_id is not None:
                per_device[device_id] = per_device.get(device_id, 0) + 1
        now = time.monotonic()
        for device_id, count in per_device.items():
            total = self._alarm.record(device_id, count, now)
            if total is None:
                continue
            self.metrics.dead_letter_alerts.inc()
            logger.warning(
                "device %s produced %d dead letters within %.0f s: check GET "
                "/api/v1/dead-letters?device_id=%s",
                device_id,
                total,
                self._alarm.window_s,
                device_id,
            )
            if self._on_dead_letter_alert is not None:
                try:
                    await self._on_dead_letter_alert(device_id, total)
                except Exception:
                    logger.exception("on_dead_letter_alert callback failed for %s", device_id)
        self.metrics.noisy_devices.set(self._alarm.noisy(now))


# Ranges per ack message: keeps one ack far below the contract's MAX_ACK_ITEMS.
_ACK_CHUNK = 5_000


def _ack_messages(
    device_id: str, seqs: Mapping[int, float], refusals: Mapping[int, str]
) -> list[AckMessage]:
    """The acks for ``seqs`` (refused ones named with their reason), in bounded messages."""
    ranges = seqs_to_ranges(list(seqs))
    messages = []
    for start in range(0, len(ranges), _ACK_CHUNK):
        chunk = ranges[start : start + _ACK_CHUNK]
        refused = [
            Refusal(seq=seq, reason=reason)
            for seq, reason in sorted(refusals.items())
            if chunk[0][0] <= seq <= chunk[-1][1] and seq in seqs
        ]
        messages.append(AckMessage(device_id=device_id, ranges=chunk, refused=refused))
    return messages


def _payload_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, bytearray):
        return bytes(payload)
    if payload is None:
        return b""
    return str(payload).encode()


# ---------------------------------------------------------------------------------------------
# Gap report
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class SeqGaps:
    """Missing seqs of one device: inclusive ranges (cut at a maximum) and their total."""

    device_id: str
    gaps: list[tuple[int, int]] = field(default_factory=list)
    missing: int = 0


async def seq_gaps(
    session: AsyncSession,
    device_ids: Sequence[str] | None = None,
    *,
    max_gaps_per_device: int = 100,
) -> dict[str, SeqGaps]:
    """Missing message seqs per device, as inclusive ranges (a leading gap starts at 1).

    Computed from ``received_messages`` with a window function; ``missing`` counts every
    missing seq even when the listed ranges are cut at ``max_gaps_per_device``. Devices without
    gaps are absent from the result.
    """
    rm = ReceivedMessage
    previous = func.lag(col(rm.seq)).over(partition_by=col(rm.device_id), order_by=col(rm.seq))
    inner: Any = select(
        col(rm.device_id).label("device_id"),
        col(rm.seq).label("seq"),
        previous.label("prev"),
    )
    if device_ids is not None:
        inner = inner.where(col(rm.device_id).in_(list(device_ids)))
    sub = inner.subquery()
    prev_or_zero = func.coalesce(sub.c.prev, 0)
    query = (
        select(sub.c.device_id, prev_or_zero + 1, sub.c.seq - 1)
        .where(sub.c.seq - prev_or_zero > 1)
        .order_by(sub.c.device_id, sub.c.seq)
    )
    result = await session.exec(query)
    report: dict[str, SeqGaps] = {}
    for device_id, start, end in result.all():
        entry = report.setdefault(str(device_id), SeqGaps(str(device_id)))
        if len(entry.gaps) < max_gaps_per_device:
            entry.gaps.append((int(start), int(end)))
        entry.missing += int(end) - int(start) + 1
    return report
