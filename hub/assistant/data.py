"""Read-only access to hotel data for the assistant's tools: a small protocol and its SQL
implementation over the hub's session factory. Guest PII (email, phone, documents, names) never
leaves this module: results carry ids, references, statuses and dates only."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

from sqlmodel import col, select

from hub.db import SessionFactory
from hub.tables import (
    AnomalyDetection,
    AttendanceLog,
    Booking,
    Event,
    Guest,
    HousekeepingTask,
    MLPrediction,
    Room,
    WorkflowLog,
)

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

    async def open_housekeeping_tasks(self, room_number: str | None) -> list[dict[str, Any]]: ...

    async def predictions(self, target: str, start: date, days: int) -> list[dict[str, Any]]: ...

    async def recent_workflows(self, limit: int) -> list[dict[str, Any]]: ...


class GuestFacts(Protocol):
    """The facts a guest message is filled from (the guest's name included: used to fill
    templates only, never handed to the chat model's tools)."""

    async def booking_facts(
        self, *, booking_ref: str | None, room_number: str | None, on_date: date
    ) -> dict[str, str] | None: ...


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

    async def open_housekeeping_tasks(self, room_number: str | None) -> list[dict[str, Any]]:
        query = select(HousekeepingTask).where(
            col(HousekeepingTask.status).in_(("open", "assigned"))
        )
        if room_number is not None:
            query = query.where(HousekeepingTask.room_number == room_number)
        query = query.order_by(col(HousekeepingTask.created_at).desc()).limit(MAX_ROWS)
        async with self._sessions() as session:
            rows = (await session.exec(query)).all()
        # the description is guest text (may name people): ids, kinds and counts only
        return [
            {
                "task_id": t.id,
                "room_number": t.room_number,
                "category": t.category,
                "priority": t.priority,
                "items": list(t.items),
                "quantity": t.quantity,
                "assignee_role": t.assignee_role,
                "status": t.status,
                "created_at": _iso(t.created_at),
            }
            for t in rows
        ]

    async def predictions(self, target: str, start: date, days: int) -> list[dict[str, Any]]:
        query = (
            select(MLPrediction)
            .where(MLPrediction.target == target)
            .where(col(MLPrediction.horizon_date) >= start)
            .where(col(MLPrediction.horizon_date) < date.fromordinal(start.toordinal() + days))
            .order_by(col(MLPrediction.horizon_date), col(MLPrediction.created_at).desc())
            .limit(MAX_ROWS * 5)
        )
        async with self._sessions() as session:
            rows = (await session.exec(query)).all()
        latest: dict[tuple[str | None, str | None], dict[str, Any]] = {}
        for p in rows:  # newest prediction per (day, subject)
            key = (_iso(p.horizon_date), p.subject_id)
            latest.setdefault(
                key,
                {
                    "date": _iso(p.horizon_date),
                    "subject": p.subject_id,
                    "prediction": p.prediction,
                    "model": f"{p.model_name}@{p.model_version}",
                },
            )
        return list(latest.values())[:MAX_ROWS]

    async def recent_workflows(self, limit: int) -> list[dict[str, Any]]:
        query = (
            select(WorkflowLog)
            .order_by(col(WorkflowLog.started_at).desc())
            .limit(min(limit, MAX_ROWS))
        )
        async with self._sessions() as session:
            rows = (await session.exec(query)).all()
        # results may name guests: their keys only, never their values
        return [
            {
                "workflow": w.flow_name,
                "run_id": w.run_id,
                "status": w.status,
                "started_at": _iso(w.started_at),
                "finished_at": _iso(w.finished_at),
                "result_keys": sorted(w.result or {}),
                "error": (w.error or "")[:200] or None,
            }
            for w in rows
        ]

    async def booking_facts(
        self, *, booking_ref: str | None, room_number: str | None, on_date: date
    ) -> dict[str, str] | None:
        query = (
            select(Booking, Guest, Room.room_number, Room.room_type)
            .join(Guest, col(Booking.guest_id) == Guest.id)
            .outerjoin(Room, col(Booking.room_id) == Room.id)
        )
        if booking_ref is not None:
            query = query.where(Booking.booking_ref == booking_ref)
        if room_number is not None:
            query = query.where(Room.room_number == room_number)
            if booking_ref is None:  # the stay covering the day, else the next one
                query = query.where(col(Booking.check_out_date) > on_date)
                query = query.where(col(Booking.status).not_in(("cancelled", "checked_out")))
        query = query.order_by(col(Booking.check_in_date)).limit(1)
        async with self._sessions() as session:
            row = (await session.exec(query)).first()
        if row is None:
            return None
        booking, guest, number, room_type = row
        facts = {
            "guest_name": guest.full_name,
            "booking_ref": booking.booking_ref,
            "check_in_date": booking.check_in_date.isoformat(),
            "check_out_date": booking.check_out_date.isoformat(),
            "nationality": guest.nationality or "",
            "total_amount": str(booking.total_amount),
            "currency": booking.currency,
        }
        if number:
            facts["room_number"] = number
        if room_type:
            facts["room_type"] = room_type
        return facts


class GuestNotFoundError(LookupError):
    """No guest with that hotel reference (``GUEST001``)."""


async def guest_stay(
    session_factory: SessionFactory, guest_ref: str, on_date: date
) -> dict[str, Any]:
    """The guest named by the hotel's reference and their stay on ``on_date`` (else their next
    one): ``{guest_id, booking_id, booking_ref, room_number}`` (ids only, no personal data).
    Raises :class:`GuestNotFoundError`."""
    async with session_factory() as session:
        guest = (await session.exec(select(Guest).where(Guest.guest_ref == guest_ref))).first()
        if guest is None or guest.id is None:
            raise GuestNotFoundError(f"no guest {guest_ref!r}")
        query = (
            select(Booking, Room.room_number)
            .outerjoin(Room, col(Booking.room_id) == Room.id)
            .where(Booking.guest_id == guest.id)
            .where(col(Booking.check_out_date) > on_date)
            .where(col(Booking.status).not_in(("cancelled", "checked_out", "no_show")))
            .order_by(col(Booking.check_in_date))
            .limit(1)
        )
        row = (await session.exec(query)).first()
    stay: dict[str, Any] = {
        "guest_id": guest.id,
        "booking_id": None,
        "booking_ref": None,
        "room_number": None,
    }
    if row is not None:
        booking, number = row
        stay.update(booking_id=booking.id, booking_ref=booking.booking_ref, room_number=number)
    return stay
