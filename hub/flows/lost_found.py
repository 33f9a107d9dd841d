"""Lost & found: an image-search match of a found object against a reported lost item ->
status update -> a return notification to the guest."""

from __future__ import annotations

from typing import Any

from hub.flows.context import FlowDeps
from hub.flows.notifications import Target, deliver
from hub.tables import Guest, LostItem, utcnow

MATCH_THRESHOLD = 0.80


class NotAMatchError(ValueError):
    pass


def accept_match(similarity: float, status: str, threshold: float = MATCH_THRESHOLD) -> None:
    """Raises :class:`NotAMatchError` unless the match is good enough for an open item."""
    if not 0.0 <= similarity <= 1.0:
        raise NotAMatchError(f"similarity {similarity} is outside 0..1")
    if similarity < threshold:
        raise NotAMatchError(f"similarity {similarity:.2f} is below {threshold:.2f}")
    if status != "lost":
        raise NotAMatchError(f"the item is already {status}")


async def apply_match(
    deps: FlowDeps,
    lost_item_id: int,
    found_image_key: str,
    similarity: float,
    location: str | None = None,
) -> dict[str, Any]:
    async with deps.session_factory() as session:
        item = await session.get(LostItem, lost_item_id)
        if item is None:
            raise LookupError(f"no lost item {lost_item_id}")
        accept_match(similarity, item.status)
        item.status = "found"
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
