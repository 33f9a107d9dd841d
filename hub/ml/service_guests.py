"""Cancellation risk of a booking and lifetime value of a guest (the ML service's part)."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd

from hub.ml import clv as clv_mod
from hub.ml import repository as repo
from hub.ml import terms
from hub.ml.api import ChurnFeatures
from hub.ml.cancellation import CancellationModel, action_code
from hub.ml.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from hub.ml.history import to_hotel_bookings
from hub.ml.results import (
    ChurnResult,
    ClvResult,
    GuestHistoryOut,
    RiskFactor,
)
from hub.ml.service_core import ServiceCore


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


class GuestOps(ServiceCore):
    """A booking's cancellation risk and a guest's lifetime value."""

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
