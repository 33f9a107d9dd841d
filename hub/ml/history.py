"""The booking history every model trains on, as pandas frames (no I/O here).

``History.as_of`` is the first day whose data is not complete ("today"): nights before it are
realised, bookings made on it may be partial. A :class:`History` comes from the hub database
(``hub.ml.repository``), from the generator (``hub.ml.synthetic``) or from the public dataset
(:func:`from_hotel_bookings`). :meth:`History.truncate` gives exactly what the hotel knew on an
earlier day, which is how every time split in this package is made.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Final

import numpy as np
import pandas as pd

from hub.ml.hotel_bookings import arrival_dates
from hub.ml.schema import HOTEL_BOOKING_COLUMNS, MONTHS, NULL_ID

DAY: Final = pd.Timedelta(days=1)

BOOKING_INT_COLUMNS: Final[tuple[str, ...]] = (
    "booking_id",
    "guest_id",
    "adults",
    "children",
    "babies",
    "is_repeated_guest",
    "previous_cancellations",
    "previous_bookings_not_canceled",
    "booking_changes",
    "days_in_waiting_list",
    "required_car_parking_spaces",
    "total_of_special_requests",
)
BOOKING_STR_COLUMNS: Final[tuple[str, ...]] = (
    "booking_ref",
    "room_type",
    "hotel",
    "market_segment",
    "distribution_channel",
    "deposit_type",
    "customer_type",
    "meal",
    "country",
    "agent",
    "company",
    "assigned_room_type",
)
BOOKING_DATE_COLUMNS: Final[tuple[str, ...]] = ("created", "arrival", "departure", "cancel_date")
BOOKING_COLUMNS: Final[tuple[str, ...]] = (
    *BOOKING_INT_COLUMNS,
    *BOOKING_STR_COLUMNS,
    *BOOKING_DATE_COLUMNS,
    "no_show",
    "adr",
)
ROOM_COLUMNS: Final[tuple[str, ...]] = ("room_number", "room_type", "capacity", "base_rate")
SERVICE_COLUMNS: Final[tuple[str, ...]] = (
    "booking_id",
    "guest_id",
    "service",
    "quantity",
    "amount",
    "date",
)


class HistoryError(ValueError):
    """A frame given to :class:`History` lacks columns or has impossible values."""


def to_day(value: date) -> pd.Timestamp:
    return pd.Timestamp(value).normalize()


def normalise_bookings(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with exactly :data:`BOOKING_COLUMNS` in their dtypes (missing optional
    attributes get the dataset's defaults)."""
    required = ("booking_id", "guest_id", "room_type", "created", "arrival", "departure", "adr")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise HistoryError(f"booking frame lacks {', '.join(missing)}")
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    defaults: dict[str, object] = {
        "adults": 2,
        "children": 0,
        "babies": 0,
        "hotel": "hotel",
        "market_segment": "Direct",
        "distribution_channel": "Direct",
        "deposit_type": "No Deposit",
        "customer_type": "Transient",
        "meal": "BB",
        "country": "UNK",
        "agent": NULL_ID,
        "company": NULL_ID,
    }
    source = frame.reset_index(drop=True)
    for name in BOOKING_INT_COLUMNS:
        if name in source.columns:
            out[name] = pd.to_numeric(source[name]).fillna(0).astype("int64")
        else:
            out[name] = int(defaults.get(name, 0))  # type: ignore[call-overload]
    for name in BOOKING_STR_COLUMNS:
        if name in source.columns:
            out[name] = source[name].astype(str)
        elif name == "booking_ref":
            out[name] = "B" + out["booking_id"].astype(str)
        elif name == "assigned_room_type":
            out[name] = source["room_type"].astype(str)
        else:
            out[name] = str(defaults[name])
    for name in BOOKING_DATE_COLUMNS:
        if name in source.columns:
            out[name] = pd.to_datetime(source[name]).dt.normalize().astype("datetime64[ns]")
        else:
            out[name] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
    out["no_show"] = source["no_show"].astype(bool) if "no_show" in source.columns else False
    out["adr"] = pd.to_numeric(source["adr"]).astype("float64")
    if (out["departure"] <= out["arrival"]).any():
        raise HistoryError("a booking departs on or before its arrival")
    return out[list(BOOKING_COLUMNS)]


