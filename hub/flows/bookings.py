"""PMS booking events (``/events/booking``): the booking state machine and what each event
does to the booking, its guest and its room.

Event types: ``new_booking`` (creates the booking when the hub does not know it yet, from
``guest_data`` and ``room_data``; for a known booking it applies the data like ``modified``),
``modified`` (dates, room, amounts, guest details), ``cancelled``, ``checked_in`` (the room
becomes occupied), ``checked_out`` (the room is to be cleaned) and ``no_show``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal, get_args

from sqlmodel import select

from hub.db import SessionFactory
from hub.tables import Booking, Guest, Room, utcnow

logger = logging.getLogger(__name__)

BookingEventType = Literal[
    "new_booking", "modified", "cancelled", "checked_in", "checked_out", "no_show"
]
EVENT_TYPES: tuple[str, ...] = get_args(BookingEventType)

# event: (booking statuses it may follow, the booking's new status, the room's new status)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None, str | None]] = {
    "modified": (frozenset({"reserved", "checked_in"}), None, None),
    "cancelled": (frozenset({"reserved"}), "cancelled", None),
    "checked_in": (frozenset({"reserved"}), "checked_in", "occupied"),
    "checked_out": (frozenset({"checked_in"}), "checked_out", "cleaning"),
    "no_show": (frozenset({"reserved"}), "no_show", None),
}
NEW_STATUS = "reserved"
MAX_NIGHTS = 365
MAX_TOTAL = Decimal("9999999999.99")  # bookings.total_amount is NUMERIC(12, 2)


class BookingEventError(ValueError):
    """The event cannot apply; ``field`` names the request field, ``status`` the HTTP answer
    a route gives (404 unknown booking or room, 409 impossible transition, 422 missing data)."""

    def __init__(self, status: int, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.status = status
        self.field = field
        self.reason = reason


def transition(current: str, event_type: str) -> tuple[str | None, str | None]:
    """(new booking status, new room status) after an event on a known booking (pure); raises
    :class:`BookingEventError` (409) when the booking's status does not allow it."""
    # new_booking for a known booking (a PMS re-sending it) applies its data like modified
    allowed, booking_status, room_status = TRANSITIONS[
        "modified" if event_type == "new_booking" else event_type
    ]
    if current not in allowed:
        raise BookingEventError(
            409,
            "event_type",
            f"cannot apply {event_type} to a booking that is {current} "
            f"(it needs {' or '.join(sorted(allowed))})",
        )
    return booking_status, room_status


@dataclass(frozen=True, slots=True)
class GuestData:
    guest_id: str | None = None  # the hotel's guest id ("GUEST001"): Guest.guest_ref
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    nationality: str | None = None
    vip: bool | None = None
    loyalty_tier: str | None = None


@dataclass(frozen=True, slots=True)
class RoomData:
    room_number: str | None = None
    room_type: str | None = None  # checked against the room when both are given
    check_in_date: date | None = None
    check_out_date: date | None = None
    rate_per_night: Decimal | None = None
    total_amount: Decimal | None = None
    currency: str | None = None
    adults: int | None = None
    children: int | None = None


@dataclass(frozen=True, slots=True)
class BookingEvent:
    booking_id: str
    event_type: str
    guest: GuestData = field(default_factory=GuestData)
    room: RoomData = field(default_factory=RoomData)


@dataclass(frozen=True, slots=True)
class BookingOutcome:
    booking_id: str
    event_type: str
    status: str
    previous_status: str | None
    created: bool
    guest_created: bool
    guest_ref: str | None
    room_number: str | None
    room_status: str | None


def has_guest_ref() -> bool:
    """Whether ``guests.guest_ref`` exists in this version of the schema."""
    return "guest_ref" in Guest.model_fields


async def _room(session: Any, data: RoomData) -> Room | None:
    if data.room_number is None:
        return None
    room: Room | None = (
        await session.exec(select(Room).where(Room.room_number == data.room_number))
    ).first()
    if room is None:
        raise BookingEventError(404, "room_data.room_number", f"no room {data.room_number!r}")
    if data.room_type is not None and data.room_type != room.room_type:
        raise BookingEventError(
            409,
            "room_data.room_type",
            f"room {room.room_number} is a {room.room_type}, not a {data.room_type}",
        )
    return room


async def _guest(session: Any, data: GuestData) -> tuple[Guest | None, bool]:
    """The guest the data names (by the hotel's guest id), or a new one; (guest, created)."""
    guest: Guest | None = None
    if data.guest_id is not None and has_guest_ref():
        column: Any = getattr(Guest, "guest_ref")  # noqa: B009 - the column may not exist yet
        guest = (await session.exec(select(Guest).where(column == data.guest_id))).first()
    if guest is not None:
        return guest, False
    if data.name is None:
        return None, False
    guest = Guest(full_name=data.name)
    if data.guest_id is not None and has_guest_ref():
        setattr(guest, "guest_ref", data.guest_id)  # noqa: B010 - the column may not exist yet
    return guest, True


