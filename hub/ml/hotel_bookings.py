"""Loader for the "Hotel booking demand" CSV (``hotel_bookings.csv``, see :mod:`hub.ml.schema`).

``read_hotel_bookings`` reads the file as text and ``parse_hotel_bookings`` types and checks it:
exactly the dataset's 32 columns (any order), integers where the dataset has integers,
``children`` may be ``NA``, ``agent``/``company`` keep the dataset's ``NULL``, months are English
names, and ``is_canceled`` agrees with ``reservation_status`` (the dataset counts a no-show as
cancelled). Every problem is reported at once, with up to five row numbers each.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from hub.ml.schema import (
    HOTEL_BOOKING_COLUMNS,
    INT_COLUMNS,
    MONTHS,
    NULL_ID,
    RESERVATION_STATUSES,
    STRING_COLUMNS,
)

logger = logging.getLogger(__name__)

_MISSING = frozenset({"", "NA", "NaN", "nan"})
_SHOW_ROWS = 5


class HotelBookingsFormatError(ValueError):
    """The file is not in the dataset's format; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def read_hotel_bookings(source: Path | IO[str]) -> pd.DataFrame:
    """Read and check a ``hotel_bookings.csv`` (path or open text file)."""
    # a BOM and semicolons, as spreadsheet exports have them, are read as well
    raw = pd.read_csv(
        source,
        dtype=str,
        keep_default_na=False,
        na_values=[],
        sep=None,
        engine="python",
        encoding="utf-8-sig",
    )
    frame = parse_hotel_bookings(raw)
    logger.info("read %d bookings in the hotel-bookings schema", len(frame))
    return frame


def _rows(mask: pd.Series) -> str:
    # Row numbers as in the file: the header is line 1.
    rows = [int(i) + 2 for i in np.flatnonzero(mask.to_numpy())[:_SHOW_ROWS]]
    return ", ".join(str(r) for r in rows)


def parse_hotel_bookings(raw: pd.DataFrame) -> pd.DataFrame:
    """Type and validate a frame of strings with the dataset's columns."""
    problems: list[str] = []
    columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in HOTEL_BOOKING_COLUMNS if c not in columns]
    extra = [c for c in columns if c not in HOTEL_BOOKING_COLUMNS]
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected columns: {', '.join(extra)}")
    if problems:
        raise HotelBookingsFormatError(problems)
    text = raw.set_axis(columns, axis=1)[list(HOTEL_BOOKING_COLUMNS)].astype(str)
    text = text.apply(lambda col: col.str.strip())
    out = pd.DataFrame(index=text.index)

    for name in INT_COLUMNS:
        values = pd.to_numeric(text[name], errors="coerce")
        bad = values.isna() | (values != values.round())
        if bad.any():
            problems.append(f"{name}: not an integer in rows {_rows(bad)}")
        out[name] = values.fillna(0).astype("int64")

    children = pd.to_numeric(text["children"].where(~text["children"].isin(_MISSING)))
    out["children"] = children.astype("float64")
    adr = pd.to_numeric(text["adr"], errors="coerce")
    if adr.isna().any():
        problems.append(f"adr: not a number in rows {_rows(adr.isna())}")
    out["adr"] = adr.astype("float64")

    for name in STRING_COLUMNS:
        out[name] = text[name]
    for name in ("agent", "company"):
        out[name] = out[name].where(~out[name].isin(_MISSING), NULL_ID)

    bad_month = ~out["arrival_date_month"].isin(MONTHS)
    if bad_month.any():
        problems.append(f"arrival_date_month: not an English month name in rows {_rows(bad_month)}")
    bad_status = ~out["reservation_status"].isin(RESERVATION_STATUSES)
    if bad_status.any():
        problems.append(
            f"reservation_status: not one of {sorted(RESERVATION_STATUSES)} in rows "
            f"{_rows(bad_status)}"
        )
    bad_flag = ~out["is_canceled"].isin((0, 1))
    if bad_flag.any():
        problems.append(f"is_canceled: not 0 or 1 in rows {_rows(bad_flag)}")
    elif not bad_status.any():
        disagree = (out["is_canceled"] == 1) != (out["reservation_status"] != "Check-Out")
        if disagree.any():
            problems.append(
                "is_canceled disagrees with reservation_status (1 for Canceled and No-Show) "
                f"in rows {_rows(disagree)}"
            )

    status_date = pd.to_datetime(
        text["reservation_status_date"], format="%Y-%m-%d", errors="coerce"
    )
    if status_date.isna().any():
        problems.append(
            f"reservation_status_date: not a YYYY-MM-DD date in rows {_rows(status_date.isna())}"
        )
    out["reservation_status_date"] = status_date.astype("datetime64[ns]")

    if not bad_month.any():
        arrival = arrival_dates(out)
        if arrival.isna().any():
            problems.append(f"arrival date: not a calendar date in rows {_rows(arrival.isna())}")
    for name in (
        "lead_time",
        "adults",
        "babies",
        "stays_in_weekend_nights",
        "stays_in_week_nights",
    ):
        negative = out[name] < 0
        if negative.any():
            problems.append(f"{name}: negative in rows {_rows(negative)}")
    if problems:
        raise HotelBookingsFormatError(problems)
    return out[list(HOTEL_BOOKING_COLUMNS)]


def arrival_dates(frame: pd.DataFrame) -> pd.Series:
    """The arrival date of each row (``NaT`` where year/month/day do not make a date)."""
    month = frame["arrival_date_month"].map({m: i + 1 for i, m in enumerate(MONTHS)})
    parts = pd.DataFrame(
        {
            "year": frame["arrival_date_year"],
            "month": month,
            "day": frame["arrival_date_day_of_month"],
        }
    )
    return pd.to_datetime(parts, errors="coerce")
