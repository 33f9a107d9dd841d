"""The seed API's vocabulary (hub/ml/terms.py), model names, price tiers and action codes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hub.ml import terms, training
from hub.ml.cancellation import ACTION_CODES, action_code
from hub.ml.catalog import SERVICES
from hub.ml.errors import NotFoundError
from hub.ml.schema import DEPOSIT_TYPES, DISTRIBUTION_CHANNELS, MARKET_SEGMENTS
from hub.ml.service import budget_fit, price_tiers
from hub.ml.synthetic import booking_ref_of, guest_ref_of


def test_the_seeds_example_values_map_onto_the_dataset() -> None:
    assert terms.booking_source("website") == ("Direct", "Direct")
    assert terms.deposit_type("credit_card") == "No Deposit"
    assert terms.market_segment("business") == "Corporate"
    # the dataset's own values pass through
    assert terms.booking_source("Groups") == ("Groups", "TA/TO")
    assert terms.deposit_type("Non Refund") == "Non Refund"
    assert terms.market_segment("Aviation") == "Aviation"
    # spelling variants
    assert terms.booking_source("Booking.com".replace(".", "_")) == ("Online TA", "TA/TO")
    assert terms.deposit_type("Bank Transfer") == "Non Refund"


def test_every_mapping_lands_in_the_dataset_vocabulary() -> None:
    for segment, channel in terms.BOOKING_SOURCES.values():
        assert segment in MARKET_SEGMENTS
        assert channel in DISTRIBUTION_CHANNELS
    assert set(terms.PAYMENT_METHODS.values()) <= set(DEPOSIT_TYPES)
    assert set(terms.GUEST_SEGMENTS.values()) <= set(MARKET_SEGMENTS)


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (terms.booking_source, "carrier_pigeon"),
        (terms.deposit_type, "seashells"),
        (terms.market_segment, "pirates"),
    ],
)
def test_unknown_values_are_refused_with_the_options(
    check: Callable[[str], object], value: str
) -> None:
    with pytest.raises(ValueError, match="one of") as info:
        check(value)
    assert value in str(info.value)


def test_seed_model_names() -> None:
    assert training.models_for("pricing_model") == ("occupancy", "pricing")
    assert training.models_for("churn_model") == ("cancellation",)
    assert training.models_for("clv") == ("clv",)
    assert training.models_for("all") == training.MODEL_NAMES
    for names in training.SEED_MODEL_NAMES.values():
        assert set(names) <= set(training.MODEL_NAMES)
    with pytest.raises(NotFoundError) as info:
        training.models_for("crystal_ball")
    assert info.value.field == "model_name"
    assert "pricing_model" in info.value.reason


def test_price_tiers_and_budget_fit() -> None:
    tiers = price_tiers({"suite": 240.0, "standard": 80.0, "deluxe": 130.0})
    assert tiers == {"standard": "low", "deluxe": "medium", "suite": "high"}
    assert price_tiers({"a": 1.0, "b": 2.0}) == {"a": "low", "b": "medium"}
    assert set(price_tiers({str(i): float(i) for i in range(9)}).values()) == {
        "low",
        "medium",
        "high",
    }
    assert budget_fit("high", "high", 240.0) == 1.0
    assert budget_fit("high", "medium", 130.0) == 0.5
    assert budget_fit("high", "low", 80.0) == 0.0
    assert budget_fit(100.0, "medium", 130.0) == 0.0
    assert budget_fit(100.0, "low", 80.0) == 1.0
    assert budget_fit(None, "low", 80.0) == 1.0


def test_hotel_ids_and_codes() -> None:
    assert booking_ref_of(1) == "BOOK001"
    assert guest_ref_of(1) == "GUEST001"
    assert guest_ref_of(12345) == "GUEST12345"
    assert {s.service_id for s in SERVICES} >= {"SVC_SPA_001", "SVC_BREAKFAST_001"}
    assert len(set(ACTION_CODES.values())) == len(ACTION_CODES)
    assert action_code("No action needed: send the standard confirmation.") == (
        "send_confirmation_email"
    )
