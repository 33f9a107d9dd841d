"""Events, devices and dead letters as stored by the ingest (read-only)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.messages import EventKind
from hub.api.auth import scoped
from hub.api.deps import Session
from hub.api.errors import field_error
from hub.api.params import StorableText, UtcDateTime
from hub.auth.scopes import Scope
from hub.ingest import seq_gaps
from hub.tables import DeadLetter, DeadLetterPublic, Device, DevicePublic, Event, EventPublic

router = APIRouter(prefix="/api/v1", tags=["events"], dependencies=[scoped(Scope.CV_READ)])

IdQuery = Annotated[str | None, Query(max_length=64), StorableText]
Limit = Annotated[int, Query(ge=1, le=500)]
# Bounded so a huge offset is a 422, not an integer overflow in the database driver.
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]


class EventPage(BaseModel):
    items: list[EventPublic]
    total: int
    limit: int
    offset: int


class DeadLetterPage(BaseModel):
    items: list[DeadLetterPublic]
    total: int
    limit: int
    offset: int


class DeviceList(BaseModel):
    items: list[DevicePublic]


class DeadLetterCount(BaseModel):
    key: str | None
    letters: int
    times_seen: int


class DeadLetterSummary(BaseModel):
    """Refusals counted by reason and by device (distinct messages and deliveries)."""

    reasons: list[DeadLetterCount]
    devices: list[DeadLetterCount]


async def _page(
    session: AsyncSession, query: Any, order: Any, limit: int, offset: int
) -> tuple[list[Any], int]:
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    items = (await session.exec(query.order_by(*order).limit(limit).offset(offset))).all()
    return list(items), int(total)


@router.get("/events", response_model=EventPage)
async def list_events(
    session: Session,
    kind: EventKind | None = None,
    camera_id: IdQuery = None,
    device_id: IdQuery = None,
    person_id: IdQuery = None,
    since: Annotated[
        UtcDateTime | None, Query(description="ISO 8601 (UTC without offset); at or after")
    ] = None,
    until: Annotated[
        UtcDateTime | None, Query(description="ISO 8601 (UTC without offset); at or before")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> EventPage:
    since_utc, until_utc = since, until
    if since_utc is not None and until_utc is not None and since_utc > until_utc:
        raise HTTPException(
            status_code=422,
            detail=field_error(
                "since", f"since ({since_utc.isoformat()}) is after until ({until_utc.isoformat()})"
            ),
        )
    query = select(Event)
    if kind is not None:
        query = query.where(Event.kind == kind.value)
    if camera_id is not None:
        query = query.where(Event.camera_id == camera_id)
    if device_id is not None:
        query = query.where(Event.device_id == device_id)
    if person_id is not None:
        query = query.where(Event.person_id == person_id)
    if since_utc is not None:
        query = query.where(col(Event.started_at) >= since_utc)
    if until_utc is not None:
        query = query.where(col(Event.started_at) <= until_utc)
    order = (col(Event.started_at).desc(), col(Event.event_id).desc())
    items, total = await _page(session, query, order, limit, offset)
    return EventPage(
        items=[EventPublic.model_validate(e, from_attributes=True) for e in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/events/{event_id}", response_model=EventPublic)
async def get_event(session: Session, event_id: uuid.UUID) -> EventPublic:
    event = await session.get(Event, event_id)
    if event is None:
        raise HTTPException(status_code=404, detail=field_error("event_id", f"no event {event_id}"))
    return EventPublic.model_validate(event, from_attributes=True)


@router.get("/devices", response_model=DeviceList)
async def list_devices(session: Session) -> DeviceList:
    devices = (await session.exec(select(Device).order_by(col(Device.device_id)))).all()
    gaps = await seq_gaps(session)
    items = []
    for device in devices:
        report = gaps.get(device.device_id)
        public = DevicePublic.model_validate(device, from_attributes=True)
        if report is not None:
            public = public.model_copy(update={"gaps": report.gaps, "missing": report.missing})
        items.append(public)
    return DeviceList(items=items)


ReasonQuery = Annotated[
    str | None,
    Query(
        max_length=32,
        description="refusal code: a contract code (bad_json, out_of_range, bad_text, "
        "bad_time, too_deep, number_too_long, ...), apply_failed or ingest_error",
    ),
    StorableText,
]


@router.get("/dead-letters", response_model=DeadLetterPage)
async def list_dead_letters(
    session: Session,
    reason: ReasonQuery = None,
    device_id: IdQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> DeadLetterPage:
    """Refused messages, newest first; one row per distinct message (``times_seen`` counts
    its deliveries)."""
    query = select(DeadLetter)
    if reason is not None:
        query = query.where(DeadLetter.reason == reason)
    if device_id is not None:
        query = query.where(DeadLetter.device_id == device_id)
    order = (col(DeadLetter.id).desc(),)
    items, total = await _page(session, query, order, limit, offset)
    return DeadLetterPage(
        items=[DeadLetterPublic.model_validate(d, from_attributes=True) for d in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/dead-letters/summary", response_model=DeadLetterSummary)
async def dead_letter_summary(session: Session, device_id: IdQuery = None) -> DeadLetterSummary:
    """Dead letters counted by reason and by device (the 100 devices with most)."""
    letters = func.count().label("letters")
    seen = func.coalesce(func.sum(DeadLetter.times_seen), 0).label("seen")
    by_reason = select(col(DeadLetter.reason), letters, seen).group_by(col(DeadLetter.reason))
    by_device = (
        select(col(DeadLetter.device_id), letters, seen)
        .group_by(col(DeadLetter.device_id))
        .order_by(letters.desc())
        .limit(100)
    )
    if device_id is not None:
        by_reason = by_reason.where(DeadLetter.device_id == device_id)
        by_device = by_device.where(DeadLetter.device_id == device_id)
    reasons = (await session.exec(by_reason.order_by(col(DeadLetter.reason)))).all()
    devices = (await session.exec(by_device)).all()
    return DeadLetterSummary(
        reasons=[DeadLetterCount(key=r, letters=int(n), times_seen=int(t)) for r, n, t in reasons],
        devices=[DeadLetterCount(key=d, letters=int(n), times_seen=int(t)) for d, n, t in devices],
    )


@router.get(
    "/dead-letters/{dead_letter_id}/payload",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def dead_letter_payload(
    session: Session, dead_letter_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> Response:
    """The bytes received, exactly (the first 64 KiB; ``truncated`` says when there was more)."""
    letter = await session.get(DeadLetter, dead_letter_id)
    if letter is None:
        raise HTTPException(
            status_code=404,
            detail=field_error("dead_letter_id", f"no dead letter {dead_letter_id}"),
        )
    return Response(
        content=letter.payload,
        media_type="application/octet-stream",
        headers={"X-Payload-Size": str(letter.payload_size), "X-Sha256": letter.sha256 or ""},
    )
