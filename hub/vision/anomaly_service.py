"""Hazard detection on one uploaded image (``/api/v1/cv/anomaly/detect``): the detection types
of the seed API (fire, smoke, flood, intrusion, fall, person) mapped onto the edge's detectors,
with severity and alert flags; detections are stored in ``anomaly_detections`` (source ``api``).

Which detectors run is decided by the types asked for (:func:`plan`): ``fire``/``smoke`` run the
fire model, ``fall``/``person``/``intrusion`` the person/fall model, ``flood`` the water
detector (:mod:`models.anomaly_water`) against the camera's dry-floor reference photo, with the
person model masking people out of the floor when it is loaded. A type that cannot be evaluated
(its model is missing, the camera has no reference photo or no restricted zone, no
``camera_id`` was given) is listed with the reason in ``not_evaluated``; only when nothing asked
for can be evaluated because models are missing does the service raise :class:`NoDetectorError`
(the route's 503).

The detectors (:data:`HUB_HAZARD_MODEL_IDS`: the YOLO fire model and the BlazePose person/fall
detector) come from ``models.anomaly_yolo.load_hazard_detectors()`` (loaded once, on first use,
in a thread).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

import cv2

from hub.db import SessionFactory
from hub.storage import ObjectStore, StorageError
from hub.tables import AnomalyDetection
from hub.vision.anomaly_references import CameraScene, CameraScenes
from hub.vision.camera_scene import SceneMismatchError, intrusions, water_against_reference
from models.anomaly import HazardDetection, HazardDetector, HazardKind
from models.anomaly_water import MODEL_ID as WATER_MODEL_ID
from models.anomaly_yolo import FIRE_MODEL_ID, POSE_FALL_MODEL_ID, load_hazard_detectors
from models.faces import Image, ModelUnavailableError

logger = logging.getLogger(__name__)

Severity = Literal["low", "medium", "high", "critical"]
SEVERITY_ORDER: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}
ALERT_MIN_SCORE = 0.5
SNAPSHOT_KEY = "anomalies/api/{day}/{id}.jpg"

DetectionType = Literal["fire", "smoke", "flood", "intrusion", "fall", "person"]
"""The API's names (the seed's: ``flood`` is water on the floor)."""
DETECTION_TYPES: tuple[DetectionType, ...] = get_args(DetectionType)
DEFAULT_TYPES: tuple[DetectionType, ...] = ("fire", "smoke", "flood", "intrusion", "fall")
"""Without ``detection_types``: every hazard; ``person`` (presence) only when asked."""

MODEL_KINDS: dict[DetectionType, frozenset[HazardKind]] = {
    "fire": frozenset({"fire"}),
    "smoke": frozenset({"smoke"}),
    "fall": frozenset({"fall"}),
    "person": frozenset({"person"}),
    "intrusion": frozenset({"person", "fall"}),  # a person lying in the zone is still in it
}
"""The detector kinds each type needs (``flood`` needs the water detector, not a YOLO model)."""
STORED_TYPE: dict[DetectionType, str] = {"flood": "water"}
"""``anomaly_detections.anomaly_type`` keeps the edge's names (water), as events do."""

DESCRIPTIONS: dict[DetectionType, str] = {
    "fire": "Flames detected",
    "smoke": "Smoke detected",
    "flood": "Water pooling detected on floor",
    "intrusion": "Person in restricted zone {zone}",
    "fall": "Person lying on the floor (possible fall)",
    "person": "Person detected",
}

DetectorLoader = Callable[[], tuple[list[HazardDetector], list[str]]]
"""Returns the detectors available and a reason for each one that is not."""


@dataclass(frozen=True, slots=True)
class SeverityRule:
    severity: Severity
    alerts: bool
    """Whether a detection of this type (scoring at least ``ALERT_MIN_SCORE``) raises an alert."""


SEVERITY_RULES: dict[DetectionType, SeverityRule] = {
    "fire": SeverityRule("critical", True),
    "smoke": SeverityRule("high", True),
    "fall": SeverityRule("high", True),
    "flood": SeverityRule("high", True),  # a slip hazard, and a leak somewhere
    "intrusion": SeverityRule("high", True),
    "person": SeverityRule("low", False),  # presence alone is not a hazard
}


def classify(kind: DetectionType, score: float) -> tuple[Severity, bool]:
    """Severity and alert flag of one detection (pure)."""
    rule = SEVERITY_RULES[kind]
    return rule.severity, rule.alerts and score >= ALERT_MIN_SCORE


HUB_HAZARD_MODEL_IDS = (FIRE_MODEL_ID, POSE_FALL_MODEL_ID)
"""The edge's defaults: fire/smoke from the YOLO flame model, people and falls from BlazePose
(Apache-2.0; it found more people and falls than the AGPL ``fall-yolov8n`` on our clips:
benchmarks/hazards.py ``--falls``, docs/hazards.md)."""


