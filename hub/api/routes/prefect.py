"""/api/v1/prefect: workflows, event triggers, pipelines, logs, schedules, alerts and health.

Shapes follow the seed document 000 (issue 13; every deviation is in docs/api.md).
Thin: parse, call :class:`~hub.flows.runner.FlowRunner`, the flow hooks or a flow logic module
(bookings, sync), shape. Run states come from Prefect itself; ``workflow_logs`` mirrors them.
Flow run ids are the hotel-facing ``fr_<32 hex>`` (Prefect's UUID underneath; either is
accepted). Everything needs ``flows:run`` except ``/health``, which tells anonymous callers
only its ``status``. Errors: an unknown workflow, pipeline, run, schedule, employee, booking,
room or alert is a 404; bad parameters, a bad cron or an unsupported sync a 422; cancelling a
finished run, an impossible booking transition, a stale room status or a taken schedule name a
409; flows disabled or Prefect unreachable a 503 saying why.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Security
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from sqlmodel import col, select

from hub.api.auth import MaybePrincipal, Principal, authorize, scoped
from hub.api.deps import Runtime, Session
from hub.api.errors import field_error
from hub.api.params import StorableText, UtcDateTime, storable_text
from hub.auth.scopes import Scope, grants
from hub.flows.attendance import NoCheckInError
from hub.flows.bookings import (
    BookingEvent,
    BookingEventError,
    BookingEventType,
    GuestData,
    RoomData,
    apply_booking_event,
)
from hub.flows.hooks import HubFlowHooks
from hub.flows.registry import PIPELINES, SYNC_WORKFLOW, WORKFLOWS, UnknownWorkflowError
from hub.flows.room import ROOM_STATUSES, StaleStatusError, UnknownRoomError
from hub.flows.runner import (
    FlowRunner,
    FlowsUnavailableError,
    InvalidParametersError,
    InvalidScheduleError,
    RunFinishedError,
    RunInfo,
    RunNotFoundError,
    ScheduleExistsError,
    ScheduleInfo,
    ScheduleNotFoundError,
)
from hub.flows.sync import DataType, SyncRequestError, SyncSource, SyncTarget, check_sync
from hub.tables import Employee, HazardAlert, ServiceLog, utcnow

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/prefect", tags=["prefect"])
_RUN = [scoped(Scope.FLOWS_RUN)]
Runner = Annotated[Principal, Security(authorize, scopes=[Scope.FLOWS_RUN])]

MAX_JSON_DEPTH = 8
MAX_LOG_RECORDS = 1000

# -- the seed document's examples (000_3e23a4a0d17304c3.txt), verbatim ({...} read as {}) ----

SEED_TRIGGER: dict[str, Any] = {
    "workflow_name": "daily_report_generation",
    "parameters": {"date": "2025-01-17", "report_types": ["occupancy", "revenue", "housekeeping"]},
    "scheduled_time": "2025-01-17T23:00:00Z",
}
SEED_ATTENDANCE: dict[str, Any] = {
    "employee_id": "EMP001",
    "timestamp": "2025-01-17T08:30:00Z",
    "action": "check_in",
    "location": "cam_lobby_01",
    "confidence": 0.98,
}
SEED_BOOKING: dict[str, Any] = {
    "booking_id": "BOOK001",
    "event_type": "new_booking",
    "guest_data": {},
    "room_data": {},
}
BOOKING_FILLED: dict[str, Any] = {
    "booking_id": "BOOK001",
    "event_type": "new_booking",
    "guest_data": {"guest_id": "GUEST001", "name": "Nguyen Van A", "email": "a@example.com"},
    "room_data": {
        "room_number": "201",
        "check_in_date": "2025-01-17",
        "check_out_date": "2025-01-19",
        "rate_per_night": 120.0,
    },
}
SEED_ROOM_STATUS: dict[str, Any] = {
    "room_number": "201",
    "old_status": "dirty",
    "new_status": "clean",
    "updated_by": "EMP005",
    "timestamp": "2025-01-17T11:00:00Z",
}
SEED_SYNC: dict[str, Any] = {
    "source": "pms",
    "target": "warehouse",
    "data_type": "bookings",
    "date_range": {"start": "2025-01-01", "end": "2025-01-17"},
}
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
SEED_SCHEDULE: dict[str, Any] = {
    "name": "nightly_ml_retrain",
    "workflow": "ml_model_retrain",
    "cron": "0 2 * * *",
    "parameters": {"model_name": "pricing_model"},
}


def _forbid(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(examples)})


def _storable_json(value: Any, depth: int = 0) -> Any:
    """JSON a database can store: no NUL characters or lone surrogates in keys or strings
    (PostgreSQL's JSONB refuses them), nesting at most MAX_JSON_DEPTH deep."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        storable_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            storable_text(key)
            _storable_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _storable_json(item, depth + 1)
    return value


def _plausible(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return value


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2199, 12, 31, tzinfo=UTC)

JsonObject = Annotated[dict[str, Any], AfterValidator(_storable_json)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]
Id = Annotated[str, Field(min_length=1, max_length=64), StorableText]
ShortText = Annotated[str, Field(min_length=1, max_length=200), StorableText]
SeenAt = Annotated[UtcDateTime, AfterValidator(_plausible)]


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


Level = Annotated[Literal["debug", "info", "warning", "error", "critical"], BeforeValidator(_lower)]


# -- workflows -------------------------------------------------------------------------------


class RunOut(BaseModel):
    """A flow run, in the seed's names (``flow_run_id``, ``workflow_name``, ``status``,
    ``scheduled_start``, ``estimated_duration_minutes``) and our details beside them."""

    flow_run_id: str = Field(description="fr_<32 hex>; Prefect's UUID is prefect_flow_run_id")
    workflow_name: str | None
    status: str = Field(description="Prefect's state type, lower case: scheduled, running, ...")
    scheduled_start: datetime | None
    estimated_duration_minutes: float = Field(
        description="median of this workflow's latest completed runs (workflow_logs), else "
        "the workflow's default"
    )
    estimate_source: Literal["history", "default"]
    prefect_flow_run_id: str
    state_name: str
    start_time: datetime | None
    end_time: datetime | None
    result: dict[str, Any] | None = None
    error: str | None = None


class PipelineOut(RunOut):
    pipeline_id: str = Field(description="the flow run's id (fr_...)")
    pipeline: str


class TriggerRequest(BaseModel):
    model_config = _forbid(SEED_TRIGGER)

    workflow_name: Name = Field(description="a workflow of GET /workflows")
    parameters: JsonObject = Field(default_factory=dict)
    scheduled_time: UtcDateTime | None = Field(
        default=None,
        description="When to run (UTC when no offset is given); absent or past: at once.",
    )


class EtlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parameters: JsonObject = Field(default_factory=dict)


class WorkflowOut(BaseModel):
    name: str
    description: str
    default_cron: str | None


class WorkflowList(BaseModel):
    items: list[WorkflowOut]


# -- events ------------------------------------------------------------------------------------


class AttendanceEvent(BaseModel):
    model_config = _forbid(SEED_ATTENDANCE)

    employee_id: Id
    timestamp: SeenAt
    action: Literal["check_in", "check_out"]
    location: Id | None = Field(default=None, description="camera or place; kept as camera_id")
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    method: Literal["face", "pin", "badge", "manual"] | None = Field(
        default=None, description="ours; default face when confidence is given, else manual"
    )


class AttendanceOut(BaseModel):
    attendance_log_id: int
    employee_id: str
    action: str
    timestamp: datetime
    work_date: str
    check_in_at: datetime
    check_out_at: datetime | None
    status: str
    method: str
    location: str | None
    confidence: float | None
    minutes_late: int
    notification: bool
    entered_by: str = Field(description="who entered it: the caller's token subject (kind:name)")


class GuestDataIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    guest_id: Annotated[str, Field(min_length=1, max_length=32), StorableText] | None = Field(
        default=None, description="the hotel's guest id (GUEST001)"
    )
    name: ShortText | None = None
    email: Annotated[str, Field(max_length=254), StorableText] | None = None
    phone: Annotated[str, Field(max_length=40), StorableText] | None = None
    nationality: Annotated[str, Field(min_length=2, max_length=2)] | None = None
    vip: bool | None = None
    loyalty_tier: Annotated[str, Field(max_length=32), StorableText] | None = None


class RoomDataIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    room_number: Annotated[str, Field(min_length=1, max_length=16), StorableText] | None = None
    room_type: Annotated[str, Field(min_length=1, max_length=32), StorableText] | None = None
    check_in_date: date | None = None
    check_out_date: date | None = None
    rate_per_night: Annotated[float, Field(ge=0, le=9_999_999)] | None = None
    total_amount: Annotated[float, Field(ge=0, le=999_999_999)] | None = None
    currency: Annotated[str, Field(min_length=3, max_length=3)] | None = None
    adults: Annotated[int, Field(ge=1, le=50)] | None = None
    children: Annotated[int, Field(ge=0, le=50)] | None = None


class BookingEventIn(BaseModel):
    model_config = _forbid(SEED_BOOKING, BOOKING_FILLED)

    booking_id: Annotated[str, Field(min_length=1, max_length=32), StorableText]
    event_type: BookingEventType
    guest_data: GuestDataIn = Field(default_factory=GuestDataIn)
    room_data: RoomDataIn = Field(default_factory=RoomDataIn)


class BookingOut(BaseModel):
    booking_id: str
    event_type: str
    status: str
    previous_status: str | None
    created: bool
    guest_created: bool
    guest_id: str | None = Field(description="the hotel's guest id, when the guest has one")
    room_number: str | None
    room_status: str | None


class RoomStatusEvent(BaseModel):
    model_config = _forbid(SEED_ROOM_STATUS)

    room_number: Annotated[str, Field(min_length=1, max_length=16), StorableText]
    old_status: Annotated[str, Field(min_length=1, max_length=16)]
    new_status: Annotated[str, Field(min_length=1, max_length=16)]
    updated_by: Id
    timestamp: SeenAt


class RoomStatusOut(BaseModel):
    room_number: str
    old_status: str
    new_status: str
    status: str = Field(description="the status as the hub stores it (clean -> available)")
    previous: str
    updated_by: str
    timestamp: datetime
    waiting_booking_id: int | None
    guest_notified: bool


# -- pipelines, logs, schedules, alerts, health ------------------------------------------------


def _plausible_day(value: date) -> date:
    if not EARLIEST.date() <= value <= LATEST.date():
        raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return value


Day = Annotated[date, AfterValidator(_plausible_day)]


class DateRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: Day
    end: Day


class SyncRequest(BaseModel):
    model_config = _forbid(SEED_SYNC)

    source: SyncSource
    target: SyncTarget
    data_type: DataType
    date_range: DateRange | None = None


class LogRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: Level = Field(description="debug | info | warning | error | critical (any case)")
    message: Annotated[str, Field(min_length=1, max_length=8000), StorableText]
    metadata: JsonObject = Field(default_factory=dict)
    timestamp: UtcDateTime | None = None


class LogIngest(BaseModel):
    model_config = _forbid(SEED_LOGS)

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


class ScheduleRequest(BaseModel):
    model_config = _forbid(SEED_SCHEDULE)

    name: Name = Field(description="the schedule's name, unique per workflow")
    workflow: Name
    cron: Annotated[str, Field(min_length=1, max_length=120), StorableText]
    parameters: JsonObject = Field(default_factory=dict)
    timezone: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    active: bool = True


class ScheduleOut(BaseModel):
    schedule_id: str
    name: str | None
    workflow: str
    cron: str
    timezone: str | None
    active: bool
    parameters: dict[str, Any]
    default: bool

    @classmethod
    def of(cls, info: ScheduleInfo) -> ScheduleOut:
        return cls.model_validate(info, from_attributes=True)


class ScheduleList(BaseModel):
    items: list[ScheduleOut]


class AlertOut(BaseModel):
    id: int
    hazard: str
    location: str
    detected_at: datetime
    sends: int
    last_sent_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class AlertList(BaseModel):
    items: list[AlertOut]


class Check(BaseModel):
    status: Literal["ok", "error", "disabled"]
    latency_ms: float | None = None
    detail: str | None = None


class FlowsHealth(BaseModel):
    """``status`` for everyone; the rest only with ``flows:run``."""

    status: Literal["healthy", "degraded", "unhealthy"]
    timestamp: datetime | None = None
    version: str | None = None
    checks: dict[str, Check] | None = None
    flows_enabled: bool | None = None
    executor: str | None = None
    deployments: int | None = None
    channels: list[str] | None = None


# -- helpers -----------------------------------------------------------------------------------


def _runner(runtime: Any) -> FlowRunner:
    runner: FlowRunner | None = runtime.flow_runner
    if runner is None:
        raise HTTPException(
            status_code=503,
            detail="flows are disabled on this hub: set INNSIGHT_FLOWS_ENABLED=true "
            "(and PREFECT_API_URL for a Prefect server)",
        )
    return runner


def _hooks(runtime: Any) -> HubFlowHooks:
    hooks = runtime.flow_hooks
    if not isinstance(hooks, HubFlowHooks):
        raise HTTPException(status_code=503, detail="the flow hooks are not running")
    return hooks


def _error(err: Exception, field: str) -> HTTPException:
    if isinstance(err, UnknownWorkflowError):
        return HTTPException(404, detail=field_error(field, str(err)))
    if isinstance(err, InvalidParametersError):
        return HTTPException(422, detail=field_error("parameters", str(err)))
    if isinstance(err, InvalidScheduleError):
        return HTTPException(422, detail=field_error("cron", str(err)))
    if isinstance(err, RunNotFoundError | ScheduleNotFoundError):
        return HTTPException(404, detail=field_error(field, str(err)))
    if isinstance(err, RunFinishedError | ScheduleExistsError):
        return HTTPException(409, detail=field_error(field, str(err)))
    if isinstance(err, FlowsUnavailableError):
        return HTTPException(503, detail=str(err))
    raise err


_ERRORS = (
    UnknownWorkflowError,
    InvalidParametersError,
    InvalidScheduleError,
    RunNotFoundError,
    ScheduleNotFoundError,
    ScheduleExistsError,
    RunFinishedError,
    FlowsUnavailableError,
)


async def _run_out(runner: FlowRunner, info: RunInfo) -> RunOut:
    estimate = await runner.estimate(info.workflow) if info.workflow in WORKFLOWS else None
    return RunOut(
        flow_run_id=info.flow_run_id,
        workflow_name=info.workflow,
        status=info.state,
        scheduled_start=info.scheduled_time,
        estimated_duration_minutes=estimate.minutes if estimate else 0.0,
        estimate_source="history" if estimate and estimate.source == "history" else "default",
        prefect_flow_run_id=info.prefect_flow_run_id,
        state_name=info.state_name,
        start_time=info.start_time,
        end_time=info.end_time,
        result=info.result,
        error=info.error,
    )


async def _trigger(
    runtime: Any,
    workflow: str,
    parameters: dict[str, Any],
    scheduled_time: datetime | None,
    field: str = "workflow_name",
) -> RunOut:
    runner = _runner(runtime)
    try:
        info = await runner.trigger(workflow, parameters, scheduled_time)
    except _ERRORS as err:
        raise _error(err, field) from err
    return await _run_out(runner, info)


async def _status(runtime: Any, run_id: str, field: str) -> RunOut:
    runner = _runner(runtime)
    try:
        return await _run_out(runner, await runner.status(run_id))
    except _ERRORS as err:
        raise _error(err, field) from err


# -- workflows ---------------------------------------------------------------------------------


@router.get("/workflows", response_model=WorkflowList, dependencies=_RUN)
async def list_workflows() -> WorkflowList:
    return WorkflowList(
        items=[
            WorkflowOut(name=s.name, description=s.description, default_cron=s.default_cron)
            for s in WORKFLOWS.values()
        ]
    )


@router.post("/workflows/trigger", response_model=RunOut, status_code=202, dependencies=_RUN)
async def trigger_workflow(body: TriggerRequest, runtime: Runtime) -> RunOut:
    """Starts a workflow (now, or at ``scheduled_time``: the run is ``scheduled`` until then)."""
    return await _trigger(runtime, body.workflow_name, body.parameters, body.scheduled_time)


@router.get("/workflows/status/{flow_run_id}", response_model=RunOut, dependencies=_RUN)
async def workflow_status(flow_run_id: str, runtime: Runtime) -> RunOut:
    return await _status(runtime, flow_run_id, "flow_run_id")


@router.post("/workflows/cancel/{flow_run_id}", response_model=RunOut, dependencies=_RUN)
async def cancel_workflow(flow_run_id: str, runtime: Runtime) -> RunOut:
    runner = _runner(runtime)
    try:
        return await _run_out(runner, await runner.cancel(flow_run_id))
    except _ERRORS as err:
        raise _error(err, "flow_run_id") from err


# -- events --------------------------------------------------------------------------------------


@router.post("/events/attendance", response_model=AttendanceOut)
async def attendance_event(
    body: AttendanceEvent, runtime: Runtime, session: Session, principal: Runner
) -> AttendanceOut:
    """A check-in or check-out reported by another service (a recognition of the CV service,
    a PIN pad, a badge reader, a manual entry). ``check_out`` closes the day's record. Face
    events of the edges arrive through MQTT instead. Who entered it (the token's subject) is
    kept with the entry (``entered_by``) and in the audit log."""
    hooks = _hooks(runtime)
    employee = (
        await session.exec(select(Employee).where(Employee.employee_id == body.employee_id))
    ).first()
    if employee is None or not employee.is_active:
        raise HTTPException(
            404, detail=field_error("employee_id", "no active employee with that id")
        )
    method = body.method or ("face" if body.confidence is not None else "manual")
    try:
        outcome, log = await hooks.attendance.apply_manual(
            body.employee_id,
            body.timestamp,
            method,
            body.location,
            action=body.action,
            confidence=body.confidence,
            entered_by=principal.actor,
        )
    except NoCheckInError as err:
        raise HTTPException(409, detail=field_error("action", str(err))) from err
    if log is None or log.id is None:
        raise HTTPException(409, detail=field_error("timestamp", "the event was not applied"))
    for late in outcome.late:
        await hooks.notify_late(late.attendance_log_id)
    closing = body.action == "check_out"
    return AttendanceOut(
        attendance_log_id=log.id,
        employee_id=log.employee_id,
        action=body.action,
        timestamp=body.timestamp,
        work_date=log.work_date.isoformat(),
        check_in_at=log.check_in_at,
        check_out_at=log.check_out_at,
        status=log.status,
        method=log.method,
        location=log.check_out_camera_id if closing else log.camera_id,
        confidence=log.check_out_confidence if closing else log.confidence,
        minutes_late=await hooks.attendance.minutes_late(log.id),
        notification=bool(outcome.late),
        entered_by=principal.actor,
    )


@router.post("/events/booking", response_model=BookingOut, dependencies=_RUN)
async def booking_event(body: BookingEventIn, runtime: Runtime) -> BookingOut:
    """A PMS booking event (hub/flows/bookings.py): ``new_booking`` creates an unknown booking
    from ``guest_data`` and ``room_data``; the others move a known one (the room becomes
    occupied at check-in and is to be cleaned at check-out)."""
    guest = body.guest_data
    room = body.room_data
    event = BookingEvent(
        booking_id=body.booking_id,
        event_type=body.event_type,
        guest=GuestData(**guest.model_dump()),
        room=RoomData(
            **room.model_dump(exclude={"rate_per_night", "total_amount"}),
            rate_per_night=_money(room.rate_per_night),
            total_amount=_money(room.total_amount),
        ),
    )
    try:
        outcome = await apply_booking_event(runtime.session_factory, event)
    except BookingEventError as err:
        raise HTTPException(err.status, detail=field_error(err.field, err.reason)) from err
    return BookingOut(
        booking_id=outcome.booking_id,
        event_type=outcome.event_type,
        status=outcome.status,
        previous_status=outcome.previous_status,
        created=outcome.created,
        guest_created=outcome.guest_created,
        guest_id=outcome.guest_ref,
        room_number=outcome.room_number,
        room_status=outcome.room_status,
    )


def _money(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(round(value, 2)))


@router.post("/events/room_status", response_model=RoomStatusOut)
async def room_status_event(
    body: RoomStatusEvent, runtime: Runtime, principal: Runner
) -> RoomStatusOut:
    """A room status change (housekeeping, the CV service's room analysis): ``old_status``
    must be the room's current status (409 naming both otherwise); who and when are recorded
    in the audit log; a room that became ready notifies the guest waiting for it."""
    for name, value in (("old_status", body.old_status), ("new_status", body.new_status)):
        if value not in ROOM_STATUSES:
            raise HTTPException(422, detail=field_error(name, f"one of {', '.join(ROOM_STATUSES)}"))
    hooks = _hooks(runtime)
    try:
        update = await hooks.apply_room_status(
            body.room_number,
            body.old_status,
            body.new_status,
            updated_by=body.updated_by,
            at=body.timestamp,
            actor=principal.actor,
        )
    except UnknownRoomError as err:
        raise HTTPException(404, detail=field_error("room_number", str(err))) from err
    except StaleStatusError as err:
        raise HTTPException(409, detail=field_error("old_status", str(err))) from err
    return RoomStatusOut(
        room_number=update.room_number,
        old_status=body.old_status,
        new_status=body.new_status,
        status=update.status,
        previous=update.previous,
        updated_by=body.updated_by,
        timestamp=body.timestamp,
        waiting_booking_id=update.waiting_booking_id,
        guest_notified=update.waiting_booking_id is not None,
    )


# -- pipelines -----------------------------------------------------------------------------------


def _pipeline(run: RunOut, name: str) -> PipelineOut:
    return PipelineOut(**run.model_dump(), pipeline_id=run.flow_run_id, pipeline=name)


@router.post("/pipeline/sync", response_model=PipelineOut, status_code=202, dependencies=_RUN)
async def pipeline_sync(body: SyncRequest, runtime: Runtime) -> PipelineOut:
    """One data type from a source to a target (hub/flows/sync.py): a JSON Lines export to the
    warehouse (the object store) limited to ``date_range``, or the face gallery to the edges."""
    start = body.date_range.start if body.date_range else None
    end = body.date_range.end if body.date_range else None
    try:
        check_sync(body.source, body.target, body.data_type, start, end)
    except SyncRequestError as err:
        raise HTTPException(422, detail=field_error(err.field, err.reason)) from err
    parameters = {
        "source": body.source,
        "target": body.target,
        "data_type": body.data_type,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
    }
    run = await _trigger(runtime, SYNC_WORKFLOW, parameters, None)
    return _pipeline(run, "sync")


@router.post(
    "/pipeline/etl/{pipeline_name}",
    response_model=PipelineOut,
    status_code=202,
    dependencies=_RUN,
)
async def pipeline_etl(
    pipeline_name: str, runtime: Runtime, body: EtlRequest | None = None
) -> PipelineOut:
    workflow = PIPELINES.get(pipeline_name)
    if workflow is None:
        known = ", ".join(sorted(PIPELINES))
        raise HTTPException(
            404, detail=field_error("pipeline_name", f"unknown pipeline; known: {known}")
        )
    parameters = body.parameters if body is not None else {}
    run = await _trigger(runtime, workflow, parameters, None)
    return _pipeline(run, pipeline_name)


@router.get("/pipeline/status/{pipeline_id}", response_model=PipelineOut, dependencies=_RUN)
async def pipeline_status(pipeline_id: str, runtime: Runtime) -> PipelineOut:
    run = await _status(runtime, pipeline_id, "pipeline_id")
    names = {w: p for p, w in PIPELINES.items()} | {SYNC_WORKFLOW: "sync"}
    workflow = run.workflow_name or "unknown"
    return _pipeline(run, names.get(workflow, workflow))


# -- logs ------------------------------------------------------------------------------------------


@router.post("/logs/ingest", response_model=LogIngested, dependencies=_RUN)
async def ingest_logs(body: LogIngest, session: Session) -> LogIngested:
    """Log records shipped by a service (no personal data in messages: DESIGN §7). Levels are
    stored upper case (the assistant's monitoring reads them so) and answered lower case."""
    now = utcnow()
    session.add_all(
        ServiceLog(
            ts=r.timestamp or now,
            service=body.service,
            level=r.level.upper(),
            message=r.message,
            context=r.metadata,
        )
        for r in body.logs
    )
    await session.commit()
    return LogIngested(service=body.service, stored=len(body.logs))


@router.get("/logs/query", response_model=LogPage, dependencies=_RUN)
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
    query = select(ServiceLog)
    if service is not None and service != "all":
        query = query.where(ServiceLog.service == service)
    if level is not None:
        query = query.where(col(ServiceLog.level).in_((level.upper(), level)))
    if start_time is not None:
        query = query.where(col(ServiceLog.ts) >= start_time)
    if end_time is not None:
        query = query.where(col(ServiceLog.ts) <= end_time)
    rows = (await session.exec(query.order_by(col(ServiceLog.ts).desc()).limit(limit))).all()
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


# -- schedules -------------------------------------------------------------------------------------


@router.post("/schedule/create", response_model=ScheduleOut, status_code=201, dependencies=_RUN)
async def create_schedule(body: ScheduleRequest, runtime: Runtime) -> ScheduleOut:
    runner = _runner(runtime)
    try:
        info = await runner.create_schedule(
            body.workflow,
            body.cron,
            body.timezone,
            body.parameters,
            body.active,
            slug=body.name,
        )
    except ScheduleExistsError as err:
        raise _error(err, "name") from err
    except _ERRORS as err:
        raise _error(err, "workflow") from err
    return ScheduleOut.of(info)


@router.get("/schedule/list", response_model=ScheduleList, dependencies=_RUN)
async def list_schedules(runtime: Runtime) -> ScheduleList:
    try:
        items = await _runner(runtime).list_schedules()
    except _ERRORS as err:
        raise _error(err, "schedule") from err
    return ScheduleList(items=[ScheduleOut.of(i) for i in items])


@router.delete("/schedule/{schedule_id}", response_model=ScheduleOut, dependencies=_RUN)
async def delete_schedule(schedule_id: str, runtime: Runtime) -> ScheduleOut:
    try:
        return ScheduleOut.of(await _runner(runtime).delete_schedule(schedule_id))
    except _ERRORS as err:
        raise _error(err, "schedule_id") from err


# -- hazard alerts ---------------------------------------------------------------------------------


def _alert(row: HazardAlert) -> AlertOut:
    return AlertOut.model_validate(row, from_attributes=True)


@router.get("/alerts", response_model=AlertList, dependencies=_RUN)
async def list_alerts(
    session: Session,
    open_only: Annotated[bool, Query(alias="open")] = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlertList:
    query = select(HazardAlert)
    if open_only:
        query = query.where(col(HazardAlert.acknowledged_at).is_(None))
    rows = await session.exec(query.order_by(col(HazardAlert.detected_at).desc()).limit(limit))
    return AlertList(items=[_alert(r) for r in rows.all()])


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
async def acknowledge_alert(
    alert_id: Annotated[int, Path(ge=1, le=2**31 - 1)], runtime: Runtime, principal: Runner
) -> AlertOut:
    """Stops the re-alerts of one hazard alert."""
    from hub.flows.hazard import acknowledge

    hooks = _hooks(runtime)
    row = await acknowledge(hooks.deps, alert_id, principal.actor)
    if row is None:
        raise HTTPException(404, detail=field_error("alert_id", f"no alert {alert_id}"))
    return _alert(row)


# -- health ----------------------------------------------------------------------------------------


async def _timed_database(runtime: Any) -> Check:
    started = time.perf_counter()
    error = await runtime.check_database()
    ms = round((time.perf_counter() - started) * 1000, 1)
    return Check(status="ok" if error is None else "error", latency_ms=ms, detail=error)


# credentials are optional here: the empty requirement tells OpenAPI clients so
@router.get(
    "/health",
    response_model=FlowsHealth,
    response_model_exclude_none=True,
    openapi_extra={"security": [{}]},
)
async def flows_health(
    request: Request, runtime: Runtime, principal: MaybePrincipal
) -> FlowsHealth:
    """``healthy``: Prefect answers and the deployments are registered; ``degraded``: Prefect
    answers but the deployments are not (yet) registered; ``unhealthy``: flows are disabled,
    Prefect does not answer or the database does not. Only ``status`` without ``flows:run``."""
    database = await _timed_database(runtime)
    runner = runtime.flow_runner
    checks: dict[str, Check] = {"database": database}
    prefect: dict[str, Any] | None = None
    if runner is None:
        checks["prefect_api"] = Check(status="disabled", detail="INNSIGHT_FLOWS_ENABLED=false")
        checks["deployments"] = Check(status="disabled")
    else:
        started = time.perf_counter()
        prefect = await runner.health()
        ms = round((time.perf_counter() - started) * 1000, 1)
        api_error = prefect["api_error"]
        checks["prefect_api"] = Check(
            status="ok" if api_error is None else "error", latency_ms=ms, detail=api_error
        )
        checks["deployments"] = Check(
            status="ok" if prefect["registered"] else "error",
            detail=prefect["registration_error"]
            or f"{prefect['deployments']} registered, executor {prefect['executor']}",
        )
    status: Literal["healthy", "degraded", "unhealthy"] = "healthy"
    if any(checks[name].status != "ok" for name in ("database", "prefect_api")):
        status = "unhealthy"
    elif checks["deployments"].status != "ok":
        status = "degraded"
    if principal is None or not grants(principal.scopes, Scope.FLOWS_RUN):
        return FlowsHealth(status=status)
    hooks = runtime.flow_hooks
    channels = hooks.deps.notifier.channels if isinstance(hooks, HubFlowHooks) else []
    checks["notifier"] = Check(
        status="ok" if channels else "disabled", detail=", ".join(channels) or "no channel"
    )
    return FlowsHealth(
        status=status,
        timestamp=datetime.now(UTC),
        version=request.app.version,
        checks=checks,
        flows_enabled=runner is not None,
        executor=prefect["executor"] if prefect else None,
        deployments=prefect["deployments"] if prefect else None,
        channels=channels,
    )
