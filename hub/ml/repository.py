"""The hub database side of the ML layer: booking history in and out, prediction log, model
records. Adapter only: no modelling here.

Bookings without a ``booking_attributes`` row (made by another system) get the dataset's
defaults, with segment and channel read from ``bookings.channel``; their cancellation day is
their last update when they are cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from sqlalchemy import Float, cast, func, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from hub.ml.schema import NULL_ID
from hub.tables import (
    Booking,
    BookingAttributes,
    Guest,
    MLModelRecord,
    MLPrediction,
    Room,
    ServiceOrder,
)

if TYPE_CHECKING:  # pandas loads with the ML work, not with the hub (test_lazy_imports.py)
    import pandas as pd

    from hub.ml.history import History
    from hub.ml.synthetic import SyntheticHistory

logger = logging.getLogger(__name__)

CHUNK: Final = 2000

_SEGMENT_OF_CHANNEL: Final[dict[str, tuple[str, str]]] = {
    "direct": ("Direct", "Direct"),
    "ota": ("Online TA", "TA/TO"),
    "tour_operator": ("Offline TA/TO", "TA/TO"),
    "corporate": ("Corporate", "Corporate"),
    "gds": ("Corporate", "GDS"),
    "group": ("Groups", "TA/TO"),
}
_CHANNEL_OF: Final[dict[str, str]] = {
    "Direct": "direct",
    "TA/TO": "ota",
    "Corporate": "corporate",
    "GDS": "gds",
}


class DatabaseNotEmptyError(RuntimeError):
    """``ml generate`` writes only into a database without bookings and rooms."""


# ---------------------------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------------------------


async def fingerprint(session: AsyncSession) -> tuple[Any, ...]:
    """Changes whenever bookings, their attributes, rooms or service orders change."""
    statements: list[Select[*tuple[Any, ...]]] = [
        Select(func.count(), func.max(col(Booking.updated_at)), func.max(col(Booking.id))),
        Select(func.count(), func.max(col(Room.updated_at)), func.max(col(Room.id))),
        Select(func.count(), func.max(col(BookingAttributes.booking_id))),
        Select(func.count(), func.max(col(ServiceOrder.id))),
    ]
    parts: list[Any] = []
    for stmt in statements:
        parts.extend((await session.exec(stmt)).one())
    return tuple(parts)


async def load_history(session: AsyncSession, as_of: date, currency: str = "USD") -> History:
    """Every booking, room and service order, as a :class:`History` known on ``as_of``."""
    import pandas as pd

    from hub.ml.history import SERVICE_COLUMNS, History, empty_services

    a = BookingAttributes
    columns: list[Any] = [
        col(c)
        for c in (
            Booking.id,
            Booking.booking_ref,
            Booking.guest_id,
            Booking.check_in_date,
            Booking.check_out_date,
            Booking.status,
            Booking.adults,
            Booking.children,
            Booking.rate_per_night,
            Booking.channel,
            Booking.created_at,
            Booking.updated_at,
            Room.room_type,
            a.hotel,
            a.market_segment,
            a.distribution_channel,
            a.deposit_type,
            a.customer_type,
            a.meal,
            a.country,
            a.agent,
            a.company,
            a.babies,
            a.is_repeated_guest,
            a.previous_cancellations,
            a.previous_bookings_not_canceled,
            a.booking_changes,
            a.days_in_waiting_list,
            a.required_car_parking_spaces,
            a.total_of_special_requests,
            a.reserved_room_type,
            a.assigned_room_type,
            a.cancelled_at,
            Booking.room_type,
            Booking.segment,
        )
    ]
    columns[8] = cast(columns[8], Float)  # as a float: SQLite has no decimal type
    stmt: Select[*tuple[Any, ...]] = (
        Select(*columns)
        .select_from(Booking)
        .outerjoin(a, col(a.booking_id) == col(Booking.id))
        .outerjoin(Room, col(Room.id) == col(Booking.room_id))
    )
    rows = (await session.exec(stmt)).all()
    names = [
        "booking_id", "booking_ref", "guest_id", "arrival", "departure", "status", "adults",
        "children", "adr", "channel", "created_at", "updated_at", "room_of_booking", "hotel",
        "market_segment", "distribution_channel", "deposit_type", "customer_type", "meal",
        "country", "agent", "company", "babies", "is_repeated_guest", "previous_cancellations",
        "previous_bookings_not_canceled", "booking_changes", "days_in_waiting_list",
        "required_car_parking_spaces", "total_of_special_requests", "reserved_room_type",
        "assigned_room_type", "cancelled_at", "booked_room_type", "segment",
    ]  # fmt: skip
    raw = pd.DataFrame([tuple(r) for r in rows], columns=names)
    bookings = _bookings_frame(raw)

    room_rows: Sequence[Any] = (
        await session.exec(
            Select(
                col(Room.room_number),
                col(Room.room_type),
                col(Room.capacity),
                cast(col(Room.base_rate), Float),
            )
        )
    ).all()
    rooms = pd.DataFrame(
        [tuple(r) for r in room_rows], columns=["room_number", "room_type", "capacity", "base_rate"]
    )
    service_rows: Sequence[Any] = (
        await session.exec(
            Select(
                col(ServiceOrder.booking_id),
                col(ServiceOrder.guest_id),
                col(ServiceOrder.service),
                col(ServiceOrder.quantity),
                cast(col(ServiceOrder.amount), Float),
                col(ServiceOrder.ordered_at),
            )
        )
    ).all()
    services = empty_services()
    if service_rows:
        services = pd.DataFrame([tuple(r) for r in service_rows], columns=list(SERVICE_COLUMNS))
        services["date"] = (
            pd.to_datetime(services["date"], utc=True).dt.tz_localize(None).dt.normalize()
        ).astype("datetime64[ns]")
        services["service"] = services["service"].astype(str)
    return History(
        bookings=bookings, rooms=rooms, services=services, as_of=as_of, currency=currency
    )


def _bookings_frame(raw: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    from hub.ml.history import normalise_bookings

    if raw.empty:
        return normalise_bookings(
            pd.DataFrame(
                columns=[
                    "booking_id",
                    "guest_id",
                    "room_type",
                    "created",
                    "arrival",
                    "departure",
                    "adr",
                ]
            )
        )
    fallback = raw["channel"].str.lower().map(_SEGMENT_OF_CHANNEL)
    # a booking written through /api/v1/hotel or the PMS sync has no attributes row: its own
    # segment and booked room type stand in
    default_segment = raw["segment"].where(
        raw["segment"].notna(),
        fallback.map(lambda v: v[0] if isinstance(v, tuple) else "Direct"),
    )
    default_channel = fallback.map(lambda v: v[1] if isinstance(v, tuple) else "Direct")
    created = pd.to_datetime(raw["created_at"], utc=True).dt.tz_localize(None).dt.normalize()
    updated = pd.to_datetime(raw["updated_at"], utc=True).dt.tz_localize(None).dt.normalize()
    cancelled = pd.to_datetime(raw["cancelled_at"])
    cancelled = cancelled.where(cancelled.notna(), updated.where(raw["status"] == "cancelled"))
    frame = pd.DataFrame(
        {
            "booking_id": raw["booking_id"],
            "booking_ref": raw["booking_ref"],
            "guest_id": raw["guest_id"],
            "room_type": raw["reserved_room_type"]
            .fillna(raw["booked_room_type"])
            .fillna(raw["room_of_booking"])
            .fillna("unknown"),
            "created": created,
            "arrival": pd.to_datetime(raw["arrival"]),
            "departure": pd.to_datetime(raw["departure"]),
            "cancel_date": cancelled,
            "no_show": raw["status"] == "no_show",
            "adr": raw["adr"].astype(float),
            "adults": raw["adults"],
            "children": raw["children"],
            "babies": raw["babies"].fillna(0),
            "hotel": raw["hotel"].fillna("hotel"),
            "market_segment": raw["market_segment"].fillna(default_segment),
            "distribution_channel": raw["distribution_channel"].fillna(default_channel),
            "deposit_type": raw["deposit_type"].fillna("No Deposit"),
            "customer_type": raw["customer_type"].fillna("Transient"),
            "meal": raw["meal"].fillna("BB"),
            "country": raw["country"].fillna("UNK"),
            "agent": raw["agent"].fillna(NULL_ID),
            "company": raw["company"].fillna(NULL_ID),
            "assigned_room_type": raw["assigned_room_type"]
            .fillna(raw["room_of_booking"])
            .fillna(raw["reserved_room_type"])
            .fillna("unknown"),
            **{
                c: raw[c].fillna(0).astype("int64")
                for c in (
                    "is_repeated_guest",
                    "previous_cancellations",
                    "previous_bookings_not_canceled",
                    "booking_changes",
                    "days_in_waiting_list",
                    "required_car_parking_spaces",
                    "total_of_special_requests",
                )
            },
        }
    )
    frame = frame[frame["departure"] > frame["arrival"]]
    return normalise_bookings(frame)


async def count_rows(session: AsyncSession, model: type[Any]) -> int:
    return int((await session.exec(select(func.count()).select_from(model))).one())


async def guest_exists(session: AsyncSession, guest_id: int) -> bool:
    found = (await session.exec(select(Guest.id).where(Guest.id == guest_id))).first()
    return found is not None


async def guest_id_of(session: AsyncSession, guest_ref: str) -> int | None:
    """The database id of the guest the hotel calls ``guest_ref`` (``GUEST001``)."""
    found = (await session.exec(select(Guest.id).where(Guest.guest_ref == guest_ref))).first()
    return int(found) if found is not None else None


async def guest_ref_of(session: AsyncSession, guest_id: int) -> str | None:
    found = (await session.exec(select(Guest.guest_ref).where(Guest.id == guest_id))).first()
    return str(found) if found is not None else None


async def room_type_of(session: AsyncSession, room_number: str) -> str | None:
    found = (
        await session.exec(select(Room.room_type).where(Room.room_number == room_number))
    ).first()
    return str(found) if found is not None else None


async def view_counts(session: AsyncSession, view: str) -> dict[str, int]:
    """Rooms per room type whose amenities include ``<view>_view`` (or ``view``)."""
    rows = (await session.exec(select(Room.room_type, Room.amenities))).all()
    wanted = {view, f"{view}_view"}
    counts: dict[str, int] = {}
    for room_type, amenities in rows:
        if wanted & {str(a).lower() for a in amenities or []}:
            counts[str(room_type)] = counts.get(str(room_type), 0) + 1
    return counts


# ---------------------------------------------------------------------------------------------
# Writing a generated history
# ---------------------------------------------------------------------------------------------


def _utc(day: pd.Timestamp, at: time) -> datetime:
    return datetime.combine(day.date(), at, tzinfo=UTC)


async def _insert(session: AsyncSession, model: type[Any], rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        await session.exec(insert(model), params=rows[start : start + CHUNK])


async def write_synthetic(session: AsyncSession, synthetic: SyntheticHistory) -> dict[str, int]:
    """Insert the generated rooms, guests, bookings, booking attributes and service orders.
    Refuses a database that already holds bookings or rooms. Commits."""
    bookings_now = await count_rows(session, Booking)
    rooms_now = await count_rows(session, Room)
    if bookings_now or rooms_now:
        raise DatabaseNotEmptyError(
            f"the database already holds {bookings_now} bookings and {rooms_now} rooms; "
            "`innsight ml generate` only fills an empty history"
        )
    import pandas as pd

    from hub.ml.synthetic import room_views

    history = synthetic.history
    guest_base = int((await session.exec(select(func.max(col(Guest.id))))).one() or 0)
    now = datetime.now(UTC)

    room_rows = []
    views = room_views(history.rooms)
    for i, r in enumerate(history.rooms.itertuples(index=False), start=1):
        room_rows.append(
            {
                "id": i,
                "room_number": str(r.room_number),
                "room_type": str(r.room_type),
                "floor": int(str(r.room_number)[:-2] or 0),
                "status": "available",
                "capacity": int(r.capacity),
                "base_rate": Decimal(f"{float(r.base_rate):.2f}"),
                "amenities": [views[i - 1]],
                "created_at": now,
                "updated_at": now,
            }
        )
    room_id = {row["room_number"]: row["id"] for row in room_rows}
    await _insert(session, Room, room_rows)

    guest_rows = []
    for g in synthetic.guests.itertuples(index=False):
        created = _utc(pd.Timestamp(g.created), time(10, 0))
        guest_rows.append(
            {
                "id": guest_base + int(g.guest_id),
                "guest_ref": str(g.guest_ref),
                "full_name": str(g.full_name),
                "email": str(g.email),
                "nationality": g.nationality if isinstance(g.nationality, str) else None,
                "vip": bool(g.vip),
                "loyalty_tier": g.loyalty_tier if isinstance(g.loyalty_tier, str) else None,
                "created_at": created,
                "updated_at": created,
            }
        )
    await _insert(session, Guest, guest_rows)

    b = history.bookings
    status = history.status()
    times = synthetic.booking_times.set_index("booking_id")
    booking_rows, attribute_rows = [], []
    for row, st in zip(b.itertuples(index=False), status, strict=True):
        created_at = times.at[row.booking_id, "created_at"].to_pydatetime()
        number = times.at[row.booking_id, "room_number"]
        nights = int((row.departure - row.arrival) / pd.Timedelta(days=1))
        checked_in = _utc(row.arrival, time(14, 0)) if st in ("checked_in", "checked_out") else None
        checked_out = _utc(row.departure, time(11, 0)) if st == "checked_out" else None
        cancelled = row.cancel_date if pd.notna(row.cancel_date) else None
        updated = (
            checked_out
            or checked_in
            or (_utc(cancelled, time(9, 0)) if cancelled is not None else created_at)
        )
        booking_rows.append(
            {
                "id": int(row.booking_id),
                "booking_ref": str(row.booking_ref),
                "guest_id": guest_base + int(row.guest_id),
                "room_id": room_id.get(str(number))
                if isinstance(number, str) and st != "cancelled"
                else None,
                "check_in_date": row.arrival.date(),
                "check_out_date": row.departure.date(),
                "status": st,
                "adults": int(row.adults),
                "children": int(row.children),
                "rate_per_night": Decimal(f"{row.adr:.2f}"),
                "total_amount": Decimal(f"{row.adr * nights:.2f}"),
                "currency": history.currency,
                "channel": _CHANNEL_OF.get(str(row.distribution_channel), "direct"),
                "checked_in_at": checked_in,
                "checked_out_at": checked_out,
                "created_at": created_at,
                "updated_at": updated,
            }
        )
        attribute_rows.append(
            {
                "booking_id": int(row.booking_id),
                "hotel": str(row.hotel),
                "market_segment": str(row.market_segment),
                "distribution_channel": str(row.distribution_channel),
                "deposit_type": str(row.deposit_type),
                "customer_type": str(row.customer_type),
                "meal": str(row.meal),
                "country": str(row.country),
                "agent": None if row.agent == NULL_ID else str(row.agent),
                "company": None if row.company == NULL_ID else str(row.company),
                "babies": int(row.babies),
                "is_repeated_guest": bool(row.is_repeated_guest),
                "previous_cancellations": int(row.previous_cancellations),
                "previous_bookings_not_canceled": int(row.previous_bookings_not_canceled),
                "booking_changes": int(row.booking_changes),
                "days_in_waiting_list": int(row.days_in_waiting_list),
                "required_car_parking_spaces": int(row.required_car_parking_spaces),
                "total_of_special_requests": int(row.total_of_special_requests),
                "reserved_room_type": str(row.room_type),
                "assigned_room_type": str(row.assigned_room_type),
                "cancelled_at": cancelled.date() if cancelled is not None else None,
            }
        )
    await _insert(session, Booking, booking_rows)
    await _insert(session, BookingAttributes, attribute_rows)

    service_rows = [
        {
            "booking_id": int(s.booking_id),
            "guest_id": guest_base + int(s.guest_id),
            "service": str(s.service),
            "quantity": int(s.quantity),
            "amount": Decimal(f"{s.amount:.2f}"),
            "ordered_at": _utc(pd.Timestamp(s.date), time(12, 0)),
        }
        for s in history.services.itertuples(index=False)
    ]
    await _insert(session, ServiceOrder, service_rows)
    await session.commit()
    counts = {
        "rooms": len(room_rows),
        "guests": len(guest_rows),
        "bookings": len(booking_rows),
        "service_orders": len(service_rows),
    }
    logger.info("wrote the generated history: %s", counts)
    return counts


# ---------------------------------------------------------------------------------------------
# Predictions and model records
# ---------------------------------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


async def log_predictions(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Append to ``ml_predictions`` (model_name, model_version, target, subject_type,
    subject_id, horizon_date, prediction, score) and commit."""
    if not rows:
        return
    now = datetime.now(UTC)
    params = [
        {
            "model_name": r["model_name"],
            "model_version": r["model_version"],
            "target": r["target"],
            "subject_type": r.get("subject_type"),
            "subject_id": None if r.get("subject_id") is None else str(r["subject_id"]),
            "horizon_date": r.get("horizon_date"),
            "prediction": _json_safe(r.get("prediction", {})),
            "score": None if r.get("score") is None else float(r["score"]),
            "created_at": now,
        }
        for r in rows
    ]
    await _insert(session, MLPrediction, params)
    await session.commit()