def default_loader(models_dir: Path | None = None) -> DetectorLoader:
    """The hazard detectors (:func:`models.anomaly_yolo.load_hazard_detectors`) the edge runs
    by default."""

    def load() -> tuple[list[HazardDetector], list[str]]:
        return load_hazard_detectors(models_dir, model_ids=HUB_HAZARD_MODEL_IDS)

    return load


class NoDetectorError(RuntimeError):
    """No hazard detector (for the types asked) is available; the message says why."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One anomaly: its API type, the detection behind it and the restricted zone if any."""

    type: DetectionType
    detection: HazardDetection
    zone: str | None = None

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.type].format(zone=self.zone or "")


@dataclass(frozen=True, slots=True)
class StoredHazard:
    id: int
    finding: Finding
    severity: Severity
    alert: bool


@dataclass(frozen=True, slots=True)
class NotEvaluated:
    type: DetectionType
    reason: str


@dataclass(frozen=True, slots=True)
class HazardReport:
    detections: list[StoredHazard]
    alert: bool
    max_severity: Severity | None
    evaluated: list[DetectionType]
    not_evaluated: list[NotEvaluated]
    models: list[str]
    unavailable: list[str]
    snapshot_key: str | None
    detected_at: datetime
    processing_time_ms: float


@dataclass(frozen=True, slots=True)
class Plan:
    """Which detectors run for the types asked, and what cannot be evaluated and why."""

    detectors: list[HazardDetector]
    evaluated: list[DetectionType]
    not_evaluated: list[NotEvaluated]
    missing_models: bool


def plan(
    types: Sequence[DetectionType],
    detectors: Sequence[HazardDetector],
    reasons: Sequence[str],
    camera_id: str | None,
    scene: CameraScene | None,
) -> Plan:
    """Pure: the detectors the asked ``types`` need, given what is loaded and the camera."""
    loaded: frozenset[HazardKind] = frozenset(k for d in detectors for k in d.kinds)
    why_missing = "; ".join(reasons) or "no hazard detector is configured"
    evaluated: list[DetectionType] = []
    skipped: list[NotEvaluated] = []
    missing = False
    needed: set[HazardKind] = set()
    for kind in types:
        if kind in ("flood", "intrusion"):
            reason = _scene_gap(kind, camera_id, scene)
            if reason is not None:
                skipped.append(NotEvaluated(kind, reason))
                continue
        if kind == "flood":
            evaluated.append(kind)
            if "person" in loaded:  # masks people out of the floor when available
                needed.add("person")
            continue
        wanted = MODEL_KINDS[kind]
        if not wanted & loaded:
            skipped.append(NotEvaluated(kind, f"no loaded detector reports {kind}: {why_missing}"))
            missing = True
            continue
        evaluated.append(kind)
        needed |= wanted
    chosen = [d for d in detectors if d.kinds & needed]
    return Plan(chosen, evaluated, skipped, missing)


def _scene_gap(kind: DetectionType, camera_id: str | None, scene: CameraScene | None) -> str | None:
    route = f"PUT /api/v1/cv/anomaly/reference/{camera_id or '{camera_id}'}"
    if camera_id is None:
        return f"{kind} is judged per camera: give camera_id"
    if kind == "flood" and (scene is None or not scene.has_reference):
        return f"no dry-floor reference photo for camera {camera_id!r}; upload one with {route}"
    if kind == "intrusion" and (scene is None or not scene.restricted_zones):
        return (
            f"no restricted zone is registered for camera {camera_id!r}; register them with {route}"
        )
    return None


def findings_of(
    types: Sequence[DetectionType],
    found: Sequence[HazardDetection],
    scene: CameraScene | None,
    width: int,
    height: int,
) -> list[Finding]:
    """Pure: the model outputs turned into anomalies of the asked ``types``."""
    asked = frozenset(types)
    out: list[Finding] = []
    for detection in found:
        if detection.kind == "water":
            if "flood" in asked:
                out.append(Finding("flood", detection))
        elif detection.kind in asked:  # fire, smoke, fall, person
            out.append(Finding(detection.kind, detection))
    if "intrusion" in asked and scene is not None:
        people = [d for d in found if d.kind in ("person", "fall")]
        for person, zone in intrusions(people, scene.restricted_zones, width, height):
            out.append(Finding("intrusion", person, zone.name))
    return out


