"""Computer-vision endpoints: health, face recognition, enrolment/revocation, stored templates
and the gallery artefact.

Access: health is open but shows only ``status`` without ``cv:read``; recognition needs
``cv:read``; enrolment and deletion need ``cv:write`` (enrolment is rate limited per caller) and
are audited; reading stored templates (biometric data) needs ``admin`` and is audited, its
answer is never cached or logged; gallery downloads take an enrolled device's token or
``cv:read``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from contracts.ids import ID_PATTERN
from hub.api.auth import AdminUser, CvEnroller, CvReader, CvWriter, GalleryReader, MaybePrincipal
from hub.api.deps import Cv, Runtime, Session
from hub.api.errors import field_error, image_http_error
from hub.api.params import StorableText
from hub.api.routes.metrics import CvMetrics, cv_metrics_of
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
    NoUsableFaceError,
)
from hub.tables import AuditLog
from hub.vision.faces import Recognition
from hub.vision.services import gpu_devices
from models.faces import FaceBox, ModelUnavailableError
from models.session import available_providers

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/cv", tags=["cv"])

EmployeeId = Annotated[str, Field(pattern=ID_PATTERN)]
Metrics = Annotated[CvMetrics, Depends(cv_metrics_of)]
# not an AuditAction member (hub/audit.py is not this module's): reading stored templates
EMBEDDING_READ_ACTION = "face.embedding.read"
_NOT_YET = "not loaded yet: loads on first use"


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


class HealthResponse(BaseModel):
    """``status`` for everyone; the details only for callers with ``cv:read``."""

    status: str = Field(description="ok | degraded")
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


class Box(BaseModel):
    x: int
    y: int
    w: int
    h: int

    @classmethod
    def of(cls, box: FaceBox) -> Box:
        return cls(x=box.x, y=box.y, w=box.w, h=box.h)


class RecognizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(
        min_length=1, description="Base64 JPEG or PNG photo (a data: URL prefix is accepted)."
    )
    check_liveness: bool = Field(
        default=False,
        description="Refuse faces that fail single-image liveness; needs the passive "
        "anti-spoofing model (status liveness_unavailable without it).",
    )


class LivenessOut(BaseModel):
    checked: bool
    is_live: bool | None
    score: float | None
    model_id: str | None
    reason: str | None


class RecognizeResponse(BaseModel):
    success: bool
    status: str = Field(
        description="success | no_face_detected | face_too_small | face_not_found | "
        "liveness_check_failed | liveness_unavailable"
    )
    message: str
    employee_id: str | None
    name: str | None
    confidence: float | None = Field(
        description="Cosine similarity to the nearest enrolled face (also when below the "
        "threshold: it never implies that person)."
    )
    threshold: float
    face_location: Box | None
    faces_detected: int
    quality: float | None
    liveness: LivenessOut | None
    model_id: str
    gallery_version: int | None
    recognition_time_ms: float


class StoredFaceOut(BaseModel):
    face_id: int
    model_id: str
    dim: int
    quality: float
    created_at: datetime
    embedding: list[float]


class EmbeddingsResponse(BaseModel):
    employee_id: str
    faces: list[StoredFaceOut]


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    employee_id: EmployeeId
    name: Annotated[str, Field(min_length=1, max_length=200), StorableText] | None = Field(
        default=None, description="Creates the employee when absent."
    )
    images: Annotated[list[str], Field(min_length=1, max_length=MAX_ENROLL_IMAGES)] = Field(
        description="Base64 JPEG or PNG photos (a data: URL prefix is accepted)."
    )
    replace_existing: bool = False


class EnrollImage(BaseModel):
    index: int
    accepted: bool
    quality: float | None = Field(description="0..1 from the face's size and sharpness")
    faces_found: int
    reason: str | None


class EnrollResponse(BaseModel):
    success: bool
    employee_id: str
    employee_created: bool
    faces_enrolled: int
    quality_scores: list[float] = Field(description="One per enrolled face, in image order.")
    images: list[EnrollImage] = Field(description="One per uploaded image.")
    warnings: list[str]
    gallery_version: int | None


class RemoveResponse(BaseModel):
    success: bool
    employee_id: str
    faces_deleted: int
    face_crops_deleted: int
    gallery_version: int | None


# credentials are optional here: the empty requirement tells OpenAPI clients so
@router.get("/health", response_model=HealthResponse, openapi_extra={"security": [{}]})
async def health(
    request: Request, runtime: Runtime, cv: Cv, principal: MaybePrincipal
) -> HealthResponse:
    db_error = await runtime.check_database()
    storage_error = await runtime.check_storage()
    try:
        analyzer = await runtime.faces.get()
        face = FaceModelStatus(loaded=True, model_id=analyzer.model_id)
    except ModelUnavailableError as err:
        face = FaceModelStatus(loaded=False, reason=str(err))
    ingest = runtime.ingest
    ingest_status = IngestStatus(
        enabled=ingest is not None, connected=ingest is not None and ingest.connected
    )
    gallery = None
    if db_error is None:
        latest = await runtime.gallery.latest()
        if latest is not None:
            gallery = GalleryStatus(
                version=latest.version,
                sha256=latest.sha256,
                model_id=latest.model_id,
                people=latest.people,
            )
    healthy = (
        db_error is None
        and storage_error is None
        and face.loaded
        and (ingest is None or ingest.connected)
    )
    status = "ok" if healthy else "degraded"
    if principal is None or not grants(principal.scopes, Scope.CV_READ):
        return HealthResponse(status=status)
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
    return HealthResponse(
        status=status,
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


@router.post("/face/recognize", response_model=RecognizeResponse)
async def recognize_face(
    runtime: Runtime, cv: Cv, metrics: Metrics, _caller: CvReader, request: RecognizeRequest
) -> RecognizeResponse:
    """Who is this? The largest face in the photo against the gallery of enrolled employees.

    A face below the threshold is ``face_not_found`` (never "the nearest person"); with
    ``check_liveness`` a face that fails liveness is ``liveness_check_failed``, and without the
    passive liveness model the answer is ``liveness_unavailable`` (nothing is recognised).
    """
    try:
        analyzer = await runtime.faces.get()
    except ModelUnavailableError as err:
        raise HTTPException(status_code=503, detail=f"face model unavailable: {err}") from err
    image = await decode_upload(request.image, max_bytes=runtime.settings.max_upload_bytes)
    result = await cv.faces.recognize(analyzer, image, check_liveness=request.check_liveness)
    _count(metrics, result)
    liveness = result.liveness
    return RecognizeResponse(
        success=result.success,
        status=result.status,
        message=result.message,
        employee_id=result.employee_id,
        name=result.name,
        confidence=result.confidence,
        threshold=cv.faces.threshold,
        face_location=Box.of(result.face_location) if result.face_location else None,
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
        recognition_time_ms=result.recognition_time_ms,
    )


def _count(metrics: CvMetrics, result: Recognition) -> None:
    metrics.recognitions.labels(result.status).inc()
    metrics.recognition_latency.observe(result.recognition_time_ms / 1000.0)
    if result.status == "success":
        metrics.faces_recognized.inc()
    elif result.status == "face_not_found":
        metrics.faces_unknown.inc()
    elif result.status == "liveness_check_failed":
        metrics.liveness_failures.inc()


@router.get("/face/embedding/{employee_id}", response_model=EmbeddingsResponse)
async def face_embeddings(
    runtime: Runtime,
    session: Session,
    principal: AdminUser,
    response: Response,
    employee_id: Annotated[str, Path(pattern=ID_PATTERN)],
) -> EmbeddingsResponse:
    """The employee's stored face templates (biometric data: ``admin`` only, audited, never
    cached). For export (data-subject access) and re-indexing."""
    try:
        faces = await runtime.gallery.stored_faces(employee_id)
    except EmployeeNotFoundError as err:
        raise HTTPException(status_code=404, detail=field_error(err.field, err.reason)) from err
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
        faces=[
            StoredFaceOut(
                face_id=f.face_id,
                model_id=f.model_id,
                dim=f.dim,
                quality=f.quality,
                created_at=f.created_at,
                embedding=f.embedding,
            )
            for f in faces
        ],
    )


@router.post("/face/enroll", response_model=EnrollResponse)
async def enroll_face(
    runtime: Runtime,
    session: Session,
    metrics: Metrics,
    principal: CvEnroller,
    request: EnrollRequest,
) -> EnrollResponse:
    try:
        analyzer = await runtime.faces.get()
    except ModelUnavailableError as err:
        raise HTTPException(status_code=503, detail=f"face model unavailable: {err}") from err
    try:
        result = await runtime.gallery.enroll(
            analyzer,
            employee_id=request.employee_id,
            name=request.name,
            images_b64=request.images,
            replace_existing=request.replace_existing,
        )
    except EmployeeNotFoundError as err:
        raise HTTPException(status_code=404, detail=field_error(err.field, err.reason)) from err
    except ImageRejectedError as err:
        raise image_http_error(err.field, err.code, err.reason) from err
    except NoUsableFaceError as err:
        detail = [_warning_as_error(w) for w in err.warnings] or field_error("images", err.reason)
        raise HTTPException(status_code=422, detail=detail) from err
    except EnrollmentError as err:
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
    return EnrollResponse(
        success=True,
        employee_id=result.employee_id,
        employee_created=result.employee_created,
        faces_enrolled=result.faces_enrolled,
        quality_scores=result.quality_scores,
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
        warnings=result.warnings,
        gallery_version=gallery_version,
    )


@router.delete("/face/{employee_id}", response_model=RemoveResponse)
async def remove_faces(
    runtime: Runtime,
    session: Session,
    principal: CvWriter,
    employee_id: Annotated[str, Path(pattern=ID_PATTERN)],
) -> RemoveResponse:
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
        faces_deleted=result.faces_deleted,
        face_crops_deleted=result.crops_deleted,
        gallery_version=gallery_version,
    )


def _warning_as_error(warning: str) -> dict[str, str]:
    """'images[1]: no face found' -> {field: images[1], reason: no face found}."""
    field, _, reason = warning.partition(": ")
    return field_error(field, reason) if reason else field_error("images", warning)


async def _gallery_response(runtime: Runtime, version: int | None) -> Response:
    try:
        record, data = await runtime.gallery.artefact(version)
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
async def latest_gallery(runtime: Runtime, _caller: GalleryReader) -> Response:
    """The newest GallerySnapshot (JSON bytes exactly as hashed)."""
    return await _gallery_response(runtime, None)


@router.get("/gallery/{version}", response_class=Response)
async def gallery_version(
    runtime: Runtime, _caller: GalleryReader, version: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> Response:
    """One GallerySnapshot by version (JSON bytes exactly as hashed)."""
    return await _gallery_response(runtime, version)