@dataclass(frozen=True)
class History:
    """Bookings (one row each, :data:`BOOKING_COLUMNS`), rooms and service orders."""

    bookings: pd.DataFrame
    rooms: pd.DataFrame
    services: pd.DataFrame
    as_of: date
    currency: str = "USD"

    # -- inventory ---------------------------------------------------------------------------

    def capacity(self) -> dict[str, int]:
        """Rooms per room type."""
        counts = self.rooms.groupby("room_type").size()
        return {str(k): int(v) for k, v in counts.items()}

    @property
    def total_rooms(self) -> int:
        return len(self.rooms)

    @property
    def room_types(self) -> list[str]:
        return sorted(self.capacity())

    def base_rates(self) -> dict[str, float]:
        """Mean rack rate per room type; the median paid rate where the rooms carry none."""
        rates = self.rooms.groupby("room_type")["base_rate"].mean()
        paid = self.bookings.groupby("room_type")["adr"].median()
        out: dict[str, float] = {}
        for room_type, rate in rates.items():
            value = float(rate)
            if not value > 0:
                value = float(paid.get(room_type, np.nan))
            out[str(room_type)] = value if value > 0 else 1.0
        return out

    # -- states ------------------------------------------------------------------------------

    @property
    def as_of_ts(self) -> pd.Timestamp:
        return to_day(self.as_of)

    @property
    def first_night(self) -> pd.Timestamp:
        return pd.Timestamp(self.bookings["arrival"].min())

    def cancelled(self) -> pd.Series:
        return self.bookings["cancel_date"].notna()

    def stayed(self) -> pd.Series:
        """Bookings that occupy their rooms (neither cancelled nor a no-show)."""
        return ~self.cancelled() & ~self.bookings["no_show"]

    def status(self) -> pd.Series:
        """reserved | checked_in | checked_out | cancelled | no_show, as of ``as_of``."""
        b = self.bookings
        today = self.as_of_ts
        status = np.where(
            b["arrival"] >= today,
            "reserved",
            np.where(b["departure"] > today, "checked_in", "checked_out"),
        )
        status = np.where(b["no_show"], "no_show", status)
        status = np.where(self.cancelled(), "cancelled", status)
        return pd.Series(status, index=b.index, dtype=object)

    def of_room_type(self, room_type: str) -> History:
        """The history of one room type: its rooms, the bookings made for it, their services."""
        b = self.bookings[self.bookings["room_type"] == room_type].reset_index(drop=True)
        rooms = self.rooms[self.rooms["room_type"] == room_type].reset_index(drop=True)
        s = self.services[self.services["booking_id"].isin(b["booking_id"])]
        return replace(self, bookings=b, rooms=rooms, services=s.reset_index(drop=True))

    def truncate(self, as_of: date) -> History:
        """What the hotel knew at the start of ``as_of``: bookings made before it, cancellations
        and no-shows that had happened, services ordered before it."""
        day = to_day(as_of)
        b = self.bookings[self.bookings["created"] < day].copy()
        b.loc[b["cancel_date"] >= day, "cancel_date"] = pd.NaT
        b.loc[b["arrival"] >= day, "no_show"] = False
        s = self.services[self.services["date"] < day]
        return replace(
            self, bookings=b.reset_index(drop=True), services=s.reset_index(drop=True), as_of=as_of
        )


def empty_services() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "booking_id": pd.Series(dtype="int64"),
            "guest_id": pd.Series(dtype="int64"),
            "service": pd.Series(dtype=str),
            "quantity": pd.Series(dtype="int64"),
            "amount": pd.Series(dtype="float64"),
            "date": pd.Series(dtype="datetime64[ns]"),
        }
    )


# ---------------------------------------------------------------------------------------------
# The public dataset's schema
# ---------------------------------------------------------------------------------------------

# weekend nights (Saturday, Sunday) among the first r nights after an arrival on weekday d
_WEEKEND_IN_REMAINDER = np.array(
    [[sum(((d + k) % 7) in (5, 6) for k in range(r)) for r in range(7)] for d in range(7)]
)


