"""Revenue management and guest models under ``/api/v1/ml`` (thin: parse, call, shape).

Errors: an unknown room type, guest, booking or model is a 404, a bad range or rule a 422, a
booking that cannot be scored or a history too short to train on a 409, and a model not trained
yet a 503 saying how to train it; all in the hub's error body.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from datetime import date, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Security
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.api.auth import Authorize, scoped
from hub.api.errors import field_error
from hub.auth.scopes import Scope
from hub.ml.api import MLApi, MLProvider, MLUnavailableError, RulesInput
from hub.ml.errors import (
    ConflictError,
    InsufficientHistoryError,
    InvalidInputError,
    MLError,
    ModelNotTrainedError,
    NotFoundError,
)
from hub.ml.results import (
    CancellationResult,
    ClvResult,
    CurrentPrice,
    ForecastResult,
    MLHealth,
    MLMetrics,
    PricingResult,
    RetrainResult,
    RoomRecommendations,
    ServiceRecommendations,
)
from hub.ml.schema import MONTHS

logger = logging.getLogger(__name__)

# every ML route needs ml:read; training also needs ml:write and is rate limited per caller
router = APIRouter(prefix="/api/v1/ml", tags=["ml"], dependencies=[scoped(Scope.ML_READ)])

T = TypeVar("T")
DEFAULT_DAYS = 30
MAX_ID = 2**31 - 1  # database ids are 32-bit integers

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Count = Annotated[int, Field(ge=0, le=1000)]
Code = Annotated[str, Field(min_length=1, max_length=32)]
Day = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2199, 12, 31))]

_STATUS: dict[type[MLError], int] = {
    NotFoundError: 404,
    InvalidInputError: 422,
    ConflictError: 409,
    InsufficientHistoryError: 409,
    ModelNotTrainedError: 503,
}


def get_ml(request: Request) -> MLApi:
    provider: MLProvider | None = getattr(request.app.state, "ml", None)
    if provider is None:
        raise HTTPException(status_code=503, detail="the ML service is not running")
    try:
        return provider.get()
    except MLUnavailableError as err:
        raise HTTPException(status_code=503, detail=str(err)) from err


ML = Annotated[MLApi, Depends(get_ml)]


async def _run(ml: MLApi, endpoint: str, work: Awaitable[T]) -> T:
    started = time.perf_counter()
    try:
        result = await work
    except MLError as err:
        ml.observe(endpoint, False, time.perf_counter() - started)
        status = next((s for cls, s in _STATUS.items() if isinstance(err, cls)), 400)
        detail: Any = field_error(err.field, err.reason) if err.field else err.reason
        raise HTTPException(status_code=status, detail=detail) from err
    ml.observe(endpoint, True, time.perf_counter() - started)
    return result


_FORBID = ConfigDict(extra="forbid")


class RangeRequest(BaseModel):
    model_config = _FORBID

    start_date: Day | None = Field(default=None, description="first night (default: today)")
    end_date: Day | None = Field(
        default=None, description=f"last night, inclusive (default: start + {DEFAULT_DAYS - 1})"
    )

    def bounds(self, today: date) -> tuple[date, date]:
        start = self.start_date or today
        return start, self.end_date or start + timedelta(days=DEFAULT_DAYS - 1)


class RulesRequest(BaseModel):
    model_config = _FORBID

    floor: Annotated[float, Field(gt=0, le=1_000_000)] | None = None
    ceiling: Annotated[float, Field(gt=0, le=1_000_000)] | None = None
    max_daily_change: Annotated[float, Field(gt=0, le=1)] | None = Field(
        default=None, description="fraction, against the price published for the same night"
    )


class PricingRequest(RangeRequest):
    room_type: Annotated[str, Field(min_length=1, max_length=32)]
    rules: RulesRequest | None = None


class BookingFeatures(BaseModel):
    """A booking not stored in the hub, in the "Hotel booking demand" fields."""

    model_config = _FORBID

    arrival_date: Day
    lead_time: Annotated[int, Field(ge=0, le=1000)]
    stays_in_weekend_nights: Annotated[int, Field(ge=0, le=60)] = 0
    stays_in_week_nights: Annotated[int, Field(ge=0, le=120)] = 1
    adults: Annotated[int, Field(ge=0, le=20)] = 2
    children: Annotated[int, Field(ge=0, le=20)] = 0
    babies: Annotated[int, Field(ge=0, le=10)] = 0
    meal: Code = "BB"
    country: Code = "UNK"
    market_segment: Code = "Online TA"
    distribution_channel: Code = "TA/TO"
    is_repeated_guest: bool = False
    previous_cancellations: Count = 0
    previous_bookings_not_canceled: Count = 0
    reserved_room_type: Code = "double"
    deposit_type: Code = "No Deposit"
    agent: Code | None = None
    company: Code | None = None
    days_in_waiting_list: Count = 0
    customer_type: Code = "Transient"
    adr: Annotated[float, Field(ge=0, le=1_000_000)] = 0.0
    required_car_parking_spaces: Annotated[int, Field(ge=0, le=10)] = 0
    total_of_special_requests: Annotated[int, Field(ge=0, le=10)] = 0

    def schema_values(self) -> dict[str, Any]:
        values = self.model_dump(exclude={"arrival_date", "agent", "company", "is_repeated_guest"})
        day = self.arrival_date
        return values | {
            "arrival_date_year": day.year,
            "arrival_date_month": MONTHS[day.month - 1],
            "arrival_date_week_number": day.isocalendar().week,
            "arrival_date_day_of_month": day.day,
            "children": float(self.children),
            "is_repeated_guest": int(self.is_repeated_guest),
            "agent": self.agent or "NULL",
            "company": self.company or "NULL",
        }


class ChurnRequest(BaseModel):
    """One of ``booking_ref``, ``booking_id`` (a stored, upcoming booking) or ``booking``."""

    model_config = _FORBID

    booking_ref: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    booking_id: Id | None = None
    booking: BookingFeatures | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ChurnRequest:
        given = [v for v in (self.booking_ref, self.booking_id, self.booking) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of booking_ref, booking_id or booking")
        return self


class GuestRequest(BaseModel):
    model_config = _FORBID

    guest_id: Id


class ServicesRequest(GuestRequest):
    booking_ref: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    k: Annotated[int, Field(ge=1, le=10)] = 3


class RoomsRequest(BaseModel):
    model_config = _FORBID

    guest_id: Id | None = None
    check_in: Day
    check_out: Day
    adults: Annotated[int, Field(ge=1, le=8)] = 2
    children: Annotated[int, Field(ge=0, le=8)] = 0
    k: Annotated[int, Field(ge=1, le=10)] = 3


async def _forecast(ml: MLApi, target: str, body: RangeRequest) -> ForecastResult:
    start, end = body.bounds(ml.today())
    return await _run(ml, f"forecast/{target}", ml.forecast(target, start, end))


@router.post("/forecast/occupancy", response_model=ForecastResult)
async def forecast_occupancy(ml: ML, body: RangeRequest) -> ForecastResult:
    return await _forecast(ml, "occupancy", body)


@router.post("/forecast/revenue", response_model=ForecastResult)
async def forecast_revenue(ml: ML, body: RangeRequest) -> ForecastResult:
    return await _forecast(ml, "revenue", body)


@router.post("/forecast/housekeeping_demand", response_model=ForecastResult)
async def forecast_housekeeping(ml: ML, body: RangeRequest) -> ForecastResult:
    return await _forecast(ml, "housekeeping_demand", body)


@router.post("/pricing/optimize", response_model=PricingResult)
async def optimize_prices(ml: ML, body: PricingRequest) -> PricingResult:
    start, end = body.bounds(ml.today())
    rules = RulesInput(**body.rules.model_dump()) if body.rules else None
    return await _run(ml, "pricing/optimize", ml.optimize_prices(body.room_type, start, end, rules))


@router.get("/pricing/current/{room_type}", response_model=CurrentPrice)
async def current_price(
    ml: ML, room_type: Annotated[str, Path(min_length=1, max_length=32)]
) -> CurrentPrice:
    return await _run(ml, "pricing/current", ml.current_price(room_type))


@router.post("/churn/predict", response_model=CancellationResult)
async def predict_cancellation(ml: ML, body: ChurnRequest) -> CancellationResult:
    work = ml.predict_cancellation(
        booking_ref=body.booking_ref,
        booking_id=body.booking_id,
        features=body.booking.schema_values() if body.booking else None,
    )
    return await _run(ml, "churn/predict", work)


@router.post("/clv/predict", response_model=ClvResult)
async def predict_clv(ml: ML, body: GuestRequest) -> ClvResult:
    return await _run(ml, "clv/predict", ml.predict_clv(body.guest_id))


@router.post("/recommend/services", response_model=ServiceRecommendations)
async def recommend_services(ml: ML, body: ServicesRequest) -> ServiceRecommendations:
    work = ml.recommend_services(body.guest_id, body.booking_ref, body.k)
    return await _run(ml, "recommend/services", work)


@router.post("/recommend/rooms", response_model=RoomRecommendations)
async def recommend_rooms(ml: ML, body: RoomsRequest) -> RoomRecommendations:
    work = ml.recommend_rooms(
        body.guest_id, body.check_in, body.check_out, body.adults, body.children, body.k
    )
    return await _run(ml, "recommend/rooms", work)


@router.post(
    "/retrain/{model_name}",
    response_model=RetrainResult,
    dependencies=[Security(Authorize(rate_limit="model training"), scopes=[Scope.ML_WRITE])],
)
async def retrain(
    ml: ML, model_name: Annotated[str, Path(min_length=1, max_length=64)]
) -> RetrainResult:
    """Train ``model_name`` (or ``all``), evaluate it on the latest window, promote it only
    when it beats the current version."""
    return await _run(ml, "retrain", ml.retrain(model_name))


@router.get("/health", response_model=MLHealth)
async def health(ml: ML) -> MLHealth:
    return await _run(ml, "health", ml.health())


@router.get("/metrics", response_model=MLMetrics)
async def metrics(ml: ML) -> MLMetrics:
    return await _run(ml, "metrics", ml.metrics())