class AnomalyService:
    def __init__(
        self,
        session_factory: SessionFactory,
        store: ObjectStore,
        loader: DetectorLoader,
        scenes: CameraScenes | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._store = store
        self._loader = loader
        self.scenes = scenes if scenes is not None else CameraScenes(session_factory, store)
        self._detectors: list[HazardDetector] | None = None
        self._reasons: list[str] = []
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> tuple[list[HazardDetector], list[str]] | None:
        """What was loaded (``None`` before first use): detectors and reasons."""
        if self._detectors is None:
            return None
        return list(self._detectors), list(self._reasons)

    async def detectors(self) -> tuple[list[HazardDetector], list[str]]:
        if self._detectors is None:
            async with self._lock:
                if self._detectors is None:
                    try:
                        found, reasons = await asyncio.to_thread(self._loader)
                    except ModelUnavailableError as err:
                        found, reasons = [], [str(err)]
                    except Exception as err:
                        logger.exception("hazard detectors failed to load")
                        found, reasons = [], [f"{type(err).__name__}: {err}"]
                    self._detectors, self._reasons = list(found), list(reasons)
                    logger.info(
                        "hazard detectors: %s; unavailable: %s",
                        ", ".join(d.model_id for d in found) or "none",
                        "; ".join(reasons) or "none",
                    )
        return list(self._detectors or []), list(self._reasons)

    async def detect(
        self,
        image: Image,
        *,
        types: Iterable[DetectionType] | None = None,
        min_score: float = 0.0,
        camera_id: str | None = None,
        zone: str | None = None,
        captured_at: datetime | None = None,
    ) -> HazardReport:
        """Run the detectors the asked ``types`` need (default :data:`DEFAULT_TYPES`) on
        ``image``; store what is found. ``captured_at``: when the frame was taken (stored as
        the detection time; default now)."""
        started = time.perf_counter()
        asked = list(dict.fromkeys(types if types is not None else DEFAULT_TYPES))
        detectors, reasons = await self.detectors()
        scene = await self.scenes.get(camera_id) if camera_id is not None else None
        chosen = plan(asked, detectors, reasons, camera_id, scene)
        if not chosen.evaluated and chosen.missing_models:
            raise NoDetectorError("; ".join(f"{n.type}: {n.reason}" for n in chosen.not_evaluated))
        found = await asyncio.to_thread(_run, chosen.detectors, image)
        evaluated = list(chosen.evaluated)
        skipped = list(chosen.not_evaluated)
        models = [d.model_id for d in chosen.detectors]
        if "flood" in evaluated and scene is not None:
            water, reason = await self._water(scene, image, found)
            if reason is not None:
                evaluated.remove("flood")
                skipped.append(NotEvaluated("flood", reason))
            else:
                found.extend(water)
                models.append(WATER_MODEL_ID)
        height, width = image.shape[:2]
        kept = [
            f
            for f in findings_of(evaluated, found, scene, width, height)
            if f.detection.score >= min_score
        ]
        now = datetime.now(UTC)
        classified = [(f, *classify(f.type, f.detection.score)) for f in kept]
        alert = any(flag for _, _, flag in classified)
        snapshot_key = await self._snapshot(image, now) if alert else None
        rows = [
            AnomalyDetection(
                anomaly_type=STORED_TYPE.get(f.type, f.type),
                score=round(float(f.detection.score), 4),
                camera_id=camera_id,
                zone=f.zone or zone,
                snapshot_key=snapshot_key,
                detected_at=captured_at or now,
                severity=severity,
                alert=flag,
                model_id=f.detection.model_id,
                box={
                    "x": f.detection.box.x,
                    "y": f.detection.box.y,
                    "w": f.detection.box.w,
                    "h": f.detection.box.h,
                },
                source="api",
            )
            for f, severity, flag in classified
        ]
        if rows:
            async with self._session_factory() as session:
                session.add_all(rows)
                await session.commit()
        stored = [
            StoredHazard(int(row.id or 0), f, severity, flag)
            for row, (f, severity, flag) in zip(rows, classified, strict=True)
        ]
        severities: list[Severity] = [s for _, s, _ in classified]
        ranked = sorted(severities, key=_rank)
        return HazardReport(
            detections=stored,
            alert=alert,
            max_severity=ranked[-1] if ranked else None,
            evaluated=evaluated,
            not_evaluated=skipped,
            models=models,
            unavailable=reasons,
            snapshot_key=snapshot_key,
            detected_at=now,
            processing_time_ms=round((time.perf_counter() - started) * 1000.0, 1),
        )

    async def _water(
        self, scene: CameraScene, image: Image, found: Sequence[HazardDetection]
    ) -> tuple[list[HazardDetection], str | None]:
        """Water against the camera's dry floor, or the reason it cannot be judged."""
        reference = await self.scenes.reference_image(scene)
        if reference is None:  # raced with a PUT that removed it
            return [], f"no dry-floor reference photo for camera {scene.camera_id!r}"
        people = [d.box for d in found if d.kind in ("person", "fall")]
        try:
            water = await asyncio.to_thread(
                water_against_reference, reference, image, scene.floor_zone, people
            )
        except SceneMismatchError as err:
            return [], str(err)
        return water, None

    async def _snapshot(self, image: Image, when: datetime) -> str | None:
        key = SNAPSHOT_KEY.format(day=when.strftime("%Y%m%d"), id=uuid.uuid4().hex)
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            return None
        try:
            await asyncio.to_thread(self._store.put, key, encoded.tobytes(), "image/jpeg")
        except StorageError as err:
            logger.warning("hazard snapshot not stored: %s", err)
            return None
        return key


def _rank(severity: Severity) -> int:
    return SEVERITY_ORDER[severity]


def _run(detectors: Sequence[HazardDetector], image: Image) -> list[HazardDetection]:
    found: list[HazardDetection] = []
    for detector in detectors:
        found.extend(detector.detect(image))
    return found
