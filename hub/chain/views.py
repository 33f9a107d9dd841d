"""The chain hub's cross-site views, read from what :mod:`hub.chain.ingest` stored.

Every query is limited to the sites of a :class:`~hub.chain.scopes.SiteAccess`: events by the
``{site}/`` prefix of their device key, devices by their ``site`` column.

- events: every stored event, newest first, with its site and the hotel's own device id;
- alerts: the anomaly events (fire, smoke, water, intrusion, fall), as each hotel's hub alerts on
  them (the chain hub sends nothing: the hotel's hub notifies its staff);
- devices: status, last seen, last heartbeat and missing seqs (a message lost anywhere between
  the edge and the chain hub shows here as a gap);
- occupancy: presence seen by the cameras, per site: appearances still open and distinct known
  people over a window (room occupancy comes from each hotel's bookings, which are not bridged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, false, or_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.chain.keys import split_key
from hub.chain.scopes import SiteAccess
from hub.ingest.gaps import seq_gaps
from hub.tables import Device, Event


def _event_filter(access: SiteAccess) -> ColumnElement[bool] | None:
    """None: every site."""
    if access.every:
        return None
    if not access.sites:
        return false()
    return or_(
        *(col(Event.device_id).startswith(f"{s}/", autoescape=True) for s in sorted(access.sites))
    )


def _device_filter(access: SiteAccess) -> ColumnElement[bool] | None:
    if access.every:
        return None
    return col(Device.site).in_(sorted(access.sites))


@dataclass(frozen=True, slots=True)
class EventQuery:
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0


def chain_event_row(event: Event) -> dict[str, Any]:
    """An event as the chain shows it: the stored row plus ``site`` and the hotel's
    ``device`` id (``device_id`` stays the chain's ``{site}/{device}`` key)."""
    site, device = split_key(event.device_id)
    row = event.model_dump()
    row.update(site=site, device=device)
    return row


async def list_events(
    session: AsyncSession, access: SiteAccess, query: EventQuery
) -> tuple[list[dict[str, Any]], int]:
    statement = select(Event)
    where = _event_filter(access)
    if where is not None:
        statement = statement.where(where)
    if query.kind is not None:
        statement = statement.where(Event.kind == query.kind)
    if query.since is not None:
        statement = statement.where(col(Event.started_at) >= query.since)
    if query.until is not None:
        statement = statement.where(col(Event.started_at) <= query.until)
    total = (await session.exec(select(func.count()).select_from(statement.subquery()))).one()
    rows = (
        await session.exec(
            statement.order_by(col(Event.started_at).desc(), col(Event.event_id).desc())
            .limit(query.limit)
            .offset(query.offset)
        )
    ).all()
    return [chain_event_row(e) for e in rows], int(total)


@dataclass(slots=True)
class DeviceHealth:
    site: str
    device: str
    device_id: str
    status: str
    status_at: datetime | None
    last_seen: datetime | None
    last_seq: int
    last_heartbeat: dict[str, Any] | None
    gaps: list[tuple[int, int]] = field(default_factory=list)
    missing: int = 0


async def device_health(session: AsyncSession, access: SiteAccess) -> list[DeviceHealth]:
    statement = select(Device).order_by(col(Device.device_id))
    where = _device_filter(access)
    if where is not None:
        statement = statement.where(where)
    devices = (await session.exec(statement)).all()
    gaps = await seq_gaps(session, [d.device_id for d in devices]) if devices else {}
    items = []
    for d in devices:
        site, device = split_key(d.device_id)
        report = gaps.get(d.device_id)
        items.append(
            DeviceHealth(
                site=site,
                device=device,
                device_id=d.device_id,
                status=d.status,
                status_at=d.status_at,
                last_seen=d.last_seen,
                last_seq=d.last_seq,
                last_heartbeat=d.last_heartbeat,
                gaps=report.gaps if report is not None else [],
                missing=report.missing if report is not None else 0,
            )
        )
    return items


@dataclass(slots=True)
class SiteOccupancy:
    site: str
    open_appearances: int = 0  # events whose latest phase is not ``end``
    people: int = 0  # distinct known people seen in the window
    events: int = 0  # events started in the window


async def occupancy(
    session: AsyncSession, access: SiteAccess, now: datetime, window: timedelta
) -> list[SiteOccupancy]:
    statement = select(Event.device_id, Event.phase, Event.person_id, Event.started_at).where(
        col(Event.started_at) >= now - window
    )
    where = _event_filter(access)
    if where is not None:
        statement = statement.where(where)
    sites: dict[str, SiteOccupancy] = {}
    people: dict[str, set[str]] = {}
    for device_id, phase, person_id, _started in (await session.exec(statement)).all():
        site = split_key(device_id)[0]
        entry = sites.setdefault(site, SiteOccupancy(site))
        entry.events += 1
        if phase != "end":
            entry.open_appearances += 1
        if person_id is not None:
            people.setdefault(site, set()).add(person_id)
    for site, seen in people.items():
        sites[site].people = len(seen)
    return [sites[s] for s in sorted(sites)]
