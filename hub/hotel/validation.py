"""Checks of hotel values that need no database (pure)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hub.flows.bookings import MAX_NIGHTS
from hub.hotel.errors import invalid

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# statuses a booking holds its room in (a double booking is two of these on one night)
HOLDING_STATUSES: tuple[str, ...] = ("reserved", "checked_in")


def parse_hhmm(value: str, field: str) -> time:
    if not _HHMM.match(value):
        raise invalid(field, "a time of day as HH:MM (00:00 to 23:59)")
    return time(int(value[:2]), int(value[3:]))


def check_stay(check_in: date, check_out: date, *, prefix: str = "") -> int:
    """The number of nights; 422 unless check-out follows check-in by 1 to MAX_NIGHTS nights."""
    nights = (check_out - check_in).days
    if nights < 1:
        raise invalid(f"{prefix}check_out_date", "must be after check_in_date")
    if nights > MAX_NIGHTS:
        raise invalid(f"{prefix}check_out_date", f"a stay is at most {MAX_NIGHTS} nights")
    return nights


def stays_overlap(a_in: date, a_out: date, b_in: date, b_out: date) -> bool:
    """Whether two stays share a night (checking out on the day another checks in is fine)."""
    return a_in < b_out and b_in < a_out


def check_price_band(rack: Decimal, floor: Decimal | None, ceiling: Decimal | None) -> None:
    if floor is not None and floor > rack:
        raise invalid("price_floor", "must not be above rack_rate")
    if ceiling is not None and ceiling < rack:
        raise invalid("price_ceiling", "must not be below rack_rate")


def check_email(value: str, field: str = "email") -> str:
    if not _EMAIL.match(value.strip()):
        raise invalid(field, "an e-mail address (name@domain)")
    return value.strip()


def check_shift(start: str, end: str) -> bool:
    """Whether the shift crosses midnight (end before start); 422 for bad or equal times."""
    start_t, end_t = parse_hhmm(start, "start_time"), parse_hhmm(end, "end_time")
    if start_t == end_t:
        raise invalid("end_time", "must differ from start_time")
    return end_t < start_t


def shift_window(day: date, start: str, end: str, timezone: str) -> tuple[datetime, datetime]:
    """The aware start and end of a shift on ``day`` in the hotel's time zone (an overnight
    shift ends on the next day)."""
    zone = ZoneInfo(timezone)
    start_t, end_t = parse_hhmm(start, "start_time"), parse_hhmm(end, "end_time")
    starts = datetime.combine(day, start_t, tzinfo=zone)
    end_day = day + timedelta(days=1) if end_t <= start_t else day
    return starts, datetime.combine(end_day, end_t, tzinfo=zone)
