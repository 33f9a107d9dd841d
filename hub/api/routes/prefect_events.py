"""/api/v1/prefect events: attendance, booking and room status events reported by other
services. HTTP only: parse, call the flow logic (the attendance hooks, the booking state machine
of hub/flows/bookings.py, the room-status hook), shape the answer."""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import Runtime, Session
from hub.api.errors import field_error
from hub.api.params import StorableText
from hub.api.routes.prefect_common import (
    RUN,
    Id,
    Runner,
    SeenAt,
    ShortText,
    forbid,
    hooks_of,
)
from hub.flows.attendance import NoCheckInError
from hub.flows.bookings import (
    BookingEvent,
    BookingEventError,
    BookingEventType,
    GuestData,
    RoomData,
    apply_booking_event,
)
from hub.flows.room import ROOM_STATUSES, StaleStatusError, UnknownRoomError
from hub.flows.staff import active_employee

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/prefect", tags=["prefect"])

# -- the seed document's examples (000_3e23a4a0d17304c3.txt), verbatim ({...} read as {}) ----

SEED_ATTENDANCE: dict[str, Any] = {
    "employee_id": "EMP001",
    "timestamp": "2025-01-17T08:30:00Z",
    "action": "check_in",
    "location": "cam_lobby_01",
    "confidence": 0.98,
}
SEED_BOOKING: dict[str, Any] = {
    "booking_id": "BOOK001",
    "event_type": "new_booking",
    "guest_data": {},
    "room_data": {},
}
BOOKING_FILLED: dict[str, Any] = {
    "booking_id": "BOOK001",
    "event_type": "new_booking",
    "guest_data": {"guest_id": "GUEST001", "name": "Nguyen Van A", "email": "a@example.com"},
    "room_data": {
        "room_number": "201",
        "check_in_date": "2025-01-17",
        "check_out_date": "2025-01-19",
        "rate_per_night": 120.0,
    },
}
SEED_ROOM_STATUS: dict[str, Any] = {
    "room_number": "201",
    "old_status": "dirty",
    "new_status": "clean",
    "updated_by": "EMP005",
    "timestamp": "2025-01-17T11:00:00Z",
}


# -- events ------------------------------------------------------------------------------------


class AttendanceEvent(BaseModel):
    model_config = forbid(SEED_ATTENDANCE)

    employee_id: Id
    timestamp: SeenAt
    action: Literal["check_in", "check_out"]
    location: Id | None = Field(default=None, description="camera or place; kept as camera_id")
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    method: Literal["face", "pin", "badge", "manual"] | None = Field(
        default=None, description="ours; default face when confidence is given, else manual"
    )


class AttendanceOut(BaseModel):
    attendance_log_id: int
    employee_id: str
    action: str
    timestamp: datetime
    work_date: str
    check_in_at: datetime
    check_out_at: datetime | None
    status: str
    method: str
    location: str | None
    confidence: float | None
    minutes_late: int
    notification: bool
    entered_by: str = Field(description="who entered it: the caller's token subject (kind:name)")


class GuestDataIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    guest_id: Annotated[str, Field(min_length=1, max_length=32), StorableText] | None = Field(
        default=None, description="the hotel's guest id (GUEST001)"
    )
    name: ShortText | None = None
    email: Annotated[str, Field(max_length=254), StorableText] | None = None
    phone: Annotated[str, Field(max_length=40), StorableText] | None = None
    nationality: Annotated[str, Field(min_length=2, max_length=2)] | None = None
    vip: bool | None = None
    loyalty_tier: Annotated[str, Field(max_length=32), StorableText] | None = None


class RoomDataIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    room_number: Annotated[str, Field(min_length=1, max_length=16), StorableText] | None = None
    room_type: Annotated[str, Field(min_length=1, max_length=32), StorableText] | None = None
    check_in_date: date | None = None
    check_out_date: date | None = None
    rate_per_night: Annotated[float, Field(ge=0, le=9_999_999)] | None = None
    total_amount: Annotated[float, Field(ge=0, le=999_999_999)] | None = None
    currency: Annotated[str, Field(min_length=3, max_length=3)] | None = None
    adults: Annotated[int, Field(ge=1, le=50)] | None = None
    children: Annotated[int, Field(ge=0, le=50)] | None = None


class BookingEventIn(BaseModel):
    model_config = forbid(SEED_BOOKING, BOOKING_FILLED)

    booking_id: Annotated[str, Field(min_length=1, max_length=32), StorableText]
    event_type: BookingEventType
    guest_data: GuestDataIn = Field(default_factory=GuestDataIn)
    room_data: RoomDataIn = Field(default_factory=RoomDataIn)


class BookingOut(BaseModel):
    booking_id: str
    event_type: str
    status: str
    previous_status: str | None
    created: bool
    guest_created: bool
    guest_id: str | None = Field(description="the hotel's guest id, when the guest has one")
    room_number: str | None
    room_status: str | None


class RoomStatusEvent(BaseModel):
    model_config = forbid(SEED_ROOM_STATUS)

    room_number: Annotated[str, Field(min_length=1, max_length=16), StorableText]
    old_status: Annotated[str, Field(min_length=1, max_length=16)]
    new_status: Annotated[str, Field(min_length=1, max_length=16)]
    updated_by: Id
    timestamp: SeenAt


