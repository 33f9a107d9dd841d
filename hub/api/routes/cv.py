"""Computer-vision endpoints: health and metrics, face recognition, enrolment/revocation,
stored templates, recorded recognitions and the gallery artefact.

Shapes follow the seed documents (``POST /api/v1/cv/face/recognize`` etc.; see
docs/api.md for every deviation). Access: health is open but shows only ``status``,
``timestamp`` and ``version`` without ``cv:read``; ``/cv/metrics`` is open to loopback callers,
else ``metrics:read`` (as ``/metrics``); recognition needs ``cv:read`` (rate limited per caller);
enrolment and deletion need ``cv:write`` (enrolment is rate limited per caller, and needs a
recorded consent: hub/privacy/consent.py) and are audited; listing stored
templates needs ``cv:write``, their raw vectors (opt-in) and the recognition records need
``admin`` and are audited, never cached or logged; gallery downloads take an enrolled device's
token or ``cv:read``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from contracts.ids import ID_PATTERN
from hub.api.auth import (
    AdminUser,
    CvEnroller,
    CvRecognizer,
    CvWriter,
    GalleryReader,
    MaybePrincipal,
    metrics_access,
)
from hub.api.deps import Cv, HubRuntime, Runtime, Session
from hub.api.errors import field_error, image_http_error
from hub.api.params import StorableText, UtcDateTime
from hub.api.routes.metrics import CvMetrics, cv_metrics_of, prometheus_response
from hub.api.uploads import decode_upload
from hub.audit import AuditAction, audit
from hub.auth.scopes import Scope, grants
from hub.gallery import (
    MAX_ENROLL_IMAGES,
    EmployeeNotFoundError,
    EnrollmentError,
    GalleryError,
    GalleryNotFoundError,
    ImageRejectedError,
    vector_id,
)
from hub.tables import AuditLog
from hub.vision.faces import Recognition
from hub.vision.gpu import GpuMemory, gpu_memory
from hub.vision.services import CvServices, gpu_devices
from models.faces import FaceBox, ModelUnavailableError
from models.session import available_providers

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/cv", tags=["cv"])

EmployeeId = Annotated[str, Field(pattern=ID_PATTERN)]
Metrics = Annotated[CvMetrics, Depends(cv_metrics_of)]
# not AuditAction members (hub/audit.py is not this module's): biometric and whereabouts reads
EMBEDDING_READ_ACTION = "face.embedding.read"
RECOGNITIONS_READ_ACTION = "face.recognitions.read"
_NOT_YET = "not loaded yet: loads on first use"

# The seed's examples, verbatim (004 first, then 000): the OpenAPI examples of each route.
RECOGNIZE_EXAMPLES: list[JsonValue] = [
    {
        "image": "base64_encoded_image_string",
        "camera_id": "cam_lobby_01",
        "timestamp": "2025-01-17T08:30:00Z",
        "check_liveness": True,
    },
    {
        "image": "base64_encoded_image",
        "camera_id": "cam_lobby_01",
        "timestamp": "2025-01-17T08:30:00Z",
    },
]
ENROLL_EXAMPLES: list[JsonValue] = [
    {
        "employee_id": "EMP001",
        "images": ["base64_image_1_frontal", "base64_image_2_left", "base64_image_3_right"],
        "metadata": {
            "name": "Nguyen Van A",
            "department": "reception",
            "position": "receptionist",
        },
        "replace_existing": False,
    },
    {
        "employee_id": "EMP001",
        "images": ["base64_1", "base64_2", "base64_3"],
        "metadata": {"name": "Nguyen Van A", "department": "reception"},
    },
]
# cv_face_recognition_total{status}: the seed's labels (success | failure | no_face |
# liveness_failed) and ours for what the seed has no word for.
SEED_RECOGNITION_STATUS: dict[str, str] = {
    "success": "success",
    "face_not_found": "failure",
    "no_face_detected": "no_face",
    "face_too_small": "no_face",
    "face_low_quality": "no_face",
    "liveness_check_failed": "liveness_failed",
    "liveness_unavailable": "liveness_unavailable",
}
SEED_MESSAGES: dict[str, str] = {
    "face_not_found": "No matching face found in database",
}


# ---------------------------------------------------------------------------------------------
# Health
# ---------------------------------------------------------------------------------------------


class CheckResult(BaseModel):
    ok: bool
    detail: str | None = None


class FaceModelStatus(BaseModel):
    loaded: bool
    model_id: str | None = None
    reason: str | None = None


class IngestStatus(BaseModel):
    enabled: bool
    connected: bool
    incompatible_edges: dict[str, int] = Field(
        default_factory=dict,
        description="device id -> the contract schema it speaks, for edges this hub cannot read "
        "(upgrade the older side); any makes the hub degraded",
    )


class GalleryStatus(BaseModel):
    version: int
    sha256: str
    model_id: str
    people: int


class ModelStatus(BaseModel):
    model_id: str | None = None
    loaded: bool
    reason: str | None = None


class HazardModels(BaseModel):
    loaded: list[str]
    kinds: list[str]
    unavailable: list[str]


class GpuStatus(BaseModel):
    available: bool
    devices: list[str]
    providers: list[str] = Field(description="ONNX Runtime providers that use the GPU")


class ServiceCheck(BaseModel):
    status: str = Field(description="ok | error | unavailable | not_used")
    latency_ms: float = Field(description="Time the check took (0 when nothing was checked).")
    detail: str | None = None


class VectorDbCheck(ServiceCheck):
    """The face gallery matched by /face/recognize (exact cosine search over the templates of
    active, consenting employees, cached per gallery version)."""

    people: int = 0
    templates: int = 0
    gallery_version: int | None = None


class GpuCheck(BaseModel):
    status: str = Field(description="ok | unavailable (no NVIDIA GPU or driver) | error")
    memory_used_mb: int
    memory_total_mb: int
    devices: int = 0
    detail: str | None = None


ModelState = Literal["loaded", "not_loaded", "unavailable", "not_configured"]


class ModelChecks(BaseModel):
    """``loaded``; ``not_loaded`` (loads on first use); ``unavailable`` (could not load: the
    reason is in the detailed fields beside ``checks``); ``not_configured``."""

    face_recognition: ModelState
    image_embedding: ModelState
    ocr: ModelState
    anomaly_detection: ModelState
    liveness: ModelState


class HealthChecks(BaseModel):
    database: ServiceCheck
    vector_db: VectorDbCheck
    redis: ServiceCheck = Field(description="Always not_used: the hub has no Redis.")
    gpu: GpuCheck
    models: ModelChecks
    storage: ServiceCheck


class HealthResponse(BaseModel):
    """``status``, ``timestamp`` and ``version`` for everyone; the rest only with ``cv:read``."""

    status: Literal["healthy", "degraded", "unhealthy"] = Field(
        description="unhealthy: the database does not answer; degraded: the object store, "
        "the face model or the MQTT ingest is down, or an edge speaks a contract version this "
        "hub cannot read; else healthy"
    )
    timestamp: datetime
    version: str
    checks: HealthChecks | None = None
    database: CheckResult | None = None
    storage: CheckResult | None = None
    face_model: FaceModelStatus | None = None
    liveness_model: ModelStatus | None = None
    hazard_models: HazardModels | None = None
    image_model: ModelStatus | None = Field(
        default=None, description="The image-search embedder (reported, not loaded, here)."
    )
    ocr_engines: ModelStatus | None = Field(
        default=None, description="The OCR engines (reported, not loaded, here)."
    )
    onnx_providers: list[str] | None = None
    gpu: GpuStatus | None = None
    ingest: IngestStatus | None = None
    gallery: GalleryStatus | None = None


# ---------------------------------------------------------------------------------------------
# Recognition
# ---------------------------------------------------------------------------------------------


class Box(BaseModel):
    x: int
    y: int
    width: int
    height: int

    @classmethod
    def of(cls, box: FaceBox) -> Box:
        return cls(x=box.x, y=box.y, width=box.w, height=box.h)


class RecognizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": RECOGNIZE_EXAMPLES})

    image: str = Field(
        min_length=1, description="Base64 JPEG or PNG photo (a data: URL prefix is accepted)."
    )
    camera_id: Annotated[str, Field(pattern=ID_PATTERN)] | None = Field(
        default=None, description="The camera that took the photo; recorded with the result."
    )
    timestamp: UtcDateTime | None = Field(
        default=None,
        description="When the photo was taken (ISO 8601; without an offset it is UTC); "
        "recorded with the result. Default: when the hub received the request.",
    )
    check_liveness: bool = Field(
        default=False,
        description="Refuse faces that fail single-image liveness. Without the passive "
        "anti-spoofing model only evidence of a screen or print can be found "
        "(liveness_check_failed); otherwise the answer is liveness_unavailable, never a "
        "recognition that claims a live face.",
    )


class LivenessOut(BaseModel):
    checked: bool
    is_live: bool | None
    score: float | None
    model_id: str | None
    reason: str | None


class RecognizeResponse(BaseModel):
    success: bool
    error: str | None = Field(
        description="null on success, else the status (face_not_found, liveness_check_failed, ...)"
    )
    status: str = Field(
        description="success | no_face_detected | face_too_small | face_low_quality | "
        "face_not_found | liveness_check_failed | liveness_unavailable"
    )
    message: str
    employee_id: str | None
    employee_name: str | None
    confidence: float = Field(
        description="Cosine similarity to the recognised employee; the constant 0.0 when "
        "nobody was recognised (the seed's field: no similarity and no nearest person is "
        "ever given for a face that matches nobody)."
    )
    is_alive: bool | None = Field(
        description="The liveness verdict; null when liveness was not checked "
        "(check_liveness false)."
    )
    liveness_score: float | None = Field(description="0..1; null when not checked.")
    recognition_time_ms: float
    face_location: Box | None
    timestamp: datetime = Field(
        description="The photo's capture time as the request gave it, else when the hub "
        "received it (UTC)."
    )
    camera_id: str | None
    recognition_id: int = Field(description="The stored record (GET /face/recognitions).")
    threshold: float
    faces_detected: int
    quality: float | None
    liveness: LivenessOut | None
    model_id: str
    gallery_version: int | None


class RecognitionRecord(BaseModel):
    recognition_id: int
    camera_id: str | None
    timestamp: datetime = Field(description="The capture time the request gave.")
    status: str
    employee_id: str | None
    confidence: float | None
    liveness_checked: bool
    liveness_score: float | None
    recognition_time_ms: float
    model_id: str
    recorded_at: datetime


class RecognitionsResponse(BaseModel):
    items: list[RecognitionRecord]


# ---------------------------------------------------------------------------------------------
# Templates: enrolment, listing, deletion
# ---------------------------------------------------------------------------------------------


class StoredFaceOut(BaseModel):
    vector_id: str
    created_at: datetime
    quality_score: float
    face_id: int
    model_id: str
    dim: int
    embedding: list[float] | None = Field(
        default=None, description="Only with include_vectors=true (admin, audited)."
    )


class EmbeddingsResponse(BaseModel):
    employee_id: str
    embeddings: list[StoredFaceOut]
    total_count: int


class EnrollMetadata(BaseModel):
    """Stored on the employee (created when unknown, updated when known)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200), StorableText] | None = None
    department: Annotated[str, Field(min_length=1, max_length=100), StorableText] | None = None
    position: Annotated[str, Field(min_length=1, max_length=100), StorableText] | None = None


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": ENROLL_EXAMPLES})

    employee_id: EmployeeId
    images: Annotated[list[str], Field(min_length=1, max_length=MAX_ENROLL_IMAGES)] = Field(
        description="Base64 JPEG or PNG photos (a data: URL prefix is accepted)."
    )
    metadata: EnrollMetadata | None = Field(
        default=None, description="name (needed to create the employee), department, position"
    )
    name: Annotated[str, Field(min_length=1, max_length=200), StorableText] | None = Field(
        default=None, description="Same as metadata.name (kept for earlier clients)."
    )
    replace_existing: bool = False

    @model_validator(mode="after")
    def _one_name(self) -> EnrollRequest:
        given = self.metadata.name if self.metadata is not None else None
        if self.name is not None and given is not None and self.name != given:
            raise ValueError("name and metadata.name differ: give one of them")
        return self

    @property
    def employee_name(self) -> str | None:
        given = self.metadata.name if self.metadata is not None else None
        return given if given is not None else self.name


