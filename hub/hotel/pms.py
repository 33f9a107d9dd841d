"""PMS sync (issue 16 item 3): idempotent upserts of bookings, guests and rooms keyed by the
PMS's own ids, ordered by the PMS's modification time.

Each record the PMS sent has a ``pms_records`` row: the hotel's key of it (``guest_ref`` and
``booking_ref`` are the PMS id; a room keeps its ``room_number``), the PMS's ``modified_at`` of
the stored version and the digest of the data applied. An update older than the stored one is
stale: refused (409 naming the stored time) or reported as ``stale`` and ignored (the webhook);
the same data twice changes nothing (``unchanged``). The writes go through the REST logic
(hub/hotel/bookings.py, guests.py, rooms.py): the same validation, double-booking refusal and
audit; a booking's status moves through the booking flow's state machine (several steps when
the PMS skipped some: reserved -> checked_out is a check-in then a check-out), a room's status
through the room flow (the caller's ``room_status`` hook: a ready room notifies its guest).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.crypto import PiiCipher
from hub.db import SessionFactory
from hub.hotel import bookings, guests, rooms
from hub.hotel.booking_status import allowed_from, event_for, normalise
from hub.hotel.errors import HotelError, invalid
from hub.hotel.records import HotelAction, record
from hub.tables import Booking, Guest, PmsRecord, Room, utcnow

PmsKind = Literal["bookings", "guests", "rooms"]
PMS_KINDS: tuple[PmsKind, ...] = ("bookings", "guests", "rooms")
Result = Literal["created", "updated", "unchanged", "stale"]
# (room number, its status now, the status the PMS gives): applied by the room flow
RoomStatusHook = Callable[[str, str, str], Awaitable[None]]

# the booking fields a PMS version carries besides its guest, room and status
_BOOKING_FIELDS = (
    "check_in_date",
    "check_out_date",
    "room_type",
    *bookings._PLAIN,
)


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    kind: str
    pms_id: str
    local_ref: str
    result: Result
    pms_modified_at: datetime
    stored_modified_at: datetime | None = None
    changed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SyncContext:
    """Who writes (the audit's actor), the PII cipher, the room flow's hook, and whether a
    stale update is refused (409) or reported as ``stale``."""

    sessions: SessionFactory
    cipher: PiiCipher
    actor: str
    room_status: RoomStatusHook | None
    refuse_stale: bool = True


def digest_of(values: Mapping[str, Any]) -> str:
    """The digest of the data applied (JSON with sorted keys; dates and amounts as text)."""
    text = json.dumps(values, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise invalid("modified_at", "a date-time with its offset (2026-12-07T10:00:00+07:00)")
    return moment.astimezone(UTC)


def check_order(
    stored: PmsRecord | None, modified_at: datetime, digest: str
) -> Literal["apply", "unchanged", "stale"]:
    """Whether an update made at ``modified_at`` applies over the stored version (pure): older
    is stale, the same data again is unchanged, other data at the same time is a 409."""
    if stored is None:
        return "apply"
    known = stored.pms_modified_at.astimezone(UTC)
    if modified_at < known:
        return "stale"
    if digest == stored.digest:
        return "unchanged"
    if modified_at == known:
        raise HotelError(
            409,
            "modified_at",
            f"the stored version has the same modified time ({known.isoformat()}) and other "
            "data: the PMS must advance modified_at on a change",
        )
    return "apply"


def status_path(current: str, target: str) -> list[str]:
    """The statuses a booking passes through from ``current`` to ``target`` (pure; shortest
    path of the state machine); 409 with the allowed ones when there is none."""
    target = normalise(target)
    if target == current:
        return []
    paths: list[tuple[str, list[str]]] = [(current, [])]
    seen = {current}
    while paths:
        status, path = paths.pop(0)
        for step in allowed_from(status):
            if step == target:
                return [*path, step]
            if step not in seen:
                seen.add(step)
                paths.append((step, [*path, step]))
    event_for(current, target)  # raises the 422 (unknown) or 409 (with the allowed statuses)
    raise HotelError(409, "status", f"a booking that is {current} cannot become {target}")


async def _stored(session: AsyncSession, kind: str, pms_id: str) -> PmsRecord | None:
    query = select(PmsRecord).where(PmsRecord.kind == kind, PmsRecord.pms_id == pms_id)
    return (await session.exec(query)).first()


async def _local_ref(session: AsyncSession, kind: str, pms_id: str, field: str) -> str:
    """The hotel's key of a record another one names by its PMS id (422 when unknown)."""
    stored = await _stored(session, kind, pms_id)
    if stored is not None:
        return stored.local_ref
    if kind == "guests":
        found = await session.exec(select(Guest.id).where(col(Guest.guest_ref) == pms_id))
        if found.first() is not None:
            return pms_id
    raise invalid(field, f"no {kind[:-1]} with PMS id {pms_id!r}: sync it first")


def _result(changed: bool) -> Result:
    """An existing record's result (one the hotel had before the PMS sent it is adopted)."""
    return "updated" if changed else "unchanged"


def _given(values: Mapping[str, Any]) -> dict[str, Any]:
    """The non-null values (a new record takes its defaults for the others)."""
    return {name: value for name, value in values.items() if value is not None}


def _diff(row: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """The given (non-null) values that differ from the row's."""
    return {
        name: value
        for name, value in values.items()
        if value is not None and getattr(row, name) != value
    }


# -- guests ---------------------------------------------------------------------------------------


async def _sync_guest(ctx: SyncContext, pms_id: str, values: dict[str, Any]) -> tuple[str, Result]:
    async with ctx.sessions() as session:
        found = (await session.exec(select(Guest).where(col(Guest.guest_ref) == pms_id))).first()
        if found is None:
            given = _given(values) | {"guest_ref": pms_id}
            await guests.create_guest(session, given, ctx.cipher, ctx.actor)
            return pms_id, "created"
        changes = _diff(found, values)
        if changes:
            await guests.update_guest(session, pms_id, changes, "*", ctx.cipher, ctx.actor)
        return pms_id, _result(bool(changes))


# -- rooms ----------------------------------------------------------------------------------------


async def _sync_room(
    ctx: SyncContext, pms_id: str, values: dict[str, Any], known: PmsRecord | None
) -> tuple[str, Result]:
    number = str(values["room_number"])
    if known is not None and known.local_ref != number:
        raise HotelError(
            409,
            "room_number",
            f"PMS room {pms_id!r} is room {known.local_ref} here: renumbering is not synced",
        )
    status = rooms.check_room_status(values.pop("status", None) or "available")
    async with ctx.sessions() as session:
        found = (await session.exec(select(Room).where(Room.room_number == number))).first()
        if found is None:
            await rooms.create_room(session, _given(values) | {"status": status}, ctx.actor)
            return number, "created"
        changes = _diff(found, {k: v for k, v in values.items() if k != "room_number"})
        if changes:
            await rooms.update_room(session, number, changes, "*", ctx.actor)
        current = found.status
    if status == current:
        return number, _result(bool(changes))
    if ctx.room_status is None:
        raise HotelError(503, "status", "the flow hooks are not running: room status not changed")
    await ctx.room_status(number, current, status)
    return number, "updated"


# -- bookings -------------------------------------------------------------------------------------


async def _booking_values(session: AsyncSession, values: dict[str, Any]) -> dict[str, Any]:
    """The REST logic's values: the guest and room named by their PMS ids."""
    out = {name: values.get(name) for name in _BOOKING_FIELDS}
    out["guest_ref"] = await _local_ref(session, "guests", values["guest_pms_id"], "guest_pms_id")
    room_pms_id = values.get("room_pms_id")
    out["room_number"] = (
        None
        if room_pms_id is None
        else await _local_ref(session, "rooms", room_pms_id, "room_pms_id")
    )
    return out


async def _sync_booking(
    ctx: SyncContext, pms_id: str, values: dict[str, Any]
) -> tuple[str, Result]:
    target = normalise(values.get("status") or "reserved")
    async with ctx.sessions() as session:
        wanted = await _booking_values(session, values)
        row = (await session.exec(select(Booking).where(Booking.booking_ref == pms_id))).first()
        if row is None:
            steps = status_path("reserved", target)  # refused before anything is written
            await bookings.create_booking(session, {**wanted, "booking_ref": pms_id}, ctx.actor)
            outcome: Result = "created"
        else:
            steps = status_path(row.status, target)
            view = await bookings.get_booking(session, pms_id)
            if view.guest_ref != wanted["guest_ref"]:
                raise HotelError(
                    409, "guest_pms_id", "the booking belongs to another guest: not synced"
                )
            changes = _diff(row, {k: wanted[k] for k in _BOOKING_FIELDS})
            if wanted["room_number"] is not None and wanted["room_number"] != view.room_number:
                changes["room_number"] = wanted["room_number"]
            if changes:
                await bookings.update_booking(session, pms_id, changes, "*", ctx.actor)
            outcome = _result(bool(changes))
    for status in steps:  # through the booking flow: the room becomes occupied / to be cleaned
        await bookings.change_status(ctx.sessions, pms_id, status, "*", ctx.actor)
    return pms_id, "updated" if steps and outcome == "unchanged" else outcome


# -- the upsert -----------------------------------------------------------------------------------


async def upsert(
    ctx: SyncContext,
    kind: PmsKind,
    pms_id: str,
    values: dict[str, Any],
    modified_at: datetime,
) -> SyncOutcome:
    """Applies the PMS's version of record ``pms_id`` (``values``: the record's fields) made
    at ``modified_at``; raises :class:`HotelError` (the REST logic's, or 409 stale)."""
    moment = _aware(modified_at)
    digest = digest_of(values)
    async with ctx.sessions() as session:
        known = await _stored(session, kind, pms_id)
    order = check_order(known, moment, digest)
    if order == "stale":
        assert known is not None  # noqa: S101 - stale needs a stored version
        stored_at = known.pms_modified_at.astimezone(UTC)
        if ctx.refuse_stale:
            raise HotelError(
                409,
                "modified_at",
                f"stale: the stored version was modified at {stored_at.isoformat()}, after "
                f"{moment.isoformat()}",
            )
        return SyncOutcome(kind, pms_id, known.local_ref, "stale", moment, stored_at)
    if order == "unchanged":
        assert known is not None  # noqa: S101
        return SyncOutcome(
            kind, pms_id, known.local_ref, "unchanged", moment, known.pms_modified_at
        )
    if kind == "guests":
        local, result = await _sync_guest(ctx, pms_id, dict(values))
    elif kind == "rooms":
        local, result = await _sync_room(ctx, pms_id, dict(values), known)
    else:
        local, result = await _sync_booking(ctx, pms_id, dict(values))
    await _remember(ctx, kind, pms_id, local, moment, digest, result)
    return SyncOutcome(kind, pms_id, local, result, moment, moment)


async def _remember(
    ctx: SyncContext,
    kind: str,
    pms_id: str,
    local: str,
    moment: datetime,
    digest: str,
    result: str,
) -> None:
    async with ctx.sessions() as session:
        row = await _stored(session, kind, pms_id) or PmsRecord(
            kind=kind, pms_id=pms_id, local_ref=local, pms_modified_at=moment, digest=digest
        )
        if row.id is not None and row.pms_modified_at.astimezone(UTC) > moment:
            return  # a newer version was stored meanwhile: keep its time
        row.local_ref, row.pms_modified_at, row.digest = local, moment, digest
        row.updated_at = utcnow()
        session.add(row)
        record(
            session,
            ctx.actor,
            HotelAction.PMS_SYNC,
            f"pms:{kind}:{pms_id}"[:128],
            {"result": result, "local": local},
        )
        try:
            await session.commit()
        except IntegrityError:
            raise HotelError(
                409, "pms_id", "a concurrent update of this record: send it again"
            ) from None
