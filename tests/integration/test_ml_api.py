"""The ML endpoints through the real hub app over HTTP, on a small generated history written into
its database: 503 before training, train, every endpoint's shape and sanity, bad inputs -> 4xx."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

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
from tests.support.hub import RunningHub, hub_settings, running_hub
from tests.support.postgres import PostgresServer

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


async def _pg_admin(server: PostgresServer, statement: str) -> None:
    dsn = make_url(server.async_url).set(drivername="postgresql")
    conn = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` (the SQLite default) or a fresh PostgreSQL database, dropped afterwards."""
    if request.param == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"hub_ml_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server.async_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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
    assert health["bookings"] > 1000
    body = _error(hub, 503, "POST", "/forecast/occupancy", json={})
    assert "innsight ml train" in body["detail"]
    body = _error(hub, 404, "POST", "/retrain/crystal_ball")
    assert body["errors"][0]["field"] == "model_name"

    result: dict[str, Any] = _ok(hub, "POST", "/retrain/all")
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
    assert health["status"] == "ok"
    assert all(m["trained"] for m in health["models"])

    # the same data again: the candidate does not beat the current model, which stays
    again = _ok(hub, "POST", "/retrain/cancellation")["outcomes"][0]
    assert again["status"] == "kept_current"
    assert again["previous_version"] == outcomes["cancellation"]["version"]


