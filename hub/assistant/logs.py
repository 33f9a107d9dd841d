"""The service_logs records that monitoring analyses (timestamps, services and levels only:
messages are not read)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from hub.assistant.monitoring import LogRecord
from hub.db import SessionFactory
from hub.tables import ServiceLog

MAX_RECORDS = 500_000


async def load_log_records(
    session_factory: SessionFactory,
    since: datetime,
    until: datetime,
    *,
    service: str | None = None,
    limit: int = MAX_RECORDS,
) -> list[LogRecord]:
    query = select(ServiceLog.ts, ServiceLog.service, ServiceLog.level).where(
        col(ServiceLog.ts) >= since, col(ServiceLog.ts) < until
    )
    if service is not None:
        query = query.where(ServiceLog.service == service)
    async with session_factory() as session:
        rows = (await session.exec(query.order_by(col(ServiceLog.ts).desc()).limit(limit))).all()
    return [LogRecord(ts, name, level) for ts, name, level in rows]
