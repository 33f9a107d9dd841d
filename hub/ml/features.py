"""Booking-level features in the public dataset's schema, and time splits.

What is *not* a feature (:data:`hub.ml.schema.LEAKAGE_COLUMNS`):

- ``is_canceled``: the label;
- ``reservation_status`` and ``reservation_status_date``: the outcome and its date, i.e. the
  label again;
- ``assigned_room_type``: set at check-in, so it differs from the reserved type only for guests
  who came (a tell-tale of the answer);
- ``booking_changes``: counted until arrival or cancellation, so it grows with the outcome;
- ``arrival_date_year`` is dropped too: an identifier of time that a model cannot extrapolate
  across a time split.

Splits are by time, never at random: :func:`split_by_arrival` (a booking's outcome is known once
its arrival date has passed) or, on a :class:`~hub.ml.history.History`, ``truncate(cutoff)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np
import pandas as pd

from hub.ml.hotel_bookings import arrival_dates
from hub.ml.schema import LEAKAGE_COLUMNS, NULL_ID

CANCEL_CATEGORICAL: Final[tuple[str, ...]] = (
    "hotel",
    "arrival_date_month",
    "meal",
    "country",
    "market_segment",
    "distribution_channel",
    "reserved_room_type",
    "deposit_type",
    "customer_type",
    "agent",
)
CANCEL_NUMERIC: Final[tuple[str, ...]] = (
    "lead_time",
    "arrival_date_week_number",
    "arrival_date_day_of_month",
    "arrival_dow",
    "stays_in_weekend_nights",
    "stays_in_week_nights",
    "total_nights",
    "adults",
    "children",
    "babies",
    "is_repeated_guest",
    "previous_cancellations",
    "previous_bookings_not_canceled",
    "days_in_waiting_list",
    "adr",
    "required_car_parking_spaces",
    "total_of_special_requests",
    "has_agent",
    "has_company",
)
CANCEL_FEATURES: Final[tuple[str, ...]] = CANCEL_NUMERIC + CANCEL_CATEGORICAL
DROPPED: Final[tuple[str, ...]] = (*LEAKAGE_COLUMNS, "arrival_date_year", "company")


def cancellation_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Model inputs for bookings in the dataset's schema (categoricals as strings)."""
    arrival = arrival_dates(frame)
    out = pd.DataFrame(index=frame.index)
    for name in CANCEL_NUMERIC:
        if name in frame.columns:
            out[name] = pd.to_numeric(frame[name]).astype("float64")
    out["arrival_dow"] = arrival.dt.day_of_week.astype("float64")
    out["total_nights"] = (frame["stays_in_weekend_nights"] + frame["stays_in_week_nights"]).astype(
        "float64"
    )
    out["has_agent"] = (frame["agent"].astype(str) != NULL_ID).astype("float64")
    out["has_company"] = (frame["company"].astype(str) != NULL_ID).astype("float64")
    for name in CANCEL_CATEGORICAL:
        out[name] = frame[name].astype(str)
    leaked = set(out.columns) & set(DROPPED)
    if leaked:  # pragma: no cover - guarded by the constants above
        raise AssertionError(f"leaking columns among features: {sorted(leaked)}")
    return out[list(CANCEL_FEATURES)]


def cancellation_labels(frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(frame["is_canceled"].to_numpy(dtype=np.int64))


def split_by_arrival(frame: pd.DataFrame, cutoff: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(bookings arriving before ``cutoff``, bookings arriving on or after it)."""
    arrival = arrival_dates(frame)
    day = pd.Timestamp(cutoff)
    return frame[arrival < day], frame[arrival >= day]


@dataclass(frozen=True)
class CategoryEncoder:
    """The categories seen in training, so prediction frames get the same codes (an unseen
    value becomes missing)."""

    categories: dict[str, tuple[str, ...]]

    @classmethod
    def fit(cls, frame: pd.DataFrame, columns: tuple[str, ...]) -> CategoryEncoder:
        return cls({c: tuple(sorted(frame[c].astype(str).unique())) for c in columns})

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        for column, categories in self.categories.items():
            values = frame[column].astype(str)
            values = values.where(values.isin(categories))
            out[column] = pd.Categorical(values, categories=list(categories))
        return out
