"""Scopes per API surface and verb, and the roles that grant them (``admin`` implies all)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from contracts.ids import ID_PATTERN


class Scope(StrEnum):
    CV_READ = "cv:read"
    CV_WRITE = "cv:write"
    ROOMS_INSPECT = "rooms:inspect"
    ML_READ = "ml:read"
    ML_WRITE = "ml:write"
    LLM_USE = "llm:use"
    FLOWS_RUN = "flows:run"
    METRICS_READ = "metrics:read"
    HOTEL_READ = "hotel:read"
    HOTEL_WRITE = "hotel:write"
    HOTEL_PII = "hotel:pii"
    PRIVACY_ADMIN = "privacy:admin"
    CONSENT_WRITE = "consent:write"
    ADMIN = "admin"


SCOPE_DESCRIPTIONS: dict[str, str] = {
    Scope.CV_READ: "Read events, devices, dead letters and face galleries.",
    Scope.CV_WRITE: "Enrol and delete face templates.",
    Scope.ROOMS_INSPECT: "Submit room inspection photos (housekeeping).",
    Scope.ML_READ: "Read forecasts, predictions and recommendations.",
    Scope.ML_WRITE: "Train models and write predictions.",
    Scope.LLM_USE: "Use the assistant.",
    Scope.FLOWS_RUN: "Start workflows.",
    Scope.METRICS_READ: "Read /metrics from another host.",
    Scope.HOTEL_READ: "Read room types, rooms, guests, bookings, employees and shifts.",
    Scope.HOTEL_WRITE: "Create and change them, and import CSV files.",
    Scope.HOTEL_PII: "Read guests' and employees' personal fields in clear.",
    Scope.PRIVACY_ADMIN: "Export and erase a person's data (subject rights); the DPO's scope.",
    Scope.CONSENT_WRITE: "Record and withdraw face consents (HR); read them with hotel:pii.",
    Scope.ADMIN: "Everything, plus users and API keys.",
}


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    STAFF = "staff"
    VIEWER = "viewer"
    DPO = "dpo"  # the data-protection officer: subject rights, reads personal fields


ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset({Scope.ADMIN}),
    Role.MANAGER: frozenset(
        {
            Scope.CV_READ,
            Scope.CV_WRITE,
            Scope.ROOMS_INSPECT,
            Scope.ML_READ,
            Scope.ML_WRITE,
            Scope.LLM_USE,
            Scope.FLOWS_RUN,
            Scope.METRICS_READ,
            Scope.HOTEL_READ,
            Scope.HOTEL_WRITE,
            Scope.HOTEL_PII,
            Scope.CONSENT_WRITE,
        }
    ),
    # housekeeping staff photograph the rooms they clean (POST /api/v1/cv/room/analyze); the
    # front desk (staff too) writes rooms, bookings and check-ins, without guests' PII in clear
    Role.STAFF: frozenset(
        {
            Scope.CV_READ,
            Scope.ROOMS_INSPECT,
            Scope.ML_READ,
            Scope.LLM_USE,
            Scope.HOTEL_READ,
            Scope.HOTEL_WRITE,
        }
    ),
    Role.VIEWER: frozenset({Scope.CV_READ, Scope.ML_READ}),
    Role.DPO: frozenset({Scope.PRIVACY_ADMIN, Scope.HOTEL_READ, Scope.HOTEL_PII, Scope.CV_READ}),
}

_KNOWN = frozenset(s.value for s in Scope)


class ScopeError(ValueError):
    """A scope string names a scope the hub does not know."""


# Per-site scopes of the chain hub (hub/chain/scopes.py): ``site:{site id}`` limits a caller to
# that hotel's data; ``admin`` sees every site.
SITE_SCOPE_PREFIX = "site:"
_SITE_ID_RE = re.compile(ID_PATTERN)


def is_site_scope(scope: str) -> bool:
    """``site:{id}`` with a valid site id."""
    site = scope.removeprefix(SITE_SCOPE_PREFIX)
    return scope.startswith(SITE_SCOPE_PREFIX) and bool(_SITE_ID_RE.fullmatch(site))


def parse_scopes(text: str) -> frozenset[str]:
    """``"cv:read ml:read"`` (OAuth2's space-separated form) -> the set; unknown -> ScopeError."""
    scopes = frozenset(text.split())
    unknown = sorted(s for s in scopes - _KNOWN if not is_site_scope(s))
    if unknown:
        raise ScopeError(f"unknown scope {unknown[0]!r}; known: {', '.join(sorted(_KNOWN))}")
    return scopes


def format_scopes(scopes: Iterable[str]) -> str:
    return " ".join(sorted(scopes))


def grants(granted: Iterable[str], required: str) -> bool:
    """Whether ``granted`` covers ``required``: named, or ``admin``."""
    held = set(granted)
    return Scope.ADMIN in held or required in held


def missing_scopes(granted: Iterable[str], required: Iterable[str]) -> list[str]:
    """The required scopes ``granted`` does not cover, in the order required."""
    held = frozenset(granted)
    return [scope for scope in required if not grants(held, scope)]


def role_scopes(role: str) -> frozenset[str]:
    """The scopes of a role name; an unknown role grants nothing."""
    try:
        return ROLE_SCOPES[Role(role)]
    except ValueError:
        return frozenset()


def narrow(allowed: Iterable[str], requested: Iterable[str]) -> frozenset[str]:
    """The requested scopes when ``allowed`` covers each; raises ScopeError naming the first
    one it does not. Nothing requested: everything allowed."""
    allowed_set = frozenset(allowed)
    requested_set = frozenset(requested)
    if not requested_set:
        return allowed_set
    refused = missing_scopes(allowed_set, sorted(requested_set))
    if refused:
        raise ScopeError(f"scope {refused[0]!r} is not granted to this account")
    return requested_set
