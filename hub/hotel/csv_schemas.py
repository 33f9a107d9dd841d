"""What each kind of CSV import reads (pure): the documented generic columns per kind, the
"Hotel booking demand" schema for bookings, a column mapping (our column -> the file's), and
one typed record per row or the row's reason for refusal.

Generic columns (``*`` required; docs/hotel.md has the full table):

- rooms: room_number*, room_type*, floor*, status, capacity, base_rate
- employees: employee_id*, name*, department, position, email, phone, is_active,
  attendance_camera
- shifts: employee_id*, start_time*, end_time*, weekday (0-6 or Mon..Sun), shift_date,
  grace_minutes
- bookings: booking_id* (the PMS's id), check_in_date*, check_out_date*, guest_id, guest_name,
  guest_email, room_number, room_type, rate_per_night, total_amount, currency, channel,
  segment, deposit, status, adults, children

A bookings file whose header carries all the dataset's 32 columns is read as "Hotel booking
demand" (an optional ``booking_id`` column keeps the PMS's ids; without it a row's id is a digest
of its cells, numbered when the file repeats a row, so a re-import finds the same ids).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from contracts.ids import ID_PATTERN
from hub.flows.bookings import MAX_NIGHTS, MAX_TOTAL
from hub.flows.room import ROOM_STATUSES, hub_status
from hub.hotel.booking_status import STATUSES, normalise
from hub.hotel.csv_format import MISSING, CsvFormatError, DateFormat, parse_date
from hub.hotel.validation import check_email, check_shift
from hub.ml.schema import HOTEL_BOOKING_COLUMNS, MONTHS

KINDS: tuple[str, ...] = ("bookings", "rooms", "employees", "shifts")
HOTEL_BOOKING_DEMAND = "hotel_booking_demand"
GENERIC = "generic"

REQUIRED: dict[str, tuple[str, ...]] = {
    "rooms": ("room_number", "room_type", "floor"),
    "employees": ("employee_id", "name"),
    "shifts": ("employee_id", "start_time", "end_time"),
    "bookings": ("booking_id", "check_in_date", "check_out_date"),
}
OPTIONAL: dict[str, tuple[str, ...]] = {
    "rooms": ("status", "capacity", "base_rate"),
    "employees": (
        "department",
        "position",
        "email",
        "phone",
        "is_active",
        "attendance_camera",
    ),
    "shifts": ("weekday", "shift_date", "grace_minutes"),
    "bookings": (
        "guest_id",
        "guest_name",
        "guest_email",
        "room_number",
        "room_type",
        "rate_per_night",
        "total_amount",
        "currency",
        "channel",
        "segment",
        "deposit",
        "status",
        "adults",
        "children",
    ),
}
DATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "rooms": (),
    "employees": (),
    "shifts": ("shift_date",),
    "bookings": ("check_in_date", "check_out_date"),
    HOTEL_BOOKING_DEMAND: ("reservation_status_date",),
}
LIMITS: dict[str, int] = {
    "room_number": 16,
    "room_type": 32,
    "employee_id": 64,
    "name": 200,
    "department": 100,
    "position": 100,
    "email": 254,
    "phone": 40,
    "booking_id": 32,
    "guest_id": 28,
    "guest_name": 200,
    "guest_email": 254,
    "currency": 3,
    "channel": 32,
    "segment": 32,
    # booking_attributes (the dataset's columns)
    "hotel": 64,
    "country": 3,
    "agent": 16,
    "company": 16,
    "reserved_room_type": 32,
    "assigned_room_type": 32,
    "market_segment": 32,
    "distribution_channel": 16,
    "deposit_type": 16,
    "customer_type": 16,
    "meal": 16,
}
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TRUE = frozenset({"1", "true", "yes", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "n", "f"})
_DATASET_STATUS = {"Check-Out": "checked_out", "Canceled": "cancelled", "No-Show": "no_show"}
_DATASET_CHANNEL = {"Direct": "direct", "TA/TO": "ota", "Corporate": "corporate", "GDS": "gds"}


class RowError(ValueError):
    """One row's refusal: ``field: reason``."""


Row = Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class Layout:
    """How a file's columns are read: its schema and, per our column, the cell index."""

    kind: str
    schema: str
    index: dict[str, int]

    def values(self, cells: list[str]) -> dict[str, str | None]:
        """Our columns' values in a row (``None``: missing; see ``csv_format.cell``)."""
        out: dict[str, str | None] = {}
        size = len(cells)
        for name, i in self.index.items():
            value = cells[i].strip() if i < size else ""
            out[name] = None if value in MISSING else value
        return out


