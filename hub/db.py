"""Async engine and sessions for SQLite (aiosqlite) and PostgreSQL (asyncpg).

``init_db`` brings the schema to this release's with the Alembic migrations (hub/schema.py,
hub/migrations/), at every start of the hub, its flows and its commands.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic.autogenerate import produce_migrations
from alembic.operations import Operations, ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.sql.dml import Insert
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.schema import (
    BASELINE_REVISION,
    VERSION_TABLE,
    DatabaseNewerError,
    SchemaError,
    SchemaState,
    context_options,
    downgrade,
    hub_metadata,
    inspect_schema,
    newer_message,
    resolve_revision,
    scratch_sqlite,
    sqlite_file,
    upgrade,
)

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000

SessionFactory = async_sessionmaker[AsyncSession]
_T = TypeVar("_T")


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


async def init_db(engine: AsyncEngine, *, backup: bool = True) -> SchemaState:
    """Bring the database to this release's schema with the Alembic migrations (hub/schema.py).

    An empty database gets every revision; one made before migrations existed (``create_all``)
    is checked against the baseline, stamped with it and upgraded; one at an older revision is
    upgraded, on SQLite after a consistent copy of the file is written next to it
    (``hub.db.pre-<revision>-<UTC time>.bak``, skipped with ``backup=False``). A database at a
    revision this release does not know is refused (:class:`DatabaseNewerError`). Concurrent
    starts serialise on a lock (a ``.migrate.lock`` file next to SQLite, an advisory lock on
    PostgreSQL).

    A working tree whose models have changes no revision covers yet (a developer's, between
    editing hub/tables.py and generating the revision; ``innsight hub migrate --check`` fails
    such a tree in CI): on a database this call created, the difference is applied directly
    with a warning; an existing database is refused with the missing columns.
    """
    db_file = sqlite_file(engine.url.render_as_string(hide_password=False))
    async with _migration_lock(db_file):
        before, _after = await _migrate(engine, db_file, "head", backup=backup)
        async with engine.connect() as conn:
            missing = await conn.run_sync(_missing_from_models)
        if missing and before.empty:
            await _run_locked(engine, _apply_model_drift)
            logger.warning(
                "hub.tables has changes no migration covers (%s): applied to this new database "
                "directly. Generate the revision: innsight hub migrate --autogenerate -m '...'",
                ", ".join(missing),
            )
        elif missing:
            raise SchemaMismatchError(
                f"the database lacks {', '.join(missing)}, which this code's models need but "
                "no migration adds: generate one (innsight hub migrate --autogenerate -m "
                "'...'), or back up the database and run the release that matches it"
            )
    async with engine.connect() as conn:
        state = await conn.run_sync(inspect_schema)
    logger.info("database schema ready (%s, %s)", engine.dialect.name, state.describe())
    return state


async def apply_migrations(
    engine: AsyncEngine, *, target: str = "head", backup: bool = True
) -> tuple[SchemaState, SchemaState]:
    """Upgrade the database to ``target`` (see :func:`init_db`); the states before and after.

    Raises :class:`DatabaseNewerError` (a newer release's database), :class:`SchemaMismatchError`
    (a database older than the baseline) or :class:`~hub.schema.UnknownRevisionError`."""
    db_file = sqlite_file(engine.url.render_as_string(hide_password=False))
    async with _migration_lock(db_file):
        return await _migrate(engine, db_file, target, backup=backup)


async def _migrate(
    engine: AsyncEngine, db_file: Path | None, target: str, *, backup: bool
) -> tuple[SchemaState, SchemaState]:
    hub_metadata()
    async with engine.connect() as conn:
        before = await conn.run_sync(inspect_schema)
    if before.newer:
        raise DatabaseNewerError(newer_message(before))
    if before.legacy:
        async with engine.connect() as conn:
            missing = await conn.run_sync(_missing_from_baseline)
        if missing:
            raise SchemaMismatchError(
                "the database was made by an innsight older than the first migration "
                f"({BASELINE_REVISION}) and lacks: {', '.join(missing)}. Back up the "
                "database, then add these by hand or start from a fresh database"
            )
    resolved = resolve_revision(target)
    backwards = before.is_after(resolved)
    if not backwards and not before.pending_to(resolved) and not before.legacy:
        return before, before
    if db_file is not None and not before.empty and backup:
        copy = backup_sqlite_before_migration(db_file, before)
        logger.warning(
            "migrating the database (%s); a copy of it is in %s", before.describe(), copy
        )
    if backwards:
        after = await _run_locked(engine, lambda conn: downgrade(conn, resolved))
    else:
        after = await _run_locked(engine, lambda conn: upgrade(conn, resolved))
    logger.info("database schema upgraded: %s", after.describe())
    return before, after


class SchemaMismatchError(SchemaError):
    """The tables lack columns the models need and no migration adds them."""


async def _run_locked(engine: AsyncEngine, step: Callable[[Connection], _T]) -> _T:
    """``step`` on one connection in one transaction: on PostgreSQL under an advisory lock,
    on SQLite with foreign keys off (batch migrations recreate tables; checked afterwards)."""
    sqlite_db = engine.dialect.name == "sqlite"
    async with engine.connect() as conn:
        if sqlite_db:
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.commit()
        try:
            if sqlite_db:  # one transaction: atomic, and one commit instead of one per DDL
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            if engine.dialect.name == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            result = await conn.run_sync(step)
            broken: list[str] = []
            if sqlite_db:
                rows = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).fetchall()
                broken = sorted({str(row[0]) for row in rows})
            if broken:
                await conn.rollback()
            else:
                await conn.commit()
        except BaseException:
            await conn.rollback()  # nothing of a failed migration stays (SQLite and PostgreSQL)
            raise
        finally:
            if sqlite_db:
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                await conn.commit()
    if broken:
        raise SchemaError(f"the migration would break foreign keys in {broken}: rolled back")
    return result


_PG_MIGRATION_LOCK = 0x1A51_6E7  # any constant shared by every hub process


MIGRATION_LOCK_TIMEOUT_S = 600.0


@asynccontextmanager
async def _migration_lock(db_file: Path | None) -> AsyncIterator[None]:
    """An exclusive ``flock`` on ``<db>.migrate.lock`` (SQLite only; PostgreSQL locks in the
    transaction), polled so that two starts in one event loop cannot deadlock."""
    if db_file is None:
        yield
        return
    db_file.parent.mkdir(parents=True, exist_ok=True)
    lock_path = db_file.with_name(db_file.name + ".migrate.lock")
    deadline = time.monotonic() + MIGRATION_LOCK_TIMEOUT_S
    with lock_path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SchemaError(
                        f"another process has been migrating {db_file} for "
                        f"{MIGRATION_LOCK_TIMEOUT_S:.0f} s ({lock_path} is locked)"
                    ) from None
                await asyncio.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def backup_sqlite_before_migration(db_file: Path, state: SchemaState) -> Path:
    """A consistent copy of ``db_file`` next to it, named after its revision and the time."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    revision = "legacy" if state.legacy else (state.current or "empty")
    target = db_file.with_name(f"{db_file.name}.pre-{revision}-{stamp}.bak")
    serial = 1
    while target.exists():
        serial += 1
        target = db_file.with_name(f"{db_file.name}.pre-{revision}-{stamp}-{serial}.bak")
    copy_sqlite(db_file, target)
    return target


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (sqlite3's online backup API: the WAL's
    committed pages included, writers blocked only page by page). ``target`` must not exist."""
    if target.exists():
        raise FileExistsError(f"{target} exists")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _missing_from_models(conn: Connection) -> list[str]:
    """``table`` / ``table.column`` of every model table or column absent from the database."""
    return _missing(conn, hub_metadata())


def _missing_from_baseline(conn: Connection) -> list[str]:
    """What a legacy database lacks of the baseline schema (the schema ``create_all`` made)."""
    with scratch_sqlite() as scratch:
        upgrade(scratch, BASELINE_REVISION)
        baseline = MetaData()
        baseline.reflect(scratch)
    baseline.remove(baseline.tables[VERSION_TABLE])
    return _missing(conn, baseline)


def _missing(conn: Connection, metadata: MetaData) -> list[str]:
    inspector = inspect(conn)
    present_tables = set(inspector.get_table_names())
    missing: list[str] = []
    for table in metadata.sorted_tables:
        if table.name not in present_tables:
            missing.append(table.name)
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        missing.extend(f"{table.name}.{c.name}" for c in table.columns if c.name not in present)
    return missing


def _apply_model_drift(conn: Connection) -> None:
    """Apply the model changes no revision covers (a developer's new database only)."""
    context = MigrationContext.configure(conn, opts=context_options(conn.dialect.name))
    operations = Operations(context)
    upgrade_ops = produce_migrations(context, hub_metadata()).upgrade_ops
    for change in upgrade_ops.ops if upgrade_ops is not None else []:
        if isinstance(change, ops.ModifyTableOps):
            with operations.batch_alter_table(change.table_name) as batch:
                for nested in change.ops:
                    batch.invoke(nested)
        else:
            operations.invoke(change)


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
