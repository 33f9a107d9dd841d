"""``/api/v1/hotel/lost-found``: lost reports, found items and the matches the hub proposes
between them (issue 16 item 5; the logic is hub/lost_found, the guest's notification and the
return task hub/flows/lost_found.py).

A found item's photo is required; a lost report's is optional. Both are stored in the object
store and indexed in the image search's ``lost_found`` category (``/api/v1/cv/image/search``
finds them, metadata ``kind``: ``found`` or ``lost``). Reports and found items are matched when
they arrive: the hub compares the photos' embeddings and the descriptions' words itself and
stores the pairs that score high enough as ``proposed`` matches. Staff confirm or reject a
proposal; only a confirmation tells the guest (e-mail) and books the return to the guest's room.

Access: reading ``hotel:read``; reporting, re-matching, returning, closing and disposing
``hotel:write`` (front desk, housekeeping, managers); confirming and rejecting a match
``hotel:write`` and ``flows:run`` (managers). The reporter's name and contact come back in clear
only with ``hotel:pii``. Every write is audited with ids only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Security
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.api.auth import Authorize, authorize
from hub.api.deps import HubRuntime, Runtime
from hub.api.errors import field_error
from hub.api.params import StorableText, UtcDateTime
from hub.api.uploads import decode_upload_keeping_bytes
from hub.auth.principal import Principal
from hub.auth.scopes import Scope, grants
from hub.db import SessionFactory
from hub.flows import lost_found as lost_found_flow
from hub.flows.context import FlowDeps
from hub.flows.hooks import HubFlowHooks
from hub.hotel.errors import HotelError
from hub.lost_found import matching, records
from hub.lost_found.photos import PhotoIndex, PhotoKind
from hub.lost_found.records import FoundFields, LostFields
from hub.lost_found.scoring import IMAGE_WEIGHT, PROPOSE_AT, TEXT_WEIGHT
from hub.notify.base import NotifyError
from hub.tables import FoundItem, LostFoundMatch, LostItem, utcnow
from hub.vision.image_search import (
    ImageSearchService,
    ImageSearchUnavailableError,
    IndexedImage,
    public_image_id,
)

router = APIRouter(prefix="/api/v1/hotel/lost-found", tags=["lost-found"])

Reader = Annotated[Principal, Security(authorize, scopes=[Scope.HOTEL_READ])]
Writer = Annotated[Principal, Security(authorize, scopes=[Scope.HOTEL_WRITE])]
Reporter = Annotated[
    Principal, Security(Authorize(rate_limit="lost and found photo"), scopes=[Scope.HOTEL_WRITE])
]
Confirmer = Annotated[Principal, Security(authorize, scopes=[Scope.HOTEL_WRITE, Scope.FLOWS_RUN])]

T = TypeVar("T")
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]
Description = Annotated[str, Field(min_length=1, max_length=500), StorableText]
Place = Annotated[str, Field(min_length=1, max_length=128), StorableText]
Photo = Annotated[
    str,
    Field(
        min_length=1,
        description="base64 JPEG or PNG (a data: URL prefix is accepted)",
    ),
]
LostStatus = Literal["open", "matched", "found", "returned", "closed"]
FoundStatus = Literal["open", "claimed", "returned", "disposed"]
MatchStatus = Literal["proposed", "confirmed", "rejected"]

SCORING = (
    f"score = {IMAGE_WEIGHT} x image similarity + {TEXT_WEIGHT} x text similarity (text alone "
    f"when the report has no photo); proposed from {PROPOSE_AT}"
)

# -- bodies -----------------------------------------------------------------------------------


class LostReportIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "description": "black leather wallet",
                    "guest_id": "GUEST001",
                    "lost_location": "Floor 2 hallway",
                    "lost_at": "2025-01-15T09:30:00Z",
                },
                {
                    "description": "white coffee cup with a saucer",
                    "reporter_name": "Nguyen Van A",
                    "reporter_contact": "a@example.com",
                    "photo": "base64_encoded_image",
                },
            ]
        },
    )

    description: Description = Field(description="what was lost, in the guest's words")
    guest_id: Annotated[str, Field(min_length=1, max_length=32), StorableText] | None = Field(
        default=None, description="the hotel's guest id (GUEST001); else reporter_name+contact"
    )
    reporter_name: Annotated[str, Field(min_length=1, max_length=200), StorableText] | None = Field(
        default=None, description="who lost it, when not a known guest (encrypted)"
    )
    reporter_contact: Annotated[str, Field(min_length=3, max_length=254), StorableText] | None = (
        Field(default=None, description="an e-mail address or a phone number (encrypted)")
    )
    lost_location: Place | None = Field(default=None, description="where it was lost")
    lost_at: UtcDateTime | None = Field(default=None, description="when it was lost")
    photo: Photo | None = Field(default=None, description="a photo of the item (optional)")


class FoundItemIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "description": "black wallet",
                    "location": "Floor 2 hallway",
                    "found_at": "2025-01-15T10:00:00Z",
                    "found_by": "EMP005",
                    "photo": "base64_encoded_image",
                }
            ]
        },
    )

    description: Description
    location: Place = Field(description="where it was found")
    found_at: UtcDateTime
    found_by: Annotated[str, Field(min_length=1, max_length=64), StorableText] = Field(
        description="the employee id of who found it"
    )
    photo: Photo = Field(description="a photo of the item (required)")


# -- answers ------------------------------------------------------------------------------------


class MatchOut(BaseModel):
    match_id: int
    lost_item_id: int
    found_item_id: int
    score: float = Field(description=SCORING)
    image_similarity: float | None = Field(
        description="cosine similarity of the two photos' embeddings; null without a photo"
    )
    text_similarity: float = Field(description="shared words / sqrt(words of each)")
    status: MatchStatus
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None


class LostOut(BaseModel):
    lost_item_id: int
    status: LostStatus
    description: str
    guest_id: str | None = Field(description="the hotel's guest id, when a guest reported it")
    reporter_name: str | None = Field(description="null without hotel:pii (pii_redacted)")
    reporter_contact: str | None
    pii_redacted: bool
    lost_location: str | None
    lost_at: datetime | None
    reported_at: datetime
    reported_by: str | None
    photo_id: str | None = Field(description="the photo's image id (/api/v1/cv/image/{id})")
    found_item_id: int | None
    found_location: str | None
    found_at: datetime | None
    matches: list[MatchOut] = Field(description="its matches, best first")


class FoundOut(BaseModel):
    found_item_id: int
    status: FoundStatus
    description: str
    location: str
    found_at: datetime
    found_by: str
    photo_id: str
    lost_item_id: int | None = Field(description="the report a confirmed match gave it to")
    created_at: datetime
    created_by: str
    matches: list[MatchOut]


class LostPage(BaseModel):
    items: list[LostOut]
    total: int
    limit: int
    offset: int


class FoundPage(BaseModel):
    items: list[FoundOut]
    total: int
    limit: int
    offset: int


class MatchList(BaseModel):
    items: list[MatchOut]


class ConfirmOut(BaseModel):
    match: MatchOut
    lost_item: LostOut
    notified: dict[str, Any] | None = Field(description="the e-mail to the guest, if any")
    return_task_id: int | None = Field(description="the housekeeping task bringing it back")
    room_number: str | None


# -- helpers ------------------------------------------------------------------------------------


async def _run(work: Callable[[], Awaitable[T]]) -> T:
    """Runs lost & found logic; its errors become the API's 4xx (503: no image search)."""
    try:
        return await work()
    except HotelError as err:
        raise HTTPException(err.status, detail=field_error(err.field, err.reason)) from err
    except ImageSearchUnavailableError as err:
        raise HTTPException(503, detail=f"image search unavailable: {err}") from err


