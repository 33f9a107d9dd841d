"""The ML surface against the seed document (000 "ML Service"), read from the document itself.

Every ML endpoint heading is a case: the seed's example request is sent as written (ids and
room types exist: the generated hotel has GUEST001, BOOK001, rooms 101-202 and the room types
standard, deluxe, suite), the answer must be 2xx, carry every documented response field under
the seed's name and JSON type, and show that each request field was honoured.

The hub's clock for the ML service is 2025-01-10, so that the seed's dates (February 2025) are
the future it forecasts and prices. One documented deviation: ``competitor_avg`` is null (the
hub has no competitor rate feed).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from hub.api.app import create_app
from hub.ml.api import MLProvider
from hub.ml.cli import _database
from hub.ml.config import CancellationConfig, ClvConfig, ForecastConfig, LgbmParams, MLConfig
from hub.ml.repository import write_synthetic
from hub.ml.synthetic import GeneratorConfig, RoomTypeSpec, SyntheticHistory, generate
from hub.settings import HubSettings
from testkit.hub import RunningHub, hub_settings, running_hub, scoped_headers
from testkit.seeds import SeedEndpoint, missing_fields, seed_endpoints

pytestmark = pytest.mark.integration

AS_OF = date(2025, 1, 10)
SMALL = LgbmParams(n_estimators=40, num_leaves=15, min_child_samples=20)
CONFIG = MLConfig(
    forecast=ForecastConfig(origin_stride_days=7, lgbm=SMALL),
    cancellation=CancellationConfig(lgbm=SMALL),
    clv=ClvConfig(lgbm=SMALL),
)
# 22 rooms: 101-110 standard, 111-118 deluxe, 119, 120, 201, 202 suite
ROOM_TYPES = (
    RoomTypeSpec(
        name="standard", rooms=10, base_rate=80, capacity=2, leisure_weight=0.5, business_weight=0.6
    ),
    RoomTypeSpec(
        name="deluxe", rooms=8, base_rate=130, capacity=3, leisure_weight=0.4, business_weight=0.3
    ),
    RoomTypeSpec(
        name="suite", rooms=4, base_rate=240, capacity=4, leisure_weight=0.15, business_weight=0.05
    ),
)
# where we answer other than the seed, on purpose (docs/api.md): the field and what it holds
DEVIATIONS = {"competitor_avg": None}

ENDPOINTS = seed_endpoints("ml")


def _swap(frame: Any, column: str, mask_a: Any, mask_b: Any) -> None:
    a, b = frame.loc[mask_a, column].iloc[0], frame.loc[mask_b, column].iloc[0]
    frame.loc[mask_a, column] = b
    frame.loc[mask_b, column] = a


@pytest.fixture(scope="module")
def synthetic() -> SyntheticHistory:
    world = generate(
        GeneratorConfig(as_of=AS_OF, seed=11, days=1000, future_days=200, room_types=ROOM_TYPES)
    )
    history = world.history
    bookings, guests = history.bookings, world.guests
    # BOOK001 is an upcoming booking of GUEST001, a returning guest (the seed's churn example)
    stays = bookings[history.stayed()].groupby("guest_id").size()
    reserved = bookings[history.status() == "reserved"]
    chosen = reserved.loc[reserved["guest_id"].map(stays).fillna(0).idxmax()]
    _swap(bookings, "booking_ref", bookings["booking_id"] == chosen["booking_id"],
          bookings["booking_ref"] == "BOOK001")  # fmt: skip
    _swap(guests, "guest_ref", guests["guest_id"] == chosen["guest_id"],
          guests["guest_ref"] == "GUEST001")  # fmt: skip
    return world


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory, synthetic: SyntheticHistory
) -> Iterator[RunningHub]:
    settings = hub_settings(tmp_path_factory.mktemp("hub"), None)

    async def fill() -> None:
        async with _database(settings) as sessions, sessions() as session:
            await write_synthetic(session, synthetic)

    asyncio.run(fill())
    with running_hub(settings, start_ingest=False) as running:
        runtime = running.app.state.hub
        running.app.state.ml = MLProvider(
            runtime.session_factory, Path(settings.data_dir) / "ml", CONFIG, today=lambda: AS_OF
        )
        # training every model takes a minute or two on a busy CI machine
        trained = running.http.post("/api/v1/ml/retrain/all", timeout=600)
        assert trained.status_code == 200, trained.text
        yield running


Send = Callable[..., Any]


def _sender(hub: RunningHub, headers: dict[str, str]) -> Send:
    def send(method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = hub.anonymous.request(method, path, json=body, headers=headers)
        assert response.status_code == status, response.text
        if response.headers["content-type"].startswith("application/json"):
            return response.json()
        return response.text

    return send


def _check_documented(endpoint: SeedEndpoint, answer: Any) -> None:
    for seed_response in endpoint.responses:
        problems = missing_fields(seed_response.body, answer)
        kept = [p for p in problems if not any(f".{name}:" in p for name in DEVIATIONS)]
        assert kept == [], f"{endpoint.key} {seed_response.label}: {kept}"


def _seed_request(endpoint: SeedEndpoint) -> dict[str, Any]:
    assert isinstance(endpoint.request, dict), f"{endpoint.key}: the seed shows no request body"
    return endpoint.request


# -- per-endpoint cases -----------------------------------------------------------------------


def case_services(send: Send, endpoint: SeedEndpoint) -> None:
    seed = _seed_request(endpoint)
    answer = send("POST", endpoint.path, seed)
    _check_documented(endpoint, answer)
    assert answer["guest_id"] == "GUEST001"
    assert 1 <= len(answer["recommendations"]) <= seed["top_k"]
    # context: room 201 is a suite, "business" is the Corporate segment, the arrival as given
    assert answer["context"]["room_type"] == "suite"
    assert answer["context"]["market_segment"] == "Corporate"
    assert answer["context"]["check_in_date"] == "2025-01-15"
    for item in answer["recommendations"]:
        assert item["service_id"].startswith("SVC_")
        assert item["estimated_revenue"] == pytest.approx(item["score"] * item["price"], abs=0.01)
    # top_k limits
    two = send("POST", endpoint.path, seed | {"top_k": 2})
    assert len(two["recommendations"]) == 2
    # the context changes the scores: a standard room, a leisure guest
    other = seed | {
        "top_k": 9,
        "context": {
            "current_room": "101",
            "check_in_date": "2025-07-20",
            "guest_segment": "leisure",
        },
    }
    suite = seed | {"top_k": 9}
    scores_suite = {
        r["service_id"]: r["score"] for r in send("POST", endpoint.path, suite)["recommendations"]
    }
    scores_other = {
        r["service_id"]: r["score"] for r in send("POST", endpoint.path, other)["recommendations"]
    }
    assert scores_suite != scores_other
    spa = "SVC_SPA_001"
    if spa in scores_suite and spa in scores_other:
        assert scores_suite[spa] > scores_other[spa]  # the generator makes suites order spa
    answer = send(
        "POST", endpoint.path, {"guest_id": "GUEST001", "context": {"current_room": "999"}}, 404
    )
    assert answer["errors"][0]["field"] == "context.current_room"
    answer = send(
        "POST",
        endpoint.path,
        {"guest_id": "GUEST001", "context": {"guest_segment": "pirates"}},
        422,
    )
    assert answer["errors"][0]["field"] == "context.guest_segment"


def case_rooms(send: Send, endpoint: SeedEndpoint) -> None:
    seed = _seed_request(endpoint)
    answer = send("POST", endpoint.path, seed)
    _check_documented(endpoint, answer)
    assert answer["guest_id"] == "GUEST001"
    assert answer["check_in"] == "2025-02-01"
    assert answer["check_out"] == "2025-02-03"
    ranked = answer["recommendations"]
    assert ranked, answer
    # view: the rooms with an ocean view come first; standard rooms all look at the city
    matches = [r["view_rooms"] > 0 for r in ranked]
    assert matches == sorted(matches, reverse=True)
    assert ranked[0]["view_rooms"] > 0
    by_type = {r["room_type"]: r for r in ranked}
    if "standard" in by_type:
        assert by_type["standard"]["view_rooms"] == 0
    # budget high: the dearest tier leads among the rooms with the view
    with_view = [r for r in ranked if r["view_rooms"] > 0]
    tiers = {"low": 0, "medium": 1, "high": 2}
    assert with_view[0]["price_tier"] == max(
        (r["price_tier"] for r in with_view), key=tiers.__getitem__
    )
    city = send("POST", endpoint.path, seed | {"preferences": {"budget": "low", "view": "city"}})
    assert city["recommendations"][0]["room_type"] != ranked[0]["room_type"]
    assert city["recommendations"][0]["view_rooms"] > 0
    # the seed's quick-start request (no preferences) is accepted too
    plain = {k: v for k, v in seed.items() if k != "preferences"}
    assert send("POST", endpoint.path, plain)["recommendations"]


def case_pricing(send: Send, endpoint: SeedEndpoint) -> None:
    seed = _seed_request(endpoint)
    answer = send("POST", endpoint.path, seed)
    _check_documented(endpoint, answer)
    rows = answer["pricing_schedule"]
    start = date.fromisoformat(seed["date_range"]["start"])
    end = date.fromisoformat(seed["date_range"]["end"])
    nights = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    wanted = list(itertools.product(nights, seed["room_types"]))
    assert [(r["date"], r["room_type"]) for r in rows] == wanted
    for row in rows:
        assert row["competitor_avg"] is None  # documented deviation: no competitor feed
        assert row["suggested_price"] > 0
        assert row["current_price"] > 0
        assert 0.0 <= row["expected_occupancy"] <= 1.0
        assert 0.0 <= row["confidence"] <= 1.0
    one = send(
        "POST",
        endpoint.path,
        {"date_range": {"start": "2025-02-03", "end": "2025-02-04"}, "room_types": ["suite"]},
    )
    assert [(r["date"], r["room_type"]) for r in one["pricing_schedule"]] == [
        ("2025-02-03", "suite"),
        ("2025-02-04", "suite"),
    ]
    bad = send("POST", endpoint.path, seed | {"room_types": ["deluxe", "penthouse"]}, 404)
    assert bad["errors"][0]["field"] == "room_types[1]"


def case_current_price(send: Send, endpoint: SeedEndpoint) -> None:
    answer = send("GET", endpoint.path.replace("{room_type}", "deluxe"))
    assert answer["room_type"] == "deluxe"
    assert answer["price"] > 0
    assert answer["date"] == AS_OF.isoformat()
    send("GET", endpoint.path.replace("{room_type}", "penthouse"), status=404)


def case_churn(send: Send, endpoint: SeedEndpoint) -> None:
    seed = _seed_request(endpoint)
    answer = send("POST", endpoint.path, seed)
    _check_documented(endpoint, answer)
    assert answer["booking_id"] == "BOOK001"
    assert answer["guest_id"] == "GUEST001"
    assert answer["risk_level"] in {"low", "medium", "high"}
    used = answer["features_used"]
    features = seed["features"]
    assert used["lead_time"] == features["booking_lead_time_days"]
    assert used["deposit_type"] == "No Deposit"  # credit_card: a card guarantee
    assert (used["market_segment"], used["distribution_channel"]) == ("Direct", "Direct")
    assert used["adr"] == pytest.approx(features["total_amount"] / used["nights"], abs=0.01)
    stored = send("POST", endpoint.path, {"booking_id": "BOOK001", "guest_id": "GUEST001"})
    assert stored["features_used"] != used
    prepaid = seed | {"features": features | {"payment_method": "prepaid"}}
    assert send("POST", endpoint.path, prepaid)["features_used"]["deposit_type"] == "Non Refund"
    bad = seed | {"features": features | {"payment_method": "seashells"}}
    assert send("POST", endpoint.path, bad, 422)["errors"][0]["field"] == "features.payment_method"
    other = send("POST", endpoint.path, {"booking_id": "BOOK001", "guest_id": "GUEST002"}, 422)
    assert other["errors"][0]["field"] == "guest_id"
    send("POST", endpoint.path, {"booking_id": "BOOK999999"}, 404)


def case_forecast(send: Send, endpoint: SeedEndpoint) -> None:
    body = endpoint.request or {"forecast_days": 14, "room_type": "all"}
    answer = send("POST", endpoint.path, body)
    _check_documented(endpoint, answer)
    rows = answer["forecasts"]
    assert len(rows) == body["forecast_days"]
    assert [r["date"] for r in rows] == [
        (AS_OF + timedelta(days=i)).isoformat() for i in range(body["forecast_days"])
    ]
    named = {
        "occupancy": "predicted_occupancy",
        "revenue": "predicted_revenue",
        "housekeeping_demand": "predicted_housekeeping_hours",
    }[endpoint.path.rsplit("/", 1)[1]]
    for row in rows:
        assert row["lower_bound"] <= row[named] <= row["upper_bound"]
        assert 0.0 < row["confidence"] <= 1.0
    assert answer["room_type"] == "all"
    assert answer["capacity"] == 22
    deluxe = send("POST", endpoint.path, {"forecast_days": 3, "room_type": "deluxe"})
    assert len(deluxe["forecasts"]) == 3
    assert deluxe["room_type"] == "deluxe"
    assert deluxe["capacity"] == 8
    send("POST", endpoint.path, {"forecast_days": 3, "room_type": "penthouse"}, 404)


def case_clv(send: Send, endpoint: SeedEndpoint) -> None:
    seed = _seed_request(endpoint)
    answer = send("POST", endpoint.path, seed)
    _check_documented(endpoint, answer)
    assert answer["guest_id"] == "GUEST001"
    assert answer["time_horizon_months"] == 12
    assert answer["predicted_clv"] >= 0
    assert answer["history"]["stays"] >= 1
    send("POST", endpoint.path, {"guest_id": "GUEST999999"}, 404)


def case_health(send: Send, endpoint: SeedEndpoint) -> None:
    answer = send("GET", endpoint.path)
    assert answer["status"] == "healthy"
    assert answer["checks"]["database"]["status"] == "ok"
    assert set(answer["checks"]["models"].values()) == {"loaded"}


def case_metrics(send: Send, endpoint: SeedEndpoint) -> None:
    send("POST", "/api/v1/ml/clv/predict", {"guest_id": "GUEST001"})
    text = send("GET", endpoint.path)
    labels = 'endpoint="clv/predict",model="clv"'
    assert f'innsight_ml_predictions_total{{{labels},status="success"}}' in text
    assert f"innsight_ml_prediction_duration_seconds_count{{{labels}}}" in text
    assert 'innsight_ml_model_trained{model_name="cancellation"} 1.0' in text
    assert "innsight_http_requests" not in text  # only the ml_ families


def case_retrain(send: Send, endpoint: SeedEndpoint) -> None:
    answer = send("POST", endpoint.path.replace("{model_name}", "churn_model"))
    assert answer["model_name"] == "churn_model"
    assert answer["models"] == ["cancellation"]
    assert answer["outcomes"][0]["status"] in {"promoted", "kept_current"}
    bad = send("POST", endpoint.path.replace("{model_name}", "crystal_ball"), status=404)
    assert bad["errors"][0]["field"] == "model_name"


CASES: dict[tuple[str, str], Callable[[Send, SeedEndpoint], None]] = {
    ("POST", "/api/v1/ml/recommend/services"): case_services,
    ("POST", "/api/v1/ml/recommend/rooms"): case_rooms,
    ("POST", "/api/v1/ml/pricing/optimize"): case_pricing,
    ("GET", "/api/v1/ml/pricing/current/{room_type}"): case_current_price,
    ("POST", "/api/v1/ml/churn/predict"): case_churn,
    ("POST", "/api/v1/ml/forecast/occupancy"): case_forecast,
    ("POST", "/api/v1/ml/forecast/revenue"): case_forecast,
    ("POST", "/api/v1/ml/forecast/housekeeping_demand"): case_forecast,
    ("POST", "/api/v1/ml/clv/predict"): case_clv,
    ("GET", "/api/v1/ml/health"): case_health,
    ("GET", "/api/v1/ml/metrics"): case_metrics,
    ("POST", "/api/v1/ml/retrain/{model_name}"): case_retrain,
}


def test_every_ml_heading_of_the_seed_is_read() -> None:
    assert len(ENDPOINTS) == 12
    assert {e.document[:3] for e in ENDPOINTS} == {"000"}


@pytest.mark.timeout(900)  # the first case sets up the hub and trains every model
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.key for e in ENDPOINTS])
def test_seed_endpoint(hub: RunningHub, endpoint: SeedEndpoint) -> None:
    case = CASES.get((endpoint.method, endpoint.path))
    if case is None:
        pytest.fail(f"no contract case for {endpoint.key}")
    scopes = ("ml:read", "ml:write") if "retrain" in endpoint.path else ("ml:read",)
    case(_sender(hub, scoped_headers(hub.settings, *scopes)), endpoint)


def test_openapi_examples_are_the_seeds() -> None:
    # built, never started; the secrets are given, so nothing is written
    settings = HubSettings(
        jwt_secret=SecretStr("contract-" * 6),
        pii_key=SecretStr(Fernet.generate_key().decode()),
        mqtt_enabled=False,
    )
    spec = create_app(settings, start_ingest=False).openapi()
    schemas = spec["components"]["schemas"]
    checked = 0
    for endpoint in ENDPOINTS:
        if endpoint.request is None:
            continue
        operation = spec["paths"][endpoint.path][endpoint.method.lower()]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = schemas[ref.rsplit("/", 1)[1]]
        assert schema["examples"][0] == endpoint.request, endpoint.key
        checked += 1
    assert checked == 6
