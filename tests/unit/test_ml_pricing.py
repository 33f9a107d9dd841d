"""Business rules (floor, ceiling, max daily change) and the revenue-maximising optimiser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from hub.ml.pricing import (
    NightInputs,
    PricingRules,
    allowed_range,
    apply_rules,
    expected_sales,
    optimise,
    revenue_curve,
)

RULES = PricingRules(floor=80.0, ceiling=200.0, max_daily_change=0.2)


def test_rules_validate() -> None:
    with pytest.raises(ValidationError, match="floor"):
        PricingRules(floor=100.0, ceiling=100.0)
    with pytest.raises(ValidationError):
        PricingRules(floor=50.0, ceiling=100.0, max_daily_change=0.0)
    with pytest.raises(ValidationError):
        PricingRules(floor=-1.0, ceiling=100.0)


@pytest.mark.parametrize(
    ("previous", "expected"),
    [
        (100.0, (80.0, 120.0, False)),  # the change limit binds both ways
        (90.0, (80.0, 108.0, False)),  # the floor binds below
        (190.0, (152.0, 200.0, False)),  # the ceiling binds above
        (50.0, (80.0, 80.0, True)),  # published below the floor: the floor wins
        (300.0, (200.0, 200.0, True)),  # published above the ceiling: the ceiling wins
    ],
)
def test_allowed_range(previous: float, expected: tuple[float, float, bool]) -> None:
    lo, hi, relaxed = allowed_range(previous, RULES)
    assert (round(lo, 6), round(hi, 6), relaxed) == expected


@pytest.mark.parametrize("price", [10.0, 79.0, 100.0, 130.0, 500.0])
def test_apply_rules_clips(price: float) -> None:
    out = apply_rules(price, 100.0, RULES)
    assert 80.0 <= out <= 120.0
    assert out == min(max(price, 80.0), 120.0)


def test_expected_sales_is_bounded_and_monotone() -> None:
    mean = np.array([0.0, 2.0, 5.0, 20.0, 100.0])
    sold = expected_sales(mean, np.sqrt(mean + 1.0), np.full(5, 10.0))
    assert (sold >= 0).all()
    assert (sold <= 10.0 + 1e-9).all()
    assert (np.diff(sold) >= 0).all()
    assert sold[-1] == pytest.approx(10.0, abs=1e-6)


def _inputs(pickup: list[float], previous: list[float] | None = None) -> NightInputs:
    n = len(pickup)
    p = np.array(pickup, dtype=float)
    return NightInputs(
        nights=pd.date_range("2026-01-05", periods=n, freq="D"),
        capacity=20,
        on_the_books=np.full(n, 5.0),
        otb_revenue=np.full(n, 500.0),
        pickup=p,
        pickup_sigma=np.sqrt(p + 1.0),
        reference=np.full(n, 100.0),
        previous=np.array(previous if previous is not None else [100.0] * n),
        base_rate=100.0,
        theta=-1.5,
        confidence=np.full(n, 0.8),
    )


def test_optimise_respects_every_rule() -> None:
    rng = np.random.default_rng(0)
    pickup = rng.uniform(0.0, 40.0, size=30).tolist()
    previous = rng.uniform(40.0, 260.0, size=30).tolist()
    plan = optimise(_inputs(pickup, previous), RULES, 41)
    for price, prev in zip(plan.price, previous, strict=True):
        lo, hi, _ = allowed_range(prev, RULES)
        assert lo - 1e-6 <= price <= hi + 1e-6
        assert RULES.floor - 1e-6 <= price <= RULES.ceiling + 1e-6
    assert ((plan.expected_occupancy >= 0) & (plan.expected_occupancy <= 1)).all()
    assert (plan.expected_rooms <= 20 + 1e-9).all()


def test_scarce_rooms_are_priced_higher() -> None:
    """With demand far above the rooms left, the best price is higher than on a quiet night."""
    wide = PricingRules(floor=50.0, ceiling=300.0, max_daily_change=1.0)
    plan = optimise(_inputs([2.0, 60.0]), wide, 201)
    assert plan.price[1] > plan.price[0]
    assert plan.expected_occupancy[1] > plan.expected_occupancy[0]
    # the chosen price maximises the expected extra revenue on the grid
    prices = np.linspace(50.0, 300.0, 201)
    curve = revenue_curve(_inputs([2.0, 60.0]), prices)
    assert plan.price[1] == pytest.approx(prices[np.argmax(curve[1])], abs=1.26)


def test_no_demand_keeps_the_published_price() -> None:
    inputs = _inputs([0.0], [110.0])
    inputs = NightInputs(**{**inputs.__dict__, "pickup_sigma": np.zeros(1)})
    plan = optimise(inputs, RULES, 41)
    assert plan.price[0] == pytest.approx(110.0)
