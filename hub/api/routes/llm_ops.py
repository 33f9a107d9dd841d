"""``/api/v1/llm`` routes beside the questions: guest-request routing, message generation, log
monitoring, task execution and the workflow-completion webhook (included by
:mod:`hub.api.routes.llm`). Request and response shapes are the seed's (000 "LLM Service");
docs/api.md lists what we add and where we deviate."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import select

from hub.api.deps import HubRuntime
from hub.api.errors import field_error
from hub.api.routes.llm_common import (
    Assistant,
    Caller,
    FlowsCaller,
    In,
    Metrics,
    Runtime,
    UtcTime,
    observed,
    proposer_of,
)
from hub.assistant.alerts import issues_of, send_alert
from hub.assistant.completions import Completion, record_completion
from hub.assistant.context import AskerContext, context_of
from hub.assistant.data import GuestNotFoundError, SqlHotelData, guest_stay
from hub.assistant.generate import (
    GUEST_KINDS,
    NOTIFICATION_KINDS,
    TEMPLATE_FIELDS,
    GeneratedMessage,
    Lang,
    MissingFieldError,
    UnknownTemplateError,
    booking_fields,
    format_amount,
    html_document,
    render,
)
from hub.assistant.intake import GuestRequest, audit_request, record_task
from hub.assistant.logs import load_log_records
from hub.assistant.monitoring import DetectionConfig, DetectionReport, LogRecord, analyze
from hub.assistant.planner import TaskContext, run_plan
from hub.assistant.routing import implied_quantity, request_type
from hub.assistant.tools import tools_for
from hub.auth.principal import Principal
from hub.auth.scopes import Role
from hub.tables import Booking, Room

logger = logging.getLogger(__name__)
router = APIRouter()

SUPERVISORS = frozenset({Role.ADMIN, Role.MANAGER})
REF_PATTERN = r"^[A-Za-z0-9._:-]+$"
LABEL_PATTERN = r"^[A-Za-z][A-Za-z0-9 _-]*$"

# The seed's example requests (000 "LLM Service"), verbatim.
SEED_ANALYZE: dict[str, Any] = {
    "logs": [
        {
            "service": "cv",
            "level": "error",
            "message": "Recognition failed",
            "timestamp": "2025-01-17T08:30:00Z",
        },
        {
            "service": "cv",
            "level": "error",
            "message": "Recognition failed",
            "timestamp": "2025-01-17T08:31:00Z",
        },
    ]
}
SEED_CLASSIFY: dict[str, Any] = {
    "request": {
        "guest_id": "GUEST001",
        "message": "I need extra towels in my room",
        "channel": "whatsapp",
        "timestamp": "2025-01-17T08:30:00Z",
    }
}
SEED_EMAIL: dict[str, Any] = {
    "template_type": "booking_confirmation",
    "variables": {
        "guest_name": "John Doe",
        "room_type": "Deluxe Ocean View",
        "check_in": "2025-02-01",
        "check_out": "2025-02-03",
        "total_amount": 5000000,
    },
    "language": "vi",
}
SEED_EXECUTE: dict[str, Any] = {
    "instruction": "Check if room 201 is clean and ready, then send confirmation email to guest",
    "context": {"booking_id": "BOOK001", "room_number": "201"},
}


def _supervisor(caller: Principal) -> AskerContext:
    context = context_of(caller)
    if context.role not in SUPERVISORS:
        raise HTTPException(403, detail="monitoring needs the manager or admin role")
    return context


# ---------------------------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------------------------


class GuestRequestIn(In):
    guest_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        pattern=REF_PATTERN,
        description="the hotel's guest reference (GUEST001): its stay gives the room",
    )
    message: str = Field(min_length=1, max_length=4000)
    channel: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        pattern=LABEL_PATTERN,
        description="where the request came from (whatsapp, sms, email, web, phone, ...)",
    )
    timestamp: UtcTime | None = Field(
        default=None, description="when the guest sent it; the stay is looked up on that day"
    )


class ClassifyIn(In):
    model_config = ConfigDict(json_schema_extra={"examples": [SEED_CLASSIFY]})

    request: GuestRequestIn
    dispatch: bool = Field(
        default=True,
        description="start the work (the guest_request workflow, or a housekeeping task); "
        "false: classify only (workflow_id null)",
    )


class StructuredRequestOut(BaseModel):
    type: str
    room_number: str | None
    items: list[str]
    quantity: int
    urgency: str


class ClassifyOut(BaseModel):
    category: str
    priority: str
    assigned_to: str = Field(description="the team the request is routed to")
    structured_request: StructuredRequestOut
    workflow_id: str | None
    assignee_role: str
    answered_by: Literal["rules", "llm"]
    guest_id: str | None
    booking_ref: str | None
    channel: str | None
    received_at: datetime | None
    started_by: Literal["prefect", "hub", "none"]


async def _start(
    runtime: HubRuntime,
    request: GuestRequest,
    routing: Any,
    stay: dict[str, Any] | None,
    room_number: str | None,
    quantity: int,
) -> tuple[str, Literal["prefect", "hub"]]:
    if runtime.flow_runner is not None:
        parameters = {"message": request.message, "booking_id": stay and stay["booking_id"]}
        try:
            run = await runtime.flow_runner.trigger("guest_request", parameters)
        except Exception as err:  # noqa: BLE001 - Prefect down or refusing: the hub records it
            logger.warning("guest_request workflow not started (%s)", type(err).__name__)
        else:
            return str(run.flow_run_id), "prefect"
    _task_id, workflow_id = await record_task(
        runtime.session_factory, request, routing, stay, room_number=room_number, quantity=quantity
    )
    return workflow_id, "hub"


@router.post("/routing/classify", response_model=ClassifyOut)
async def routing_classify(
    body: ClassifyIn, caller: Caller, assistant: Assistant, runtime: Runtime, metrics: Metrics
) -> ClassifyOut:
    """Classify a guest request (LLM, or rules when it is unreachable), fill the room from the
    guest's stay when the message does not name one, and start the work."""
    given = body.request
    with observed(metrics, "routing_classify"):
        stay: dict[str, Any] | None = None
        if given.guest_id is not None:
            day = (given.timestamp or datetime.now(UTC)).date()
            try:
                stay = await guest_stay(runtime.session_factory, given.guest_id, day)
            except GuestNotFoundError as err:
                raise HTTPException(404, detail=field_error("request.guest_id", str(err))) from err
        routing, answered_by = await assistant.route(given.message)
        metrics.answered_by.labels("routing_classify", answered_by).inc()
        room_number = routing.request.room_number or (stay["room_number"] if stay else None)
        quantity = implied_quantity(given.message, routing)
        request = GuestRequest(given.message, given.guest_id, given.channel, given.timestamp)
        workflow_id: str | None = None
        started_by: Literal["prefect", "hub", "none"] = "none"
        if body.dispatch:
            workflow_id, started_by = await _start(
                runtime, request, routing, stay, room_number, quantity
            )
            await audit_request(
                runtime.session_factory,
                request,
                routing,
                actor=caller.actor,
                workflow_id=workflow_id,
                started_by=started_by,
            )
    return ClassifyOut(
        category=routing.category,
        priority=routing.priority,
        assigned_to=f"{routing.assignee_role}_team",
        structured_request=StructuredRequestOut(
            type=request_type(routing),
            room_number=room_number,
            items=list(routing.request.items),
            quantity=quantity,
            urgency=routing.request.urgency,
        ),
        workflow_id=workflow_id,
        assignee_role=routing.assignee_role,
        answered_by="llm" if answered_by == "llm" else "rules",
        guest_id=given.guest_id,
        booking_ref=stay["booking_ref"] if stay else None,
        channel=given.channel,
        received_at=given.timestamp,
        started_by=started_by,
    )


