"""``/pipeline/sync`` (the seeds' data pipeline): one data type, from a source to a target,
limited to a date range.

What the hub really has:

- sources: ``pms`` (the PMS records the hub holds: bookings, guests and rooms, fed by
  ``/events/booking``) and ``hub`` (those plus employees, attendance and the face templates);
- targets: ``warehouse`` (a JSON Lines export in the object store, MinIO in production, under
  ``warehouse/<data_type>/``) and ``edges`` (the face gallery, published to the edge devices).

Exports carry ids and operational fields, never personal data (DESIGN §7): no guest or employee
names, e-mails, phones or document numbers, no embeddings.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, get_args

from sqlmodel import col, select

from hub.flows.context import FlowDeps
from hub.tables import AttendanceLog, Booking, Employee, Guest, Room, utcnow

SyncSource = Literal["pms", "hub"]
SyncTarget = Literal["warehouse", "edges"]
DataType = Literal["bookings", "guests", "rooms", "employees", "attendance", "faces"]
SOURCES: tuple[str, ...] = get_args(SyncSource)
TARGETS: tuple[str, ...] = get_args(SyncTarget)
DATA_TYPES: tuple[str, ...] = get_args(DataType)

# (source, target) -> the data types that combination can sync
SUPPORTED: dict[tuple[str, str], tuple[str, ...]] = {
    ("pms", "warehouse"): ("bookings", "guests", "rooms"),
    ("hub", "warehouse"): ("bookings", "guests", "rooms", "employees", "attendance"),
    ("hub", "edges"): ("faces",),
}
# what the date range selects, per data type (documented in docs/api.md)
RANGE_FIELD: dict[str, str] = {
    "bookings": "check_in_date",
    "guests": "created_at",
    "rooms": "updated_at",
    "employees": "created_at",
    "attendance": "work_date",
}
WAREHOUSE_PREFIX = "warehouse"


class SyncRequestError(ValueError):
    """A sync the hub cannot do; ``field`` names the request field that is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def supported_text() -> str:
    return "; ".join(
        f"{source} -> {target}: {', '.join(types)}" for (source, target), types in SUPPORTED.items()
    )


def check_sync(
    source: str, target: str, data_type: str, start: date | None, end: date | None
) -> None:
    """Raises :class:`SyncRequestError` unless the hub can do this sync (pure)."""
    types = SUPPORTED.get((source, target))
    if types is None:
        raise SyncRequestError(
            "target", f"cannot sync {source} -> {target}; supported: {supported_text()}"
        )
    if data_type not in types:
        raise SyncRequestError(
            "data_type",
            f"{source} -> {target} cannot sync {data_type}; supported: {supported_text()}",
        )
    if (start is None) != (end is None):
        raise SyncRequestError("date_range", "give both start and end, or neither")
    if start is not None and end is not None and start > end:
        raise SyncRequestError("date_range.start", "must not be after date_range.end")
    if data_type == "faces" and start is not None:
        raise SyncRequestError(
            "date_range", "a face gallery is always complete: faces take no date_range"
        )


def _day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time(), tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC),
    )


def _iso(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


async def _rows(
    deps: FlowDeps, data_type: str, start: date | None, end: date | None
) -> list[dict[str, Any]]:
    async with deps.session_factory() as session:
        if data_type == "bookings":
            query = select(Booking, Room.room_number).join(
                Room, col(Booking.room_id) == col(Room.id), isouter=True
            )
            if start is not None and end is not None:
                query = query.where(
                    col(Booking.check_in_date) >= start, col(Booking.check_in_date) <= end
                )
            found = (await session.exec(query.order_by(col(Booking.id)))).all()
            return [
                {
                    "booking_id": b.booking_ref,
                    "guest_id": b.guest_id,
                    "room_number": room_number,
                    "check_in_date": b.check_in_date,
                    "check_out_date": b.check_out_date,
                    "status": b.status,
                    "total_amount": float(b.total_amount),
                    "currency": b.currency,
                    "channel": b.channel,
                    "created_at": b.created_at,
                }
                for b, room_number in found
            ]
        if data_type == "attendance":
            att = select(AttendanceLog)
            if start is not None and end is not None:
                att = att.where(
                    col(AttendanceLog.work_date) >= start, col(AttendanceLog.work_date) <= end
                )
            logs = (await session.exec(att.order_by(col(AttendanceLog.id)))).all()
            return [
                {
                    "employee_id": a.employee_id,
                    "work_date": a.work_date,
                    "check_in_at": a.check_in_at,
                    "check_out_at": a.check_out_at,
                    "status": a.status,
                    "method": a.method,
                    "camera_id": a.camera_id,
                    "confidence": a.confidence,
                }
                for a in logs
            ]
        table: Any = {"guests": Guest, "rooms": Room, "employees": Employee}[data_type]
        stamp = getattr(table, RANGE_FIELD[data_type])
        other = select(table)
        if start is not None and end is not None:
            low, high = _day_bounds(start, end)
            other = other.where(col(stamp) >= low, col(stamp) < high)
        items = (await session.exec(other.order_by(col(table.id)))).all()
        pick: Callable[[Any], dict[str, Any]] = _PICKERS[data_type]
        return [pick(item) for item in items]


def _guest(g: Guest) -> dict[str, Any]:
    return {
        "id": g.id,
        "guest_ref": getattr(g, "guest_ref", None),
        "nationality": g.nationality,
        "vip": g.vip,
        "loyalty_tier": g.loyalty_tier,
        "created_at": g.created_at,
    }


def _room(r: Room) -> dict[str, Any]:
    return {
        "room_number": r.room_number,
        "room_type": r.room_type,
        "floor": r.floor,
        "status": r.status,
        "base_rate": float(r.base_rate),
        "updated_at": r.updated_at,
    }


def _employee(e: Employee) -> dict[str, Any]:
    return {
        "employee_id": e.employee_id,
        "department": e.department,
        "position": e.position,
        "is_active": e.is_active,
        "created_at": e.created_at,
    }


_PICKERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "guests": _guest,
    "rooms": _room,
    "employees": _employee,
}


def to_jsonl(rows: Sequence[dict[str, Any]]) -> bytes:
    lines = (json.dumps({k: _iso(v) for k, v in row.items()}, sort_keys=True) for row in rows)
    return "".join(f"{line}\n" for line in lines).encode()


def export_key(data_type: str, start: date | None, end: date | None, at: datetime) -> str:
    window = f"{start.isoformat()}_{end.isoformat()}" if start and end else "all"
    return f"{WAREHOUSE_PREFIX}/{data_type}/{window}/{at:%Y%m%dT%H%M%S%fZ}.jsonl"


async def export_to_warehouse(
    deps: FlowDeps, data_type: str, start: date | None, end: date | None
) -> dict[str, Any]:
    rows = await _rows(deps, data_type, start, end)
    key = export_key(data_type, start, end, utcnow())
    await asyncio.to_thread(deps.store.put, key, to_jsonl(rows), "application/x-ndjson")
    return {
        "data_type": data_type,
        "records": len(rows),
        "object_key": key,
        "date_range": {"start": _iso(start), "end": _iso(end)} if start else None,
        "range_field": RANGE_FIELD[data_type] if start else None,
    }