def layout(kind: str, header: list[str], mapping: Mapping[str, str] | None = None) -> Layout:
    """Which schema the header is, and where each of our columns sits. ``mapping``: our
    column -> the file's column name. Raises CsvFormatError naming missing/unknown columns."""
    if kind not in KINDS:
        raise CsvFormatError(f"kind: one of {', '.join(KINDS)}")
    renamed = {theirs: ours for ours, theirs in (mapping or {}).items()}
    names = [renamed.get(name, name) for name in header]
    unknown_map = sorted(set(renamed) - set(header))
    if unknown_map:
        raise CsvFormatError(f"mapping names columns the file lacks: {', '.join(unknown_map)}")
    index = {name: i for i, name in enumerate(names) if name}
    if kind == "bookings" and all(c in index for c in HOTEL_BOOKING_COLUMNS):
        keep = (*HOTEL_BOOKING_COLUMNS, "booking_id")
        return Layout(kind, HOTEL_BOOKING_DEMAND, {n: i for n, i in index.items() if n in keep})
    known = (*REQUIRED[kind], *OPTIONAL[kind])
    missing = [c for c in REQUIRED[kind] if c not in index]
    if missing:
        raise CsvFormatError(
            f"missing columns: {', '.join(missing)} (the {kind} schema needs "
            f"{', '.join(REQUIRED[kind])}; map other names with mapping / --map)"
        )
    return Layout(kind, GENERIC, {n: i for n, i in index.items() if n in known})


def date_columns(found: Layout) -> tuple[str, ...]:
    return DATE_COLUMNS[found.schema if found.schema == HOTEL_BOOKING_DEMAND else found.kind]


# -- typed cells -------------------------------------------------------------------------------


def _text(row: Row, name: str, required: bool = False) -> str | None:
    value = row.get(name)
    if value is None:
        if required:
            raise RowError(f"{name}: missing")
        return None
    if len(value) > LIMITS.get(name, 100):
        raise RowError(f"{name}: longer than {LIMITS.get(name, 100)} characters")
    return value


def _req(row: Row, name: str) -> str:
    value = _text(row, name, required=True)
    assert value is not None  # noqa: S101 - required
    return value


def _int(
    row: Row,
    name: str,
    low: int,
    high: int,
    default: int | None = None,
    *,
    required: bool = False,
) -> int | None:
    value = row.get(name)
    if value is None:
        if required:
            raise RowError(f"{name}: missing")
        return default
    try:
        number = float(value)
    except ValueError:
        number = 0.5
    if not number.is_integer():
        raise RowError(f"{name}: {value!r} is not a whole number")
    if not low <= number <= high:
        raise RowError(f"{name}: {value} is not between {low} and {high}")
    return int(number)


def _req_int(row: Row, name: str, low: int, high: int) -> int:
    value = _int(row, name, low, high, required=True)
    assert value is not None  # noqa: S101 - required
    return value


def _money(row: Row, name: str, digits: int = 10) -> Decimal | None:
    value = row.get(name)
    if value is None:
        return None
    try:
        amount = Decimal(value.replace(",", ".") if value.count(",") == 1 else value)
    except InvalidOperation:
        raise RowError(f"{name}: {value!r} is not an amount") from None
    if not amount.is_finite() or amount < 0:
        raise RowError(f"{name}: {value!r} is not an amount of 0 or more")
    if amount >= Decimal(10) ** (digits - 2):
        raise RowError(f"{name}: {value!r} is too large")
    return amount.quantize(Decimal("0.01"))


def _total(rate: Decimal, nights: int) -> Decimal:
    """A stay's total; bookings.total_amount is NUMERIC(12, 2)."""
    total = rate * nights
    if total > MAX_TOTAL:
        raise RowError(f"total_amount: {total} is too large")
    return total


