"""/console/api/people: the People and Search pages' face review (issue 18 items 5 and 6).

- ``POST /check`` (``cv:write``): the enrolment gate's verdict per photo, nothing stored.
- ``GET /clusters`` (``cv:write``): recent unknown face events, re-embedded by the hub's own
  face model and grouped into clusters (hub/vision/face_review.py).
- ``POST /clusters/name`` (``cv:write``): name a cluster in one step: its crops are enrolled
  for an existing or new employee (a recorded consent is needed: 422 naming ``consent``
  otherwise) and its events are attributed to them; audited.
- ``POST /clusters/dismiss`` (``cv:write``): the cluster's events and crops are deleted now;
  audited.
- ``POST /events/{event_id}/not-this-person`` (``cv:write``): a wrong match becomes unknown,
  and the event remembers whom it is not; audited.
- ``GET /events/{event_id}/crop`` (``cv:write``): the event's face crop (never cached).
- ``POST /search`` (``admin``: whereabouts of people, as ``/cv/face/recognitions``): face
  events whose crop matches a photo; a stated ``purpose`` is required and audited.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from contracts.ids import ID_PATTERN
from hub.api.auth import AdminUser, CvEnroller, CvWriter
from hub.api.deps import HubRuntime, Runtime, Session
from hub.api.errors import field_error, image_http_error
from hub.api.params import StorableText
from hub.api.uploads import decode_upload
from hub.gallery import (
    MAX_ENROLL_IMAGES,
    EmployeeNotFoundError,
    EnrollmentError,
    ImageRejectedError,
)
from hub.tables import AuditLog
from hub.vision.face_review import (
    Cluster,
    FaceReview,
    FaceReviewError,
    largest_face_vector,
    photo_verdicts,
)
from models.faces import FaceAnalyzer, ModelUnavailableError

router = APIRouter(prefix="/console/api/people", tags=["console"])

CLUSTER_NAME_ACTION = "face.cluster.name"
CLUSTER_DISMISS_ACTION = "face.cluster.dismiss"
NOT_THIS_PERSON_ACTION = "face.match.reject"
FACE_SEARCH_ACTION = "face.search"
MAX_CLUSTER_EVENTS = 200
_FORBID = ConfigDict(extra="forbid")
_STATE_LOCK = threading.Lock()

EmployeeId = Annotated[str, Field(pattern=ID_PATTERN, max_length=64)]
Text200 = Annotated[str, Field(min_length=1, max_length=200), StorableText]


def face_review_of(request: Request) -> FaceReview:
    """The app's :class:`FaceReview` (its embedding cache lives as long as the app)."""
    state = request.app.state
    with _STATE_LOCK:
        found: FaceReview | None = getattr(state, "face_review", None)
        if found is None:
            runtime: HubRuntime = state.hub
            found = FaceReview(runtime.session_factory, runtime.store)
            state.face_review = found
    return found


Review = Annotated[FaceReview, Depends(face_review_of)]


async def _analyzer(runtime: HubRuntime) -> FaceAnalyzer:
    try:
        return await runtime.faces.get()
    except ModelUnavailableError as err:
        raise HTTPException(status_code=503, detail=f"face model unavailable: {err}") from err


def _review_error(err: FaceReviewError) -> HTTPException:
    return HTTPException(status_code=err.status, detail=field_error(err.field, err.reason))


# -- photo check ------------------------------------------------------------------------------


class CheckIn(BaseModel):
    model_config = _FORBID

    images: Annotated[list[str], Field(min_length=1, max_length=MAX_ENROLL_IMAGES)] = Field(
        description="Base64 JPEG or PNG photos (a data: URL prefix is accepted)."
    )


class PhotoVerdictOut(BaseModel):
    index: int
    accepted: bool
    code: str = Field(
        description="ok | no_face | several_faces | below_quality_gate | not_same_person"
    )
    quality: float | None = Field(description="0..1 from the face's size and sharpness")
    faces_found: int
    reason: str | None


class CheckOut(BaseModel):
    images: list[PhotoVerdictOut]
    accepted: int


@router.post("/check", response_model=CheckOut)
async def check_photos(runtime: Runtime, _caller: CvEnroller, body: CheckIn) -> CheckOut:
    """The enrolment gate's verdict on each photo (face found, alone, quality, same person),
    before anything is stored: enrolment (``POST /api/v1/cv/face/enroll``) refuses a set with
    any rejected photo."""
    analyzer = await _analyzer(runtime)
    images = [
        await decode_upload(text, max_bytes=runtime.settings.max_upload_bytes, field=f"images[{i}]")
        for i, text in enumerate(body.images)
    ]
    verdicts = await asyncio.to_thread(
        photo_verdicts, analyzer, images, runtime.settings.face_match_threshold
    )
    return CheckOut(
        images=[
            PhotoVerdictOut(
                index=v.index,
                accepted=v.accepted,
                code=v.code,
                quality=v.quality,
                faces_found=v.faces_found,
                reason=v.reason,
            )
            for v in verdicts
        ],
        accepted=sum(1 for v in verdicts if v.accepted),
    )


