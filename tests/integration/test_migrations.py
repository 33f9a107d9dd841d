"""A hotel's database written by release 0.1's own code (tests/fixtures/hub-db-0.1.sqlite: every
table has rows, personal fields encrypted) upgrades to this release's head on SQLite and on
PostgreSQL with every row kept and every encrypted field still decrypting; the newest revision
downgrades and upgrades again. Nothing here depends on the working tree's models: rows are read
raw (reflected tables) and decrypted with the fixture's key."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text

from hub.db import apply_migrations, create_engine
from hub.schema import (
    BASELINE_REVISION,
    head_revision,
    inspect_schema,
    scratch_sqlite,
    script_directory,
    sync_url,
    upgrade,
)
from hub.schema import downgrade as downgrade_schema
from testkit.db_fixture import (
    FIXTURE_DB,
    FixtureExpectations,
    Snapshot,
    copy_fixture,
    copy_rows_to_postgres,
    expectations,
    schema_shape,
    snapshot,
)
from testkit.postgres import PostgresServer

pytestmark = pytest.mark.integration


async def _migrate(url: str, target: str = "head") -> None:
    engine = create_engine(url)
    try:
        await apply_migrations(engine, target=target)
    finally:
        await engine.dispose()


def _read(url: str) -> tuple[Snapshot, dict[str, Any], str | None]:
    engine = create_sync_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return snapshot(conn), schema_shape(conn), inspect_schema(conn).current
    finally:
        engine.dispose()


def _assert_rows_kept(before: Snapshot, after: Snapshot) -> None:
    for table, rows in before.items():
        assert table in after, f"table {table} lost"
        assert len(after[table]) == len(rows), (
            f"{table}: {len(rows)} rows became {len(after[table])}"
        )
        for old, new in zip(rows, after[table], strict=True):
            common = set(old) & set(new)
            assert {k: old[k] for k in common} == {k: new[k] for k in common}, table


def _assert_fixture_rows(rows: Snapshot, expect: FixtureExpectations) -> None:
    assert {table: len(found) for table, found in rows.items() if table in expect.rows} == (
        expect.rows
    )
    assert all(count > 0 for count in expect.rows.values())
    checked = 0
    for table, columns in expect.encrypted.items():
        for column, plaintexts in columns.items():
            stored = [row[column] for row in rows[table]]
            assert not set(stored) & set(plaintexts), f"{table}.{column} stored in clear"
            assert sorted(expect.cipher.decrypt(value) for value in stored) == sorted(plaintexts)
            checked += 1
    assert checked >= 10  # employees, guests, OCR, housekeeping, assistant, ...


def _fresh_shape() -> dict[str, Any]:
    with scratch_sqlite() as conn:
        upgrade(conn)
        return schema_shape(conn)


def test_the_fixture_is_release_0_1_and_small() -> None:
    expect = expectations()
    assert expect.commit.startswith("dcac808")
    assert FIXTURE_DB.stat().st_size < 1024 * 1024
    assert len(expect.rows) >= 30
    assert {"employees", "employee_faces", "guests", "bookings", "events"} <= set(expect.rows)


def test_sqlite_database_of_release_0_1_upgrades_to_head_keeping_every_row(
    tmp_path: Path,
) -> None:
    expect = expectations()
    db = copy_fixture(tmp_path)
    url = f"sqlite+aiosqlite:///{db}"
    before, _shape, version = _read(url)
    assert version is None  # made by create_all: no alembic_version
    _assert_fixture_rows(before, expect)

    asyncio.run(_migrate(url))

    after, shape, version = _read(url)
    assert version == head_revision()
    _assert_rows_kept(before, after)
    _assert_fixture_rows(after, expect)
    assert shape == _fresh_shape()  # the same schema as a database made by the migrations
    # the copy taken before migrating holds the untouched database
    (copy,) = tmp_path.glob("hub.db.pre-legacy-*.bak")
    copied, _shape, copied_version = _read(f"sqlite+aiosqlite:///{copy}")
    assert copied_version is None
    assert copied == before


def test_sqlite_newest_revision_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    db = copy_fixture(tmp_path)
    url = f"sqlite+aiosqlite:///{db}"
    asyncio.run(_migrate(url))
    at_head, _shape, _version = _read(url)
    _downgrade_newest_and_back(url, at_head)


def _downgrade_newest_and_back(url: str, at_head: Snapshot) -> None:
    head = script_directory().get_revision(head_revision())
    assert head is not None
    previous = head.down_revision
    assert previous is None or isinstance(previous, str)
    engine = create_sync_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            state = downgrade_schema(conn, "-1")
    finally:
        engine.dispose()
    assert state.current == previous
    downgraded, _shape, _version = _read(url)
    if previous is None:  # the baseline itself: back to an empty database
        assert downgraded == {}
    else:
        _assert_rows_kept({t: r for t, r in at_head.items() if t in downgraded}, downgraded)
    asyncio.run(_migrate(url))
    rows, _shape, version = _read(url)
    assert version == head_revision()
    if previous is not None:
        # what the downgrade kept comes back unchanged (columns the newest revision adds were
        # dropped by its downgrade: they come back with their defaults, not their old values)
        _assert_rows_kept(downgraded, {t: r for t, r in rows.items() if t in downgraded})


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A database of its own on the session's PostgreSQL server."""
    name = f"upgrade_{uuid.uuid4().hex[:10]}"
    admin = create_sync_engine(sync_url(postgres_server.async_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield postgres_server.async_url.rsplit("/", 1)[0] + f"/{name}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def _load_fixture_into_postgres(url: str) -> None:
    """Release 0.1's schema (the baseline, which equals its create_all) without an
    alembic_version, as a 0.1 hub left it, holding the fixture's rows."""
    engine = create_sync_engine(sync_url(url))
    source = create_sync_engine(f"sqlite:///{FIXTURE_DB}")
    try:
        with engine.begin() as conn:
            upgrade(conn, BASELINE_REVISION)
            conn.execute(text("DROP TABLE alembic_version"))
            copied = copy_rows_to_postgres(source, conn)
        assert copied == sum(expectations().rows.values())
    finally:
        engine.dispose()
        source.dispose()


@pytest.mark.postgres
def test_postgres_database_of_release_0_1_upgrades_to_head_keeping_every_row(
    pg_url: str,
) -> None:
    expect = expectations()
    _load_fixture_into_postgres(pg_url)
    before, _shape, version = _read(pg_url)
    assert version is None
    _assert_fixture_rows(before, expect)

    asyncio.run(_migrate(pg_url))

    after, _shape, version = _read(pg_url)
    assert version == head_revision()
    _assert_rows_kept(before, after)
    _assert_fixture_rows(after, expect)


@pytest.mark.postgres
def test_postgres_newest_revision_downgrades_and_upgrades_again(pg_url: str) -> None:
    _load_fixture_into_postgres(pg_url)
    asyncio.run(_migrate(pg_url))
    at_head, _shape, _version = _read(pg_url)
    _downgrade_newest_and_back(pg_url, at_head)
