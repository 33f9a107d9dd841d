"""Service and room recommendations (the ML service's part)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from hub.ml import repository as repo
from hub.ml import terms
from hub.ml.api import RoomPreferences, ServiceContext
from hub.ml.catalog import SERVICE_BY_NAME
from hub.ml.errors import (
    InvalidInputError,
    NotFoundError,
)
from hub.ml.history import History, date_range
from hub.ml.pricing import (
    reference_prices,
)
from hub.ml.recommend import (
    Recommender,
    availability,
    context_stay,
    room_context,
    service_price,
    stays_frame,
)
from hub.ml.results import (
    RoomRecommendations,
    RoomSuggestion,
    ServiceRecommendations,
    ServiceSuggestion,
)
from hub.ml.service_core import ServiceCore


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


class RecommendOps(ServiceCore):
    """The services a guest is likely to order and the room types to offer them."""

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