# -- clusters ---------------------------------------------------------------------------------


class ClusterOut(BaseModel):
    cluster_id: str = Field(description="the event id of the cluster's first face")
    size: int
    event_ids: list[uuid.UUID] = Field(description="oldest first")
    first_seen: datetime
    last_seen: datetime
    cameras: list[str]
    cohesion: float = Field(description="lowest cosine of a member to the cluster's centroid")


class ClustersOut(BaseModel):
    clusters: list[ClusterOut]
    events_scanned: int
    without_face: int = Field(description="crops in which the hub's model found no face")
    threshold: float
    model_id: str
    days: int


def _cluster_out(cluster: Cluster) -> ClusterOut:
    members = cluster.members
    return ClusterOut(
        cluster_id=cluster.cluster_id,
        size=len(members),
        event_ids=[m.event_id for m in members],
        first_seen=members[0].started_at,
        last_seen=members[-1].started_at,
        cameras=sorted({m.camera_id for m in members}),
        cohesion=cluster.cohesion(),
    )


@router.get("/clusters", response_model=ClustersOut)
async def unknown_clusters(
    runtime: Runtime,
    review: Review,
    _caller: CvWriter,
    response: Response,
    days: Annotated[int, Query(ge=1, le=90)] = 7,
) -> ClustersOut:
    """Unknown faces of the last ``days`` grouped by the hub's own embeddings (the match
    threshold as the clustering cosine); largest cluster first."""
    analyzer = await _analyzer(runtime)
    threshold = runtime.settings.face_match_threshold
    clusters, scan = await review.clusters(analyzer, days=days, threshold=threshold)
    response.headers["Cache-Control"] = "no-store"
    return ClustersOut(
        clusters=[_cluster_out(c) for c in clusters],
        events_scanned=scan.events_seen,
        without_face=scan.without_face,
        threshold=threshold,
        model_id=analyzer.model_id,
        days=days,
    )


EventIds = Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_CLUSTER_EVENTS)]


class NameIn(BaseModel):
    model_config = _FORBID

    event_ids: EventIds = Field(description="the cluster's events (as listed)")
    employee_id: EmployeeId
    name: Text200 | None = Field(default=None, description="needed to create a new employee")
    department: Text200 | None = None
    position: Text200 | None = None


class NameOut(BaseModel):
    employee_id: str
    employee_created: bool
    embeddings_created: int
    events_named: int
    quality_scores: list[float]
    warnings: list[str]
    gallery_version: int | None


def _unique(ids: list[uuid.UUID]) -> None:
    if len(set(ids)) != len(ids):
        raise HTTPException(status_code=422, detail=field_error("event_ids", "repeated event id"))


def _as_event_field(field: str) -> str:
    """``images[2]`` (enrolment's photo) -> ``event_ids[2]`` (the crop it came from)."""
    return field.replace("images[", "event_ids[", 1) if field.startswith("images[") else field


@router.post("/clusters/name", response_model=NameOut)
async def name_cluster(
    runtime: Runtime, review: Review, session: Session, principal: CvEnroller, body: NameIn
) -> NameOut:
    """Enrol the cluster's crops (the best ten, by the events' order) for ``employee_id``
    (created with ``name`` when new) and attribute its events to them. Needs a recorded face
    consent (422 naming ``consent``); a crop failing the gate is a 422 naming its event."""
    _unique(body.event_ids)
    analyzer = await _analyzer(runtime)
    try:
        events = await review.unknown_events(body.event_ids, naming=body.employee_id)
        crops = await review.crops(events[:MAX_ENROLL_IMAGES])
    except FaceReviewError as err:
        raise _review_error(err) from err
    try:
        result = await runtime.gallery.enroll(
            analyzer,
            employee_id=body.employee_id,
            name=body.name,
            images_b64=[base64.b64encode(c).decode() for c in crops],
            department=body.department,
            position=body.position,
        )
    except EmployeeNotFoundError as err:
        raise HTTPException(status_code=404, detail=field_error(err.field, err.reason)) from err
    except ImageRejectedError as err:
        raise image_http_error(_as_event_field(err.field), err.code, err.reason) from err
    except EnrollmentError as err:
        raise HTTPException(
            status_code=422, detail=field_error(_as_event_field(err.field), err.reason)
        ) from err
    named = await review.label(body.event_ids, body.employee_id)
    gallery_version = result.gallery.version if result.gallery is not None else None
    session.add(
        AuditLog(
            actor=principal.actor,
            action=CLUSTER_NAME_ACTION,
            target=f"employee:{result.employee_id}",
            detail={
                "events": named,
                "faces": result.faces_enrolled,
                "employee_created": result.employee_created,
                "gallery_version": gallery_version,
            },
        )
    )
    await session.commit()
    return NameOut(
        employee_id=result.employee_id,
        employee_created=result.employee_created,
        embeddings_created=result.faces_enrolled,
        events_named=named,
        quality_scores=result.quality_scores,
        warnings=result.warnings,
        gallery_version=gallery_version,
    )


