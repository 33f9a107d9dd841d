"""The assistant under ``/api/v1/llm`` (llm:use): questions over hotel data (with memory, streamed
or not, and confirmation of the actions they propose), guest-request routing, message generation,
log monitoring, task execution and the LLM's health. While the LLM is unreachable the free-form
endpoints answer 503 with the reason; routing, generation, monitoring and known task intents
answer by rules/templates and say so."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Security
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from hub.api.auth import Principal, authorize, scoped
from hub.api.deps import HubRuntime, get_runtime
from hub.api.errors import field_error
from hub.api.params import storable_text, to_utc
from hub.assistant.actions import (
    ActionConflictError,
    ActionNotFoundError,
    ActionStore,
    HubHotelActions,
    action_specs,
)
from hub.assistant.context import AskerContext, context_of
from hub.assistant.data import SqlHotelData
from hub.assistant.generate import (
    NOTIFICATION_KINDS,
    GeneratedMessage,
    Lang,
    MissingFieldError,
    UnknownTemplateError,
    render,
)
from hub.assistant.graph import StreamEvent
from hub.assistant.logs import load_log_records
from hub.assistant.monitoring import DetectionConfig, DetectionReport, LogRecord, analyze
from hub.assistant.planner import run_plan
from hub.assistant.service import AssistantService, LLMUnavailableError
from hub.assistant.tools import ActionProposer, tools_for
from hub.auth.scopes import Role, Scope

router = APIRouter(prefix="/api/v1/llm", tags=["llm"], dependencies=[scoped(Scope.LLM_USE)])

Caller = Annotated[Principal, Security(authorize, scopes=[Scope.LLM_USE])]
SUPERVISORS = frozenset({Role.ADMIN, Role.MANAGER})
MIN_YEAR, MAX_YEAR = 1970, 9000
GUEST_KINDS = frozenset(
    {"room_ready", "request_confirmation", "lost_item_found", "email", "apology",
     "checkin_instructions"}
)  # fmt: skip


def _storable(value: Any) -> Any:
    """:func:`storable_text` through nested dicts and lists (keys included)."""
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return storable_text(value)


def _log_time(value: datetime) -> datetime:
    utc = to_utc(value)
    if utc is None or not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise ValueError(f"must be between the years {MIN_YEAR} and {MAX_YEAR}")
    return utc


LogTime = Annotated[AwareDatetime, AfterValidator(_log_time)]


class _In(BaseModel):
    """Request bodies: unknown fields refused; text a database can store (no NUL, no lone
    surrogates), a 422 naming the field otherwise."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return _storable(value)


def get_assistant(request: Request) -> AssistantService:
    service: AssistantService | None = getattr(request.app.state, "assistant", None)
    if service is None:
        raise HTTPException(status_code=503, detail="the assistant is not running")
    return service


Assistant = Annotated[AssistantService, Depends(get_assistant)]
Runtime = Annotated[HubRuntime, Depends(get_runtime)]


def _proposer(runtime: HubRuntime) -> ActionProposer:
    store = ActionStore(runtime.session_factory, ttl_s=runtime.settings.llm_action_ttl_s)
    return ActionProposer(action_specs(runtime.session_factory), store)


def _unavailable(err: LLMUnavailableError) -> HTTPException:
    return HTTPException(status_code=503, detail=str(err))


# ---------------------------------------------------------------------------------------------
# Questions and confirmations
# ---------------------------------------------------------------------------------------------


class QueryIn(_In):
    question: str = Field(min_length=1, max_length=4000)
    conversation_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")


class PendingActionOut(BaseModel):
    action_id: str
    tool: str
    args: dict[str, Any]
    summary: str
    expires_at: str | None


class QueryOut(BaseModel):
    response: str
    sources: list[dict[str, Any]]
    tools_used: list[str]
    confidence: float
    pending_actions: list[PendingActionOut]


@router.post("/assistant/query", response_model=QueryOut)
async def assistant_query(
    body: QueryIn, caller: Caller, assistant: Assistant, runtime: Runtime
) -> QueryOut:
    data = SqlHotelData(runtime.session_factory)
    try:
        answer = await assistant.query(
            data,
            context_of(caller),
            body.question,
            conversation_id=body.conversation_id,
            proposer=_proposer(runtime),
        )
    except LLMUnavailableError as err:
        raise _unavailable(err) from err
    return QueryOut(
        response=answer.response,
        sources=answer.sources,
        tools_used=answer.tools_used,
        confidence=answer.confidence,
        pending_actions=[PendingActionOut(**p) for p in answer.pending_actions],
    )


