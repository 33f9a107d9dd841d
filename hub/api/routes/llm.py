"""The assistant under ``/api/v1/llm``: questions over hotel data (with memory, streamed or
not, and confirmation of the actions they propose), the LLM's health and the
``innsight_llm_*`` metrics; routing, generation, monitoring, task execution and the workflow
webhook are in :mod:`hub.api.routes.llm_ops`. While the LLM is unreachable the free-form
questions answer 503 with the reason; the other endpoints answer by rules/templates and say so.

Who asks: the bearer token decides (scope ``llm:use``). ``user_id`` (the hotel's employee id,
``EMP001``) must be the token's subject, or the caller needs the ``admin`` scope to ask on
behalf of another employee; it is never used to grant anything. ``context.role`` (a hotel job
role) can only narrow the tools the token's scopes give (hub/assistant/context.py)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import select

from hub.api.auth import metrics_access
from hub.api.errors import field_error
from hub.api.routes import llm_ops
from hub.api.routes.llm_common import (
    Assistant,
    Caller,
    In,
    Metrics,
    Runtime,
    observed,
    proposer_of,
    unavailable,
)
from hub.api.routes.metrics import prometheus_response
from hub.assistant.actions import (
    ActionConflictError,
    ActionNotFoundError,
    ActionStore,
    HubHotelActions,
    action_specs,
)
from hub.assistant.answers import AssistantAnswer, StreamEvent
from hub.assistant.context import AskerContext, UnknownJobRoleError, context_of, narrowed
from hub.assistant.data import SqlHotelData
from hub.assistant.metrics import LlmMetrics
from hub.assistant.service import LLMUnavailableError
from hub.auth.principal import Principal
from hub.auth.scopes import Scope
from hub.tables import Employee

router = APIRouter(prefix="/api/v1/llm", tags=["llm"])
router.include_router(llm_ops.router)

ID_PATTERN = r"^[A-Za-z0-9._:-]+$"
LABEL_PATTERN = r"^[A-Za-z][A-Za-z0-9 _-]*$"

# The seed's example request (000, "Internal Assistant"), verbatim.
SEED_QUERY: dict[str, Any] = {
    "user_id": "EMP001",
    "message": "What is the status of room 201?",
    "context": {"role": "receptionist", "department": "front_desk"},
    "stream": False,
}


# ---------------------------------------------------------------------------------------------
# Questions
# ---------------------------------------------------------------------------------------------


class AskerIn(In):
    role: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=LABEL_PATTERN,
        description="the asker's hotel job role (receptionist, housekeeper, manager, ...): "
        "narrows the tools to that role's, never widens the token's",
    )
    department: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=LABEL_PATTERN,
        description="the asker's department (front_desk, housekeeping, ...): given to the model",
    )


class QueryIn(In):
    model_config = ConfigDict(json_schema_extra={"examples": [SEED_QUERY]})

    user_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="the employee asking (EMP001): the token's subject, or anyone with admin",
    )
    message: str = Field(min_length=1, max_length=4000)
    context: AskerIn | None = None
    stream: bool = Field(default=False, description="answer as Server-Sent Events")
    conversation_id: str | None = Field(default=None, max_length=64, pattern=ID_PATTERN)


class QueryStreamIn(QueryIn):
    model_config = ConfigDict(json_schema_extra={"examples": [SEED_QUERY | {"stream": True}]})

    stream: bool = Field(default=True, description="false: one JSON answer instead of SSE")


class SourceOut(BaseModel):
    type: Literal["database"]
    table: str
    tool: str
    result: Any


class PendingActionOut(BaseModel):
    action_id: str
    tool: str
    args: dict[str, Any]
    summary: str
    expires_at: str | None


class GroundingOut(BaseModel):
    claims: int
    backed: int
    unbacked: list[str]
    token_probability: float | None


class QueryOut(BaseModel):
    response: str
    sources: list[SourceOut]
    confidence: float = Field(
        description="share of the answer's checkable claims (numbers, dates, ids, statuses) "
        "that the tool results back; 0 when it makes none"
    )
    tools_used: list[str]
    pending_actions: list[PendingActionOut]
    grounding: GroundingOut
    user_id: str | None
    role: str = Field(description="the role whose tools answered (token's, narrowed)")


async def _asker(caller: Principal, body: QueryIn, runtime: Runtime) -> AskerContext:
    """The caller's context: ``user_id`` checked against the token, ``context`` applied."""
    if body.user_id is not None and body.user_id != caller.name:
        if Scope.ADMIN not in caller.scopes:
            reason = (
                f"must be the token's subject ({caller.name!r}); asking for another employee "
                "needs the admin scope"
            )
            raise HTTPException(403, detail=field_error("user_id", reason))
        async with runtime.session_factory() as session:
            query = select(Employee).where(Employee.employee_id == body.user_id)
            if (await session.exec(query)).first() is None:
                raise HTTPException(
                    404, detail=field_error("user_id", f"no employee {body.user_id!r}")
                )
    stated = body.context or AskerIn()
    try:
        return narrowed(
            context_of(caller),
            job_role=stated.role,
            department=stated.department,
            user_id=body.user_id,
        )
    except UnknownJobRoleError as err:
        raise HTTPException(422, detail=field_error("context.role", str(err))) from err


