"""CSV import of bookings, rooms, employees and shifts (issue 16): one transaction, all rows or
none (unless ``skip_bad_rows``: the good rows, and the bad ones back as CSV); every bad row is
named by its line and reason; natural keys (room number, employee id, the PMS's booking id, a
shift's employee/day/times) make a re-import of the same file change nothing.

Bookings are written in bulk (100k rows well under a minute). Imported statuses are the PMS's
truth and are set as given (no state machine: the file is a snapshot, not a transition); room
statuses from a rooms file are set without the room flow's notifications.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, insert, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.crypto import PiiCipher
from hub.db import SessionFactory
from hub.hotel.csv_format import (
    CsvFormatError,
    DateFormat,
    cell,
    decode,
    detect_date_format,
    read_table,
    write_rejected,
)
from hub.hotel.csv_schemas import (
    GENERIC,
    HOTEL_BOOKING_DEMAND,
    Layout,
    RowError,
    dataset_ref,
    date_columns,
    layout,
    parser_for,
)
from hub.hotel.records import HotelAction, record
from hub.hotel.validation import HOLDING_STATUSES
from hub.tables import (
    Booking,
    BookingAttributes,
    Employee,
    Guest,
    Room,
    RoomType,
    ShiftSchedule,
    utcnow,
)

CHUNK = 1000
Progress = Callable[[str, int, int], None]


@dataclass
class ImportResult:
    kind: str
    schema: str
    delimiter: str
    date_format: str | None
    rows: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    rejected_csv: str | None = None
    committed: bool = False
    extra: dict[str, int] = field(default_factory=dict)


class ImportRefused(ValueError):
    """Bad rows without ``skip_bad_rows``: nothing was written; ``result.rejected`` names
    each row (line, reason)."""

    def __init__(self, result: ImportResult) -> None:
        count = len(result.rejected)
        first = result.rejected[0] if result.rejected else (0, "")
        super().__init__(
            f"{count} bad row{'s' if count != 1 else ''} (first: line {first[0]}: {first[1]}); "
            "nothing was imported"
        )
        self.result = result


@dataclass
class _Parsed:
    found: Layout
    delimiter: str
    header: list[str]
    fmt: DateFormat | None
    good: list[tuple[int, dict[str, Any]]]
    cells: dict[int, list[str]]
    bad: dict[int, str]


def _noop(_stage: str, _done: int, _total: int) -> None:
    return None


def parse_file(
    kind: str,
    data: bytes,
    *,
    date_format: str | None = None,
    mapping: Mapping[str, str] | None = None,
) -> _Parsed:
    """Decode, lay out, detect the date format and type every row (pure)."""
    table = read_table(decode(data))
    found = layout(kind, table.header, mapping)
    date_names = [n for n in date_columns(found) if n in found.index]
    fmt: DateFormat | None = None
    if date_names:
        positions = [found.index[n] for n in date_names]
        samples = (
            value
            for _line, cells in table.rows
            for i in positions
            if i < len(cells) and (value := cell(cells[i])) is not None
        )
        fmt = detect_date_format(samples, date_format)
    parse = parser_for(found)
    good: list[tuple[int, dict[str, Any]]] = []
    bad: dict[int, str] = {}
    cells_of: dict[int, list[str]] = {}
    seen: Counter[str] = Counter()
    for line, cells in table.rows:
        cells_of[line] = cells
        if len(cells) > len(table.header):
            bad[line] = f"{len(cells)} cells, the header has {len(table.header)}"
            continue
        try:
            rec = parse(found.values(cells), fmt or "iso")
        except RowError as err:
            bad[line] = str(err)
            continue
        if found.schema == HOTEL_BOOKING_DEMAND:
            if rec["booking_ref"] is None:
                key = "\x1f".join(c.strip() for c in cells)
                seen[key] += 1
                rec["booking_ref"] = dataset_ref(cells, seen[key])
            rec["guest_ref"] = f"G-{rec['booking_ref']}"[:32]
        good.append((line, rec))
    return _Parsed(found, table.delimiter, table.header, fmt, good, cells_of, bad)


def _duplicates(parsed: _Parsed, key: Callable[[dict[str, Any]], Any], what: str) -> None:
    first: dict[Any, int] = {}
    keep: list[tuple[int, dict[str, Any]]] = []
    for line, rec in parsed.good:
        k = key(rec)
        if k in first:
            parsed.bad[line] = f"{what} {k!r} repeats line {first[k]}"
            continue
        first[k] = line
        keep.append((line, rec))
    parsed.good = keep


def _table(model: type[SQLModel]) -> Table:
    """The model's Core table: a Core executemany is one batched statement per chunk, where the
    ORM's bulk insert goes row by row."""
    table: Table = model.metadata.tables[str(model.__tablename__)]
    return table


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


