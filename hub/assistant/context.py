"""Who asks: the caller's name and role, derived from the authenticated principal, narrowed (never
widened) by the hotel job role the request states.

The token decides what the caller may do (:func:`role_of` its scopes). A request may add the
hotel's own context (``context.role`` such as ``receptionist``, ``context.department`` such as
``front_desk``, ``user_id`` such as ``EMP001``): the job role maps to one of our roles and the
caller gets the *lower* of the two (:func:`narrowed`), so a manager asking as a receptionist gets
a receptionist's tools, and a receptionist's token claiming ``manager`` still gets staff tools.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hub.auth.principal import Principal
from hub.auth.scopes import Role, Scope

RANK: dict[Role, int] = {Role.VIEWER: 0, Role.STAFF: 1, Role.MANAGER: 2, Role.ADMIN: 3}

# Hotel job roles (lower case, spaces as underscores) -> the role whose tools they get.
JOB_ROLES: dict[str, Role] = {
    **dict.fromkeys(
        (
            "staff", "receptionist", "front_desk", "front_desk_agent", "concierge", "bellman",
            "housekeeper", "housekeeping", "room_attendant", "maintenance", "technician",
            "engineer", "waiter", "server", "chef", "cook", "security", "security_guard",
            "guest_relations", "night_auditor", "reservations_agent", "sales",
        ),
        Role.STAFF,
    ),
    **dict.fromkeys(
        (
            "manager", "supervisor", "front_office_manager", "front_desk_manager",
            "housekeeping_manager", "housekeeping_supervisor", "maintenance_manager",
            "chief_engineer", "revenue_manager", "general_manager", "duty_manager",
            "security_manager", "hr_manager", "fb_manager",
        ),
        Role.MANAGER,
    ),
    "admin": Role.ADMIN,
    "administrator": Role.ADMIN,
    "viewer": Role.VIEWER,
    "auditor": Role.VIEWER,
}  # fmt: skip


class UnknownJobRoleError(ValueError):
    """``context.role`` is not a hotel job role the hub knows (the message lists them)."""


@dataclass(frozen=True, slots=True)
class AskerContext:
    """The caller of one assistant request; ``role`` limits the tools the graph gets.

    ``job_role``, ``department`` and ``user_id`` are the hotel's context as the request states
    it (they reach the prompt; ``job_role`` already narrowed ``role``)."""

    actor: str
    role: Role
    job_role: str | None = None
    department: str | None = None
    user_id: str | None = None


def role_of(scopes: frozenset[str]) -> Role:
    """The highest role whose grants the scopes imply (admin > manager > staff > viewer)."""
    if Scope.ADMIN in scopes:
        return Role.ADMIN
    if Scope.FLOWS_RUN in scopes or Scope.CV_WRITE in scopes or Scope.ML_WRITE in scopes:
        return Role.MANAGER
    if Scope.LLM_USE in scopes:
        return Role.STAFF
    return Role.VIEWER


def context_of(principal: Principal) -> AskerContext:
    return AskerContext(actor=principal.actor, role=role_of(principal.scopes))


def job_role_key(job_role: str) -> str:
    return "_".join(job_role.strip().lower().replace("-", " ").split())


def narrowed(
    context: AskerContext,
    *,
    job_role: str | None = None,
    department: str | None = None,
    user_id: str | None = None,
) -> AskerContext:
    """``context`` with the request's hotel context; the role is the lower of the token's and
    the job role's. Raises :class:`UnknownJobRoleError` for a job role the hub does not know."""
    role = context.role
    if job_role is not None:
        mapped = JOB_ROLES.get(job_role_key(job_role))
        if mapped is None:
            known = ", ".join(sorted(JOB_ROLES))
            raise UnknownJobRoleError(f"unknown hotel role {job_role!r}; known: {known}")
        role = min(role, mapped, key=RANK.__getitem__)
    return replace(context, role=role, job_role=job_role, department=department, user_id=user_id)