@pytest.mark.parametrize(
    ("target", "unit"),
    [("occupancy", "rate"), ("revenue", "USD"), ("housekeeping_demand", "hours")],
)
def test_forecasts(hub: RunningHub, trained: dict[str, Any], target: str, unit: str) -> None:
    today = utc_today()
    end = today + timedelta(days=59)
    body = _ok(
        hub,
        "POST",
        f"/forecast/{target}",
        json={"start_date": today.isoformat(), "end_date": end.isoformat()},
    )
    assert body["unit"] == unit
    assert len(body["items"]) == 60
    assert body["items"][0]["date"] == today.isoformat()
    for item in body["items"]:
        assert 0 <= item["lower"] <= item["value"] <= item["upper"]
        if target == "occupancy":
            assert item["upper"] <= 1.0
    assert len(_ok(hub, "POST", f"/forecast/{target}", json={})["items"]) == 30


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start_date": "2030-02-10", "end_date": "2030-02-01"}, "end_date"),  # reversed
        ({"start_date": "TODAY", "end_date": "TODAY+365"}, "end_date"),  # 366 days
        ({"start_date": "TODAY-3", "end_date": "TODAY+3"}, "start_date"),  # in the past
        ({"start_date": "TODAY", "end_date": "not a date"}, "end_date"),
        ({"start_date": "TODAY", "horizon": 3}, "horizon"),  # unknown field
    ],
)
def test_bad_ranges_are_4xx(
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
    body = _ok(
        hub,
        "POST",
        "/pricing/optimize",
        json={
            "room_type": "double",
            "start_date": today.isoformat(),
            "end_date": (today + timedelta(days=44)).isoformat(),
            "rules": rules,
        },
    )
    assert body["rules"] == rules
    assert set(body["model_versions"]) == {"occupancy", "pricing"}
    assert len(body["items"]) == 45
    for item in body["items"]:
        assert rules["floor"] - 0.01 <= item["price"] <= rules["ceiling"] + 0.01
        previous = item["previous_price"]
        if rules["floor"] <= previous <= rules["ceiling"]:
            assert abs(item["price"] - previous) <= 0.15 * previous + 0.01
        assert 0.0 <= item["expected_occupancy"] <= 1.0
        assert 0.0 <= item["confidence"] <= 1.0
        assert item["elasticity"] < 0

    current = _ok(hub, "GET", "/pricing/current/double")
    assert current["source"] == "published"  # the optimisation above published today's price
    assert current["price"] == body["items"][0]["price"]
    fresh = _ok(hub, "GET", "/pricing/current/suite")
    assert fresh["source"] == "recommended_now"
    assert fresh["price"] > 0

    _error(hub, 404, "GET", "/pricing/current/penthouse")
    answer = _error(hub, 404, "POST", "/pricing/optimize", json={"room_type": "penthouse"})
    assert answer["errors"][0]["field"] == "room_type"
    answer = _error(
        hub,
        422,
        "POST",
        "/pricing/optimize",
        json={"room_type": "double", "rules": {"floor": 200, "ceiling": 100}},
    )
    assert "floor" in answer["detail"]
    _error(
        hub, 422, "POST", "/pricing/optimize", json={"room_type": "double", "rules": {"floor": -5}}
    )


def test_cancellation_risk(
    hub: RunningHub, synthetic: SyntheticHistory, trained: dict[str, Any]
) -> None:
    history = synthetic.history
    status = history.status()
    reserved = history.bookings[status == "reserved"]
    ref = str(reserved["booking_ref"].iloc[0])
    body = _ok(hub, "POST", "/churn/predict", json={"booking_ref": ref})
    assert body["booking_ref"] == ref
    assert 0.0 <= body["probability"] <= 1.0
    assert body["risk_level"] in {"low", "medium", "high"}
    assert len(body["top_factors"]) == 3
    assert body["recommended_actions"]
    by_id = _ok(
        hub, "POST", "/churn/predict", json={"booking_id": int(reserved["booking_id"].iloc[0])}
    )
    assert by_id["probability"] == body["probability"]

    inline = _ok(
        hub,
        "POST",
        "/churn/predict",
        json={
            "booking": {
                "arrival_date": (utc_today() + timedelta(days=200)).isoformat(),
                "lead_time": 200,
                "market_segment": "Groups",
                "deposit_type": "No Deposit",
                "stays_in_week_nights": 3,
            }
        },
    )
    assert inline["booking_ref"] is None
    assert 0.0 <= inline["probability"] <= 1.0

    cancelled = history.bookings[status == "cancelled"]["booking_ref"].iloc[0]
    _error(hub, 409, "POST", "/churn/predict", json={"booking_ref": str(cancelled)})
    _error(hub, 404, "POST", "/churn/predict", json={"booking_ref": "NOPE-1"})
    _error(hub, 422, "POST", "/churn/predict", json={"booking_ref": ref, "booking_id": 1})
    _error(hub, 422, "POST", "/churn/predict", json={})


def test_clv(hub: RunningHub, synthetic: SyntheticHistory, trained: dict[str, Any]) -> None:
    regular = int(synthetic.history.bookings["guest_id"].value_counts().index[0])
    body = _ok(hub, "POST", "/clv/predict", json={"guest_id": regular})
    assert body["guest_id"] == regular
    assert body["horizon_days"] == 365
    assert body["clv"] >= 0
    assert 0.0 <= body["retention_probability"] <= 1.0
    assert body["history"]["stays"] >= 1
    assert body["segment"] in {"champion", "loyal", "at_risk", "new", "occasional", "dormant"}
    answer = _error(hub, 404, "POST", "/clv/predict", json={"guest_id": 10**8})
    assert answer["errors"][0]["field"] == "guest_id"
    _error(hub, 422, "POST", "/clv/predict", json={"guest_id": 0})


def test_recommendations(
    hub: RunningHub, synthetic: SyntheticHistory, trained: dict[str, Any]
) -> None:
    regular = int(synthetic.history.bookings["guest_id"].value_counts().index[0])
    body = _ok(hub, "POST", "/recommend/services", json={"guest_id": regular, "k": 4})
    assert len(body["items"]) == 4
    assert all(item["reason"] and 0 <= item["score"] <= 1 for item in body["items"])
    assert all(item["price"] > 0 for item in body["items"])
    _error(hub, 404, "POST", "/recommend/services", json={"guest_id": 10**8})
    other = synthetic.history.bookings[synthetic.history.bookings["guest_id"] != regular]
    _error(
        hub,
        422,
        "POST",
        "/recommend/services",
        json={"guest_id": regular, "booking_ref": str(other["booking_ref"].iloc[0])},
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
    for item in rooms["items"]:
        assert item["max_occupancy"] >= 3  # a single room cannot take three people
        assert item["available_rooms"] >= 1
        assert item["reason"]
        assert item["total_price"] == pytest.approx(3 * item["price_per_night"], abs=0.05)
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
    metrics = _ok(hub, "GET", "/metrics")
    assert metrics["predictions_logged"] >= 30
    assert metrics["endpoints"]["forecast/occupancy"]["requests"] >= 1
    assert metrics["endpoints"]["forecast/occupancy"]["errors"] >= 1  # the 503 before training
