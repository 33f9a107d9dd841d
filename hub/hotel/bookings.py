"""Bookings: create and change (dates in order, the room and room type exist and agree, no
room booked twice on a night), list; a status change goes through the booking flow
(hub/flows/bookings.py ``apply_booking_event``: the room becomes occupied at check-in and is
to be cleaned at check-out, as for a PMS event)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.db import SessionFactory
from hub.flows.bookings import (
    MAX_TOTAL,
    BookingEvent,
    BookingEventError,
    apply_booking_event,
)
from hub.hotel.booking_status import check_modifiable, event_for, normalise
from hub.hotel.errors import HotelError, invalid, not_found
from hub.hotel.etag import check_if_match, etag_of
from hub.hotel.guests import get_guest
from hub.hotel.records import HotelAction, Page, changed_fields, lock_row, page, record
from hub.hotel.rooms import get_room, known_room_type
from hub.hotel.validation import HOLDING_STATUSES, check_stay
from hub.tables import Booking, Guest, Room, utcnow


@dataclass(frozen=True, slots=True)
class BookingView:
    """A booking with the hotel's ids of its guest and room."""

    booking: Booking
    guest_ref: str | None
    room_number: str | None

    @property
    def etag(self) -> str:
        return booking_etag(self.booking)


def booking_etag(row: Booking) -> str:
    return etag_of("booking", row.id, row.updated_at)


async def _view(session: AsyncSession, row: Booking) -> BookingView:
    guest = await session.get(Guest, row.guest_id)
    room = await session.get(Room, row.room_id) if row.room_id is not None else None
    return BookingView(row, guest.guest_ref if guest else None, room.room_number if room else None)


async def _get(session: AsyncSession, booking_ref: str) -> Booking:
    row = (await session.exec(select(Booking).where(Booking.booking_ref == booking_ref))).first()
    if row is None:
        raise not_found("booking_ref", "booking", booking_ref)
    return row


async def get_booking(session: AsyncSession, booking_ref: str) -> BookingView:
    return await _view(session, await _get(session, booking_ref))


async def _check_free(session: AsyncSession, row: Booking) -> None:
    """409 when another booking holds the room on one of the row's nights."""
    if row.room_id is None:
        return
    await lock_row(session, Room, row.room_id)  # two desks booking one room: one at a time
    query = select(Booking.booking_ref).where(
        Booking.room_id == row.room_id,
        col(Booking.status).in_(HOLDING_STATUSES),
        col(Booking.check_in_date) < row.check_out_date,
        col(Booking.check_out_date) > row.check_in_date,
    )
    if row.id is not None:
        query = query.where(Booking.id != row.id)
    other = (await session.exec(query.limit(1))).first()
    if other is not None:
        raise HotelError(
            409,
            "room_number",
            f"the room is booked by {other} on a night from {row.check_in_date} "
            f"to {row.check_out_date}",
        )


async def _place(session: AsyncSession, row: Booking, values: dict[str, Any]) -> Room | None:
    """Applies room_number / room_type / dates from ``values``; validates them together."""
    room: Room | None = None
    if "room_number" in values:
        number = values["room_number"]
        if number is None:
            row.room_id = None
        else:
            try:
                room = await get_room(session, number)
            except HotelError as err:
                raise invalid("room_number", err.reason) from None
            row.room_id = room.id
    elif row.room_id is not None:
        room = await session.get(Room, row.room_id)
    if values.get("room_type") is not None:
        row.room_type = (await known_room_type(session, values["room_type"], "room_type")).code
    elif room is not None and (row.room_type is None or "room_number" in values):
        row.room_type = room.room_type
    if room is not None and row.room_type is not None and room.room_type != row.room_type:
        raise HotelError(
            409,
            "room_number",
            f"room {room.room_number} is a {room.room_type}, not a {row.room_type}",
        )
    for name in ("check_in_date", "check_out_date"):
        if values.get(name) is not None:
            setattr(row, name, values[name])
    check_stay(row.check_in_date, row.check_out_date)
    return room


_PLAIN = (
    "rate_per_night",
    "total_amount",
    "currency",
    "channel",
    "segment",
    "deposit",
    "adults",
    "children",
)


def _amounts(row: Booking, values: dict[str, Any]) -> None:
    for name in _PLAIN:
        if values.get(name) is not None:
            setattr(row, name, values[name])
    if values.get("total_amount") is None and (
        "rate_per_night" in values or "check_in_date" in values or "check_out_date" in values
    ):
        nights = (row.check_out_date - row.check_in_date).days
        total = Decimal(row.rate_per_night) * nights
        if total > MAX_TOTAL:
            raise invalid("rate_per_night", f"rate x {nights} nights is over {MAX_TOTAL}")
        row.total_amount = total


