"""The upgrade fixture (tests/fixtures/hub-db-0.1.sqlite, made by scripts/make_upgrade_fixture.py
running release 0.1's code): its expectations, raw snapshots of a database's rows, and a copy of
its rows into a PostgreSQL database that has the same (baseline) schema."""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, Integer, MetaData, Uuid, select, text

from hub.crypto import PiiCipher
from hub.schema import VERSION_TABLE

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
FIXTURE_DB = FIXTURES / "hub-db-0.1.sqlite"


@dataclass(frozen=True)
class FixtureExpectations:
    commit: str
    pii_key: str
    cipher: PiiCipher
    rows: dict[str, int]
    encrypted: dict[str, dict[str, list[str]]]  # table -> column -> plaintexts


def expectations() -> FixtureExpectations:
    document = json.loads(
        FIXTURE_DB.with_name(FIXTURE_DB.name + ".expected.json").read_text(encoding="utf-8")
    )
    tables: dict[str, Any] = document["tables"]
    return FixtureExpectations(
        commit=document["commit"],
        pii_key=document["pii_key"],
        cipher=PiiCipher([document["pii_key"]]),
        rows={name: int(info["rows"]) for name, info in tables.items()},
        encrypted={name: info["encrypted"] for name, info in tables.items()},
    )


def copy_fixture(folder: Path) -> Path:
    """A private copy of the fixture database in ``folder`` (as ``hub.db``)."""
    target = folder / "hub.db"
    shutil.copyfile(FIXTURE_DB, target)
    return target


Snapshot = dict[str, list[dict[str, Any]]]


def snapshot(conn: Connection) -> Snapshot:
    """Every hub table's rows as the database stores them (no type processing beyond the
    driver's), ordered by primary key: ciphertexts stay ciphertexts."""
    metadata = MetaData()
    metadata.reflect(conn)
    rows: Snapshot = {}
    for table in metadata.sorted_tables:
        if table.name == VERSION_TABLE:
            continue
        order = list(table.primary_key.columns) or list(table.columns)
        result = conn.execute(select(table).order_by(*order))
        rows[table.name] = [dict(row) for row in result.mappings()]
    return rows


def schema_shape(conn: Connection) -> dict[str, Any]:
    """Tables, their columns (name, nullability, type family) and index names: for comparing
    an upgraded database with a fresh one."""
    metadata = MetaData()
    metadata.reflect(conn)
    shape: dict[str, Any] = {}
    for table in metadata.sorted_tables:
        shape[table.name] = {
            "columns": {c.name: (c.nullable, type(c.type).__name__.upper()) for c in table.columns},
            "indexes": sorted((i.name or "", i.unique) for i in table.indexes),
        }
    return shape


def copy_rows_to_postgres(sqlite_engine: Engine, pg_conn: Connection) -> int:
    """Copy every fixture row into the PostgreSQL database on ``pg_conn`` (tables already made
    with the same schema), converting SQLite's storage forms; sequences follow the ids."""
    source = MetaData()
    source.reflect(sqlite_engine)
    target = MetaData()
    target.reflect(pg_conn)
    copied = 0
    with sqlite_engine.connect() as sqlite_conn:
        for table in target.sorted_tables:
            if table.name == VERSION_TABLE:
                continue
            rows = [
                dict(row)
                for row in sqlite_conn.execute(select(source.tables[table.name])).mappings()
            ]
            for row in rows:
                for column in table.columns:
                    value = row.get(column.name)
                    if value is None:
                        continue
                    if isinstance(column.type, Uuid) and not isinstance(value, uuid.UUID):
                        row[column.name] = uuid.UUID(str(value))
                    elif (
                        isinstance(column.type, DateTime)
                        and isinstance(value, datetime)
                        and value.tzinfo is None
                    ):
                        row[column.name] = value.replace(tzinfo=UTC)
            if rows:
                pg_conn.execute(table.insert(), rows)
                copied += len(rows)
            id_column = table.columns.get("id")
            if id_column is not None and isinstance(id_column.type, Integer):
                pg_conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
                        f"(SELECT max(id) FROM {table.name})) "
                        f"WHERE pg_get_serial_sequence('{table.name}', 'id') IS NOT NULL"
                    )
                )
    return copied