def _apply_guest(guest: Guest, data: GuestData) -> None:
    if data.name is not None:
        guest.full_name = data.name
    for name in ("email", "phone", "nationality", "vip", "loyalty_tier"):
        value = getattr(data, name)
        if value is not None:
            setattr(guest, name, value)
    guest.updated_at = utcnow()


def _apply_room_data(booking: Booking, data: RoomData, room: Room | None) -> None:
    if room is not None:
        booking.room_id = room.id
    for name in (
        "check_in_date",
        "check_out_date",
        "rate_per_night",
        "total_amount",
        "currency",
        "adults",
        "children",
    ):
        value = getattr(data, name)
        if value is not None:
            setattr(booking, name, value)
    if booking.check_out_date <= booking.check_in_date:
        raise BookingEventError(
            422, "room_data.check_out_date", "must be after room_data.check_in_date"
        )
    if (booking.check_out_date - booking.check_in_date).days > MAX_NIGHTS:
        raise BookingEventError(
            422, "room_data.check_out_date", f"a stay is at most {MAX_NIGHTS} nights"
        )


async def _create(session: Any, event: BookingEvent) -> tuple[Booking, Room | None, bool]:
    guest, guest_created = await _guest(session, event.guest)
    if guest is None:
        raise BookingEventError(
            422,
            "guest_data.name",
            "a new booking needs its guest: guest_data.name (or the guest_id of a known guest)",
        )
    if event.room.check_in_date is None or event.room.check_out_date is None:
        field_name = "check_in_date" if event.room.check_in_date is None else "check_out_date"
        raise BookingEventError(
            422, f"room_data.{field_name}", "a new booking needs its check-in and check-out dates"
        )
    room = await _room(session, event.room)
    _apply_guest(guest, event.guest)
    session.add(guest)
    await session.flush()
    assert guest.id is not None  # noqa: S101 - flushed
    booking = Booking(
        booking_ref=event.booking_id,
        guest_id=guest.id,
        check_in_date=event.room.check_in_date,
        check_out_date=event.room.check_out_date,
        status=NEW_STATUS,
    )
    _apply_room_data(booking, event.room, room)
    if event.room.total_amount is None:
        nights = (booking.check_out_date - booking.check_in_date).days
        booking.total_amount = min(booking.rate_per_night * nights, MAX_TOTAL)
    return booking, room, guest_created


async def apply_booking_event(sessions: SessionFactory, event: BookingEvent) -> BookingOutcome:
    """Applies one PMS booking event in one transaction."""
    async with sessions() as session:
        booking = (
            await session.exec(select(Booking).where(Booking.booking_ref == event.booking_id))
        ).first()
        created = guest_created = False
        previous: str | None = None
        room: Room | None = None
        room_status: str | None = None
        if booking is None:
            if event.event_type != "new_booking":
                raise BookingEventError(
                    404,
                    "booking_id",
                    f"no booking {event.booking_id!r}; a new_booking event with guest_data "
                    "and room_data creates it",
                )
            booking, room, guest_created = await _create(session, event)
            created = True
        else:
            previous = booking.status
            new_status, room_status = transition(booking.status, event.event_type)
            if event.event_type in ("new_booking", "modified"):
                room = await _room(session, event.room)
                _apply_room_data(booking, event.room, room)
                guest = await session.get(Guest, booking.guest_id)
                if guest is not None and event.guest != GuestData():
                    _apply_guest(guest, event.guest)
                    session.add(guest)
            if new_status is not None:
                booking.status = new_status
            now = utcnow()
            if event.event_type == "checked_in":
                booking.checked_in_at = now
            elif event.event_type == "checked_out":
                booking.checked_out_at = now
            booking.updated_at = now
        session.add(booking)
        if room is None and booking.room_id is not None:
            room = await session.get(Room, booking.room_id)
        if room is not None and room_status is not None:
            room.status = room_status
            room.updated_at = utcnow()
            session.add(room)
        await session.commit()
        guest_row = await session.get(Guest, booking.guest_id)
        outcome = BookingOutcome(
            booking_id=booking.booking_ref,
            event_type=event.event_type,
            status=booking.status,
            previous_status=previous,
            created=created,
            guest_created=guest_created,
            guest_ref=getattr(guest_row, "guest_ref", None) if guest_row else None,
            room_number=room.room_number if room is not None else None,
            room_status=room.status if room is not None else None,
        )
    logger.info(
        "booking event %s on booking %s: %s -> %s",
        event.event_type,
        event.booking_id,
        previous or "new",
        outcome.status,
    )
    return outcome
