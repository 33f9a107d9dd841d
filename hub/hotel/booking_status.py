"""The booking status rules as the REST API states them, over the booking flow's state machine
(hub/flows/bookings.py: ``TRANSITIONS`` and ``transition``): a target status names the flow's
event; a refused move is a 409 listing the statuses the booking may move to. The issue's
``booked`` is the stored ``reserved``."""

from __future__ import annotations

from hub.flows.bookings import NEW_STATUS, TRANSITIONS, BookingEventError, transition
from hub.hotel.errors import HotelError

# a target status -> the booking flow's event that produces it
STATUS_EVENTS: dict[str, str] = {
    new: event for event, (_from, new, _room) in TRANSITIONS.items() if new is not None
}
STATUSES: tuple[str, ...] = (NEW_STATUS, *STATUS_EVENTS)
ALIASES = {"booked": NEW_STATUS}


def normalise(status: str) -> str:
    return ALIASES.get(status, status)


def allowed_from(current: str) -> tuple[str, ...]:
    """The statuses a booking that is ``current`` may move to (empty: a final status)."""
    return tuple(
        status for status, event in STATUS_EVENTS.items() if current in TRANSITIONS[event][0]
    )


def event_for(current: str, target: str) -> str:
    """The booking flow's event moving ``current`` to ``target``; 422 for an unknown status,
    409 (with the allowed ones) for a move the state machine refuses."""
    target = normalise(target)
    if target not in STATUSES:
        raise HotelError(422, "status", f"one of {', '.join(STATUSES)} (or booked)")
    allowed = allowed_from(current)
    refused = HotelError(
        409,
        "status",
        f"a booking that is {current} cannot become {target}; allowed: "
        f"{', '.join(allowed) if allowed else 'none (it is final)'}",
        allowed=allowed,
    )
    event = STATUS_EVENTS.get(target)
    if event is None:  # back to reserved: never
        raise refused
    try:
        transition(current, event)
    except BookingEventError:
        raise refused from None
    return event


def check_modifiable(current: str) -> None:
    """Dates, room and amounts change only while the flow allows ``modified``."""
    try:
        transition(current, "modified")
    except BookingEventError:
        raise HotelError(
            409, "status", f"a booking that is {current} can no longer be changed"
        ) from None
