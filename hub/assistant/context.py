"""Who asks: the caller's name and role, derived from the authenticated principal."""

from __future__ import annotations

from dataclasses import dataclass

from hub.api.auth import Principal
from hub.auth.scopes import Role, Scope


@dataclass(frozen=True, slots=True)
class AskerContext:
    """The caller of one assistant request; ``role`` limits the tools the graph gets."""

    actor: str
    role: Role


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