# ---------------------------------------------------------------------------------------------
# Message generation
# ---------------------------------------------------------------------------------------------

VariableName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
VariableValue = str | int | float | None


class GenerateIn(In):
    template_type: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="which message (booking_confirmation, email, apology, "
        "checkin_instructions, room_ready, ...); each route has its default",
    )
    variables: dict[VariableName, VariableValue] = Field(
        default_factory=dict,
        max_length=30,
        description="the template's fields (guest_name, check_in, total_amount, ...)",
    )
    language: Lang | None = Field(
        default=None,
        description="vi | en; default: en for a booked guest of another nationality, else vi",
    )
    booking_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        pattern=REF_PATTERN,
        description="the hotel's booking reference (BOOK001): fills the variables not given",
    )
    room_number: str | None = Field(default=None, min_length=1, max_length=16)
    polish: bool = Field(default=False, description="let the LLM rewrite the template's text")


class EmailIn(GenerateIn):
    model_config = ConfigDict(json_schema_extra={"examples": [SEED_EMAIL]})


class ApologyIn(GenerateIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "template_type": "apology",
                    "variables": {"guest_name": "John Doe", "issue": "the noise last night"},
                    "language": "en",
                }
            ]
        }
    )


class CheckinIn(GenerateIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "template_type": "checkin_instructions",
                    "variables": {"guest_name": "John Doe", "check_in_date": "2025-02-01"},
                    "language": "vi",
                }
            ]
        }
    )