async def import_csv(
    sessions: SessionFactory,
    kind: str,
    data: bytes,
    *,
    actor: str,
    cipher: PiiCipher,
    date_format: str | None = None,
    mapping: Mapping[str, str] | None = None,
    skip_bad_rows: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Imports one file; raises CsvFormatError (the file as a whole) or ImportRefused."""
    report = progress or _noop
    parsed = parse_file(kind, data, date_format=date_format, mapping=mapping)
    total = len(parsed.good) + len(parsed.bad)
    report("parsed", total, total)
    keys: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
        "rooms": (lambda r: r["room_number"], "room_number"),
        "employees": (lambda r: r["employee_id"], "employee_id"),
        "bookings": (lambda r: r["booking_ref"], "booking_id"),
        "shifts": (
            lambda r: (r["employee_id"], r["weekday"], r["shift_date"], r["start_time"]),
            "shift",
        ),
    }
    key, what = keys[kind]
    _duplicates(parsed, key, what)
    result = ImportResult(
        kind=kind,
        schema=parsed.found.schema,
        delimiter=parsed.delimiter,
        date_format=parsed.fmt,
        rows=total,
    )
    async with sessions() as session:
        connection = await session.connection()
        if connection.dialect.name == "postgresql":
            # the lookups by key (IN lists) must be planned with the rows this import adds,
            # not with a plan cached while the table was empty
            await connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
        apply = {
            "rooms": _rooms,
            "employees": _employees,
            "shifts": _shifts,
            "bookings": _bookings,
        }[kind]
        await apply(session, parsed, result, cipher, skip_bad_rows, report)
        result.rejected = sorted(parsed.bad.items())
        if result.rejected and not skip_bad_rows:
            await session.rollback()
            raise ImportRefused(result)
        if result.rejected:
            result.rejected_csv = write_rejected(
                parsed.header,
                [(line, parsed.cells[line], reason) for line, reason in result.rejected],
            )
        record(
            session,
            actor,
            HotelAction(f"import.{kind}"),
            f"import:{kind}",
            {
                "rows": result.rows,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "rejected": len(result.rejected),
            },
        )
        await session.commit()
    result.committed = True
    report("committed", total, total)
    return result


def _changed(row: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: value
        for name, value in values.items()
        if value is not None and getattr(row, name) != value
    }


# -- rooms, employees, shifts (small files: row by row) --------------------------------------------


async def _rooms(
    session: AsyncSession,
    parsed: _Parsed,
    result: ImportResult,
    _cipher: PiiCipher,
    skip: bool,
    report: Progress,
) -> None:
    types = {t.code: t for t in (await session.exec(select(RoomType))).all()}
    rooms = {r.room_number: r for r in (await session.exec(select(Room))).all()}
    created_types = 0
    if parsed.bad and not skip:
        return
    for done, (_line, rec) in enumerate(parsed.good, start=1):
        room_type = types.get(rec["room_type"])
        if room_type is None:
            room_type = RoomType(
                code=rec["room_type"],
                name=rec["room_type"],
                capacity=rec["capacity"] or 2,
                rack_rate=rec["base_rate"] or Decimal(0),
            )
            session.add(room_type)
            types[room_type.code] = room_type
            created_types += 1
        existing = rooms.get(rec["room_number"])
        if existing is None:
            session.add(
                Room(
                    **rec
                    | {
                        "capacity": rec["capacity"] or room_type.capacity,
                        "base_rate": rec["base_rate"]
                        if rec["base_rate"] is not None
                        else room_type.rack_rate,
                    }
                )
            )
            result.created += 1
        elif changes := _changed(existing, rec):
            for name, value in changes.items():
                setattr(existing, name, value)
            existing.updated_at = utcnow()
            session.add(existing)
            result.updated += 1
        else:
            result.unchanged += 1
        if done % CHUNK == 0:
            report("rooms", done, len(parsed.good))
    result.extra["room_types_created"] = created_types


async def _employees(
    session: AsyncSession,
    parsed: _Parsed,
    result: ImportResult,
    _cipher: PiiCipher,
    skip: bool,
    report: Progress,
) -> None:
    if parsed.bad and not skip:
        return
    ids = [rec["employee_id"] for _line, rec in parsed.good]
    existing: dict[str, Employee] = {}
    for chunk in _chunks(ids):
        rows = await session.exec(select(Employee).where(col(Employee.employee_id).in_(chunk)))
        existing.update({e.employee_id: e for e in rows.all()})
    for done, (_line, rec) in enumerate(parsed.good, start=1):
        row = existing.get(rec["employee_id"])
        if row is None:
            session.add(Employee(**rec))
            result.created += 1
        elif changes := _changed(row, rec):
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            session.add(row)
            result.updated += 1
        else:
            result.unchanged += 1
        if done % CHUNK == 0:
            report("employees", done, len(parsed.good))


async def _shifts(
    session: AsyncSession,
    parsed: _Parsed,
    result: ImportResult,
    _cipher: PiiCipher,
    skip: bool,
    report: Progress,
) -> None:
    known = set((await session.exec(select(Employee.employee_id))).all())
    keep: list[tuple[int, dict[str, Any]]] = []
    for line, rec in parsed.good:
        if rec["employee_id"] not in known:
            parsed.bad[line] = f"employee_id: no employee {rec['employee_id']!r}"
        else:
            keep.append((line, rec))
    parsed.good = keep
    if parsed.bad and not skip:
        return
    shifts = (await session.exec(select(ShiftSchedule))).all()
    names = ("employee_id", "weekday", "shift_date", "start_time", "end_time")
    by_key = {tuple(getattr(s, n) for n in names): s for s in shifts}
    for done, (_line, rec) in enumerate(parsed.good, start=1):
        row = by_key.get(tuple(rec[n] for n in names))
        if row is None:
            session.add(ShiftSchedule(**rec))
            result.created += 1
        elif rec["grace_minutes"] is not None and row.grace_minutes != rec["grace_minutes"]:
            row.grace_minutes = rec["grace_minutes"]
            row.updated_at = utcnow()
            session.add(row)
            result.updated += 1
        else:
            result.unchanged += 1
        if done % CHUNK == 0:
            report("shifts", done, len(parsed.good))


# -- bookings (bulk) ------------------------------------------------------------------------------

_COMPARED = (
    "check_in_date",
    "check_out_date",
    "room_type",
    "rate_per_night",
    "total_amount",
    "currency",
    "channel",
    "segment",
    "deposit",
    "status",
    "adults",
    "children",
)


def _at(day: date | None, hour: int) -> datetime | None:
    return None if day is None else datetime.combine(day, time(hour), tzinfo=UTC)


async def _ids_by(
    session: AsyncSession, column: Any, key_column: Any, keys: Sequence[str]
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for chunk in _chunks(keys):
        rows = await session.exec(select(key_column, column).where(key_column.in_(chunk)))
        found.update(dict(rows.all()))
    return found


async def _insert_returning(
    session: AsyncSession, table: Table, key: str, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """Inserts ``rows`` in batches; their ids by ``key`` (RETURNING: no read-back query)."""
    ids: dict[str, Any] = {}
    statement = insert(table).returning(table.c[key], table.c.id)
    for chunk in _chunks(rows):
        written = await session.exec(statement, params=list(chunk))
        ids.update(dict(written.all()))
    return ids


def _check_rooms(
    parsed: _Parsed,
    rooms: dict[str, tuple[int, str]],
    held: dict[int, list[tuple[date, date, str, int]]],
) -> None:
    """Unknown rooms, type mismatches and double bookings (in the file or with the database)."""
    keep: list[tuple[int, dict[str, Any]]] = []
    for line, rec in parsed.good:
        number = rec["room_number"]
        if number is None:
            keep.append((line, rec))
            continue
        if number not in rooms:
            parsed.bad[line] = f"room_number: no room {number!r}"
            continue
        room_id, room_type = rooms[number]
        if rec["room_type"] is not None and rec["room_type"] != room_type:
            parsed.bad[line] = f"room_type: room {number} is a {room_type}, not {rec['room_type']}"
            continue
        rec["room_type"] = room_type
        rec["room_id"] = room_id
        if rec["status"] in HOLDING_STATUSES:
            held[room_id].append(
                (rec["check_in_date"], rec["check_out_date"], rec["booking_ref"], line)
            )
        keep.append((line, rec))
    parsed.good = keep
    for stays in held.values():
        stays.sort()
        latest: tuple[date, str, int] | None = None
        for check_in, check_out, ref, line in stays:
            if latest is not None and check_in < latest[0] and line > 0:
                where = f"line {latest[2]}" if latest[2] > 0 else "the database"
                parsed.bad[line] = (
                    f"room_number: the room is booked by {latest[1]} ({where}) on a night "
                    f"from {check_in} to {check_out}"
                )
                continue
            if latest is None or check_out > latest[0]:
                latest = (check_out, ref, line)
    bad = set(parsed.bad)
    parsed.good = [(line, rec) for line, rec in parsed.good if line not in bad]


async def _bookings(
    session: AsyncSession,
    parsed: _Parsed,
    result: ImportResult,
    cipher: PiiCipher,
    skip: bool,
    report: Progress,
) -> None:
    refs = [rec["booking_ref"] for _line, rec in parsed.good]
    existing: dict[str, Any] = {}
    table = _table(Booking)
    columns = [table.c[name] for name in ("id", "booking_ref", "room_id", *_COMPARED)]
    for chunk in _chunks(refs):  # plain rows, not ORM objects: a re-import reads them all
        rows = await session.exec(select(*columns).where(table.c.booking_ref.in_(chunk)))
        existing.update({b.booking_ref: b for b in rows.all()})
    report("bookings read", len(existing), len(refs))
    rooms: dict[str, tuple[int, str]] = {
        number: (int(room_id or 0), room_type)
        for room_id, number, room_type in (
            await session.exec(select(col(Room.id), col(Room.room_number), col(Room.room_type)))
        ).all()
    }
    held: dict[int, list[tuple[date, date, str, int]]] = defaultdict(list)
    used_rooms = {rooms[r["room_number"]][0] for _l, r in parsed.good if r["room_number"] in rooms}
    if used_rooms:
        others = await session.exec(
            select(
                col(Booking.room_id),
                col(Booking.check_in_date),
                col(Booking.check_out_date),
                col(Booking.booking_ref),
            )
            .where(col(Booking.room_id).in_(used_rooms))
            .where(col(Booking.status).in_(HOLDING_STATUSES))
        )
        file_refs = set(refs)
        for room_id, check_in, check_out, ref in others.all():
            if ref not in file_refs and room_id is not None:
                held[room_id].append((check_in, check_out, ref, 0))
    _check_rooms(parsed, rooms, held)
    if parsed.bad and not skip:
        return

    guest_refs = sorted({rec["guest_ref"] for _line, rec in parsed.good})
    guests = await _ids_by(session, Guest.id, col(Guest.guest_ref), guest_refs)
    now = utcnow()
    new_guests = []
    firsts: dict[str, dict[str, Any]] = {}
    for _line, rec in parsed.good:
        firsts.setdefault(rec["guest_ref"], rec)
    for ref in guest_refs:
        if ref in guests:
            continue
        rec = firsts[ref]
        email = rec["guest_email"]
        new_guests.append(
            {
                "guest_ref": ref,
                "full_name": rec["guest_name"] or f"Guest {ref}",
                "email": email,
                "email_bidx": cipher.blind_index(email) if email else None,
                "vip": False,
                "created_at": now,
                "updated_at": now,
            }
        )
    guests.update(await _insert_returning(session, _table(Guest), "guest_ref", new_guests))
    result.extra["guests_created"] = len(new_guests)
    report("guests", len(guest_refs), len(guest_refs))

    new_rows: list[dict[str, Any]] = []
    attributes: dict[str, dict[str, Any]] = {}
    for done, (_line, rec) in enumerate(parsed.good, start=1):
        values = {name: rec[name] for name in _COMPARED}
        values["room_id"] = rec.get("room_id")
        row = existing.get(rec["booking_ref"])
        if row is None:
            status = rec["status"]
            booked = _at(rec.get("booked_on"), 10) or now
            new_rows.append(
                values
                | {
                    "booking_ref": rec["booking_ref"],
                    "guest_id": guests[rec["guest_ref"]],
                    "checked_in_at": _at(rec["check_in_date"], 14)
                    if status in ("checked_in", "checked_out")
                    else None,
                    "checked_out_at": _at(rec["check_out_date"], 11)
                    if status == "checked_out"
                    else None,
                    "created_at": booked,
                    "updated_at": _at(rec.get("status_on"), 12) or booked,
                }
            )
            if rec["attributes"] is not None:
                attributes[rec["booking_ref"]] = rec["attributes"]
        elif changes := {
            name: value
            for name, value in values.items()
            if getattr(row, name) != value and not (name == "room_id" and value is None)
        }:
            await session.exec(
                update(Booking)
                .where(col(Booking.id) == row.id)
                .values(**changes, updated_at=utcnow())
            )
            result.updated += 1
        else:
            result.unchanged += 1
        if done % 10_000 == 0:
            report("bookings", done, len(parsed.good))
    report("writing", 0, len(new_rows))
    ids = await _insert_returning(session, _table(Booking), "booking_ref", new_rows)
    result.created = len(new_rows)
    if attributes:
        attribute_rows = [attrs | {"booking_id": ids[ref]} for ref, attrs in attributes.items()]
        for chunk in _chunks(attribute_rows):
            await session.exec(insert(_table(BookingAttributes)), params=list(chunk))


__all__ = ["GENERIC", "CsvFormatError", "ImportRefused", "ImportResult", "import_csv"]
