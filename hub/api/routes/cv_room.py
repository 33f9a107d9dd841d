"""/api/v1/cv: housekeeping room inspection (issue 5).

- ``PUT /room/reference/{room_type}`` (``cv:write``): the photo of a room of that type in its
  ready state and its named regions (bed, towels, bathroom, floor, amenity shelf ...).
- ``GET /room/reference/{room_type}`` (``cv:read``): what is registered.
- ``POST /room/analyze`` (``rooms:inspect``: housekeeping staff and managers): the seed's
  ``{image, room_number, analysis_depth}``; compare a photo of a room with its type's
  reference; ``overall_status``, tags with confidence and severity, the seed's checklist,
  ``ready_for_guest``, a confidence and a cleaning estimate (hub/vision/room_report.py); logged
  with who sent it, and the room's status follows (cleaning -> available when ready,
  available -> cleaning when not).
- ``GET /room/status/{room_number}`` (``cv:read``): the last analysis (status, when, by whom)
  and the room's status in the hub.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from hub.api.auth import CvReader, CvWriter, RoomInspector
from hub.api.deps import Cv, Runtime
from hub.api.errors import field_error
from hub.api.routes.metrics import CvMetrics, cv_metrics_of
from hub.api.uploads import decode_upload
from hub.tables import RoomAnalysisLog
from hub.vision.room_inspection import (
    DEFAULT_MAX_CHANGED_FRACTION,
    Region,
    RegionKind,
    RegionResult,
)
from hub.vision.room_report import report
from hub.vision.room_service import (
    AnalysisOutcome,
    ReferenceInfo,
    ReferenceNotFoundError,
    RoomError,
    RoomNotFoundError,
    RoomStorageError,
)

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/cv", tags=["cv"])

ROOM_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
ROOM_NUMBER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$"
MAX_REGIONS = 16

Metrics = Annotated[CvMetrics, Depends(cv_metrics_of)]
RoomType = Annotated[str, Path(pattern=ROOM_TYPE_PATTERN)]


class RegionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[\w .-]+$")
    kind: RegionKind
    x: float = Field(ge=0.0, lt=1.0, description="Left edge, a fraction of the photo's width.")
    y: float = Field(ge=0.0, lt=1.0, description="Top edge, a fraction of the photo's height.")
    w: float = Field(gt=0.0, le=1.0)
    h: float = Field(gt=0.0, le=1.0)
    max_changed_fraction: float = Field(
        default=DEFAULT_MAX_CHANGED_FRACTION,
        gt=0.0,
        lt=1.0,
        description="The region counts as changed above this fraction of changed pixels.",
    )


class ReferenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(min_length=1, description="Base64 JPEG or PNG of the ready room.")
    regions: Annotated[list[RegionIn], Field(min_length=1, max_length=MAX_REGIONS)]


class ReferenceResponse(BaseModel):
    room_type: str
    version: int
    width: int
    height: int
    regions: list[RegionIn]
    updated_at: datetime


SEED_ANALYZE_EXAMPLES: list[JsonValue] = [
    {  # 004_51257e8afc5aac28.txt, POST /api/v1/cv/room/analyze
        "image": "base64_encoded_image",
        "room_number": "201",
        "analysis_depth": "detailed",
    },
    {"image": "base64_encoded_image", "room_number": "201"},  # 000_3e23a4a0d17304c3.txt
]
AnalysisDepth = Literal["quick", "standard", "detailed"]


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": SEED_ANALYZE_EXAMPLES})

    room_number: str = Field(pattern=ROOM_NUMBER_PATTERN)
    image: str = Field(
        min_length=1, description="Base64 JPEG or PNG taken from the reference spot."
    )
    analysis_depth: AnalysisDepth = Field(
        default="standard",
        description="quick: the verdict, tags and checklist only (no per-region cues, the "
        "photo is not archived); standard: + per-region cues and alignment, photo archived; "
        "detailed: + the box of each region's changed pixels.",
    )


class RegionOut(BaseModel):
    name: str
    kind: str
    changed: bool
    changed_fraction: float
    max_changed_fraction: float
    structure: float
    colour: float
    edges: float
    coverage: float
    tag: str | None
    changed_box: list[float] | None = Field(
        default=None,
        description="detailed only: [x, y, w, h] of the changed pixels, fractions of the "
        "reference photo",
    )


class TaskOut(BaseModel):
    region: str
    task: str
    done: bool


class TagOut(BaseModel):
    label: str
    confidence: float = Field(description="Inlier ratio x the region's decision margin.")
    severity: str = Field(description="low | medium | high (by the region's kind)")
    region: str


class ChecklistOut(BaseModel):
    bed_made: bool | None
    bathroom_clean: bool | None
    towels_present: bool | None
    amenities_complete: bool | None
    floor_clean: bool | None


class AlignmentOut(BaseModel):
    method: str = Field(description="homography | resize (fallback: the photo was not aligned)")
    matches: int
    inliers: int
    reason: str | None


class AnalyzeResponse(BaseModel):
    room_number: str
    status: str = Field(description="clean | dirty | unverified (= overall_status)")
    overall_status: str = Field(description="clean | dirty | unverified")
    ready_for_guest: bool
    confidence: float = Field(
        description="RANSAC inlier ratio x the smallest region decision margin (docs)."
    )
    tags: list[TagOut]
    estimated_cleaning_time_minutes: int
    checklist: ChecklistOut
    analysis_time_ms: float
    analysis_depth: AnalysisDepth
    analysis_id: int
    room_type: str
    cleanliness_score: float
    tasks: list[TaskOut]
    regions: list[RegionOut] | None = Field(description="None for quick.")
    alignment: AlignmentOut | None = Field(description="None for quick.")
    notes: list[str]
    room_status: str = Field(description="The room's status in the hub after the analysis.")
    reference_version: int
    analysed_at: datetime
    analyzed_by: str | None


class LastAnalysis(BaseModel):
    analysis_id: int
    ready_for_guest: bool | None
    cleanliness_score: float | None
    tags: list[str]
    analysed_at: datetime


class RoomStatusResponse(BaseModel):
    room_number: str
    status: str = Field(
        description="The last analysis: clean | dirty | unverified; not_analyzed when none."
    )
    last_analyzed_at: datetime | None
    analyzed_by: str | None
    ready_for_guest: bool | None
    room_status: str = Field(description="The room's status in the hub (available, cleaning...).")
    room_type: str
    reference_registered: bool
    last_analysis: LastAnalysis | None


def _reference_out(info: ReferenceInfo) -> ReferenceResponse:
    return ReferenceResponse(
        room_type=info.room_type,
        version=info.version,
        width=info.width,
        height=info.height,
        regions=[
            RegionIn(
                name=r.name,
                kind=r.kind,
                x=r.x,
                y=r.y,
                w=r.w,
                h=r.h,
                max_changed_fraction=r.max_changed_fraction,
            )
            for r in info.regions
        ],
        updated_at=info.updated_at,
    )


def _room_error(err: RoomError) -> HTTPException:
    """Unknown room: 404; no reference for its type: 409 (register one first); else 422."""
    if isinstance(err, RoomNotFoundError):
        status = 404
    elif isinstance(err, ReferenceNotFoundError):
        status = 409
    else:
        status = 422
    return HTTPException(status_code=status, detail=field_error(err.field, err.reason))


@router.put("/room/reference/{room_type}", response_model=ReferenceResponse)
async def register_reference(
    runtime: Runtime, cv: Cv, principal: CvWriter, room_type: RoomType, request: ReferenceRequest
) -> ReferenceResponse:
    """Register (or replace) the ready-state photo of a room type and its named regions."""
    image = await decode_upload(request.image, max_bytes=runtime.settings.max_upload_bytes)
    regions = []
    for index, item in enumerate(request.regions):
        try:
            regions.append(
                Region(
                    name=item.name,
                    kind=item.kind,
                    x=item.x,
                    y=item.y,
                    w=item.w,
                    h=item.h,
                    max_changed_fraction=item.max_changed_fraction,
                )
            )
        except ValueError as err:
            raise HTTPException(
                status_code=422, detail=field_error(f"regions[{index}]", str(err))
            ) from None
    try:
        info = await cv.rooms.register_reference(room_type, image, regions, actor=principal.actor)
    except RoomError as err:
        raise _room_error(err) from err
    except RoomStorageError as err:
        raise HTTPException(status_code=503, detail=str(err)) from err
    return _reference_out(info)


@router.get("/room/reference/{room_type}", response_model=ReferenceResponse)
async def get_reference(cv: Cv, _caller: CvReader, room_type: RoomType) -> ReferenceResponse:
    try:
        return _reference_out(await cv.rooms.reference(room_type))
    except ReferenceNotFoundError as err:
        raise HTTPException(status_code=404, detail=field_error(err.field, err.reason)) from err


@router.post("/room/analyze", response_model=AnalyzeResponse)
async def analyze_room(
    runtime: Runtime, cv: Cv, metrics: Metrics, caller: RoomInspector, request: AnalyzeRequest
) -> AnalyzeResponse:
    """Inspect a photo of a room against its type's reference photo."""
    image = await decode_upload(request.image, max_bytes=runtime.settings.max_upload_bytes)
    try:
        outcome = await cv.rooms.analyze(
            request.room_number,
            image,
            keep_photo=request.analysis_depth != "quick",
            analyzed_by=caller.name,
        )
    except RoomError as err:
        raise _room_error(err) from err
    except RoomStorageError as err:
        raise HTTPException(status_code=503, detail=str(err)) from err
    metrics.room_analyses.labels(
        "ready" if outcome.inspection.ready_for_guest else "not_ready"
    ).inc()
    metrics.room_analysis_latency.observe(outcome.analysis_time_ms / 1000.0)
    hooks = runtime.flow_hooks
    if hooks is not None:  # the flows: room status, a waiting guest's check-in-ready message
        try:
            await hooks.room_analyzed(
                outcome.room_number, outcome.inspection.ready_for_guest, outcome.analysis_id
            )
        except Exception:  # the analysis is stored: a failing flow must not lose the answer
            logger.exception("room_analyzed hook failed for analysis %d", outcome.analysis_id)
    return _analysis_out(outcome, request.analysis_depth, caller.name)


