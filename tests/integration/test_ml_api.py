"""The ML endpoints through the real hub app over HTTP, on a small generated history written into
its database: 503 before training, train, every endpoint's shape and sanity, bad inputs -> 4xx."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.ml.api import MLProvider
from hub.ml.cli import _database
from hub.ml.config import (
    CancellationConfig,
    ClvConfig,
    ForecastConfig,
    LgbmParams,
    MLConfig,
)
from hub.ml.repository import write_synthetic
from hub.ml.service import utc_today
from hub.ml.synthetic import SMALL_ROOM_TYPES, GeneratorConfig, SyntheticHistory, generate
from testkit.hub import RunningHub, hub_settings, running_hub
from testkit.postgres import PostgresServer, scratch_database

pytestmark = pytest.mark.integration

ML = "/api/v1/ml"
SMALL = LgbmParams(n_estimators=40, num_leaves=15, min_child_samples=20)
CONFIG = MLConfig(
    forecast=ForecastConfig(origin_stride_days=7, lgbm=SMALL),
    cancellation=CancellationConfig(lgbm=SMALL),
    clv=ClvConfig(lgbm=SMALL),
)


@pytest.fixture(scope="module")
def synthetic() -> SyntheticHistory:
    # 1000 days: the CLV model needs two full years plus some history before them
    return generate(
        GeneratorConfig(
            as_of=utc_today(), seed=5, days=1000, future_days=200, room_types=SMALL_ROOM_TYPES
        )
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` (the SQLite default) or a fresh PostgreSQL database, dropped afterwards."""
    if request.param == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    with scratch_database(server, "hub_ml") as url:
        yield url


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory,
    synthetic: SyntheticHistory,
    database_url: str | None,
) -> Iterator[RunningHub]:
    settings = hub_settings(tmp_path_factory.mktemp("hub"), None, database_url=database_url)

    async def fill() -> None:
        async with _database(settings) as sessions, sessions() as session:
            await write_synthetic(session, synthetic)

    asyncio.run(fill())
    with running_hub(settings, start_ingest=False) as running:
        runtime = running.app.state.hub
        # the same service as in production, with small models so that training takes seconds
        running.app.state.ml = MLProvider(
            runtime.session_factory, Path(settings.data_dir) / "ml", CONFIG
        )
        yield running


