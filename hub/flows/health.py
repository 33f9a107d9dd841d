"""The flows' health (``/api/v1/prefect/health``): the database, Prefect's API, the
deployments and the notification channels, each checked and timed, and the overall status.

``healthy``: Prefect answers and the deployments are registered; ``degraded``: Prefect answers
but the deployments are not (yet) registered; ``unhealthy``: flows are disabled, Prefect does not
answer or the database does not.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from hub.flows.runner import FlowRunner

CheckStatus = Literal["ok", "error", "disabled"]
Overall = Literal["healthy", "degraded", "unhealthy"]


@dataclass(frozen=True, slots=True)
class Check:
    status: CheckStatus
    latency_ms: float | None = None
    detail: str | None = None


@dataclass(slots=True)
class FlowsReport:
    status: Overall
    checks: dict[str, Check]
    prefect: dict[str, Any] | None = field(default=None)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def overall(checks: dict[str, Check]) -> Overall:
    if any(checks[name].status != "ok" for name in ("database", "prefect_api")):
        return "unhealthy"
    if checks["deployments"].status != "ok":
        return "degraded"
    return "healthy"


async def flows_report(
    check_database: Callable[[], Awaitable[str | None]], runner: FlowRunner | None
) -> FlowsReport:
    """The database check (``None``: it answers, else why not) and Prefect's."""
    started = time.perf_counter()
    error = await check_database()
    checks = {
        "database": Check(
            status="ok" if error is None else "error", latency_ms=_ms(started), detail=error
        )
    }
    prefect: dict[str, Any] | None = None
    if runner is None:
        checks["prefect_api"] = Check(status="disabled", detail="INNSIGHT_FLOWS_ENABLED=false")
        checks["deployments"] = Check(status="disabled")
    else:
        started = time.perf_counter()
        prefect = await runner.health()
        api_error = prefect["api_error"]
        checks["prefect_api"] = Check(
            status="ok" if api_error is None else "error",
            latency_ms=_ms(started),
            detail=api_error,
        )
        checks["deployments"] = Check(
            status="ok" if prefect["registered"] else "error",
            detail=prefect["registration_error"]
            or f"{prefect['deployments']} registered, executor {prefect['executor']}",
        )
    return FlowsReport(overall(checks), checks, prefect)


def notifier_check(channels: list[str]) -> Check:
    return Check(
        status="ok" if channels else "disabled", detail=", ".join(channels) or "no channel"
    )
