"""Hazard detections of single frames -> alarms with a life cycle (new/update/end, one event id).

A detector looks at one frame and is wrong often enough that an alarm per box would be useless:
a lamp, a sunset or a red shirt is "fire" for a frame. This module turns per-frame detections
into the events a hotel acts on, the same way :mod:`edge_agent.domain.tracking` turns faces into
appearances:

1. **Signals.** Each frame's detections over the per-kind score thresholds become signals, keyed
   per camera by ``(type, zone)``:

   - ``fire``, ``smoke``, ``fall``: one key per camera (zone ``None``); the payload names the
     zone the best box lies in, if any;
   - ``intrusion``: a ``person`` (or ``fall``: a person lying down is still in the room) whose
     foot point (bottom centre of the box) is inside a zone polygon while that zone's restricted
     hours are on, in the site's time zone; one key per zone;
   - ``water``: a water box keyed by the zone its centre lies in.

2. **N of M.** A key raises an alarm only when it had a signal in at least ``min_hits`` of the last
   ``window`` processed frames. A flame seen in one frame of a stream never raises anything.

3. **Life cycle.** The alarm's ``new`` message carries an ``event_id`` (UUIDv7 stamped with the
   first frame of the window that raised it) that its ``update`` and ``end`` messages keep;
   ``update`` goes out when the best score rises by ``min_score_gain``, at most once per
   ``update_every`` frames; ``end`` after ``clear_after`` processed frames without a signal
   (``ended_at``: the last frame with one), or on :meth:`HazardTracker.flush`.

Frames are the ones the detector ran on (the edge runs hazards on a stride), so the window counts
processed frames, not camera frames. Times come from the frames, never from a clock. Pure: numpy
and contracts only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, tzinfo
from uuid import UUID

from contracts.ids import uuid7
from contracts.messages import AnomalyPayload, AnomalyType, BBox, Phase
from edge_agent.domain.events import PendingEvent
from edge_agent.domain.geometry import BoxLike, clip_box
from models.anomaly import HazardDetection, HazardKind

Point = tuple[float, float]


# ---------------------------------------------------------------------------------------------
# Zones and schedules
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Restricted hours: from ``start`` to ``end`` local time on ``days`` (0 = Monday).

    ``end <= start`` wraps past midnight; the hours after midnight belong to the day the window
    started on (a Friday 22:00-06:00 window covers Saturday 03:00). ``start == end``: all day.
    """

    start: time
    end: time
    days: frozenset[int] = frozenset(range(7))

    def __post_init__(self) -> None:
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError(f"days must be a non-empty subset of 0..6, got {sorted(self.days)}")

    def contains(self, local: datetime) -> bool:
        """Whether the local wall-clock time ``local`` is inside the window."""
        now = local.time().replace(tzinfo=None)
        weekday = local.weekday()
        if self.start == self.end:
            return weekday in self.days
        if self.start < self.end:
            return weekday in self.days and self.start <= now < self.end
        if now >= self.start:
            return weekday in self.days
        return now < self.end and (weekday - 1) % 7 in self.days


def point_in_polygon(point: Point, polygon: Sequence[Point]) -> bool:
    """Even-odd ray casting; a point on an edge counts as inside for horizontal/vertical edges
    of axis-aligned zones drawn on a pixel grid (the usual case), else either way."""
    x, y = point
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < cross:
                inside = not inside
        elif y1 == y2 == y and min(x1, x2) <= x <= max(x1, x2):
            return True
    return inside


@dataclass(frozen=True, slots=True)
class Zone:
    """A polygon on one camera's image, in fractions of its width and height (0..1), so it
    survives a change of stream resolution.

    ``restricted``: when a person inside the zone is an intrusion (no windows: never).
    ``water``: a floor area watched for water.
    """

    id: str
    camera_id: str
    polygon: tuple[Point, ...]
    restricted: tuple[TimeWindow, ...] = ()
    water: bool = False

    def __post_init__(self) -> None:
        if len(self.polygon) < 3:
            raise ValueError(f"zone {self.id}: a polygon needs at least 3 points")
        for px, py in self.polygon:
            if not (0.0 <= px <= 1.0 and 0.0 <= py <= 1.0):
                raise ValueError(f"zone {self.id}: point ({px}, {py}) is outside 0..1")

    def pixel_polygon(self, width: int, height: int) -> list[Point]:
        return [(px * width, py * height) for px, py in self.polygon]

    def contains(self, point: Point, width: int, height: int) -> bool:
        return point_in_polygon(point, self.pixel_polygon(width, height))

    def restricted_at(self, at: datetime, tz: tzinfo) -> bool:
        local = at.astimezone(tz)
        return any(window.contains(local) for window in self.restricted)


