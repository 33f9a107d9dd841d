"""Events, devices and dead letters as stored by the ingest (read-only)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
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


@router.get("/dead-letters", response_model=DeadLetterPage)
async def list_dead_letters(
    session: Session,
    reason: Annotated[str | None, Query(max_length=32), StorableText] = None,
    device_id: IdQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> DeadLetterPage:
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
