"""Named versions in ``state_versions``: :func:`bump` after changing shared state, :func:`read`
to see where every replica must be. On PostgreSQL a bump also notifies :data:`CHANNEL` (in the
same transaction, so the notification arrives after the commit)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Table, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.db import SessionFactory
from hub.tables import StateVersion, utcnow

CHANNEL = "innsight_state"
GALLERY = "gallery"
IMAGE_INDEX_PREFIX = "image_index:"
MAX_NAME = 64

_TABLE: Table = StateVersion.__table__  # type: ignore[attr-defined]


def image_index_name(category: str) -> str:
    """The version name of one image-search category's index."""
    return f"{IMAGE_INDEX_PREFIX}{category}"


def _check(name: str) -> str:
    if not name or len(name) > MAX_NAME:
        raise ValueError(f"a state version name is 1-{MAX_NAME} characters, not {name!r}")
    return name


async def bump(sessions: SessionFactory, name: str) -> int:
    """Add one to version ``name`` (made at 1) and commit; the new version."""
    async with sessions() as session:
        version = await bump_in(session, name)
        await session.commit()
    return version


async def bump_in(session: AsyncSession, name: str) -> int:
    """:func:`bump` inside the caller's transaction (committed with it). The row stays locked
    until then, so replicas that bump the same name first do their change one at a time."""
    _check(name)
    conn = await session.connection()
    dialect = conn.dialect.name
    insert = postgresql.insert(_TABLE) if dialect == "postgresql" else sqlite.insert(_TABLE)
    stmt = (
        insert.values(name=name, version=1, updated_at=utcnow())
        .on_conflict_do_update(
            index_elements=[_TABLE.c.name],
            set_={"version": _TABLE.c.version + 1, "updated_at": insert.excluded.updated_at},
        )
        .returning(_TABLE.c.version)
    )
    version = int((await conn.execute(stmt)).scalar_one())
    if dialect == "postgresql":  # delivered when the transaction commits
        await conn.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": CHANNEL, "payload": f"{name}={version}"},
        )
    return version


async def read(sessions: SessionFactory, names: Iterable[str] | None = None) -> dict[str, int]:
    """The current versions (of ``names``, else all); a name never bumped is absent (0)."""
    stmt = select(_TABLE.c.name, _TABLE.c.version)
    wanted = None if names is None else sorted(set(names))
    if wanted is not None:
        if not wanted:
            return {}
        stmt = stmt.where(_TABLE.c.name.in_(wanted))
    async with sessions() as session:
        conn = await session.connection()
        rows = (await conn.execute(stmt)).all()
    return {str(row[0]): int(row[1]) for row in rows}
