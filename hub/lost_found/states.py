"""Statuses and the moves between them (pure).

A lost report is ``open`` until the hub proposes a match (``matched``), ``found`` once staff
confirmed one (or confirmed it by hand), then ``returned`` to its owner; ``closed`` ends it
without a return (withdrawn, given up). A found item is ``open`` until a confirmed match
``claimed`` it, then ``returned``; ``disposed`` ends it unclaimed. A match is ``proposed`` by
the hub and ``confirmed`` or ``rejected`` by staff.
"""

from __future__ import annotations

from hub.hotel.errors import HotelError

LOST_STATUSES: tuple[str, ...] = ("open", "matched", "found", "returned", "closed")
FOUND_STATUSES: tuple[str, ...] = ("open", "claimed", "returned", "disposed")
MATCH_STATUSES: tuple[str, ...] = ("proposed", "confirmed", "rejected")

LOST_MOVES: dict[str, tuple[str, ...]] = {
    "open": ("matched", "found", "closed"),
    "matched": ("open", "found", "closed"),
    "found": ("returned", "closed"),
    "returned": (),
    "closed": (),
}
FOUND_MOVES: dict[str, tuple[str, ...]] = {
    "open": ("claimed", "disposed"),
    "claimed": ("returned", "open"),
    "returned": (),
    "disposed": (),
}
MATCH_MOVES: dict[str, tuple[str, ...]] = {
    "proposed": ("confirmed", "rejected"),
    "confirmed": (),
    "rejected": (),
}
# reports and found items that new matches may still pair
MATCHABLE_LOST: tuple[str, ...] = ("open", "matched")
MATCHABLE_FOUND: tuple[str, ...] = ("open",)


def check_move(
    what: str, moves: dict[str, tuple[str, ...]], current: str, wanted: str, field: str = "status"
) -> None:
    """Raises a 409 :class:`HotelError` naming the allowed moves unless ``current`` may become
    ``wanted``."""
    allowed = moves.get(current, ())
    if wanted not in allowed:
        listed = ", ".join(allowed) or "none (final)"
        raise HotelError(
            409,
            field,
            f"a {what} that is {current} cannot become {wanted}; allowed: {listed}",
            allowed=allowed,
        )
