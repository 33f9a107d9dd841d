"""``innsight hub init`` and ``hub users`` against a real PostgreSQL (the production database,
``INNSIGHT_DATABASE_URL`` as compose.hub.yml sets it): the schema is made, the administrator
created once, a second init refused with exit 4, and the password is checked by signing in
through the hub's own code path (argon2 verify against the stored row)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from hub.auth.store import authenticate_user
from hub.db import create_engine, create_session_factory
from testkit.postgres import PostgresServer

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(600)]

PASSWORD = "tulip-marble-anchor-97"


async def _admin(async_url: str, statement: str) -> None:
    dsn = make_url(async_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"hub_init_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(postgres_server.async_url, f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(postgres_server.async_url)
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        asyncio.run(
            _admin(postgres_server.async_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "innsight", "--log-level", "warning", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


async def _signs_in(url: str, username: str, password: str) -> bool:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            return await authenticate_user(session, username, password) is not None
    finally:
        await engine.dispose()


def test_init_on_postgresql(tmp_path: Path, database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INNSIGHT_")}
    env.update(INNSIGHT_DATA_DIR=str(tmp_path / "hub"), INNSIGHT_DATABASE_URL=database_url)
    password_file = tmp_path / "admin.password"
    password_file.write_text(PASSWORD + "\n")

    init = _cli(env, "hub", "init", "--password-file", str(password_file))
    assert init.returncode == 0, init.stderr
    assert not (tmp_path / "hub" / "hub.db").exists()  # the data went to PostgreSQL
    listed = _cli(env, "hub", "users", "list")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[:3] for line in listed.stdout.splitlines()[1:]] == [
        ["admin", "admin", "no"]
    ]
    other = tmp_path / "other.password"
    other.write_text("violet-harbour-compass-31\n")
    again = _cli(env, "hub", "init", "--password-file", str(other))
    assert again.returncode == 4, again.stderr
    assert asyncio.run(_signs_in(database_url, "admin", PASSWORD))
    assert not asyncio.run(_signs_in(database_url, "admin", "violet-harbour-compass-31"))