@router.get("/room/status/{room_number}", response_model=RoomStatusResponse)
async def room_status(
    cv: Cv, _caller: CvReader, room_number: Annotated[str, Path(pattern=ROOM_NUMBER_PATTERN)]
) -> RoomStatusResponse:
    try:
        info = await cv.rooms.status(room_number)
    except RoomError as err:
        raise _room_error(err) from err
    last = info.last_analysis
    return RoomStatusResponse(
        room_number=info.room_number,
        status=_last_status(last) if last is not None else "not_analyzed",
        last_analyzed_at=last.analysed_at if last is not None else None,
        analyzed_by=last.analyzed_by if last is not None else None,
        ready_for_guest=last.ready_for_guest if last is not None else None,
        room_status=info.status,
        room_type=info.room_type,
        reference_registered=info.reference_registered,
        last_analysis=LastAnalysis(
            analysis_id=int(last.id or 0),
            ready_for_guest=last.ready_for_guest,
            cleanliness_score=last.score,
            tags=list(last.tags),
            analysed_at=last.analysed_at,
        )
        if last is not None
        else None,
    )


def _last_status(last: RoomAnalysisLog) -> str:
    stored = last.findings.get("overall_status")
    if isinstance(stored, str):
        return stored
    return "clean" if last.ready_for_guest else "dirty"  # logged before overall_status was kept


