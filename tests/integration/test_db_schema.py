"""The hub's start (``init_db``) under Alembic: a new database gets the migrations and every
table and column the models need; a database older than the first migration and one written by
a newer release are refused with what is wrong, and left as they were; concurrent starts agree."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine as create_sync_engine

from hub.db import SchemaMismatchError, _missing_from_models, create_engine, init_db
from hub.schema import DatabaseNewerError, SchemaState, head_revision, inspect_schema

pytestmark = pytest.mark.integration


async def _init(url: str) -> SchemaState:
    engine = create_engine(url)
    try:
        return await init_db(engine)
    finally:
        await engine.dispose()


def _tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _dump(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())


def test_an_older_database_is_refused_with_the_missing_columns(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    with sqlite3.connect(db) as conn:  # ocr_results as an earlier version made it
        conn.execute(
            "CREATE TABLE ocr_results (id INTEGER PRIMARY KEY, image_id INTEGER, "
            "guest_id INTEGER, document_type VARCHAR(32), text TEXT, fields JSON)"
        )
    with pytest.raises(SchemaMismatchError) as caught:
        asyncio.run(_init(f"sqlite+aiosqlite:///{db}"))
    message = str(caught.value)
    assert "ocr_results.personal_fields" in message
    assert "ocr_results.document_type" not in message
    assert "Back up the database" in message
    assert _tables(db) == {"ocr_results"}  # not stamped, nothing created
    assert not list(tmp_path.glob("hub.db.pre-*"))


def test_a_new_database_is_migrated_and_starts_twice(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    url = f"sqlite+aiosqlite:///{db}"
    state = asyncio.run(_init(url))
    assert state.current == head_revision()
    again = asyncio.run(_init(url))  # nothing pending, nothing missing
    assert again == state
    engine = create_sync_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            assert _missing_from_models(conn) == []
            assert inspect_schema(conn).pending == []
    finally:
        engine.dispose()
    assert not list(tmp_path.glob("hub.db.pre-*"))  # a new database needs no copy


def test_a_database_of_a_newer_release_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    url = f"sqlite+aiosqlite:///{db}"
    asyncio.run(_init(url))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0999_from_the_future'")
    before = _dump(db)
    with pytest.raises(DatabaseNewerError) as caught:
        asyncio.run(_init(url))
    message = str(caught.value)
    assert "0999_from_the_future" in message
    assert "newer innsight release" in message
    assert _dump(db) == before  # not a row or table changed
    assert not list(tmp_path.glob("hub.db.pre-*"))


def test_concurrent_starts_on_one_new_database_agree(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"

    async def both() -> list[SchemaState]:
        return list(await asyncio.gather(_init(url), _init(url), _init(url)))

    states = asyncio.run(both())
    assert {state.current for state in states} == {head_revision()}


def test_a_failing_migration_step_leaves_nothing_behind(tmp_path: Path) -> None:
    """Migrations run in one transaction, on SQLite too: a step that fails half-way (here after
    creating a table and adding a row) is rolled back whole; foreign keys are back on after."""
    from sqlalchemy import Connection, text

    from hub.db import _run_locked

    db = tmp_path / "hub.db"
    url = f"sqlite+aiosqlite:///{db}"
    asyncio.run(_init(url))

    def half_done(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE half_made (id INTEGER PRIMARY KEY)"))
        conn.execute(
            text(
                "INSERT INTO rooms (room_number, room_type, floor, status, capacity, "
                "base_rate, amenities, created_at, updated_at) VALUES "
                "('999', 'single', 9, 'available', 1, 0, '[]', "
                "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
        raise RuntimeError("the step failed")

    async def run() -> int:
        engine = create_engine(url)
        try:
            with pytest.raises(RuntimeError, match="the step failed"):
                await _run_locked(engine, half_done)
            async with engine.connect() as conn:
                return int((await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one())
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == 1
    assert "half_made" not in _tables(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM rooms").fetchone()[0] == 0
