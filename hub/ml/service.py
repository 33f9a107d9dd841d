"""The ML service the API routes and the CLI call: loads the history from the hub database
(cached until it changes), serves predictions from the promoted models (logging each to
``ml_predictions``), and retrains. CPU-bound work runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from hub.db import SessionFactory
from hub.ml import clv as clv_mod
from hub.ml import repository as repo
from hub.ml import terms, training
from hub.ml.api import ChurnFeatures, RoomPreferences, RulesInput, ServiceContext
from hub.ml.cancellation import CancellationModel, action_code
from hub.ml.catalog import SERVICE_BY_NAME
from hub.ml.config import MLConfig
from hub.ml.errors import (
    ConflictError,
    InsufficientHistoryError,
    InvalidInputError,
    ModelNotTrainedError,
    NotFoundError,
)
from hub.ml.forecasting import UNITS, Forecast, predict_forecast
from hub.ml.history import History, date_range, to_hotel_bookings
from hub.ml.pricing import (
    PriceCurve,
    PricePlan,
    PricingRules,
    allowed_range,
    confidence_label,
    default_rules,
    optimise,
    price_inputs,
    reference_prices,
    revenue_curve,
)
from hub.ml.recommend import (
    Recommender,
    availability,
    context_stay,
    room_context,
    service_price,
    stays_frame,
)
from hub.ml.registry import ModelStore
from hub.ml.results import (
    ChurnResult,
    ClvResult,
    CurrentPrice,
    ForecastPoint,
    ForecastResult,
    GuestHistoryOut,
    MLHealth,
    ModelStatus,
    PricePoint,
    PriceRulesOut,
    PricingResult,
    PricingSchedule,
    RetrainOutcome,
    RetrainResult,
    RiskFactor,
    RoomRecommendations,
    RoomSuggestion,
    ScheduledPrice,
    ServiceRecommendations,
    ServiceSuggestion,
)
from hub.tables import Booking, MLModelRecord, MLPrediction

logger = logging.getLogger(__name__)

TRAIN_HINT: Final = "run `innsight ml train` or POST /api/v1/ml/retrain/{name}"
ALL_ROOM_TYPES: Final = "all"


def utc_today() -> date:
    return datetime.now(UTC).date()


def price_tiers(prices: dict[str, float]) -> dict[str, Literal["low", "medium", "high"]]:
    """Each room type's price tier: the cheapest third of the types is low, the dearest high."""
    names: tuple[Literal["low", "medium", "high"], ...] = ("low", "medium", "high")
    ordered = sorted(prices, key=lambda rt: (prices[rt], rt))
    n = len(ordered)
    return {rt: names[min(2, i * 3 // max(n, 1))] for i, rt in enumerate(ordered)}


def budget_fit(budget: str | float | None, tier: str, price: float) -> float:
    """1 when a room type fits the budget, 0.5 next to it, 0 when it does not."""
    if budget is None:
        return 1.0
    if isinstance(budget, str):
        order = {"low": 0, "medium": 1, "high": 2}
        distance = abs(order[budget] - order[tier])
        return 1.0 if distance == 0 else 0.5 if distance == 1 else 0.0
    return 1.0 if price <= budget else 0.0


def _apply_features(frame: pd.DataFrame, features: ChurnFeatures | None) -> None:
    """Write a churn request's features over a one-row bookings frame (dataset schema)."""
    if features is None:
        return
    if features.booking_lead_time_days is not None:
        frame["lead_time"] = int(features.booking_lead_time_days)
    try:
        if features.payment_method is not None:
            frame["deposit_type"] = terms.deposit_type(features.payment_method)
        if features.booking_source is not None:
            segment, channel = terms.booking_source(features.booking_source)
            frame["market_segment"] = segment
            frame["distribution_channel"] = channel
    except ValueError as err:
        field = "payment_method" if "payment method" in str(err) else "booking_source"
        raise InvalidInputError(str(err), field=f"features.{field}") from err
    if features.total_amount is not None:
        row = frame.iloc[0]
        nights = int(row["stays_in_weekend_nights"] + row["stays_in_week_nights"])
        frame["adr"] = float(features.total_amount) / max(nights, 1)


@dataclass
class _Cache:
    key: tuple[Any, ...] | None = None
    history: History | None = None
    models: dict[tuple[str, str], Any] = field(default_factory=dict)


class MLService:
    def __init__(
        self,
        session_factory: SessionFactory,
        models_dir: Path,
        config: MLConfig | None = None,
        *,
        today: Callable[[], date] = utc_today,
    ) -> None:
        self._sessions = session_factory
        self._store = ModelStore(models_dir)
        self.config = config or MLConfig()
        self._today = today
        self._cache = _Cache()
        self._history_lock = asyncio.Lock()
        self._train_lock = asyncio.Lock()

    # -- infrastructure ----------------------------------------------------------------------

    def today(self) -> date:
        return self._today()

    async def history(self) -> History:
        """The booking history as known today (reloaded when the database changed)."""
        today = self._today()
        async with self._history_lock:
            async with self._sessions() as session:
                key = (today, *(await repo.fingerprint(session)))
                if self._cache.key == key and self._cache.history is not None:
                    return self._cache.history
                history = await repo.load_history(session, today)
            self._cache.key, self._cache.history = key, history
            logger.info("loaded the booking history: %d bookings", len(history.bookings))
            return history

    async def _model(self, name: str) -> tuple[Any, MLModelRecord]:
        async with self._sessions() as session:
            record = await repo.promoted(session, name)
        if record is None:
            raise ModelNotTrainedError(
                f"no {name} model is trained yet: {TRAIN_HINT.format(name=name)}"
            )
        key = (name, record.version)
        if key not in self._cache.models:
            artefact = await asyncio.to_thread(self._store.load, record.path, record.sha256)
            self._cache.models = {k: v for k, v in self._cache.models.items() if k[0] != name}
            self._cache.models[key] = artefact
        return self._cache.models[key], record

    async def _log(self, rows: list[dict[str, Any]]) -> None:
        async with self._sessions() as session:
            await repo.log_predictions(session, rows)

    # -- validation --------------------------------------------------------------------------

    def _check_range(
        self,
        start: date,
        end: date,
        *,
        first_field: str = "start_date",
        last_field: str = "end_date",
    ) -> None:
        today = self._today()
        if end < start:
            raise InvalidInputError(
                f"{last_field} ({end}) is before {first_field} ({start})", field=last_field
            )
        days = (end - start).days + 1
        if days > self.config.max_range_days:
            raise InvalidInputError(
                f"the range covers {days} days; at most {self.config.max_range_days}",
                field=last_field,
            )
        if start < today:
            raise InvalidInputError(
                f"{first_field} ({start}) is in the past: forecasts start today ({today})",
                field=first_field,
            )
        furthest = today + timedelta(days=self.config.forecast.max_horizon_days - 1)
        if end > furthest:
            raise InvalidInputError(
                f"{last_field} ({end}) is beyond the forecast horizon ({furthest})",
                field=last_field,
            )

    @staticmethod
    def _check_room_type(history: History, room_type: str, field: str = "room_type") -> None:
        if room_type not in history.capacity():
            known = ", ".join(history.room_types) or "none"
            raise NotFoundError(f"unknown room type {room_type!r} (known: {known})", field=field)

    # -- forecasts ---------------------------------------------------------------------------

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

    # -- pricing -----------------------------------------------------------------------------

    def _rules(self, history: History, room_type: str, asked: RulesInput | None) -> PricingRules:
        base = default_rules(history.base_rates()[room_type], self.config.pricing)
        asked = asked or RulesInput()
        values = {
            "floor": asked.floor if asked.floor is not None else base.floor,
            "ceiling": asked.ceiling if asked.ceiling is not None else base.ceiling,
            "max_daily_change": (
                asked.max_daily_change
                if asked.max_daily_change is not None
                else base.max_daily_change
            ),
        }
        if values["floor"] >= values["ceiling"]:
            raise InvalidInputError(
                f"floor ({values['floor']}) must be below ceiling ({values['ceiling']})",
                field="rules.floor",
            )
        return PricingRules(**values)

    async def _plan(
        self, room_type: str, start: date, end: date, asked: RulesInput | None
    ) -> tuple[PricePlan, PricingRules, dict[str, str], History]:
        self._check_range(start, end)
        history = await self.history()
        self._check_room_type(history, room_type)
        rules = self._rules(history, room_type, asked)
        occupancy, occ_record = await self._model("occupancy")
        demand, demand_record = await self._model("pricing")
        async with self._sessions() as session:
            published = await repo.latest_prices(session, room_type, start, end)
        config = self.config.pricing

        def compute() -> PricePlan:
            forecast = predict_forecast(occupancy, history, pd.Timestamp(start), pd.Timestamp(end))
            nights = forecast.dates
            reference = reference_prices(history, room_type, nights, config.share_days)
            previous = np.array(
                [published.get(n.date(), ref) for n, ref in zip(nights, reference, strict=True)]
            )
            inputs = price_inputs(history, room_type, forecast, demand, config, previous=previous)
            return optimise(inputs, rules, config.grid_points)

        plan = await asyncio.to_thread(compute)
        versions = {"occupancy": occ_record.version, "pricing": demand_record.version}
        return plan, rules, versions, history

    @staticmethod
    def _limit(price: float, previous: float, rules: PricingRules) -> str:
        lo, hi, _ = allowed_range(previous, rules)
        if abs(price - lo) < 0.006 and lo > 0:
            return "floor" if abs(lo - rules.floor) < 0.006 else "max_daily_change"
        if abs(price - hi) < 0.006:
            return "ceiling" if abs(hi - rules.ceiling) < 0.006 else "max_daily_change"
        return "none"

    async def optimize_prices(
        self, room_type: str, start: date, end: date, asked: RulesInput | None = None
    ) -> PricingResult:
        plan, rules, versions, history = await self._plan(room_type, start, end, asked)
        items = []
        for i, night in enumerate(plan.nights):
            price, prev = float(plan.price[i]), float(plan.previous[i])
            conf = float(plan.confidence[i])
            items.append(
                PricePoint(
                    date=night.date(),
                    price=round(price, 2),
                    reference_price=round(float(plan.reference[i]), 2),
                    previous_price=round(prev, 2),
                    change=round(price / prev - 1.0, 4) if prev > 0 else 0.0,
                    expected_occupancy=round(float(plan.expected_occupancy[i]), 4),
                    expected_rooms_sold=round(float(plan.expected_rooms[i]), 2),
                    expected_revenue=round(float(plan.expected_revenue[i]), 2),
                    elasticity=round(float(plan.elasticity[i]), 3),
                    confidence=round(conf, 3),
                    confidence_level=confidence_label(conf),
                    limited_by=self._limit(price, prev, rules),
                )
            )
        result = PricingResult(
            room_type=room_type,
            currency=history.currency,
            rules=PriceRulesOut(**rules.model_dump()),
            model_versions=versions,
            expected_revenue=round(sum(i.expected_revenue for i in items), 2),
            items=items,
        )
        await self._log(
            [
                {
                    "model_name": "pricing",
                    "model_version": versions["pricing"],
                    "target": "price",
                    "subject_type": "room_type",
                    "subject_id": room_type,
                    "horizon_date": item.date,
                    "prediction": item.model_dump(mode="json")
                    | {"occupancy_model": versions["occupancy"]},
                    "score": item.price,
                }
                for item in items
            ]
        )
        return result

    async def optimize_schedule(
        self,
        room_types: list[str] | None,
        start: date,
        end: date,
        asked: RulesInput | None = None,
    ) -> PricingSchedule:
        """Prices for every night of ``start .. end`` and each of ``room_types`` (all when
        None), ordered by night, then room type as asked."""
        self._check_range(start, end, first_field="date_range.start", last_field="date_range.end")
        history = await self.history()
        wanted = list(dict.fromkeys(room_types)) if room_types else history.room_types
        for i, room_type in enumerate(wanted):
            self._check_room_type(history, room_type, field=f"room_types[{i}]")
        plans = [await self.optimize_prices(rt, start, end, asked) for rt in wanted]
        rows: list[ScheduledPrice] = []
        for night in range((end - start).days + 1):
            for plan in plans:
                item = plan.items[night]
                rows.append(
                    ScheduledPrice(
                        date=item.date,
                        room_type=plan.room_type,
                        suggested_price=item.price,
                        current_price=item.previous_price,
                        expected_occupancy=item.expected_occupancy,
                        competitor_avg=None,
                        confidence=item.confidence,
                        confidence_level=item.confidence_level,
                        reference_price=item.reference_price,
                        change=item.change,
                        expected_rooms_sold=item.expected_rooms_sold,
                        expected_revenue=item.expected_revenue,
                        elasticity=item.elasticity,
                        limited_by=item.limited_by,
                    )
                )
        return PricingSchedule(
            pricing_schedule=rows,
            currency=history.currency,
            rules={plan.room_type: plan.rules for plan in plans},
            model_versions=plans[0].model_versions if plans else {},
            expected_revenue=round(sum(plan.expected_revenue for plan in plans), 2),
        )

    async def current_price(self, room_type: str) -> CurrentPrice:
        history = await self.history()
        self._check_room_type(history, room_type)
        today = self._today()
        async with self._sessions() as session:
            published = await repo.latest_prices(session, room_type, today, today)
            detail = None
            if today in published:
                detail = await repo.latest_price_row(session, room_type, today)
        if today in published and detail is not None:
            prediction = detail.prediction
            return CurrentPrice(
                room_type=room_type,
                date=today,
                price=round(published[today], 2),
                source="published",
                currency=history.currency,
                expected_occupancy=prediction.get("expected_occupancy"),
                confidence=prediction.get("confidence"),
                model_versions={
                    "pricing": detail.model_version,
                    "occupancy": str(prediction.get("occupancy_model", "")),
                },
            )
        result = await self.optimize_prices(room_type, today, today)
        item = result.items[0]
        return CurrentPrice(
            room_type=room_type,
            date=today,
            price=item.price,
            source="recommended_now",
            currency=history.currency,
            expected_occupancy=item.expected_occupancy,
            confidence=item.confidence,
            model_versions=result.model_versions,
        )

    # -- cancellation ------------------------------------------------------------------------

    async def predict_churn(
        self, booking_ref: str, guest_ref: str | None, features: ChurnFeatures | None
    ) -> ChurnResult:
        """Cancellation risk of a stored, upcoming booking; ``features`` override its stored
        attributes (lead time, deposit from the payment method, segment and channel from the
        booking source, nightly rate from the total amount)."""
        model, record = await self._model("cancellation")
        assert isinstance(model, CancellationModel)  # noqa: S101 - our own artefact
        history = await self.history()
        b = history.bookings
        match = np.flatnonzero((b["booking_ref"] == booking_ref).to_numpy())
        if len(match) == 0:
            raise NotFoundError(f"no booking with booking_id {booking_ref!r}", field="booking_id")
        row = int(match[0])
        if guest_ref is not None:
            guest_id = await self._guest_id(guest_ref)
            if int(b["guest_id"].iloc[row]) != guest_id:
                raise InvalidInputError(
                    f"booking {booking_ref} is not a booking of guest {guest_ref}",
                    field="guest_id",
                )
        else:
            async with self._sessions() as session:
                guest_ref = await repo.guest_ref_of(session, int(b["guest_id"].iloc[row]))
        status = str(history.status().iloc[row])
        if status != "reserved":
            raise ConflictError(
                f"the booking is {status}: only upcoming (reserved) bookings can be scored",
                field="booking_id",
            )
        frame = to_hotel_bookings(history, resolved_only=False).iloc[[row]].copy()
        _apply_features(frame, features)
        risk = (await asyncio.to_thread(model.explain, frame))[0]
        p = min(max(risk.probability, 1e-9), 1 - 1e-9)
        logit = float(np.log(p / (1 - p)))
        used = frame.iloc[0]
        result = ChurnResult(
            booking_id=booking_ref,
            guest_id=guest_ref,
            churn_probability=round(risk.probability, 4),
            risk_level=risk.risk_level,
            risk_factors=[
                RiskFactor(
                    factor=f.feature,
                    impact=round(p - 1.0 / (1.0 + float(np.exp(-(logit - f.contribution)))), 4),
                    label=f.label,
                    value=f.value,
                    contribution=round(f.contribution, 4),
                    effect="raises" if f.contribution > 0 else "lowers",
                )
                for f in risk.factors
            ],
            recommended_actions=[action_code(a) for a in risk.actions],
            action_details=list(risk.actions),
            features_used={
                "lead_time": int(used["lead_time"]),
                "deposit_type": str(used["deposit_type"]),
                "market_segment": str(used["market_segment"]),
                "distribution_channel": str(used["distribution_channel"]),
                "adr": round(float(used["adr"]), 2),
                "nights": int(used["stays_in_weekend_nights"] + used["stays_in_week_nights"]),
            },
            model_version=record.version,
        )
        await self._log(
            [
                {
                    "model_name": "cancellation",
                    "model_version": record.version,
                    "target": "cancellation",
                    "subject_type": "booking",
                    "subject_id": booking_ref,
                    "prediction": result.model_dump(mode="json"),
                    "score": result.churn_probability,
                }
            ]
        )
        return result

    # -- guests ------------------------------------------------------------------------------

    async def _guest_id(self, guest_ref: str) -> int:
        async with self._sessions() as session:
            guest_id = await repo.guest_id_of(session, guest_ref)
        if guest_id is None:
            raise NotFoundError(f"no guest with guest_id {guest_ref!r}", field="guest_id")
        return guest_id

    async def _guest_history(self, guest_ref: str) -> tuple[History, History]:
        guest_id = await self._guest_id(guest_ref)
        history = await self.history()
        mine = history.bookings["guest_id"] == guest_id
        services = history.services[history.services["guest_id"] == guest_id]
        sub = History(
            bookings=history.bookings[mine].reset_index(drop=True),
            rooms=history.rooms,
            services=services.reset_index(drop=True),
            as_of=history.as_of,
            currency=history.currency,
        )
        return history, sub

    async def predict_clv(self, guest_ref: str) -> ClvResult:
        model, record = await self._model("clv")
        assert isinstance(model, clv_mod.ClvModel)  # noqa: S101 - our own artefact
        history, mine = await self._guest_history(guest_ref)
        features = clv_mod.guest_features(mine)
        if features.empty:
            features = pd.DataFrame(
                [
                    dict.fromkeys(clv_mod.NUMERIC, 0.0)
                    | {"main_segment": "Direct", "country": "UNK"}
                ],
                index=[0],
            )
            features["recency_days"] = np.nan
        row = features.iloc[:1]
        value, retention = model.predict(row)
        stats = row.iloc[0]
        past = float(stats["room_revenue"] + stats["service_revenue"])
        stays = float(stats["stays"])
        segment = model.segment(float(value[0]), float(retention[0]), past, stays)
        stayed = mine.bookings[mine.stayed() & (mine.bookings["arrival"] < mine.as_of_ts)]
        last = stayed["arrival"].max()
        result = ClvResult(
            guest_id=guest_ref,
            predicted_clv=round(float(value[0]), 2),
            time_horizon_months=round(model.horizon_days * 12 / 365),
            segment=segment,
            retention_probability=round(float(retention[0]), 4),
            horizon_days=model.horizon_days,
            currency=history.currency,
            history=GuestHistoryOut(
                bookings=int(stats["bookings"]),
                stays=int(stays),
                room_revenue=round(float(stats["room_revenue"]), 2),
                service_revenue=round(float(stats["service_revenue"]), 2),
                last_stay=None if pd.isna(last) else pd.Timestamp(last).date(),
                upcoming_bookings=int(stats["upcoming_bookings"]),
            ),
            model_version=record.version,
        )
        await self._log(
            [
                {
                    "model_name": "clv",
                    "model_version": record.version,
                    "target": "clv",
                    "subject_type": "guest",
                    "subject_id": guest_ref,
                    "prediction": result.model_dump(mode="json"),
                    "score": result.predicted_clv,
                }
            ]
        )
        return result

    async def _apply_context(
        self, stay: pd.DataFrame, context: ServiceContext | None
    ) -> pd.DataFrame:
        """The stay as the caller describes it: room (its type), arrival, market segment."""
        if context is None:
            return stay
        stay = stay.copy()
        if context.current_room is not None:
            async with self._sessions() as session:
                room_type = await repo.room_type_of(session, context.current_room)
            if room_type is None:
                raise NotFoundError(
                    f"no room {context.current_room!r}", field="context.current_room"
                )
            stay["room_type"] = room_type
        if context.check_in_date is not None:
            nights = int(stay["nights"].iloc[0]) or 1
            arrival = pd.Timestamp(context.check_in_date)
            stay["arrival"] = arrival
            stay["departure"] = arrival + pd.Timedelta(days=nights)
        if context.guest_segment is not None:
            try:
                stay["segment"] = terms.market_segment(context.guest_segment)
            except ValueError as err:
                raise InvalidInputError(str(err), field="context.guest_segment") from err
        return stay

    async def recommend_services(
        self,
        guest_ref: str,
        k: int,
        context: ServiceContext | None = None,
        booking_ref: str | None = None,
    ) -> ServiceRecommendations:
        """The ``k`` services the guest is likeliest to order on the stay at hand: the given
        booking, else the guest's booking arriving on ``context.check_in_date``, else the next
        upcoming stay, else the last one; ``context`` then overrides its room, arrival and
        segment."""
        model, record = await self._model("recommender")
        assert isinstance(model, Recommender)  # noqa: S101 - our own artefact
        history, mine = await self._guest_history(guest_ref)
        if booking_ref is not None:
            match = history.bookings[history.bookings["booking_ref"] == booking_ref]
            if match.empty:
                raise NotFoundError(
                    f"no booking with booking_id {booking_ref!r}", field="booking_id"
                )
            if not (mine.bookings["booking_ref"] == booking_ref).any():
                raise InvalidInputError(
                    f"booking {booking_ref} belongs to another guest", field="booking_id"
                )
        elif context is not None and context.check_in_date is not None:
            arriving = mine.bookings[
                mine.stayed() & (mine.bookings["arrival"] == pd.Timestamp(context.check_in_date))
            ]
            if not arriving.empty:
                booking_ref = str(arriving["booking_ref"].iloc[0])
        stays = stays_frame(mine)
        stay, exclude = context_stay(stays, mine, booking_ref, self._today())
        stay = await self._apply_context(stay, context)
        suggestions = await asyncio.to_thread(model.recommend_services, stay, k, exclude)
        items = []
        for sug in suggestions:
            spec = SERVICE_BY_NAME.get(sug.item)
            price = round(service_price(history, sug.item), 2)
            items.append(
                ServiceSuggestion(
                    service_id=spec.service_id if spec else f"SVC_{sug.item.upper()}_001",
                    service_name=spec.title if spec else sug.item,
                    score=round(sug.score, 4),
                    reason=sug.reason,
                    estimated_revenue=round(sug.score * price, 2),
                    service=sug.item,
                    price=price,
                )
            )
        ref = booking_ref
        if ref is None and int(stay["booking_id"].iloc[0]) > 0:
            found = mine.bookings[mine.bookings["booking_id"] == int(stay["booking_id"].iloc[0])]
            ref = str(found["booking_ref"].iloc[0]) if not found.empty else None
        row = stay.iloc[0]
        result = ServiceRecommendations(
            guest_id=guest_ref,
            booking_id=ref,
            recommendations=items,
            context={
                "room_type": str(row["room_type"]) or None,
                "check_in_date": pd.Timestamp(row["arrival"]).date().isoformat(),
                "nights": int(row["nights"]),
                "market_segment": str(row["segment"]),
                "current_room": context.current_room if context else None,
            },
            model_version=record.version,
        )
        await self._log(
            [
                {
                    "model_name": "recommender",
                    "model_version": record.version,
                    "target": "services",
                    "subject_type": "guest",
                    "subject_id": guest_ref,
                    "prediction": result.model_dump(mode="json"),
                    "score": items[0].score if items else None,
                }
            ]
        )
        return result

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
    ) -> RoomRecommendations:
        """Room types free on every night for the party, ranked: those matching the view
        first, then by fit to the budget, then by how likely the guest is to choose them."""
        if check_out <= check_in:
            raise InvalidInputError(
                f"check_out ({check_out}) must be after check_in ({check_in})", field="check_out"
            )
        self._check_range(
            check_in,
            check_out - timedelta(days=1),
            first_field="check_in",
            last_field="check_out",
        )
        prefs = preferences or RoomPreferences()
        model, record = await self._model("recommender")
        assert isinstance(model, Recommender)  # noqa: S101 - our own artefact
        if guest_ref is not None:
            history, mine = await self._guest_history(guest_ref)
        else:
            history = await self.history()
            mine = History(
                history.bookings.iloc[:0], history.rooms, history.services.iloc[:0], history.as_of
            )
        stay = room_context(mine, history.room_types, check_in, check_out, adults, children)
        scores = model.room_scores(stay)
        nights = date_range(check_in, check_out - timedelta(days=1))
        available = availability(history, nights)
        largest = history.rooms.groupby("room_type")["capacity"].max()
        async with self._sessions() as session:
            published = {
                rt: await repo.latest_prices(session, rt, nights[0], nights[-1])
                for rt in history.room_types
            }
            views = await repo.view_counts(session, prefs.view) if prefs.view else {}
        index = pd.DatetimeIndex([pd.Timestamp(n) for n in nights])
        prices: dict[str, list[float]] = {}
        for rt in history.room_types:
            ref = reference_prices(history, rt, index, self.config.pricing.share_days)
            prices[rt] = [published[rt].get(n, float(r)) for n, r in zip(nights, ref, strict=True)]
        tiers = price_tiers({rt: float(np.mean(p)) for rt, p in prices.items()})
        items = []
        for rt in history.room_types:
            if available.get(rt, 0) <= 0 or int(largest.get(rt, 0)) < adults + children:
                continue
            per_night = float(np.mean(prices[rt]))
            fit = budget_fit(prefs.budget, tiers[rt], per_night)
            view_rooms = views.get(rt, 0) if prefs.view else None
            items.append(
                (
                    (view_rooms is None or view_rooms > 0, fit, float(scores.get(rt, 0.0))),
                    RoomSuggestion(
                        room_type=rt,
                        score=round(float(scores.get(rt, 0.0)), 4),
                        available_rooms=int(available[rt]),
                        max_occupancy=int(largest.get(rt, 0)),
                        price_per_night=round(per_night, 2),
                        total_price=round(float(np.sum(prices[rt])), 2),
                        price_tier=tiers[rt],
                        view_rooms=view_rooms,
                        matches_preferences=(view_rooms is None or view_rooms > 0) and fit == 1.0,
                        reason=model.room_reason(stay, rt),
                    ),
                )
            )
        items.sort(key=lambda pair: pair[0], reverse=True)
        ranked = [item for _, item in items][:k]
        note = None if ranked else "no room type is free on all these nights for this party"
        result = RoomRecommendations(
            guest_id=guest_ref,
            check_in=check_in,
            check_out=check_out,
            recommendations=ranked,
            preferences={"budget": prefs.budget, "view": prefs.view},
            note=note,
            model_version=record.version,
        )
        await self._log(
            [
                {
                    "model_name": "recommender",
                    "model_version": record.version,
                    "target": "rooms",
                    "subject_type": "guest" if guest_ref is not None else None,
                    "subject_id": guest_ref,
                    "horizon_date": check_in,
                    "prediction": result.model_dump(mode="json"),
                    "score": ranked[0].score if ranked else None,
                }
            ]
        )
        return result

    # -- training ----------------------------------------------------------------------------

    async def retrain(self, name: str) -> RetrainResult:
        """Retrain ``name``: ``all``, a seed model name (``pricing_model``, ``churn_model``,
        ...; see :data:`training.SEED_MODEL_NAMES`) or a hub model name."""
        names = list(training.models_for(name))
        outcomes = []
        async with self._train_lock:
            history = await self.history()
            for model_name in names:
                try:
                    outcomes.append(await self._retrain_one(model_name, history))
                except InsufficientHistoryError as err:
                    if len(names) == 1:
                        raise
                    outcomes.append(
                        RetrainOutcome(name=model_name, status="skipped", reason=err.reason)
                    )
        return RetrainResult(model_name=name, models=names, outcomes=outcomes)

    async def _retrain_one(self, name: str, history: History) -> RetrainOutcome:
        started = time.perf_counter()
        async with self._sessions() as session:
            current = await repo.promoted(session, name)
        candidate = await asyncio.to_thread(training.train_candidate, name, history, self.config)
        champion_score, rescored = await self._champion_score(current, candidate, history)
        decision = training.decide(candidate, champion_score, rescored)
        data, sha = self._store.dump(candidate.artefact)
        now = datetime.now(UTC)
        version = f"{now:%Y%m%dT%H%M%S%f}-{sha[:8]}"
        path = await asyncio.to_thread(self._store.save, name, version, data)
        metrics = {k: float(v) for k, v in candidate.metrics.items()}
        if champion_score is not None:
            metrics[f"current_{candidate.objective.metric}"] = float(champion_score)
        record = MLModelRecord(
            name=name,
            version=version,
            path=path,
            sha256=sha,
            metrics=metrics,
            params=self.config.model_dump(mode="json"),
            train_start=candidate.window.train_start,
            train_end=candidate.window.train_end,
            eval_start=candidate.window.eval_start,
            eval_end=candidate.window.eval_end,
            promoted=decision.promote,
            promoted_at=now if decision.promote else None,
            decision=decision.reason,
        )
        async with self._sessions() as session:
            await repo.add_record(session, record)
        if decision.promote:
            self._cache.models = {k: v for k, v in self._cache.models.items() if k[0] != name}
            self._cache.models[(name, version)] = candidate.artefact
        seconds = time.perf_counter() - started
        logger.info("retrained %s in %.1f s: %s", name, seconds, decision.reason)
        return RetrainOutcome(
            name=name,
            status="promoted" if decision.promote else "kept_current",
            version=version,
            reason=decision.reason,
            metrics=metrics,
            window=candidate.window.as_dict(),
            previous_version=current.version if current else None,
            seconds=round(seconds, 2),
        )

    async def _champion_score(
        self, current: MLModelRecord | None, candidate: training.Trained, history: History
    ) -> tuple[float | None, bool]:
        if current is None:
            return None, False
        metric = candidate.objective.metric
        stored = current.metrics.get(metric)
        if current.train_end < candidate.window.eval_start:
            try:
                artefact = await asyncio.to_thread(self._store.load, current.path, current.sha256)
                scores = await asyncio.to_thread(
                    training.rescore, current.name, artefact, history, self.config
                )
                if metric in scores:
                    return float(scores[metric]), True
            except Exception as err:  # noqa: BLE001 - a broken champion is replaced, not fatal
                logger.warning("could not rescore the current %s model: %s", current.name, err)
                return None, False
        return (float(stored), False) if stored is not None else (None, False)

    # -- status ------------------------------------------------------------------------------

    async def model_statuses(self) -> list[ModelStatus]:
        async with self._sessions() as session:
            promoted = await repo.all_promoted(session)
        out = []
        for name in training.MODEL_NAMES:
            record = promoted.get(name)
            metric = training.objective_of(name, self.config).metric
            if record is None:
                out.append(ModelStatus(name=name, trained=False, metric=metric))
                continue
            out.append(
                ModelStatus(
                    name=name,
                    trained=True,
                    version=record.version,
                    promoted_at=record.promoted_at,
                    metric=metric,
                    score=record.metrics.get(metric),
                    window={
                        "train_start": record.train_start.isoformat(),
                        "train_end": record.train_end.isoformat(),
                        "eval_start": record.eval_start.isoformat(),
                        "eval_end": record.eval_end.isoformat(),
                    },
                )
            )
        return out

    async def health(self) -> MLHealth:
        started = time.perf_counter()
        async with self._sessions() as session:
            bookings = await repo.count_rows(session, Booking)
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        statuses = await self.model_statuses()
        history = await self.history() if bookings else None
        missing = [s.name for s in statuses if not s.trained]
        reason = None
        if not bookings:
            reason = "no bookings: import them or run `innsight ml generate`"
        elif missing:
            reason = f"not trained: {', '.join(missing)} ({TRAIN_HINT.format(name='all')})"
        return MLHealth(
            status="healthy" if reason is None else "degraded",
            timestamp=datetime.now(UTC),
            checks={
                "database": {"status": "ok", "latency_ms": latency_ms},
                "bookings": {"status": "ok" if bookings else "error", "count": bookings},
                "models": {s.name: "loaded" if s.trained else "not_trained" for s in statuses},
            },
            reason=reason,
            models=statuses,
            bookings=bookings,
            first_night=history.first_night.date() if history is not None else None,
            as_of=self._today(),
        )

    async def predictions_logged(self) -> int:
        async with self._sessions() as session:
            return await repo.count_rows(session, MLPrediction)

    async def price_curve(self, room_type: str, night: date) -> PriceCurve:
        """Expected extra revenue against price for one night (for plots)."""
        history = await self.history()
        self._check_room_type(history, room_type)
        self._check_range(night, night)
        rules = self._rules(history, room_type, None)
        occupancy, _ = await self._model("occupancy")
        demand, _ = await self._model("pricing")
        async with self._sessions() as session:
            published = await repo.latest_prices(session, room_type, night, night)

        def compute() -> PriceCurve:
            day = pd.Timestamp(night)
            forecast = predict_forecast(occupancy, history, day, day)
            inputs = price_inputs(history, room_type, forecast, demand, self.config.pricing)
            previous = published.get(night, float(inputs.reference[0]))
            inputs = replace(inputs, previous=np.array([previous]))
            plan = optimise(inputs, rules, self.config.pricing.grid_points)
            prices = np.linspace(rules.floor, rules.ceiling, 200)
            revenue = revenue_curve(inputs, prices)[0]
            lo, hi, _ = allowed_range(previous, rules)
            return PriceCurve(
                room_type=room_type,
                night=pd.Timestamp(night),
                prices=prices,
                revenue=revenue,
                rooms=revenue / prices,
                chosen=float(plan.price[0]),
                reference=float(inputs.reference[0]),
                floor=rules.floor,
                ceiling=rules.ceiling,
                allowed=(lo, hi),
                currency=history.currency,
            )

        return await asyncio.to_thread(compute)

    async def forecast_series(self, target: str, start: date, end: date) -> tuple[Forecast, str]:
        forecast, record, _ = await self._forecast(target, start, end)
        return forecast, record.version
