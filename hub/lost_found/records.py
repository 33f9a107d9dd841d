"""Lost reports and found items in the database: create, read, list, and the status moves
staff make by hand (found without a match, returned, closed, disposed). Every write is audited
with ids only (hub/audit.py): never a name, a contact or a description."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.audit import AuditAction, audit
from hub.hotel.errors import invalid, not_found
from hub.hotel.guests import get_guest
from hub.hotel.records import Page, lock_row, page
from hub.hotel.validation import check_email
from hub.lost_found.states import FOUND_MOVES, LOST_MOVES, check_move
from hub.tables import FoundItem, Guest, LostFoundMatch, LostItem, utcnow
from hub.vision.image_search import IndexedImage

Row = TypeVar("Row", LostItem, FoundItem)

# a clock a little ahead of the hub's is not an error; a report from the future is
CLOCK_SKEW = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_PHONE = re.compile(r"^\+?[0-9 ()./-]{6,40}$")


@dataclass(frozen=True, slots=True)
class LostFields:
    description: str
    guest_ref: str | None = None
    reporter_name: str | None = None
    reporter_contact: str | None = None
    lost_location: str | None = None
    lost_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FoundFields:
    description: str
    location: str
    found_at: datetime
    found_by: str


def check_contact(value: str, field: str = "reporter_contact") -> str:
    """An e-mail address or a phone number (digits, spaces, + ( ) . / -)."""
    value = value.strip()
    if "@" in value:
        return check_email(value, field)
    if not _PHONE.match(value) or sum(c.isdigit() for c in value) < 6:
        raise invalid(field, "an e-mail address or a phone number")
    return value


def check_past(value: datetime | None, field: str, now: datetime) -> None:
    """A moment of the hotel's past: not in the future, not before EARLIEST."""
    if value is not None and value > now + CLOCK_SKEW:
        raise invalid(field, "must not be in the future")
    if value is not None and value < EARLIEST:
        raise invalid(field, f"must not be before {EARLIEST:%Y-%m-%d}")


async def owner_of(session: AsyncSession, fields: LostFields) -> Guest | None:
    """The guest a report names, or ``None`` for a reporter by name and contact; 422 when it
    names neither, 404 for an unknown guest id."""
    if fields.guest_ref is not None:
        return await get_guest(session, fields.guest_ref, field="guest_id")
    if fields.reporter_name is None or fields.reporter_contact is None:
        raise invalid("guest_id", "give guest_id, or reporter_name and reporter_contact")
    check_contact(fields.reporter_contact)
    return None


async def _insert(
    session: AsyncSession,
    row: Row,
    actor: str,
    action: AuditAction,
    kind: str,
    detail: Mapping[str, int | None],
) -> Row:
    """Insert ``row`` with its audit row (ids only) and commit."""
    session.add(row)
    await session.flush()
    target = f"{kind}:{getattr(row, 'id', None)}"
    audit(session, actor=actor[:128], action=action, target=target, detail=detail)
    await session.commit()
    return row


async def create_lost(
    session: AsyncSession, fields: LostFields, actor: str, photo: IndexedImage | None
) -> LostItem:
    now = utcnow()
    check_past(fields.lost_at, "lost_at", now)
    guest = await owner_of(session, fields)
    row = LostItem(
        description=fields.description,
        guest_id=guest.id if guest is not None else None,
        reporter_name=None if guest is not None else fields.reporter_name,
        reporter_contact=(
            None
            if guest is not None or fields.reporter_contact is None
            else check_contact(fields.reporter_contact)
        ),
        lost_location=fields.lost_location,
        lost_at=fields.lost_at,
        reported_image_id=photo.image_id if photo is not None else None,
        reported_image_key=photo.object_key if photo is not None else None,
        reported_by=actor[:128],
        reported_at=now,
        updated_at=now,
    )
    detail = {"guest_id": row.guest_id, "image_id": row.reported_image_id}
    return await _insert(session, row, actor, AuditAction.LOST_REPORT, "lost_item", detail)


async def create_found(
    session: AsyncSession, fields: FoundFields, actor: str, photo: IndexedImage
) -> FoundItem:
    now = utcnow()
    check_past(fields.found_at, "found_at", now)
    row = FoundItem(
        description=fields.description,
        location=fields.location,
        found_at=fields.found_at,
        found_by=fields.found_by,
        image_id=photo.image_id,
        image_key=photo.object_key,
        created_by=actor[:128],
        created_at=now,
        updated_at=now,
    )
    detail = {"image_id": row.image_id}
    return await _insert(session, row, actor, AuditAction.FOUND_REPORT, "found_item", detail)


