"""/console/api/privacy: what the Privacy page reads besides /api/v1/privacy (issue 18
item 10), for the data-protection officer (``privacy:admin``).

- ``GET /retention``: each data class with its retention in days, the setting that fixes it
  (the hub's config file, ``retention_*_days``) and what it holds (hub/privacy/retention.py).
- ``GET /audit-log``: the audit trail, newest first, filtered by action, actor or target
  (``/api/v1/admin/audit-log`` needs ``admin``; the DPO reads it here).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlmodel import col, select

from hub.api.auth import scoped
from hub.api.deps import Runtime, Session
from hub.api.params import StorableText
from hub.api.routes.admin import AuditPage, audit_page
from hub.auth.scopes import Scope
from hub.privacy.retention import data_classes
from hub.tables import AuditLog

router = APIRouter(
    prefix="/console/api/privacy", tags=["console"], dependencies=[scoped(Scope.PRIVACY_ADMIN)]
)


class RetentionClass(BaseModel):
    name: str
    setting: str
    days: int
    holds: str


class RetentionOut(BaseModel):
    classes: list[RetentionClass]
    timezone: str


@router.get("/retention", response_model=RetentionOut)
async def retention(runtime: Runtime) -> RetentionOut:
    """How long each data class is kept (change it in the hub's config, then restart)."""
    return RetentionOut(
        classes=[
            RetentionClass(name=c.name, setting=c.setting, days=c.days, holds=c.holds)
            for c in data_classes(runtime.settings)
        ],
        timezone=runtime.settings.timezone,
    )


Filter = Annotated[str | None, Query(min_length=1, max_length=128), StorableText]


@router.get("/audit-log", response_model=AuditPage)
async def audit_log(
    session: Session,
    action: Filter = None,
    actor: Filter = None,
    target: Filter = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> AuditPage:
    """The audit trail, newest first; ``action`` exact or a prefix ending in ``.``
    (``face.``), ``actor`` and ``target`` exact."""
    query = select(AuditLog)
    if action is not None:
        if action.endswith("."):
            query = query.where(col(AuditLog.action).startswith(action, autoescape=True))
        else:
            query = query.where(AuditLog.action == action)
    if actor is not None:
        query = query.where(AuditLog.actor == actor)
    if target is not None:
        query = query.where(AuditLog.target == target)
    return await audit_page(session, query, limit, offset)