def _ok(hub: RunningHub, method: str, path: str, **kwargs: Any) -> Any:
    response = hub.http.request(method, f"{ML}{path}", **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def _error(hub: RunningHub, status: int, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    response = hub.http.request(method, f"{ML}{path}", **kwargs)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["detail"], body
    return body


@pytest.fixture(scope="module")
def trained(hub: RunningHub) -> dict[str, Any]:
    # before training: degraded health and a 503 that says how to train
    health = _ok(hub, "GET", "/health")
    assert health["status"] == "degraded"
    assert health["checks"]["models"]["occupancy"] == "not_trained"
    assert health["bookings"] > 1000
    body = _error(hub, 503, "POST", "/forecast/occupancy", json={})
    assert "innsight ml train" in body["detail"]
    body = _error(hub, 404, "POST", "/retrain/crystal_ball")
    assert body["errors"][0]["field"] == "model_name"

    result: dict[str, Any] = _ok(hub, "POST", "/retrain/all", timeout=600)
    assert result["model_name"] == "all"
    result["by_name"] = {o["name"]: o for o in result["outcomes"]}
    return result


def test_training_promotes_every_model(hub: RunningHub, trained: dict[str, Any]) -> None:
    outcomes = {o["name"]: o for o in trained["outcomes"]}
    assert set(outcomes) == {
        "occupancy",
        "revenue",
        "housekeeping_demand",
        "pricing",
        "cancellation",
        "clv",
        "recommender",
    }
    for outcome in outcomes.values():
        assert outcome["status"] == "promoted", outcome
        assert outcome["window"]["train_end"] < outcome["window"]["eval_start"]
    assert 0.5 < outcomes["cancellation"]["metrics"]["auc"] <= 1.0
    health = _ok(hub, "GET", "/health")
    assert health["status"] == "healthy"
    assert all(m["trained"] for m in health["models"])

    # the same data again: the candidate does not beat the current model, which stays
    again = _ok(hub, "POST", "/retrain/churn_model")  # the seed's name for it
    assert again["models"] == ["cancellation"]
    assert again["outcomes"][0]["status"] == "kept_current"
    assert again["outcomes"][0]["previous_version"] == outcomes["cancellation"]["version"]


@pytest.mark.parametrize(
    ("target", "unit", "named"),
    [
        ("occupancy", "rate", "predicted_occupancy"),
        ("revenue", "USD", "predicted_revenue"),
        ("housekeeping_demand", "hours", "predicted_housekeeping_hours"),
    ],
)
def test_forecasts(
    hub: RunningHub, trained: dict[str, Any], target: str, unit: str, named: str
) -> None:
    today = utc_today()
    body = _ok(hub, "POST", f"/forecast/{target}", json={"forecast_days": 60, "room_type": "all"})
    assert body["unit"] == unit
    assert len(body["forecasts"]) == 60
    assert body["forecasts"][0]["date"] == today.isoformat()
    for item in body["forecasts"]:
        assert 0 <= item["lower_bound"] <= item[named] <= item["upper_bound"]
        assert item[named] == item["predicted_value"]
        assert 0 < item["confidence"] <= 1
        if target == "occupancy":
            assert item["upper_bound"] <= 1.0
    # the confidence is the coverage measured when the model was evaluated
    coverage = trained["by_name"][target]["metrics"]["coverage"]
    assert body["forecasts"][0]["confidence"] == pytest.approx(coverage, abs=1e-4)
    assert len(_ok(hub, "POST", f"/forecast/{target}", json={})["forecasts"]) == 30
    later = (today + timedelta(days=10)).isoformat()
    shifted = _ok(
        hub, "POST", f"/forecast/{target}", json={"forecast_days": 2, "start_date": later}
    )
    assert shifted["forecasts"][0]["date"] == later
    suite = _ok(hub, "POST", f"/forecast/{target}", json={"forecast_days": 5, "room_type": "suite"})
    assert suite["capacity"] == 3  # SMALL_ROOM_TYPES: three suites
    assert suite["forecasts"][0][named] <= body["forecasts"][0][named] or target == "occupancy"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"forecast_days": 0}, "forecast_days"),
        ({"forecast_days": 367}, "forecast_days"),
        ({"forecast_days": 3, "start_date": "TODAY-3"}, "start_date"),  # in the past
        ({"forecast_days": 3, "start_date": "not a date"}, "start_date"),
        ({"forecast_days": 3, "horizon": 3}, "horizon"),  # unknown field
    ],
)
def test_bad_forecast_requests_are_4xx(
    hub: RunningHub, trained: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    today = utc_today()

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("TODAY"):
            offset = int(value[5:] or 0)
            return (today + timedelta(days=offset)).isoformat()
        return value

    payload = {k: resolve(v) for k, v in body.items()}
    answer = _error(hub, 422, "POST", "/forecast/occupancy", json=payload)
    assert answer["errors"][0]["field"] == field


def test_pricing(hub: RunningHub, trained: dict[str, Any]) -> None:
    today = utc_today()
    rules = {"floor": 80.0, "ceiling": 160.0, "max_daily_change": 0.15}
    end = today + timedelta(days=44)
    body = _ok(
        hub,
        "POST",
        "/pricing/optimize",
        json={
            "date_range": {"start": today.isoformat(), "end": end.isoformat()},
            "room_types": ["double"],
            "rules": rules,
        },
    )
    assert body["rules"] == {"double": rules}
    assert set(body["model_versions"]) == {"occupancy", "pricing"}
    assert len(body["pricing_schedule"]) == 45
    for item in body["pricing_schedule"]:
        assert item["room_type"] == "double"
        assert item["competitor_avg"] is None
        assert rules["floor"] - 0.01 <= item["suggested_price"] <= rules["ceiling"] + 0.01
        previous = item["current_price"]
        if rules["floor"] <= previous <= rules["ceiling"]:
            assert abs(item["suggested_price"] - previous) <= 0.15 * previous + 0.01
        assert 0.0 <= item["expected_occupancy"] <= 1.0
        assert 0.0 <= item["confidence"] <= 1.0
        assert item["elasticity"] < 0
    every = _ok(hub, "POST", "/pricing/optimize", json={})
    assert len(every["pricing_schedule"]) == 30 * 3  # every room type, 30 nights
    assert [r["room_type"] for r in every["pricing_schedule"][:3]] == ["double", "single", "suite"]

    current = _ok(hub, "GET", "/pricing/current/double")
    assert current["source"] == "published"  # the optimisation above published today's price
    assert current["price"] == every["pricing_schedule"][0]["suggested_price"]

    _error(hub, 404, "GET", "/pricing/current/penthouse")
    answer = _error(hub, 404, "POST", "/pricing/optimize", json={"room_types": ["penthouse"]})
    assert answer["errors"][0]["field"] == "room_types[0]"
    answer = _error(
        hub,
        422,
        "POST",
        "/pricing/optimize",
        json={"room_types": ["double"], "rules": {"floor": 200, "ceiling": 100}},
    )
    assert "floor" in answer["detail"]
    _error(hub, 422, "POST", "/pricing/optimize", json={"rules": {"floor": -5}})
    reversed_range = {"date_range": {"start": end.isoformat(), "end": today.isoformat()}}
    answer = _error(hub, 422, "POST", "/pricing/optimize", json=reversed_range)
    assert answer["errors"][0]["field"] == "date_range.end"


def _guest_ref(synthetic: SyntheticHistory, guest_id: int) -> str:
    guests = synthetic.guests
    return str(guests.loc[guests["guest_id"] == guest_id, "guest_ref"].iloc[0])


def test_cancellation_risk(
    hub: RunningHub, synthetic: SyntheticHistory, trained: dict[str, Any]
) -> None:
    history = synthetic.history
    status = history.status()
    reserved = history.bookings[status == "reserved"]
    ref = str(reserved["booking_ref"].iloc[0])
    owner = _guest_ref(synthetic, int(reserved["guest_id"].iloc[0]))
    body = _ok(hub, "POST", "/churn/predict", json={"booking_id": ref})
    assert body["booking_id"] == ref
    assert body["guest_id"] == owner
    assert 0.0 <= body["churn_probability"] <= 1.0
    assert body["risk_level"] in {"low", "medium", "high"}
    assert len(body["risk_factors"]) == 3
    for factor in body["risk_factors"]:
        assert (factor["impact"] > 0) == (factor["contribution"] > 0)
    assert body["recommended_actions"]
    assert len(body["action_details"]) == len(body["recommended_actions"])

    # features override the stored booking: a long lead time through an agent raises the risk
    # over a booking made directly the day before. Compared with each other, not with the
    # stored booking: which booking is the first "reserved" one moves with the date, and one
    # already booked long ahead through an agent scores the same as the override
    def predicted(lead_time: int, source: str) -> Any:
        features = {"booking_lead_time_days": lead_time, "booking_source": source}
        json = {"booking_id": ref, "guest_id": owner, "features": features}
        return _ok(hub, "POST", "/churn/predict", json=json)

    risky, safe = predicted(300, "tour_operator"), predicted(1, "direct")
    assert risky["features_used"]["lead_time"] == 300
    assert risky["features_used"]["market_segment"] == "Offline TA/TO"
    assert safe["features_used"]["market_segment"] == "Direct"
    assert risky["churn_probability"] > safe["churn_probability"]

    cancelled = history.bookings[status == "cancelled"]["booking_ref"].iloc[0]
    _error(hub, 409, "POST", "/churn/predict", json={"booking_id": str(cancelled)})
    _error(hub, 404, "POST", "/churn/predict", json={"booking_id": "NOPE-1"})
    _error(hub, 422, "POST", "/churn/predict", json={"booking_id": 17})  # integer ids: no more
    _error(hub, 422, "POST", "/churn/predict", json={})
    answer = _error(
        hub,
        422,
        "POST",
        "/churn/predict",
        json={"booking_id": ref, "features": {"booking_source": "carrier_pigeon"}},
    )
    assert answer["errors"][0]["field"] == "features.booking_source"


def test_clv(hub: RunningHub, synthetic: SyntheticHistory, trained: dict[str, Any]) -> None:
    regular = _guest_ref(
        synthetic, int(synthetic.history.bookings["guest_id"].value_counts().index[0])
    )
    body = _ok(hub, "POST", "/clv/predict", json={"guest_id": regular})
    assert body["guest_id"] == regular
    assert body["horizon_days"] == 365
    assert body["time_horizon_months"] == 12
    assert body["predicted_clv"] >= 0
    assert 0.0 <= body["retention_probability"] <= 1.0
    assert body["history"]["stays"] >= 1
    assert body["segment"] in {"champion", "loyal", "at_risk", "new", "occasional", "dormant"}
    answer = _error(hub, 404, "POST", "/clv/predict", json={"guest_id": "GUEST99999999"})
    assert answer["errors"][0]["field"] == "guest_id"
    _error(hub, 422, "POST", "/clv/predict", json={"guest_id": ""})


def test_recommendations(
    hub: RunningHub, synthetic: SyntheticHistory, trained: dict[str, Any]
) -> None:
    regular_id = int(synthetic.history.bookings["guest_id"].value_counts().index[0])
    regular = _guest_ref(synthetic, regular_id)
    body = _ok(hub, "POST", "/recommend/services", json={"guest_id": regular, "top_k": 4})
    assert len(body["recommendations"]) == 4
    for item in body["recommendations"]:
        assert item["reason"]
        assert 0 <= item["score"] <= 1
        assert item["price"] > 0
        assert item["service_id"] == f"SVC_{item['service'].upper()}_001"
    _error(hub, 404, "POST", "/recommend/services", json={"guest_id": "GUEST99999999"})
    other = synthetic.history.bookings[synthetic.history.bookings["guest_id"] != regular_id]
    _error(
        hub,
        422,
        "POST",
        "/recommend/services",
        json={"guest_id": regular, "booking_id": str(other["booking_ref"].iloc[0])},
    )

    check_in = utc_today() + timedelta(days=20)
    rooms = _ok(
        hub,
        "POST",
        "/recommend/rooms",
        json={
            "guest_id": regular,
            "check_in": check_in.isoformat(),
            "check_out": (check_in + timedelta(days=3)).isoformat(),
            "adults": 2,
            "children": 1,
        },
    )
    for item in rooms["recommendations"]:
        assert item["max_occupancy"] >= 3  # a single room cannot take three people
        assert item["available_rooms"] >= 1
        assert item["reason"]
        assert item["total_price"] == pytest.approx(3 * item["price_per_night"], abs=0.05)
    cheap = _ok(
        hub,
        "POST",
        "/recommend/rooms",
        json={
            "check_in": check_in.isoformat(),
            "check_out": (check_in + timedelta(days=1)).isoformat(),
            "adults": 1,
            "preferences": {"budget": "low"},
        },
    )
    # budget low: the cheapest tier first, the dearest last (fit 1, then 0.5, then 0)
    distance = {"low": 0, "medium": 1, "high": 2}
    tiers = [distance[r["price_tier"]] for r in cheap["recommendations"]]
    assert tiers == sorted(tiers)
    assert [r["matches_preferences"] for r in cheap["recommendations"]] == [t == 0 for t in tiers]
    answer = _error(
        hub,
        422,
        "POST",
        "/recommend/rooms",
        json={"check_in": check_in.isoformat(), "check_out": check_in.isoformat()},
    )
    assert answer["errors"][0]["field"] == "check_out"


def test_predictions_are_logged_and_counted(hub: RunningHub, trained: dict[str, Any]) -> None:
    _ok(hub, "POST", "/forecast/occupancy", json={})
    response = hub.http.get(f"{ML}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    success = (
        'innsight_ml_predictions_total{endpoint="forecast/occupancy",model="occupancy",'
        'status="success"}'
    )
    error = (
        'innsight_ml_predictions_total{endpoint="forecast/occupancy",model="occupancy",'
        'status="error"}'
    )
    assert success in text
    assert error in text  # the 503 before training
    logged = next(
        line for line in text.splitlines() if line.startswith("innsight_ml_predictions_logged ")
    )
    assert float(logged.split()[1]) >= 30
    promoted = 'innsight_ml_training_runs_total{model_name="cancellation",status="promoted"} 1.0'
    assert promoted in text
    # the same families are in the hub's /metrics
    assert "innsight_ml_prediction_duration_seconds_bucket" in hub.http.get("/metrics").text
