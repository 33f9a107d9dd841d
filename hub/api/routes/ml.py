"""Revenue management and guest models under ``/api/v1/ml`` (thin: parse, call, shape).

Request and response shapes are the seed's (``../shared/seeds/000``, "ML Service"); the OpenAPI
example of each route is the seed's example, verbatim. Guests and bookings are named by the
hotel's ids (``guest_id: "GUEST001"``, ``booking_id: "BOOK001"``, i.e. ``guests.guest_ref`` and
``bookings.booking_ref``); the database's integer ids are not accepted.

Errors: an unknown room type, room, guest, booking or model is a 404, a bad range or value a
422, a booking that cannot be scored a 409, and a history too short to train on or a model not
trained yet a 503 naming the command to run and how much history the model needs; all in the
hub's error body.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable
from datetime import date, timedelta
from typing import Annotated, Any, Final, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, Security
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.api.auth import Authorize, scoped
from hub.api.errors import field_error
from hub.api.routes.metrics import prometheus_response
from hub.auth.scopes import Scope
from hub.ml import terms
from hub.ml.api import (
    ChurnFeatures,
    MLApi,
    MLProvider,
    MLUnavailableError,
    RoomPreferences,
    RulesInput,
    ServiceContext,
)
from hub.ml.errors import (
    ConflictError,
    InsufficientHistoryError,
    InvalidInputError,
    MLError,
    ModelNotTrainedError,
    NotFoundError,
)
from hub.ml.metrics import MlMetrics
from hub.ml.results import (
    ChurnResult,
    ClvResult,
    CurrentPrice,
    ForecastResult,
    MLHealth,
    PricingSchedule,
    RetrainResult,
    RoomRecommendations,
    ServiceRecommendations,
)

logger = logging.getLogger(__name__)

# every ML route needs ml:read; training also needs ml:write and is rate limited per caller
router = APIRouter(prefix="/api/v1/ml", tags=["ml"], dependencies=[scoped(Scope.ML_READ)])

T = TypeVar("T")
DEFAULT_DAYS = 30

Ref = Annotated[
    str,
    Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"),
]
Day = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2199, 12, 31))]
RoomType = Annotated[str, Field(min_length=1, max_length=32)]
_ROOM_NUMBER = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"

_STATUS: dict[type[MLError], int] = {
    NotFoundError: 404,
    InvalidInputError: 422,
    ConflictError: 409,
    InsufficientHistoryError: 503,
    ModelNotTrainedError: 503,
}

# The seed's example requests, verbatim (000 "ML Service"): the OpenAPI examples of the routes.
SERVICES_EXAMPLE: Final[dict[str, Any]] = {
    "guest_id": "GUEST001",
    "top_k": 5,
    "context": {
        "current_room": "201",
        "check_in_date": "2025-01-15",
        "guest_segment": "business",
    },
}
ROOMS_EXAMPLE: Final[dict[str, Any]] = {
    "guest_id": "GUEST001",
    "check_in": "2025-02-01",
    "check_out": "2025-02-03",
    "preferences": {"budget": "high", "view": "ocean"},
}
PRICING_EXAMPLE: Final[dict[str, Any]] = {
    "date_range": {"start": "2025-02-01", "end": "2025-02-28"},
    "room_types": ["deluxe", "suite", "standard"],
}
CHURN_EXAMPLE: Final[dict[str, Any]] = {
    "booking_id": "BOOK001",
    "guest_id": "GUEST001",
    "features": {
        "booking_lead_time_days": 30,
        "payment_method": "credit_card",
        "booking_source": "website",
        "total_amount": 5000000,
    },
}
FORECAST_EXAMPLE: Final[dict[str, Any]] = {"forecast_days": 30, "room_type": "all"}
CLV_EXAMPLE: Final[dict[str, Any]] = {"guest_id": "GUEST001"}


def get_ml(request: Request) -> MLApi:
    provider: MLProvider | None = getattr(request.app.state, "ml", None)
    if provider is None:
        raise HTTPException(status_code=503, detail="the ML service is not running")
    try:
        return provider.get()
    except MLUnavailableError as err:
        raise HTTPException(status_code=503, detail=str(err)) from err


_METRICS_LOCK = threading.Lock()


def ml_metrics_of(request: Request) -> MlMetrics:
    """The app's :class:`MlMetrics`, registered on its HTTP registry on first use."""
    state = request.app.state
    with _METRICS_LOCK:
        found: MlMetrics | None = getattr(state, "ml_metrics", None)
        if found is None:
            found = MlMetrics(state.http_registry)
            state.ml_metrics = found
    return found


