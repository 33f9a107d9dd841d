"""Feature building: nothing that leaks the answer, splits by time, and features that use only
what was known at their origin."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from hub.ml.features import (
    CANCEL_FEATURES,
    DROPPED,
    cancellation_features,
    split_by_arrival,
)
from hub.ml.forecasting import FEATURES, ForecastData, forecast_rows, training_origins
from hub.ml.history import History, to_hotel_bookings
from hub.ml.hotel_bookings import arrival_dates
from hub.ml.schema import LEAKAGE_COLUMNS
from hub.ml.synthetic import SMALL_ROOM_TYPES, GeneratorConfig, generate_history

AS_OF = date(2017, 9, 1)


@pytest.fixture(scope="module")
def history() -> History:
    return generate_history(
        GeneratorConfig(as_of=AS_OF, seed=3, days=600, future_days=120, room_types=SMALL_ROOM_TYPES)
    )


def test_no_leaking_column_is_a_feature(history: History) -> None:
    frame = to_hotel_bookings(history)
    features = cancellation_features(frame)
    assert list(features.columns) == list(CANCEL_FEATURES)
    for column in (*LEAKAGE_COLUMNS, "reservation_status", "reservation_status_date"):
        assert column not in features.columns
    assert not set(features.columns) & set(DROPPED)
    # the features are the same whatever the outcome columns say
    scrambled = frame.assign(
        is_canceled=1 - frame["is_canceled"],
        reservation_status="Canceled",
        reservation_status_date=pd.Timestamp("2000-01-01"),
        assigned_room_type="Z",
        booking_changes=99,
    )
    pd.testing.assert_frame_equal(cancellation_features(scrambled), features)


def test_split_by_arrival_is_a_time_split(history: History) -> None:
    frame = to_hotel_bookings(history)
    cutoff = AS_OF - timedelta(days=120)
    train, test = split_by_arrival(frame, cutoff)
    assert len(train) + len(test) == len(frame)
    assert arrival_dates(train).max() < pd.Timestamp(cutoff) <= arrival_dates(test).min()


def test_truncate_knows_only_the_past(history: History) -> None:
    cutoff = AS_OF - timedelta(days=200)
    past = history.truncate(cutoff)
    day = pd.Timestamp(cutoff)
    assert (past.bookings["created"] < day).all()
    assert (past.bookings["cancel_date"].dropna() < day).all()
    assert not past.bookings.loc[past.bookings["arrival"] >= day, "no_show"].any()
    assert (past.services["date"] < day).all()
    # a booking cancelled after the cutoff was still on the books at the cutoff
    later = history.bookings[
        (history.bookings["created"] < day) & (history.bookings["cancel_date"] >= day)
    ]
    assert len(later) > 0
    kept = past.bookings.set_index("booking_id").loc[later["booking_id"]]
    assert kept["cancel_date"].isna().all()
    # resolved bookings (the cancellation training set) all arrived before the cutoff
    assert (arrival_dates(to_hotel_bookings(past)) < day).all()


def test_forecast_features_use_nothing_after_their_origin(history: History) -> None:
    """Rows cut from the full history equal rows cut from the history as known at the origin:
    no feature can see the future (targets aside)."""
    cutoff = AS_OF - timedelta(days=150)
    known = history.truncate(cutoff)
    full = ForecastData.of(history, 120)
    past = ForecastData.of(known, 120)
    origin = past.last_origin  # the end of the day before the cutoff
    horizons = np.array([1, 7, 30, 90, 120])
    a = forecast_rows(full, np.array([origin]), horizons)
    b = forecast_rows(past, np.array([origin]), horizons)
    pd.testing.assert_frame_equal(a[list(FEATURES)], b[list(FEATURES)])
    assert b[["y_occ", "y_rev", "y_hk"]].isna().all().all()  # not realised at the cutoff
    assert a["y_occ"].notna().all()


def test_training_rows_are_realised_and_dated(history: History) -> None:
    data = ForecastData.of(history, 60)
    origins = training_origins(data.last_origin, 5)
    assert origins[-1] == data.last_origin - 1
    assert np.all(np.diff(origins) == 5)
    rows = forecast_rows(data, origins, np.array([1, 30, 60]))
    realised = rows[rows["y_occ"].notna()]
    assert (realised["night"] <= data.last_origin).all()
    assert ((rows["date"] - data.actuals.start).dt.days == rows["night"]).all()
    # on the books may exceed the rooms: bookings that will cancel still count (overbooking)
    assert (rows["otb_occ"] >= 0.0).all()