async def get_lost(
    session: AsyncSession, lost_item_id: int, field: str = "lost_item_id"
) -> LostItem:
    row = await session.get(LostItem, lost_item_id)
    if row is None:
        raise not_found(field, "lost item", lost_item_id)
    return row


async def get_found(
    session: AsyncSession, found_item_id: int, field: str = "found_item_id"
) -> FoundItem:
    row = await session.get(FoundItem, found_item_id)
    if row is None:
        raise not_found(field, "found item", found_item_id)
    return row


async def guest_ref_of(session: AsyncSession, guest_id: int | None) -> str | None:
    if guest_id is None:
        return None
    return (await session.exec(select(Guest.guest_ref).where(col(Guest.id) == guest_id))).first()


async def list_rows(
    session: AsyncSession, table: type[Row], status: str | None, limit: int, offset: int
) -> Page[Row]:
    """Reports or found items (``table``), newest first, of one status or all."""
    query = select(table)
    if status is not None:
        query = query.where(col(table.status) == status)
    return await page(session, query, col(table.id).desc(), limit, offset)


async def matches_of(
    session: AsyncSession, *, lost_item_id: int | None = None, found_item_id: int | None = None
) -> list[LostFoundMatch]:
    query = select(LostFoundMatch)
    if lost_item_id is not None:
        query = query.where(col(LostFoundMatch.lost_item_id) == lost_item_id)
    if found_item_id is not None:
        query = query.where(col(LostFoundMatch.found_item_id) == found_item_id)
    order = (col(LostFoundMatch.score).desc(), col(LostFoundMatch.id))
    return list((await session.exec(query.order_by(*order))).all())


async def matches_with_status(
    session: AsyncSession, status: str, limit: int
) -> list[LostFoundMatch]:
    query = select(LostFoundMatch).where(col(LostFoundMatch.status) == status)
    order = (col(LostFoundMatch.score).desc(), col(LostFoundMatch.id))
    return list((await session.exec(query.order_by(*order).limit(limit))).all())


# ---- status moves by hand ---------------------------------------------------------------------


def _status_audit(
    session: AsyncSession, actor: str, target: str, old: str, new: str, **ids: int | None
) -> None:
    audit(
        session,
        actor=actor[:128],
        action=AuditAction.LOST_FOUND_STATUS,
        target=target,
        detail={"from": old, "to": new, **ids},
    )


async def move_lost(session: AsyncSession, row: LostItem, wanted: str, actor: str) -> None:
    """``row`` to ``wanted`` (409 naming the allowed moves); the caller commits."""
    check_move("lost report", LOST_MOVES, row.status, wanted)
    _status_audit(session, actor, f"lost_item:{row.id}", row.status, wanted)
    row.status = wanted
    row.updated_at = utcnow()
    session.add(row)


async def move_found(session: AsyncSession, row: FoundItem, wanted: str, actor: str) -> None:
    check_move("found item", FOUND_MOVES, row.status, wanted)
    _status_audit(session, actor, f"found_item:{row.id}", row.status, wanted)
    row.status = wanted
    row.updated_at = utcnow()
    session.add(row)


async def mark_found(
    session: AsyncSession, lost_item_id: int, location: str | None, actor: str
) -> LostItem:
    """A person confirmed the item is found without a proposed match (the seeds'
    ``lost_found_return`` with a place only)."""
    await lock_row(session, LostItem, lost_item_id)
    row = await get_lost(session, lost_item_id)
    await move_lost(session, row, "found", actor)
    row.found_location = location
    row.found_at = utcnow()
    await session.commit()
    return row


async def mark_returned(session: AsyncSession, lost_item_id: int, actor: str) -> LostItem:
    """The owner has the item back: the report and its found item are ``returned``."""
    await lock_row(session, LostItem, lost_item_id)
    row = await get_lost(session, lost_item_id)
    await move_lost(session, row, "returned", actor)
    if row.found_item_id is not None:
        found = await get_found(session, row.found_item_id)
        await move_found(session, found, "returned", actor)
    await session.commit()
    return row
