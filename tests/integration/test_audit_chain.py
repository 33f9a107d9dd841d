"""The audit trail's hash chain (issue 17) on SQLite and PostgreSQL: rows written by
concurrent sessions form one chain (no fork), and ``innsight hub audit verify`` exits 1
naming the first bad row when a row was edited or deleted, 0 while the chain is intact."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url

from hub.audit import AuditAction, audit
from hub.db import create_engine, create_session_factory, init_db
from hub.schema import sync_url
from hub.tables import AuditLog
from innsight.cli import main
from testkit.postgres import PostgresServer

pytestmark = pytest.mark.integration

WRITERS = 6
ROWS_EACH = 4


async def _pg_admin(server: PostgresServer, statement: str) -> None:
    dsn = make_url(server.async_url).set(drivername="postgresql")
    conn = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"hub_audit_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server.async_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _write_concurrently(url: str) -> None:
    engine = create_engine(url)
    try:
        await init_db(engine, backup=False)
        sessions = create_session_factory(engine)

        async def writer(n: int) -> None:
            for i in range(ROWS_EACH):
                async with sessions() as session:
                    audit(
                        session,
                        actor=f"user:writer{n}",
                        action=AuditAction.USER_CREATE,
                        target=f"user:{n}-{i}",
                        detail={"n": n, "i": i, "score": 0.1},
                    )
                    # a plain AuditLog row (as several modules write them) is chained too
                    session.add(AuditLog(actor="system:test", action="test.raw", target=f"t:{n}"))
                    await session.commit()

        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
    finally:
        await engine.dispose()


def _sql(url: str, statement: str) -> None:
    engine = create_sync_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def _verify(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    monkeypatch.setenv("INNSIGHT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("INNSIGHT_DATABASE_URL", url)
    code = main(["hub", "audit", "verify"])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_concurrent_writers_make_one_chain_and_tampering_is_named(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    asyncio.run(_write_concurrently(database_url))
    total = WRITERS * ROWS_EACH * 2
    code, said = _verify(database_url, tmp_path, monkeypatch, capsys)
    assert code == 0, said
    assert f"intact: {total} audit rows" in said
    assert f"head seq {total}" in said

    # an edited row: named, with its seq
    _sql(database_url, "UPDATE audit_log SET target = 'user:someone-else' WHERE seq = 5")
    code, said = _verify(database_url, tmp_path, monkeypatch, capsys)
    assert code == 1
    assert "(seq 5)" in said
    assert "edited" in said

    # a deleted row before it: the first bad row is now the one after the gap
    _sql(database_url, "DELETE FROM audit_log WHERE seq = 3")
    code, said = _verify(database_url, tmp_path, monkeypatch, capsys)
    assert code == 1
    assert "seq 3 missing" in said
    assert "(seq 4)" in said


def test_deleted_last_row_is_caught_by_the_head(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    asyncio.run(_write_concurrently(database_url))
    total = WRITERS * ROWS_EACH * 2
    _sql(database_url, "DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)")
    code, said = _verify(database_url, tmp_path, monkeypatch, capsys)
    assert code == 1
    assert f"rows {total}..{total} deleted" in said
