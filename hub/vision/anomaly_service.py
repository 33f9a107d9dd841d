"""Hazard detection on one uploaded image with the edge's detectors (fire, smoke, person, fall,
water), severity and alert flags, stored in ``anomaly_detections``.

The detectors come from ``models.anomaly_yolo.load_hazard_detectors()`` (loaded once, on first
use, in a thread); when none is available the service says why and the route answers 503.
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
from typing import Literal

import cv2

from hub.db import SessionFactory
from hub.storage import ObjectStore, StorageError
from hub.tables import AnomalyDetection
from models.anomaly import HazardDetection, HazardDetector, HazardKind
from models.anomaly_yolo import load_hazard_detectors
from models.faces import Image, ModelUnavailableError

logger = logging.getLogger(__name__)

Severity = Literal["low", "medium", "high", "critical"]
SEVERITY_ORDER: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}
ALERT_MIN_SCORE = 0.5
SNAPSHOT_KEY = "anomalies/api/{day}/{id}.jpg"

DetectorLoader = Callable[[], tuple[list[HazardDetector], list[str]]]
"""Returns the detectors available and a reason for each one that is not."""


@dataclass(frozen=True, slots=True)
class SeverityRule:
    severity: Severity
    alerts: bool
    """Whether a detection of this kind (scoring at least ``ALERT_MIN_SCORE``) raises an alert."""


SEVERITY_RULES: dict[str, SeverityRule] = {
    "fire": SeverityRule("critical", True),
    "smoke": SeverityRule("high", True),
    "fall": SeverityRule("high", True),
    "water": SeverityRule("medium", True),
    # a person is an intrusion only inside a restricted zone at a restricted time (edge zones)
    "person": SeverityRule("low", False),
}


def classify(detection: HazardDetection) -> tuple[Severity, bool]:
    """Severity and alert flag of one detection (pure)."""
    rule = SEVERITY_RULES.get(detection.kind, SeverityRule("medium", False))
    return rule.severity, rule.alerts and detection.score >= ALERT_MIN_SCORE


def default_loader(models_dir: Path | None = None) -> DetectorLoader:
    """The edge's hazard detectors (:func:`models.anomaly_yolo.load_hazard_detectors`)."""

    def load() -> tuple[list[HazardDetector], list[str]]:
        return load_hazard_detectors(models_dir)

    return load


class NoDetectorError(RuntimeError):
    """No hazard detector (for the kinds asked) is available; the message says why."""


@dataclass(frozen=True, slots=True)
class StoredHazard:
    id: int
    detection: HazardDetection
    severity: Severity
    alert: bool


@dataclass(frozen=True, slots=True)
class HazardReport:
    detections: list[StoredHazard]
    alert: bool
    max_severity: Severity | None
    models: list[str]
    unavailable: list[str]
    snapshot_key: str | None
    detected_at: datetime
    processing_time_ms: float


class AnomalyService:
    def __init__(
        self, session_factory: SessionFactory, store: ObjectStore, loader: DetectorLoader
    ) -> None:
        self._session_factory = session_factory
        self._store = store
        self._loader = loader
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
        kinds: Iterable[HazardKind] | None = None,
        min_score: float = 0.0,
        camera_id: str | None = None,
        zone: str | None = None,
    ) -> HazardReport:
        started = time.perf_counter()
        detectors, reasons = await self.detectors()
        wanted = frozenset(kinds) if kinds is not None else None
        chosen = [d for d in detectors if wanted is None or d.kinds & wanted]
        if not chosen:
            if wanted is not None and detectors:
                have = sorted({k for d in detectors for k in d.kinds})
                raise NoDetectorError(
                    f"no loaded detector reports {', '.join(sorted(wanted))} "
                    f"(loaded: {', '.join(have)}); " + "; ".join(reasons)
                )
            raise NoDetectorError(
                "no hazard detector is available: " + ("; ".join(reasons) or "none configured")
            )
        found = await asyncio.to_thread(_run, chosen, image)
        kept = [d for d in found if d.score >= min_score and (wanted is None or d.kind in wanted)]
        now = datetime.now(UTC)
        classified = [(d, *classify(d)) for d in kept]
        alert = any(flag for _, _, flag in classified)
        snapshot_key = await self._snapshot(image, now) if alert else None
        rows = [
            AnomalyDetection(
                anomaly_type=d.kind,
                score=round(float(d.score), 4),
                camera_id=camera_id,
                zone=zone,
                snapshot_key=snapshot_key,
                detected_at=now,
                severity=severity,
                alert=flag,
                model_id=d.model_id,
                box={"x": d.box.x, "y": d.box.y, "w": d.box.w, "h": d.box.h},
                source="api",
            )
            for d, severity, flag in classified
        ]
        if rows:
            async with self._session_factory() as session:
                session.add_all(rows)
                await session.commit()
        stored = [
            StoredHazard(int(row.id or 0), d, severity, flag)
            for row, (d, severity, flag) in zip(rows, classified, strict=True)
        ]
        severities: list[Severity] = [s for _, s, _ in classified]
        ranked = sorted(severities, key=_rank)
        worst = ranked[-1] if ranked else None
        return HazardReport(
            detections=stored,
            alert=alert,
            max_severity=worst,
            models=[d.model_id for d in chosen],
            unavailable=reasons,
            snapshot_key=snapshot_key,
            detected_at=now,
            processing_time_ms=round((time.perf_counter() - started) * 1000.0, 1),
        )

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
