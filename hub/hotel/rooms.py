"""Room types and rooms: create, change, list. A room's status change is applied by the room
flow (hub/flows/room.py via the flow hooks) by the caller; here only its other fields."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.flows.room import ROOM_STATUSES, hub_status
from hub.hotel.errors import HotelError, invalid, not_found
from hub.hotel.etag import check_if_match, etag_of
from hub.hotel.records import HotelAction, Page, changed_fields, lock_row, page, record
from hub.hotel.validation import check_price_band
from hub.tables import Room, RoomType, utcnow


def room_type_etag(row: RoomType) -> str:
    return etag_of("room_type", row.id, row.updated_at)


def room_etag(row: Room) -> str:
    return etag_of("room", row.id, row.updated_at)


def check_room_status(status: str, field: str = "status") -> str:
    if status not in ROOM_STATUSES:
        raise invalid(field, f"one of {', '.join(ROOM_STATUSES)}")
    return hub_status(status)


async def get_room_type(session: AsyncSession, code: str, field: str = "code") -> RoomType:
    row = (await session.exec(select(RoomType).where(RoomType.code == code))).first()
    if row is None:
        raise not_found(field, "room type", code)
    return row


async def known_room_type(session: AsyncSession, code: str, field: str) -> RoomType:
    """A room type a body names: unknown is a 422 naming the field."""
    try:
        return await get_room_type(session, code, field)
    except HotelError as err:
        raise invalid(field, err.reason) from None


async def create_room_type(session: AsyncSession, values: dict[str, Any], actor: str) -> RoomType:
    check_price_band(values["rack_rate"], values.get("price_floor"), values.get("price_ceiling"))
    if (await session.exec(select(RoomType.id).where(RoomType.code == values["code"]))).first():
        raise HotelError(409, "code", f"room type {values['code']!r} exists")
    row = RoomType(**values)
    session.add(row)
    await session.flush()
    record(session, actor, HotelAction.ROOM_TYPE_CREATE, f"room_type:{row.code}")
    await session.commit()
    return row


async def update_room_type(
    session: AsyncSession, code: str, values: dict[str, Any], if_match: str | None, actor: str
) -> RoomType:
    row = await get_room_type(session, code)
    assert row.id is not None  # noqa: S101 - a stored row
    await lock_row(session, RoomType, row.id)
    await session.refresh(row)
    check_if_match(if_match, room_type_etag(row))
    merged = {**row.model_dump(), **values}
    check_price_band(merged["rack_rate"], merged["price_floor"], merged["price_ceiling"])
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.add(row)
    record(
        session,
        actor,
        HotelAction.ROOM_TYPE_UPDATE,
        f"room_type:{row.code}",
        {"fields": changed_fields(values)},
    )
    await session.commit()
    return row


async def list_room_types(session: AsyncSession, limit: int, offset: int) -> Page[RoomType]:
    return await page(session, select(RoomType), col(RoomType.code), limit, offset)


async def get_room(session: AsyncSession, room_number: str, field: str = "room_number") -> Room:
    row = (await session.exec(select(Room).where(Room.room_number == room_number))).first()
    if row is None:
        raise not_found(field, "room", room_number)
    return row


async def create_room(session: AsyncSession, values: dict[str, Any], actor: str) -> Room:
    room_type = await known_room_type(session, values["room_type"], "room_type")
    values = dict(values)
    values["status"] = check_room_status(values.get("status") or "available")
    if values.get("capacity") is None:
        values["capacity"] = room_type.capacity
    if values.get("base_rate") is None:
        values["base_rate"] = room_type.rack_rate
    number = values["room_number"]
    if (await session.exec(select(Room.id).where(Room.room_number == number))).first():
        raise HotelError(409, "room_number", f"room {number!r} exists")
    row = Room(**values)
    session.add(row)
    await session.flush()
    record(session, actor, HotelAction.ROOM_CREATE, f"room:{row.room_number}")
    await session.commit()
    return row


async def update_room(
    session: AsyncSession,
    room_number: str,
    values: dict[str, Any],
    if_match: str | None,
    actor: str,
) -> Room:
    """Changes the room's fields other than ``status`` (checked against If-Match)."""
    row = await get_room(session, room_number)
    assert row.id is not None  # noqa: S101 - a stored row
    await lock_row(session, Room, row.id)
    await session.refresh(row)
    check_if_match(if_match, room_etag(row))
    if values.get("room_type") is not None:
        await known_room_type(session, values["room_type"], "room_type")
    if values:
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        session.add(row)
        record(
            session,
            actor,
            HotelAction.ROOM_UPDATE,
            f"room:{row.room_number}",
            {"fields": changed_fields(values)},
        )
    await session.commit()
    return row


async def list_rooms(
    session: AsyncSession,
    *,
    status: str | None,
    room_type: str | None,
    floor: int | None,
    limit: int,
    offset: int,
) -> Page[Room]:
    query = select(Room)
    if status is not None:
        query = query.where(Room.status == check_room_status(status))
    if room_type is not None:
        query = query.where(Room.room_type == room_type)
    if floor is not None:
        query = query.where(Room.floor == floor)
    return await page(session, query, col(Room.room_number), limit, offset)


def rate_in_band(room_type: RoomType, rate: Decimal) -> bool:
    """Whether a nightly rate lies within the type's floor and ceiling (pricing's bounds)."""
    low = room_type.price_floor
    high = room_type.price_ceiling
    return (low is None or rate >= low) and (high is None or rate <= high)
