"""The chain hub's cross-site views (``innsight hub serve --role chain``, docs/chain.md).

Read-only. Every route needs ``cv:read``; the sites a caller sees are those of its
``site:{site}`` scopes (``admin``: all). Asking for a site the caller may not read is a 403
naming the ``site`` field; without ``site`` a view covers every site the caller may read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from contracts.ids import ID_PATTERN
from contracts.messages import EventKind
from hub.api.auth import CvReader
from hub.api.deps import Session
from hub.api.errors import field_error
from hub.api.params import UtcDateTime
from hub.auth.principal import Principal
from hub.chain.scopes import SiteAccess
from hub.chain.views import (
    DeviceHealth,
    EventQuery,
    SiteOccupancy,
    device_health,
    list_events,
    occupancy,
)

router = APIRouter(prefix="/api/v1/chain", tags=["chain"])

SiteQuery = Annotated[
    str | None, Query(pattern=ID_PATTERN, description="one hotel's site id (default: every site)")
]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]
Since = Annotated[UtcDateTime | None, Query(description="ISO 8601; started at or after")]
Until = Annotated[UtcDateTime | None, Query(description="ISO 8601; started at or before")]


class ChainEventPage(BaseModel):
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


class ChainDevices(BaseModel):
    items: list[DeviceHealth]


class ChainOccupancy(BaseModel):
    window_minutes: int
    items: list[SiteOccupancy]


def _access(principal: Principal, site: str | None) -> SiteAccess:
    access = SiteAccess.of(principal.scopes)
    if site is not None and not access.allows(site):
        raise HTTPException(
            status_code=403,
            detail=field_error("site", f"this credential holds no scope for site {site!r}"),
        )
    return access.narrowed(site)


def _period(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since > until:
        raise HTTPException(
            status_code=422,
            detail=field_error("since", f"since ({since.isoformat()}) is after until"),
        )


async def _events(session: Session, access: SiteAccess, query: EventQuery) -> ChainEventPage:
    items, total = await list_events(session, access, query)
    return ChainEventPage(items=items, total=total, limit=query.limit, offset=query.offset)


@router.get("/events", response_model=ChainEventPage)
async def chain_events(
    session: Session,
    principal: CvReader,
    site: SiteQuery = None,
    kind: EventKind | None = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ChainEventPage:
    """Events of every hotel the caller may read, newest first."""
    _period(since, until)
    query = EventQuery(
        kind=kind.value if kind else None, since=since, until=until, limit=limit, offset=offset
    )
    return await _events(session, _access(principal, site), query)


@router.get("/alerts", response_model=ChainEventPage)
async def chain_alerts(
    session: Session,
    principal: CvReader,
    site: SiteQuery = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ChainEventPage:
    """Hazard events (anomalies: fire, smoke, water, intrusion, fall) of every readable hotel."""
    _period(since, until)
    query = EventQuery(
        kind=EventKind.ANOMALY.value, since=since, until=until, limit=limit, offset=offset
    )
    return await _events(session, _access(principal, site), query)


@router.get("/devices", response_model=ChainDevices)
async def chain_devices(
    session: Session, principal: CvReader, site: SiteQuery = None
) -> ChainDevices:
    """Device health per hotel: status, last seen, last heartbeat, missing seqs."""
    return ChainDevices(items=await device_health(session, _access(principal, site)))


@router.get("/occupancy", response_model=ChainOccupancy)
async def chain_occupancy(
    session: Session,
    principal: CvReader,
    site: SiteQuery = None,
    window_minutes: Annotated[int, Query(ge=1, le=1440)] = 60,
) -> ChainOccupancy:
    """Presence seen by each hotel's cameras over the last ``window_minutes``."""
    items = await occupancy(
        session,
        _access(principal, site),
        datetime.now(UTC),
        timedelta(minutes=window_minutes),
    )
    return ChainOccupancy(window_minutes=window_minutes, items=items)
