"""Forecasts of occupancy, revenue and housekeeping demand (the ML service's part)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import numpy as np
import pandas as pd

from hub.ml.errors import (
    ModelNotTrainedError,
)
from hub.ml.forecasting import UNITS, Forecast, predict_forecast
from hub.ml.history import History
from hub.ml.results import (
    ForecastPoint,
    ForecastResult,
)
from hub.ml.service_core import ALL_ROOM_TYPES, ServiceCore
from hub.tables import MLModelRecord


class ForecastOps(ServiceCore):
    """Occupancy, revenue and housekeeping forecasts from the promoted forecasters."""

    async def _forecast(
        self, target: str, start: date, end: date, room_type: str | None = None
    ) -> tuple[Forecast, MLModelRecord, History]:
        self._check_range(start, end)
        model, record = await self._model(target)
        history = await self.history()
        if room_type is not None and room_type != ALL_ROOM_TYPES:
            self._check_room_type(history, room_type)
            history = history.of_room_type(room_type)
        if history.bookings.empty:
            raise ModelNotTrainedError("the booking history is empty: nothing to forecast from")
        forecast = await asyncio.to_thread(
            predict_forecast, model, history, pd.Timestamp(start), pd.Timestamp(end)
        )
        return forecast, record, history

    def _coverage(self, record: MLModelRecord) -> float:
        """The measured coverage of the model's bounds (its evaluation), else the nominal one."""
        measured = record.metrics.get("coverage")
        if measured is None or not np.isfinite(measured):
            return self._nominal_coverage()
        return float(measured)

    def _nominal_coverage(self) -> float:
        config = self.config.forecast
        return round(config.upper_quantile - config.lower_quantile, 4)

    async def forecast(
        self, target: str, start: date, end: date, room_type: str | None = None
    ) -> ForecastResult:
        """Nights ``start .. end`` of ``target`` for the hotel (``room_type`` None or "all") or
        for one room type (the same per-room model on that type's own bookings and rooms)."""
        forecast, record, history = await self._forecast(target, start, end, room_type)
        unit = history.currency if UNITS[target] == "currency" else UNITS[target]
        coverage = round(self._coverage(record), 4)
        named = {
            "occupancy": "predicted_occupancy",
            "revenue": "predicted_revenue",
            "housekeeping_demand": "predicted_housekeeping_hours",
        }[target]
        items = [
            ForecastPoint.model_validate(
                {
                    "date": d.date(),
                    named: round(float(p), 4),
                    "lower_bound": round(float(lo), 4),
                    "upper_bound": round(float(hi), 4),
                    "confidence": coverage,
                    "predicted_value": round(float(p), 4),
                    "on_the_books": round(float(o), 4),
                    "rooms": (
                        round(float(p) * forecast.capacity, 1) if target == "occupancy" else None
                    ),
                }
            )
            for d, lo, p, hi, o in zip(
                forecast.dates,
                forecast.lower,
                forecast.point,
                forecast.upper,
                forecast.on_the_books,
                strict=True,
            )
        ]
        scope = room_type or ALL_ROOM_TYPES
        result = ForecastResult(
            forecasts=items,
            target=target,
            room_type=scope,
            unit=unit,
            origin=history.as_of - timedelta(days=1),
            capacity=forecast.capacity,
            interval=self._nominal_coverage(),
            model_version=record.version,
        )
        await self._log(
            [
                {
                    "model_name": target,
                    "model_version": record.version,
                    "target": target,
                    "subject_type": "hotel" if scope == ALL_ROOM_TYPES else "room_type",
                    "subject_id": None if scope == ALL_ROOM_TYPES else scope,
                    "horizon_date": item.date,
                    "prediction": item.model_dump(mode="json", exclude_none=True),
                    "score": item.predicted_value,
                }
                for item in items
            ]
        )
        return result

    async def forecast_series(self, target: str, start: date, end: date) -> tuple[Forecast, str]:
        forecast, record, _ = await self._forecast(target, start, end)
        return forecast, record.version
