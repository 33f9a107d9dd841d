"""Price optimisation, the current price and the revenue curve (the ML service's part)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd

from hub.ml import repository as repo
from hub.ml.api import RulesInput
from hub.ml.errors import (
    InvalidInputError,
)
from hub.ml.forecasting import predict_forecast
from hub.ml.history import History
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
from hub.ml.results import (
    CurrentPrice,
    PricePoint,
    PriceRulesOut,
    PricingResult,
    PricingSchedule,
    ScheduledPrice,
)
from hub.ml.service_core import ServiceCore


class PricingOps(ServiceCore):
    """Price plans within the pricing rules, the current price, and the revenue curve."""

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
