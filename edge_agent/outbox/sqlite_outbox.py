"""The edge outbox: a durable SQLite queue of event messages (DESIGN §2, end-to-end ack).

Every event the pipeline emits is given the device's next ``seq`` and written here, in one
transaction, before anything is sent. A row leaves the table only when the hub acks its seq
on ``innsight/{site}/{device}/acks``; rows sent but not acked are re-sent after a timeout.

Durability
    WAL journal with ``synchronous=FULL``: a commit is on disk when ``enqueue`` returns, so a
    pulled power cord loses nothing that was enqueued. One connection, guarded by a lock, is
    shared by the pipeline thread (enqueue) and the transport/drain threads (due, ack, ...).

Sequence numbers
    ``meta.next_seq`` rises by one per message and never goes backwards: it is kept in its own
    table, so it survives every row being acked and deleted, and a reopen.

Disk budget (``max_bytes``, 2 GiB by default)
    The budget counts the bytes of stored messages (payload + topic); SQLite's page overhead
    comes on top (a few percent), and the file keeps its high-water size (free pages are reused,
    not returned). When an enqueue takes the outbox over budget, rows are dropped until it is
    back under ``low_water`` (90 % of the budget, so drops come in batches, not one per event):

    1. the oldest ``face`` events first;
    2. only when no face event is left, the oldest alarms (``anomaly`` and ``camera`` share
       one priority). An alarm is never dropped while a face event remains.

    Every drop is counted in ``meta.dropped`` (persistent, reported in the heartbeat) and logged
    as a warning. The hub sees a drop as a gap in the device's seqs, never as silence.

Refusals
    A message the hub refuses for good (its ack's ``refused`` list: the contract or the database
    can never take it) is dropped by :meth:`SqliteOutbox.refuse`, logged as a warning with its
    seq and reason, and counted in ``meta.refused`` (persistent, ``refused_events`` in the
    heartbeat): never re-sent forever, never dropped silently.

Times are wall-clock unix seconds (``time.time``): monotonic clocks restart on reboot, and the
outbox outlives reboots.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Final

from sqlite_utils import Database

from contracts.messages import MAX_EVENT_BYTES, EventEnvelope, EventKind, seqs_to_ranges
from contracts.topics import event_topic
from edge_agent.domain.events import PendingEvent
from edge_agent.ports import OutboxRow

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES: Final = 2 * 1024**3
# Drop priority: lower goes first. Alarms outrank faces.
PRIORITY: Final[dict[EventKind, int]] = {
    EventKind.FACE: 0,
    EventKind.ANOMALY: 1,
    EventKind.CAMERA: 1,
}
_CHUNK: Final = 500  # bound on SQL variables per statement
# What one row counts against the budget, in SQL; enqueue counts the same in Python.
_ROW_BYTES: Final = "length(payload) + length(CAST(topic AS BLOB))"
_META_KEYS: Final = ("next_seq", "dropped", "stored_bytes", "refused")
# Refusals logged one by one per call; beyond that, a summary line.
_REFUSALS_LOGGED: Final = 20


class EventTooLargeError(ValueError):
    """The envelope is over ``MAX_EVENT_BYTES``: the hub would refuse it. Send the snapshot by
    reference (or without one) instead. No seq is consumed."""


class SqliteOutbox:
    """:class:`edge_agent.ports.Outbox` on SQLite (sqlite-utils over sqlite3)."""

    def __init__(
        self,
        path: Path,
        device_id: str,
        site: str,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        low_water: float = 0.9,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if not 0.0 < low_water <= 1.0:
            raise ValueError("low_water must be in (0, 1]")
        # Validates both ids (they travel in topics) before any file is touched.
        event_topic(site, device_id, EventKind.FACE)
        self._device_id = device_id
        self._site = site
        self._max_bytes = max_bytes
        self._low_water_bytes = int(max_bytes * low_water)
        self._clock = clock
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
        self._db = Database(conn, execute_plugins=False)
        self._closed = False
        try:
            self._setup()
        except BaseException:
            conn.close()
            raise

    # -- schema ---------------------------------------------------------------------------

    def _setup(self) -> None:
        db = self._db
        db.enable_wal()
        db.execute("PRAGMA synchronous=FULL")
        with db.atomic():
            db.table("outbox").create(
                {
                    "seq": int,
                    "topic": str,
                    "payload": bytes,
                    "kind": str,
                    "camera_id": str,
                    "priority": int,
                    "created_at": float,
                    "sent_at": float,
                    "attempts": int,
                },
                pk="seq",
                not_null={"topic", "payload", "kind", "camera_id", "priority", "created_at"},
                defaults={"attempts": 0},
                if_not_exists=True,
            )
            db.execute("CREATE INDEX IF NOT EXISTS outbox_priority_seq ON outbox(priority, seq)")
            db.execute("CREATE INDEX IF NOT EXISTS outbox_sent_at ON outbox(sent_at)")
            db.table("meta").create(
                {"key": str, "value": int}, pk="key", not_null={"value"}, if_not_exists=True
            )
            for key in _META_KEYS:
                initial = 1 if key == "next_seq" else 0
                db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, initial))

    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0])

    def _meta_add(self, key: str, delta: int) -> None:
        self._db.execute("UPDATE meta SET value = value + ? WHERE key = ?", (delta, key))

    # -- Outbox protocol ------------------------------------------------------------------

    def enqueue(self, event: PendingEvent) -> EventEnvelope:
        """Give ``event`` the next seq and store it, in one transaction (fsync'd on commit)."""
        with self._lock:
            self._check_open()
            with self._db.atomic():
                return self._enqueue(event)

    def _enqueue(self, event: PendingEvent) -> EventEnvelope:
        seq = self._meta("next_seq")
        envelope = event.to_envelope(self._device_id, seq)
        payload = envelope.to_json_bytes()
        if len(payload) > MAX_EVENT_BYTES:
            raise EventTooLargeError(
                f"event {envelope.event_id} is {len(payload)} bytes > {MAX_EVENT_BYTES}"
            )
        topic = event_topic(self._site, self._device_id, envelope.kind)
        self._db.execute(
            "INSERT INTO outbox(seq, topic, payload, kind, camera_id, priority, created_at,"
            " sent_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 0)",
            (
                seq,
                topic,
                payload,
                envelope.kind.value,
                envelope.camera_id,
                PRIORITY[envelope.kind],
                self._clock(),
            ),
        )
        self._db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (seq + 1,))
        self._meta_add("stored_bytes", len(payload) + len(topic.encode()))
        if self._meta("stored_bytes") > self._max_bytes:
            self._enforce_budget()
        return envelope

    def due(self, now: float, resend_after_s: float, limit: int) -> list[OutboxRow]:
        """Rows never sent, or last sent at least ``resend_after_s`` ago, in seq order."""
        with self._lock:
            self._check_open()
            cursor = self._db.execute(
                "SELECT seq, topic, payload, attempts FROM outbox"
                " WHERE sent_at IS NULL OR sent_at <= ? ORDER BY seq LIMIT ?",
                (now - resend_after_s, limit),
            )
            return [
                OutboxRow(int(seq), str(topic), bytes(payload), int(attempts))
                for seq, topic, payload, attempts in cursor.fetchall()
            ]

    def mark_sent(self, seqs: list[int], now: float) -> None:
        """Record a (re)send of ``seqs`` at ``now``; seqs no longer stored are ignored."""
        with self._lock:
            self._check_open()
            with self._db.atomic():
                for chunk in _chunks(seqs):
                    marks = ",".join("?" * len(chunk))
                    self._db.execute(
                        "UPDATE outbox SET sent_at = ?, attempts = attempts + 1"  # noqa: S608
                        f" WHERE seq IN ({marks})",
                        (now, *chunk),
                    )

    def ack(self, seqs: list[int]) -> int:
        """Release acked rows; returns how many were released. Unknown seqs are harmless."""
        return self.ack_ranges(seqs_to_ranges(seqs))

    def ack_ranges(self, ranges: Sequence[tuple[int, int]]) -> int:
        """Release rows whose seq lies in any inclusive range (as ``AckMessage.ranges``);
        returns how many were released. Ranges over unknown or released seqs are harmless."""
        with self._lock:
            self._check_open()
            with self._db.atomic():
                return sum(self._release(start, end) for start, end in ranges)

    def _release(self, start: int, end: int) -> int:
        count, size = self._db.execute(
            f"SELECT count(*), coalesce(sum({_ROW_BYTES}), 0) FROM outbox"  # noqa: S608
            " WHERE seq BETWEEN ? AND ?",
            (start, end),
        ).fetchone()
        if not count:
            return 0
        self._db.execute("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (start, end))
        self._meta_add("stored_bytes", -int(size))
        return int(count)

    def refuse(self, refusals: Sequence[tuple[int, str]]) -> int:
        """Drop rows the hub refused for good (``(seq, reason)``); returns how many were still
        stored. Each is logged and counted in :meth:`refused`; unknown seqs are harmless."""
        if not refusals:
            return 0
        with self._lock:
            self._check_open()
            with self._db.atomic():
                dropped: list[tuple[int, str]] = []
                for seq, reason in refusals:
                    if self._release(seq, seq):
                        dropped.append((seq, reason))
                if dropped:
                    self._meta_add("refused", len(dropped))
                total = self._meta("refused")
        for seq, reason in dropped[:_REFUSALS_LOGGED]:
            logger.warning(
                "the hub refused event seq %d for good (%s): dropped from the outbox", seq, reason
            )
        if len(dropped) > _REFUSALS_LOGGED:
            logger.warning(
                "... and %d more refused events dropped", len(dropped) - _REFUSALS_LOGGED
            )
        if dropped:
            logger.warning("%d refused event(s) dropped in total", total)
        return len(dropped)

    def refused(self) -> int:
        """Events dropped because the hub refused them for good (persistent)."""
        with self._lock:
            self._check_open()
            return self._meta("refused")

    def depth(self) -> int:
        with self._lock:
            self._check_open()
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def oldest_age_s(self, now: float) -> float | None:
        """Age of the oldest stored message (lowest seq), or None when the outbox is empty."""
        with self._lock:
            self._check_open()
            row = self._db.execute("SELECT created_at FROM outbox ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else max(0.0, now - float(row[0]))

    # -- extras (drainer, heartbeat, tests) ----------------------------------------------

    def in_flight(self) -> int:
        """Rows sent at least once and not yet acked (the drainer's unacked window)."""
        with self._lock:
            self._check_open()
            return int(
                self._db.execute(
                    "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL"
                ).fetchone()[0]
            )

    def dropped(self) -> int:
        """Events dropped by the disk budget since the outbox was created (persistent)."""
        with self._lock:
            self._check_open()
            return self._meta("dropped")

    def last_seq(self) -> int:
        """The last seq handed out (0 before the first message)."""
        with self._lock:
            self._check_open()
            return self._meta("next_seq") - 1

    def stored_bytes(self) -> int:
        """Message bytes counted against ``max_bytes``."""
        with self._lock:
            self._check_open()
            return self._meta("stored_bytes")

    def seqs(self) -> list[int]:
        """Every stored seq, ascending (diagnostics and tests)."""
        with self._lock:
            self._check_open()
            return [int(r[0]) for r in self._db.execute("SELECT seq FROM outbox ORDER BY seq")]

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    # -- internals ------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"outbox {self.path} is closed")

    def _enforce_budget(self) -> None:
        """Drop rows (faces first, oldest first) until under low water. Caller holds the
        lock and an open transaction."""
        stored = self._meta("stored_bytes")
        victims: list[int] = []
        kinds: dict[str, int] = {}
        freed = 0
        last_key = (-1, 0)
        while stored - freed > self._low_water_bytes:
            rows = self._db.execute(
                f"SELECT priority, seq, kind, {_ROW_BYTES} FROM outbox"  # noqa: S608
                " WHERE (priority, seq) > (?, ?) ORDER BY priority, seq LIMIT ?",
                (*last_key, _CHUNK),
            ).fetchall()
            if not rows:
                break
            for priority, seq, kind, size in rows:
                if stored - freed <= self._low_water_bytes:
                    break
                victims.append(int(seq))
                kinds[kind] = kinds.get(kind, 0) + 1
                freed += int(size)
                last_key = (int(priority), int(seq))
        if not victims:
            return
        for chunk in _chunks(victims):
            marks = ",".join("?" * len(chunk))
            self._db.execute(
                f"DELETE FROM outbox WHERE seq IN ({marks})",  # noqa: S608 - placeholders only
                chunk,
            )
        self._meta_add("stored_bytes", -freed)
        self._meta_add("dropped", len(victims))
        logger.warning(
            "outbox over its %d-byte budget: dropped %d oldest events (%s), %d dropped in total",
            self._max_bytes,
            len(victims),
            ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())),
            self._meta("dropped"),
        )


def _chunks(values: Iterable[int]) -> Iterable[list[int]]:
    chunk: list[int] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
