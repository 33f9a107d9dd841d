"""/console/api/forecasts: published prices with their reasons, and a manager's approve /
override (issue 18 item 7; logic in hub/ml/price_decisions.py).

- ``GET /prices`` (``ml:read``): the published price of each night and room type in a range,
  with where it came from (``pricing`` run or a ``manual`` decision) and the reasons.
- ``POST /decisions`` (``ml:write``): approve the recommendation or override it; published
  as the night's price and audited (``pricing.approve`` / ``pricing.override``).

Recommendations are made by ``POST /api/v1/ml/pricing/optimize``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Security
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.api.auth import Principal, authorize, scoped
from hub.api.deps import Runtime, Session
from hub.api.errors import field_error
from hub.api.params import StorableText
from hub.auth.scopes import Scope
from hub.ml.price_decisions import Decision, PriceDecisionError, decide, latest_rows, reasons

router = APIRouter(prefix="/console/api/forecasts", tags=["console"])

Day = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2199, 12, 31))]
RoomTypeCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
MlWriter = Annotated[Principal, Security(authorize, scopes=[Scope.ML_WRITE])]
MAX_DAYS = 92


def hotel_today(timezone: str) -> date:
    return datetime.now(ZoneInfo(timezone)).date()


class ReasonOut(BaseModel):
    code: str = Field(
        description="demand_high | demand_low | demand_normal (value: expected occupancy) | "
        "price_up | price_down (value: change) | limited_by (value: the rule) | confidence"
    )
    value: float | str


class PriceOut(BaseModel):
    room_type: str
    date: date
    price: float
    source: str = Field(description="pricing (a pricing run) | manual (a decision)")
    decision: str | None = Field(description="approve | override for a manual price")
    recommended_price: float | None
    previous_price: float | None
    expected_occupancy: float | None
    confidence_level: str | None
    decided_by: str | None
    reasons: list[ReasonOut]


class PricesOut(BaseModel):
    items: list[PriceOut]
    start: date
    end: date


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@router.get("/prices", response_model=PricesOut, dependencies=[scoped(Scope.ML_READ)])
async def published_prices(
    runtime: Runtime,
    session: Session,
    start: Annotated[date | None, Query(description="default: today")] = None,
    end: Annotated[date | None, Query(description="default: start + 13 days")] = None,
    room_type: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
) -> PricesOut:
    """The published price of each night and room type, newest decision winning."""
    first = start or hotel_today(runtime.settings.timezone)
    last = end or first + timedelta(days=13)
    if last < first:
        raise HTTPException(422, detail=field_error("end", "end is before start"))
    if (last - first).days >= MAX_DAYS:
        raise HTTPException(422, detail=field_error("end", f"at most {MAX_DAYS} nights"))
    rows = await latest_rows(session, first, last, room_type)
    items = []
    for row in rows:
        p = row.prediction
        manual = row.source == "manual"
        items.append(
            PriceOut(
                room_type=row.room_type,
                date=row.night,
                price=row.price,
                source=row.source,
                decision=_str(p.get("decision")) if manual else None,
                recommended_price=_num(p.get("recommended_price")) if manual else row.price,
                previous_price=_num(p.get("previous_price")),
                expected_occupancy=_num(p.get("expected_occupancy")),
                confidence_level=_str(p.get("confidence_level")),
                decided_by=_str(p.get("decided_by")) if manual else None,
                reasons=[ReasonOut(code=r.code, value=r.value) for r in reasons(p)],
            )
        )
    return PricesOut(items=items, start=first, end=last)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    room_type: RoomTypeCode
    date: Day
    decision: Decision
    price: Annotated[float, Field(gt=0, le=1_000_000_000)] | None = Field(
        default=None, description="needed for override; omit for approve"
    )
    recommended_price: Annotated[float, Field(gt=0, le=1_000_000_000)] | None = Field(
        default=None, description="the recommendation as shown: 409 when it changed meanwhile"
    )
    note: Annotated[str, Field(min_length=1, max_length=500), StorableText] | None = None

    @model_validator(mode="after")
    def _override_has_price(self) -> DecisionIn:
        if self.decision == "override" and self.price is None:
            raise ValueError("an override needs a price")
        return self


class DecisionOut(BaseModel):
    room_type: str
    date: date
    decision: str
    price: float
    recommended_price: float | None
    decided_by: str
    audit_id: int


@router.post("/decisions", response_model=DecisionOut, status_code=201)
async def price_decision(
    runtime: Runtime, session: Session, principal: MlWriter, body: DecisionIn
) -> DecisionOut:
    """Approve the night's recommended price, or override it: either becomes the published
    price of that night and room type; audited."""
    try:
        row, audit = await decide(
            session,
            room_type=body.room_type,
            night=body.date,
            decision=body.decision,
            price=body.price,
            recommended_price=body.recommended_price,
            note=body.note,
            actor=principal.actor,
            today=hotel_today(runtime.settings.timezone),
        )
    except PriceDecisionError as err:
        raise HTTPException(err.status, detail=field_error(err.field, err.reason)) from err
    await session.commit()
    p = row.prediction
    return DecisionOut(
        room_type=body.room_type,
        date=body.date,
        decision=body.decision,
        price=float(row.score or 0.0),
        recommended_price=_num(p.get("recommended_price")),
        decided_by=principal.actor,
        audit_id=int(audit.id or 0),
    )