ML = Annotated[MLApi, Depends(get_ml)]
Metrics = Annotated[MlMetrics, Depends(ml_metrics_of)]


def _http_error(err: MLError) -> HTTPException:
    status = next((s for cls, s in _STATUS.items() if isinstance(err, cls)), 400)
    detail: Any = field_error(err.field, err.reason) if err.field else err.reason
    return HTTPException(status_code=status, detail=detail)


async def _run(metrics: MlMetrics, endpoint: str, work: Awaitable[T]) -> T:
    started = time.perf_counter()
    try:
        result = await work
    except MLError as err:
        metrics.observe(endpoint, False, time.perf_counter() - started)
        raise _http_error(err) from err
    metrics.observe(endpoint, True, time.perf_counter() - started)
    return result


def _examples(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})


_FORBID = ConfigDict(extra="forbid")


def _check_term(check: Any, value: str | None) -> str | None:
    if value is not None:
        check(value)  # ValueError names the accepted values
    return value


# -- requests ---------------------------------------------------------------------------------


class ServiceContextIn(BaseModel):
    model_config = _FORBID

    current_room: Annotated[str, Field(max_length=16, pattern=_ROOM_NUMBER)] | None = Field(
        default=None, description="room number the guest stays in: its room type is scored"
    )
    check_in_date: Day | None = Field(default=None, description="arrival of the stay")
    guest_segment: Annotated[str, Field(min_length=1, max_length=32)] | None = Field(
        default=None,
        description="business | leisure | group | ... (or a market segment of the dataset)",
    )

    @field_validator("guest_segment")
    @classmethod
    def _segment(cls, value: str | None) -> str | None:
        return _check_term(terms.market_segment, value)


class ServicesRequest(BaseModel):
    model_config = _examples(SERVICES_EXAMPLE)

    guest_id: Ref
    top_k: Annotated[int, Field(ge=1, le=20)] = 5
    context: ServiceContextIn | None = None
    booking_id: Ref | None = Field(
        default=None, description="our addition: the stored booking to recommend for"
    )


class PreferencesIn(BaseModel):
    model_config = _FORBID

    budget: Literal["low", "medium", "high"] | Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="price tier (low | medium | high) or a nightly maximum"
    )
    view: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z_]+$")] | None = Field(
        default=None, description="ocean | city | garden | ..."
    )


class RoomsRequest(BaseModel):
    model_config = _examples(ROOMS_EXAMPLE)

    guest_id: Ref | None = None
    check_in: Day
    check_out: Day
    preferences: PreferencesIn | None = None
    adults: Annotated[int, Field(ge=1, le=8)] = 2
    children: Annotated[int, Field(ge=0, le=8)] = 0
    top_k: Annotated[int, Field(ge=1, le=10)] = 3


class DateRange(BaseModel):
    model_config = _FORBID

    start: Day
    end: Day


class RulesRequest(BaseModel):
    model_config = _FORBID

    floor: Annotated[float, Field(gt=0, le=1_000_000_000)] | None = None
    ceiling: Annotated[float, Field(gt=0, le=1_000_000_000)] | None = None
    max_daily_change: Annotated[float, Field(gt=0, le=1)] | None = Field(
        default=None, description="fraction, against the price published for the same night"
    )


