"""The models on a small generated hotel: ordered intervals, explained cancellations, CLV,
recommendations, and the champion / challenger rule."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from hub.ml import cancellation, clv, forecasting, recommend, training
from hub.ml.config import (
    CancellationConfig,
    ClvConfig,
    ForecastConfig,
    LgbmParams,
    MLConfig,
    RecommenderConfig,
)
from hub.ml.errors import InsufficientHistoryError, NotFoundError
from hub.ml.features import cancellation_features
from hub.ml.history import History, to_hotel_bookings
from hub.ml.synthetic import SMALL_ROOM_TYPES, GeneratorConfig, generate_history

AS_OF = date(2017, 9, 1)
SMALL = LgbmParams(n_estimators=40, num_leaves=15, min_child_samples=20)
FORECAST = ForecastConfig(origin_stride_days=7, max_horizon_days=120, lgbm=SMALL)


@pytest.fixture(scope="module")
def history() -> History:
    return generate_history(
        GeneratorConfig(
            as_of=AS_OF, seed=21, days=900, future_days=150, room_types=SMALL_ROOM_TYPES
        )
    )


@pytest.fixture(scope="module")
def occupancy(history: History) -> forecasting.QuantileForecaster:
    return forecasting.train_forecaster(history, "occupancy", FORECAST)


def test_intervals_are_ordered_and_possible(
    history: History, occupancy: forecasting.QuantileForecaster
) -> None:
    start = pd.Timestamp(AS_OF)
    forecast = forecasting.predict_forecast(
        occupancy, history, start, start + pd.Timedelta(days=99)
    )
    assert len(forecast.dates) == 100
    assert forecast.dates[0] == start
    assert (forecast.lower <= forecast.point).all()
    assert (forecast.point <= forecast.upper).all()
    assert ((forecast.lower >= 0) & (forecast.upper <= 1)).all()
    assert (forecast.upper - forecast.lower).mean() > 0
    revenue = forecasting.train_forecaster(history, "revenue", FORECAST)
    money = forecasting.predict_forecast(revenue, history, start, start + pd.Timedelta(days=9))
    assert (money.lower <= money.point).all()
    assert (money.point <= money.upper).all()
    assert (money.point > 0).all()


def test_conformal_offsets_reach_the_coverage() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=4000)
    h = rng.integers(1, 120, size=4000)
    lower, upper = np.full(4000, -0.5), np.full(4000, 0.5)  # far too narrow
    offsets = forecasting._conformal_offsets(lower, upper, y, h, 0.8)
    shift = offsets[forecasting._bucket(h)] * (upper - lower)
    inside = forecasting.coverage(y, lower - shift, upper + shift)
    assert 0.78 <= inside <= 0.83


def test_model_beats_seasonal_naive_on_a_later_window(history: History) -> None:
    cutoff = AS_OF - timedelta(days=120)
    model = forecasting.train_forecaster(history.truncate(cutoff), "occupancy", FORECAST)
    data = forecasting.ForecastData.of(history, 30)
    first = data.origin_of(pd.Timestamp(cutoff)) - 1
    metrics = forecasting.evaluate_forecaster(model, data, first, (7, 30))
    rows = forecasting.forecast_rows(
        data, forecasting.evaluation_origins(data, first, 7), np.array([7])
    )
    naive = forecasting.mape(
        rows["y_occ"].to_numpy(), forecasting.seasonal_naive(rows, "occupancy")
    )
    assert metrics["mape_h7"] < naive
    assert 0.0 <= metrics["coverage"] <= 1.0


def test_cancellation_risk_is_explained(history: History) -> None:
    frame = to_hotel_bookings(history)
    config = CancellationConfig(lgbm=SMALL)
    model = cancellation.fit_cancellation(frame, config)
    sample = frame.head(50)
    risks = model.explain(sample)
    proba = model.predict_proba(sample)
    contributions = np.asarray(
        model.model.predict(
            model.encoder.transform(cancellation_features(sample)), pred_contrib=True
        )
    )
    logit = np.log(proba / (1 - proba))
    np.testing.assert_allclose(contributions.sum(axis=1), logit, atol=1e-6)
    for risk, p in zip(risks, proba, strict=True):
        assert risk.probability == pytest.approx(p)
        assert 0.0 <= risk.probability <= 1.0
        assert risk.risk_level == model.risk_level(p)
        assert len(risk.factors) == config.top_factors
        assert risk.actions
        assert all(a in cancellation.ACTION_CODES for a in risk.actions)  # each has its code
    high = next(r for r in risks if r.risk_level != "low")
    assert "standard confirmation" not in " ".join(high.actions)


def test_clv_and_segments(history: History) -> None:
    cutoff = history.as_of_ts - pd.Timedelta(days=365)
    frame = clv.training_frame(history, cutoff, 365)
    model = clv.fit_clv(frame, ClvConfig(lgbm=SMALL))
    value, retention = model.predict(frame)
    assert (value >= 0).all()
    assert ((retention >= 0) & (retention <= 1)).all()
    # guests who come back are predicted to be worth more than those who do not
    assert value[frame["retained"] == 1].mean() > value[frame["retained"] == 0].mean()
    assert model.segment(0.0, 0.05, 0.0, 0) == "new"
    assert model.segment(model.high_value + 1, 0.9, 500.0, 3) == "champion"
    assert model.segment(1.0, 0.05, model.high_value + 1, 3) == "at_risk"


def test_recommendations_have_reasons(history: History) -> None:
    rec = recommend.fit_recommender(history, RecommenderConfig())
    stays = recommend.stays_frame(history)
    regular = stays[stays["prior_stays"] >= 2].tail(1)
    suggestions = rec.recommend_services(regular, 3, set())
    assert len(suggestions) == 3
    assert all(s.reason for s in suggestions)
    assert all(0.0 <= s.score <= 1.0 for s in suggestions)
    scores = rec.room_scores(regular)
    assert set(scores) == set(history.room_types)
    assert sum(scores.values()) == pytest.approx(1.0)
    skip = {suggestions[0].item}
    assert suggestions[0].item not in {s.item for s in rec.recommend_services(regular, 3, skip)}


def test_champion_challenger_rule() -> None:
    objective = training.Objective("auc", higher_is_better=True)
    window = training.DataWindow(AS_OF, AS_OF, AS_OF, AS_OF)
    candidate = training.Trained("cancellation", None, {"auc": 0.8}, objective, window)
    assert training.decide(candidate, None, False).promote
    assert training.decide(candidate, 0.79, True).promote
    assert not training.decide(candidate, 0.8, True).promote  # a tie keeps the current one
    assert not training.decide(candidate, 0.85, False).promote
    lower = training.Trained(
        "occupancy", None, {"mape": 0.1}, training.Objective("mape", False), window
    )
    assert training.decide(lower, 0.12, True).promote


def test_training_refuses_unknown_models_and_short_histories(history: History) -> None:
    with pytest.raises(NotFoundError):
        training.check_name("crystal_ball")
    short = history.truncate(history.first_night.date() + timedelta(days=200))
    with pytest.raises(InsufficientHistoryError, match="clv model needs"):
        training.train_candidate("clv", short, MLConfig())


def test_train_candidate_windows_do_not_overlap(history: History) -> None:
    config = MLConfig(forecast=FORECAST, cancellation=CancellationConfig(lgbm=SMALL))
    trained = training.train_candidate("cancellation", history, config)
    assert trained.window.train_end < trained.window.eval_start
    assert trained.window.eval_end == AS_OF - timedelta(days=1)
    assert 0.5 < trained.metrics["auc"] <= 1.0
