"""/api/v1/prefect: workflows, event triggers, pipelines, logs, schedules, alerts and health.

Shapes follow the seed document 000 (issue 13; every deviation is in docs/api.md). This module
only gathers the routers of its parts, one job each (HTTP only; the logic is under hub/flows):

- ``prefect_workflows``: workflows and pipelines (runs of hub/flows/runner.py);
- ``prefect_events``: attendance, booking and room status events (the flows' hooks and the
  booking state machine of hub/flows/bookings.py);
- ``prefect_logs``: service logs (hub/flows/service_logs.py);
- ``prefect_schedules``: cron schedules of workflows;
- ``prefect_health``: hazard alerts (hub/flows/hazard.py) and the flows' health
  (hub/flows/health.py);
- ``prefect_common``: the ``flows:run`` guard, field types and the error mapping they share.

Run states come from Prefect itself; ``workflow_logs`` mirrors them. Flow run ids are the
hotel-facing ``fr_<32 hex>`` (Prefect's UUID underneath; either is accepted). Everything needs
``flows:run`` except ``/health``, which tells anonymous callers only its ``status``. Errors: an
unknown workflow, pipeline, run, schedule, employee, booking, room or alert is a 404; bad
parameters, a bad cron or an unsupported sync a 422; cancelling a finished run, an impossible
booking transition, a stale room status or a taken schedule name a 409; flows disabled or
Prefect unreachable a 503 saying why.
"""

from __future__ import annotations

from fastapi import APIRouter

from hub.api.routes import (
    prefect_events,
    prefect_health,
    prefect_logs,
    prefect_schedules,
    prefect_workflows,
)

router = APIRouter()
for part in (prefect_workflows, prefect_events, prefect_logs, prefect_schedules, prefect_health):
    router.include_router(part.router)
