"""Is a camera delivering frames? One ``lost``/``restored`` pair per outage, never a storm.

A camera that reboots, or an NVR that drops its streams, makes the capture loop fail again and
again until it comes back: fifty failed reconnects are still *one* outage, and the hub keeps one
row per ``event_id`` (DESIGN §2). So the machine here turns the capture loop's observations
(a frame at ``t``, a failed read or open at ``t``) into:

- ``lost`` (phase ``new``, a fresh UUIDv7) on the first failure of a camera that was delivering
  frames, or that never opened at all; further failures of the same outage emit nothing. Its
  ``started_at`` is the last frame before the failure, when the video actually stopped (a stall
  is only noticed a read timeout later), or the failure itself for a camera that never delivered;
- ``restored`` (phase ``end``, the *same* ``event_id`` and ``started_at``, ``ended_at`` = when
  frames came back) once frames have flowed again for ``restore_after_s``. A stream that comes
  back for a second and dies again (a flapping camera) stays inside the one outage.

``restored`` carries the outage's reason too: the hub keeps the latest message's payload on the
row, and the row should still say why the camera was lost.

Times come from the observations, never from a clock, so the machine is replayable; a time that
steps back (NTP) is held at the latest one seen, so ``ended_at`` is never before ``started_at``
(the contract rejects that).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from contracts.ids import uuid7
from contracts.messages import CameraPayload, CameraState, Phase
from edge_agent.domain.events import PendingEvent

# CameraPayload.reason holds up to 512 characters.
MAX_REASON_CHARS = 500


class HealthState(StrEnum):
    STARTING = "starting"  # no frame yet, no failure yet
    HEALTHY = "healthy"  # frames flowing
    LOST = "lost"  # an outage is open: its ``lost`` was emitted, its ``restored`` not yet


@dataclass(frozen=True, slots=True)
class Outage:
    """The open outage: what its ``lost`` message said, and how it has gone since."""

    event_id: UUID
    started_at: datetime
    reason: str
    failures: int = 1
    """Failed reads and opens since the outage began (the first one included)."""
    recovering_since: datetime | None = None
    """When the current run of good frames began; None while nothing flows."""


def event_id_at(at: datetime) -> UUID:
    """A UUIDv7 whose time part is ``at`` (the same scheme as face tracks)."""
    return uuid7(max(0, int(at.timestamp() * 1000)))


class CameraHealth:
    """The health of one camera. Not thread-safe: fed by the camera's capture loop alone."""

    def __init__(
        self,
        camera_id: str,
        *,
        restore_after_s: float = 2.0,
        new_event_id: Callable[[datetime], UUID] = event_id_at,
    ) -> None:
        if restore_after_s < 0:
            raise ValueError(f"restore_after_s must be >= 0, got {restore_after_s}")
        self.camera_id = camera_id
        self._restore_after_s = restore_after_s
        self._new_event_id = new_event_id
        self._state = HealthState.STARTING
        self._outage: Outage | None = None
        self._latest: datetime | None = None
        self._last_frame: datetime | None = None

    @property
    def state(self) -> HealthState:
        return self._state

    @property
    def connected(self) -> bool:
        """True while frames flow (after an outage: once the restore is confirmed)."""
        return self._state is HealthState.HEALTHY

    @property
    def outage(self) -> Outage | None:
        """The open outage, or None when there is none."""
        return self._outage

    def frame_ok(self, at: datetime) -> PendingEvent | None:
        """A frame was read at ``at``; returns the ``restored`` message when this ends an outage."""
        at = self._last_frame = self._monotone(at)
        outage = self._outage
        if outage is None:
            self._state = HealthState.HEALTHY
            return None
        recovering_since = outage.recovering_since
        if recovering_since is None:
            recovering_since = at
            outage = self._outage = replace(outage, recovering_since=at)
        if (at - recovering_since).total_seconds() < self._restore_after_s:
            return None
        self._state = HealthState.HEALTHY
        self._outage = None
        return PendingEvent(
            event_id=outage.event_id,
            phase=Phase.END,
            camera_id=self.camera_id,
            started_at=outage.started_at,
            ended_at=recovering_since,
            payload=CameraPayload(state=CameraState.RESTORED, reason=outage.reason),
        )

    def read_failed(self, at: datetime, reason: str) -> PendingEvent | None:
        """Reading an open stream failed (error, end of stream, timeout with no frame)."""
        return self._failed(at, reason)

    def open_failed(self, at: datetime, reason: str) -> PendingEvent | None:
        """Opening the stream failed (refused, unreachable, unauthorised, timed out)."""
        return self._failed(at, reason)

    def _failed(self, at: datetime, reason: str) -> PendingEvent | None:
        at = self._monotone(at)
        outage = self._outage
        if outage is not None:
            self._outage = replace(outage, failures=outage.failures + 1, recovering_since=None)
            return None
        reason = reason[:MAX_REASON_CHARS]
        started_at = self._last_frame or at
        outage = self._outage = Outage(self._new_event_id(started_at), started_at, reason)
        self._state = HealthState.LOST
        return PendingEvent(
            event_id=outage.event_id,
            phase=Phase.NEW,
            camera_id=self.camera_id,
            started_at=started_at,
            payload=CameraPayload(state=CameraState.LOST, reason=reason),
        )

    def _monotone(self, at: datetime) -> datetime:
        if at.tzinfo is None:
            raise ValueError("observation times must be timezone-aware")
        if self._latest is not None and at < self._latest:
            return self._latest
        self._latest = at
        return at
