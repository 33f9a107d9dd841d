"""Async engine and sessions for SQLite (aiosqlite) and PostgreSQL (asyncpg).

``init_db`` creates missing tables with ``create_all``; schema migrations (Alembic) come in a
later issue, until then a changed column needs a fresh database.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.sql.dml import Insert
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000

SessionFactory = async_sessionmaker[AsyncSession]


class DatabaseConfigError(ValueError):
    """The database URL names a driver the hub does not support."""


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for ``sqlite+aiosqlite`` (WAL, busy timeout, foreign keys) or
    ``postgresql+asyncpg`` (pre-ping). Creates the SQLite file's folder when missing."""
    parsed = make_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            parsed,
            echo=echo,
            hide_parameters=True,  # errors must not quote personal data into the logs
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return engine
    if parsed.drivername == "postgresql+asyncpg":
        return create_async_engine(parsed, echo=echo, pool_pre_ping=True, hide_parameters=True)
    raise DatabaseConfigError(
        f"unsupported database driver {parsed.drivername!r}: "
        "use sqlite+aiosqlite or postgresql+asyncpg"
    )


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def init_db(engine: AsyncEngine) -> None:
    """Create every hub table that does not exist yet (``create_all``; no migrations yet)."""
    import hub.tables  # noqa: F401 - registers the tables on SQLModel.metadata

    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
        missing = await conn.run_sync(_missing_columns)
    if missing:
        raise SchemaMismatchError(
            "the database was created by an older innsight and lacks columns this version "
            f"needs: {', '.join(missing)}. There are no migrations yet: back up the database, "
            "then recreate it (or add the columns by hand)"
        )
    logger.info("database schema ready (%s)", engine.dialect.name)


class SchemaMismatchError(RuntimeError):
    """The existing tables lack columns of the current models (create_all adds no columns)."""


def _missing_columns(conn: Connection) -> list[str]:
    """``table.column`` of every model column absent from the existing tables."""
    inspector = inspect(conn)
    missing: list[str] = []
    for table in SQLModel.metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        missing.extend(f"{table.name}.{c.name}" for c in table.columns if c.name not in present)
    return missing


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def upsert_statement(
    dialect: str,
    model: type[SQLModel],
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict_columns: Sequence[str],
    update_columns: Sequence[str] | None = None,
) -> Insert:
    """``INSERT ... ON CONFLICT (conflict_columns) DO UPDATE SET update_columns = excluded``,
    or ``DO NOTHING`` when ``update_columns`` is ``None``/empty, for SQLite and PostgreSQL."""
    table = model.__table__  # type: ignore[attr-defined]
    stmt: sqlite.Insert | postgresql.Insert
    if dialect == "sqlite":
        stmt = sqlite.insert(table).values(list(rows))
    elif dialect == "postgresql":
        stmt = postgresql.insert(table).values(list(rows))
    else:
        raise DatabaseConfigError(f"upsert is not implemented for dialect {dialect!r}")
    if not update_columns:
        return stmt.on_conflict_do_nothing(index_elements=list(conflict_columns))
    return stmt.on_conflict_do_update(
        index_elements=list(conflict_columns),
        set_={name: stmt.excluded[name] for name in update_columns},
    )


async def upsert(
    session: AsyncSession,
    model: type[SQLModel],
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict_columns: Sequence[str],
    update_columns: Sequence[str] | None = None,
) -> None:
    """Run :func:`upsert_statement` in ``session`` (no-op for no rows)."""
    if not rows:
        return
    stmt = upsert_statement(
        dialect_name(session),
        model,
        rows,
        conflict_columns=conflict_columns,
        update_columns=update_columns,
    )
    await session.exec(stmt)
