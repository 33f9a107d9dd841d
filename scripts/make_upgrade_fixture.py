"""Regenerate the upgrade-test fixture: a hub database written by an earlier release's own code.

    .venv/bin/python scripts/make_upgrade_fixture.py --commit dcac808 \
        --out tests/fixtures/hub-db-0.1.sqlite

checks the commit out with ``git archive`` into a temporary folder (the working tree and git's
state are left alone), then runs this file again under that code (``PYTHONPATH`` = the archive,
``--write``): that release's ``hub.db.init_db`` makes the schema, and every table of that
release's ``hub.tables`` gets rows: realistic values for people, rooms, bookings, devices and
events; a float32 unit-norm 128-d face template; personal fields written through that release's
``EncryptedString`` with the fixed test key below. Next to the database it writes
``<out>.expected.json``: the commit, the key, each table's row count and, per encrypted column,
the plaintexts in primary-key order, which tests/integration/test_migrations.py checks after
upgrading the fixture to head (SQLite, and PostgreSQL with the same rows copied in).

Regenerate it only for a release whose schema the upgrade test should start from; the fixture is
a file in the repository because the point is a database *the old code* wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

# A Fernet key for the fixture only (it protects made-up data): the tests decrypt with it.
FIXTURE_PII_KEY = "pJ6QnnxhzJg1Jkcb0ZpR4m0y3H0l3a3M3-c6n7yQeMs="
ROWS_PER_TABLE = 3
BASE_TIME = datetime(2026, 11, 2, 7, 30, tzinfo=UTC)

# Values a hotel's database would hold, where a made-up "column-N" would look wrong.
REALISTIC: dict[tuple[str, str], list[Any]] = {
    ("employees", "employee_id"): ["EMP001", "EMP002", "EMP003"],
    ("employees", "name"): ["Nguyễn Thị Lan", "Trần Văn Minh", "Alice Martin"],
    ("employees", "email"): ["lan@hotel.example", "minh@hotel.example", "alice@hotel.example"],
    ("employees", "phone"): ["+84 912 345 678", "+84 903 111 222", "+33 6 12 34 56 78"],
    ("employees", "department"): ["front_office", "housekeeping", "security"],
    ("employees", "shift_start"): ["07:00", "15:00", "23:00"],
    ("employees", "shift_end"): ["15:00", "23:00", "07:00"],
    ("guests", "full_name"): ["Phạm Quốc Bảo", "Emma Schmidt", "John Smith"],
    ("guests", "email"): ["bao@example.com", "emma@example.de", "john@example.org"],
    ("guests", "phone"): ["+84 988 000 111", "+49 151 2345678", "+1 415 555 0100"],
    ("guests", "nationality"): ["VN", "DE", "US"],
    ("guests", "id_document_type"): ["id_card", "passport", "passport"],
    ("guests", "id_document_number"): ["079203001234", "C01X00T47", "562849113"],
    ("guests", "notes"): ["Dị ứng hải sản (seafood allergy)", "late arrival", "VIP: quiet room"],
    ("rooms", "room_number"): ["101", "102", "201"],
    ("rooms", "room_type"): ["double", "twin", "suite"],
    ("rooms", "status"): ["available", "occupied", "cleaning"],
    ("bookings", "booking_ref"): ["BOOK001", "BOOK002", "BOOK003"],
    ("bookings", "status"): ["checked_in", "reserved", "checked_out"],
    ("bookings", "currency"): ["VND", "EUR", "USD"],
    ("bookings", "channel"): ["direct", "ota", "direct"],
    ("devices", "device_id"): ["edge-lobby-01", "edge-gate-02", "edge-kitchen-03"],
    ("devices", "status"): ["online", "offline", "online"],
    ("events", "kind"): ["face", "face", "fire"],
    ("events", "phase"): ["end", "update", "new"],
    ("events", "liveness"): ["live", "live", None],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--commit", default="HEAD", help="the release whose code writes the DB")
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/hub-db-0.1.sqlite"))
    parser.add_argument("--write", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--commit-id", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write:
        return write_fixture(args.out.resolve(), args.commit_id)
    repo = Path(__file__).resolve().parents[1]
    commit = subprocess.run(  # noqa: S603 - fixed argv
        ["git", "-C", str(repo), "rev-parse", args.commit],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="innsight-fixture-") as folder:
        archive = Path(folder) / "code.tar"
        with archive.open("wb") as handle:
            subprocess.run(  # noqa: S603 - fixed argv
                ["git", "-C", str(repo), "archive", commit],  # noqa: S607
                check=True,
                stdout=handle,
            )
        code = Path(folder) / "code"
        with tarfile.open(archive) as tar:
            tar.extractall(code, filter="data")
        env = {**os.environ, "PYTHONPATH": str(code)}
        out = args.out.resolve()
        return subprocess.run(  # noqa: S603 - this interpreter, this file
            [sys.executable, __file__, "--write", "--out", str(out), "--commit-id", commit],
            cwd=code,
            env=env,
            check=False,
        ).returncode


def write_fixture(out: Path, commit: str) -> int:
    """Runs under the old release's code (PYTHONPATH): schema by its init_db, rows by its
    tables and column types."""
    from sqlalchemy import Table, create_engine
    from sqlmodel import SQLModel

    import hub.tables
    from hub.crypto import EncryptedString, PiiCipher, bind_pii_cipher
    from hub.db import create_engine as create_async_engine
    from hub.db import init_db

    if not Path(hub.tables.__file__).resolve().is_relative_to(Path.cwd()):
        raise RuntimeError(f"imported {hub.tables.__file__}, not the archived release's code")
    for path in (out, out.with_name(out.name + ".expected.json")):
        path.unlink(missing_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)

    async def make_schema() -> None:
        engine = create_async_engine(f"sqlite+aiosqlite:///{out}")
        try:
            await init_db(engine)
        finally:
            await engine.dispose()

    asyncio.run(make_schema())
    engine = create_engine(f"sqlite:///{out}")
    bind_pii_cipher(engine, PiiCipher([FIXTURE_PII_KEY]))
    models = {
        mapper.class_.__tablename__: mapper.class_ for mapper in SQLModel._sa_registry.mappers
    }
    written: dict[str, list[dict[str, Any]]] = {}
    expected: dict[str, Any] = {}
    with engine.begin() as conn:
        for table_index, table in enumerate(SQLModel.metadata.sorted_tables):
            if not isinstance(table, Table):
                raise TypeError(f"{table!r} is not a table")
            rows = [
                _row(table, table_index, i, models.get(table.name), written)
                for i in range(ROWS_PER_TABLE)
            ]
            conn.execute(table.insert(), rows)
            written[table.name] = rows
            encrypted = {
                c.name: [row[c.name] for row in rows]
                for c in table.columns
                if isinstance(c.type, EncryptedString)
            }
            expected[table.name] = {"rows": len(rows), "encrypted": encrypted}
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
        conn.exec_driver_sql("VACUUM")
    engine.dispose()
    document = {
        "commit": commit,
        "pii_key": FIXTURE_PII_KEY,
        "regenerate": "scripts/make_upgrade_fixture.py --commit COMMIT --out FILE",
        "tables": expected,
    }
    out.with_name(out.name + ".expected.json").write_text(
        json.dumps(document, indent=1, ensure_ascii=False, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    print(f"{out}: {len(expected)} tables, {out.stat().st_size} bytes (commit {commit})")  # noqa: T201
    return 0


def _row(
    table: Any, table_index: int, i: int, model: Any, written: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    from sqlalchemy import (
        JSON,
        BigInteger,
        Boolean,
        Date,
        DateTime,
        Float,
        Integer,
        LargeBinary,
        Numeric,
        String,
        Text,
        Uuid,
    )
    from sqlalchemy.types import TypeDecorator

    from hub.crypto import EncryptedString

    row: dict[str, Any] = {}
    for column in table.columns:
        name = column.name
        if (table.name, name) in REALISTIC:
            row[name] = REALISTIC[(table.name, name)][i]
            continue
        foreign = next(iter(column.foreign_keys), None)
        if foreign is not None:
            parent = foreign.column
            row[name] = written[parent.table.name][i][parent.name]
            continue
        type_ = column.type
        if isinstance(type_, TypeDecorator) and not isinstance(type_, EncryptedString):
            type_ = type_.impl_instance  # UTCDateTime, SQLModel's AutoString
        if isinstance(type_, EncryptedString):
            row[name] = f"{table.name}.{name} #{i}: Lê Hoàng Yến, phòng 10{i}"
        elif isinstance(type_, DateTime):
            row[name] = BASE_TIME + timedelta(hours=i, minutes=table_index)
        elif isinstance(type_, Uuid):
            row[name] = uuid.UUID(int=(table_index + 1) * 1000 + i)
        elif isinstance(type_, LargeBinary):
            row[name] = _embedding(table_index * 10 + i)
        elif isinstance(type_, JSON):
            row[name] = _json_value(model, name, i)
        elif isinstance(type_, Boolean):
            row[name] = i % 2 == 0
        elif isinstance(type_, Integer | BigInteger):
            row[name] = i + 1 if column.primary_key else i
        elif isinstance(type_, Float):
            row[name] = round(0.5 + i / 10, 3)
        elif isinstance(type_, Numeric):
            row[name] = Decimal(f"{1200 + i * 150}.50")
        elif isinstance(type_, Date):
            row[name] = date(2026, 11, 1) + timedelta(days=i)
        elif isinstance(type_, String | Text):
            length = getattr(type_, "length", None)
            value = f"{i}-{name}"
            row[name] = value[:length] if length else value
        else:
            raise TypeError(f"no fixture value for {table.name}.{name} ({type_!r})")
    if table.name == "employee_faces":
        row["dim"] = 128
    return row


def _embedding(seed: int) -> bytes:
    import numpy as np

    vector = np.random.default_rng(seed).standard_normal(128).astype("<f4")
    vector /= np.linalg.norm(vector)
    return vector.astype("<f4").tobytes()


def _json_value(model: Any, name: str, i: int) -> Any:
    field = model.model_fields.get(name) if model is not None else None
    annotation = str(field.annotation) if field is not None else ""
    if annotation.startswith("list") or "list[" in annotation:
        return [f"tag-{i}", "ready"] if "dict" not in annotation else [{"name": f"zone-{i}"}]
    return {"fixture": True, "n": i, "note": "ghi chú"}


if __name__ == "__main__":
    sys.exit(main())
