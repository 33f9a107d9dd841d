"""Message text: the assistant's templates (:func:`hub.assistant.generate.render_notification`),
and a plain local template when those cannot be imported or refuse the fields."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal

from hub.notify.base import Notification

logger = logging.getLogger(__name__)

Lang = Literal["vi", "en"]

_FALLBACK: dict[str, tuple[str, str]] = {
    "late_arrival": (
        "Late arrival: {employee_name}",
        "{employee_name} checked in at {arrived_at}, {minutes_late} min after the shift start "
        "({shift_start}).",
    ),
    "dead_letter_alert": (
        "Edge {device_id} keeps sending messages the hub refuses",
        "The hub refused {count} messages from edge {device_id} in the last {window_minutes} "
        "minutes (dead letters; GET /api/v1/dead-letters/summary shows the reasons). Check the "
        "device's software version and configuration.",
    ),
    "attendance_retracted": (
        "Check-in retracted: {employee_name}",
        "The face check-in of {employee_name} ({employee_id}) on {work_date} came from a face "
        "that liveness later found to be a spoof (a photo or a screen); it was retracted. "
        "Please check with the employee.",
    ),
    "room_ready": (
        "Your room {room_number} is ready",
        "Dear {guest_name}, your room {room_number} is ready. Welcome!",
    ),
    "request_confirmation": (
        "Request received for room {room_number}",
        "Dear {guest_name}, we received your request ({request}) and our staff are on it.",
    ),
    "lost_item_found": (
        "We found your {item}",
        "Dear {guest_name}, we found your {item} ({found_at}). Please contact the front desk.",
    ),
    "hazard_alert": (
        "ALERT: {hazard} at {location}",
        "{hazard} detected at {location} ({detected_at}). Acknowledge in the staff app.",
    ),
    "pricing_summary": (
        "Daily pricing: {changes} price changes",
        "The daily pricing run published {nights} nights for {room_types} room types; "
        "{changes} prices changed. Expected revenue: {expected_revenue}.",
    ),
    "daily_report": (
        "Daily report {day}",
        "Occupancy {occupancy}, revenue {revenue}, open housekeeping tasks {open_tasks}, "
        "late arrivals {late}, incidents {incidents}.",
    ),
}


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return f"<{key}>"


def fallback(kind: str, fields: Mapping[str, str]) -> Notification:
    subject, body = _FALLBACK.get(kind, ("{kind}", "{kind}"))
    values = _Blank(fields)
    values.setdefault("kind", kind)
    return Notification(
        kind=kind,
        subject=subject.format_map(values),
        body=body.format_map(values),
        template="fallback",
    )


def compose(kind: str, lang: Lang, fields: Mapping[str, str]) -> Notification:
    """The assistant's rendering of ``kind``; the local template when it fails."""
    try:
        from hub.assistant.generate import render_notification

        message = render_notification(kind, lang, fields)
    except (ImportError, KeyError, ValueError) as err:
        logger.info(
            "template %s not rendered by the assistant (%s); using the fallback",
            kind,
            type(err).__name__,
        )
        return fallback(kind, fields)
    return Notification(kind=kind, subject=message.subject, body=message.body, html=message.html)