class NotificationIn(GenerateIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "template_type": "room_ready",
                    "variables": {"guest_name": "John Doe", "room_number": "201"},
                    "language": "en",
                }
            ]
        }
    )


class GenerateOut(BaseModel):
    subject: str
    body: str
    html_body: str = Field(description="a complete HTML document")
    template_type: str
    language: Lang
    generated_by: Literal["template", "llm"]


EXTRA_VARIABLES = {"booking_confirmation": ("currency",)}


def _fields_of(kind: str, variables: dict[str, VariableValue], lang: Lang) -> dict[str, str]:
    required, optional = TEMPLATE_FIELDS[kind]
    known = (*required, *optional, *EXTRA_VARIABLES.get(kind, ()))
    unknown = [name for name in variables if name not in known]
    if unknown:
        reasons = [
            field_error(
                f"variables.{name}", f"not a field of {kind!r}; its fields: {', '.join(known)}"
            )
            for name in unknown
        ]
        raise HTTPException(422, detail=reasons)
    fields: dict[str, str] = {}
    currency = variables.get("currency")
    for name, value in variables.items():
        if value is None or name == "currency":
            continue
        if name == "total_amount" and isinstance(value, int | float):
            fields[name] = format_amount(float(value), lang, str(currency) if currency else None)
        else:
            fields[name] = str(value)
    return fields


async def _generate(
    route_kinds: tuple[str, ...],
    body: GenerateIn,
    runtime: HubRuntime,
    assistant: Assistant,
    metrics: Metrics,
    endpoint: str,
) -> GenerateOut:
    kind = (body.template_type or route_kinds[0]).strip().lower().replace("-", "_")
    if kind not in route_kinds:
        reason = f"this route renders {', '.join(route_kinds)}; not {body.template_type!r}"
        raise HTTPException(422, detail=field_error("template_type", reason))
    with observed(metrics, endpoint):
        facts: dict[str, str] = {}
        if body.booking_id is not None or body.room_number is not None:
            found = await SqlHotelData(runtime.session_factory).booking_facts(
                booking_ref=body.booking_id, room_number=body.room_number, on_date=date.today()
            )
            if found is None and body.booking_id is not None:
                raise HTTPException(
                    404, detail=field_error("booking_id", f"no booking {body.booking_id!r}")
                )
            facts = found or {}
        nationality = facts.get("nationality", "")
        lang: Lang = body.language or ("vi" if nationality.upper() in ("VN", "") else "en")
        fields = booking_fields(facts, lang) if facts else {}
        if body.room_number is not None:
            fields["room_number"] = body.room_number
        fields.update(_fields_of(kind, body.variables, lang))
        try:
            message: GeneratedMessage = render(kind, lang, fields)
        except UnknownTemplateError as err:
            raise HTTPException(422, detail=field_error("template_type", str(err))) from err
        except MissingFieldError as err:
            reasons = [
                field_error(
                    f"variables.{name}",
                    "required (give it, or a booking_id/room_number whose booking has it)",
                )
                for name in err.fields
            ]
            raise HTTPException(422, detail=reasons) from err
        generated_by = "template"
        if body.polish:
            message, generated_by = await assistant.polish(message, lang)
        metrics.answered_by.labels(endpoint, generated_by).inc()
    return GenerateOut(
        subject=message.subject,
        body=message.body,
        html_body=html_document(message, lang),
        template_type=kind,
        language=lang,
        generated_by="llm" if generated_by == "llm" else "template",
    )


@router.post("/generate/email", response_model=GenerateOut)
async def generate_email(
    body: EmailIn, _caller: Caller, runtime: Runtime, assistant: Assistant, metrics: Metrics
) -> GenerateOut:
    (
        """A guest e-mail from a template (``template_type``: """
        + ", ".join(GUEST_KINDS)
        + """),
    filled from ``variables`` and/or a booking, in ``language``."""
    )
    return await _generate(GUEST_KINDS, body, runtime, assistant, metrics, "generate_email")