def _bool(row: Row, name: str, default: bool) -> bool:
    value = row.get(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise RowError(f"{name}: {value!r} is not yes/no (1/0, true/false)")


def _date(row: Row, name: str, fmt: DateFormat, required: bool = False) -> date | None:
    value = row.get(name)
    if value is None:
        if required:
            raise RowError(f"{name}: missing")
        return None
    try:
        return parse_date(value, fmt)
    except ValueError as err:
        raise RowError(f"{name}: {err}") from None


def _req_date(row: Row, name: str, fmt: DateFormat) -> date:
    value = _date(row, name, fmt, required=True)
    assert value is not None  # noqa: S101 - required
    return value


# -- generic kinds -------------------------------------------------------------------------------


def room_record(row: Row, _fmt: DateFormat) -> dict[str, Any]:
    status = _text(row, "status") or "available"
    if status not in ROOM_STATUSES:
        raise RowError(f"status: {status!r} is not one of {', '.join(ROOM_STATUSES)}")
    return {
        "room_number": _req(row, "room_number"),
        "room_type": _req(row, "room_type"),
        "floor": _req_int(row, "floor", -10, 500),
        "status": hub_status(status),
        "capacity": _int(row, "capacity", 1, 50),
        "base_rate": _money(row, "base_rate"),
    }


def employee_record(row: Row, _fmt: DateFormat) -> dict[str, Any]:

    employee_id = _req(row, "employee_id")
    if not re.match(ID_PATTERN, employee_id):
        raise RowError("employee_id: letters, digits, '_', '.', '-' (64 at most)")
    email = _text(row, "email")
    try:
        email = check_email(email) if email is not None else None
    except ValueError:
        raise RowError("email: not an e-mail address") from None
    return {
        "employee_id": employee_id,
        "name": _req(row, "name"),
        "department": _text(row, "department"),
        "position": _text(row, "position"),
        "email": email,
        "phone": _text(row, "phone"),
        "is_active": _bool(row, "is_active", True),
        "attendance_camera": _bool(row, "attendance_camera", False),
    }


def shift_record(row: Row, fmt: DateFormat) -> dict[str, Any]:
    start, end = _req(row, "start_time"), _req(row, "end_time")
    try:
        check_shift(start, end)
    except ValueError as err:
        raise RowError(str(err)) from None
    weekday_text = row.get("weekday")
    weekday: int | None = None
    if weekday_text is not None:
        short = weekday_text[:3].lower()
        weekday = _WEEKDAYS.index(short) if short in _WEEKDAYS else _int(row, "weekday", 0, 6)
    day = _date(row, "shift_date", fmt)
    if day is not None:
        if weekday not in (None, day.weekday()):
            raise RowError(f"weekday: {day} is weekday {day.weekday()} (0 = Monday)")
        weekday = day.weekday()
    return {
        "employee_id": _req(row, "employee_id"),
        "weekday": weekday,
        "shift_date": day,
        "start_time": start,
        "end_time": end,
        "grace_minutes": _int(row, "grace_minutes", 0, 240),
    }


def _stay(check_in: date, check_out: date) -> None:
    nights = (check_out - check_in).days
    if nights < 1:
        raise RowError("check_out_date: must be after check_in_date")
    if nights > MAX_NIGHTS:
        raise RowError(f"check_out_date: a stay is at most {MAX_NIGHTS} nights")


def booking_record(row: Row, fmt: DateFormat) -> dict[str, Any]:
    ref = _req(row, "booking_id")
    check_in = _req_date(row, "check_in_date", fmt)
    check_out = _req_date(row, "check_out_date", fmt)
    _stay(check_in, check_out)
    status = normalise(_text(row, "status") or "reserved")
    if status not in STATUSES:
        raise RowError(f"status: {status!r} is not one of {', '.join(STATUSES)} (or booked)")
    rate = _money(row, "rate_per_night") or Decimal(0)
    total = _money(row, "total_amount", 12)
    if total is None:
        total = _total(rate, (check_out - check_in).days)
    email = _text(row, "guest_email")
    try:
        email = check_email(email, "guest_email") if email is not None else None
    except ValueError:
        raise RowError("guest_email: not an e-mail address") from None
    currency = (_text(row, "currency") or "USD").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise RowError(f"currency: {currency!r} is not a 3-letter code")
    return {
        "booking_ref": ref,
        "guest_ref": _text(row, "guest_id") or f"G-{ref}"[:32],
        "guest_name": _text(row, "guest_name"),
        "guest_email": email,
        "check_in_date": check_in,
        "check_out_date": check_out,
        "room_number": _text(row, "room_number"),
        "room_type": _text(row, "room_type"),
        "rate_per_night": rate,
        "total_amount": total,
        "currency": currency,
        "channel": _text(row, "channel") or "direct",
        "segment": _text(row, "segment"),
        "deposit": _money(row, "deposit", 12),
        "status": status,
        "adults": _int(row, "adults", 1, 20, 1),
        "children": _int(row, "children", 0, 20, 0),
        "attributes": None,
    }


# -- "Hotel booking demand" ---------------------------------------------------------------------


def dataset_ref(cells: list[str], occurrence: int) -> str:
    """A dataset row's booking id without a booking_id column: a digest of its cells (the n-th
    repeat of identical cells gets ``-n``)."""
    digest = hashlib.sha256("\x1f".join(c.strip() for c in cells).encode()).hexdigest()[:16]
    return f"HBD-{digest}" if occurrence <= 1 else f"HBD-{digest}-{occurrence}"


def dataset_record(row: Row, fmt: DateFormat) -> dict[str, Any]:
    month_name = _req(row, "arrival_date_month")
    if month_name not in MONTHS:
        raise RowError(f"arrival_date_month: {month_name!r} is not an English month name")
    year = _req_int(row, "arrival_date_year", 1900, 2200)
    day = _req_int(row, "arrival_date_day_of_month", 1, 31)
    try:
        arrival = date(year, MONTHS.index(month_name) + 1, day)
    except ValueError:
        raise RowError(f"arrival date: {year}-{month_name}-{day} is not a calendar date") from None
    weekend = _int(row, "stays_in_weekend_nights", 0, MAX_NIGHTS) or 0
    week = _int(row, "stays_in_week_nights", 0, MAX_NIGHTS) or 0
    departure = arrival + timedelta(days=weekend + week)
    _stay(arrival, departure)
    reservation = _req(row, "reservation_status")
    if reservation not in _DATASET_STATUS:
        raise RowError(
            f"reservation_status: {reservation!r} is not one of Check-Out, Canceled, No-Show"
        )
    canceled = _req_int(row, "is_canceled", 0, 1)
    if (canceled == 1) != (reservation != "Check-Out"):
        raise RowError("is_canceled: disagrees with reservation_status")
    status_day = _req_date(row, "reservation_status_date", fmt)
    adr = _money(row, "adr")
    children_text = row.get("children")
    children = 0 if children_text in (None, "NA") else _int(row, "children", 0, 20, 0)
    nights = (departure - arrival).days
    rate = adr or Decimal(0)
    lead = _int(row, "lead_time", 0, 5000, 0) or 0
    status = _DATASET_STATUS[reservation]
    ints = {
        name: _int(row, name, 0, 10_000, 0)
        for name in (
            "babies",
            "previous_cancellations",
            "previous_bookings_not_canceled",
            "booking_changes",
            "days_in_waiting_list",
            "required_car_parking_spaces",
            "total_of_special_requests",
        )
    }
    return {
        "booking_ref": _text(row, "booking_id"),  # None: the caller gives the digest
        "guest_ref": None,
        "guest_name": None,
        "guest_email": None,
        "check_in_date": arrival,
        "check_out_date": departure,
        "room_number": None,
        "room_type": _text(row, "reserved_room_type"),
        "rate_per_night": rate,
        "total_amount": _total(rate, nights),
        "currency": "EUR",
        "channel": _DATASET_CHANNEL.get(row.get("distribution_channel") or "", "direct"),
        "segment": _text(row, "market_segment"),
        "deposit": None,
        "status": status,
        "adults": _int(row, "adults", 0, 60, 1),
        "children": children,
        "booked_on": arrival - timedelta(days=lead),
        "status_on": status_day,
        "attributes": {
            "hotel": _text(row, "hotel"),
            "market_segment": _req(row, "market_segment"),
            "distribution_channel": _req(row, "distribution_channel"),
            "deposit_type": (_text(row, "deposit_type") or "No Deposit"),
            "customer_type": (_text(row, "customer_type") or "Transient"),
            "meal": (_text(row, "meal") or "BB"),
            "country": (_text(row, "country") or None),
            "agent": _text(row, "agent"),
            "company": _text(row, "company"),
            "is_repeated_guest": _int(row, "is_repeated_guest", 0, 1, 0) == 1,
            "reserved_room_type": _text(row, "reserved_room_type"),
            "assigned_room_type": _text(row, "assigned_room_type"),
            "cancelled_at": status_day if status != "checked_out" else None,
            **ints,
        },
    }


PARSERS: dict[str, Callable[[Row, DateFormat], dict[str, Any]]] = {
    "rooms": room_record,
    "employees": employee_record,
    "shifts": shift_record,
    "bookings": booking_record,
    HOTEL_BOOKING_DEMAND: dataset_record,
}


def parser_for(found: Layout) -> Callable[[Row, DateFormat], dict[str, Any]]:
    return PARSERS[HOTEL_BOOKING_DEMAND if found.schema == HOTEL_BOOKING_DEMAND else found.kind]