def _images(runtime: HubRuntime) -> ImageSearchService:
    if runtime.image_search is None:
        raise HTTPException(503, detail="image search is not configured")
    return runtime.image_search


def _photos(runtime: HubRuntime) -> PhotoIndex:
    return PhotoIndex(_images(runtime), runtime.session_factory)


def _deps(runtime: HubRuntime) -> FlowDeps:
    hooks = runtime.flow_hooks
    if not isinstance(hooks, HubFlowHooks):
        raise HTTPException(503, detail="the flow hooks are not running")
    return hooks.deps


def _match(row: LostFoundMatch) -> MatchOut:
    return MatchOut(
        match_id=row.id or 0,
        lost_item_id=row.lost_item_id,
        found_item_id=row.found_item_id,
        score=row.score,
        image_similarity=row.image_similarity,
        text_similarity=row.text_similarity or 0.0,
        status=row.status,
        created_at=row.created_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
    )


def _photo_id(image_id: int | None) -> str | None:
    return None if image_id is None else public_image_id(image_id, "lost_found")


async def _lost_out(runtime: HubRuntime, row: LostItem, principal: Principal) -> LostOut:
    assert row.id is not None  # noqa: S101 - stored rows
    pii = grants(principal.scopes, Scope.HOTEL_PII)
    has_pii = row.reporter_name is not None or row.reporter_contact is not None
    async with runtime.session_factory() as session:
        guest_ref = await records.guest_ref_of(session, row.guest_id)
        matches = await records.matches_of(session, lost_item_id=row.id)
    return LostOut(
        lost_item_id=row.id,
        status=row.status,
        description=row.description,
        guest_id=guest_ref,
        reporter_name=row.reporter_name if pii else None,
        reporter_contact=row.reporter_contact if pii else None,
        pii_redacted=has_pii and not pii,
        lost_location=row.lost_location,
        lost_at=row.lost_at,
        reported_at=row.reported_at,
        reported_by=row.reported_by,
        photo_id=_photo_id(row.reported_image_id),
        found_item_id=row.found_item_id,
        found_location=row.found_location,
        found_at=row.found_at,
        matches=[_match(m) for m in matches],
    )


