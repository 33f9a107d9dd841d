"""The roles the edge core depends on (DESIGN §3); adapters implement them, tests fake them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from contracts.messages import EventEnvelope, GallerySnapshot
from edge_agent.domain.events import PendingEvent
from models.faces import Embedding, Image


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame. ``timestamp`` comes from the stream where it has one."""

    camera_id: str
    index: int
    timestamp: datetime
    image: Image


class FrameSource(Protocol):
    """Frames of one camera. Iteration ends when a file ends or the source is closed."""

    @property
    def camera_id(self) -> str: ...

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class GalleryMatch:
    person_id: str
    similarity: float


class FaceIndex(Protocol):
    """The local gallery: nearest person for an embedding."""

    @property
    def model_id(self) -> str | None: ...

    @property
    def version(self) -> int | None: ...

    def __len__(self) -> int: ...

    def search(self, embedding: Embedding, k: int = 1) -> list[GalleryMatch]: ...

    def replace(self, snapshot: GallerySnapshot) -> None:
        """Swap in a new gallery atomically (readers see the old or the new one, never half)."""
        ...


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    topic: str
    payload: bytes
    attempts: int


class Outbox(Protocol):
    """Durable queue of event messages; a row leaves only when the hub acks its seq."""

    def enqueue(self, event: PendingEvent) -> EventEnvelope:
        """Assign the next seq, persist the message (fsync'd by SQLite), return it."""
        ...

    def due(self, now: float, resend_after_s: float, limit: int) -> list[OutboxRow]:
        """Rows never sent, or sent more than ``resend_after_s`` ago, in seq order."""
        ...

    def mark_sent(self, seqs: list[int], now: float) -> None: ...

    def ack(self, seqs: list[int]) -> int:
        """Release acked rows; returns how many were released."""
        ...

    def depth(self) -> int: ...

    def oldest_age_s(self, now: float) -> float | None: ...


MessageHandler = Callable[[str, bytes], None]


class Publisher(Protocol):
    """The MQTT side of the edge. All network work happens on the transport's own thread."""

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Queue a message for sending; never blocks on the network."""
        ...

    def subscribe(self, topic: str, handler: MessageHandler) -> None:
        """Subscribe (again on every reconnect); ``handler`` runs on the transport thread."""
        ...

    @property
    def connected(self) -> bool: ...


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...