class EnrollImage(BaseModel):
    index: int
    accepted: bool
    quality: float | None = Field(description="0..1 from the face's size and sharpness")
    faces_found: int = Field(description="Faces detected; others were under half the area.")
    reason: str | None


class EnrollResponse(BaseModel):
    success: bool
    employee_id: str
    embeddings_created: int
    average_quality_score: float = Field(description="Mean quality (0..1) of the new templates.")
    vector_ids: list[str] = Field(description="The new templates' ids, in image order.")
    warnings: list[str]
    employee_created: bool
    quality_scores: list[float] = Field(description="One per enrolled face, in image order.")
    images: list[EnrollImage] = Field(description="One per uploaded image.")
    gallery_version: int | None


class RemoveResponse(BaseModel):
    success: bool
    employee_id: str
    embeddings_deleted: int
    face_crops_deleted: int
    gallery_version: int | None


# ---------------------------------------------------------------------------------------------
# Health and metrics
# ---------------------------------------------------------------------------------------------


async def _timed(probe: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    value = await probe
    return value, round((time.perf_counter() - started) * 1000.0, 2)


def _model_states(
    request: Request, runtime: HubRuntime, cv: CvServices, face: FaceModelStatus | None
) -> ModelChecks:
    """What is loaded now, without loading anything (``face`` when the caller loaded it)."""
    faces = runtime.faces
    if face is not None:
        face_state: ModelState = "loaded" if face.loaded else "unavailable"
    else:
        face_state = "loaded" if faces.loaded else ("unavailable" if faces.error else "not_loaded")
    image: ModelState = "not_configured"
    if runtime.image_search is not None:
        embedders = runtime.image_search.embedders
        image = (
            "loaded"
            if embedders.loaded is not None
            else ("unavailable" if embedders.error else "not_loaded")
        )
    ocr = request.app.state.ocr.engines
    ocr_state: ModelState = (
        "loaded" if ocr.loaded else ("unavailable" if ocr.error else "not_loaded")
    )
    hazards = cv.anomaly.loaded
    anomaly: ModelState = "not_loaded"
    if hazards is not None:
        anomaly = "loaded" if hazards[0] else "unavailable"
    live = cv.faces.liveness
    liveness: ModelState = (
        "loaded" if live.loaded else ("unavailable" if live.error else "not_loaded")
    )
    return ModelChecks(
        face_recognition=face_state,
        image_embedding=image,
        ocr=ocr_state,
        anomaly_detection=anomaly,
        liveness=liveness,
    )


async def _vector_db_check(runtime: HubRuntime, cv: CvServices) -> VectorDbCheck:
    analyzer = runtime.faces.loaded
    if analyzer is None:
        return VectorDbCheck(status="unavailable", latency_ms=0.0, detail="no face model")
    try:
        matrix, latency = await _timed(cv.faces.gallery(analyzer.model_id, analyzer.dim))
    except Exception as err:  # noqa: BLE001 - health reports any failure
        logger.warning("face gallery health check failed: %s", type(err).__name__)
        return VectorDbCheck(status="error", latency_ms=0.0, detail=type(err).__name__)
    return VectorDbCheck(
        status="ok",
        latency_ms=latency,
        people=matrix.people,
        templates=int(matrix.vectors.shape[0]),
        gallery_version=matrix.version or None,
    )


def _check(error: str | None, latency_ms: float) -> ServiceCheck:
    return ServiceCheck(
        status="ok" if error is None else "error", latency_ms=latency_ms, detail=error
    )


# credentials are optional here: the empty requirement tells OpenAPI clients so
@router.get("/health", response_model=HealthResponse, openapi_extra={"security": [{}]})
async def health(
    request: Request, runtime: Runtime, cv: Cv, principal: MaybePrincipal
) -> HealthResponse:
    """The seed's ``status`` (healthy | degraded | unhealthy), ``timestamp``, ``version`` and,
    with ``cv:read``, ``checks`` (database, vector_db, redis, gpu, models) and our details."""
    now = datetime.now(UTC)
    db_error, db_ms = await _timed(runtime.check_database())
    storage_error, storage_ms = await _timed(runtime.check_storage())
    try:
        analyzer = await runtime.faces.get()
        face = FaceModelStatus(loaded=True, model_id=analyzer.model_id)
    except ModelUnavailableError as err:
        face = FaceModelStatus(loaded=False, reason=str(err))
    ingest = runtime.ingest
    ingest_status = IngestStatus(
        enabled=ingest is not None,
        connected=ingest is not None and ingest.connected,
        incompatible_edges=ingest.contracts.incompatible if ingest is not None else {},
    )
    status: Literal["healthy", "degraded", "unhealthy"] = "healthy"
    if db_error is not None:
        status = "unhealthy"
    elif (
        storage_error is not None
        or not face.loaded
        or (ingest is not None and not ingest.connected)
        or ingest_status.incompatible_edges
    ):
        status = "degraded"
    version = request.app.version
    if principal is None or not grants(principal.scopes, Scope.CV_READ):
        return HealthResponse(status=status, timestamp=now, version=version)
    gallery = None
    if db_error is None:
        latest = await runtime.gallery.latest(runtime.gallery.hub_model_id)
        if latest is not None:
            gallery = GalleryStatus(
                version=latest.version,
                sha256=latest.sha256,
                model_id=latest.model_id,
                people=latest.people,
            )
    try:
        live = await cv.faces.liveness.get()
        liveness = ModelStatus(model_id=live.model_id, loaded=True)
    except ModelUnavailableError as err:
        liveness = ModelStatus(loaded=False, reason=str(err))
    detectors, reasons = await cv.anomaly.detectors()
    image_model = None
    if runtime.image_search is not None:
        embedders = runtime.image_search.embedders
        image_model = ModelStatus(
            loaded=embedders.loaded is not None,
            reason=(embedders.error or _NOT_YET) if embedders.loaded is None else None,
        )
    ocr = request.app.state.ocr  # engines load on the first reading
    ocr_engines = ModelStatus(
        loaded=ocr.engines.loaded,
        reason=None if ocr.engines.loaded else (ocr.engines.error or _NOT_YET),
    )
    providers = available_providers()
    gpu_providers = [p for p in providers if p != "CPUExecutionProvider"]
    devices = gpu_devices()
    memory = await asyncio.to_thread(gpu_memory)
    vector_db = (
        await _vector_db_check(runtime, cv)
        if db_error is None
        else VectorDbCheck(status="error", latency_ms=0.0, detail="database unavailable")
    )
    checks = HealthChecks(
        database=_check(db_error, db_ms),
        vector_db=vector_db,
        redis=ServiceCheck(
            status="not_used", latency_ms=0.0, detail="the hub uses no Redis (nothing to check)"
        ),
        gpu=GpuCheck(
            status=memory.status,
            memory_used_mb=memory.used_mb,
            memory_total_mb=memory.total_mb,
            devices=memory.devices,
            detail=memory.detail,
        ),
        models=_model_states(request, runtime, cv, face),
        storage=_check(storage_error, storage_ms),
    )
    return HealthResponse(
        status=status,
        timestamp=now,
        version=version,
        checks=checks,
        database=CheckResult(ok=db_error is None, detail=db_error),
        storage=CheckResult(ok=storage_error is None, detail=storage_error),
        face_model=face,
        liveness_model=liveness,
        hazard_models=HazardModels(
            loaded=[d.model_id for d in detectors],
            kinds=sorted({k for d in detectors for k in d.kinds}),
            unavailable=reasons,
        ),
        image_model=image_model,
        ocr_engines=ocr_engines,
        onnx_providers=providers,
        gpu=GpuStatus(available=bool(devices), devices=devices, providers=gpu_providers),
        ingest=ingest_status,
        gallery=gallery,
    )


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(metrics_access)],
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
)
async def cv_metrics(request: Request, runtime: Runtime, cv: Cv, metrics: Metrics) -> Response:
    """The seed's CV metrics in Prometheus text (``cv_*``: recognitions by status and their
    duration and confidence, image searches, OCR, GPU memory, models loaded). Open to loopback
    callers, else ``metrics:read`` (as ``/metrics``)."""
    models = _model_states(request, runtime, cv, None)
    for name, state in models.model_dump().items():
        metrics.model_loaded.labels(name).set(1.0 if state == "loaded" else 0.0)
    memory: GpuMemory = await asyncio.to_thread(gpu_memory)
    metrics.gpu_memory_usage.set(float(memory.used_bytes))
    return prometheus_response(request.app.state.http_registry, prefixes=("cv_",))