def _sse(event: StreamEvent) -> str:
    return f"event: {event.event}\ndata: {json.dumps(event.data, ensure_ascii=False)}\n\n"


@router.post(
    "/assistant/query-stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def assistant_query_stream(
    body: QueryIn, caller: Caller, assistant: Assistant, runtime: Runtime
) -> StreamingResponse:
    """Server-Sent Events: ``token`` (text as the model writes it), ``tool_call``,
    ``tool_result``, then ``final`` (response, sources, tools_used, confidence,
    pending_actions), or ``error``. 503 before any event when the LLM is unreachable."""
    data = SqlHotelData(runtime.session_factory)
    try:
        events = await assistant.query_stream(
            data,
            context_of(caller),
            body.question,
            conversation_id=body.conversation_id,
            proposer=_proposer(runtime),
        )
    except LLMUnavailableError as err:
        raise _unavailable(err) from err

    async def lines() -> AsyncIterator[str]:
        async for event in events:
            yield _sse(event)

    return StreamingResponse(
        lines(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class ConfirmIn(_In):
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
# Routing
# ---------------------------------------------------------------------------------------------


class ClassifyIn(_In):
    message: str = Field(min_length=1, max_length=4000)


class RequestOut(BaseModel):
    room_number: str | None
    items: list[str]
    quantity: int | None
    urgency: str


class ClassifyOut(BaseModel):
    category: str
    priority: str
    assignee_role: str
    request: RequestOut
    answered_by: Literal["rules", "llm"]


@router.post("/routing/classify", response_model=ClassifyOut)
async def routing_classify(body: ClassifyIn, assistant: Assistant) -> ClassifyOut:
    routing, answered_by = await assistant.route(body.message)
    request = routing.request
    return ClassifyOut(
        category=routing.category,
        priority=routing.priority,
        assignee_role=routing.assignee_role,
        request=RequestOut(
            room_number=request.room_number,
            items=list(request.items),
            quantity=request.quantity,
            urgency=request.urgency,
        ),
        answered_by="llm" if answered_by == "llm" else "rules",
    )


# ---------------------------------------------------------------------------------------------
# Message generation
# ---------------------------------------------------------------------------------------------

ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class GenerateIn(_In):
    lang: Lang | None = Field(
        default=None,
        description="vi | en; default: en for a booked guest of another nationality, else vi",
    )
    booking_ref: str | None = Field(default=None, min_length=1, max_length=32)
    room_number: str | None = Field(default=None, min_length=1, max_length=16)
    guest_name: ShortText | None = None
    hotel_name: ShortText | None = None
    polish: bool = Field(default=False, description="let the LLM rewrite the template's text")


class EmailIn(GenerateIn):
    topic: ShortText
    message: str = Field(min_length=1, max_length=4000)


class ApologyIn(GenerateIn):
    issue: str = Field(min_length=1, max_length=1000)
    remedy: str | None = Field(default=None, min_length=1, max_length=1000)


class CheckinIn(GenerateIn):
    check_in_date: date | None = None
    check_in_time: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class NotificationIn(GenerateIn):
    kind: str = Field(min_length=1, max_length=32, examples=list(NOTIFICATION_KINDS))
    fields: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=2000)]] = (
        Field(default_factory=dict, max_length=30)
    )


class GenerateOut(BaseModel):
    kind: str
    lang: Lang
    subject: str
    body: str
    html_body: str
    generated_by: Literal["template", "llm"]


async def _generate(
    kind: str,
    body: GenerateIn,
    given: dict[str, str | None],
    runtime: HubRuntime,
    assistant: AssistantService,
) -> GenerateOut:
    fields: dict[str, str] = {}
    nationality = ""
    if body.booking_ref is not None or (body.room_number is not None and kind in GUEST_KINDS):
        facts = await SqlHotelData(runtime.session_factory).booking_facts(
            booking_ref=body.booking_ref, room_number=body.room_number, on_date=date.today()
        )
        if facts is None and body.booking_ref is not None:
            raise HTTPException(
                404, detail=field_error("booking_ref", f"no booking {body.booking_ref!r}")
            )
        if facts is not None:
            nationality = facts.pop("nationality", "")
            fields.update(facts)
    if body.room_number is not None:
        fields["room_number"] = body.room_number
    for name, value in (("guest_name", body.guest_name), ("hotel_name", body.hotel_name)):
        if value is not None:
            fields[name] = value
    fields.update({k: v for k, v in given.items() if v is not None})
    lang: Lang = body.lang or ("vi" if nationality.upper() in ("VN", "") else "en")
    try:
        message: GeneratedMessage = render(kind, lang, fields)
    except UnknownTemplateError as err:
        raise HTTPException(422, detail=field_error("kind", str(err))) from err
    except MissingFieldError as err:
        reasons = [
            field_error(f"fields.{name}", "required (give it, or a booking_ref/room_number "
                        "whose booking has it)")
            for name in err.fields
        ]  # fmt: skip
        raise HTTPException(422, detail=reasons) from err
    generated_by = "template"
    if body.polish:
        message, generated_by = await assistant.polish(message, lang)
    return GenerateOut(
        kind=kind,
        lang=lang,
        subject=message.subject,
        body=message.body,
        html_body=message.html,
        generated_by="llm" if generated_by == "llm" else "template",
    )


