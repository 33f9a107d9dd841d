"""What the ML service answers (pydantic, also the API's response bodies)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field


class ForecastPoint(BaseModel):
    date: date
    value: float = Field(description="median forecast")
    lower: float = Field(description="lower bound of the 80 % interval")
    upper: float = Field(description="upper bound of the 80 % interval")
    on_the_books: float = Field(description="already booked as of today, same unit")
    rooms: float | None = Field(default=None, description="occupancy only: rooms occupied")


class ForecastResult(BaseModel):
    target: Literal["occupancy", "revenue", "housekeeping_demand"]
    unit: str = Field(description="rate (0-1) | currency code | hours")
    origin: date = Field(description="forecast made with the data up to the end of this day")
    capacity: int
    interval: float = 0.8
    model_version: str
    items: list[ForecastPoint]


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


class CurrentPrice(BaseModel):
    room_type: str
    date: date
    price: float
    source: Literal["published", "recommended_now"]
    currency: str
    expected_occupancy: float | None = None
    confidence: float | None = None
    model_versions: dict[str, str] = Field(default_factory=dict)


class FactorOut(BaseModel):
    feature: str
    label: str
    value: str
    contribution: float = Field(description="log-odds; positive raises the risk")
    effect: Literal["raises", "lowers"]


class CancellationResult(BaseModel):
    booking_ref: str | None
    probability: float = Field(ge=0, le=1)
    risk_level: Literal["low", "medium", "high"]
    top_factors: list[FactorOut]
    recommended_actions: list[str]
    model_version: str


class GuestHistoryOut(BaseModel):
    bookings: int
    stays: int
    room_revenue: float
    service_revenue: float
    last_stay: date | None
    upcoming_bookings: int


class ClvResult(BaseModel):
    guest_id: int
    horizon_days: int
    clv: float = Field(description="expected room + service revenue over the horizon")
    currency: str
    retention_probability: float = Field(ge=0, le=1)
    segment: Literal["champion", "loyal", "at_risk", "new", "occasional", "dormant"]
    history: GuestHistoryOut
    model_version: str


class ServiceSuggestion(BaseModel):
    service: str
    score: float = Field(ge=0, le=1, description="probability the guest orders it")
    price: float
    reason: str


class ServiceRecommendations(BaseModel):
    guest_id: int
    booking_ref: str | None
    items: list[ServiceSuggestion]
    model_version: str


class RoomSuggestion(BaseModel):
    room_type: str
    score: float = Field(ge=0, le=1)
    available_rooms: int
    max_occupancy: int
    price_per_night: float
    total_price: float
    reason: str


class RoomRecommendations(BaseModel):
    guest_id: int | None
    check_in: date
    check_out: date
    items: list[RoomSuggestion]
    note: str | None = None
    model_version: str


class RetrainOutcome(BaseModel):
    name: str
    status: Literal["promoted", "kept_current", "skipped"]
    version: str | None = None
    reason: str
    metrics: dict[str, float] = Field(default_factory=dict)
    window: dict[str, str] = Field(default_factory=dict)
    previous_version: str | None = None
    seconds: float = 0.0


class RetrainResult(BaseModel):
    outcomes: list[RetrainOutcome]


class ModelStatus(BaseModel):
    name: str
    trained: bool
    version: str | None = None
    promoted_at: datetime | None = None
    metric: str | None = None
    score: float | None = None
    window: dict[str, str] = Field(default_factory=dict)


class MLHealth(BaseModel):
    status: Literal["ok", "degraded"]
    reason: str | None = None
    models: list[ModelStatus]
    bookings: int
    first_night: date | None
    as_of: date


class EndpointStats(BaseModel):
    requests: int
    errors: int
    mean_seconds: float


class MLMetrics(BaseModel):
    endpoints: dict[str, EndpointStats]
    predictions_logged: int
    models: list[ModelStatus]