# ---------------------------------------------------------------------------------------------
# Recognition
# ---------------------------------------------------------------------------------------------


@router.post("/face/recognize", response_model=RecognizeResponse)
async def recognize_face(
    runtime: Runtime, cv: Cv, metrics: Metrics, _caller: CvRecognizer, request: RecognizeRequest
) -> RecognizeResponse:
    """Who is this? The largest face in the photo against the gallery of enrolled employees.

    The face must pass the edge's quality gate (``face_too_small``, ``face_low_quality``). A
    face below the match threshold is ``face_not_found``: no similarity (confidence is the
    constant 0.0) and no employee, never "the nearest person"; with ``check_liveness`` a face
    that fails liveness is ``liveness_check_failed``, and when liveness cannot be decided the
    answer is ``liveness_unavailable`` (nothing is recognised). Rate limited per caller (429
    with ``Retry-After``). Every answer is recorded with ``camera_id`` and ``timestamp``.
    """
    received = datetime.now(UTC)
    try:
        analyzer = await runtime.faces.get()
    except ModelUnavailableError as err:
        raise HTTPException(status_code=503, detail=f"face model unavailable: {err}") from err
    image = await decode_upload(request.image, max_bytes=runtime.settings.max_upload_bytes)
    result = await cv.faces.recognize(analyzer, image, check_liveness=request.check_liveness)
    captured_at = request.timestamp or received
    record_id = await cv.faces.record(result, camera_id=request.camera_id, captured_at=captured_at)
    _count(metrics, result)
    liveness = result.liveness
    checked = liveness is not None and liveness.checked
    return RecognizeResponse(
        success=result.success,
        error=None if result.success else result.status,
        status=result.status,
        message=SEED_MESSAGES.get(result.status, result.message),
        employee_id=result.employee_id,
        employee_name=result.name,
        confidence=result.confidence if result.success and result.confidence else 0.0,
        is_alive=liveness.is_live if liveness is not None and checked else None,
        liveness_score=liveness.score if liveness is not None and checked else None,
        recognition_time_ms=result.recognition_time_ms,
        face_location=Box.of(result.face_location) if result.face_location else None,
        timestamp=captured_at,
        camera_id=request.camera_id,
        recognition_id=record_id,
        threshold=cv.faces.threshold,
        faces_detected=result.faces_detected,
        quality=result.quality,
        liveness=LivenessOut(
            checked=liveness.checked,
            is_live=liveness.is_live,
            score=liveness.score,
            model_id=liveness.model_id,
            reason=liveness.reason,
        )
        if liveness is not None
        else None,
        model_id=result.model_id,
        gallery_version=result.gallery_version,
    )


