"""Rate limits every replica shares: one ``rate_limit_buckets`` row per (limit, caller).

The generic cell rate algorithm (GCRA, the token bucket written as one number): a row keeps
``tat``, the time at which the caller's bucket would be full again. A request is let through
when ``max(tat, now) + interval - now <= burst * interval``, and then ``tat`` moves on by one
``interval`` (= 60 s / ``per_minute``): ``burst`` requests at once, ``per_minute`` over time,
as :class:`hub.auth.ratelimit.RateLimiter` in one process. The check and the take are one
``INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING`` (atomic on SQLite and PostgreSQL);
only a refused request reads the row again for its ``Retry-After``.

Callers are stored as a hash (an IP address or a user id never lands in the table); rows of
full buckets are purged now and then. Times are epoch seconds (NTP-synchronised replicas).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from sqlalchemy import Table, case, delete, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from hub.db import SessionFactory
from hub.tables import RateLimitBucket

_TABLE: Table = RateLimitBucket.__table__  # type: ignore[attr-defined]
PURGE_EVERY = 1000  # checks between two purges of full buckets (per process)


def bucket_key(limit: str, caller: str) -> str:
    """The row key of ``caller`` under ``limit``: the limit's name and a hash of the caller."""
    digest = hashlib.sha256(caller.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{limit[:200]}:{digest}"


class DatabaseRateLimiter:
    """``await hit(caller)``: 0.0 when the request may go (counted), else seconds to wait."""

    def __init__(
        self,
        sessions: SessionFactory,
        limit: str,
        per_minute: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be > 0 and burst >= 1")
        self._sessions = sessions
        self.limit = limit
        self._interval = 60.0 / per_minute
        self._burst = burst
        self._clock = clock
        self._checks = 0

    async def hit(self, caller: str) -> float:
        now = self._clock()
        key = bucket_key(self.limit, caller)
        interval, window = self._interval, self._burst * self._interval
        async with self._sessions() as session:
            conn = await session.connection()
            postgres = conn.dialect.name == "postgresql"
            insert = postgresql.insert(_TABLE) if postgres else sqlite.insert(_TABLE)
            start = case((_TABLE.c.tat > now, _TABLE.c.tat), else_=literal(now))
            stmt = (
                insert.values(key=key, tat=now + interval)
                .on_conflict_do_update(
                    index_elements=[_TABLE.c.key],
                    set_={"tat": start + interval},
                    where=start + interval - now <= window,
                )
                .returning(_TABLE.c.tat)
            )
            taken = (await conn.execute(stmt)).scalar_one_or_none()
            wait = 0.0
            if taken is None:
                tat = (await conn.execute(select(_TABLE.c.tat).where(_TABLE.c.key == key))).scalar()
                wait = max(float(tat or now), now) + interval - now - window
                wait = max(wait, 1e-3)
            self._checks += 1
            if self._checks % PURGE_EVERY == 0:
                await conn.execute(delete(_TABLE).where(_TABLE.c.tat < now))
            await session.commit()
        return wait
