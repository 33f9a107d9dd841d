"""Computer-vision endpoints: health, face enrolment/revocation and the gallery artefact.

Access: health is open but shows only ``status`` without ``cv:read``; enrolment and deletion
need ``cv:write`` (enrolment is rate limited per caller) and are audited; gallery downloads take
an enrolled device's token or ``cv:read``.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from contracts.ids import ID_PATTERN
from hub.api.auth import CvEnroller, CvWriter, GalleryReader, MaybePrincipal
from hub.api.deps import Runtime, Session
from hub.api.errors import field_error
from hub.api.params import StorableText
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
from models.faces import ModelUnavailableError

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/cv", tags=["cv"])

EmployeeId = Annotated[str, Field(pattern=ID_PATTERN)]

_IMAGE_STATUS = {
    "not_base64": 422,
    "too_large": 413,
    "unsupported_type": 415,
    "undecodable": 422,
    "too_small": 422,
}


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


class HealthResponse(BaseModel):
    """``status`` for everyone; the details only for callers with ``cv:read``."""

    status: str = Field(description="ok | degraded")
    database: CheckResult | None = None
    storage: CheckResult | None = None
    face_model: FaceModelStatus | None = None
    ingest: IngestStatus | None = None
    gallery: GalleryStatus | None = None


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


class EnrollResponse(BaseModel):
    success: bool
    employee_id: str
    employee_created: bool
    faces_enrolled: int
    quality_scores: list[float]
    warnings: list[str]
    gallery_version: int | None


class RemoveResponse(BaseModel):
    success: bool
    employee_id: str
    faces_deleted: int
    gallery_version: int | None


# credentials are optional here: the empty requirement tells OpenAPI clients so
@router.get("/health", response_model=HealthResponse, openapi_extra={"security": [{}]})
async def health(runtime: Runtime, principal: MaybePrincipal) -> HealthResponse:
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
    return HealthResponse(
        status=status,
        database=CheckResult(ok=db_error is None, detail=db_error),
        storage=CheckResult(ok=storage_error is None, detail=storage_error),
        face_model=face,
        ingest=ingest_status,
        gallery=gallery,
    )


@router.post("/face/enroll", response_model=EnrollResponse)
async def enroll_face(
    runtime: Runtime, session: Session, principal: CvEnroller, request: EnrollRequest
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
        status = _IMAGE_STATUS.get(err.code, 422)
        raise HTTPException(status_code=status, detail=field_error(err.field, err.reason)) from err
    except NoUsableFaceError as err:
        detail = [_warning_as_error(w) for w in err.warnings] or field_error("images", err.reason)
        raise HTTPException(status_code=422, detail=detail) from err
    except EnrollmentError as err:
        raise HTTPException(status_code=422, detail=field_error(err.field, err.reason)) from err
    gallery_version = result.gallery.version if result.gallery is not None else None
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
        detail={"faces_deleted": result.faces_deleted, "gallery_version": gallery_version},
    )
    await session.commit()
    return RemoveResponse(
        success=True,
        employee_id=result.employee_id,
        faces_deleted=result.faces_deleted,
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