@router.post("/generate/email", response_model=GenerateOut)
async def generate_email(body: EmailIn, runtime: Runtime, assistant: Assistant) -> GenerateOut:
    given = {"topic": body.topic, "message": body.message}
    return await _generate("email", body, dict(given), runtime, assistant)


@router.post("/generate/apology", response_model=GenerateOut)
async def generate_apology(body: ApologyIn, runtime: Runtime, assistant: Assistant) -> GenerateOut:
    given = {"issue": body.issue, "remedy": body.remedy}
    return await _generate("apology", body, given, runtime, assistant)


@router.post("/generate/checkin-instructions", response_model=GenerateOut)
async def generate_checkin(body: CheckinIn, runtime: Runtime, assistant: Assistant) -> GenerateOut:
    given = {
        "check_in_date": body.check_in_date.isoformat() if body.check_in_date else None,
        "check_in_time": body.check_in_time,
    }
    return await _generate("checkin_instructions", body, given, runtime, assistant)


@router.post("/generate/notification", response_model=GenerateOut)
async def generate_notification(
    body: NotificationIn, runtime: Runtime, assistant: Assistant
) -> GenerateOut:
    """The flows' notifications (kinds: late_arrival, room_ready, request_confirmation,
    lost_item_found, hazard_alert); ``fields`` fill the template."""
    if body.kind not in NOTIFICATION_KINDS:
        reason = f"unknown notification kind; one of {', '.join(NOTIFICATION_KINDS)}"
        raise HTTPException(422, detail=field_error("kind", reason))
    given: dict[str, str | None] = dict(body.fields)
    return await _generate(body.kind, body, given, runtime, assistant)


# ---------------------------------------------------------------------------------------------
# Monitoring
# ---------------------------------------------------------------------------------------------


class LogIn(_In):
    ts: LogTime
    service: str = Field(min_length=1, max_length=64)
    level: str = Field(min_length=1, max_length=16)
    message: str | None = Field(default=None, max_length=4000)


class AnalyzeIn(_In):
    window_s: float = Field(default=300.0, ge=10, le=86_400)
    baseline_windows: int = Field(default=12, ge=1, le=288)
    alpha: float = Field(default=1e-3, gt=0, lt=0.5)
    min_errors: int = Field(default=5, ge=1, le=100_000)
    service: str | None = Field(default=None, min_length=1, max_length=64)
    until: LogTime | None = Field(
        default=None, description="end of the analysed window; default now (or after the last log)"
    )
    logs: list[LogIn] | None = Field(
        default=None, max_length=50_000, description="analyse these instead of service_logs"
    )


class FindingOut(BaseModel):
    service: str
    kind: str
    observed: int
    expected: float
    p_value: float
    z_score: float
    severity: str


class ServiceWindowOut(BaseModel):
    service: str
    records: int
    errors: int
    baseline_records: float
    baseline_errors: float
    status: str


class AnalyzeOut(BaseModel):
    window_start: datetime
    window_end: datetime
    baseline_start: datetime
    services: list[ServiceWindowOut]
    findings: list[FindingOut]
    summary: str
    recommended_action: str
    summarized_by: Literal["template", "llm"]


def _supervisor(caller: Principal) -> AskerContext:
    context = context_of(caller)
    if context.role not in SUPERVISORS:
        raise HTTPException(403, detail="monitoring needs the manager or admin role")
    return context


async def _detect(body: AnalyzeIn, runtime: HubRuntime) -> tuple[DetectionReport, float]:
    config = DetectionConfig(
        window_s=body.window_s,
        baseline_windows=body.baseline_windows,
        alpha=body.alpha,
        min_errors=body.min_errors,
    )
    if body.logs is not None:
        records = [
            LogRecord(log.ts, log.service, log.level)
            for log in body.logs
            if body.service is None or log.service == body.service
        ]
        latest = max((r.ts for r in records), default=datetime.now(UTC))
        until = body.until or latest + timedelta(microseconds=1)
    else:
        until = body.until or datetime.now(UTC)
        since = until - timedelta(seconds=body.window_s * (body.baseline_windows + 1))
        records = await load_log_records(
            runtime.session_factory, since, until, service=body.service
        )
    return analyze(records, now=until, config=config), body.window_s