async def _found_out(runtime: HubRuntime, row: FoundItem) -> FoundOut:
    assert row.id is not None  # noqa: S101 - stored rows
    async with runtime.session_factory() as session:
        matches = await records.matches_of(session, found_item_id=row.id)
    return FoundOut(
        found_item_id=row.id,
        status=row.status,
        description=row.description,
        location=row.location,
        found_at=row.found_at,
        found_by=row.found_by,
        photo_id=_photo_id(row.image_id) or "",
        lost_item_id=row.lost_item_id,
        created_at=row.created_at,
        created_by=row.created_by,
        matches=[_match(m) for m in matches],
    )


async def _store_photo(
    runtime: HubRuntime,
    photo: str,
    kind: PhotoKind,
    metadata: dict[str, Any],
    captured_at: datetime | None,
) -> IndexedImage:
    photos = _photos(runtime)
    image, raw, content_type = await decode_upload_keeping_bytes(
        photo, max_bytes=runtime.settings.max_upload_bytes, field="photo"
    )
    return await _run(
        lambda: photos.add(
            image, raw, content_type, kind=kind, metadata=metadata, captured_at=captured_at
        )
    )


Proposer = Callable[[SessionFactory, PhotoIndex | None, int], Awaitable[object]]


async def _saved_and_matched(
    runtime: HubRuntime,
    photo: IndexedImage | None,
    save: Callable[[AsyncSession], Awaitable[LostItem | FoundItem]],
    propose: Proposer,
) -> int:
    """Insert the row (its photo leaves the store and index when that fails), then propose
    its matches; the row's id."""

    async def work() -> LostItem | FoundItem:
        async with runtime.session_factory() as session:
            return await save(session)

    try:
        row = await _run(work)
    except BaseException:
        if photo is not None:
            await _photos(runtime).remove(photo.image_id)
        raise
    assert row.id is not None  # noqa: S101 - stored rows
    row_id = row.id
    await _run(lambda: propose(runtime.session_factory, _photos(runtime), row_id))
    return row_id


# -- lost reports ---------------------------------------------------------------------------------


