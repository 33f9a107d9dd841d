"""Frame timestamps from a live stream's own clock.

A stream carries presentation timestamps (PTS) spaced by the camera's encoder; the moment our
decoder gets a frame adds network and buffering jitter. So the first frame anchors the stream's
PTS to the wall clock, and later frames are stamped ``anchor + pts``: the camera's spacing, in
wall-clock time. When the PTS is missing, goes backwards, or drifts from the wall clock by more
than ``max_drift_s`` (a camera restart, a PTS wrap, a clock that runs fast), the clock re-anchors
to the wall clock. A timestamp never goes backwards.
"""

from __future__ import annotations

from datetime import datetime, timedelta

_EPSILON = timedelta(microseconds=1)


class StreamClock:
    def __init__(self, max_drift_s: float = 2.0) -> None:
        if max_drift_s <= 0:
            raise ValueError("max_drift_s must be > 0")
        self._max_drift = timedelta(seconds=max_drift_s)
        self._anchor: datetime | None = None
        self._last_pts_ms: float | None = None
        self._last: datetime | None = None
        self.reanchors = 0

    def stamp(self, pts_ms: float | None, wall: datetime) -> datetime:
        """The timestamp of a frame with presentation time ``pts_ms`` decoded at ``wall``."""
        usable = (
            pts_ms is not None
            and pts_ms >= 0
            and (self._last_pts_ms is None or pts_ms > self._last_pts_ms)
        )
        if usable and pts_ms is not None:
            if self._anchor is None:
                self._anchor = wall - timedelta(milliseconds=pts_ms)
            candidate = self._anchor + timedelta(milliseconds=pts_ms)
            if abs(candidate - wall) > self._max_drift:
                self._anchor = wall - timedelta(milliseconds=pts_ms)
                candidate = wall
                self.reanchors += 1
            self._last_pts_ms = pts_ms
        else:
            # no usable PTS: the wall clock, and a fresh anchor for the next usable one
            if self._anchor is not None:
                self.reanchors += 1
            self._anchor = None
            self._last_pts_ms = None
            candidate = wall
        if self._last is not None and candidate <= self._last:
            candidate = self._last + _EPSILON
        self._last = candidate
        return candidate
