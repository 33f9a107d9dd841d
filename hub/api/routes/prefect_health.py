"""/api/v1/prefect hazard alerts (list, acknowledge: hub/flows/hazard.py) and the flows'
health (hub/flows/health.py gathers the checks; anonymous callers get only ``status``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel

from hub.api.auth import MaybePrincipal
from hub.api.deps import Runtime
from hub.api.errors import field_error
from hub.api.routes.prefect_common import (
    RUN,
    Runner,
    hooks_of,
)
from hub.auth.scopes import Scope, grants
from hub.flows import hazard, health
from hub.flows.hooks import HubFlowHooks
from hub.tables import HazardAlert

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/prefect", tags=["prefect"])


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


# -- hazard alerts ---------------------------------------------------------------------------------


def _alert(row: HazardAlert) -> AlertOut:
    return AlertOut.model_validate(row, from_attributes=True)


@router.get("/alerts", response_model=AlertList, dependencies=RUN)
async def list_alerts(
    runtime: Runtime,
    open_only: Annotated[bool, Query(alias="open")] = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlertList:
    rows = await hazard.list_alerts(runtime.session_factory, open_only=open_only, limit=limit)
    return AlertList(items=[_alert(r) for r in rows])


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
async def acknowledge_alert(
    alert_id: Annotated[int, Path(ge=1, le=2**31 - 1)], runtime: Runtime, principal: Runner
) -> AlertOut:
    """Stops the re-alerts of one hazard alert."""
    row = await hazard.acknowledge(hooks_of(runtime).deps, alert_id, principal.actor)
    if row is None:
        raise HTTPException(404, detail=field_error("alert_id", f"no alert {alert_id}"))
    return _alert(row)


# -- health ----------------------------------------------------------------------------------------


def _check(check: health.Check) -> Check:
    return Check(status=check.status, latency_ms=check.latency_ms, detail=check.detail)


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
    report = await health.flows_report(runtime.check_database, runtime.flow_runner)
    if principal is None or not grants(principal.scopes, Scope.FLOWS_RUN):
        return FlowsHealth(status=report.status)
    hooks = runtime.flow_hooks
    channels = hooks.deps.notifier.channels if isinstance(hooks, HubFlowHooks) else []
    checks = {name: _check(c) for name, c in report.checks.items()}
    checks["notifier"] = _check(health.notifier_check(channels))
    prefect = report.prefect
    return FlowsHealth(
        status=report.status,
        timestamp=datetime.now(UTC),
        version=request.app.version,
        checks=checks,
        flows_enabled=runtime.flow_runner is not None,
        executor=prefect["executor"] if prefect else None,
        deployments=prefect["deployments"] if prefect else None,
        channels=channels,
    )
