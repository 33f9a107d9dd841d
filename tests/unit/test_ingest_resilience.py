"""Pure parts of the ingest's resilience (issue 14): what counts as transient, what is stored
as the database's reason, the dead-letter alarm."""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from hub.ingest import DeadLetterAlarm, database_reason, is_transient, storable
from hub.storage import StorageError


def test_transient_errors_are_the_unavailable_database() -> None:
    assert is_transient(OperationalError("INSERT", {}, sqlite3.OperationalError("locked")))
    assert is_transient(ConnectionRefusedError())
    assert is_transient(TimeoutError())
    assert is_transient(StorageError("bucket unreachable"))
    assert not is_transient(IntegrityError("INSERT", {}, sqlite3.IntegrityError("CHECK")))
    assert not is_transient(StatementError("bad", "INSERT", {}, OverflowError("year 0")))
    assert not is_transient(ValueError("no"))


def test_the_database_reason_has_no_sql_and_no_parameters() -> None:
    err = IntegrityError(
        "INSERT INTO events VALUES (?)", {"secret": 1}, sqlite3.IntegrityError("refused: x\ny")
    )
    reason = database_reason(err)
    assert reason == "IntegrityError: refused: x"
    assert "INSERT" not in reason
    assert database_reason(OverflowError()) == "OverflowError"


def test_storable_text_escapes_nul_and_lone_surrogates() -> None:
    assert storable("a\x00b", 100) == "a\\x00b"
    assert storable("a\ud800b", 100) == "a\\ud800b"
    assert storable("x" * 50, 10) == "x" * 10
    storable("\ud800" * 5, 100).encode("utf-8")


def test_alarm_fires_once_per_device_and_window() -> None:
    alarm = DeadLetterAlarm(threshold=10, window_s=60.0)
    assert alarm.record("edge-1", 9, now=0.0) is None
    assert alarm.record("edge-1", 1, now=1.0) == 10
    assert alarm.record("edge-1", 50, now=2.0) is None  # once per window
    assert alarm.record("edge-2", 3, now=2.0) is None
    assert alarm.noisy(now=2.0) == 1
    assert alarm.noisy(now=61.0) == 0  # the window is over
    assert alarm.record("edge-1", 10, now=61.0) == 10  # a new window alerts again
