"""/api/v1/prefect logs: services ship their log records, staff query them. HTTP only: the
records are stored and read by hub/flows/service_logs.py."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import Session
from hub.api.errors import field_error
from hub.api.params import StorableText, UtcDateTime
from hub.api.routes.prefect_common import (
    RUN,
    JsonObject,
    Level,
    forbid,
)
from hub.flows.service_logs import LogEntry, LogQuery, store_logs
from hub.flows.service_logs import query_logs as read_logs

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/prefect", tags=["prefect"])

MAX_LOG_RECORDS = 1000

# -- the seed document's examples (000_3e23a4a0d17304c3.txt), verbatim ({...} read as {}) ----

SEED_LOGS: dict[str, Any] = {
    "service": "cv",
    "logs": [
        {
            "level": "info",
            "message": "Face recognized successfully",
            "metadata": {},
            "timestamp": "2025-01-17T08:30:00Z",
        }
    ],
}
SEED_LOG_QUERY: dict[str, Any] = {
    "service": "cv|ml|llm|all",
    "level": "error",
    "start_time": "2025-01-17T00:00:00Z",
    "end_time": "2025-01-17T23:59:59Z",
    "limit": 100,
}


class LogRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: Level = Field(description="debug | info | warning | error | critical (any case)")
    message: Annotated[str, Field(min_length=1, max_length=8000), StorableText]
    metadata: JsonObject = Field(default_factory=dict)
    timestamp: UtcDateTime | None = None


class LogIngest(BaseModel):
    model_config = forbid(SEED_LOGS)

    service: Annotated[str, Field(min_length=1, max_length=64), StorableText]
    logs: list[LogRecord] = Field(min_length=1, max_length=MAX_LOG_RECORDS)


class LogIngested(BaseModel):
    service: str
    stored: int


class LogOut(BaseModel):
    id: int
    service: str
    level: str
    message: str
    metadata: dict[str, Any]
    timestamp: datetime


class LogPage(BaseModel):
    items: list[LogOut]
    count: int


# -- logs ------------------------------------------------------------------------------------------


@router.post("/logs/ingest", response_model=LogIngested, dependencies=RUN)
async def ingest_logs(body: LogIngest, session: Session) -> LogIngested:
    """Log records shipped by a service (no personal data in messages: DESIGN §7). Levels are
    stored upper case (the assistant's monitoring reads them so) and answered lower case."""
    entries = [LogEntry(r.level, r.message, r.metadata, r.timestamp) for r in body.logs]
    return LogIngested(
        service=body.service, stored=await store_logs(session, body.service, entries)
    )


@router.get("/logs/query", response_model=LogPage, dependencies=RUN)
async def query_logs(
    session: Session,
    service: Annotated[
        str | None,
        Query(max_length=64, description="a service, or all", examples=["cv", "ml", "llm", "all"]),
        StorableText,
    ] = None,
    level: Annotated[
        Level | None, Query(description="exactly this level (any case)", examples=["error"])
    ] = None,
    start_time: Annotated[UtcDateTime | None, Query(examples=["2025-01-17T00:00:00Z"])] = None,
    end_time: Annotated[UtcDateTime | None, Query(examples=["2025-01-17T23:59:59Z"])] = None,
    limit: Annotated[int, Query(ge=1, le=1000, examples=[100])] = 100,
) -> LogPage:
    """The seed's fields as query parameters (a GET body is not read), newest first."""
    if start_time is not None and end_time is not None and start_time > end_time:
        raise HTTPException(422, detail=field_error("start_time", "must not be after end_time"))
    rows = await read_logs(session, LogQuery(service, level, start_time, end_time, limit))
    items = [
        LogOut(
            id=r.id or 0,
            service=r.service,
            level=r.level.lower(),
            message=r.message,
            metadata=r.context,
            timestamp=r.ts,
        )
        for r in rows
    ]
    return LogPage(items=items, count=len(items))