class PricingRequest(BaseModel):
    model_config = _examples(PRICING_EXAMPLE)

    date_range: DateRange | None = Field(
        default=None, description=f"nights, inclusive (default: today + {DEFAULT_DAYS - 1})"
    )
    room_types: Annotated[list[RoomType], Field(min_length=1, max_length=32)] | None = Field(
        default=None, description="default: every room type"
    )
    rules: RulesRequest | None = Field(
        default=None, description="our addition: floor, ceiling, max daily change"
    )


class ChurnFeaturesIn(BaseModel):
    model_config = _FORBID

    booking_lead_time_days: Annotated[int, Field(ge=0, le=1000)] | None = None
    payment_method: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    booking_source: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    total_amount: Annotated[float, Field(ge=0, le=1e12)] | None = Field(
        default=None, description="the stay's total, hotel currency"
    )

    @field_validator("payment_method")
    @classmethod
    def _payment(cls, value: str | None) -> str | None:
        return _check_term(terms.deposit_type, value)

    @field_validator("booking_source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        return _check_term(terms.booking_source, value)


class ChurnRequest(BaseModel):
    model_config = _examples(CHURN_EXAMPLE)

    booking_id: Ref = Field(description="the booking's reference (bookings.booking_ref)")
    guest_id: Ref | None = Field(default=None, description="checked against the booking")
    features: ChurnFeaturesIn | None = Field(
        default=None, description="override the stored booking's attributes"
    )


class ForecastRequest(BaseModel):
    model_config = _examples(FORECAST_EXAMPLE)

    forecast_days: Annotated[int, Field(ge=1, le=366)] = DEFAULT_DAYS
    room_type: RoomType = Field(default="all", description='"all" or one room type')
    start_date: Day | None = Field(
        default=None, description="our addition: first night (default: today)"
    )


class ClvRequest(BaseModel):
    model_config = _examples(CLV_EXAMPLE)

    guest_id: Ref


# -- routes -----------------------------------------------------------------------------------


async def _forecast(
    ml: MLApi, metrics: MlMetrics, target: str, body: ForecastRequest
) -> ForecastResult:
    start = body.start_date or ml.today()
    end = start + timedelta(days=body.forecast_days - 1)
    work = ml.forecast(target, start, end, body.room_type)
    return await _run(metrics, f"forecast/{target}", work)


@router.post("/forecast/occupancy", response_model=ForecastResult, response_model_exclude_none=True)
async def forecast_occupancy(ml: ML, metrics: Metrics, body: ForecastRequest) -> ForecastResult:
    """Occupancy (0-1) for ``forecast_days`` nights from today, of the hotel or a room type."""
    return await _forecast(ml, metrics, "occupancy", body)


@router.post("/forecast/revenue", response_model=ForecastResult, response_model_exclude_none=True)
async def forecast_revenue(ml: ML, metrics: Metrics, body: ForecastRequest) -> ForecastResult:
    """Room revenue per night (``predicted_revenue``, hotel currency)."""
    return await _forecast(ml, metrics, "revenue", body)


@router.post(
    "/forecast/housekeeping_demand",
    response_model=ForecastResult,
    response_model_exclude_none=True,
)
async def forecast_housekeeping(ml: ML, metrics: Metrics, body: ForecastRequest) -> ForecastResult:
    """Housekeeping hours per day (``predicted_housekeeping_hours``)."""
    return await _forecast(ml, metrics, "housekeeping_demand", body)


@router.post("/pricing/optimize", response_model=PricingSchedule)
async def optimize_prices(ml: ML, metrics: Metrics, body: PricingRequest) -> PricingSchedule:
    """Revenue-maximising prices for every night of ``date_range`` and each of ``room_types``
    (published: they become each night's current price)."""
    if body.date_range is not None:
        start, end = body.date_range.start, body.date_range.end
    else:
        start = ml.today()
        end = start + timedelta(days=DEFAULT_DAYS - 1)
    rules = RulesInput(**body.rules.model_dump()) if body.rules else None
    work = ml.optimize_schedule(body.room_types, start, end, rules)
    return await _run(metrics, "pricing/optimize", work)


@router.get("/pricing/current/{room_type}", response_model=CurrentPrice)
async def current_price(
    ml: ML, metrics: Metrics, room_type: Annotated[str, Path(min_length=1, max_length=32)]
) -> CurrentPrice:
    """Tonight's price of ``room_type``: the published one, else recommended now."""
    return await _run(metrics, "pricing/current", ml.current_price(room_type))


@router.post("/churn/predict", response_model=ChurnResult)
async def predict_churn(ml: ML, metrics: Metrics, body: ChurnRequest) -> ChurnResult:
    """Cancellation risk of an upcoming booking, with its factors and actions."""
    features = ChurnFeatures(**body.features.model_dump()) if body.features else None
    work = ml.predict_churn(body.booking_id, body.guest_id, features)
    return await _run(metrics, "churn/predict", work)


@router.post("/clv/predict", response_model=ClvResult)
async def predict_clv(ml: ML, metrics: Metrics, body: ClvRequest) -> ClvResult:
    """Expected revenue from the guest over the next 12 months, segment, retention."""
    return await _run(metrics, "clv/predict", ml.predict_clv(body.guest_id))


@router.post("/recommend/services", response_model=ServiceRecommendations)
async def recommend_services(
    ml: ML, metrics: Metrics, body: ServicesRequest
) -> ServiceRecommendations:
    """The ``top_k`` services the guest is likeliest to order, for the stay in ``context``."""
    context = ServiceContext(**body.context.model_dump()) if body.context else None
    work = ml.recommend_services(body.guest_id, body.top_k, context, body.booking_id)
    return await _run(metrics, "recommend/services", work)


@router.post("/recommend/rooms", response_model=RoomRecommendations)
async def recommend_rooms(ml: ML, metrics: Metrics, body: RoomsRequest) -> RoomRecommendations:
    """Room types free on every night for the party, ranked by the preferences and by the
    guest's likely choice."""
    prefs = RoomPreferences(**body.preferences.model_dump()) if body.preferences else None
    work = ml.recommend_rooms(
        body.guest_id,
        body.check_in,
        body.check_out,
        adults=body.adults,
        children=body.children,
        k=body.top_k,
        preferences=prefs,
    )
    return await _run(metrics, "recommend/rooms", work)


@router.post(
    "/retrain/{model_name}",
    response_model=RetrainResult,
    dependencies=[Security(Authorize(rate_limit="model training"), scopes=[Scope.ML_WRITE])],
)
async def retrain(
    ml: ML, metrics: Metrics, model_name: Annotated[str, Path(min_length=1, max_length=64)]
) -> RetrainResult:
    """Train ``model_name`` (the seed's names: ``pricing_model``, ``churn_model``,
    ``forecast_model``, ``clv_model``, ``recommendation_model``, ...; our model names; or
    ``all``), evaluate it on the latest window, promote it only when it beats the current
    version."""
    try:
        result = await ml.retrain(model_name)
    except MLError as err:
        raise _http_error(err) from err
    for outcome in result.outcomes:
        metrics.training_runs.labels(outcome.name, outcome.status).inc()
    return result


@router.get("/health", response_model=MLHealth)
async def health(ml: ML) -> MLHealth:
    """``healthy`` when bookings exist and every model is trained, else ``degraded``."""
    try:
        return await ml.health()
    except MLError as err:
        raise _http_error(err) from err


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
)
async def ml_metrics(request: Request, metrics: Metrics) -> Response:
    """The ML metrics in Prometheus text (``innsight_ml_*``): prediction latency and counts by
    model, training runs, models trained and their scores, predictions logged."""
    provider: MLProvider | None = getattr(request.app.state, "ml", None)
    if provider is not None:
        try:
            ml = provider.get()
        except MLUnavailableError:
            pass
        else:
            metrics.record_models(await ml.model_statuses(), await ml.predictions_logged())
    return prometheus_response(request.app.state.http_registry, prefixes=("innsight_ml_",))
