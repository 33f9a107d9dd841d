"""/api/v1/prefect: workflows, event triggers, pipelines, logs, schedules and alerts (issue 8).

Thin: parse, call :class:`~hub.flows.runner.FlowRunner` or the flow hooks, shape. Run states come
from Prefect itself; ``workflow_logs`` mirrors them. Everything needs ``flows:run`` except
``/health``. Errors: an unknown workflow, pipeline, run, schedule, employee, booking, room or
alert is a 404; bad parameters or a bad cron a 422; cancelling a finished run or an impossible
booking transition a 409; flows disabled or Prefect unreachable a 503 saying why.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Security
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlmodel import col, select

from hub.api.auth import Principal, authorize, scoped
from hub.api.deps import Runtime, Session
from hub.api.errors import field_error
from hub.api.params import StorableText, UtcDateTime, storable_text
from hub.auth.scopes import Scope
from hub.flows.hooks import HubFlowHooks
from hub.flows.registry import PIPELINES, SYNC_WORKFLOW, WORKFLOWS, UnknownWorkflowError
from hub.flows.room import UnknownRoomError
from hub.flows.runner import (
    FlowRunner,
    FlowsUnavailableError,
    InvalidParametersError,
    InvalidScheduleError,
    RunFinishedError,
    RunInfo,
    RunNotFoundError,
    ScheduleInfo,
    ScheduleNotFoundError,
)
from hub.tables import Booking, Employee, HazardAlert, Room, ServiceLog, utcnow

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/prefect", tags=["prefect"])
_RUN = [scoped(Scope.FLOWS_RUN)]
Runner = Annotated[Principal, Security(authorize, scopes=[Scope.FLOWS_RUN])]

_FORBID = ConfigDict(extra="forbid")
MAX_JSON_DEPTH = 8


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


JsonObject = Annotated[dict[str, Any], AfterValidator(_storable_json)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]
Text = Annotated[str, Field(max_length=4000), StorableText]
MAX_LOG_RECORDS = 1000


# -- shapes ----------------------------------------------------------------------------------


class RunOut(BaseModel):
    flow_run_id: str
    workflow: str | None
    state: str = Field(description="Prefect's state type, lower case: scheduled, running, ...")
    state_name: str
    scheduled_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    result: dict[str, Any] | None = None
    error: str | None = None

    @classmethod
    def of(cls, info: RunInfo) -> RunOut:
        return cls.model_validate(info, from_attributes=True)


class PipelineOut(RunOut):
    pipeline_id: str
    pipeline: str


class TriggerRequest(BaseModel):
    model_config = _FORBID

    workflow: Name
    parameters: JsonObject = Field(default_factory=dict)
    scheduled_time: UtcDateTime | None = Field(
        default=None, description="When to run (UTC when no offset is given); absent: now."
    )


class EtlRequest(BaseModel):
    model_config = _FORBID

    parameters: JsonObject = Field(default_factory=dict)


class WorkflowOut(BaseModel):
    name: str
    description: str
    default_cron: str | None


class WorkflowList(BaseModel):
    items: list[WorkflowOut]


class ScheduleRequest(BaseModel):
    model_config = _FORBID

    workflow: Name
    cron: Annotated[str, Field(min_length=1, max_length=120), StorableText]
    timezone: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    parameters: JsonObject = Field(default_factory=dict)
    active: bool = True


class ScheduleOut(BaseModel):
    schedule_id: str
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


def _plausible(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return value


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2199, 12, 31, tzinfo=UTC)
SeenAt = Annotated[UtcDateTime, AfterValidator(_plausible)]


class AttendanceEvent(BaseModel):
    model_config = _FORBID

    employee_id: Annotated[str, Field(min_length=1, max_length=64), StorableText]
    seen_at: SeenAt
    method: Literal["pin", "badge", "manual"] = "manual"
    camera_id: Annotated[str, Field(min_length=1, max_length=64), StorableText] | None = None


class AttendanceOut(BaseModel):
    attendance_log_id: int
    employee_id: str
    work_date: str
    check_in_at: datetime
    check_out_at: datetime | None
    status: str
    method: str
    minutes_late: int
    notification: bool


class BookingEvent(BaseModel):
    model_config = _FORBID

    booking_ref: Annotated[str, Field(min_length=1, max_length=32), StorableText]
    action: Literal["check_in", "check_out", "cancel", "no_show"]


class BookingOut(BaseModel):
    booking_ref: str
    status: str
    room_number: str | None
    room_status: str | None


class RoomStatusEvent(BaseModel):
    model_config = _FORBID

    room_number: Annotated[str, Field(min_length=1, max_length=16), StorableText]
    ready_for_guest: bool
    analysis_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None


class RoomStatusOut(BaseModel):
    room_number: str
    previous: str
    status: str
    waiting_booking_id: int | None
    guest_notified: bool


class LogRecord(BaseModel):
    model_config = _FORBID

    ts: UtcDateTime | None = None
    service: Annotated[str, Field(min_length=1, max_length=64), StorableText]
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    message: Annotated[str, Field(min_length=1, max_length=8000), StorableText]
    context: JsonObject = Field(default_factory=dict)


class LogIngest(BaseModel):
    model_config = _FORBID

    records: list[LogRecord] = Field(min_length=1, max_length=MAX_LOG_RECORDS)


class LogIngested(BaseModel):
    stored: int


class LogOut(BaseModel):
    id: int
    ts: datetime
    service: str
    level: str
    message: str
    context: dict[str, Any]


class LogPage(BaseModel):
    items: list[LogOut]


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


class FlowsHealth(BaseModel):
    status: Literal["ok", "degraded", "disabled"]
    flows_enabled: bool
    channels: list[str]
    prefect: dict[str, Any] | None = None


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
    if isinstance(err, RunFinishedError):
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
    RunFinishedError,
    FlowsUnavailableError,
)


async def _trigger(
    runtime: Any,
    workflow: str,
    parameters: dict[str, Any],
    scheduled_time: datetime | None,
    field: str = "workflow",
) -> RunInfo:
    runner = _runner(runtime)
    try:
        return await runner.trigger(workflow, parameters, scheduled_time)
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
    info = await _trigger(runtime, body.workflow, body.parameters, body.scheduled_time)
    return RunOut.of(info)


@router.get("/workflows/status/{flow_run_id}", response_model=RunOut, dependencies=_RUN)
async def workflow_status(flow_run_id: str, runtime: Runtime) -> RunOut:
    try:
        return RunOut.of(await _runner(runtime).status(flow_run_id))
    except _ERRORS as err:
        raise _error(err, "flow_run_id") from err


@router.post("/workflows/cancel/{flow_run_id}", response_model=RunOut, dependencies=_RUN)
async def cancel_workflow(flow_run_id: str, runtime: Runtime) -> RunOut:
    try:
        return RunOut.of(await _runner(runtime).cancel(flow_run_id))
    except _ERRORS as err:
        raise _error(err, "flow_run_id") from err


# -- events --------------------------------------------------------------------------------------


@router.post("/events/attendance", response_model=AttendanceOut, dependencies=_RUN)
async def attendance_event(
    body: AttendanceEvent, runtime: Runtime, session: Session
) -> AttendanceOut:
    """A check-in/out that is not a face event: PIN, badge or manual entry (the alternative for
    employees who decline face attendance). Face events arrive through MQTT."""
    hooks = _hooks(runtime)
    employee = (
        await session.exec(select(Employee).where(Employee.employee_id == body.employee_id))
    ).first()
    if employee is None or not employee.is_active:
        raise HTTPException(
            404, detail=field_error("employee_id", "no active employee with that id")
        )
    outcome, log = await hooks.attendance.apply_manual(
        body.employee_id, body.seen_at, body.method, body.camera_id
    )
    if log is None or log.id is None:
        raise HTTPException(409, detail=field_error("seen_at", "the sighting was not applied"))
    for late in outcome.late:
        await hooks.notify_late(late.attendance_log_id)
    return AttendanceOut(
        attendance_log_id=log.id,
        employee_id=log.employee_id,
        work_date=log.work_date.isoformat(),
        check_in_at=log.check_in_at,
        check_out_at=log.check_out_at,
        status=log.status,
        method=log.method,
        minutes_late=await hooks.attendance.minutes_late(log.id),
        notification=bool(outcome.late),
    )


_BOOKING_MOVES: dict[str, tuple[frozenset[str], str, str | None]] = {
    # action: (allowed current statuses, new booking status, new room status)
    "check_in": (frozenset({"reserved"}), "checked_in", "occupied"),
    "check_out": (frozenset({"checked_in"}), "checked_out", "cleaning"),
    "cancel": (frozenset({"reserved"}), "cancelled", None),
    "no_show": (frozenset({"reserved"}), "no_show", None),
}


@router.post("/events/booking", response_model=BookingOut, dependencies=_RUN)
async def booking_event(body: BookingEvent, session: Session) -> BookingOut:
    """A PMS booking event: the booking's status, and the room's (occupied at check-in, to be
    cleaned at check-out)."""
    booking = (
        await session.exec(select(Booking).where(Booking.booking_ref == body.booking_ref))
    ).first()
    if booking is None:
        raise HTTPException(404, detail=field_error("booking_ref", "no booking with that ref"))
    allowed, new_status, room_status = _BOOKING_MOVES[body.action]
    if booking.status not in allowed:
        raise HTTPException(
            409,
            detail=field_error(
                "action", f"cannot {body.action} a booking that is {booking.status}"
            ),
        )
    now = utcnow()
    booking.status = new_status
    booking.updated_at = now
    if body.action == "check_in":
        booking.checked_in_at = now
    elif body.action == "check_out":
        booking.checked_out_at = now
    session.add(booking)
    room = await session.get(Room, booking.room_id) if booking.room_id else None
    if room is not None and room_status is not None:
        room.status = room_status
        room.updated_at = now
        session.add(room)
    await session.commit()
    return BookingOut(
        booking_ref=booking.booking_ref,
        status=booking.status,
        room_number=room.room_number if room else None,
        room_status=room.status if room else None,
    )


@router.post("/events/room_status", response_model=RoomStatusOut, dependencies=_RUN)
async def room_status_event(body: RoomStatusEvent, runtime: Runtime) -> RoomStatusOut:
    """A room analysis result (the same path as the room analysis endpoint's hook)."""
    hooks = _hooks(runtime)
    try:
        update = await hooks.apply_room(body.room_number, body.ready_for_guest, body.analysis_id)
    except UnknownRoomError as err:
        raise HTTPException(404, detail=field_error("room_number", str(err))) from err
    return RoomStatusOut(
        room_number=update.room_number,
        previous=update.previous,
        status=update.status,
        waiting_booking_id=update.waiting_booking_id,
        guest_notified=update.waiting_booking_id is not None,
    )


# -- pipelines -----------------------------------------------------------------------------------


def _pipeline(info: RunInfo, name: str) -> PipelineOut:
    return PipelineOut(**RunOut.of(info).model_dump(), pipeline_id=info.flow_run_id, pipeline=name)


@router.post("/pipeline/sync", response_model=PipelineOut, status_code=202, dependencies=_RUN)
async def pipeline_sync(runtime: Runtime) -> PipelineOut:
    """Publish the face gallery to the edges (a new version from the enrolled templates)."""
    return _pipeline(await _trigger(runtime, SYNC_WORKFLOW, {}, None), "sync")


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
    return _pipeline(await _trigger(runtime, workflow, parameters, None), pipeline_name)


@router.get("/pipeline/status/{pipeline_id}", response_model=PipelineOut, dependencies=_RUN)
async def pipeline_status(pipeline_id: str, runtime: Runtime) -> PipelineOut:
    try:
        info = await _runner(runtime).status(pipeline_id)
    except _ERRORS as err:
        raise _error(err, "pipeline_id") from err
    names = {w: p for p, w in PIPELINES.items()} | {SYNC_WORKFLOW: "sync"}
    return _pipeline(info, names.get(info.workflow or "", info.workflow or "unknown"))


# -- logs ------------------------------------------------------------------------------------------


@router.post("/logs/ingest", response_model=LogIngested, dependencies=_RUN)
async def ingest_logs(body: LogIngest, session: Session) -> LogIngested:
    """Log records shipped by other services (no personal data in messages: DESIGN §7)."""
    now = utcnow()
    session.add_all(
        ServiceLog(
            ts=r.ts or now, service=r.service, level=r.level, message=r.message, context=r.context
        )
        for r in body.records
    )
    await session.commit()
    return LogIngested(stored=len(body.records))


@router.get("/logs/query", response_model=LogPage, dependencies=_RUN)
async def query_logs(
    session: Session,
    service: Annotated[str | None, Query(max_length=64), StorableText] = None,
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | None = None,
    since: UtcDateTime | None = None,
    until: UtcDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> LogPage:
    if since is not None and until is not None and since > until:
        raise HTTPException(422, detail=field_error("since", "must not be after until"))
    query = select(ServiceLog)
    if service is not None:
        query = query.where(ServiceLog.service == service)
    if level is not None:
        query = query.where(ServiceLog.level == level)
    if since is not None:
        query = query.where(col(ServiceLog.ts) >= since)
    if until is not None:
        query = query.where(col(ServiceLog.ts) <= until)
    rows = await session.exec(query.order_by(col(ServiceLog.ts).desc()).limit(limit))
    return LogPage(items=[LogOut.model_validate(r, from_attributes=True) for r in rows.all()])


# -- schedules -------------------------------------------------------------------------------------


@router.post("/schedule/create", response_model=ScheduleOut, status_code=201, dependencies=_RUN)
async def create_schedule(body: ScheduleRequest, runtime: Runtime) -> ScheduleOut:
    runner = _runner(runtime)
    try:
        info = await runner.create_schedule(
            body.workflow, body.cron, body.timezone, body.parameters, body.active
        )
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


@router.get("/health", response_model=FlowsHealth, openapi_extra={"security": [{}]})
async def flows_health(runtime: Runtime) -> FlowsHealth:
    hooks = runtime.flow_hooks
    channels = hooks.deps.notifier.channels if isinstance(hooks, HubFlowHooks) else []
    runner = runtime.flow_runner
    if runner is None:
        return FlowsHealth(status="disabled", flows_enabled=False, channels=channels)
    prefect = await runner.health()
    ok = prefect["api_error"] is None and prefect["registered"]
    return FlowsHealth(
        status="ok" if ok else "degraded", flows_enabled=True, channels=channels, prefect=prefect
    )
