"""The seeded hotel simulator: deterministic, seasonal, price-sensitive, realistic cancellations."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from hub.ml.daily import actuals
from hub.ml.history import History, to_hotel_bookings
from hub.ml.schema import HOTEL_BOOKING_COLUMNS, LEAKAGE_COLUMNS
from hub.ml.synthetic import (
    SMALL_ROOM_TYPES,
    GeneratorConfig,
    SyntheticHistory,
    generate,
    realize,
)

AS_OF = date(2017, 9, 1)
CONFIG = GeneratorConfig(as_of=AS_OF, seed=11, days=730, future_days=120)
BIG = GeneratorConfig(as_of=AS_OF, seed=5, days=730, future_days=60)


@pytest.fixture(scope="module")
def small() -> SyntheticHistory:
    return generate(CONFIG.model_copy(update={"room_types": SMALL_ROOM_TYPES}))


@pytest.fixture(scope="module")
def big() -> SyntheticHistory:
    return generate(BIG)


def test_same_seed_same_history(small: SyntheticHistory) -> None:
    again = generate(CONFIG.model_copy(update={"room_types": SMALL_ROOM_TYPES}))
    pd.testing.assert_frame_equal(again.history.bookings, small.history.bookings)
    pd.testing.assert_frame_equal(again.history.services, small.history.services)
    pd.testing.assert_frame_equal(again.guests, small.guests)
    other = generate(CONFIG.model_copy(update={"room_types": SMALL_ROOM_TYPES, "seed": 12}))
    assert not other.history.bookings["adr"].equals(small.history.bookings["adr"])


def test_history_ends_at_as_of_and_has_future_bookings(small: SyntheticHistory) -> None:
    h = small.history
    b = h.bookings
    assert (b["created"] < pd.Timestamp(AS_OF)).all()
    assert (b["cancel_date"].dropna() < pd.Timestamp(AS_OF)).all()
    assert (b["cancel_date"].dropna() <= b.loc[b["cancel_date"].notna(), "arrival"]).all()
    assert (b["arrival"] >= pd.Timestamp(AS_OF)).sum() > 20  # on the books for the future
    status = h.status()
    assert set(status) >= {"reserved", "checked_out", "cancelled"}
    assert not status[b["arrival"] >= pd.Timestamp(AS_OF)].isin(["checked_out"]).any()


def test_dataset_schema_and_our_tables(small: SyntheticHistory) -> None:
    frame = to_hotel_bookings(small.history)
    assert list(frame.columns) == list(HOTEL_BOOKING_COLUMNS)
    assert set(frame["reservation_status"]) <= {"Check-Out", "Canceled", "No-Show"}
    assert ((frame["is_canceled"] == 1) == (frame["reservation_status"] != "Check-Out")).all()
    assert set(frame["market_segment"]) >= {"Online TA", "Direct", "Corporate", "Groups"}
    assert set(frame["distribution_channel"]) >= {"TA/TO", "Direct", "Corporate"}
    assert set(frame["deposit_type"]) >= {"No Deposit", "Non Refund"}
    assert small.history.total_rooms == 15
    assert set(small.guests["guest_id"]) == set(small.history.bookings["guest_id"])
    assert small.booking_times["created_at"].dt.tz is not None
    assert len(small.history.services) > 0
    assert set(LEAKAGE_COLUMNS) <= set(frame.columns)  # present in the schema, dropped later


def test_rooms_never_overbooked(big: SyntheticHistory) -> None:
    act = actuals(big.history)
    assert act.rooms.max() <= big.history.total_rooms
    stays = big.booking_times.dropna(subset=["room_number"])
    merged = stays.merge(big.history.bookings, on="booking_id")
    for _, group in merged.groupby("room_number"):
        group = group.sort_values("arrival")
        assert (group["arrival"].to_numpy()[1:] >= group["departure"].to_numpy()[:-1]).all()


def test_yearly_and_weekly_seasonality(big: SyntheticHistory) -> None:
    occ = actuals(big.history).frame()["occupancy"]
    by_month = occ.groupby(occ.index.month).mean()
    assert by_month[[6, 7, 8]].mean() > by_month[[1, 2]].mean() + 0.15
    arrivals = big.history.bookings.groupby(big.history.bookings["arrival"].dt.day_of_week).size()
    leisure = big.history.bookings[big.history.bookings["market_segment"] == "Online TA"]
    by_dow = leisure.groupby(leisure["arrival"].dt.day_of_week).size()
    assert by_dow[4] > 1.5 * by_dow[1]  # Friday arrivals against Tuesday
    corporate = big.history.bookings[big.history.bookings["market_segment"] == "Corporate"]
    by_dow = corporate.groupby(corporate["arrival"].dt.day_of_week).size()
    assert by_dow[0] > 2 * by_dow[5]  # Monday against Saturday
    assert arrivals.sum() == len(big.history.bookings)


def _cancel_rate(frame: pd.DataFrame, mask: pd.Series) -> float:
    return float(frame.loc[mask, "is_canceled"].mean())


def test_cancellations_depend_on_lead_time_deposit_and_history(big: SyntheticHistory) -> None:
    frame = to_hotel_bookings(big.history)
    frame = frame[frame["reservation_status"] != "No-Show"]
    short, long = frame["lead_time"] <= 14, frame["lead_time"] >= 120
    assert _cancel_rate(frame, long) > _cancel_rate(frame, short) + 0.15
    assert _cancel_rate(frame, frame["deposit_type"] == "Non Refund") < _cancel_rate(
        frame, frame["deposit_type"] == "No Deposit"
    )
    assert _cancel_rate(frame, frame["distribution_channel"] == "TA/TO") > _cancel_rate(
        frame, frame["distribution_channel"] == "Direct"
    )
    assert _cancel_rate(frame, frame["previous_cancellations"] > 0) > _cancel_rate(
        frame, frame["previous_cancellations"] == 0
    )
    overall = frame["is_canceled"].mean()
    assert 0.2 < overall < 0.5


def test_lead_times_and_segments_look_like_a_hotel(big: SyntheticHistory) -> None:
    frame = to_hotel_bookings(big.history)
    lead = frame.groupby("market_segment")["lead_time"].median()
    assert lead["Groups"] > lead["Online TA"] > lead["Corporate"]
    assert frame["lead_time"].median() > 20
    assert frame["lead_time"].max() > 300
    assert frame["is_repeated_guest"].mean() > 0.03


def test_demand_falls_when_prices_rise(big: SyntheticHistory) -> None:
    world = big.world
    start = world.as_of_index - 200
    dearer = world.bar.copy()
    dearer[:, start:] *= 1.3
    base = big.realized
    priced = realize(world, dearer, from_day=start)
    assert priced.rejected_price > base.rejected_price
    again = realize(world)
    np.testing.assert_array_equal(again.request, base.request)  # replay is exact


def test_history_is_a_history(small: SyntheticHistory) -> None:
    assert isinstance(small.history, History)
    assert small.history.room_types == ["double", "single", "suite"]
    assert small.history.base_rates()["suite"] == 210.0
