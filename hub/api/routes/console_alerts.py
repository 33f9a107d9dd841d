"""The console's alerts inbox: list, act (acknowledge, assign, resolve, false alarm, reopen),
the event's snapshot, and a server-sent events stream of new and changed alerts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, Security
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from hub.api.auth import Principal, authorize
from hub.api.deps import Runtime, Session
from hub.api.errors import field_error
from hub.api.params import StorableText
from hub.auth.scopes import Scope
from hub.console import alerts
from hub.console.errors import FieldRefusedError
from hub.storage import StorageError

router = APIRouter(prefix="/console/api/alerts", tags=["console"])

Reader = Annotated[Principal, Security(authorize, scopes=[Scope.CV_READ])]
AlertId = Annotated[int, Path(ge=1, le=2**31 - 1)]
# how often the stream looks for changes, and how long one stream lives (the client reconnects)
POLL_S = 0.5
STREAM_LIFETIME_S = 600.0
KEEPALIVE_S = 15.0


class AlertOut(BaseModel):
    id: int
    hazard: str
    severity: str = Field(description="critical | high | medium | low")
    status: str = Field(description="open | acknowledged | resolved | false_alarm")
    location: str
    camera_id: str | None
    device_id: str | None
    zone: str | None
    score: float | None
    detected_at: datetime
    has_snapshot: bool
    assigned_to: str | None
    note: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    updated_at: datetime
    updated_by: str | None


class AlertList(BaseModel):
    items: list[AlertOut]


class AlertActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: alerts.AlertAction
    assignee: Annotated[str | None, Field(min_length=1, max_length=128), StorableText] = None
    note: Annotated[str | None, Field(max_length=500), StorableText] = None


def _out(view: alerts.AlertView) -> AlertOut:
    return AlertOut.model_validate(asdict(view))


@router.get("", response_model=AlertList)
async def list_alerts(
    session: Session,
    _reader: Reader,
    open_only: Annotated[bool, Query(alias="open")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlertList:
    """Newest first, with severity, camera, zone and how staff handled each."""
    views = await alerts.list_alerts(session, open_only=open_only, limit=limit)
    return AlertList(items=[_out(v) for v in views])


@router.post("/{alert_id}/actions", response_model=AlertOut)
async def act_on_alert(
    alert_id: AlertId, body: AlertActionIn, session: Session, principal: Reader
) -> AlertOut:
    """``acknowledge`` (stops the re-sends), ``assign`` (needs ``assignee``), ``resolve``,
    ``false_alarm`` (kept for tuning), ``reopen``; audited."""
    try:
        view = await alerts.act(
            session,
            alert_id,
            body.action,
            principal.actor,
            assignee=body.assignee,
            note=body.note,
        )
    except alerts.AlertNotFoundError:
        raise HTTPException(404, detail=field_error("alert_id", f"no alert {alert_id}")) from None
    except FieldRefusedError as err:
        raise HTTPException(409, detail=field_error(err.field, err.reason)) from err
    return _out(view)


@router.get(
    "/{alert_id}/snapshot",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def alert_snapshot(
    alert_id: AlertId, session: Session, runtime: Runtime, _reader: Reader
) -> Response:
    """The JPEG snapshot of the event that raised the alert."""
    try:
        key = await alerts.snapshot_key(session, alert_id)
    except alerts.AlertNotFoundError:
        raise HTTPException(404, detail=field_error("alert_id", f"no alert {alert_id}")) from None
    if key is None:
        raise HTTPException(404, detail=field_error("alert_id", "the alert has no snapshot"))
    try:
        data = await asyncio.to_thread(runtime.store.get, key)
    except StorageError as err:
        raise HTTPException(404, detail=field_error("alert_id", str(err))) from err
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )


def _sse(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n".encode()


# not in the OpenAPI schema: a stream that stays open is no request/response operation for
# schema-driven clients and fuzzers (docs/console.md documents it)
@router.get("/stream", response_class=StreamingResponse, include_in_schema=False)
async def alert_stream(
    request: Request, session: Session, runtime: Runtime, _reader: Reader
) -> StreamingResponse:
    """Server-sent events: ``snapshot`` (the 100 newest alerts) first, then ``alert`` for each
    new or changed alert; a comment every 15 s keeps proxies from closing it. The stream ends
    after 10 minutes (clients reconnect)."""
    views = await alerts.list_alerts(session, limit=100)
    cursor = alerts.advance(await alerts.current_cursor(session), views)
    await session.close()  # no connection held while streaming
    factory = runtime.session_factory

    async def events() -> AsyncIterator[bytes]:
        nonlocal cursor
        yield _sse("snapshot", [_out(v).model_dump(mode="json") for v in views])
        started = last_sent = time.monotonic()
        while time.monotonic() - started < STREAM_LIFETIME_S:
            await asyncio.sleep(POLL_S)
            if await request.is_disconnected():
                return
            async with factory() as poll:
                changed, cursor = await alerts.changes_since(poll, cursor)
            for view in changed:
                yield _sse("alert", _out(view).model_dump(mode="json"))
                last_sent = time.monotonic()
            if time.monotonic() - last_sent > KEEPALIVE_S:
                yield b": keep-alive\n\n"
                last_sent = time.monotonic()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