@router.post("/generate/apology", response_model=GenerateOut)
async def generate_apology(
    body: ApologyIn, _caller: Caller, runtime: Runtime, assistant: Assistant, metrics: Metrics
) -> GenerateOut:
    """An apology to a guest (``variables``: guest_name, issue, remedy?, hotel_name?)."""
    return await _generate(("apology",), body, runtime, assistant, metrics, "generate_apology")


@router.post("/generate/checkin-instructions", response_model=GenerateOut)
async def generate_checkin(
    body: CheckinIn, _caller: Caller, runtime: Runtime, assistant: Assistant, metrics: Metrics
) -> GenerateOut:
    """Check-in instructions (``variables``: guest_name, check_in_date, check_in_time?,
    check_out_date?, room_number?, booking_ref?; or a ``booking_id`` that has them)."""
    return await _generate(
        ("checkin_instructions",), body, runtime, assistant, metrics, "generate_checkin"
    )


@router.post("/generate/notification", response_model=GenerateOut)
async def generate_notification(
    body: NotificationIn,
    _caller: Caller,
    runtime: Runtime,
    assistant: Assistant,
    metrics: Metrics,
) -> GenerateOut:
    """The flows' notifications (``template_type``: late_arrival, room_ready,
    request_confirmation, lost_item_found, hazard_alert)."""
    if body.template_type is None:
        reason = f"required: one of {', '.join(NOTIFICATION_KINDS)}"
        raise HTTPException(422, detail=field_error("template_type", reason))
    return await _generate(
        NOTIFICATION_KINDS, body, runtime, assistant, metrics, "generate_notification"
    )


# ---------------------------------------------------------------------------------------------
# Monitoring
# ---------------------------------------------------------------------------------------------


class LogIn(In):
    service: str = Field(min_length=1, max_length=64)
    level: str = Field(min_length=1, max_length=16, description="debug | info | warning | error")
    message: str | None = Field(
        default=None, max_length=4000, description="not analysed, never forwarded in alerts"
    )
    timestamp: UtcTime


class AnalyzeIn(In):
    model_config = ConfigDict(json_schema_extra={"examples": [SEED_ANALYZE]})

    logs: list[LogIn] | None = Field(
        default=None,
        max_length=50_000,
        description="analyse these (the windows before the first one count as quiet); "
        "without them: the hub's service_logs",
    )
    window_s: float = Field(default=300.0, ge=10, le=86_400)
    baseline_windows: int = Field(default=12, ge=1, le=288)
    alpha: float = Field(default=1e-3, gt=0, lt=0.5)
    min_errors: int = Field(default=2, ge=1, le=100_000)
    service: str | None = Field(default=None, min_length=1, max_length=64)
    until: UtcTime | None = Field(
        default=None, description="end of the analysed window; default now (or after the last log)"
    )
    alert: bool = Field(default=True, description="send an alert when anomalies are found")


class IssueOut(BaseModel):
    type: str
    service: str
    severity: str
    description: str
    recommended_action: str


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
    anomalies_detected: bool
    issues: list[IssueOut]
    alert_sent: bool
    alert_channels: list[str]
    alert_failed_channels: list[str]
    summary: str
    summarized_by: Literal["template", "llm"]
    window_start: datetime
    window_end: datetime
    baseline_start: datetime
    services: list[ServiceWindowOut]
    findings: list[FindingOut]