class RoomStatusOut(BaseModel):
    room_number: str
    old_status: str
    new_status: str
    status: str = Field(description="the status as the hub stores it (clean -> available)")
    previous: str
    updated_by: str
    timestamp: datetime
    waiting_booking_id: int | None
    guest_notified: bool


# -- events --------------------------------------------------------------------------------------


@router.post("/events/attendance", response_model=AttendanceOut)
async def attendance_event(
    body: AttendanceEvent, runtime: Runtime, session: Session, principal: Runner
) -> AttendanceOut:
    """A check-in or check-out reported by another service (a recognition of the CV service,
    a PIN pad, a badge reader, a manual entry). ``check_out`` closes the day's record. Face
    events of the edges arrive through MQTT instead. Who entered it (the token's subject) is
    kept with the entry (``entered_by``) and in the audit log."""
    hooks = hooks_of(runtime)
    if await active_employee(session, body.employee_id) is None:
        raise HTTPException(
            404, detail=field_error("employee_id", "no active employee with that id")
        )
    method = body.method or ("face" if body.confidence is not None else "manual")
    try:
        outcome, log = await hooks.attendance.apply_manual(
            body.employee_id,
            body.timestamp,
            method,
            body.location,
            action=body.action,
            confidence=body.confidence,
            entered_by=principal.actor,
        )
    except NoCheckInError as err:
        raise HTTPException(409, detail=field_error("action", str(err))) from err
    if log is None or log.id is None:
        raise HTTPException(409, detail=field_error("timestamp", "the event was not applied"))
    for late in outcome.late:
        await hooks.notify_late(late.attendance_log_id)
    closing = body.action == "check_out"
    return AttendanceOut(
        attendance_log_id=log.id,
        employee_id=log.employee_id,
        action=body.action,
        timestamp=body.timestamp,
        work_date=log.work_date.isoformat(),
        check_in_at=log.check_in_at,
        check_out_at=log.check_out_at,
        status=log.status,
        method=log.method,
        location=log.check_out_camera_id if closing else log.camera_id,
        confidence=log.check_out_confidence if closing else log.confidence,
        minutes_late=await hooks.attendance.minutes_late(log.id),
        notification=bool(outcome.late),
        entered_by=principal.actor,
    )


@router.post("/events/booking", response_model=BookingOut, dependencies=RUN)
async def booking_event(body: BookingEventIn, runtime: Runtime) -> BookingOut:
    """A PMS booking event (hub/flows/bookings.py): ``new_booking`` creates an unknown booking
    from ``guest_data`` and ``room_data``; the others move a known one (the room becomes
    occupied at check-in and is to be cleaned at check-out)."""
    guest = body.guest_data
    room = body.room_data
    event = BookingEvent(
        booking_id=body.booking_id,
        event_type=body.event_type,
        guest=GuestData(**guest.model_dump()),
        room=RoomData(
            **room.model_dump(exclude={"rate_per_night", "total_amount"}),
            rate_per_night=_money(room.rate_per_night),
            total_amount=_money(room.total_amount),
        ),
    )
    try:
        outcome = await apply_booking_event(runtime.session_factory, event)
    except BookingEventError as err:
        raise HTTPException(err.status, detail=field_error(err.field, err.reason)) from err
    return BookingOut(
        booking_id=outcome.booking_id,
        event_type=outcome.event_type,
        status=outcome.status,
        previous_status=outcome.previous_status,
        created=outcome.created,
        guest_created=outcome.guest_created,
        guest_id=outcome.guest_ref,
        room_number=outcome.room_number,
        room_status=outcome.room_status,
    )


def _money(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(round(value, 2)))


@router.post("/events/room_status", response_model=RoomStatusOut)
async def room_status_event(
    body: RoomStatusEvent, runtime: Runtime, principal: Runner
) -> RoomStatusOut:
    """A room status change (housekeeping, the CV service's room analysis): ``old_status``
    must be the room's current status (409 naming both otherwise); who and when are recorded
    in the audit log; a room that became ready notifies the guest waiting for it."""
    for name, value in (("old_status", body.old_status), ("new_status", body.new_status)):
        if value not in ROOM_STATUSES:
            raise HTTPException(422, detail=field_error(name, f"one of {', '.join(ROOM_STATUSES)}"))
    hooks = hooks_of(runtime)
    try:
        update = await hooks.apply_room_status(
            body.room_number,
            body.old_status,
            body.new_status,
            updated_by=body.updated_by,
            at=body.timestamp,
            actor=principal.actor,
        )
    except UnknownRoomError as err:
        raise HTTPException(404, detail=field_error("room_number", str(err))) from err
    except StaleStatusError as err:
        raise HTTPException(409, detail=field_error("old_status", str(err))) from err
    return RoomStatusOut(
        room_number=update.room_number,
        old_status=body.old_status,
        new_status=body.new_status,
        status=update.status,
        previous=update.previous,
        updated_by=body.updated_by,
        timestamp=body.timestamp,
        waiting_booking_id=update.waiting_booking_id,
        guest_notified=update.waiting_booking_id is not None,
    )
