"""Read-only access to hotel data for the assistant's tools: a small protocol and its SQL
implementation over the hub's session factory. Guest PII (email, phone, documents, names) never
leaves this module: results carry ids, references, statuses and dates only."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

from sqlmodel import col, select

from hub.db import SessionFactory
from hub.tables import AnomalyDetection, AttendanceLog, Booking, Event, Room

MAX_ROWS = 20


class HotelData(Protocol):
    async def room_status(self, room_number: str) -> dict[str, Any] | None: ...

    async def bookings(
        self, *, guest_id: int | None, room_number: str | None, on_date: date | None
    ) -> list[dict[str, Any]]: ...

    async def rooms_needing_housekeeping(self) -> list[dict[str, Any]]: ...

    async def recent_anomalies(self, limit: int) -> list[dict[str, Any]]: ...

    async def recent_face_events(self, limit: int) -> list[dict[str, Any]]: ...

    async def attendance(self, employee_id: str | None, day: date) -> list[dict[str, Any]]: ...


def _iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


class SqlHotelData:
    """:class:`HotelData` over the hub database (read-only queries)."""

    def __init__(self, session_factory: SessionFactory) -> None:
        self._sessions = session_factory

    async def room_status(self, room_number: str) -> dict[str, Any] | None:
        async with self._sessions() as session:
            room = (await session.exec(select(Room).where(Room.room_number == room_number))).first()
        if room is None:
            return None
        return {
            "room_number": room.room_number,
            "status": room.status,
            "room_type": room.room_type,
            "floor": room.floor,
            "updated_at": _iso(room.updated_at),
        }

    async def bookings(
        self, *, guest_id: int | None, room_number: str | None, on_date: date | None
    ) -> list[dict[str, Any]]:
        query = select(Booking, Room.room_number).outerjoin(Room, col(Booking.room_id) == Room.id)
        if guest_id is not None:
            query = query.where(Booking.guest_id == guest_id)
        if room_number is not None:
            query = query.where(Room.room_number == room_number)
        if on_date is not None:
            query = query.where(
                col(Booking.check_in_date) <= on_date, col(Booking.check_out_date) > on_date
            )
        query = query.order_by(col(Booking.check_in_date).desc()).limit(MAX_ROWS)
        async with self._sessions() as session:
            rows = (await session.exec(query)).all()
        return [
            {
                "booking_ref": booking.booking_ref,
                "guest_id": booking.guest_id,
                "room_number": number,
                "check_in_date": _iso(booking.check_in_date),
                "check_out_date": _iso(booking.check_out_date),
                "status": booking.status,
                "adults": booking.adults,
                "children": booking.children,
            }
            for booking, number in rows
        ]

    async def rooms_needing_housekeeping(self) -> list[dict[str, Any]]:
        # no housekeeping-task table yet: rooms in cleaning/maintenance are the open items
        query = (
            select(Room)
            .where(col(Room.status).in_(("cleaning", "maintenance")))
            .order_by(Room.room_number)
            .limit(MAX_ROWS)
        )
        async with self._sessions() as session:
            rooms = (await session.exec(query)).all()
        return [{"room_number": r.room_number, "status": r.status} for r in rooms]

    async def recent_anomalies(self, limit: int) -> list[dict[str, Any]]:
        query = (
            select(AnomalyDetection)
            .order_by(col(AnomalyDetection.detected_at).desc())
            .limit(min(limit, MAX_ROWS))
        )
        async with self._sessions() as session:
            rows = (await session.exec(query)).all()
        return [
            {
                "anomaly_type": a.anomaly_type,
                "score": round(a.score, 3),
                "camera_id": a.camera_id,
                "zone": a.zone,
                "detected_at": _iso(a.detected_at),
                "resolved": a.resolved_at is not None,
            }
            for a in rows
        ]

    async def recent_face_events(self, limit: int) -> list[dict[str, Any]]:
        query = (
            select(Event)
            .where(Event.kind == "face")
            .order_by(col(Event.started_at).desc())
            .limit(min(limit, MAX_ROWS))
        )
        async with self._sessions() as session:
            rows = (await session.exec(query)).all()
        return [
            {
                "camera_id": e.camera_id,
                "person_id": e.person_id,
                "started_at": _iso(e.started_at),
                "liveness": e.liveness,
            }
            for e in rows
        ]

    async def attendance(self, employee_id: str | None, day: date) -> list[dict[str, Any]]:
        query = select(AttendanceLog).where(AttendanceLog.work_date == day)
        if employee_id is not None:
            query = query.where(AttendanceLog.employee_id == employee_id)
        async with self._sessions() as session:
            rows = (await session.exec(query.limit(MAX_ROWS))).all()
        return [
            {
                "employee_id": r.employee_id,
                "status": r.status,
                "check_in_at": _iso(r.check_in_at),
                "check_out_at": _iso(r.check_out_at),
            }
            for r in rows
        ]