async def _detect(body: AnalyzeIn, runtime: HubRuntime) -> DetectionReport:
    config = DetectionConfig(
        window_s=body.window_s,
        baseline_windows=body.baseline_windows,
        alpha=body.alpha,
        min_errors=body.min_errors,
    )
    if body.logs is not None:
        records = [
            LogRecord(log.timestamp, log.service, log.level)
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
    return analyze(records, now=until, config=config)


@router.post("/monitoring/analyze", response_model=AnalyzeOut)
async def monitoring_analyze(
    body: AnalyzeIn, caller: Caller, runtime: Runtime, assistant: Assistant, metrics: Metrics
) -> AnalyzeOut:
    """Error spikes and log-rate changes (Poisson test against the preceding windows) in the
    given logs or service_logs; an LLM summary when it is reachable, else a template's; one
    alert on every configured channel when anything was found (``alert``)."""
    _supervisor(caller)
    with observed(metrics, "monitoring_analyze"):
        report = await _detect(body, runtime)
        summary, _action, by = await assistant.summarize(report, body.window_s)
        metrics.answered_by.labels("monitoring_analyze", by).inc()
        issues = issues_of(report, body.window_s)
        sent: list[str] = []
        failed: list[str] = []
        if issues and body.alert and runtime.notifier is not None:
            sent, failed = await send_alert(
                runtime.notifier, issues, summary, email=runtime.settings.attendance_notify_email
            )
            for channel in sent:
                metrics.alerts.labels(channel, "sent").inc()
            for channel in failed:
                metrics.alerts.labels(channel, "failed").inc()
    return AnalyzeOut(
        anomalies_detected=bool(report.findings),
        issues=[IssueOut(**asdict(i)) for i in issues],
        alert_sent=bool(sent),
        alert_channels=sent,
        alert_failed_channels=failed,
        summary=summary,
        summarized_by="llm" if by == "llm" else "template",
        window_start=report.window_start,
        window_end=report.window_end,
        baseline_start=report.baseline_start,
        services=[ServiceWindowOut(**asdict(s)) for s in report.services],
        findings=[FindingOut(**asdict(f)) for f in report.findings],
    )


class MonitoringStatusOut(BaseModel):
    status: Literal["healthy", "degraded"]
    anomalies_detected: bool
    issues: list[IssueOut]
    window_start: datetime
    window_end: datetime
    services: list[ServiceWindowOut]
    llm_reachable: bool
    llm_reason: str | None


@router.get("/monitoring/status", response_model=MonitoringStatusOut)
async def monitoring_status(
    caller: Caller, runtime: Runtime, assistant: Assistant
) -> MonitoringStatusOut:
    """The default analysis of the last window of service_logs (no LLM, no alert):
    ``degraded`` when it finds anomalies; and the LLM's state."""
    _supervisor(caller)
    defaults = AnalyzeIn()
    report = await _detect(defaults, runtime)
    health = await assistant.health()
    return MonitoringStatusOut(
        status="degraded" if report.findings else "healthy",
        anomalies_detected=bool(report.findings),
        issues=[IssueOut(**asdict(i)) for i in issues_of(report, defaults.window_s)],
        window_start=report.window_start,
        window_end=report.window_end,
        services=[ServiceWindowOut(**asdict(s)) for s in report.services],
        llm_reachable=health.reachable,
        llm_reason=health.reason,
    )


# ---------------------------------------------------------------------------------------------
# Task execution
# ---------------------------------------------------------------------------------------------


class ExecuteContextIn(In):
    booking_id: str | None = Field(
        default=None, min_length=1, max_length=32, pattern=REF_PATTERN, description="BOOK001"
    )
    room_number: str | None = Field(default=None, min_length=1, max_length=16)


class ExecuteIn(In):
    model_config = ConfigDict(json_schema_extra={"examples": [SEED_EXECUTE]})

    instruction: str = Field(min_length=1, max_length=2000)
    context: ExecuteContextIn | None = None


class PlanStepOut(BaseModel):
    step: int
    action: str
    service: str
    args: dict[str, Any]
    reason: str


class StepResultOut(BaseModel):
    step: int
    status: Literal["completed", "failed", "pending_confirmation", "skipped"]
    result: Any = None
    reason: str | None = None


class ExecuteOut(BaseModel):
    execution_plan: list[PlanStepOut]
    results: list[StepResultOut]
    overall_status: Literal["success", "failed", "awaiting_confirmation"]
    planned_by: Literal["llm", "rules"]
    planner_note: str | None
    reason: str | None
    pending_action: dict[str, Any] | None


_STEP_STATUS: dict[str, Literal["completed", "failed", "pending_confirmation", "skipped"]] = {
    "ok": "completed",
    "failed": "failed",
    "pending_confirmation": "pending_confirmation",
    "skipped": "skipped",
}
_OVERALL: dict[str, Literal["success", "failed", "awaiting_confirmation"]] = {
    "completed": "success",
    "failed": "failed",
    "awaiting_confirmation": "awaiting_confirmation",
}


async def _check_context(runtime: HubRuntime, given: ExecuteContextIn) -> None:
    async with runtime.session_factory() as session:
        if given.booking_id is not None:
            query = select(Booking).where(Booking.booking_ref == given.booking_id)
            if (await session.exec(query)).first() is None:
                raise HTTPException(
                    404,
                    detail=field_error("context.booking_id", f"no booking {given.booking_id!r}"),
                )
        if given.room_number is not None:
            found = (
                await session.exec(select(Room).where(Room.room_number == given.room_number))
            ).first()
            if found is None:
                raise HTTPException(
                    404, detail=field_error("context.room_number", f"no room {given.room_number!r}")
                )


@router.post("/execute/task", response_model=ExecuteOut)
async def execute_task(
    body: ExecuteIn, caller: Caller, runtime: Runtime, assistant: Assistant, metrics: Metrics
) -> ExecuteOut:
    """Plan the instruction (LLM, or rules for known intents) with the ``context`` it is about,
    and run its steps with the caller's tools; a step that changes something (an e-mail, a
    task, a workflow) is proposed and waits for ``/assistant/confirm``."""
    given = body.context or ExecuteContextIn()
    await _check_context(runtime, given)
    context = context_of(caller)
    proposer = proposer_of(runtime)
    tools = tools_for(SqlHotelData(runtime.session_factory), context)
    names = [t.name for t in tools] + [s.name for s in proposer.specs if context.role in s.roles]
    about = TaskContext(booking_ref=given.booking_id, room_number=given.room_number)
    with observed(metrics, "execute_task"):
        plan, planned_by, note = await assistant.plan(body.instruction, names, about)
        metrics.answered_by.labels("execute_task", planned_by).inc()
        if plan is None:
            reason = "no known intent matches this instruction"
            reason += f" and the LLM cannot plan it ({note})" if note else ""
            raise HTTPException(422, detail=field_error("instruction", reason))
        execution = await run_plan(plan, {t.name: t for t in tools}, context, proposer)
    return ExecuteOut(
        execution_plan=[
            PlanStepOut(
                step=i + 1, action=s.action, service=s.service, args=s.args, reason=s.reason
            )
            for i, s in enumerate(plan.steps)
        ],
        results=[
            StepResultOut(
                step=r.index + 1, status=_STEP_STATUS[r.status], result=r.result, reason=r.reason
            )
            for r in execution.steps
        ],
        overall_status=_OVERALL[execution.status],
        planned_by="llm" if planned_by == "llm" else "rules",
        planner_note=note,
        reason=execution.reason,
        pending_action=execution.pending_action,
    )


# ---------------------------------------------------------------------------------------------
# Webhooks
# ---------------------------------------------------------------------------------------------


class WorkflowCompleteIn(In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "workflow_name": "daily_report_generation",
                    "flow_run_id": "0193f0a4-7c1e-7d2a-9f6b-2b1c3d4e5f60",
                    "status": "completed",
                    "result": {"report_url": "http://hub.local/reports/2025-01-17.html"},
                    "finished_at": "2025-01-17T06:31:00Z",
                }
            ]
        }
    )

    workflow_name: str = Field(min_length=1, max_length=128)
    flow_run_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=REF_PATTERN)
    status: Literal["completed", "failed", "crashed", "cancelled"]
    result: dict[str, Any] | None = None
    error: str | None = Field(default=None, max_length=4000)
    finished_at: UtcTime | None = None
    parameters: dict[str, Any] | None = None


class WorkflowCompleteOut(BaseModel):
    received: bool
    workflow_log_id: int
    created: bool = Field(description="true when the hub had no row of this run yet")
    status: str
    staff_message_id: int | None = Field(description="the managers' message about a failure")


@router.post("/webhooks/workflow-complete", response_model=WorkflowCompleteOut)
async def workflow_complete(
    body: WorkflowCompleteIn, caller: FlowsCaller, runtime: Runtime, metrics: Metrics
) -> WorkflowCompleteOut:
    """A workflow finished (Prefect posts its result; scope ``flows:run``): its workflow_logs
    row gets the status, result and error; a failure queues a message to the managers."""
    recorded = await record_completion(
        runtime.session_factory,
        Completion(
            workflow_name=body.workflow_name,
            status=body.status,
            flow_run_id=body.flow_run_id,
            result=body.result,
            error=body.error,
            finished_at=body.finished_at,
            parameters=body.parameters,
        ),
        actor=caller.actor,
    )
    metrics.workflow_completions.labels(body.status).inc()
    return WorkflowCompleteOut(
        received=True,
        workflow_log_id=recorded.workflow_log_id,
        created=recorded.created,
        status=body.status,
        staff_message_id=recorded.staff_message_id,
    )