def _region_out(region: RegionResult, depth: AnalysisDepth) -> RegionOut:
    return RegionOut(
        name=region.name,
        kind=region.kind.value,
        changed=region.changed,
        changed_fraction=region.changed_fraction,
        max_changed_fraction=region.max_changed_fraction,
        structure=region.structure,
        colour=region.colour,
        edges=region.edges,
        coverage=region.coverage,
        tag=region.tag,
        changed_box=list(region.changed_box)
        if depth == "detailed" and region.changed_box is not None
        else None,
    )


def _analysis_out(
    outcome: AnalysisOutcome, depth: AnalysisDepth, analyzed_by: str
) -> AnalyzeResponse:
    inspection = outcome.inspection
    alignment = inspection.alignment
    summary = report(inspection)
    quick = depth == "quick"
    return AnalyzeResponse(
        room_number=outcome.room_number,
        status=summary.overall_status,
        overall_status=summary.overall_status,
        ready_for_guest=inspection.ready_for_guest,
        confidence=summary.confidence,
        tags=[
            TagOut(label=t.label, confidence=t.confidence, severity=t.severity, region=t.region)
            for t in summary.tags
        ],
        estimated_cleaning_time_minutes=summary.estimated_cleaning_time_minutes,
        checklist=ChecklistOut(**summary.checklist),
        analysis_time_ms=outcome.analysis_time_ms,
        analysis_depth=depth,
        analysis_id=outcome.analysis_id,
        room_type=outcome.room_type,
        cleanliness_score=inspection.score,
        tasks=[TaskOut(region=c.region, task=c.task, done=c.done) for c in inspection.checklist],
        regions=None if quick else [_region_out(r, depth) for r in inspection.regions],
        alignment=None
        if quick
        else AlignmentOut(
            method=alignment.method,
            matches=alignment.matches,
            inliers=alignment.inliers,
            reason=alignment.reason,
        ),
        notes=inspection.notes,
        room_status=outcome.room_status,
        reference_version=outcome.reference_version,
        analysed_at=outcome.analysed_at,
        analyzed_by=analyzed_by,
    )
