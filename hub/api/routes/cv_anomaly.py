"""/api/v1/cv: hazard detection on an uploaded image (issue 5).

``POST /anomaly/detect`` (``cv:read``) runs the edge's hazard detectors (fire, smoke, person,
fall, water) on one photo and answers each detection with its severity and alert flag; the
detections are stored in ``anomaly_detections`` (source ``api``). 503 with the reason when no
detector is available (weights not fetched/exported).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, get_args

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from contracts.ids import ID_PATTERN
from hub.api.auth import CvReader
from hub.api.deps import Cv, Runtime
from hub.api.routes.cv import Box
from hub.api.routes.metrics import CvMetrics, cv_metrics_of
from hub.api.uploads import decode_upload
from hub.vision.anomaly_service import NoDetectorError
from models.anomaly import HazardKind

router = APIRouter(prefix="/api/v1/cv", tags=["cv"])

Metrics = Annotated[CvMetrics, Depends(cv_metrics_of)]
HAZARD_KINDS: tuple[str, ...] = get_args(HazardKind)


class DetectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(min_length=1, description="Base64 JPEG or PNG photo.")
    kinds: Annotated[list[HazardKind], Field(min_length=1, max_length=5)] | None = Field(
        default=None, description=f"Only these kinds ({', '.join(HAZARD_KINDS)}); default all."
    )
    min_score: float = Field(default=0.0, ge=0.0, le=1.0)
    camera_id: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    zone: str | None = Field(default=None, max_length=64, pattern=r"^[\w .-]+$")


class HazardOut(BaseModel):
    id: int = Field(description="The anomaly_detections row.")
    kind: str
    score: float
    box: Box
    severity: str = Field(description="low | medium | high | critical")
    alert: bool
    model_id: str


class DetectResponse(BaseModel):
    detections: list[HazardOut]
    alert: bool
    max_severity: str | None
    models: list[str]
    models_unavailable: list[str]
    snapshot_key: str | None
    detected_at: datetime
    processing_time_ms: float


@router.post("/anomaly/detect", response_model=DetectResponse)
async def detect_anomalies(
    runtime: Runtime, cv: Cv, metrics: Metrics, _caller: CvReader, request: DetectRequest
) -> DetectResponse:
    image = await decode_upload(request.image, max_bytes=runtime.settings.max_upload_bytes)
    try:
        report = await cv.anomaly.detect(
            image,
            kinds=request.kinds,
            min_score=request.min_score,
            camera_id=request.camera_id,
            zone=request.zone,
        )
    except NoDetectorError as err:
        raise HTTPException(status_code=503, detail=str(err)) from err
    metrics.hazard_latency.observe(report.processing_time_ms / 1000.0)
    for hazard in report.detections:
        metrics.hazard_detections.labels(hazard.detection.kind, hazard.severity).inc()
    return DetectResponse(
        detections=[
            HazardOut(
                id=h.id,
                kind=h.detection.kind,
                score=round(float(h.detection.score), 4),
                box=Box.of(h.detection.box),
                severity=h.severity,
                alert=h.alert,
                model_id=h.detection.model_id,
            )
            for h in report.detections
        ],
        alert=report.alert,
        max_severity=report.max_severity,
        models=report.models,
        models_unavailable=report.unavailable,
        snapshot_key=report.snapshot_key,
        detected_at=report.detected_at,
        processing_time_ms=report.processing_time_ms,
    )
