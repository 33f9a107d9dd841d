"""The audit trail's hash chain (issue 17): every ``audit_log`` row carries its place in the
chain (``seq``), the previous row's hash and its own hash over its fields and that previous
hash, so an edited, deleted or inserted row breaks the chain at that row.

Appends are serialised on the one ``audit_chain`` row (the chain's head: last seq and hash):
each insert first takes that row's write lock (``INSERT ... ON CONFLICT DO NOTHING`` then an
``UPDATE``; a row lock held to the commit on PostgreSQL, the database's write lock on SQLite),
reads the head, and moves it on, all in the inserting transaction. Two concurrent writers
therefore never fork the chain; ``seq`` is also unique, so a fork could not be stored anyway.
The head also catches rows deleted from the end of the chain.

Hooked to ``audit_log`` inserts as a mapper event (:func:`chain_on_insert`, registered by
``hub.tables``), so every writer of :class:`~hub.tables.AuditLog` rows is chained, not only
:func:`hub.audit.audit`. This module imports no hub module (``hub.tables`` imports it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

GENESIS = "0" * 64
HEAD_ID = 1


def canonical_time(at: datetime) -> str:
    if at.tzinfo is None:  # SQLite hands naive UTC back to raw readers
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _plain(value: Any) -> Any:
    """JSON values as any database hands them back: a whole float as an int (PostgreSQL's
    JSONB answers 1e20 as 100000000000000000000), tuples as lists."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def row_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    detail: Mapping[str, Any] | None,
    prev_hash: str,
) -> str:
    """SHA-256 over the row's fields (canonical JSON) and the previous row's hash."""
    body = json.dumps(
        [seq, canonical_time(at), actor, action, target, _plain(detail or {}), prev_hash],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    )
    return hashlib.sha256(body.encode("ascii")).hexdigest()


_CLAIM_HEAD = text(
    "INSERT INTO audit_chain (id, seq, hash) VALUES (:id, 0, :genesis) ON CONFLICT (id) DO NOTHING"
)
_TOUCH_HEAD = text("UPDATE audit_chain SET seq = seq WHERE id = :id")
_READ_HEAD = text("SELECT seq, hash FROM audit_chain WHERE id = :id")
_LOCK_HEAD = text("SELECT seq, hash FROM audit_chain WHERE id = :id FOR UPDATE")
_MOVE_HEAD = text("UPDATE audit_chain SET seq = :seq, hash = :hash WHERE id = :id")


def _lock_head(connection: Connection) -> tuple[int, str]:
    """Takes the chain's write lock (held to the end of the transaction); its seq and hash.
    PostgreSQL: the head row's lock (a concurrent first insert waits on the other's); SQLite:
    the first write takes the database's write lock, which FOR UPDATE could not add to."""
    connection.execute(_CLAIM_HEAD, {"id": HEAD_ID, "genesis": GENESIS})
    if connection.dialect.name == "postgresql":
        row = connection.execute(_LOCK_HEAD, {"id": HEAD_ID}).one()
    else:
        connection.execute(_TOUCH_HEAD, {"id": HEAD_ID})
        row = connection.execute(_READ_HEAD, {"id": HEAD_ID}).one()
    return int(row[0]), str(row[1])


def chain_on_insert(_mapper: Any, connection: Connection, target: Any) -> None:
    """SQLAlchemy ``before_insert`` hook of ``audit_log``: sets seq, prev_hash and hash, and
    moves the head on, in the inserting transaction."""
    seq, prev = _lock_head(connection)
    seq += 1
    target.seq = seq
    target.prev_hash = prev
    target.hash = row_hash(
        seq=seq,
        at=target.at,
        actor=target.actor,
        action=target.action,
        target=target.target,
        detail=target.detail,
        prev_hash=prev,
    )
    connection.execute(_MOVE_HEAD, {"seq": seq, "hash": target.hash, "id": HEAD_ID})


# -- verification ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainRow:
    id: int
    seq: int | None
    at: datetime
    actor: str
    action: str
    target: str
    detail: Mapping[str, Any] | None
    prev_hash: str | None
    hash: str | None


@dataclass(frozen=True, slots=True)
class ChainReport:
    rows: int
    unchained: int  # rows written before the chain existed (no seq): not verifiable
    head_seq: int
    head_hash: str
    problem: str | None  # the first bad row, in words; None: the chain is intact
    bad_row_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_chain(rows: Iterable[ChainRow], head: tuple[int, str] | None) -> ChainReport:
    """Walks the rows in chain order (``seq``) and names the first that breaks it: a hash that
    does not match the row's fields (edited), a seq gap or a previous hash that is not the
    row before's (deleted or inserted), or a head past the last row (deleted at the end)."""
    ordered = sorted(rows, key=lambda r: (r.seq is None, r.seq or 0, r.id))
    chained = [r for r in ordered if r.seq is not None]
    unchained = len(ordered) - len(chained)
    head_seq, head_hash = head if head is not None else (0, GENESIS)

    def report(problem: str | None, bad: int | None = None) -> ChainReport:
        return ChainReport(len(ordered), unchained, head_seq, head_hash, problem, bad)

    prev = GENESIS
    expected = 1
    for row in chained:
        where = f"audit_log row id {row.id} (seq {row.seq})"
        if row.seq != expected:
            return report(
                f"{where}: seq {expected}"
                + (f"..{row.seq - 1}" if row.seq and row.seq - 1 > expected else "")
                + " missing before it (rows deleted)"
                if row.seq is not None and row.seq > expected
                else f"{where}: seq {row.seq} appears twice or out of order (rows inserted)",
                row.id,
            )
        if row.prev_hash != prev:
            return report(f"{where}: its previous hash is not the hash of the row before", row.id)
        recomputed = row_hash(
            seq=row.seq,
            at=row.at,
            actor=row.actor,
            action=row.action,
            target=row.target,
            detail=row.detail,
            prev_hash=prev,
        )
        if row.hash != recomputed:
            return report(f"{where}: its fields do not match its hash (row edited)", row.id)
        prev = row.hash
        expected += 1
    last = expected - 1
    if head is not None and head_seq != last:
        return report(
            f"the chain's head is at seq {head_seq} but the last row is seq {last}: "
            f"rows {last + 1}..{head_seq} deleted"
            if head_seq > last
            else f"the chain's head is at seq {head_seq}, behind its last row seq {last}"
        )
    if head is not None and head_hash != prev:
        return report(f"the chain's head hash is not the hash of its last row (seq {last})")
    if head is None and chained:
        return report("the chain's head row (audit_chain) is missing")
    return report(None)
