"""``innsight hub migrate`` as an operator runs it, on a copy of release 0.1's database: status,
upgrade (with a copy of the file kept next to it), a database of a newer release refused with
exit code 6 and left alone (by ``hub serve`` too), an unknown revision refused with exit
code 2."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hub.schema import head_revision
from testkit.db_fixture import copy_fixture, expectations

pytestmark = pytest.mark.integration


def _clean_env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith("INNSIGHT_") and k != "DATABASE_URL"
    }


def _migrate(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = _clean_env()
    return subprocess.run(
        [
            *(sys.executable, "-m", "innsight", "--log-level", "warning", "hub", "migrate"),
            *("--data-dir", str(data_dir), *args),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _version(db: Path) -> str | None:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


def _dump(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())


def test_status_upgrade_and_refusals(tmp_path: Path) -> None:
    db = copy_fixture(tmp_path)
    status = _migrate(tmp_path, "--status")
    assert status.returncode == 0, status.stderr
    assert "created before migrations" in status.stdout

    done = _migrate(tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"now at {head_revision()}" in done.stdout
    assert _version(db) == head_revision()
    (copy,) = tmp_path.glob("hub.db.pre-legacy-*.bak")
    assert _count(copy, "guests") == expectations().rows["guests"]
    assert _count(db, "guests") == expectations().rows["guests"]

    again = _migrate(tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already at" in again.stdout

    unknown = _migrate(tmp_path, "--to", "no_such_revision")
    assert unknown.returncode == 2
    assert "unknown revision 'no_such_revision'" in unknown.stderr

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0999_from_the_future'")
    before = _dump(db)
    newer = _migrate(tmp_path)
    assert newer.returncode == 6
    assert "newer innsight release" in newer.stderr
    assert "Traceback" not in newer.stderr
    assert _dump(db) == before  # not a row or table changed
    assert _migrate(tmp_path, "--status").returncode == 6

    serve = subprocess.run(
        [sys.executable, "-m", "innsight", "hub", "serve", "--port", "1"],
        env={**_clean_env(), "INNSIGHT_DATA_DIR": str(tmp_path), "INNSIGHT_MQTT_ENABLED": "0"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert serve.returncode == 6, serve.stderr
    assert "0999_from_the_future" in serve.stderr
    assert "The hub was not started" in serve.stderr
    assert _dump(db) == before
