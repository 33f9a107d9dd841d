"""/api/v1/prefect schedules: create, list and delete cron schedules of workflows (the
Prefect deployments' schedules, through hub/flows/runner.py)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from hub.api.deps import Runtime
from hub.api.params import StorableText
from hub.api.routes.prefect_common import (
    FLOW_ERRORS,
    RUN,
    JsonObject,
    Name,
    flow_error,
    forbid,
    runner_of,
)
from hub.flows.runner import (
    ScheduleExistsError,
    ScheduleInfo,
)

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/prefect", tags=["prefect"])

# -- the seed document's examples (000_3e23a4a0d17304c3.txt), verbatim ({...} read as {}) ----

SEED_SCHEDULE: dict[str, Any] = {
    "name": "nightly_ml_retrain",
    "workflow": "ml_model_retrain",
    "cron": "0 2 * * *",
    "parameters": {"model_name": "pricing_model"},
}


class ScheduleRequest(BaseModel):
    model_config = forbid(SEED_SCHEDULE)

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


# -- schedules -------------------------------------------------------------------------------------


@router.post("/schedule/create", response_model=ScheduleOut, status_code=201, dependencies=RUN)
async def create_schedule(body: ScheduleRequest, runtime: Runtime) -> ScheduleOut:
    runner = runner_of(runtime)
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
        raise flow_error(err, "name") from err
    except FLOW_ERRORS as err:
        raise flow_error(err, "workflow") from err
    return ScheduleOut.of(info)


@router.get("/schedule/list", response_model=ScheduleList, dependencies=RUN)
async def list_schedules(runtime: Runtime) -> ScheduleList:
    try:
        items = await runner_of(runtime).list_schedules()
    except FLOW_ERRORS as err:
        raise flow_error(err, "schedule") from err
    return ScheduleList(items=[ScheduleOut.of(i) for i in items])


@router.delete("/schedule/{schedule_id}", response_model=ScheduleOut, dependencies=RUN)
async def delete_schedule(schedule_id: str, runtime: Runtime) -> ScheduleOut:
    try:
        return ScheduleOut.of(await runner_of(runtime).delete_schedule(schedule_id))
    except FLOW_ERRORS as err:
        raise flow_error(err, "schedule_id") from err
