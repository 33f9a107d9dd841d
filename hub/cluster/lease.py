"""A lease row: one holder at a time runs a once-per-deployment job (``leases``).

:meth:`Lease.acquire` takes the row when it is free or expired, or extends it when this holder
has it (one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` statement, atomic on SQLite and
PostgreSQL); :meth:`Lease.renew` extends it only while this holder still has it;
:meth:`Lease.release` gives it up. Times are epoch seconds from ``clock`` (the replicas' clocks
are assumed NTP-synchronised; a skew shortens or lengthens a lease by as much).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Table, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hub.db import SessionFactory
from hub.tables import LeaseRow

_TABLE: Table = LeaseRow.__table__  # type: ignore[attr-defined]


def holder_id() -> str:
    """host:pid:random: unique per process, readable in the ``leases`` table."""
    return f"{socket.gethostname()[:160]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class LeaseState:
    name: str
    holder: str
    expires_at: float
    acquired_at: float


class Lease:
    """The lease ``name`` for ``holder`` (default :func:`holder_id`), ``ttl_s`` long."""

    def __init__(
        self,
        sessions: SessionFactory,
        name: str,
        *,
        ttl_s: float,
        holder: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be > 0")
        self._sessions = sessions
        self.name = name
        self.ttl_s = ttl_s
        self.holder = holder or holder_id()
        self._clock = clock

    async def acquire(self) -> bool:
        """Take the lease (free, expired, or already ours: extended); whether we hold it."""
        now = self._clock()
        values = {
            "name": self.name,
            "holder": self.holder,
            "expires_at": now + self.ttl_s,
            "acquired_at": now,
        }
        async with self._sessions() as session:
            conn = await session.connection()
            postgres = conn.dialect.name == "postgresql"
            insert = postgresql.insert(_TABLE) if postgres else sqlite.insert(_TABLE)
            ours = _TABLE.c.holder == insert.excluded.holder
            stmt = (
                insert.values(**values)
                .on_conflict_do_update(
                    index_elements=[_TABLE.c.name],
                    set_={
                        "holder": insert.excluded.holder,
                        "expires_at": insert.excluded.expires_at,
                        # a takeover starts a new tenure; a renewal keeps its start
                        "acquired_at": case(
                            (ours, _TABLE.c.acquired_at), else_=insert.excluded.acquired_at
                        ),
                    },
                    where=or_(ours, _TABLE.c.expires_at <= now),
                )
                .returning(_TABLE.c.holder)
            )
            got = (await conn.execute(stmt)).scalar_one_or_none()
            await session.commit()
        return bool(got == self.holder)

    async def renew(self) -> bool:
        """Extend the lease while we still hold it (not expired); whether we do."""
        now = self._clock()
        async with self._sessions() as session:
            conn = await session.connection()
            result = await conn.execute(
                update(_TABLE)
                .where(_TABLE.c.name == self.name)
                .where(_TABLE.c.holder == self.holder)
                .where(_TABLE.c.expires_at > now)
                .values(expires_at=now + self.ttl_s)
            )
            await session.commit()
        return result.rowcount == 1

    async def release(self) -> bool:
        """Give the lease up if we hold it; whether we did."""
        async with self._sessions() as session:
            conn = await session.connection()
            result = await conn.execute(
                delete(_TABLE)
                .where(_TABLE.c.name == self.name)
                .where(_TABLE.c.holder == self.holder)
            )
            await session.commit()
        return result.rowcount == 1

    async def state(self) -> LeaseState | None:
        """The row as it is now (whoever holds it, expired or not)."""
        async with self._sessions() as session:
            conn = await session.connection()
            row = (
                await conn.execute(select(_TABLE).where(_TABLE.c.name == self.name))
            ).one_or_none()
        if row is None:
            return None
        return LeaseState(row.name, row.holder, float(row.expires_at), float(row.acquired_at))
