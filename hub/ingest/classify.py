"""Classification: one MQTT message -> an event, status or heartbeat for the batch, or a dead
letter naming the reason. Parses each payload once; never raises on any input (issue 14)."""

from __future__ import annotations

import logging
import time

from contracts.errors import ContractError, ContractErrorCode
from contracts.ids import is_valid_id
from contracts.messages import (
    DeviceStatus,
    EventKind,
    parse_event,
    parse_heartbeat,
    peek_seq,
)
from contracts.topics import ROOT, Channel, parse_topic
from hub.edge_versions import EdgeContractWatch
from hub.ingest.errors import storable
from hub.ingest.items import (
    Batch,
    DeadLetterItem,
    EventMessage,
    HeartbeatMessage,
    Received,
    StatusMessage,
    utcnow,
)
from hub.ingest.metrics import IngestMetrics

logger = logging.getLogger(__name__)

DEAD_LETTER_MAX_DETAIL = 2000
INGEST_ERROR = "ingest_error"  # an unexpected error of the ingest itself (a bug)


class Classifier:
    """Reads messages into a :class:`Batch` for one site."""

    def __init__(self, site: str, metrics: IngestMetrics, contracts: EdgeContractWatch) -> None:
        self._site = site
        self.metrics = metrics
        self.contracts = contracts

    def accept(self, batch: Batch, topic: str, payload: bytes) -> None:
        received = Received(topic, payload, utcnow(), time.monotonic())
        try:
            self._classify(batch, received)
        except Exception as err:  # last resort: a bug must not stop the ingest
            self.metrics.internal_errors.inc()
            logger.exception("unexpected error while reading a message on %s", storable(topic, 200))
            device_id = self.event_topic_device(topic)
            seq = peek_seq(payload) if device_id is not None else None
            detail = f"unexpected error while parsing: {type(err).__name__}"
            self._dead(batch, received, INGEST_ERROR, detail, device_id, seq, ackable=True)
        batch.touch()

    def _dead(
        self,
        batch: Batch,
        received: Received,
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
        batch.dead.append(
            DeadLetterItem(
                received=received,
                reason=reason,
                detail=detail,
                device_id=device_id,
                seq=seq,
                ackable=ackable and device_id is not None and seq is not None,
            )
        )

    def _classify(self, batch: Batch, received: Received) -> None:
        topic = received.topic
        try:
            parsed = parse_topic(topic)
        except ContractError as err:
            self.metrics.received.labels(channel="unknown").inc()
            # An unknown kind on an otherwise valid event topic still names the device, so the
            # refused message can be acked like any other refused event.
            device_id = self.event_topic_device(topic)
            seq = peek_seq(received.raw) if device_id is not None else None
            self._dead(batch, received, err.code.value, err.detail, device_id, seq, ackable=True)
            return
        self.metrics.received.labels(channel=parsed.channel.value).inc()
        device = parsed.device
        key = self.device_key(parsed.site, device)
        if key is None:
            detail = f"site {parsed.site!r} is not this hub's site {self._site!r}"
            self._dead(batch, received, ContractErrorCode.BAD_TOPIC.value, detail, device, None)
            return
        if parsed.channel is Channel.EVENTS:
            self._classify_event(batch, received, device, parsed.event_kind, key)
        elif parsed.channel is Channel.STATUS:
            self._classify_status(batch, received, key)
        elif parsed.channel is Channel.HEARTBEAT:
            self._classify_heartbeat(batch, received, device, key)
        else:
            detail = f"the hub does not consume {parsed.channel.value!r} messages"
            self._dead(batch, received, ContractErrorCode.BAD_TOPIC.value, detail, device, None)

    def device_key(self, site: str, device: str) -> str | None:
        """How this hub stores the device of a topic of ``site``: the id itself for its own
        site, None (refused) for any other. The chain hub (hub/chain/) keys devices by site."""
        return device if site == self._site else None

    def event_topic_device(self, topic: str) -> str | None:
        parts = topic.split("/")
        if (
            len(parts) == 5
            and parts[0] == ROOT
            and parts[3] == Channel.EVENTS.value
            and is_valid_id(parts[1])
            and is_valid_id(parts[2])
        ):
            return self.device_key(parts[1], parts[2])
        return None

    def _classify_event(
        self,
        batch: Batch,
        received: Received,
        device: str,
        kind: EventKind | None,
        key: str | None = None,
    ) -> None:
        key = key or device
        try:
            envelope = parse_event(received.raw)
        except ContractError as err:
            seq = peek_seq(received.raw)
            self._dead(batch, received, err.code.value, err.detail, key, seq, ackable=True)
            return
        if envelope.device_id != device or envelope.kind != kind:
            mismatch = []
            if envelope.device_id != device:
                mismatch.append(f"envelope device_id {envelope.device_id!r} != topic {device!r}")
            if envelope.kind != kind:
                topic_kind = kind.value if kind is not None else None
                mismatch.append(f"envelope kind {envelope.kind.value!r} != topic {topic_kind!r}")
            reason = ContractErrorCode.TOPIC_MISMATCH.value
            self._dead(
                batch, received, reason, "; ".join(mismatch), key, envelope.seq, ackable=True
            )
            return
        if key != device:
            envelope = envelope.model_copy(update={"device_id": key})
        batch.events.append(EventMessage(envelope, received))

    def _classify_status(self, batch: Batch, received: Received, device: str) -> None:
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
            self._dead(batch, received, ContractErrorCode.INVALID.value, detail, device, None)
            return
        batch.statuses[device] = StatusMessage(device, status, received)

    def _classify_heartbeat(
        self, batch: Batch, received: Received, device: str, key: str | None = None
    ) -> None:
        key = key or device
        try:
            heartbeat = parse_heartbeat(received.raw)
        except ContractError as err:
            self.contracts.refused(key, received.raw)
            self._dead(batch, received, err.code.value, err.detail, key, None)
            return
        if heartbeat.device_id != device:
            detail = f"heartbeat device_id {heartbeat.device_id!r} != topic {device!r}"
            reason = ContractErrorCode.TOPIC_MISMATCH.value
            self._dead(batch, received, reason, detail, key, None)
            return
        self.contracts.accepted(key)
        if key != device:
            heartbeat = heartbeat.model_copy(update={"device_id": key})
        batch.heartbeats[key] = HeartbeatMessage(heartbeat, received)