@router.post("/lost", response_model=LostOut, status_code=201)
async def report_lost(body: LostReportIn, runtime: Runtime, principal: Reporter) -> LostOut:
    """A guest's lost-item report; it is matched against the open found items at once (the
    proposals are in ``matches``). 404 for an unknown ``guest_id``; 422 when neither a guest
    nor a reporter's name and contact are given."""
    fields = LostFields(
        description=body.description,
        guest_ref=body.guest_id,
        reporter_name=body.reporter_name,
        reporter_contact=body.reporter_contact,
        lost_location=body.lost_location,
        lost_at=body.lost_at,
    )
    async with runtime.session_factory() as session:  # refuse bad fields before storing a photo
        await _run(lambda: records.owner_of(session, fields))
    photo = None
    if body.photo is not None:
        meta = {"description": body.description, "location": body.lost_location or ""}
        photo = await _store_photo(runtime, body.photo, "lost", meta, body.lost_at)

    async def save(session: AsyncSession) -> LostItem:
        return await records.create_lost(session, fields, principal.actor, photo)

    lost_id = await _saved_and_matched(runtime, photo, save, matching.propose_for_lost)
    return await _lost_out(runtime, await _lost_row(runtime, lost_id), principal)


async def _lost_row(runtime: HubRuntime, lost_item_id: int) -> LostItem:
    async with runtime.session_factory() as session:
        return await _run(lambda: records.get_lost(session, lost_item_id))


async def _found_row(runtime: HubRuntime, found_item_id: int) -> FoundItem:
    async with runtime.session_factory() as session:
        return await _run(lambda: records.get_found(session, found_item_id))