async def latest_prices(
    session: AsyncSession, room_type: str, start: date, end: date
) -> dict[date, float]:
    """The last recommended price logged for each night of ``room_type`` in ``start..end``."""
    stmt: Select[*tuple[Any, ...]] = (
        Select(col(MLPrediction.horizon_date), col(MLPrediction.score))
        .where(
            MLPrediction.target == "price",
            MLPrediction.subject_type == "room_type",
            MLPrediction.subject_id == room_type,
            col(MLPrediction.horizon_date) >= start,
            col(MLPrediction.horizon_date) <= end,
        )
        .order_by(col(MLPrediction.id))
    )
    out: dict[date, float] = {}
    for night, score in (await session.exec(stmt)).all():
        if night is not None and score is not None:
            out[night] = float(score)
    return out


async def latest_price_row(
    session: AsyncSession, room_type: str, night: date
) -> MLPrediction | None:
    """The last price logged for ``room_type`` on ``night``, with its details."""
    stmt = (
        select(MLPrediction)
        .where(
            MLPrediction.target == "price",
            MLPrediction.subject_type == "room_type",
            MLPrediction.subject_id == room_type,
            MLPrediction.horizon_date == night,
        )
        .order_by(col(MLPrediction.id).desc())
    )
    return (await session.exec(stmt)).first()


async def promoted(session: AsyncSession, name: str) -> MLModelRecord | None:
    stmt = (
        select(MLModelRecord)
        .where(MLModelRecord.name == name, col(MLModelRecord.promoted).is_(True))
        .order_by(col(MLModelRecord.id).desc())
    )
    return (await session.exec(stmt)).first()


async def all_promoted(session: AsyncSession) -> dict[str, MLModelRecord]:
    stmt = select(MLModelRecord).where(col(MLModelRecord.promoted).is_(True))
    return {r.name: r for r in (await session.exec(stmt)).all()}


async def add_record(session: AsyncSession, record: MLModelRecord) -> MLModelRecord:
    """Store a model version; when it is promoted, demote the previous one. Commits."""
    if record.promoted:
        await session.exec(
            update(MLModelRecord)
            .where(col(MLModelRecord.name) == record.name, col(MLModelRecord.promoted).is_(True))
            .values(promoted=False)
        )
    session.add(record)
    await session.commit()
    await session.refresh(record)
    return record
