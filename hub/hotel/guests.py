"""Guests: create, change, list, look up by e-mail through the blind index (``email_bidx``:
the keyed HMAC of the normalised address, hub/crypto.py); contact and identity fields stay
encrypted at rest (``EncryptedString``)."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.crypto import PiiCipher
from hub.hotel.errors import HotelError, not_found
from hub.hotel.etag import check_if_match, etag_of
from hub.hotel.records import HotelAction, Page, changed_fields, lock_row, page, record
from hub.hotel.validation import check_email
from hub.tables import Guest, utcnow

# the fields only the hotel:pii scope reads back in clear
PII_FIELDS: tuple[str, ...] = (
    "email",
    "phone",
    "date_of_birth",
    "id_document_type",
    "id_document_number",
    "notes",
)


def guest_etag(row: Guest) -> str:
    return etag_of("guest", row.id, row.updated_at)


def _index_email(row: Guest, cipher: PiiCipher) -> None:
    row.email_bidx = cipher.blind_index(row.email) if row.email else None


async def get_guest(session: AsyncSession, guest_ref: str, field: str = "guest_ref") -> Guest:
    row = (await session.exec(select(Guest).where(col(Guest.guest_ref) == guest_ref))).first()
    if row is None:
        raise not_found(field, "guest", guest_ref)
    return row


async def create_guest(
    session: AsyncSession, values: dict[str, Any], cipher: PiiCipher, actor: str
) -> Guest:
    if values.get("email") is not None:
        values = {**values, "email": check_email(values["email"])}
    ref = values["guest_ref"]
    if (await session.exec(select(Guest.id).where(col(Guest.guest_ref) == ref))).first():
        raise HotelError(409, "guest_ref", f"guest {ref!r} exists")
    row = Guest(**values)
    _index_email(row, cipher)
    session.add(row)
    await session.flush()
    record(session, actor, HotelAction.GUEST_CREATE, f"guest:{ref}")
    await session.commit()
    return row


async def update_guest(
    session: AsyncSession,
    guest_ref: str,
    values: dict[str, Any],
    if_match: str | None,
    cipher: PiiCipher,
    actor: str,
) -> Guest:
    row = await get_guest(session, guest_ref)
    assert row.id is not None  # noqa: S101 - a stored row
    await lock_row(session, Guest, row.id)
    await session.refresh(row)
    check_if_match(if_match, guest_etag(row))
    if values.get("email") is not None:
        values = {**values, "email": check_email(values["email"])}
    for name, value in values.items():
        setattr(row, name, value)
    _index_email(row, cipher)
    row.updated_at = utcnow()
    session.add(row)
    record(
        session,
        actor,
        HotelAction.GUEST_UPDATE,
        f"guest:{guest_ref}",
        {"fields": changed_fields(values)},
    )
    await session.commit()
    return row


async def list_guests(
    session: AsyncSession,
    cipher: PiiCipher,
    *,
    email: str | None,
    vip: bool | None,
    limit: int,
    offset: int,
) -> Page[Guest]:
    query = select(Guest)
    if email is not None:
        query = query.where(col(Guest.email_bidx) == cipher.blind_index(email))
    if vip is not None:
        query = query.where(col(Guest.vip).is_(vip))
    return await page(session, query, col(Guest.id), limit, offset)