def _count(metrics: CvMetrics, result: Recognition) -> None:
    seconds = result.recognition_time_ms / 1000.0
    metrics.recognitions.labels(result.status).inc()
    metrics.recognition_latency.observe(seconds)
    metrics.recognition_total.labels(SEED_RECOGNITION_STATUS[result.status]).inc()
    metrics.recognition_duration.observe(seconds)
    if result.status == "success":
        metrics.faces_recognized.inc()
        if result.confidence is not None:
            metrics.recognition_confidence.observe(result.confidence)
    elif result.status == "face_not_found":
        metrics.faces_unknown.inc()
    elif result.status == "liveness_check_failed":
        metrics.liveness_failures.inc()


@router.get("/face/recognitions", response_model=RecognitionsResponse)
async def face_recognitions(
    cv: Cv,
    session: Session,
    principal: AdminUser,
    response: Response,
    camera_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    employee_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    since: Annotated[UtcDateTime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> RecognitionsResponse:
    """Recorded recognitions, newest first: camera, capture time, outcome, who (whereabouts
    of people: ``admin`` only, audited, never cached)."""
    rows = await cv.faces.recognitions(
        camera_id=camera_id, employee_id=employee_id, since=since, limit=limit
    )
    session.add(
        AuditLog(
            actor=principal.actor,
            action=RECOGNITIONS_READ_ACTION,
            target=f"camera:{camera_id}" if camera_id else f"employee:{employee_id or '*'}",
            detail={"records": len(rows)},
        )
    )
    await session.commit()
    response.headers["Cache-Control"] = "no-store"
    return RecognitionsResponse(
        items=[
            RecognitionRecord(
                recognition_id=int(row.id or 0),
                camera_id=row.camera_id,
                timestamp=row.captured_at,
                status=row.status,
                employee_id=row.employee_id,
                confidence=row.confidence,
                liveness_checked=row.liveness_checked,
                liveness_score=row.liveness_score,
                recognition_time_ms=row.recognition_time_ms,
                model_id=row.model_id,
                recorded_at=row.created_at,
            )
            for row in rows
        ]
    )


# ---------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------


@router.get("/face/embedding/{employee_id}", response_model=EmbeddingsResponse)
async def face_embeddings(
    runtime: Runtime,
    session: Session,
    principal: CvWriter,
    response: Response,
    employee_id: Annotated[str, Path(pattern=ID_PATTERN)],
    include_vectors: Annotated[
        bool,
        Query(description="Add the raw vectors (biometric data: admin only, audited)."),
    ] = False,
) -> EmbeddingsResponse:
    """The employee's stored face templates: ``vector_id``, ``created_at``, ``quality_score``
    (``cv:write``). The raw vectors only with ``include_vectors=true`` and ``admin``: for
    export (data-subject access) and re-indexing; audited, never cached."""
    if include_vectors and not grants(principal.scopes, Scope.ADMIN):
        raise HTTPException(
            status_code=403,
            detail=field_error("include_vectors", "raw face vectors need the admin scope"),
        )
    try:
        faces = await runtime.gallery.stored_faces(employee_id)
    except EmployeeNotFoundError as err:
        raise HTTPException(status_code=404, detail=field_error(err.field, err.reason)) from err
    if include_vectors:
        session.add(
            AuditLog(
                actor=principal.actor,
                action=EMBEDDING_READ_ACTION,
                target=f"employee:{employee_id}",
                detail={"faces": len(faces)},
            )
        )
        await session.commit()
    response.headers["Cache-Control"] = "no-store"
    return EmbeddingsResponse(
        employee_id=employee_id,
        embeddings=[
            StoredFaceOut(
                vector_id=vector_id(f.face_id),
                created_at=f.created_at,
                quality_score=f.quality,
                face_id=f.face_id,
                model_id=f.model_id,
                dim=f.dim,
                embedding=f.embedding if include_vectors else None,
            )
            for f in faces
        ],
        total_count=len(faces),
    )


@router.post("/face/enroll", response_model=EnrollResponse)
async def enroll_face(
    runtime: Runtime,
    session: Session,
    metrics: Metrics,
    principal: CvEnroller,
    request: EnrollRequest,
) -> EnrollResponse:
    """Enrol face templates for an employee; ``metadata`` (name, department, position) is
    stored on the employee, who is created when unknown (then ``metadata.name`` is needed).

    Needs a recorded consent (``POST /api/v1/privacy/consents``; 422 naming ``consent``).
    Strict: 422 naming ``images[i]`` and the reason for a photo with no face, several faces of
    comparable size, a face failing the edge's quality gate, or a photo not of the same person
    as an earlier one; nothing is stored then. A warning (not a refusal) when the faces
    already match another enrolled employee (a likely duplicate identity)."""
    try:
        analyzer = await runtime.faces.get()
    except ModelUnavailableError as err:
        raise HTTPException(status_code=503, detail=f"face model unavailable: {err}") from err
    meta = request.metadata
    try:
        result = await runtime.gallery.enroll(
            analyzer,
            employee_id=request.employee_id,
            name=request.employee_name,
            images_b64=request.images,
            replace_existing=request.replace_existing,
            department=meta.department if meta is not None else None,
            position=meta.position if meta is not None else None,
        )
    except EmployeeNotFoundError as err:
        raise HTTPException(
            status_code=404,
            detail=field_error(err.field, err.reason.replace("give a name", "give metadata.name")),
        ) from err
    except ImageRejectedError as err:
        raise image_http_error(err.field, err.code, err.reason) from err
    except EnrollmentError as err:  # no consent; no face, several, below the gate, not one
        raise HTTPException(status_code=422, detail=field_error(err.field, err.reason)) from err
    gallery_version = result.gallery.version if result.gallery is not None else None
    metrics.enrolments.inc(result.faces_enrolled)
    audit(
        session,
        actor=principal.actor,
        action=AuditAction.FACE_ENROLL,
        target=f"employee:{result.employee_id}",
        detail={
            "faces": result.faces_enrolled,
            "replace_existing": request.replace_existing,
            "gallery_version": gallery_version,
        },
    )
    await session.commit()
    scores = result.quality_scores
    return EnrollResponse(
        success=True,
        employee_id=result.employee_id,
        embeddings_created=result.faces_enrolled,
        average_quality_score=round(sum(scores) / len(scores), 4) if scores else 0.0,
        vector_ids=[vector_id(face_id) for face_id in result.face_ids],
        warnings=result.warnings,
        employee_created=result.employee_created,
        quality_scores=scores,
        images=[
            EnrollImage(
                index=i.index,
                accepted=i.accepted,
                quality=i.quality,
                faces_found=i.faces_found,
                reason=i.reason,
            )
            for i in result.images
        ],
        gallery_version=gallery_version,
    )


@router.delete("/face/{employee_id}", response_model=RemoveResponse)
async def remove_faces(
    runtime: Runtime,
    session: Session,
    principal: CvWriter,
    employee_id: Annotated[str, Path(pattern=ID_PATTERN)],
) -> RemoveResponse:
    """Delete the employee's face templates and crops; the edges forget them at the next
    gallery sync. The consent record stays (withdrawing it is
    ``POST /api/v1/privacy/consents/{employee_id}/withdraw``)."""
    try:
        result = await runtime.gallery.remove_faces(employee_id)
    except EmployeeNotFoundError as err:
        raise HTTPException(status_code=404, detail=field_error(err.field, err.reason)) from err
    gallery_version = result.gallery.version if result.gallery is not None else None
    audit(
        session,
        actor=principal.actor,
        action=AuditAction.FACE_DELETE,
        target=f"employee:{result.employee_id}",
        detail={
            "faces_deleted": result.faces_deleted,
            "crops_deleted": result.crops_deleted,
            "gallery_version": gallery_version,
        },
    )
    await session.commit()
    return RemoveResponse(
        success=True,
        employee_id=result.employee_id,
        embeddings_deleted=result.faces_deleted,
        face_crops_deleted=result.crops_deleted,
        gallery_version=gallery_version,
    )


GalleryModelId = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="The face model whose gallery is wanted (docs/galleries.md); default: the "
        "hub's own model.",
    ),
]


