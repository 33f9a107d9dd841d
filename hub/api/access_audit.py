"""Every authorised request to a route guarding biometric or personal data, or an admin or
flows:run action, leaves one row in the hash-chained audit log (issue 17): who (the caller's
actor), what (``api.<scope>``), which records (the route and its path ids), when. Never the
data: no bodies, no query strings (they may hold e-mail addresses or names), no responses.

Called by :class:`hub.api.auth.Authorize` once the caller is authorised, so it records the
access itself, also when the route then refuses the request (a 404 for an unknown id is an
attempt to read that id). Committed at once, in a transaction of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.auth.principal import Principal
from hub.auth.scopes import Scope
from hub.tables import AuditLog

# In this order: the first one a route requires names the row's action.
AUDITED_SCOPES: tuple[str, ...] = (
    Scope.ADMIN,
    Scope.PRIVACY_ADMIN,
    Scope.HOTEL_PII,
    Scope.CV_WRITE,
    Scope.CV_READ,
    Scope.FLOWS_RUN,
)
TARGET_MAX = 128
ACCESS_PREFIX = "api."


def audited_scope(required: Sequence[str]) -> str | None:
    """The scope a route's access is audited under; None: not audited."""
    wanted = set(required)
    return next((s for s in AUDITED_SCOPES if s in wanted), None)


def route_of(request: Request) -> str:
    """The route's path template (``/api/v1/cv/face/{employee_id}``), not the filled path."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else request.url.path


def target_of(request: Request) -> str:
    """The record ids the request names (its path parameters), else the route."""
    params = request.path_params
    if params:
        text = ",".join(f"{key}:{value}" for key, value in sorted(params.items()))
    else:
        text = route_of(request)
    return text[:TARGET_MAX]


async def record_access(
    session: AsyncSession, principal: Principal, request: Request, required: Sequence[str]
) -> None:
    scope = audited_scope(required)
    if scope is None:
        return
    row = AuditLog(
        actor=principal.actor,
        action=f"{ACCESS_PREFIX}{scope}",
        target=target_of(request),
        detail={"method": request.method, "route": route_of(request)},
    )
    # its own transaction, whose first statement is the chain's write lock: on SQLite (WAL) a
    # transaction that has read (the caller's credentials) could not become a writer once
    # another connection committed; the request's session is left as it is
    async with AsyncSession(session.bind, expire_on_commit=False) as own:
        own.add(row)
        await own.commit()
