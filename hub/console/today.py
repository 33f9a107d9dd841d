"""The Today page's figures, in one read: occupancy tonight, arrivals and departures, open
alerts by severity, staff on shift now, the edge fleet's health and the last 24 h of events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.console.alerts import CLOSED, severity_of
from hub.tables import (
    AlertHandling,
    AttendanceLog,
    Booking,
    Device,
    Employee,
    Event,
    HazardAlert,
    Room,
)

INACTIVE_BOOKINGS = ("cancelled", "no_show")
# an edge without a heartbeat for this long is "stale" even if its status says online
STALE_AFTER = timedelta(minutes=5)


@dataclass
class TodaySummary:
    date: date
    rooms: int = 0
    occupied_tonight: int = 0
    arrivals: list[dict[str, Any]] = field(default_factory=list)
    departures: list[dict[str, Any]] = field(default_factory=list)
    alerts_open: int = 0
    alerts_by_severity: dict[str, int] = field(default_factory=dict)
    latest_alerts: list[dict[str, Any]] = field(default_factory=list)
    on_shift: list[dict[str, Any]] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)
    events_24h: int = 0


def _booking_row(booking: Booking, room_number: str | None) -> dict[str, Any]:
    return {
        "booking_ref": booking.booking_ref,
        "room_number": room_number,
        "status": booking.status,
        "adults": booking.adults,
        "children": booking.children,
    }


async def _bookings(session: AsyncSession, summary: TodaySummary, day: date) -> None:
    summary.rooms = int((await session.exec(select(func.count()).select_from(Room))).one())
    active = col(Booking.status).not_in(INACTIVE_BOOKINGS)
    summary.occupied_tonight = int(
        (
            await session.exec(
                select(func.count()).where(
                    active, col(Booking.check_in_date) <= day, col(Booking.check_out_date) > day
                )
            )
        ).one()
    )
    for target, column in (
        (summary.arrivals, Booking.check_in_date),
        (summary.departures, Booking.check_out_date),
    ):
        rows = await session.exec(
            select(Booking, Room.room_number)
            .join(Room, col(Room.id) == col(Booking.room_id), isouter=True)
            .where(active, col(column) == day)
            .order_by(col(Booking.booking_ref))
            .limit(50)
        )
        target.extend(_booking_row(b, r) for b, r in rows.all())


async def _alerts(session: AsyncSession, summary: TodaySummary) -> None:
    rows = await session.exec(
        select(HazardAlert.id, HazardAlert.hazard, HazardAlert.location, HazardAlert.detected_at)
        .join(AlertHandling, col(AlertHandling.alert_id) == col(HazardAlert.id), isouter=True)
        .where((col(AlertHandling.status).is_(None)) | (col(AlertHandling.status).not_in(CLOSED)))
        .order_by(col(HazardAlert.id).desc())
        .limit(200)
    )
    open_alerts = rows.all()
    summary.alerts_open = len(open_alerts)
    for _id, hazard, _location, _at in open_alerts:
        severity = severity_of(hazard)
        summary.alerts_by_severity[severity] = summary.alerts_by_severity.get(severity, 0) + 1
    summary.latest_alerts = [
        {"id": i, "hazard": h, "severity": severity_of(h), "location": loc, "detected_at": at}
        for i, h, loc, at in open_alerts[:5]
    ]


async def _staff(session: AsyncSession, summary: TodaySummary, day: date, names: bool) -> None:
    rows = await session.exec(
        select(AttendanceLog, Employee.name, Employee.department)
        .join(Employee, col(Employee.employee_id) == col(AttendanceLog.employee_id))
        .where(
            col(AttendanceLog.work_date) >= day - timedelta(days=1),
            col(AttendanceLog.check_out_at).is_(None),
            col(AttendanceLog.status) != "absent",
        )
        .order_by(col(AttendanceLog.check_in_at))
        .limit(200)
    )
    summary.on_shift = [
        {
            "employee_id": log.employee_id,
            "name": name if names else None,
            "department": department,
            "since": log.check_in_at,
            "status": log.status,
        }
        for log, name, department in rows.all()
    ]


async def _devices(session: AsyncSession, summary: TodaySummary, now: datetime) -> None:
    for device in (await session.exec(select(Device).order_by(col(Device.device_id)))).all():
        beat = device.last_heartbeat or {}
        seen = device.last_seen
        health = device.status
        if health == "online" and (seen is None or now - seen > STALE_AFTER):
            health = "stale"
        cameras = beat.get("cameras") or {}
        summary.devices.append(
            {
                "device_id": device.device_id,
                "status": device.status,
                "health": health,
                "last_seen": seen,
                "cameras": len(cameras),
                "cameras_down": sum(1 for c in cameras.values() if not c.get("connected", True)),
                "outbox_depth": beat.get("outbox_depth"),
            }
        )


async def today_summary(
    session: AsyncSession, day: date, now: datetime, *, names: bool
) -> TodaySummary:
    """``day``: the hotel's date; ``names``: include employees' names (the caller may read
    personal fields)."""
    summary = TodaySummary(date=day)
    await _bookings(session, summary, day)
    await _alerts(session, summary)
    await _staff(session, summary, day, names)
    await _devices(session, summary, now)
    summary.events_24h = int(
        (
            await session.exec(
                select(func.count()).where(col(Event.started_at) >= now - timedelta(hours=24))
            )
        ).one()
    )
    return summary