async def _gallery_response(
    runtime: Runtime, version: int | None, model_id: str | None = None
) -> Response:
    try:
        record, data = await runtime.gallery.artefact(version, model_id)
    except GalleryNotFoundError as err:
        raise HTTPException(status_code=404, detail=field_error("version", str(err))) from err
    except GalleryError as err:
        logger.warning("gallery artefact unavailable: %s", err)
        raise HTTPException(status_code=503, detail=str(err)) from err
    return Response(
        content=data,
        media_type="application/json",
        headers={"X-Content-SHA256": record.sha256, "X-Gallery-Version": str(record.version)},
    )


@router.get("/gallery/latest", response_class=Response)
async def latest_gallery(
    runtime: Runtime, _caller: GalleryReader, model_id: GalleryModelId = None
) -> Response:
    """The newest GallerySnapshot of ``model_id`` (JSON bytes exactly as hashed)."""
    return await _gallery_response(runtime, None, model_id)


@router.get("/gallery/{version}", response_class=Response)
async def gallery_version(
    runtime: Runtime,
    _caller: GalleryReader,
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
    model_id: GalleryModelId = None,
) -> Response:
    """One GallerySnapshot by version (JSON bytes exactly as hashed); 404 when ``model_id`` is
    given and the version is another model's."""
    return await _gallery_response(runtime, version, model_id)


class GalleryModelStatus(BaseModel):
    """One face model of the fleet: its gallery and the back-fill of its templates."""

    model_id: str
    origin: str = Field(description="hub | config | heartbeat")
    templates: int
    gallery_version: int | None
    people: int | None
    backfill_status: str = Field(description="pending | running | done | failed")
    backfill_total: int
    backfill_done: int
    backfill_failed: int
    backfill_error: str | None
    backfill_updated_at: datetime | None


@router.get("/galleries", response_model=list[GalleryModelStatus])
async def galleries(runtime: Runtime, _caller: GalleryReader) -> list[GalleryModelStatus]:
    """Every face model the hub keeps a gallery for, with its back-fill's progress."""
    found = await runtime.gallery.model_states()
    return [GalleryModelStatus(**asdict(each)) for each in found]