async def create_booking(session: AsyncSession, values: dict[str, Any], actor: str) -> BookingView:
    ref = values["booking_ref"]
    check_stay(values["check_in_date"], values["check_out_date"])
    try:
        guest = await get_guest(session, values["guest_ref"])
    except HotelError as err:
        raise invalid("guest_ref", err.reason) from None
    if (await session.exec(select(Booking.id).where(Booking.booking_ref == ref))).first():
        raise HotelError(409, "booking_ref", f"booking {ref!r} exists")
    assert guest.id is not None  # noqa: S101 - a stored row
    row = Booking(
        booking_ref=ref,
        guest_id=guest.id,
        check_in_date=values["check_in_date"],
        check_out_date=values["check_out_date"],
        status="reserved",
    )
    await _place(session, row, values)
    _amounts(row, {**values, "rate_per_night": values.get("rate_per_night") or Decimal(0)})
    await _check_free(session, row)
    session.add(row)
    await session.flush()
    record(
        session,
        actor,
        HotelAction.BOOKING_CREATE,
        f"booking:{ref}",
        {"guest": guest.guest_ref, "room_id": row.room_id},
    )
    await session.commit()
    return await _view(session, row)


async def update_booking(
    session: AsyncSession,
    booking_ref: str,
    values: dict[str, Any],
    if_match: str | None,
    actor: str,
) -> BookingView:
    row = await _get(session, booking_ref)
    assert row.id is not None  # noqa: S101 - a stored row
    await lock_row(session, Booking, row.id)
    await session.refresh(row)
    check_if_match(if_match, booking_etag(row))
    check_modifiable(row.status)
    await _place(session, row, values)
    _amounts(row, values)
    await _check_free(session, row)
    row.updated_at = utcnow()
    session.add(row)
    record(
        session,
        actor,
        HotelAction.BOOKING_UPDATE,
        f"booking:{booking_ref}",
        {"fields": changed_fields(values)},
    )
    await session.commit()
    return await _view(session, row)


async def change_status(
    sessions: SessionFactory,
    booking_ref: str,
    target: str,
    if_match: str | None,
    actor: str,
) -> tuple[BookingView, str]:
    """Moves the booking to ``target`` through the booking flow; (the booking, the previous
    status). 409 with the allowed statuses when the state machine refuses."""
    async with sessions() as session:
        row = await _get(session, booking_ref)
        check_if_match(if_match, booking_etag(row))
        previous = row.status
        event = event_for(previous, normalise(target))
    try:
        await apply_booking_event(sessions, BookingEvent(booking_id=booking_ref, event_type=event))
    except BookingEventError as err:  # it changed meanwhile: answer as for the new status
        event_for(await _status_of(sessions, booking_ref), target)
        raise HotelError(err.status, "status", err.reason) from None
    async with sessions() as session:
        row = await _get(session, booking_ref)
        record(
            session,
            actor,
            HotelAction.BOOKING_STATUS,
            f"booking:{booking_ref}",
            {"from": previous, "to": row.status},
        )
        await session.commit()
        return await _view(session, row), previous


async def _status_of(sessions: SessionFactory, booking_ref: str) -> str:
    async with sessions() as session:
        return (await _get(session, booking_ref)).status


async def list_bookings(
    session: AsyncSession,
    *,
    status: str | None,
    guest_ref: str | None,
    room_number: str | None,
    channel: str | None,
    stay_from: date | None,
    stay_to: date | None,
    limit: int,
    offset: int,
) -> Page[BookingView]:
    query = select(Booking)
    if status is not None:
        query = query.where(Booking.status == normalise(status))
    if guest_ref is not None:
        guest = await session.exec(select(Guest.id).where(col(Guest.guest_ref) == guest_ref))
        query = query.where(Booking.guest_id == (guest.first() or -1))
    if room_number is not None:
        room = await session.exec(select(Room.id).where(Room.room_number == room_number))
        query = query.where(Booking.room_id == (room.first() or -1))
    if channel is not None:
        query = query.where(Booking.channel == channel)
    if stay_from is not None:
        query = query.where(col(Booking.check_out_date) > stay_from)
    if stay_to is not None:
        query = query.where(col(Booking.check_in_date) < stay_to)
    rows = await page(session, query, col(Booking.id), limit, offset)
    views = [await _view(session, row) for row in rows.items]
    return Page(views, rows.total, rows.limit, rows.offset)
