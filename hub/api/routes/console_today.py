"""``GET /console/api/today``: the Today page's figures in one request."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Security
from pydantic import BaseModel

from hub.api.auth import Principal, authorize
from hub.api.deps import Runtime, Session
from hub.auth.scopes import Scope, grants
from hub.console.today import today_summary
from hub.tables import utcnow

router = APIRouter(prefix="/console/api/today", tags=["console"])

HotelReader = Annotated[Principal, Security(authorize, scopes=[Scope.HOTEL_READ])]


class TodayOut(BaseModel):
    date: date
    timezone: str
    generated_at: datetime
    rooms: int
    occupied_tonight: int
    arrivals: list[dict[str, Any]]
    departures: list[dict[str, Any]]
    alerts_open: int
    alerts_by_severity: dict[str, int]
    latest_alerts: list[dict[str, Any]]
    on_shift: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    events_24h: int


@router.get("", response_model=TodayOut)
async def today(session: Session, runtime: Runtime, principal: HotelReader) -> TodayOut:
    """Occupancy tonight, arrivals/departures (no guest names), open alerts, staff on shift
    (names only with ``hotel:pii``), edges, events in the last 24 h; dates in the hotel's zone."""
    zone = runtime.settings.timezone
    now = utcnow()
    day = now.astimezone(ZoneInfo(zone)).date()
    names = grants(principal.scopes, Scope.HOTEL_PII)
    summary = await today_summary(session, day, now, names=names)
    return TodayOut(timezone=zone, generated_at=now, **asdict(summary))
