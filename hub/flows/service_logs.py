"""Log records other services ship to the hub (``/api/v1/prefect/logs``): stored with their
level upper case (the assistant's monitoring reads them so) and read back newest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.tables import ServiceLog, utcnow


@dataclass(frozen=True, slots=True)
class LogEntry:
    level: str
    message: str
    metadata: dict[str, Any]
    timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class LogQuery:
    service: str | None  # None or "all": every service
    level: str | None  # exactly this level, any case
    start_time: datetime | None
    end_time: datetime | None
    limit: int


async def store_logs(session: AsyncSession, service: str, entries: Sequence[LogEntry]) -> int:
    """Store ``entries`` of ``service`` (a record without a time is stamped now); the count."""
    now = utcnow()
    session.add_all(
        ServiceLog(
            ts=e.timestamp or now,
            service=service,
            level=e.level.upper(),
            message=e.message,
            context=e.metadata,
        )
        for e in entries
    )
    await session.commit()
    return len(entries)


async def query_logs(session: AsyncSession, query: LogQuery) -> list[ServiceLog]:
    """The records matching ``query``, newest first."""
    stmt = select(ServiceLog)
    if query.service is not None and query.service != "all":
        stmt = stmt.where(ServiceLog.service == query.service)
    if query.level is not None:
        stmt = stmt.where(col(ServiceLog.level).in_((query.level.upper(), query.level)))
    if query.start_time is not None:
        stmt = stmt.where(col(ServiceLog.ts) >= query.start_time)
    if query.end_time is not None:
        stmt = stmt.where(col(ServiceLog.ts) <= query.end_time)
    rows = await session.exec(stmt.order_by(col(ServiceLog.ts).desc()).limit(query.limit))
    return list(rows.all())
