"""What the API needs from the ML layer, importable without pandas, LightGBM or scikit-learn.

The hub starts without the ML dependencies (DESIGN §1): :class:`MLProvider` is built in the
lifespan and imports :mod:`hub.ml.service` on first use; when that fails, every ML endpoint
answers 503 with the reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from hub.ml.config import MLConfig
from hub.ml.results import (
    ChurnResult,
    ClvResult,
    CurrentPrice,
    ForecastResult,
    MLHealth,
    ModelStatus,
    PricingResult,
    PricingSchedule,
    RetrainResult,
    RoomRecommendations,
    ServiceRecommendations,
)

if TYPE_CHECKING:
    from hub.db import SessionFactory

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RulesInput:
    """Business rules as asked for (a ``None`` takes the default)."""

    floor: float | None = None
    ceiling: float | None = None
    max_daily_change: float | None = None


@dataclass(frozen=True)
class ChurnFeatures:
    """Booking attributes given with a churn request; they override the stored booking's.
    Values are in the seed's vocabulary (:mod:`hub.ml.terms`)."""

    booking_lead_time_days: int | None = None
    payment_method: str | None = None
    booking_source: str | None = None
    total_amount: float | None = None


@dataclass(frozen=True)
class ServiceContext:
    """The stay to recommend services for, as the caller sees it (overrides the stored one)."""

    current_room: str | None = None
    check_in_date: date | None = None
    guest_segment: str | None = None


@dataclass(frozen=True)
class RoomPreferences:
    """``budget``: a price tier (low | medium | high) or a nightly maximum; ``view``: ocean,
    city, garden, ... (rooms carry ``<view>_view`` among their amenities)."""

    budget: str | float | None = None
    view: str | None = None


class MLApi(Protocol):
    """The operations behind ``/api/v1/ml`` (implemented by ``hub.ml.service.MLService``).
    Guests and bookings are named by the hotel's ids (``GUEST001``, ``BOOK001``)."""

    def today(self) -> date: ...

    async def forecast(
        self, target: str, start: date, end: date, room_type: str | None = None
    ) -> ForecastResult: ...

    async def optimize_prices(
        self, room_type: str, start: date, end: date, asked: RulesInput | None = None
    ) -> PricingResult: ...

    async def optimize_schedule(
        self,
        room_types: list[str] | None,
        start: date,
        end: date,
        asked: RulesInput | None = None,
    ) -> PricingSchedule: ...

    async def current_price(self, room_type: str) -> CurrentPrice: ...

    async def predict_churn(
        self, booking_ref: str, guest_ref: str | None, features: ChurnFeatures | None
    ) -> ChurnResult: ...

    async def predict_clv(self, guest_ref: str) -> ClvResult: ...

    async def recommend_services(
        self,
        guest_ref: str,
        k: int,
        context: ServiceContext | None = None,
        booking_ref: str | None = None,
    ) -> ServiceRecommendations: ...

    async def recommend_rooms(
        self,
        guest_ref: str | None,
        check_in: date,
        check_out: date,
        *,
        adults: int = 2,
        children: int = 0,
        k: int = 3,
        preferences: RoomPreferences | None = None,
    ) -> RoomRecommendations: ...

    async def retrain(self, name: str) -> RetrainResult: ...

    async def health(self) -> MLHealth: ...

    async def model_statuses(self) -> list[ModelStatus]: ...

    async def predictions_logged(self) -> int: ...


class MLUnavailableError(RuntimeError):
    """The ML dependencies (pandas, LightGBM, scikit-learn, SciPy) are not installed."""


class MLProvider:
    """Builds the ML service on first use; remembers why it could not."""

    def __init__(
        self,
        session_factory: SessionFactory,
        models_dir: Path,
        config: MLConfig | None = None,
        *,
        today: Callable[[], date] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._models_dir = models_dir
        self._config = config
        self._today = today
        self._service: MLApi | None = None
        self._error: str | None = None
        self._lock = threading.Lock()

    def get(self) -> MLApi:
        with self._lock:
            if self._service is None and self._error is None:
                try:
                    from hub.ml.service import MLService, utc_today
                except ImportError as err:
                    self._error = f"the ML dependencies are not installed ({err.name or err})"
                    logger.warning("ML endpoints disabled: %s", self._error)
                else:
                    self._service = MLService(
                        self._session_factory,
                        self._models_dir,
                        self._config,
                        today=self._today or utc_today,
                    )
        if self._service is None:
            raise MLUnavailableError(self._error or "the ML service is unavailable")
        return self._service
