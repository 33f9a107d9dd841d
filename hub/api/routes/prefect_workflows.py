"""/api/v1/prefect workflows and pipelines: list, trigger (now or at a time), status and
cancel of flow runs, the sync and ETL pipelines (runs of hub/flows' workflows). HTTP only: the
runs are hub/flows/runner.py's."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from hub.api.deps import Runtime
from hub.api.errors import field_error
from hub.api.params import UtcDateTime
from hub.api.routes.prefect_common import (
    EARLIEST,
    FLOW_ERRORS,
    LATEST,
    RUN,
    JsonObject,
    Name,
    flow_error,
    forbid,
    runner_of,
)
from hub.flows.registry import PIPELINES, SYNC_WORKFLOW, WORKFLOWS
from hub.flows.runner import (
    FlowRunner,
    RunInfo,
)
from hub.flows.sync import DataType, SyncRequestError, SyncSource, SyncTarget, check_sync

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/prefect", tags=["prefect"])

# -- the seed document's examples (000_3e23a4a0d17304c3.txt), verbatim ({...} read as {}) ----

SEED_TRIGGER: dict[str, Any] = {
    "workflow_name": "daily_report_generation",
    "parameters": {"date": "2025-01-17", "report_types": ["occupancy", "revenue", "housekeeping"]},
    "scheduled_time": "2025-01-17T23:00:00Z",
}
SEED_SYNC: dict[str, Any] = {
    "source": "pms",
    "target": "warehouse",
    "data_type": "bookings",
    "date_range": {"start": "2025-01-01", "end": "2025-01-17"},
}


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
    model_config = forbid(SEED_TRIGGER)

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
    model_config = forbid(SEED_SYNC)

    source: SyncSource
    target: SyncTarget
    data_type: DataType
    date_range: DateRange | None = None


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
    runner = runner_of(runtime)
    try:
        info = await runner.trigger(workflow, parameters, scheduled_time)
    except FLOW_ERRORS as err:
        raise flow_error(err, field) from err
    return await _run_out(runner, info)


async def _status(runtime: Any, run_id: str, field: str) -> RunOut:
    runner = runner_of(runtime)
    try:
        return await _run_out(runner, await runner.status(run_id))
    except FLOW_ERRORS as err:
        raise flow_error(err, field) from err


# -- workflows ---------------------------------------------------------------------------------


@router.get("/workflows", response_model=WorkflowList, dependencies=RUN)
async def list_workflows() -> WorkflowList:
    return WorkflowList(
        items=[
            WorkflowOut(name=s.name, description=s.description, default_cron=s.default_cron)
            for s in WORKFLOWS.values()
        ]
    )


@router.post("/workflows/trigger", response_model=RunOut, status_code=202, dependencies=RUN)
async def trigger_workflow(body: TriggerRequest, runtime: Runtime) -> RunOut:
    """Starts a workflow (now, or at ``scheduled_time``: the run is ``scheduled`` until then)."""
    return await _trigger(runtime, body.workflow_name, body.parameters, body.scheduled_time)


@router.get("/workflows/status/{flow_run_id}", response_model=RunOut, dependencies=RUN)
async def workflow_status(flow_run_id: str, runtime: Runtime) -> RunOut:
    return await _status(runtime, flow_run_id, "flow_run_id")


@router.post("/workflows/cancel/{flow_run_id}", response_model=RunOut, dependencies=RUN)
async def cancel_workflow(flow_run_id: str, runtime: Runtime) -> RunOut:
    runner = runner_of(runtime)
    try:
        return await _run_out(runner, await runner.cancel(flow_run_id))
    except FLOW_ERRORS as err:
        raise flow_error(err, "flow_run_id") from err


# -- pipelines -----------------------------------------------------------------------------------


def _pipeline(run: RunOut, name: str) -> PipelineOut:
    return PipelineOut(**run.model_dump(), pipeline_id=run.flow_run_id, pipeline=name)


@router.post("/pipeline/sync", response_model=PipelineOut, status_code=202, dependencies=RUN)
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
    dependencies=RUN,
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


@router.get("/pipeline/status/{pipeline_id}", response_model=PipelineOut, dependencies=RUN)
async def pipeline_status(pipeline_id: str, runtime: Runtime) -> PipelineOut:
    run = await _status(runtime, pipeline_id, "pipeline_id")
    names = {w: p for p, w in PIPELINES.items()} | {SYNC_WORKFLOW: "sync"}
    workflow = run.workflow_name or "unknown"
    return _pipeline(run, names.get(workflow, workflow))
