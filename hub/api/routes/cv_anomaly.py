"""/api/v1/cv/anomaly: hazards on one camera frame (issue 5, seed shapes: issue 13).

- ``POST /anomaly/detect`` (``cv:read``): the seed's request ``{image, camera_id,
  detection_types, timestamp}``; ``detection_types`` limits the detectors run (fire, smoke,
  flood, intrusion, fall, person). ``flood`` needs the camera's dry-floor reference photo and
  ``intrusion`` its restricted zones: without them the type is listed in ``not_evaluated`` with
  the reason, never silently dropped. Detections are stored in ``anomaly_detections`` (source
  ``api``). 503 with the reasons when nothing asked for can run because models are missing.
- ``PUT /anomaly/reference/{camera_id}`` (``cv:write``): register a camera's dry-floor photo,
  floor zone and restricted zones; ``GET`` shows them, ``DELETE`` forgets them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from contracts.ids import ID_PATTERN
from hub.api.auth import CvReader, CvWriter
from hub.api.deps import Cv, Runtime
from hub.api.errors import field_error
from hub.api.params import UtcDateTime
from hub.api.routes.metrics import CvMetrics, cv_metrics_of
from hub.api.uploads import decode_upload
from hub.vision.anomaly_references import CameraScene, SceneStorageError
from hub.vision.anomaly_service import (
    DEFAULT_TYPES,
    DETECTION_TYPES,
    DetectionType,
    NoDetectorError,
    StoredHazard,
)
from hub.vision.camera_scene import FULL_FRAME, RestrictedZone, check_polygon

router = APIRouter(prefix="/api/v1/cv", tags=["cv"])

Metrics = Annotated[CvMetrics, Depends(cv_metrics_of)]
CameraId = Annotated[str, Path(pattern=ID_PATTERN)]
Polygon = Annotated[
    list[Annotated[list[float], Field(min_length=2, max_length=2)]],
    Field(min_length=3, max_length=32),
]

SEED_DETECT_EXAMPLES: list[JsonValue] = [
    {  # 004_51257e8afc5aac28.txt, POST /api/v1/cv/anomaly/detect
        "image": "base64_encoded_camera_frame",
        "camera_id": "cam_hallway_03",
        "detection_types": ["fire", "flood", "intrusion"],
        "timestamp": "2025-01-17T14:30:00Z",
    },
    {  # 000_3e23a4a0d17304c3.txt
        "image": "base64_encoded_image",
        "camera_id": "cam_hallway_03",
        "detection_types": ["fire", "flood", "intrusion"],
    },
]


class DetectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": SEED_DETECT_EXAMPLES})

    image: str = Field(min_length=1, description="Base64 JPEG or PNG camera frame.")
    camera_id: Annotated[str, Field(pattern=ID_PATTERN)] | None = Field(
        default=None,
        description="The camera: recorded with each detection, and selects its dry-floor "
        "reference (flood) and restricted zones (intrusion).",
    )
    detection_types: (
        Annotated[list[DetectionType], Field(min_length=1, max_length=len(DETECTION_TYPES))] | None
    ) = Field(
        default=None,
        description=f"Run only the detectors these need ({', '.join(DETECTION_TYPES)}); "
        f"default {', '.join(DEFAULT_TYPES)}.",
    )
    timestamp: UtcDateTime | None = Field(
        default=None, description="When the frame was taken (stored; default: now)."
    )
    min_score: float = Field(default=0.0, ge=0.0, le=1.0)
    zone: str | None = Field(default=None, max_length=64, pattern=r"^[\w .-]+$")


class Location(BaseModel):
    x: int
    y: int
    width: int
    height: int
    w: int = Field(description="= width (the 000 seed's name)")
    h: int = Field(description="= height (the 000 seed's name)")


class AnomalyOut(BaseModel):
    id: int = Field(description="The anomaly_detections row.")
    type: DetectionType
    confidence: float
    location: Location = Field(description="Frame pixels.")
    severity: str = Field(description="low | medium | high | critical")
    alert: bool
    description: str
    zone: str | None = Field(description="The restricted zone (intrusion).")
    model_id: str


class NotEvaluatedOut(BaseModel):
    type: DetectionType
    reason: str


class DetectResponse(BaseModel):
    anomalies_detected: bool
    count: int
    anomalies: list[AnomalyOut]
    camera_id: str | None
    timestamp: datetime = Field(description="The request's timestamp, else when it ran.")
    detection_time_ms: float
    evaluated: list[DetectionType]
    not_evaluated: list[NotEvaluatedOut] = Field(
        description="Types asked for that could not be judged, with the reason."
    )
    alert: bool
    max_severity: str | None
    models: list[str]
    models_unavailable: list[str]
    snapshot_key: str | None
    detected_at: datetime


def _anomaly(hazard: StoredHazard) -> AnomalyOut:
    box = hazard.finding.detection.box
    return AnomalyOut(
        id=hazard.id,
        type=hazard.finding.type,
        confidence=round(float(hazard.finding.detection.score), 4),
        location=Location(x=box.x, y=box.y, width=box.w, height=box.h, w=box.w, h=box.h),
        severity=hazard.severity,
        alert=hazard.alert,
        description=hazard.finding.description,
        zone=hazard.finding.zone,
        model_id=hazard.finding.detection.model_id,
    )


@router.post("/anomaly/detect", response_model=DetectResponse)
async def detect_anomalies(
    runtime: Runtime, cv: Cv, metrics: Metrics, _caller: CvReader, request: DetectRequest
) -> DetectResponse:
    """Hazards in one camera frame: only the detectors the asked types need run."""
    image = await decode_upload(request.image, max_bytes=runtime.settings.max_upload_bytes)
    try:
        report = await cv.anomaly.detect(
            image,
            types=request.detection_types,
            min_score=request.min_score,
            camera_id=request.camera_id,
            zone=request.zone,
            captured_at=request.timestamp,
        )
    except NoDetectorError as err:
        raise HTTPException(status_code=503, detail=str(err)) from err
    except SceneStorageError as err:
        raise HTTPException(status_code=503, detail=str(err)) from err
    metrics.hazard_latency.observe(report.processing_time_ms / 1000.0)
    for hazard in report.detections:
        metrics.hazard_detections.labels(hazard.finding.type, hazard.severity).inc()
    anomalies = [_anomaly(h) for h in report.detections]
    return DetectResponse(
        anomalies_detected=bool(anomalies),
        count=len(anomalies),
        anomalies=anomalies,
        camera_id=request.camera_id,
        timestamp=request.timestamp or report.detected_at,
        detection_time_ms=report.processing_time_ms,
        evaluated=report.evaluated,
        not_evaluated=[NotEvaluatedOut(type=n.type, reason=n.reason) for n in report.not_evaluated],
        alert=report.alert,
        max_severity=report.max_severity,
        models=report.models,
        models_unavailable=report.unavailable,
        snapshot_key=report.snapshot_key,
        detected_at=report.detected_at,
    )


# ---- per-camera scene: dry-floor reference, restricted zones ---------------------------------


class ZoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[\w .-]+$")
    polygon: Polygon = Field(description="[x, y] fractions of the frame (0..1).")


class SceneRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "image": "base64_encoded_dry_floor_photo",
                    "floor_zone": [[0.0, 0.55], [1.0, 0.55], [1.0, 1.0], [0.0, 1.0]],
                    "restricted_zones": [
                        {
                            "name": "service door",
                            "polygon": [[0.7, 0.3], [1.0, 0.3], [1.0, 1.0], [0.7, 1.0]],
                        }
                    ],
                }
            ]
        },
    )

    image: str | None = Field(
        default=None,
        min_length=1,
        description="Base64 JPEG or PNG of the camera's view with the floor dry (flood).",
    )
    floor_zone: Polygon | None = Field(
        default=None, description="The floor area watched for water; default the whole frame."
    )
    restricted_zones: Annotated[list[ZoneIn], Field(max_length=16)] = Field(
        default_factory=list,
        description="Where a person is an intrusion (at all hours: the hub has no schedule).",
    )

    @model_validator(mode="after")
    def _something(self) -> SceneRequest:
        if self.floor_zone is not None and self.image is None:
            raise ValueError("floor_zone needs image (the dry-floor photo it belongs to)")
        if self.image is None and not self.restricted_zones:
            raise ValueError("give image (a dry-floor photo), restricted_zones, or both")
        names = [z.name for z in self.restricted_zones]
        if len(set(names)) != len(names):
            raise ValueError("restricted_zones: names must be unique")
        return self


class ZoneOut(BaseModel):
    name: str
    polygon: list[list[float]]


class SceneResponse(BaseModel):
    camera_id: str
    version: int
    reference_photo: bool
    width: int | None
    height: int | None
    floor_zone: list[list[float]]
    restricted_zones: list[ZoneOut]
    updated_by: str | None
    updated_at: datetime


class SceneDeleted(BaseModel):
    success: bool
    camera_id: str


def _scene_out(scene: CameraScene) -> SceneResponse:
    return SceneResponse(
        camera_id=scene.camera_id,
        version=scene.version,
        reference_photo=scene.has_reference,
        width=scene.width,
        height=scene.height,
        floor_zone=[[x, y] for x, y in scene.floor_zone],
        restricted_zones=[
            ZoneOut(name=z.name, polygon=[[x, y] for x, y in z.polygon])
            for z in scene.restricted_zones
        ],
        updated_by=scene.updated_by,
        updated_at=scene.updated_at,
    )


def _polygon(points: list[list[float]], field: str) -> tuple[tuple[float, float], ...]:
    try:
        return check_polygon(points, field)
    except ValueError as err:
        raise HTTPException(status_code=422, detail=field_error(field, str(err))) from None


@router.put("/anomaly/reference/{camera_id}", response_model=SceneResponse)
async def put_scene(
    runtime: Runtime, cv: Cv, principal: CvWriter, camera_id: CameraId, request: SceneRequest
) -> SceneResponse:
    """Register (or replace as a whole) what flood and intrusion need for one camera."""
    image = (
        await decode_upload(request.image, max_bytes=runtime.settings.max_upload_bytes)
        if request.image is not None
        else None
    )
    floor = _polygon(request.floor_zone, "floor_zone") if request.floor_zone else FULL_FRAME
    zones = [
        RestrictedZone(z.name, _polygon(z.polygon, f"restricted_zones[{i}].polygon"))
        for i, z in enumerate(request.restricted_zones)
    ]
    try:
        scene = await cv.anomaly.scenes.put(
            camera_id, image, floor_zone=floor, restricted_zones=zones, actor=principal.name
        )
    except SceneStorageError as err:
        raise HTTPException(status_code=503, detail=str(err)) from err
    return _scene_out(scene)


@router.get("/anomaly/reference/{camera_id}", response_model=SceneResponse)
async def get_scene(cv: Cv, _caller: CvReader, camera_id: CameraId) -> SceneResponse:
    scene = await cv.anomaly.scenes.get(camera_id)
    if scene is None:
        raise HTTPException(
            status_code=404,
            detail=field_error("camera_id", f"nothing is registered for camera {camera_id!r}"),
        )
    return _scene_out(scene)


@router.delete("/anomaly/reference/{camera_id}", response_model=SceneDeleted)
async def delete_scene(cv: Cv, _caller: CvWriter, camera_id: CameraId) -> SceneDeleted:
    if await cv.anomaly.scenes.delete(camera_id) is None:
        raise HTTPException(
            status_code=404,
            detail=field_error("camera_id", f"nothing is registered for camera {camera_id!r}"),
        )
    return SceneDeleted(success=True, camera_id=camera_id)
