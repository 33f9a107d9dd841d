"""What the pipeline emits: an event message before the outbox gives it a device seq."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from contracts.messages import (
    AnomalyPayload,
    CameraPayload,
    EventEnvelope,
    EventKind,
    FacePayload,
    Phase,
    Snapshot,
)

EventPayload = FacePayload | AnomalyPayload | CameraPayload


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """One message of one appearance, ready for the outbox (which assigns ``seq``)."""

    event_id: UUID
    phase: Phase
    camera_id: str
    started_at: datetime
    payload: EventPayload
    ended_at: datetime | None = None
    snapshot_jpeg_b64: str | None = None

    @property
    def kind(self) -> EventKind:
        return EventKind(self.payload.kind)

    def to_envelope(self, device_id: str, seq: int) -> EventEnvelope:
        snapshot = None
        if self.snapshot_jpeg_b64 is not None:
            snapshot = Snapshot(jpeg_b64=self.snapshot_jpeg_b64)
        return EventEnvelope(
            device_id=device_id,
            seq=seq,
            event_id=self.event_id,
            phase=self.phase,
            camera_id=self.camera_id,
            kind=self.kind,
            started_at=self.started_at,
            ended_at=self.ended_at,
            payload=self.payload,
            snapshot=snapshot,
        )
