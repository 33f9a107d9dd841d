"""Lost & found: an image-search match of a found object against a reported lost item ->
status update -> a return notification to the guest. ``lost_found_return`` (the seeds' name,
after reception confirmed the match) also schedules the item's return to the guest's room as a
housekeeping task."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from hub.flows.context import FlowDeps
from hub.flows.notifications import Target, deliver
from hub.tables import Booking, Guest, HousekeepingTask, LostItem, Room, utcnow

MATCH_THRESHOLD = 0.80


class NotAMatchError(ValueError):
    pass


def accept_match(similarity: float | None, status: str, threshold: float = MATCH_THRESHOLD) -> None:
    """Raises :class:`NotAMatchError` unless the match is good enough for an open item
    (``similarity`` None: a person confirmed the match, no threshold applies)."""
    if status != "lost":
        raise NotAMatchError(f"the item is already {status}")
    if similarity is None:
        return
    if not 0.0 <= similarity <= 1.0:
        raise NotAMatchError(f"similarity {similarity} is outside 0..1")
    if similarity < threshold:
        raise NotAMatchError(f"similarity {similarity:.2f} is below {threshold:.2f}")


async def apply_match(
    deps: FlowDeps,
    lost_item_id: int,
    found_image_key: str | None,
    similarity: float | None,
    location: str | None = None,
) -> dict[str, Any]:
    async with deps.session_factory() as session:
        item = await session.get(LostItem, lost_item_id)
        if item is None:
            raise LookupError(f"no lost item {lost_item_id}")
        accept_match(similarity, item.status)
        item.status = "found"
        if found_image_key is not None:
            item.found_image_key = found_image_key
        item.match_similarity = similarity
        item.found_location = location
        item.found_at = utcnow()
        session.add(item)
        await session.commit()
        await session.refresh(item)
        guest = await session.get(Guest, item.guest_id) if item.guest_id else None
    notified: dict[str, Any] | None = None
    if guest is not None and guest.email and deps.notifier.has("email"):
        found_at = f"{item.found_at:%Y-%m-%d %H:%M} UTC" if item.found_at else "-"
        if location:
            found_at = f"{location}, {found_at}"
        notified = await deliver(
            deps,
            "lost_item_found",
            {"guest_name": guest.full_name, "item": item.description, "found_at": found_at},
            [Target("email", guest.email, f"guest:{guest.id}")],
        )
    return {"lost_item_id": lost_item_id, "status": item.status, "notified": notified}


RETURN_CATEGORY = "lost_found_return"


async def schedule_return(deps: FlowDeps, lost_item_id: int) -> dict[str, Any]:
    """A housekeeping task to bring a found item to its guest's room (the guest's stay that is
    checked in, else the next reserved one); none when the guest has no such stay."""
    async with deps.session_factory() as session:
        item = await session.get(LostItem, lost_item_id)
        if item is None:
            raise LookupError(f"no lost item {lost_item_id}")
        if item.guest_id is None:
            return {"return_task_id": None, "room_number": None}
        stays = (
            await session.exec(
                select(Booking, Room.room_number)
                .join(Room, col(Booking.room_id) == col(Room.id))
                .where(
                    Booking.guest_id == item.guest_id,
                    col(Booking.status).in_(("checked_in", "reserved")),
                )
                .order_by(col(Booking.status) != "checked_in", col(Booking.check_in_date))
                .limit(1)
            )
        ).first()
        if stays is None:
            return {"return_task_id": None, "room_number": None}
        booking, room_number = stays
        task = HousekeepingTask(
            room_number=room_number,
            category=RETURN_CATEGORY,
            priority="normal",
            description=f"Return found item #{lost_item_id} to room {room_number}",
            assignee_role="housekeeping",
            guest_id=item.guest_id,
            booking_id=booking.id,
        )
        session.add(task)
        await session.commit()
        await session.refresh(task)
    return {"return_task_id": task.id, "room_number": room_number}
