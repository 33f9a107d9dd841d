"""What the ML service answers (pydantic, also the API's response bodies)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class ForecastPoint(BaseModel):
    """One night. The seed's fields (``date``, ``predicted_occupancy``, ``lower_bound``,
    ``upper_bound``, ``confidence``) first; revenue and housekeeping forecasts carry
    ``predicted_revenue`` / ``predicted_housekeeping_hours`` in place of ``predicted_occupancy``
    (fields that do not apply are left out of the response)."""

    date: date
    predicted_occupancy: float | None = Field(default=None, description="occupancy only (0-1)")
    predicted_revenue: float | None = Field(default=None, description="revenue only")
    predicted_housekeeping_hours: float | None = Field(
        default=None, description="housekeeping_demand only"
    )
    lower_bound: float = Field(description="lower bound of the prediction interval")
    upper_bound: float = Field(description="upper bound of the prediction interval")
    confidence: float = Field(
        ge=0,
        le=1,
        description="share of actual nights that fell inside [lower_bound, upper_bound] when "
        "this model version was evaluated on its held-out window (measured coverage)",
    )
    predicted_value: float = Field(description="median forecast, in the target's unit")
    on_the_books: float = Field(description="already booked as of today, same unit")
    rooms: float | None = Field(default=None, description="occupancy only: rooms occupied")


class ForecastResult(BaseModel):
    forecasts: list[ForecastPoint]
    target: Literal["occupancy", "revenue", "housekeeping_demand"]
    room_type: str = Field(description='"all" (the hotel) or one room type')
    unit: str = Field(description="rate (0-1) | currency code | hours")
    origin: date = Field(description="forecast made with the data up to the end of this day")
    capacity: int = Field(description="rooms counted (the hotel's, or the room type's)")
    interval: float = Field(default=0.8, description="nominal coverage the bounds aim at")
    model_version: str


class PriceRulesOut(BaseModel):
    floor: float
    ceiling: float
    max_daily_change: float


class PricePoint(BaseModel):
    date: date
    price: float = Field(description="recommended public nightly rate (before segment discounts)")
    reference_price: float = Field(description="the rate usually charged for such a night")
    previous_price: float = Field(description="the rate published for this night until now")
    change: float = Field(description="price / previous_price - 1")
    expected_occupancy: float
    expected_rooms_sold: float
    expected_revenue: float = Field(description="room revenue of the night for this type")
    elasticity: float = Field(description="price elasticity of demand at the price")
    confidence: float = Field(ge=0, le=1)
    confidence_level: Literal["low", "medium", "high"]
    limited_by: Literal["none", "floor", "ceiling", "max_daily_change"]


class PricingResult(BaseModel):
    room_type: str
    currency: str
    rules: PriceRulesOut
    model_versions: dict[str, str]
    expected_revenue: float
    items: list[PricePoint]


class ScheduledPrice(BaseModel):
    """One night and room type of ``POST /pricing/optimize`` (the seed's fields first)."""

    date: date
    room_type: str
    suggested_price: float = Field(description="recommended public nightly rate")
    current_price: float = Field(
        description="the rate published for this night until now (the last recommendation, "
        "else the reference rate)"
    )
    expected_occupancy: float = Field(description="of this room type at the suggested price")
    competitor_avg: float | None = Field(
        default=None, description="always null: the hub has no competitor rate feed"
    )
    confidence: float = Field(
        ge=0,
        le=1,
        description="1 - width of the 80 % interval of the hotel's occupancy forecast for the "
        "night (both as rates): 1 when demand is pinned down, lower as it is uncertain",
    )
    confidence_level: Literal["low", "medium", "high"]
    reference_price: float
    change: float = Field(description="suggested_price / current_price - 1")
    expected_rooms_sold: float
    expected_revenue: float
    elasticity: float
    limited_by: Literal["none", "floor", "ceiling", "max_daily_change"]


class PricingSchedule(BaseModel):
    pricing_schedule: list[ScheduledPrice] = Field(description="by date, then room type")
    currency: str
    rules: dict[str, PriceRulesOut] = Field(description="per room type")
    model_versions: dict[str, str]
    expected_revenue: float


class CurrentPrice(BaseModel):
    room_type: str
    date: date
    price: float
    source: Literal["published", "recommended_now"]
    currency: str
    expected_occupancy: float | None = None
    confidence: float | None = None
    model_versions: dict[str, str] = Field(default_factory=dict)


class RiskFactor(BaseModel):
    factor: str = Field(description="the booking attribute (snake_case)")
    impact: float = Field(
        description="how much this attribute moves the probability: churn_probability minus "
        "the probability without its contribution (positive raises the risk)"
    )
    label: str
    value: str
    contribution: float = Field(description="log-odds; positive raises the risk")
    effect: Literal["raises", "lowers"]


class ChurnResult(BaseModel):
    booking_id: str = Field(description="the booking's reference (BOOK001)")
    guest_id: str | None
    churn_probability: float = Field(ge=0, le=1, description="probability of cancellation")
    risk_level: Literal["low", "medium", "high"]
    risk_factors: list[RiskFactor]
    recommended_actions: list[str] = Field(description="action codes")
    action_details: list[str] = Field(description="the same actions in words")
    features_used: dict[str, Any] = Field(
        description="the scored attributes after the request's features were applied"
    )
    model_version: str


class GuestHistoryOut(BaseModel):
    bookings: int
    stays: int
    room_revenue: float
    service_revenue: float
    last_stay: date | None
    upcoming_bookings: int


class ClvResult(BaseModel):
    guest_id: str
    predicted_clv: float = Field(description="expected room + service revenue over the horizon")
    time_horizon_months: int
    segment: Literal["champion", "loyal", "at_risk", "new", "occasional", "dormant"]
    retention_probability: float = Field(ge=0, le=1)
    horizon_days: int
    currency: str
    history: GuestHistoryOut
    model_version: str


class ServiceSuggestion(BaseModel):
    service_id: str
    service_name: str
    score: float = Field(ge=0, le=1, description="probability the guest orders it")
    reason: str
    estimated_revenue: float = Field(description="score x price: the expected revenue")
    service: str = Field(description="catalogue key")
    price: float


class ServiceRecommendations(BaseModel):
    guest_id: str
    booking_id: str | None = Field(description="the stay recommended for, if a stored one")
    recommendations: list[ServiceSuggestion]
    context: dict[str, Any] = Field(description="the stay as scored, after the request context")
    model_version: str


class RoomSuggestion(BaseModel):
    room_type: str
    score: float = Field(ge=0, le=1, description="probability the guest would choose the type")
    available_rooms: int
    max_occupancy: int
    price_per_night: float
    total_price: float
    price_tier: Literal["low", "medium", "high"]
    view_rooms: int | None = Field(
        default=None, description="rooms of this type with the requested view"
    )
    matches_preferences: bool
    reason: str


class RoomRecommendations(BaseModel):
    guest_id: str | None
    check_in: date
    check_out: date
    recommendations: list[RoomSuggestion]
    preferences: dict[str, Any]
    note: str | None = None
    model_version: str


class RetrainOutcome(BaseModel):
    name: str
    status: Literal["promoted", "kept_current", "skipped"]
    version: str | None = None
    reason: str
    metrics: dict[str, float] = Field(default_factory=dict)
    window: dict[str, str] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict, description="the bookings trained on")
    previous_version: str | None = None
    seconds: float = 0.0


class RetrainResult(BaseModel):
    model_name: str = Field(description="as asked (pricing_model, churn_model, ..., all)")
    models: list[str] = Field(description="the hub models it stands for")
    outcomes: list[RetrainOutcome]


class ModelStatus(BaseModel):
    name: str
    trained: bool
    version: str | None = None
    promoted_at: datetime | None = None
    metric: str | None = None
    score: float | None = None
    window: dict[str, str] = Field(default_factory=dict)
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="the bookings it was trained on: first_booking, last_booking (arrival "
        "dates), rows, eval_rows",
    )
    needs: str | None = Field(default=None, description="how much history it needs")


class Check(BaseModel):
    status: Literal["ok", "error"]
    latency_ms: float | None = None
    detail: str | None = None


class MLHealth(BaseModel):
    status: Literal["healthy", "degraded"]
    timestamp: datetime
    checks: dict[str, Any] = Field(
        description="database: {status, latency_ms}; models: {name: loaded | not_trained}"
    )
    reason: str | None = None
    models: list[ModelStatus]
    bookings: int
    first_night: date | None
    as_of: date