def foot_point(box: BoxLike) -> Point:
    """Where a person stands: the bottom centre of the box (Frigate's zone test)."""
    return (box.x + box.w / 2.0, float(box.y + box.h))


def box_centre(box: BoxLike) -> Point:
    return (box.x + box.w / 2.0, box.y + box.h / 2.0)


# ---------------------------------------------------------------------------------------------
# Policy
# ---------------------------------------------------------------------------------------------

DEFAULT_THRESHOLDS: Mapping[HazardKind, float] = {
    "fire": 0.5,
    "smoke": 0.5,
    "person": 0.5,
    "fall": 0.6,
    "water": 0.5,
}


@dataclass(frozen=True, slots=True)
class HazardPolicy:
    """Score thresholds per detector kind, the N-of-M filter and the event rate."""

    thresholds: Mapping[HazardKind, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    window: int = 5
    min_hits: int = 3
    clear_after: int = 5
    update_every: int = 5
    min_score_gain: float = 0.05
    timezone: tzinfo = UTC

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        if not 1 <= self.min_hits <= self.window:
            raise ValueError(f"min_hits must be in 1..window ({self.window}), got {self.min_hits}")
        if self.clear_after < 1:
            raise ValueError(f"clear_after must be >= 1, got {self.clear_after}")
        if self.update_every < 1:
            raise ValueError(f"update_every must be >= 1, got {self.update_every}")
        if self.min_score_gain < 0:
            raise ValueError(f"min_score_gain must be >= 0, got {self.min_score_gain}")
        for kind, value in self.thresholds.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"threshold for {kind} must be in [0, 1], got {value}")

    def threshold(self, kind: HazardKind) -> float:
        return self.thresholds.get(kind, DEFAULT_THRESHOLDS[kind])


# ---------------------------------------------------------------------------------------------
# Signals: one frame's detections -> (type, zone) candidates
# ---------------------------------------------------------------------------------------------

Key = tuple[AnomalyType, str | None]


@dataclass(frozen=True, slots=True)
class Signal:
    """The best evidence for one key in one frame."""

    type: AnomalyType
    key_zone: str | None
    zone: str | None
    score: float
    box: BBox


_DIRECT: dict[HazardKind, AnomalyType] = {
    "fire": AnomalyType.FIRE,
    "smoke": AnomalyType.SMOKE,
    "fall": AnomalyType.FALL,
}
_PERSONS: frozenset[HazardKind] = frozenset({"person", "fall"})


def signals_of(
    detections: Iterable[HazardDetection],
    zones: Sequence[Zone],
    width: int,
    height: int,
    at: datetime,
    policy: HazardPolicy,
) -> dict[Key, Signal]:
    """This frame's best signal per key (see the module docstring)."""
    restricted = [z for z in zones if z.restricted and z.restricted_at(at, policy.timezone)]
    water_zones = [z for z in zones if z.water]
    out: dict[Key, Signal] = {}

    def offer(signal: Signal) -> None:
        key = (signal.type, signal.key_zone)
        held = out.get(key)
        if held is None or signal.score > held.score:
            out[key] = signal

    for det in detections:
        if det.score < policy.threshold(det.kind):
            continue
        box = clip_box(det.box, width, height)
        if box is None:
            continue
        centre = box_centre(box)
        if det.kind in _DIRECT:
            where = next((z.id for z in zones if z.contains(centre, width, height)), None)
            offer(Signal(_DIRECT[det.kind], None, where, det.score, box))
        if det.kind in _PERSONS:
            feet = foot_point(box)
            for zone in restricted:
                if zone.contains(feet, width, height):
                    offer(Signal(AnomalyType.INTRUSION, zone.id, zone.id, det.score, box))
        if det.kind == "water":
            where = next((z.id for z in water_zones if z.contains(centre, width, height)), None)
            offer(Signal(AnomalyType.WATER, where, where, det.score, box))
    return out


# ---------------------------------------------------------------------------------------------
# Alarms: N of M, then new/update/end
# ---------------------------------------------------------------------------------------------


