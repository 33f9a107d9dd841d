"""What the ingest holds between reading and committing: classified messages, the batch they
form, and the outcome of applying one (acks, refusals, what to retry)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contracts.messages import DeviceStatus, EventEnvelope, Heartbeat


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Received:
    """The evidence of one message: where and when it came, and its exact bytes."""

    topic: str
    raw: bytes
    at: datetime
    mono: float


@dataclass(slots=True)
class EventMessage:
    envelope: EventEnvelope
    received: Received


@dataclass(slots=True)
class StatusMessage:
    device_id: str
    status: DeviceStatus
    received: Received


@dataclass(slots=True)
class HeartbeatMessage:
    heartbeat: Heartbeat
    received: Received


@dataclass(slots=True)
class DeadLetterItem:
    received: Received
    reason: str
    detail: str
    device_id: str | None
    seq: int | None
    ackable: bool


Item = EventMessage | DeadLetterItem | StatusMessage | HeartbeatMessage


@dataclass(slots=True)
class Batch:
    events: list[EventMessage] = field(default_factory=list)
    dead: list[DeadLetterItem] = field(default_factory=list)
    statuses: dict[str, StatusMessage] = field(default_factory=dict)
    heartbeats: dict[str, HeartbeatMessage] = field(default_factory=dict)
    opened_at: float | None = None

    def touch(self) -> None:
        if self.opened_at is None:
            self.opened_at = time.monotonic()

    def __len__(self) -> int:
        return len(self.events) + len(self.dead) + len(self.statuses) + len(self.heartbeats)

    def items(self) -> list[Item]:
        items: list[Item] = [*self.events, *self.dead]
        items.extend(self.statuses.values())
        items.extend(self.heartbeats.values())
        return items

    @classmethod
    def of(cls, items: Iterable[Item]) -> Batch:
        batch = cls()
        for item in items:
            batch.add(item)
        return batch

    def add(self, item: Item) -> None:
        if isinstance(item, EventMessage):
            self.events.append(item)
        elif isinstance(item, DeadLetterItem):
            self.dead.append(item)
        elif isinstance(item, StatusMessage):
            self.statuses[item.device_id] = item
        else:
            self.heartbeats[item.heartbeat.device_id] = item

    def halves(self) -> tuple[Batch, Batch]:
        items = self.items()
        middle = len(items) // 2
        return Batch.of(items[:middle]), Batch.of(items[middle:])

    def merge_newer(self, newer: Batch) -> None:
        """Append ``newer`` (messages read after this batch was taken) to this kept batch."""
        self.events.extend(newer.events)
        self.dead.extend(newer.dead)
        self.statuses.update(newer.statuses)
        self.heartbeats.update(newer.heartbeats)
        if self.opened_at is None:
            self.opened_at = newer.opened_at


@dataclass(slots=True)
class Outcome:
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
    retry: Batch | None = None
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

    def merge(self, other: Outcome) -> None:
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