class DismissIn(BaseModel):
    model_config = _FORBID

    event_ids: EventIds


class DismissOut(BaseModel):
    events_deleted: int
    crops_deleted: int


@router.post("/clusters/dismiss", response_model=DismissOut)
async def dismiss_cluster(
    review: Review, session: Session, principal: CvWriter, body: DismissIn
) -> DismissOut:
    """Delete the cluster's unknown face events and their crops now (before retention)."""
    _unique(body.event_ids)
    try:
        events = await review.unknown_events(body.event_ids)
    except FaceReviewError as err:
        raise _review_error(err) from err
    rows, crops = await review.dismiss(events)
    session.add(
        AuditLog(
            actor=principal.actor,
            action=CLUSTER_DISMISS_ACTION,
            target=f"event:{body.event_ids[0]}",
            detail={"events": rows, "crops": crops, "asked": len(body.event_ids)},
        )
    )
    await session.commit()
    return DismissOut(events_deleted=rows, crops_deleted=crops)


# -- a wrong match ----------------------------------------------------------------------------


class NotThisPersonOut(BaseModel):
    event_id: uuid.UUID
    was_matched_to: str
    attendance_rows: int = Field(
        description="attendance rows this match fed: correct them on the Attendance page"
    )


@router.post("/events/{event_id}/not-this-person", response_model=NotThisPersonOut)
async def not_this_person(
    review: Review, session: Session, principal: CvWriter, event_id: uuid.UUID
) -> NotThisPersonOut:
    """The event's match was wrong: it becomes an unknown face (and may join a cluster), and
    naming it back as that employee is refused (409)."""
    try:
        wrong, linked = await review.not_this_person(event_id)
    except FaceReviewError as err:
        raise _review_error(err) from err
    session.add(
        AuditLog(
            actor=principal.actor,
            action=NOT_THIS_PERSON_ACTION,
            target=f"event:{event_id}",
            detail={"employee": wrong, "attendance_rows": linked},
        )
    )
    await session.commit()
    return NotThisPersonOut(event_id=event_id, was_matched_to=wrong, attendance_rows=linked)


@router.get(
    "/events/{event_id}/crop",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def event_crop(
    review: Review, _caller: CvWriter, event_id: Annotated[uuid.UUID, Path()]
) -> Response:
    """The face crop of a face event (biometric: ``cv:write``, never cached)."""
    try:
        data = await review.crop_of(event_id)
    except FaceReviewError as err:
        raise _review_error(err) from err
    return Response(content=data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


# -- face search ------------------------------------------------------------------------------


class SearchIn(BaseModel):
    model_config = _FORBID

    image: str = Field(description="Base64 JPEG or PNG photo of the person")
    purpose: Annotated[str, Field(min_length=10, max_length=200), StorableText] = Field(
        description="why this search is made (audited)"
    )
    days: Annotated[int, Field(ge=1, le=90)] = 30
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class SearchHitOut(BaseModel):
    event_id: uuid.UUID
    camera_id: str
    device_id: str
    started_at: datetime
    person_id: str | None
    similarity: float


class SearchOut(BaseModel):
    items: list[SearchHitOut]
    events_scanned: int
    threshold: float
    audit_id: int


@router.post("/search", response_model=SearchOut)
async def face_search(
    runtime: Runtime, review: Review, session: Session, principal: AdminUser, body: SearchIn
) -> SearchOut:
    """Face events of the last ``days`` whose crop matches the photo's largest face (cosine at
    or above the match threshold), most similar first. ``admin`` only; ``purpose`` and the
    number of hits are audited; never cached."""
    analyzer = await _analyzer(runtime)
    image = await decode_upload(body.image, max_bytes=runtime.settings.max_upload_bytes)
    probe = await asyncio.to_thread(largest_face_vector, analyzer, image)
    if probe is None:
        raise HTTPException(status_code=422, detail=field_error("image", "no face found"))
    threshold = runtime.settings.face_match_threshold
    hits, scan = await review.search(
        analyzer, probe, days=body.days, threshold=threshold, limit=body.limit
    )
    row = AuditLog(
        actor=principal.actor,
        action=FACE_SEARCH_ACTION,
        target="events:face",
        detail={"purpose": body.purpose, "days": body.days, "hits": len(hits)},
    )
    session.add(row)
    await session.commit()
    return SearchOut(
        items=[
            SearchHitOut(
                event_id=h.sample.event_id,
                camera_id=h.sample.camera_id,
                device_id=h.sample.device_id,
                started_at=h.sample.started_at,
                person_id=h.sample.person_id,
                similarity=h.similarity,
            )
            for h in hits
        ],
        events_scanned=scan.events_seen,
        threshold=threshold,
        audit_id=int(row.id or 0),
    )
