"""Keep a camera stream alive: reopen it after every failure, for as long as the edge runs.

A camera that reboots (firmware update, PoE switch restart, power cut) must not stop the edge.
:class:`ReconnectingFrameSource` wraps a source that raises :class:`CaptureError` when it cannot
open or read (``OpenCvFrameSource``) and, for a stream, turns each failure into a wait with
exponential backoff and full jitter followed by a reopen, forever. The waits end early when the
agent stops. A file is not retried: its end ends the iteration as before, and a file that cannot
be opened raises as before.

What the hub hears comes from :class:`~edge_agent.domain.camera_health.CameraHealth`: one
``lost`` per outage and one ``restored`` with the same ``event_id``, handed to ``on_event`` on
the thread that iterates (the capture loop). What the log says follows the same rhythm: one
warning when an outage begins, debug lines for the retries, one info line when it ends.

A stalled stream (the socket stays open, no data comes) is a failure too; the inner source
detects it: OpenCV's FFmpeg backend aborts a read after ``read_timeout_s`` with no data.

Frames: indexes go on rising across reopens (the inner source restarts at 0 on each open), and
timestamps never go back (a stream is stamped with the wall clock, which NTP may step back
between two connections): a frame that would be older than the previous one is stamped a
microsecond after it.

Credentials: only ``CaptureError`` messages reach the log and the events, and those carry the
redacted URL (``redact_url``); a traceback is never logged, since a chained native error may
hold the URL as it was given.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from edge_agent.capture.errors import CaptureError
from edge_agent.domain.backoff import Backoff
from edge_agent.domain.camera_health import CameraHealth, HealthState
from edge_agent.domain.events import PendingEvent
from edge_agent.ports import Frame, FrameSource

logger = logging.getLogger(__name__)

_TICK = timedelta(microseconds=1)
# How often a backoff wait looks at close() (the stop event wakes it at once).
_CLOSE_POLL_S = 0.1


class ReopenableSource(FrameSource, Protocol):
    """A :class:`FrameSource` whose :meth:`frames` may be called again after a failure."""

    @property
    def is_stream(self) -> bool:
        """True when a failure is worth a reconnect (a network stream, not a file)."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ReconnectingFrameSource:
    """A :class:`FrameSource` over ``inner`` that survives stream failures.

    Iteration ends when a file ends, when ``stop`` is set or after :meth:`close`; for a stream,
    never because of a failure. ``on_event`` receives the ``camera`` lost/restored messages.
    ``sleep`` replaces the interruptible backoff wait (tests); ``clock`` stamps failures.
    """

    def __init__(
        self,
        inner: ReopenableSource,
        *,
        on_event: Callable[[PendingEvent], None],
        min_backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        restore_after_s: float = 2.0,
        stop: threading.Event | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], datetime] = _utc_now,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._inner = inner
        self._on_event = on_event
        self._backoff = Backoff(min_backoff_s, max_backoff_s, rand=rand)
        self._health = CameraHealth(inner.camera_id, restore_after_s=restore_after_s)
        self._stop = stop if stop is not None else threading.Event()
        self._closed = threading.Event()
        self._sleep = sleep
        self._clock = clock
        self._last_stamp: datetime | None = None
        self._next_index = 0
        self.opens = 0
        """Times the inner source was opened successfully."""
        self.failures = 0
        """Failed opens and reads since the start."""

    @property
    def camera_id(self) -> str:
        return self._inner.camera_id

    @property
    def connected(self) -> bool:
        """True while frames flow; False before the first frame and during an outage."""
        return self._health.connected

    @property
    def state(self) -> HealthState:
        return self._health.state

    def frames(self) -> Iterator[Frame]:
        """Frames of every connection, one after the other, until a file ends or a stop."""
        return self._run()

    def close(self) -> None:
        """End the iteration (also from another thread) and release the inner source."""
        self._closed.set()
        self._inner.close()

    def _stopping(self) -> bool:
        return self._stop.is_set() or self._closed.is_set()

    def _run(self) -> Iterator[Frame]:
        retry = self._inner.is_stream
        while not self._stopping():
            try:
                frames = self._inner.frames()
            except CaptureError as err:
                self._failed(err, opening=True)
                if not retry:
                    raise
                if not self._pause():
                    return
                continue
            self.opens += 1
            index_base = self._next_index
            try:
                for frame in frames:
                    restamped = self._restamp(frame, index_base)
                    self._frame_ok(restamped)
                    yield restamped
                    if self._stopping():
                        return
            except CaptureError as err:
                self._failed(err, opening=False)
                if not retry:
                    raise
            else:
                if not retry or self._stopping():
                    return
                self._failed(CaptureError(f"camera {self.camera_id}: stream ended"), opening=False)
            if not self._pause():
                return

    def _restamp(self, frame: Frame, index_base: int) -> Frame:
        index = index_base + frame.index
        stamp = frame.timestamp
        if self._last_stamp is not None and stamp <= self._last_stamp:
            stamp = self._last_stamp + _TICK
        self._last_stamp = stamp
        self._next_index = index + 1
        if index == frame.index and stamp == frame.timestamp:
            return frame
        return replace(frame, index=index, timestamp=stamp)

    def _frame_ok(self, frame: Frame) -> None:
        outage = self._health.outage
        event = self._health.frame_ok(frame.timestamp)
        if self._health.connected:
            self._backoff.reset()
        if event is None or outage is None:
            return
        ended_at = event.ended_at or frame.timestamp
        logger.info(
            "camera %s restored after a %.1f s outage (%d failed attempt(s))",
            self.camera_id,
            (ended_at - outage.started_at).total_seconds(),
            outage.failures,
        )
        self._on_event(event)

    def _failed(self, err: CaptureError, *, opening: bool) -> None:
        self.failures += 1
        reason = str(err)  # CaptureError messages carry the redacted URL only
        now = self._clock()
        if opening:
            event = self._health.open_failed(now, reason)
        else:
            event = self._health.read_failed(now, reason)
        if event is None:
            outage = self._health.outage
            logger.debug(
                "camera %s: still lost after %d failed attempt(s): %s",
                self.camera_id,
                outage.failures if outage else 0,
                reason,
            )
            return
        if self._inner.is_stream:
            logger.warning(
                "camera %s lost: %s; reconnecting with backoff up to %.3g s",
                self.camera_id,
                reason,
                self._backoff.max_s,
            )
        else:
            logger.warning("camera %s lost: %s", self.camera_id, reason)
        self._on_event(event)

    def _pause(self) -> bool:
        """Wait for the next attempt; False when the source stopped meanwhile."""
        delay = self._backoff.next_delay()
        logger.debug("camera %s: reconnecting in %.2f s", self.camera_id, delay)
        if self._sleep is not None:
            self._sleep(delay)
            return not self._stopping()
        deadline = time.monotonic() + delay
        while not self._stopping():
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            self._stop.wait(min(left, _CLOSE_POLL_S))
        return False
