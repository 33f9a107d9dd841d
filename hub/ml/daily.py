"""Nightly actuals and on-the-books (OTB) positions, the raw material of the daily forecasts.

Indices are whole days from the first night of the history. An *origin* ``o`` is a day at whose
end a forecast is made: it knows the bookings made up to and including ``o``, the cancellations
and no-shows that happened by then, and the actuals of nights up to ``o``. OTB(o, n) counts the
rooms booked for night ``n = o + h`` as known at ``o``; nothing after ``o`` enters it, so
features built from it cannot leak the future however the rows are later split.

Housekeeping demand is in hours: a departure clean takes :data:`DEPARTURE_CLEAN_MIN` minutes, a
stay-over service :data:`STAYOVER_CLEAN_MIN`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from hub.ml.history import DAY, History, day_index

DEPARTURE_CLEAN_MIN: Final = 45.0
STAYOVER_CLEAN_MIN: Final = 20.0
RECENT_SHORT: Final = 7
RECENT_LONG: Final = 28
LAST_YEAR: Final = 364  # same weekday, one year back


def housekeeping_hours(
    departures: np.ndarray, rooms: np.ndarray, arrivals: np.ndarray
) -> np.ndarray:
    stayovers = np.maximum(rooms - arrivals, 0.0)
    return np.asarray((DEPARTURE_CLEAN_MIN * departures + STAYOVER_CLEAN_MIN * stayovers) / 60.0)


@dataclass(frozen=True)
class BookingArrays:
    """The bookings as day indices (from ``start``), for fast OTB arithmetic."""

    start: pd.Timestamp
    created: np.ndarray
    cancelled: np.ndarray  # day of the cancellation; huge when not cancelled
    arrival: np.ndarray
    departure: np.ndarray
    no_show: np.ndarray
    adr: np.ndarray

    @classmethod
    def of(cls, bookings: pd.DataFrame, start: pd.Timestamp) -> BookingArrays:
        return cls(
            start=start,
            created=day_index(bookings["created"], start),
            cancelled=day_index(bookings["cancel_date"], start),
            arrival=day_index(bookings["arrival"], start),
            departure=day_index(bookings["departure"], start),
            no_show=bookings["no_show"].to_numpy(dtype=bool),
            adr=bookings["adr"].to_numpy(dtype=float),
        )


@dataclass(frozen=True)
class Otb:
    """On-the-books positions for some origins: arrays ``(len(origins), horizon + 1)``."""

    origins: np.ndarray
    horizon: int
    rooms: np.ndarray
    revenue: np.ndarray
    arrivals: np.ndarray
    departures: np.ndarray

    def row(self, origin: int) -> int:
        return int(np.searchsorted(self.origins, origin))

    def has(self, origin: int) -> bool:
        i = self.row(origin)
        return i < len(self.origins) and int(self.origins[i]) == origin


def on_the_books(arrays: BookingArrays, origins: np.ndarray, horizon: int) -> Otb:
    """OTB rooms, revenue, arrivals and departures for nights ``o .. o + horizon``."""
    origins = np.unique(np.asarray(origins, dtype=np.int64))
    shape = (len(origins), horizon + 1)
    rooms, revenue = np.zeros(shape), np.zeros(shape)
    arrivals, departures = np.zeros(shape), np.zeros(shape)
    width = horizon + 2
    for k, o in enumerate(origins.tolist()):
        active = (
            (arrays.created <= o)
            & (arrays.cancelled > o)
            & (arrays.departure > o)
            & (arrays.arrival <= o + horizon)
            & ~(arrays.no_show & (arrays.arrival <= o))
        )
        a = arrays.arrival[active] - o
        d = arrays.departure[active] - o
        adr = arrays.adr[active]
        first = np.clip(a, 0, horizon + 1)
        last = np.clip(d, 0, horizon + 1)
        rooms[k] = np.cumsum(
            np.bincount(first, minlength=width) - np.bincount(last, minlength=width)
        )[: horizon + 1]
        revenue[k] = np.cumsum(
            np.bincount(first, weights=adr, minlength=width)
            - np.bincount(last, weights=adr, minlength=width)
        )[: horizon + 1]
        in_a = (a >= 0) & (a <= horizon)
        in_d = (d >= 0) & (d <= horizon)
        arrivals[k] = np.bincount(a[in_a], minlength=horizon + 1)[: horizon + 1]
        departures[k] = np.bincount(d[in_d], minlength=horizon + 1)[: horizon + 1]
    return Otb(origins, horizon, rooms, revenue, arrivals, departures)


@dataclass(frozen=True)
class Actuals:
    """Realised nightly figures for nights ``0 .. last`` (index from ``start``)."""

    start: pd.Timestamp
    last: int
    capacity: int
    rooms: np.ndarray
    revenue: np.ndarray
    arrivals: np.ndarray
    departures: np.ndarray

    @property
    def housekeeping(self) -> np.ndarray:
        return housekeeping_hours(self.departures, self.rooms, self.arrivals)

    def dates(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, periods=self.last + 1, freq="D")

    def frame(self) -> pd.DataFrame:
        """One row per realised night: rooms, occupancy, revenue, housekeeping hours."""
        return pd.DataFrame(
            {
                "rooms": self.rooms,
                "occupancy": self.rooms / self.capacity,
                "revenue": self.revenue,
                "housekeeping_hours": self.housekeeping,
                "arrivals": self.arrivals,
                "departures": self.departures,
            },
            index=self.dates(),
        )


def actuals(history: History, start: pd.Timestamp | None = None) -> Actuals:
    """Nightly actuals from ``start`` (default: the first arrival) to the night before as_of."""
    b = history.bookings
    start = history.first_night if start is None else start
    last = int((history.as_of_ts - start) / DAY) - 1
    if last < 0:
        raise ValueError("no realised night in the history")
    stayed = b[history.stayed()]
    a = day_index(stayed["arrival"], start)
    d = day_index(stayed["departure"], start)
    adr = stayed["adr"].to_numpy(dtype=float)
    n = last + 1
    first = np.clip(a, 0, n)
    end = np.clip(d, 0, n)
    rooms = np.cumsum(np.bincount(first, minlength=n + 1) - np.bincount(end, minlength=n + 1))[:n]
    revenue = np.cumsum(
        np.bincount(first, weights=adr, minlength=n + 1)
        - np.bincount(end, weights=adr, minlength=n + 1)
    )[:n]
    arrivals = np.bincount(a[(a >= 0) & (a < n)], minlength=n)[:n]
    departures = np.bincount(d[(d >= 0) & (d < n)], minlength=n)[:n]
    return Actuals(
        start=start,
        last=last,
        capacity=max(history.total_rooms, 1),
        rooms=rooms.astype(float),
        revenue=revenue,
        arrivals=arrivals.astype(float),
        departures=departures.astype(float),
    )