def weekend_nights(arrival: pd.Series, departure: pd.Series) -> np.ndarray:
    nights = ((departure - arrival) / DAY).to_numpy().astype(int)
    dow = arrival.dt.day_of_week.to_numpy()
    return np.asarray(2 * (nights // 7) + _WEEKEND_IN_REMAINDER[dow, nights % 7], dtype=np.int64)


def to_hotel_bookings(history: History, *, resolved_only: bool = True) -> pd.DataFrame:
    """The bookings in the dataset's 32 columns. ``resolved_only`` keeps the bookings whose
    outcome is known at ``as_of`` (arrival before it), as the dataset holds only those."""
    b = history.bookings
    if resolved_only:
        b = b[b["arrival"] < history.as_of_ts]
    b = b.reset_index(drop=True)
    cancelled = b["cancel_date"].notna()
    nights = ((b["departure"] - b["arrival"]) / DAY).astype(int)
    weekend = weekend_nights(b["arrival"], b["departure"])
    status = np.where(cancelled, "Canceled", np.where(b["no_show"], "No-Show", "Check-Out"))
    status_date = b["cancel_date"].where(
        cancelled, b["arrival"].where(b["no_show"], b["departure"])
    )
    iso = b["arrival"].dt.isocalendar()
    out = pd.DataFrame(
        {
            "hotel": b["hotel"],
            "is_canceled": (cancelled | b["no_show"]).astype("int64"),
            "lead_time": ((b["arrival"] - b["created"]) / DAY).astype("int64"),
            "arrival_date_year": b["arrival"].dt.year.astype("int64"),
            "arrival_date_month": b["arrival"].dt.month.map(lambda m: MONTHS[m - 1]).astype(str),
            "arrival_date_week_number": iso["week"].astype("int64"),
            "arrival_date_day_of_month": b["arrival"].dt.day.astype("int64"),
            "stays_in_weekend_nights": weekend.astype("int64"),
            "stays_in_week_nights": (nights.to_numpy() - weekend).astype("int64"),
            "adults": b["adults"],
            "children": b["children"].astype("float64"),
            "babies": b["babies"],
            "meal": b["meal"],
            "country": b["country"],
            "market_segment": b["market_segment"],
            "distribution_channel": b["distribution_channel"],
            "is_repeated_guest": b["is_repeated_guest"],
            "previous_cancellations": b["previous_cancellations"],
            "previous_bookings_not_canceled": b["previous_bookings_not_canceled"],
            "reserved_room_type": b["room_type"],
            "assigned_room_type": b["assigned_room_type"],
            "booking_changes": b["booking_changes"],
            "deposit_type": b["deposit_type"],
            "agent": b["agent"],
            "company": b["company"],
            "days_in_waiting_list": b["days_in_waiting_list"],
            "customer_type": b["customer_type"],
            "adr": b["adr"].round(2),
            "required_car_parking_spaces": b["required_car_parking_spaces"],
            "total_of_special_requests": b["total_of_special_requests"],
            "reservation_status": pd.Series(status, dtype=str),
            "reservation_status_date": status_date.astype("datetime64[ns]"),
        }
    )
    return out[list(HOTEL_BOOKING_COLUMNS)]


def from_hotel_bookings(frame: pd.DataFrame, *, hotel: str | None = None) -> History:
    """A :class:`History` from the dataset (one hotel). The dataset has no guest ids and no
    room inventory: each booking is its own guest, and a room type's capacity is the most rooms
    of that type ever occupied on one night."""
    if hotel is not None:
        frame = frame[frame["hotel"] == hotel]
    if frame["hotel"].nunique() > 1:
        raise HistoryError("the frame holds several hotels: pass hotel=")
    frame = frame.reset_index(drop=True)
    arrival = arrival_dates(frame)
    nights = frame["stays_in_weekend_nights"] + frame["stays_in_week_nights"]
    keep = nights > 0
    frame, arrival, nights = frame[keep], arrival[keep], nights[keep]
    status = frame["reservation_status"]
    bookings = pd.DataFrame(
        {
            "booking_id": np.arange(1, len(frame) + 1),
            "booking_ref": [f"HB-{i}" for i in range(1, len(frame) + 1)],
            "guest_id": np.arange(1, len(frame) + 1),
            "room_type": frame["reserved_room_type"],
            "created": arrival - pd.to_timedelta(frame["lead_time"], unit="D"),
            "arrival": arrival,
            "departure": arrival + pd.to_timedelta(nights, unit="D"),
            "cancel_date": frame["reservation_status_date"].where(status == "Canceled"),
            "no_show": status == "No-Show",
            "adr": frame["adr"].clip(lower=0.0),
            "children": frame["children"].fillna(0),
            **{
                c: frame[c]
                for c in HOTEL_BOOKING_COLUMNS
                if c
                in (
                    "hotel",
                    "adults",
                    "babies",
                    "meal",
                    "country",
                    "market_segment",
                    "distribution_channel",
                    "is_repeated_guest",
                    "previous_cancellations",
                    "previous_bookings_not_canceled",
                    "assigned_room_type",
                    "booking_changes",
                    "deposit_type",
                    "agent",
                    "company",
                    "days_in_waiting_list",
                    "customer_type",
                    "required_car_parking_spaces",
                    "total_of_special_requests",
                )
            },
        }
    )
    bookings = normalise_bookings(bookings)
    end = max(bookings["departure"].max(), frame["reservation_status_date"].max())
    history = History(
        bookings=bookings,
        rooms=pd.DataFrame(columns=list(ROOM_COLUMNS)),
        services=empty_services(),
        as_of=(pd.Timestamp(end) + DAY).date(),
    )
    rooms = []
    for room_type, group in bookings[history.stayed()].groupby("room_type"):
        peak = int(_nightly_count(group).max())
        rate = float(group["adr"].median())
        rooms += [
            {"room_number": f"{room_type}{i + 1:03d}", "room_type": str(room_type)}
            | {"capacity": 2, "base_rate": rate}
            for i in range(max(peak, 1))
        ]
    return replace(history, rooms=pd.DataFrame(rooms, columns=list(ROOM_COLUMNS)))


def _nightly_count(bookings: pd.DataFrame) -> np.ndarray:
    start = bookings["arrival"].min()
    a = ((bookings["arrival"] - start) / DAY).to_numpy().astype(int)
    d = ((bookings["departure"] - start) / DAY).to_numpy().astype(int)
    diff = np.zeros(d.max() + 2, dtype=np.int64)
    np.add.at(diff, a, 1)
    np.add.at(diff, d, -1)
    return np.cumsum(diff)


def day_index(values: pd.Series, origin: pd.Timestamp) -> np.ndarray:
    """Whole days from ``origin`` (``NaT`` -> a very large number)."""
    days = ((values - origin) / DAY).to_numpy(dtype="float64", na_value=np.nan)
    return np.where(np.isnan(days), 10**9, days).astype(np.int64)


def date_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
