"""A manager's decision on a recommended price (issue 18 item 7): approve it as published, or
override it with their own; either is written as the night's published price (the last
``ml_predictions`` price row of the night and room type: hub/ml/repository.py
``latest_prices``) and audited by the caller.

The reasons shown beside a recommendation are derived from the pricing run's own figures
(expected occupancy, change against the published price, the rule that limited it, the
confidence), as codes with values that the console words in the staff's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.ml import repository as repo
from hub.tables import AuditLog, MLPrediction, RoomType

MANUAL_MODEL = "manual"
Decision = Literal["approve", "override"]
HIGH_DEMAND = 0.85
LOW_DEMAND = 0.5


class PriceDecisionError(ValueError):
    def __init__(self, field: str, reason: str, *, status: int = 422) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class Reason:
    code: str  # demand_high | demand_low | demand_normal | price_up | price_down | limited_by
    value: float | str


def reasons(prediction: dict[str, Any]) -> list[Reason]:
    """Why the price is what it is, from a pricing run's row (empty for a manual one)."""
    out: list[Reason] = []
    occupancy = prediction.get("expected_occupancy")
    if isinstance(occupancy, int | float):
        if occupancy >= HIGH_DEMAND:
            out.append(Reason("demand_high", round(float(occupancy), 4)))
        elif occupancy < LOW_DEMAND:
            out.append(Reason("demand_low", round(float(occupancy), 4)))
        else:
            out.append(Reason("demand_normal", round(float(occupancy), 4)))
    change = prediction.get("change")
    if isinstance(change, int | float) and abs(change) >= 0.005:
        out.append(Reason("price_up" if change > 0 else "price_down", round(float(change), 4)))
    limited = prediction.get("limited_by")
    if isinstance(limited, str) and limited != "none":
        out.append(Reason("limited_by", limited))
    confidence = prediction.get("confidence_level")
    if isinstance(confidence, str):
        out.append(Reason("confidence", confidence))
    return out


@dataclass(frozen=True, slots=True)
class PriceRow:
    room_type: str
    night: date
    price: float
    source: str  # pricing | manual
    prediction: dict[str, Any]
    created_at: Any


async def latest_rows(
    session: AsyncSession, start: date, end: date, room_type: str | None = None
) -> list[PriceRow]:
    """The published price of each night and room type in ``start..end``."""
    query = select(MLPrediction).where(
        MLPrediction.target == "price",
        MLPrediction.subject_type == "room_type",
        col(MLPrediction.horizon_date) >= start,
        col(MLPrediction.horizon_date) <= end,
    )
    if room_type is not None:
        query = query.where(MLPrediction.subject_id == room_type)
    latest: dict[tuple[str, date], MLPrediction] = {}
    for row in (await session.exec(query.order_by(col(MLPrediction.id)))).all():
        if row.subject_id is not None and row.horizon_date is not None and row.score is not None:
            latest[(row.subject_id, row.horizon_date)] = row
    return [
        PriceRow(
            room_type=rt,
            night=night,
            price=round(float(row.score or 0.0), 2),
            source=MANUAL_MODEL if row.model_name == MANUAL_MODEL else "pricing",
            prediction=dict(row.prediction),
            created_at=row.created_at,
        )
        for (rt, night), row in sorted(latest.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]


def _check_band(room_type: RoomType | None, price: float) -> None:
    if room_type is None:
        return
    value = Decimal(str(price))
    if room_type.price_floor is not None and value < room_type.price_floor:
        raise PriceDecisionError(
            "price", f"{price} is below the room type's floor {room_type.price_floor}"
        )
    if room_type.price_ceiling is not None and value > room_type.price_ceiling:
        raise PriceDecisionError(
            "price", f"{price} is above the room type's ceiling {room_type.price_ceiling}"
        )


async def decide(
    session: AsyncSession,
    *,
    room_type: str,
    night: date,
    decision: Decision,
    price: float | None,
    recommended_price: float | None,
    note: str | None,
    actor: str,
    today: date,
) -> tuple[MLPrediction, AuditLog]:
    """Approve the published recommendation or override it; both are published and audited
    (added to ``session``; the caller commits)."""
    if night < today:
        raise PriceDecisionError("date", f"{night} is in the past (today is {today})")
    current = await repo.latest_price_row(session, room_type, night)
    known = (await session.exec(select(RoomType).where(RoomType.code == room_type))).first()
    if current is None and known is None:
        raise PriceDecisionError("room_type", f"unknown room type {room_type!r}", status=404)
    published = round(float(current.score), 2) if current and current.score is not None else None
    if decision == "approve":
        if published is None:
            raise PriceDecisionError(
                "date", "no recommended price for that night yet: run pricing first", status=409
            )
        if price is not None and abs(price - published) > 0.005:
            raise PriceDecisionError("price", "approve takes the recommended price: omit it")
        chosen = published
    else:
        if price is None:
            raise PriceDecisionError("price", "an override needs a price")
        chosen = round(price, 2)
    stale = recommended_price is not None and published is not None
    if stale and abs((recommended_price or 0.0) - (published or 0.0)) > 0.005:
        raise PriceDecisionError(
            "recommended_price",
            f"the recommendation changed to {published} meanwhile: reload",
            status=409,
        )
    _check_band(known, chosen)
    base = dict(current.prediction) if current is not None else {}
    row = MLPrediction(
        model_name=MANUAL_MODEL,
        model_version=decision,
        target="price",
        subject_type="room_type",
        subject_id=room_type,
        horizon_date=night,
        prediction={
            "decision": decision,
            "price": chosen,
            "recommended_price": published,
            "recommended_by": current.model_name if current is not None else None,
            "note": note,
            "decided_by": actor,
            "expected_occupancy": base.get("expected_occupancy"),
            "confidence": base.get("confidence"),
            "occupancy_model": base.get("occupancy_model"),
        },
        score=chosen,
    )
    audit = AuditLog(
        actor=actor,
        action=f"pricing.{decision}",
        target=f"room_type:{room_type}:{night.isoformat()}",
        detail={"price": chosen, "recommended_price": published},
    )
    session.add(row)
    session.add(audit)
    return row, audit