@router.get("/lost", response_model=LostPage)
async def list_lost(
    runtime: Runtime,
    principal: Reader,
    status: Annotated[LostStatus | None, Query()] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> LostPage:
    """Lost reports, newest first."""
    async with runtime.session_factory() as session:
        found = await records.list_rows(session, LostItem, status, limit, offset)
    items = [await _lost_out(runtime, row, principal) for row in found.items]
    return LostPage(items=items, total=found.total, limit=limit, offset=offset)


@router.get("/lost/{lost_item_id}", response_model=LostOut)
async def get_lost(lost_item_id: RowId, runtime: Runtime, principal: Reader) -> LostOut:
    return await _lost_out(runtime, await _lost_row(runtime, lost_item_id), principal)


@router.post("/lost/{lost_item_id}/match", response_model=LostOut)
async def rematch_lost(lost_item_id: RowId, runtime: Runtime, principal: Writer) -> LostOut:
    """Score the report again against the open found items (new proposals only; rejected
    pairs stay rejected). 409 when the report is no longer open or matched."""
    await _run(
        lambda: matching.propose_for_lost(runtime.session_factory, _photos(runtime), lost_item_id)
    )
    return await _lost_out(runtime, await _lost_row(runtime, lost_item_id), principal)


@router.post("/lost/{lost_item_id}/return", response_model=LostOut)
async def return_lost(lost_item_id: RowId, runtime: Runtime, principal: Writer) -> LostOut:
    """The owner has the item back (report ``found`` -> ``returned``, its found item too)."""

    async def work() -> LostItem:
        async with runtime.session_factory() as session:
            return await records.mark_returned(session, lost_item_id, principal.actor)

    return await _lost_out(runtime, await _run(work), principal)


@router.post("/lost/{lost_item_id}/close", response_model=LostOut)
async def close_lost(lost_item_id: RowId, runtime: Runtime, principal: Writer) -> LostOut:
    """The report ends without a return (withdrawn, given up): proposals are rejected and a
    found item it had claimed is open again."""

    async def work() -> LostItem:
        async with runtime.session_factory() as session:
            return await matching.close_lost(session, lost_item_id, principal.actor)

    return await _lost_out(runtime, await _run(work), principal)


# -- found items ----------------------------------------------------------------------------------


@router.post("/found", response_model=FoundOut, status_code=201)
async def report_found(body: FoundItemIn, runtime: Runtime, principal: Reporter) -> FoundOut:
    """An item found on the premises, with its photo; it is matched against the open lost
    reports at once (the proposals are in ``matches``)."""
    fields = FoundFields(
        description=body.description,
        location=body.location,
        found_at=body.found_at,
        found_by=body.found_by,
    )
    await _run(lambda: _checked_found(fields))
    meta = {"description": body.description, "location": body.location}
    photo = await _store_photo(runtime, body.photo, "found", meta, body.found_at)

    async def save(session: AsyncSession) -> FoundItem:
        return await records.create_found(session, fields, principal.actor, photo)

    found_id = await _saved_and_matched(runtime, photo, save, matching.propose_for_found)
    return await _found_out(runtime, await _found_row(runtime, found_id))


async def _checked_found(fields: FoundFields) -> None:
    records.check_past(fields.found_at, "found_at", utcnow())


@router.get("/found", response_model=FoundPage)
async def list_found(
    runtime: Runtime,
    _caller: Reader,
    status: Annotated[FoundStatus | None, Query()] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> FoundPage:
    """Found items, newest first."""
    async with runtime.session_factory() as session:
        found = await records.list_rows(session, FoundItem, status, limit, offset)
    items = [await _found_out(runtime, row) for row in found.items]
    return FoundPage(items=items, total=found.total, limit=limit, offset=offset)


@router.get("/found/{found_item_id}", response_model=FoundOut)
async def get_found(found_item_id: RowId, runtime: Runtime, _caller: Reader) -> FoundOut:
    return await _found_out(runtime, await _found_row(runtime, found_item_id))


@router.post("/found/{found_item_id}/dispose", response_model=FoundOut)
async def dispose_found(found_item_id: RowId, runtime: Runtime, principal: Writer) -> FoundOut:
    """An unclaimed item leaves the hotel's keeping (``open`` -> ``disposed``)."""

    async def work() -> FoundItem:
        async with runtime.session_factory() as session:
            return await matching.dispose_found(session, found_item_id, principal.actor)

    return await _found_out(runtime, await _run(work))


# -- matches --------------------------------------------------------------------------------------


@router.get("/matches", response_model=MatchList)
async def list_matches(
    runtime: Runtime,
    _caller: Reader,
    status: Annotated[MatchStatus, Query()] = "proposed",
    limit: Limit = 100,
) -> MatchList:
    """The matches waiting for staff (``proposed``), or the decided ones, best first."""
    async with runtime.session_factory() as session:
        rows = await records.matches_with_status(session, status, limit)
    return MatchList(items=[_match(m) for m in rows])


@router.post("/matches/{match_id}/confirm", response_model=ConfirmOut)
async def confirm_match(match_id: RowId, runtime: Runtime, principal: Confirmer) -> ConfirmOut:
    """A manager confirms a proposed match: the report is ``found`` and the item ``claimed``
    (their other proposals are rejected), the guest gets the "we found your item" e-mail and
    housekeeping a task to bring it to the guest's room (the steps of the
    ``lost_found_return`` workflow). 409 when the match is no longer proposed."""
    deps = _deps(runtime)
    async with runtime.session_factory() as session:
        match = await _run(lambda: matching.get_match(session, match_id))
    lost_id = match.lost_item_id
    await _run(lambda: lost_found_flow.confirm(deps, lost_id, match_id, None, principal.actor))
    try:
        notified = await lost_found_flow.notify_owner(deps, lost_id)
    except NotifyError as err:  # confirmed all the same: the answer says the e-mail failed
        notified = {"kind": "lost_item_found", "sent": [], "failed": [str(err)]}
    task = await lost_found_flow.schedule_return(deps, lost_id)
    async with runtime.session_factory() as session:
        match = await matching.get_match(session, match_id)
    return ConfirmOut(
        match=_match(match),
        lost_item=await _lost_out(runtime, await _lost_row(runtime, lost_id), principal),
        notified=notified,
        return_task_id=task["return_task_id"],
        room_number=task["room_number"],
    )


@router.post("/matches/{match_id}/reject", response_model=MatchOut)
async def reject_match(match_id: RowId, runtime: Runtime, principal: Confirmer) -> MatchOut:
    """A manager rejects a proposed match; a report with no proposal left is ``open`` again
    (the pair is never proposed again)."""

    async def work() -> LostFoundMatch:
        async with runtime.session_factory() as session:
            return await matching.reject_match(session, match_id, principal.actor)

    return _match(await _run(work))
