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
``acks`` topic. Event messages refused for a contract reason (bad JSON, schema, kind, size,
topic mismatch, invalid) are acked too once their dead letter is committed and their seq can be
read: they can never succeed, and an unacked one would be re-sent forever. Messages that fail
only when applied to the database (``apply_failed``) are not acked, so the edge re-sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiomqtt
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import ValidationError
from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.errors import ContractError, ContractErrorCode
from contracts.ids import is_valid_id
from contracts.messages import (
    MAX_EVENT_BYTES,
    AckMessage,
    DeviceStatus,
    EventEnvelope,
    EventKind,
    Heartbeat,
    Phase,
    parse_event,
    seqs_to_ranges,
)
from contracts.topics import ROOT, Channel, device_topic, parse_topic, site_subscription
from hub.db import SessionFactory, upsert
from hub.settings import HubSettings
from hub.storage import ObjectStore, StorageError
from hub.tables import DeadLetter, Device, Event, ReceivedMessage

logger = logging.getLogger(__name__)

DEAD_LETTER_MAX_BYTES = 64 * 1024
# Dead-letter reasons beyond ContractErrorCode.
APPLY_FAILED = "apply_failed"
INGEST_ERROR = "ingest_error"
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

OnDeviceOnline = Callable[[str], Awaitable[None]]
# Called after a batch's commit with the ``events`` rows (column dicts) it changed (hub/flows).
OnEventsStored = Callable[[list[dict[str, Any]]], Awaitable[None]]


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
                "Messages refused into the dead-letter table, by reason.",
                ["reason"],
                registry=registry,
            ),
            batch_failures=Counter(
                "innsight_ingest_batch_failures",
                "Batches whose transaction failed (messages retried one by one or left unacked).",
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
class _EventMessage:
    envelope: EventEnvelope
    received_mono: float


@dataclass(slots=True)
class _DeadLetterItem:
    topic: str
    payload: bytes
    reason: str
    detail: str
    device_id: str | None
    seq: int | None
    received_at: datetime
    received_mono: float
    ackable: bool

    def row(self) -> DeadLetter:
        return DeadLetter(
            topic=self.topic[:1024],
            payload=self.payload[:DEAD_LETTER_MAX_BYTES],
            payload_size=len(self.payload),
            truncated=len(self.payload) > DEAD_LETTER_MAX_BYTES,
            reason=self.reason,
            detail=self.detail[:2000],
            device_id=self.device_id,
            seq=self.seq,
            received_at=self.received_at,
        )


@dataclass(slots=True)
class _Batch:
    events: list[_EventMessage] = field(default_factory=list)
    dead: list[_DeadLetterItem] = field(default_factory=list)
    statuses: dict[str, DeviceStatus] = field(default_factory=dict)
    heartbeats: dict[str, Heartbeat] = field(default_factory=dict)
    opened_at: float | None = None

    def touch(self) -> None:
        if self.opened_at is None:
            self.opened_at = time.monotonic()

    def __len__(self) -> int:
        return len(self.events) + len(self.dead) + len(self.statuses) + len(self.heartbeats)


@dataclass(slots=True)
class _Outcome:
    acks: dict[str, dict[int, float]] = field(default_factory=dict)
    online: list[str] = field(default_factory=list)
    stored: int = 0
    duplicates: int = 0
    dead_reasons: list[str] = field(default_factory=list)
    stored_events: list[dict[str, Any]] = field(default_factory=list)

    def ack(self, device_id: str, seq: int, received_mono: float) -> None:
        seqs = self.acks.setdefault(device_id, {})
        seqs[seq] = min(seqs.get(seq, received_mono), received_mono)


# ---------------------------------------------------------------------------------------------
# Pure merge of one message into an event row
# ---------------------------------------------------------------------------------------------


def snapshot_key(device_id: str, event_id: uuid.UUID) -> str:
    return f"snapshots/{device_id}/{event_id}.jpg"


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
    if is_best:
        row["score"] = score
        row["payload"] = payload.model_dump(mode="json")
        liveness = getattr(payload, "liveness", None)
        row["liveness"] = liveness.value if liveness is not None else None
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


def _peek_seq(raw: bytes) -> int | None:
    """The ``seq`` of a refused event message when it can be read, to ack it."""
    if len(raw) > 4 * MAX_EVENT_BYTES:
        return None
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if isinstance(data, dict):
        seq = data.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq < 2**63:
            return seq
    return None


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
    ) -> None:
        self._settings = settings
        self._site = settings.site
        self._session_factory = session_factory
        self._store = store
        self._on_device_online = on_device_online
        self.metrics = IngestMetrics.register(registry or CollectorRegistry())
        self._batch = _Batch()
        self._pending_acks: dict[str, dict[int, float]] = {}
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
                    None if opened is None else max(0.0, opened + max_delay - time.monotonic())
                )
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
                    if len(self._batch.events) >= self._settings.ingest_batch_size:
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
                if len(self._batch.events) >= self._settings.ingest_batch_size:
                    await self._flush(client)
            await self._flush(client)
        finally:
            for future in (next_message, stop_wait):
                if future is not None and not future.done():
                    future.cancel()
                    with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                        await future

    # -- classification (never raises on input) --------------------------------------------

    def _accept(self, topic: str, payload: bytes) -> None:
        try:
            self._classify(topic, payload)
        except Exception:
            logger.exception("unexpected error while reading a message on %s", topic)
            self._dead(topic, payload, INGEST_ERROR, "unexpected error while parsing", None, None)
        self._batch.touch()

    def _dead(
        self,
        topic: str,
        payload: bytes,
        reason: str,
        detail: str,
        device_id: str | None,
        seq: int | None,
        *,
        ackable: bool = False,
    ) -> None:
        logger.warning("dead letter on %s: %s (%s)", topic, reason, detail)
        self._batch.dead.append(
            _DeadLetterItem(
                topic=topic,
                payload=payload,
                reason=reason,
                detail=detail,
                device_id=device_id,
                seq=seq,
                received_at=utcnow(),
                received_mono=time.monotonic(),
                ackable=ackable and device_id is not None and seq is not None,
            )
        )

    def _classify(self, topic: str, payload: bytes) -> None:
        try:
            parsed = parse_topic(topic)
        except ContractError as err:
            self.metrics.received.labels(channel="unknown").inc()
            # An unknown kind on an otherwise valid event topic still names the device, so the
            # refused message can be acked like any other refused event.
            device_id = self._event_topic_device(topic)
            seq = _peek_seq(payload) if device_id is not None else None
            self._dead(topic, payload, err.code.value, err.detail, device_id, seq, ackable=True)
            return
        self.metrics.received.labels(channel=parsed.channel.value).inc()
        device = parsed.device
        if parsed.site != self._site:
            detail = f"site {parsed.site!r} is not this hub's site {self._site!r}"
            self._dead(topic, payload, ContractErrorCode.BAD_TOPIC.value, detail, device, None)
            return
        if parsed.channel is Channel.EVENTS:
            self._classify_event(topic, payload, device, parsed.event_kind)
        elif parsed.channel is Channel.STATUS:
            self._classify_status(topic, payload, device)
        elif parsed.channel is Channel.HEARTBEAT:
            self._classify_heartbeat(topic, payload, device)
        else:
            detail = f"the hub does not consume {parsed.channel.value!r} messages"
            self._dead(topic, payload, ContractErrorCode.BAD_TOPIC.value, detail, device, None)

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

    def _classify_event(
        self, topic: str, payload: bytes, device: str, kind: EventKind | None
    ) -> None:
        try:
            envelope = parse_event(payload)
        except ContractError as err:
            seq = _peek_seq(payload)
            self._dead(topic, payload, err.code.value, err.detail, device, seq, ackable=True)
            return
        mismatch = []
        if envelope.device_id != device:
            mismatch.append(f"envelope device_id {envelope.device_id!r} != topic {device!r}")
        if envelope.kind != kind:
            topic_kind = kind.value if kind is not None else None
            mismatch.append(f"envelope kind {envelope.kind.value!r} != topic {topic_kind!r}")
        if mismatch:
            reason = ContractErrorCode.TOPIC_MISMATCH.value
            detail = "; ".join(mismatch)
            self._dead(topic, payload, reason, detail, device, envelope.seq, ackable=True)
            return
        self._batch.events.append(_EventMessage(envelope, time.monotonic()))

    def _classify_status(self, topic: str, payload: bytes, device: str) -> None:
        if not payload:
            return  # a cleared retained status
        try:
            status = DeviceStatus(payload.decode().strip())
        except (UnicodeDecodeError, ValueError):
            allowed = ", ".join(s.value for s in DeviceStatus)
            detail = f"status must be one of {allowed}; got {payload[:40]!r}"
            self._dead(topic, payload, ContractErrorCode.INVALID.value, detail, device, None)
            return
        self._batch.statuses[device] = status

    def _classify_heartbeat(self, topic: str, payload: bytes, device: str) -> None:
        if len(payload) > MAX_EVENT_BYTES:
            detail = f"{len(payload)} bytes > limit {MAX_EVENT_BYTES}"
            self._dead(topic, payload, ContractErrorCode.OVERSIZE.value, detail, device, None)
            return
        try:
            json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            self._dead(topic, payload, ContractErrorCode.BAD_JSON.value, str(err), device, None)
            return
        try:
            heartbeat = Heartbeat.model_validate_json(payload)
        except ValidationError as err:
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
                for e in err.errors()[:5]
            )
            self._dead(topic, payload, ContractErrorCode.INVALID.value, detail, device, None)
            return
        if heartbeat.device_id != device:
            detail = f"heartbeat device_id {heartbeat.device_id!r} != topic {device!r}"
            reason = ContractErrorCode.TOPIC_MISMATCH.value
            self._dead(topic, payload, reason, detail, device, None)
            return
        self._batch.heartbeats[device] = heartbeat

    # -- applying a batch ----------------------------------------------------------------

    async def _flush(self, client: aiomqtt.Client | None) -> None:
        batch, self._batch = self._batch, _Batch()
        if len(batch) == 0:
            return
        outcome = await self._apply(batch)
        self.metrics.stored.inc(outcome.stored)
        self.metrics.duplicates.inc(outcome.duplicates)
        for reason in outcome.dead_reasons:
            self.metrics.dead_letters.labels(reason=reason).inc()
        for device_id, seqs in outcome.acks.items():
            pending = self._pending_acks.setdefault(device_id, {})
            for seq, received in seqs.items():
                pending[seq] = min(pending.get(seq, received), received)
        if client is not None:
            await self._send_acks(client)
        for device_id in outcome.online:
            await self._notify_online(device_id)
        if outcome.stored_events and self._on_events_stored is not None:
            try:
                await self._on_events_stored(outcome.stored_events)
            except Exception:
                logger.exception("on_events_stored callback failed")

    async def _apply(self, batch: _Batch) -> _Outcome:
        try:
            return await self._apply_in_transaction(batch)
        except (SQLAlchemyError, StorageError, OSError, ValueError) as err:
            self.metrics.batch_failures.inc()
            if len(batch) <= 1:
                logger.exception("applying one message failed")
                return await self._dead_letter_failed(batch, err)
            logger.warning(
                "batch of %d messages failed (%s); applying them one by one", len(batch), err
            )
        outcome = _Outcome()
        for single in _split(batch):
            part = await self._apply(single)
            for device_id, seqs in part.acks.items():
                for seq, received in seqs.items():
                    outcome.ack(device_id, seq, received)
            outcome.online.extend(part.online)
            outcome.stored += part.stored
            outcome.duplicates += part.duplicates
            outcome.dead_reasons.extend(part.dead_reasons)
            outcome.stored_events.extend(part.stored_events)
        return outcome

    async def _dead_letter_failed(self, batch: _Batch, err: Exception) -> _Outcome:
        """A single message the database refused: keep its bytes, do not ack it."""
        outcome = _Outcome()
        items: list[DeadLetter] = []
        for message in batch.events:
            env = message.envelope
            items.append(
                DeadLetter(
                    topic=f"innsight/{self._site}/{env.device_id}/events/{env.kind.value}",
                    payload=env.to_json_bytes()[:DEAD_LETTER_MAX_BYTES],
                    payload_size=len(env.to_json_bytes()),
                    truncated=False,
                    reason=APPLY_FAILED,
                    detail=f"{type(err).__name__}: {err}"[:2000],
                    device_id=env.device_id,
                    seq=env.seq,
                    received_at=utcnow(),
                )
            )
        items.extend(item.row() for item in batch.dead)
        if not items:
            return outcome
        try:
            async with self._session_factory() as session:
                session.add_all(items)
                await session.commit()
        except (SQLAlchemyError, StorageError, OSError):
            logger.exception("could not store a dead letter either; the edge will re-send")
            return outcome
        outcome.dead_reasons.extend(item.reason for item in items)
        return outcome

    async def _apply_in_transaction(self, batch: _Batch) -> _Outcome:
        now = utcnow()
        outcome = _Outcome()
        async with self._session_factory() as session:
            fresh = await self._apply_events(session, batch, now, outcome)
            await self._apply_devices(session, batch, fresh, now, outcome)
            for item in batch.dead:
                session.add(item.row())
                outcome.dead_reasons.append(item.reason)
                if item.ackable and item.device_id is not None and item.seq is not None:
                    outcome.ack(item.device_id, item.seq, item.received_mono)
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
            outcome.ack(env.device_id, env.seq, message.received_mono)
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
            status = batch.statuses.get(device_id)
            if status is not None:
                row["status"] = status.value
                row["status_at"] = now
                if status is DeviceStatus.ONLINE:
                    row["last_seen"] = now
                    outcome.online.append(device_id)
            heartbeat = batch.heartbeats.get(device_id)
            if heartbeat is not None:
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
                continue
            ack = AckMessage(device_id=device_id, ranges=seqs_to_ranges(list(seqs)))
            topic = device_topic(self._site, device_id, Channel.ACKS)
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

    async def _notify_online(self, device_id: str) -> None:
        callback = self._on_device_online
        if callback is None:
            return
        try:
            await callback(device_id)
        except Exception:
            logger.exception("on_device_online callback failed for %s", device_id)


def _split(batch: _Batch) -> Iterable[_Batch]:
    for message in batch.events:
        yield _Batch(events=[message])
    for item in batch.dead:
        yield _Batch(dead=[item])
    for device_id, status in batch.statuses.items():
        yield _Batch(statuses={device_id: status})
    for device_id, heartbeat in batch.heartbeats.items():
        yield _Batch(heartbeats={device_id: heartbeat})


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
