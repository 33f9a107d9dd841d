"""The edge's hazard stage: detectors on a stride of each camera's frames -> anomaly events.

Runs beside the face pipeline in each camera loop (``edge_agent/app.py``): every ``stride``-th
frame of a camera goes through every hazard detector (fire/smoke, person/fall) and through the
water watcher of each of that camera's water zones; the detections go to the camera's
:class:`~edge_agent.domain.hazards.HazardTracker` (N-of-M filter, zones and restricted hours,
new/update/end), whose messages come back ready for the outbox, with a JPEG snapshot of the
hazard and its surroundings on ``new`` and ``update``.

The detectors and the water watchers are passed in (adapters built by the composition root;
fakes in unit tests). Not thread-safe: one per camera loop, like the face pipeline. Detector
sessions may be shared between loops (ONNX Runtime's ``run`` is thread-safe).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from contracts.messages import AnomalyPayload, Phase
from edge_agent.capture.snapshots import JpegSnapshotEncoder
from edge_agent.config import HazardsConfig
from edge_agent.domain.events import PendingEvent
from edge_agent.domain.hazards import HazardPolicy, HazardTracker, TimeWindow, Zone
from edge_agent.ports import Frame
from models.anomaly import HazardDetection, HazardDetector
from models.anomaly_water import WaterDetector
from models.anomaly_yolo import load_hazard_detectors
from models.faces import FaceBox, Image

logger = logging.getLogger(__name__)

SnapshotEncoder = Callable[[Image, FaceBox], str | None]


class WaterWatcher(Protocol):
    """Water on one floor zone (see :class:`models.anomaly_water.WaterDetector`)."""

    def detect(self, image: Image, ignore: Sequence[FaceBox] = ()) -> list[HazardDetection]: ...


WaterFactory = Callable[[Zone], WaterWatcher]


@dataclass(frozen=True, slots=True)
class HazardStats:
    """Cumulative work of the stage, for benchmarks and the heartbeat."""

    frames: int = 0
    processed: int = 0
    detections: int = 0
    events: int = 0
    detect_s: float = 0.0


class HazardWatch:
    def __init__(
        self,
        detectors: Sequence[HazardDetector],
        *,
        zones: Sequence[Zone] = (),
        policy: HazardPolicy | None = None,
        stride: int = 5,
        water_factory: WaterFactory | None = None,
        snapshot_encoder: SnapshotEncoder | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self._detectors = list(detectors)
        self._zones = tuple(zones)
        self._policy = policy or HazardPolicy()
        self._stride = stride
        self._water_factory = water_factory
        self._encode = snapshot_encoder
        self._timer = timer
        self._trackers: dict[str, HazardTracker] = {}
        self._water: dict[tuple[str, str], WaterWatcher] = {}
        self._seen: dict[str, int] = {}
        self._stats = HazardStats()

    @property
    def stats(self) -> HazardStats:
        return self._stats

    def _tracker(self, camera_id: str) -> HazardTracker:
        tracker = self._trackers.get(camera_id)
        if tracker is None:
            tracker = HazardTracker(camera_id, self._zones, self._policy)
            self._trackers[camera_id] = tracker
            if self._water_factory is not None:
                for zone in tracker.zones:
                    if zone.water:
                        self._water[(camera_id, zone.id)] = self._water_factory(zone)
        return tracker

    def process(self, frame: Frame) -> list[PendingEvent]:
        """One camera frame; the detectors run only on every ``stride``-th one."""
        seen = self._seen.get(frame.camera_id, 0)
        self._seen[frame.camera_id] = seen + 1
        if seen % self._stride:
            self._stats = dataclasses.replace(self._stats, frames=self._stats.frames + 1)
            return []
        image = frame.image
        height, width = image.shape[:2]
        tracker = self._tracker(frame.camera_id)
        t0 = self._timer()
        detections: list[HazardDetection] = []
        for detector in self._detectors:
            detections += detector.detect(image)
        people = [d.box for d in detections if d.kind in ("person", "fall")]
        for (camera_id, _zone), watcher in self._water.items():
            if camera_id == frame.camera_id:
                detections += watcher.detect(image, people)
        detect_s = self._timer() - t0
        events = tracker.observe(detections, width, height, frame.timestamp)
        events = [self._with_snapshot(event, image) for event in events]
        s = self._stats
        self._stats = HazardStats(
            frames=s.frames + 1,
            processed=s.processed + 1,
            detections=s.detections + len(detections),
            events=s.events + len(events),
            detect_s=s.detect_s + detect_s,
        )
        for event in events:
            if event.phase is Phase.NEW:
                payload = event.payload
                logger.warning(
                    "hazard on camera %s: %s (score %.2f, zone %s)",
                    event.camera_id,
                    getattr(payload, "type", "?"),
                    getattr(payload, "score", 0.0),
                    getattr(payload, "zone", None),
                )
        return events

    def flush(self, at: datetime, camera_id: str | None = None) -> list[PendingEvent]:
        """End every raised alarm (of one camera, or all): end of a file, outage, shutdown."""
        events: list[PendingEvent] = []
        for cam, tracker in self._trackers.items():
            if camera_id is None or cam == camera_id:
                events += tracker.flush(at)
        self._stats = dataclasses.replace(self._stats, events=self._stats.events + len(events))
        return events

    def _with_snapshot(self, event: PendingEvent, image: Image) -> PendingEvent:
        payload = event.payload
        if (
            self._encode is None
            or event.phase is Phase.END
            or not isinstance(payload, AnomalyPayload)
            or payload.bbox is None
        ):
            return event
        b = payload.bbox
        jpeg_b64 = self._encode(image, FaceBox(b.x, b.y, b.w, b.h))
        if jpeg_b64 is None:
            return event
        return dataclasses.replace(event, snapshot_jpeg_b64=jpeg_b64)


# ---------------------------------------------------------------------------------------------
# From the edge config (used by the composition root)
# ---------------------------------------------------------------------------------------------

_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def zones_from_config(config: HazardsConfig) -> list[Zone]:
    return [
        Zone(
            id=z.id,
            camera_id=z.camera,
            polygon=tuple((float(x), float(y)) for x, y in z.polygon),
            restricted=tuple(
                TimeWindow(w.start, w.end, frozenset(_DAYS[d] for d in w.days))
                for w in z.restricted_hours
            ),
            water=z.water,
        )
        for z in config.zones
    ]


def policy_from_config(config: HazardsConfig) -> HazardPolicy:
    t = config.thresholds
    return HazardPolicy(
        thresholds={
            "fire": t.fire,
            "smoke": t.smoke,
            "person": t.person,
            "fall": t.fall,
            "water": t.water,
        },
        window=config.window,
        min_hits=config.min_hits,
        clear_after=config.clear_after,
        update_every=config.update_every,
        timezone=ZoneInfo(config.timezone),
    )


def load_detectors(config: HazardsConfig) -> list[HazardDetector]:
    """The configured YOLO detectors that can run here; a missing one is logged, not fatal."""
    detectors, reasons = load_hazard_detectors(
        config.models_dir, model_ids=tuple(config.models), intra_op_threads=config.threads
    )
    for reason in reasons:
        logger.error("hazard detection degraded: %s", reason)
    return detectors


def hazard_watch_from_config(
    config: HazardsConfig, detectors: Sequence[HazardDetector]
) -> HazardWatch:
    """One camera loop's hazard stage, as the edge config describes it."""
    water = config.water
    encoder = JpegSnapshotEncoder(margin=0.5, max_side=320) if config.snapshots else None

    def water_factory(zone: Zone) -> WaterWatcher:
        return WaterDetector(zone.polygon, learn_frames=water.learn_frames, min_area=water.min_area)

    return HazardWatch(
        detectors,
        zones=zones_from_config(config),
        policy=policy_from_config(config),
        stride=config.stride,
        water_factory=water_factory,
        snapshot_encoder=encoder,
    )