def _record(metrics: LlmMetrics, final: dict[str, Any]) -> None:
    usage = final.get("usage") or {}
    metrics.tokens.labels("input").inc(usage.get("input_tokens", 0))
    metrics.tokens.labels("output").inc(usage.get("output_tokens", 0))
    for tool in final.get("tools_used", []):
        metrics.tool_calls.labels(tool, "success").inc()
    for tool in usage.get("tool_errors", []):
        metrics.tool_calls.labels(tool, "error").inc()
    metrics.confidence.observe(float(final.get("confidence", 0.0)))


def _out(answer: AssistantAnswer, context: AskerContext) -> QueryOut:
    return QueryOut(
        response=answer.response,
        sources=[SourceOut(**s) for s in answer.sources],
        confidence=answer.confidence,
        tools_used=answer.tools_used,
        pending_actions=[PendingActionOut(**p) for p in answer.pending_actions],
        grounding=GroundingOut(**answer.grounding),
        user_id=context.user_id,
        role=context.role.value,
    )


def _sse(event: StreamEvent) -> str:
    return f"event: {event.event}\ndata: {json.dumps(event.data, ensure_ascii=False)}\n\n"


async def _answer(
    endpoint: str,
    body: QueryIn,
    caller: Principal,
    assistant: Assistant,
    runtime: Runtime,
    metrics: LlmMetrics,
) -> Response | QueryOut:
    context = await _asker(caller, body, runtime)
    data = SqlHotelData(runtime.session_factory)
    if not body.stream:
        with observed(metrics, endpoint):
            try:
                answer = await assistant.query(
                    data,
                    context,
                    body.message,
                    conversation_id=body.conversation_id,
                    proposer=proposer_of(runtime),
                )
            except LLMUnavailableError as err:
                raise unavailable(err) from err
            _record(metrics, _final_of(answer))
        return _out(answer, context)
    started = time.perf_counter()
    try:
        events = await assistant.query_stream(
            data,
            context,
            body.message,
            conversation_id=body.conversation_id,
            proposer=proposer_of(runtime),
        )
    except LLMUnavailableError as err:
        metrics.requests.labels(endpoint, "unavailable").inc()
        raise unavailable(err) from err

    async def lines() -> AsyncIterator[str]:
        outcome = "error"
        try:
            async for event in events:
                if event.event == "final":
                    _record(metrics, event.data)
                    event = StreamEvent(
                        "final",
                        event.data | {"user_id": context.user_id, "role": context.role.value},
                    )
                    outcome = "ok"
                yield _sse(event)
        finally:
            metrics.requests.labels(endpoint, outcome).inc()
            metrics.duration.labels(endpoint).observe(time.perf_counter() - started)

    return StreamingResponse(
        lines(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _final_of(answer: AssistantAnswer) -> dict[str, Any]:
    return {
        "tools_used": answer.tools_used,
        "confidence": answer.confidence,
        "usage": answer.usage,
    }


_BOTH = {
    200: {
        "description": "JSON (``stream`` false) or Server-Sent Events (``stream`` true): "
        "``token``, ``tool_call``, ``tool_result``, then ``final`` (the JSON answer's fields) "
        "or ``error``",
        "content": {"application/json": {}, "text/event-stream": {}},
    }
}


@router.post("/assistant/query", response_model=QueryOut, responses=_BOTH)  # type: ignore[arg-type]
async def assistant_query(
    body: QueryIn, caller: Caller, assistant: Assistant, runtime: Runtime, metrics: Metrics
) -> Response | QueryOut:
    """Ask the assistant; ``stream: true`` answers as the SSE of ``/assistant/query-stream``.
    503 (before any event) when the LLM is unreachable."""
    return await _answer("assistant_query", body, caller, assistant, runtime, metrics)


@router.post(
    "/assistant/query-stream",
    response_model=QueryOut,
    responses=_BOTH,  # type: ignore[arg-type]
)
async def assistant_query_stream(
    body: QueryStreamIn, caller: Caller, assistant: Assistant, runtime: Runtime, metrics: Metrics
) -> Response | QueryOut:
    """The same request as ``/assistant/query``, streamed by default (Server-Sent Events:
    ``token`` as the model writes, ``tool_call``, ``tool_result``, then ``final`` or
    ``error``); ``stream: false`` answers one JSON body."""
    return await _answer("assistant_query_stream", body, caller, assistant, runtime, metrics)


# ---------------------------------------------------------------------------------------------
# Confirmations
# ---------------------------------------------------------------------------------------------


class ConfirmIn(In):
    action_id: str = Field(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")
    approve: bool


class ConfirmOut(BaseModel):
    action_id: str
    tool: str
    status: str
    result: dict[str, Any] | None
    requested_by: str
    decided_by: str | None


@router.post("/assistant/confirm", response_model=ConfirmOut)
async def assistant_confirm(body: ConfirmIn, caller: Caller, runtime: Runtime) -> ConfirmOut:
    """Run (``approve``) or reject an action the assistant proposed to the same caller."""
    store = ActionStore(runtime.session_factory, ttl_s=runtime.settings.llm_action_ttl_s)
    try:
        row = await store.decide(
            body.action_id,
            actor=caller.actor,
            approve=body.approve,
            specs=action_specs(runtime.session_factory),
            port=HubHotelActions(
                runtime.session_factory, starter=runtime.flow_runner, staff=runtime.notifier
            ),
        )
    except ActionNotFoundError as err:
        raise HTTPException(404, detail=field_error("action_id", str(err))) from err
    except ActionConflictError as err:
        raise HTTPException(409, detail=field_error("action_id", str(err))) from err
    return ConfirmOut(
        action_id=row.id,
        tool=row.tool,
        status=row.status,
        result=row.result,
        requested_by=row.requested_by,
        decided_by=row.decided_by,
    )


# ---------------------------------------------------------------------------------------------
# Health and metrics
# ---------------------------------------------------------------------------------------------


class CheckOut(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    detail: str | None = None


class HealthOut(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    checks: dict[str, CheckOut]
    reachable: bool
    provider: str
    model: str
    model_present: bool
    base_url: str
    reason: str | None


@router.get("/health", response_model=HealthOut)
async def llm_health(
    _caller: Caller, assistant: Assistant, runtime: Runtime, metrics: Metrics
) -> HealthOut:
    """``healthy``: the LLM answers with its model and the database answers; ``degraded``: the
    LLM is unreachable or lacks the model (questions answer 503; routing, generation,
    monitoring and known task intents still answer by rules/templates); ``unhealthy``: the
    database does not answer (nothing works)."""
    health = await assistant.health()
    metrics.up.set(1 if health.reachable else 0)
    database = await runtime.check_database()
    memory_backend = assistant.memory.backend
    checks = {
        "llm": CheckOut(
            status="healthy" if health.reason is None else "degraded", detail=health.reason
        ),
        "database": CheckOut(
            status="healthy" if database is None else "unhealthy", detail=database
        ),
        "memory": CheckOut(status="healthy", detail=memory_backend),
    }
    statuses = {c.status for c in checks.values()}
    overall: Literal["healthy", "degraded", "unhealthy"] = (
        "unhealthy"
        if "unhealthy" in statuses
        else "degraded"
        if "degraded" in statuses
        else "healthy"
    )
    return HealthOut(
        status=overall,
        checks=checks,
        reachable=health.reachable,
        provider=health.provider,
        model=health.model,
        model_present=health.model_present,
        base_url=health.base_url,
        reason=health.reason,
    )


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(metrics_access)],
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text, innsight_llm_*"}
    },
)
async def llm_metrics_text(request: Request, metrics: Metrics) -> Response:
    """The assistant's Prometheus metrics (``innsight_llm_*``; also part of ``/metrics``). Open to
    loopback callers, else ``metrics:read`` (as ``/metrics``)."""
    del metrics  # registered on first use, so the families exist before any request
    return prometheus_response(request.app.state.http_registry, prefixes=("innsight_llm_",))