@router.post("/monitoring/analyze", response_model=AnalyzeOut)
async def monitoring_analyze(
    body: AnalyzeIn, caller: Caller, runtime: Runtime, assistant: Assistant
) -> AnalyzeOut:
    """Error spikes and log-rate changes (Poisson test against the preceding windows) in
    service_logs or the given logs; an LLM summary when it is reachable, else a template's."""
    _supervisor(caller)
    report, window_s = await _detect(body, runtime)
    summary, action, by = await assistant.summarize(report, window_s)
    return AnalyzeOut(
        window_start=report.window_start,
        window_end=report.window_end,
        baseline_start=report.baseline_start,
        services=[ServiceWindowOut(**asdict(s)) for s in report.services],
        findings=[FindingOut(**asdict(f)) for f in report.findings],
        summary=summary,
        recommended_action=action,
        summarized_by="llm" if by == "llm" else "template",
    )


class MonitoringStatusOut(BaseModel):
    status: Literal["ok", "anomalous"]
    window_start: datetime
    window_end: datetime
    services: list[ServiceWindowOut]
    findings: list[FindingOut]
    llm_reachable: bool
    llm_reason: str | None


@router.get("/monitoring/status", response_model=MonitoringStatusOut)
async def monitoring_status(
    caller: Caller, runtime: Runtime, assistant: Assistant
) -> MonitoringStatusOut:
    """The default analysis of the last window of service_logs (no LLM), and the LLM's state."""
    _supervisor(caller)
    report, _ = await _detect(AnalyzeIn(), runtime)
    health = await assistant.health()
    return MonitoringStatusOut(
        status="anomalous" if report.findings else "ok",
        window_start=report.window_start,
        window_end=report.window_end,
        services=[ServiceWindowOut(**asdict(s)) for s in report.services],
        findings=[FindingOut(**asdict(f)) for f in report.findings],
        llm_reachable=health.reachable,
        llm_reason=health.reason,
    )


# ---------------------------------------------------------------------------------------------
# Task execution
# ---------------------------------------------------------------------------------------------


class ExecuteIn(_In):
    task: str = Field(min_length=1, max_length=2000)


class StepOut(BaseModel):
    index: int
    service: str
    action: str
    args: dict[str, Any]
    status: str
    result: Any
    reason: str | None


class ExecuteOut(BaseModel):
    status: Literal["completed", "failed", "awaiting_confirmation"]
    planned_by: Literal["llm", "rules"]
    planner_note: str | None
    reason: str | None
    steps: list[StepOut]
    pending_action: dict[str, Any] | None


@router.post("/execute/task", response_model=ExecuteOut)
async def execute_task(
    body: ExecuteIn, caller: Caller, runtime: Runtime, assistant: Assistant
) -> ExecuteOut:
    """Plan the task (LLM, or rules for known intents) and run its steps with the caller's
    tools; a step that changes something is proposed and waits for /assistant/confirm."""
    context = context_of(caller)
    proposer = _proposer(runtime)
    tools = tools_for(SqlHotelData(runtime.session_factory), context)
    names = [t.name for t in tools] + [s.name for s in proposer.specs if context.role in s.roles]
    plan, planned_by, note = await assistant.plan(body.task, names)
    if plan is None:
        reason = "no known intent matches this task"
        reason += f" and the LLM cannot plan it ({note})" if note else ""
        raise HTTPException(422, detail=field_error("task", reason))
    execution = await run_plan(plan, {t.name: t for t in tools}, context, proposer)
    return ExecuteOut(
        status=execution.status,
        planned_by="llm" if planned_by == "llm" else "rules",
        planner_note=note,
        reason=execution.reason,
        steps=[StepOut(**asdict(s)) for s in execution.steps],
        pending_action=execution.pending_action,
    )


# ---------------------------------------------------------------------------------------------
# Health
# ---------------------------------------------------------------------------------------------


class HealthOut(BaseModel):
    reachable: bool
    provider: str
    model: str
    model_present: bool
    base_url: str
    reason: str | None


@router.get("/health", response_model=HealthOut)
async def llm_health(assistant: Assistant) -> HealthOut:
    health = await assistant.health()
    return HealthOut(
        reachable=health.reachable,
        provider=health.provider,
        model=health.model,
        model_present=health.model_present,
        base_url=health.base_url,
        reason=health.reason,
    )
