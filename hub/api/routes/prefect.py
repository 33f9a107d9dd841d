"""/api/v1/prefect: workflows, event triggers, pipelines, logs and schedules (issue 8)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/prefect", tags=["prefect"])