class Alarm:
    """The state of one key on one camera: its recent hits and, once raised, its event."""

    def __init__(self, window: int) -> None:
        self.hits: deque[datetime | None] = deque(maxlen=window)
        self.event_id: UUID | None = None
        self.started_at: datetime | None = None
        self.last_hit: datetime | None = None
        self.misses = 0
        self.best: Signal | None = None
        self.sent_score: float | None = None
        self.frames_since_message = 0
        self.frames = 0

    @property
    def raised(self) -> bool:
        return self.event_id is not None

    def record(self, signal: Signal | None, at: datetime) -> None:
        self.hits.append(at if signal is not None else None)
        self.frames_since_message += 1
        if signal is None:
            self.misses += 1
            return
        self.misses = 0
        self.frames += 1
        self.last_hit = at if self.last_hit is None else max(self.last_hit, at)
        if self.best is None or signal.score > self.best.score:
            self.best = signal

    def hit_count(self) -> int:
        return sum(1 for hit in self.hits if hit is not None)

    def first_hit_in_window(self) -> datetime | None:
        return next((hit for hit in self.hits if hit is not None), None)


class HazardTracker:
    """The alarms of one camera. Per processed frame: :meth:`observe`; at the end: :meth:`flush`."""

    def __init__(
        self, camera_id: str, zones: Sequence[Zone] = (), policy: HazardPolicy | None = None
    ) -> None:
        self.camera_id = camera_id
        self.zones = tuple(z for z in zones if z.camera_id == camera_id)
        self.policy = policy or HazardPolicy()
        self._alarms: dict[Key, Alarm] = {}

    @property
    def raised(self) -> dict[Key, UUID]:
        """The keys with an open alarm and their event ids."""
        return {k: a.event_id for k, a in self._alarms.items() if a.event_id is not None}

    def observe(
        self, detections: Sequence[HazardDetection], width: int, height: int, at: datetime
    ) -> list[PendingEvent]:
        """One processed frame's detections; returns the messages due (ends first)."""
        policy = self.policy
        signals = signals_of(detections, self.zones, width, height, at, policy)
        for key in signals.keys() - self._alarms.keys():
            self._alarms[key] = Alarm(policy.window)
        ends: list[PendingEvent] = []
        others: list[PendingEvent] = []
        for key, alarm in list(self._alarms.items()):
            signal = signals.get(key)
            alarm.record(signal, at)
            if alarm.raised:
                if alarm.misses >= policy.clear_after:
                    ends.append(self._end(key, alarm, alarm.last_hit or at))
                    del self._alarms[key]
                elif signal is not None and self._improved(alarm):
                    others.append(self._message(key, alarm, Phase.UPDATE))
            elif alarm.hit_count() >= policy.min_hits:
                started = alarm.first_hit_in_window() or at
                alarm.event_id = uuid7(max(0, int(started.timestamp() * 1000)))
                alarm.started_at = started
                others.append(self._message(key, alarm, Phase.NEW))
            elif alarm.hit_count() == 0:
                del self._alarms[key]  # a flicker that never reached min_hits: forgotten
        return ends + others

    def flush(self, at: datetime) -> list[PendingEvent]:
        """End every raised alarm (end of stream, shutdown); pending ones just vanish.

        An alarm still signalled on the last frame ends at ``at``; one already clearing ends
        when it was last signalled.
        """
        events: list[PendingEvent] = []
        for key, alarm in self._alarms.items():
            if not alarm.raised:
                continue
            last = alarm.last_hit or at
            ended_at = max(last, at) if alarm.misses == 0 else last
            events.append(self._end(key, alarm, ended_at))
        self._alarms.clear()
        return events

    def _improved(self, alarm: Alarm) -> bool:
        if alarm.frames_since_message < self.policy.update_every or alarm.best is None:
            return False
        sent = alarm.sent_score if alarm.sent_score is not None else -1.0
        return alarm.best.score >= sent + self.policy.min_score_gain

    def _end(self, key: Key, alarm: Alarm, ended_at: datetime) -> PendingEvent:
        return self._message(key, alarm, Phase.END, ended_at)

    def _message(
        self, key: Key, alarm: Alarm, phase: Phase, ended_at: datetime | None = None
    ) -> PendingEvent:
        best, event_id, started_at = alarm.best, alarm.event_id, alarm.started_at
        if best is None or event_id is None or started_at is None:
            raise RuntimeError(f"alarm {key} has no event yet")  # a bug, not an input error
        alarm.sent_score = best.score
        alarm.frames_since_message = 0
        payload = AnomalyPayload(
            type=key[0], score=min(1.0, max(0.0, best.score)), bbox=best.box, zone=best.zone
        )
        return PendingEvent(
            event_id=event_id,
            phase=phase,
            camera_id=self.camera_id,
            started_at=started_at,
            payload=payload,
            ended_at=None if ended_at is None else max(ended_at, started_at),
        )
