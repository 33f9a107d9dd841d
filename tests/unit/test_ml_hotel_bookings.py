"""The loader of the public "Hotel booking demand" CSV, on a hand-written sample."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hub.ml.history import from_hotel_bookings, to_hotel_bookings
from hub.ml.hotel_bookings import (
    HotelBookingsFormatError,
    arrival_dates,
    parse_hotel_bookings,
    read_hotel_bookings,
)
from hub.ml.schema import HOTEL_BOOKING_COLUMNS

HEADER = ",".join(HOTEL_BOOKING_COLUMNS)
# Written by hand in the dataset's format: NULL agents/companies, one "NA" child count, a
# no-show (is_canceled = 1, as in the dataset), cancellations dated before arrival.
ROWS = """\
Resort Hotel,0,342,2015,July,27,1,0,0,2,0,0,BB,PRT,Direct,Direct,0,0,0,C,C,3,No Deposit,NULL,NULL,0,Transient,0,0,0,Check-Out,2015-07-01
Resort Hotel,0,7,2015,July,27,1,0,1,1,0,0,BB,GBR,Direct,Direct,0,0,0,A,C,0,No Deposit,NULL,NULL,0,Transient,75,0,0,Check-Out,2015-07-02
City Hotel,1,88,2015,July,27,1,0,4,2,0,0,BB,PRT,Online TA,TA/TO,0,0,0,A,A,0,No Deposit,9,NULL,0,Transient,76.5,0,1,Canceled,2015-05-07
City Hotel,1,65,2015,July,27,1,0,4,1,NA,0,BB,PRT,Online TA,TA/TO,0,0,0,A,A,0,No Deposit,9,NULL,0,Transient,68,0,1,Canceled,2015-04-22
City Hotel,0,6,2015,July,27,2,0,2,2,0,0,HB,FRA,Offline TA/TO,TA/TO,0,0,0,A,A,0,No Deposit,6,NULL,0,Transient-Party,91,0,0,Check-Out,2015-07-04
City Hotel,0,3,2015,July,27,3,1,1,1,0,0,BB,DEU,Corporate,Corporate,1,0,2,A,A,1,No Deposit,NULL,40,0,Transient,80,1,0,Check-Out,2015-07-05
City Hotel,1,40,2015,August,32,3,0,2,2,2,0,BB,ESP,Online TA,TA/TO,0,1,0,D,D,0,No Deposit,240,NULL,0,Transient,120.25,0,2,No-Show,2015-08-03
City Hotel,1,200,2015,August,33,10,2,3,2,0,0,SC,PRT,Groups,TA/TO,0,0,0,A,A,0,Non Refund,1,NULL,12,Transient-Party,62,0,0,Canceled,2015-03-01
City Hotel,0,0,2015,August,33,11,0,1,1,0,0,BB,PRT,Aviation,Corporate,0,0,0,D,D,0,No Deposit,NULL,153,0,Transient,95,0,0,Check-Out,2015-08-12
City Hotel,0,14,2015,August,34,20,1,2,2,1,1,FB,USA,Direct,Direct,0,0,0,G,G,1,No Deposit,NULL,NULL,0,Transient,180,1,3,Check-Out,2015-08-23
"""  # noqa: E501 - rows of the dataset are long


def sample_csv() -> str:
    return HEADER + "\n" + ROWS


def test_reads_and_types_the_sample(tmp_path: Path) -> None:
    path = tmp_path / "hotel_bookings.csv"
    path.write_text(sample_csv())
    frame = read_hotel_bookings(path)
    assert list(frame.columns) == list(HOTEL_BOOKING_COLUMNS)
    assert len(frame) == 10
    assert frame["lead_time"].dtype == np.int64
    assert frame["adr"].dtype == np.float64
    assert np.isnan(frame.loc[3, "children"])
    assert frame.loc[0, "agent"] == "NULL"
    assert frame.loc[2, "agent"] == "9"
    assert frame.loc[5, "company"] == "40"
    assert frame["reservation_status_date"].dtype == "datetime64[ns]"
    assert arrival_dates(frame).iloc[6] == pd.Timestamp("2015-08-03")
    assert frame["is_canceled"].sum() == 4  # 3 cancellations and a no-show


def test_columns_in_another_order_are_accepted() -> None:
    raw = pd.read_csv(io.StringIO(sample_csv()), dtype=str, keep_default_na=False)
    shuffled = raw[list(reversed(raw.columns))]
    assert list(parse_hotel_bookings(shuffled).columns) == list(HOTEL_BOOKING_COLUMNS)


def _raw(**edits: str) -> pd.DataFrame:
    raw = pd.read_csv(io.StringIO(sample_csv()), dtype=str, keep_default_na=False)
    for column, value in edits.items():
        raw.loc[1, column] = value
    return raw


def test_missing_and_extra_columns_are_named() -> None:
    raw = _raw().drop(columns=["adr"]).assign(rate="1")
    with pytest.raises(HotelBookingsFormatError) as err:
        parse_hotel_bookings(raw)
    assert err.value.problems == ["missing columns: adr", "unexpected columns: rate"]


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("lead_time", "soon", "lead_time: not an integer in rows 3"),
        ("arrival_date_month", "Juli", "arrival_date_month: not an English month name in rows 3"),
        ("reservation_status", "Gone", "reservation_status: not one of"),
        ("is_canceled", "1", "is_canceled disagrees with reservation_status"),
        ("reservation_status_date", "02/07/2015", "reservation_status_date: not a YYYY-MM-DD"),
        ("arrival_date_day_of_month", "31", "arrival date: not a calendar date"),
        ("adults", "-1", "adults: negative in rows 3"),
    ],
)
def test_bad_values_are_reported_with_their_rows(column: str, value: str, message: str) -> None:
    raw = _raw(**{column: value})
    if column == "arrival_date_day_of_month":
        raw.loc[1, "arrival_date_month"] = "June"  # 31 June does not exist
    with pytest.raises(HotelBookingsFormatError) as err:
        parse_hotel_bookings(raw)
    assert any(message in p for p in err.value.problems), err.value.problems


def test_history_from_the_dataset_round_trips(tmp_path: Path) -> None:
    frame = parse_hotel_bookings(
        pd.read_csv(io.StringIO(sample_csv()), dtype=str, keep_default_na=False)
    )
    history = from_hotel_bookings(frame, hotel="City Hotel")
    assert len(history.bookings) == 8
    assert history.capacity()["A"] >= 1
    back = to_hotel_bookings(history)
    assert list(back.columns) == list(HOTEL_BOOKING_COLUMNS)
    original = frame[frame["hotel"] == "City Hotel"].reset_index(drop=True)
    for column in ("is_canceled", "lead_time", "adults", "deposit_type", "agent"):
        assert back[column].tolist() == original[column].tolist(), column
    nights = ["stays_in_weekend_nights", "stays_in_week_nights"]
    assert back[nights].sum(axis=1).tolist() == original[nights].sum(axis=1).tolist()
    assert back["reservation_status"].tolist() == original["reservation_status"].tolist()
