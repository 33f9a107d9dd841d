"""What the /api/v1/prefect route modules share: the ``flows:run`` guard, body field types
(storable JSON, names, plausible datetimes, log levels), and the runner/hook lookups with the
mapping of the flow layer's errors to HTTP answers."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import HTTPException, Security
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from hub.api.auth import Principal, authorize, scoped
from hub.api.errors import field_error
from hub.api.params import StorableText, UtcDateTime, storable_text
from hub.auth.scopes import Scope
from hub.flows.hooks import HubFlowHooks
from hub.flows.registry import UnknownWorkflowError
from hub.flows.runner import (
    FlowRunner,
    FlowsUnavailableError,
    InvalidParametersError,
    InvalidScheduleError,
    RunFinishedError,
    RunNotFoundError,
    ScheduleExistsError,
    ScheduleNotFoundError,
)

logger = logging.getLogger(__name__)

RUN = [scoped(Scope.FLOWS_RUN)]
Runner = Annotated[Principal, Security(authorize, scopes=[Scope.FLOWS_RUN])]

MAX_JSON_DEPTH = 8


def forbid(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(examples)})


def storable_json(value: Any, depth: int = 0) -> Any:
    """JSON a database can store: no NUL characters or lone surrogates in keys or strings
    (PostgreSQL's JSONB refuses them), nesting at most MAX_JSON_DEPTH deep."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        storable_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            storable_text(key)
            storable_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            storable_json(item, depth + 1)
    return value


def _plausible(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return value


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2199, 12, 31, tzinfo=UTC)

JsonObject = Annotated[dict[str, Any], AfterValidator(storable_json)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]
Id = Annotated[str, Field(min_length=1, max_length=64), StorableText]
ShortText = Annotated[str, Field(min_length=1, max_length=200), StorableText]
SeenAt = Annotated[UtcDateTime, AfterValidator(_plausible)]


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


Level = Annotated[Literal["debug", "info", "warning", "error", "critical"], BeforeValidator(_lower)]


# -- runner, hooks, errors ---------------------------------------------------------------------


def runner_of(runtime: Any) -> FlowRunner:
    runner: FlowRunner | None = runtime.flow_runner
    if runner is None:
        raise HTTPException(
            status_code=503,
            detail="flows are disabled on this hub: set INNSIGHT_FLOWS_ENABLED=true "
            "(and PREFECT_API_URL for a Prefect server)",
        )
    return runner


def hooks_of(runtime: Any) -> HubFlowHooks:
    hooks = runtime.flow_hooks
    if not isinstance(hooks, HubFlowHooks):
        raise HTTPException(status_code=503, detail="the flow hooks are not running")
    return hooks


def flow_error(err: Exception, field: str) -> HTTPException:
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


FLOW_ERRORS = (
    UnknownWorkflowError,
    InvalidParametersError,
    InvalidScheduleError,
    RunNotFoundError,
    ScheduleNotFoundError,
    ScheduleExistsError,
    RunFinishedError,
    FlowsUnavailableError,
)
