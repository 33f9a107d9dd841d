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
from typing import Any, Final

import numpy as np
import pandas as pd

from hub.db import SessionFactory
from hub.ml import clv as clv_mod
from hub.ml import repository as repo
from hub.ml import training
from hub.ml.api import RulesInput
from hub.ml.cancellation import CancellationModel, booking_frame
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
    CancellationResult,
    ClvResult,
    CurrentPrice,
    EndpointStats,
    FactorOut,
    ForecastPoint,
    ForecastResult,
    GuestHistoryOut,
    MLHealth,
    MLMetrics,
    ModelStatus,
    PricePoint,
    PriceRulesOut,
    PricingResult,
    RetrainOutcome,
    RetrainResult,
    RoomRecommendations,
    RoomSuggestion,
    ServiceRecommendations,
    ServiceSuggestion,
)
from hub.tables import Booking, MLModelRecord, MLPrediction

logger = logging.getLogger(__name__)

TRAIN_HINT: Final = "run `innsight ml train` or POST /api/v1/ml/retrain/{name}"


def utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass
class _Stats:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0


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
        self._stats: dict[str, _Stats] = {}
        self._logged = 0

    # -- infrastructure ----------------------------------------------------------------------

    def today(self) -> date:
        return self._today()

    def observe(self, endpoint: str, ok: bool, seconds: float) -> None:
        stats = self._stats.setdefault(endpoint, _Stats())
        stats.requests += 1
        stats.errors += 0 if ok else 1
        stats.seconds += seconds

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
        self._logged += len(rows)

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
        self, target: str, start: date, end: date
    ) -> tuple[Forecast, MLModelRecord, History]:
        self._check_range(start, end)
        model, record = await self._model(target)
        history = await self.history()
        if history.bookings.empty:
            raise ModelNotTrainedError("the booking history is empty: nothing to forecast from")
        forecast = await asyncio.to_thread(
            predict_forecast, model, history, pd.Timestamp(start), pd.Timestamp(end)
        )
        return forecast, record, history

    async def forecast(self, target: str, start: date, end: date) -> ForecastResult:
        forecast, record, history = await self._forecast(target, start, end)
        unit = history.currency if UNITS[target] == "currency" else UNITS[target]
        items = [
            ForecastPoint(
                date=d.date(),
                value=round(float(p), 4),
                lower=round(float(lo), 4),
                upper=round(float(hi), 4),
                on_the_books=round(float(o), 4),
                rooms=round(float(p) * forecast.capacity, 1) if target == "occupancy" else None,
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
        result = ForecastResult(
            target=target,
            unit=unit,
            origin=history.as_of - timedelta(days=1),
            capacity=forecast.capacity,
            model_version=record.version,
            items=items,
        )
        await self._log(
            [
                {
                    "model_name": target,
                    "model_version": record.version,
                    "target": target,
                    "subject_type": "hotel",
                    "horizon_date": item.date,
                    "prediction": item.model_dump(mode="json"),
                    "score": item.value,
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

    async def predict_cancellation(
        self,
        *,
        booking_ref: str | None = None,
        booking_id: int | None = None,
        features: dict[str, Any] | None = None,
    ) -> CancellationResult:
        model, record = await self._model("cancellation")
        assert isinstance(model, CancellationModel)  # noqa: S101 - our own artefact
        ref: str | None = None
        if features is not None:
            frame = booking_frame(features)
        else:
            history = await self.history()
            b = history.bookings
            if booking_ref is not None:
                match = np.flatnonzero((b["booking_ref"] == booking_ref).to_numpy())
                what, field_name = f"booking_ref {booking_ref!r}", "booking_ref"
            else:
                match = np.flatnonzero((b["booking_id"] == booking_id).to_numpy())
                what, field_name = f"booking_id {booking_id}", "booking_id"
            if len(match) == 0:
                raise NotFoundError(f"no booking with {what}", field=field_name)
            status = str(history.status().iloc[match[0]])
            if status != "reserved":
                raise ConflictError(
                    f"the booking is {status}: only upcoming (reserved) bookings can be scored",
                    field=field_name,
                )
            frame = to_hotel_bookings(history, resolved_only=False).iloc[match[:1]]
            ref = str(b["booking_ref"].iloc[match[0]])
        risk = (await asyncio.to_thread(model.explain, frame))[0]
        result = CancellationResult(
            booking_ref=ref,
            probability=round(risk.probability, 4),
            risk_level=risk.risk_level,
            top_factors=[
                FactorOut(
                    feature=f.feature,
                    label=f.label,
                    value=f.value,
                    contribution=round(f.contribution, 4),
                    effect=f.effect,
                )
                for f in risk.factors
            ],
            recommended_actions=list(risk.actions),
            model_version=record.version,
        )
        await self._log(
            [
                {
                    "model_name": "cancellation",
                    "model_version": record.version,
                    "target": "cancellation",
                    "subject_type": "booking",
                    "subject_id": ref,
                    "prediction": result.model_dump(mode="json"),
                    "score": result.probability,
                }
            ]
        )
        return result

    # -- guests ------------------------------------------------------------------------------

    async def _guest_history(self, guest_id: int) -> tuple[History, History]:
        async with self._sessions() as session:
            if not await repo.guest_exists(session, guest_id):
                raise NotFoundError(f"no guest with id {guest_id}", field="guest_id")
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

    async def predict_clv(self, guest_id: int) -> ClvResult:
        model, record = await self._model("clv")
        assert isinstance(model, clv_mod.ClvModel)  # noqa: S101 - our own artefact
        history, mine = await self._guest_history(guest_id)
        features = clv_mod.guest_features(mine)
        if features.empty:
            features = pd.DataFrame(
                [
                    dict.fromkeys(clv_mod.NUMERIC, 0.0)
                    | {"main_segment": "Direct", "country": "UNK"}
                ],
                index=[guest_id],
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
            guest_id=guest_id,
            horizon_days=model.horizon_days,
            clv=round(float(value[0]), 2),
            currency=history.currency,
            retention_probability=round(float(retention[0]), 4),
            segment=segment,
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
                    "subject_id": guest_id,
                    "prediction": result.model_dump(mode="json"),
                    "score": result.clv,
                }
            ]
        )
        return result

    async def recommend_services(
        self, guest_id: int, booking_ref: str | None, k: int
    ) -> ServiceRecommendations:
        model, record = await self._model("recommender")
        assert isinstance(model, Recommender)  # noqa: S101 - our own artefact
        history, mine = await self._guest_history(guest_id)
        if booking_ref is not None:
            match = history.bookings[history.bookings["booking_ref"] == booking_ref]
            if match.empty:
                raise NotFoundError(
                    f"no booking with booking_ref {booking_ref!r}", field="booking_ref"
                )
            if int(match["guest_id"].iloc[0]) != guest_id:
                raise InvalidInputError(
                    f"booking {booking_ref} belongs to another guest", field="booking_ref"
                )
        stays = stays_frame(mine)
        stay, exclude = context_stay(stays, mine, booking_ref, self._today())
        suggestions = await asyncio.to_thread(model.recommend_services, stay, k, exclude)
        items = [
            ServiceSuggestion(
                service=s.item,
                score=round(s.score, 4),
                price=round(service_price(history, s.item), 2),
                reason=s.reason,
            )
            for s in suggestions
        ]
        ref = booking_ref
        if ref is None and "booking_id" in stay and int(stay["booking_id"].iloc[0]) > 0:
            found = mine.bookings[mine.bookings["booking_id"] == int(stay["booking_id"].iloc[0])]
            ref = str(found["booking_ref"].iloc[0]) if not found.empty else None
        result = ServiceRecommendations(
            guest_id=guest_id, booking_ref=ref, items=items, model_version=record.version
        )
        await self._log(
            [
                {
                    "model_name": "recommender",
                    "model_version": record.version,
                    "target": "services",
                    "subject_type": "guest",
                    "subject_id": guest_id,
                    "prediction": result.model_dump(mode="json"),
                    "score": items[0].score if items else None,
                }
            ]
        )
        return result

    async def recommend_rooms(
        self,
        guest_id: int | None,
        check_in: date,
        check_out: date,
        adults: int,
        children: int,
        k: int,
    ) -> RoomRecommendations:
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
        model, record = await self._model("recommender")
        assert isinstance(model, Recommender)  # noqa: S101 - our own artefact
        if guest_id is not None:
            history, mine = await self._guest_history(guest_id)
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
        items = []
        for rt in sorted(scores, key=lambda r: -scores[r]):
            if (
                rt not in available
                or available[rt] <= 0
                or int(largest.get(rt, 0)) < adults + children
            ):
                continue
            index = pd.DatetimeIndex([pd.Timestamp(n) for n in nights])
            ref = reference_prices(history, rt, index, self.config.pricing.share_days)
            prices = [published[rt].get(n, float(r)) for n, r in zip(nights, ref, strict=True)]
            items.append(
                RoomSuggestion(
                    room_type=rt,
                    score=round(float(scores[rt]), 4),
                    available_rooms=int(available[rt]),
                    max_occupancy=int(largest.get(rt, 0)),
                    price_per_night=round(float(np.mean(prices)), 2),
                    total_price=round(float(np.sum(prices)), 2),
                    reason=model.room_reason(stay, rt),
                )
            )
        note = None if items else "no room type is free on all these nights for this party"
        result = RoomRecommendations(
            guest_id=guest_id,
            check_in=check_in,
            check_out=check_out,
            items=items[:k],
            note=note,
            model_version=record.version,
        )
        await self._log(
            [
                {
                    "model_name": "recommender",
                    "model_version": record.version,
                    "target": "rooms",
                    "subject_type": "guest" if guest_id is not None else None,
                    "subject_id": guest_id,
                    "horizon_date": check_in,
                    "prediction": result.model_dump(mode="json"),
                    "score": result.items[0].score if result.items else None,
                }
            ]
        )
        return result

    # -- training ----------------------------------------------------------------------------

    async def retrain(self, name: str) -> RetrainResult:
        names = list(training.MODEL_NAMES) if name == training.ALL else [training.check_name(name)]
        outcomes = []
        async with self._train_lock:
            history = await self.history()
            for model_name in names:
                try:
                    outcomes.append(await self._retrain_one(model_name, history))
                except InsufficientHistoryError as err:
                    if name != training.ALL:
                        raise
                    outcomes.append(
                        RetrainOutcome(name=model_name, status="skipped", reason=err.reason)
                    )
        return RetrainResult(outcomes=outcomes)

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

    async def _statuses(self) -> list[ModelStatus]:
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
        statuses = await self._statuses()
        async with self._sessions() as session:
            bookings = await repo.count_rows(session, Booking)
        history = await self.history() if bookings else None
        missing = [s.name for s in statuses if not s.trained]
        reason = None
        if not bookings:
            reason = "no bookings: import them or run `innsight ml generate`"
        elif missing:
            reason = f"not trained: {', '.join(missing)} ({TRAIN_HINT.format(name='all')})"
        return MLHealth(
            status="ok" if reason is None else "degraded",
            reason=reason,
            models=statuses,
            bookings=bookings,
            first_night=history.first_night.date() if history is not None else None,
            as_of=self._today(),
        )

    async def metrics(self) -> MLMetrics:
        async with self._sessions() as session:
            logged = await repo.count_rows(session, MLPrediction)
        return MLMetrics(
            endpoints={
                name: EndpointStats(
                    requests=s.requests,
                    errors=s.errors,
                    mean_seconds=round(s.seconds / s.requests, 4) if s.requests else 0.0,
                )
                for name, s in sorted(self._stats.items())
            },
            predictions_logged=logged,
            models=await self._statuses(),
        )

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
