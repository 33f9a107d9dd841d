"""Lost & found's flow steps: propose matches for a report (the hub scores them itself:
hub/lost_found/matching.py; nobody supplies a similarity), and, once a person confirmed the
find, tell its owner and schedule the return. ``lost_found_return`` (the seeds' name, after
reception confirmed the match) confirms a proposed match (``match_id``) or a find by hand (a
place only), notifies the guest and books the return to the guest's room as a housekeeping
task."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from hub.flows.context import FlowDeps
from hub.flows.notifications import Target, deliver
from hub.lost_found.matching import confirm_match, propose_for_lost
from hub.lost_found.photos import PhotoIndex
from hub.lost_found.records import get_lost, mark_found
from hub.tables import Booking, Guest, HousekeepingTask, LostFoundMatch, LostItem, Room

FLOW_ACTOR = "flow:lost_found"


def photos_of(deps: FlowDeps) -> PhotoIndex | None:
    """The lost-and-found photos of the hub's image search (``None`` in a Prefect worker
    process, which does not run it: a report with a photo is then refused, never scored on
    its text alone)."""
    if deps.images is None:
        return None
    return PhotoIndex(deps.images, deps.session_factory)


def match_out(match: LostFoundMatch) -> dict[str, Any]:
    return {
        "match_id": match.id,
        "lost_item_id": match.lost_item_id,
        "found_item_id": match.found_item_id,
        "score": match.score,
        "image_similarity": match.image_similarity,
        "text_similarity": match.text_similarity,
        "status": match.status,
    }


async def propose(deps: FlowDeps, lost_item_id: int) -> dict[str, Any]:
    """Score the report against the open found items; its proposed matches, best first."""
    matches = await propose_for_lost(deps.session_factory, photos_of(deps), lost_item_id)
    return {"lost_item_id": lost_item_id, "proposed": [match_out(m) for m in matches]}


async def confirm(
    deps: FlowDeps,
    lost_item_id: int,
    match_id: int | None,
    location: str | None,
    actor: str = FLOW_ACTOR,
) -> dict[str, Any]:
    """A person confirmed the find: the proposed match ``match_id``, or (``None``) the item by
    hand at ``location`` (then :func:`notify_owner` tells its owner)."""
    async with deps.session_factory() as session:
        if match_id is not None:
            item, found, _ = await confirm_match(session, match_id, actor, lost_item_id)
            found_item_id = found.id
        else:
            item = await mark_found(session, lost_item_id, location, actor)
            found_item_id = None
        status = item.status
    return {
        "lost_item_id": lost_item_id,
        "status": status,
        "match_id": match_id,
        "found_item_id": found_item_id,
    }


async def notify_owner(deps: FlowDeps, lost_item_id: int) -> dict[str, Any] | None:
    """The "we found your item" e-mail to the guest (or to the reporter's e-mail address);
    ``None`` when there is no address or no e-mail channel."""
    async with deps.session_factory() as session:
        item = await get_lost(session, lost_item_id)
        guest = await session.get(Guest, item.guest_id) if item.guest_id else None
    if guest is not None:
        name, address, recipient = guest.full_name, guest.email, f"guest:{guest.id}"
    else:
        name = item.reporter_name or ""
        address = item.reporter_contact if "@" in (item.reporter_contact or "") else None
        recipient = f"lost_item:{item.id}"
    if not address or not deps.notifier.has("email"):
        return None
    found_at = f"{item.found_at:%Y-%m-%d %H:%M} UTC" if item.found_at else "-"
    if item.found_location:
        found_at = f"{item.found_location}, {found_at}"
    return await deliver(
        deps,
        "lost_item_found",
        {"guest_name": name, "item": item.description, "found_at": found_at},
        [Target("email", address, recipient)],
    )


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
