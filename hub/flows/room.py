"""Room cleaning: an analysis says a room is ready -> ``rooms.status`` -> the waiting guest
gets a check-in-ready message. A status change reported by staff or another service
(``/events/room_status``) takes the same path once the room is ready."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import col, select

from hub.flows.context import FlowDeps
from hub.flows.notifications import Target, deliver
from hub.tables import AuditLog, Booking, Guest, Room, utcnow

logger = logging.getLogger(__name__)

READY_STATUS = "available"
NOT_READY_STATUS = "cleaning"
# statuses an analysis must not overwrite: the room is in use or out of service
_KEEP = frozenset({"occupied", "maintenance", "out_of_order"})


def next_status(current: str, ready_for_guest: bool) -> str:
    """The room's status after an analysis (pure)."""
    if current in _KEEP:
        return current
    return READY_STATUS if ready_for_guest else NOT_READY_STATUS


@dataclass(frozen=True, slots=True)
class RoomUpdate:
    room_number: str
    previous: str
    status: str
    waiting_booking_id: int | None


# the seeds' room statuses (clean, dirty, occupied, maintenance) -> the hub's
SEED_STATUSES: dict[str, str] = {"clean": READY_STATUS, "dirty": NOT_READY_STATUS}
ROOM_STATUSES: tuple[str, ...] = (
    "clean",
    "dirty",
    "occupied",
    "maintenance",
    READY_STATUS,
    NOT_READY_STATUS,
    "out_of_order",
)
STATUS_ACTION = "room.status"


def hub_status(status: str) -> str:
    """The hub's name of a room status (``clean`` -> ``available``, ``dirty`` -> ``cleaning``)."""
    return SEED_STATUSES.get(status, status)


class StaleStatusError(ValueError):
    """The reported old status is not the room's current one."""

    def __init__(self, room_number: str, reported: str, current: str) -> None:
        super().__init__(
            f"room {room_number} is {current}, not {reported}: old_status {reported!r} does "
            f"not match the current status {current!r}"
        )
        self.reported = reported
        self.current = current


class UnknownRoomError(LookupError):
    def __init__(self, room_number: str) -> None:
        super().__init__(f"no room {room_number!r}")
        self.room_number = room_number


async def apply_room_analysis(
    deps: FlowDeps, room_number: str, ready_for_guest: bool, today: date
) -> RoomUpdate:
    """Update the room's status; find a booking waiting for it (arriving today or earlier,
    not checked in yet)."""
    async with deps.session_factory() as session:
        room = (await session.exec(select(Room).where(Room.room_number == room_number))).first()
        if room is None:
            raise UnknownRoomError(room_number)
        previous = room.status
        room.status = next_status(previous, ready_for_guest)
        if room.status != previous:
            room.updated_at = utcnow()
            session.add(room)
        waiting: int | None = None
        if room.status == READY_STATUS:
            found = await session.exec(
                select(Booking.id)
                .where(
                    Booking.room_id == room.id,
                    Booking.status == "reserved",
                    col(Booking.check_in_date) <= today,
                    col(Booking.check_out_date) > today,
                )
                .order_by(col(Booking.check_in_date))
                .limit(1)
            )
            waiting = found.first()
        await session.commit()
    logger.info("room %s: %s -> %s", room_number, previous, room.status)
    return RoomUpdate(room_number, previous, room.status, waiting)


async def notify_room_ready(deps: FlowDeps, booking_id: int) -> dict[str, Any]:
    async with deps.session_factory() as session:
        booking = await session.get(Booking, booking_id)
        if booking is None:
            raise LookupError(f"no booking {booking_id}")
        guest = await session.get(Guest, booking.guest_id)
        room = await session.get(Room, booking.room_id) if booking.room_id else None
    if guest is None or room is None:
        raise LookupError(f"booking {booking_id} has no guest or room")
    targets = []
    if guest.email and deps.notifier.has("email"):
        targets.append(Target("email", guest.email, f"guest:{guest.id}"))
    if deps.notifier.has("mqtt"):
        targets.append(Target("mqtt", "front_desk", "role:front_desk"))
    fields = {"guest_name": guest.full_name, "room_number": room.room_number}
    result = await deliver(deps, "room_ready", fields, targets)
    return result | {"booking_id": booking_id, "room_number": room.room_number}


async def _waiting_booking(session: Any, room: Room, today: date) -> int | None:
    found = await session.exec(
        select(Booking.id)
        .where(
            Booking.room_id == room.id,
            Booking.status == "reserved",
            col(Booking.check_in_date) <= today,
            col(Booking.check_out_date) > today,
        )
        .order_by(col(Booking.check_in_date))
        .limit(1)
    )
    waiting: int | None = found.first()
    return waiting


async def apply_room_status(
    deps: FlowDeps,
    room_number: str,
    old_status: str,
    new_status: str,
    *,
    updated_by: str,
    at: datetime,
    actor: str,
    today: date,
) -> RoomUpdate:
    """A reported status change: checked against the room's status (``old_status`` must be
    the current one, :class:`StaleStatusError` otherwise), recorded in the audit log with who
    made it and when, and the booking waiting for the room found when it became ready."""
    async with deps.session_factory() as session:
        room = (await session.exec(select(Room).where(Room.room_number == room_number))).first()
        if room is None:
            raise UnknownRoomError(room_number)
        previous = room.status
        if hub_status(old_status) != previous:
            raise StaleStatusError(room_number, old_status, previous)
        room.status = hub_status(new_status)
        room.updated_at = utcnow()
        session.add(room)
        session.add(
            AuditLog(
                actor=actor[:128],
                action=STATUS_ACTION,
                target=f"room:{room_number}"[:128],
                detail={
                    "old_status": previous,
                    "new_status": room.status,
                    "updated_by": updated_by,
                    "timestamp": at.isoformat(),
                },
            )
        )
        waiting = (
            await _waiting_booking(session, room, today) if room.status == READY_STATUS else None
        )
        await session.commit()
    logger.info("room %s: %s -> %s (reported)", room_number, previous, room.status)
    return RoomUpdate(room_number, previous, room.status, waiting)
