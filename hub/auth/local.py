"""Tokens minted on the hub machine itself, by whoever can read its JWT secret (the demo, the
tests, an operator's shell): no user row, no password."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from hub.auth.keys import jwt_secret_of
from hub.auth.scopes import Scope, parse_scopes
from hub.auth.tokens import JwtCodec, TokenKind
from hub.settings import HubSettings

LOCAL_ADMIN = "local-admin"


def issue_local_token(
    settings: HubSettings,
    scopes: Iterable[str],
    *,
    subject: str = LOCAL_ADMIN,
    kind: TokenKind = TokenKind.LOCAL,
    minutes: int | None = None,
) -> str:
    """A signed access token with ``scopes`` (validated) for ``subject``; lives
    ``minutes`` (default: ``settings.access_token_expire_minutes``)."""
    granted = parse_scopes(" ".join(scopes))
    codec = JwtCodec(jwt_secret_of(settings), site=settings.site)
    if minutes is None:
        minutes = settings.access_token_expire_minutes
    ttl = timedelta(minutes=minutes)
    return codec.encode(subject, granted, ttl=ttl, kind=kind)


def issue_admin_token(settings: HubSettings, *, minutes: int | None = None) -> str:
    """A local admin token (scope ``admin``) for this hub's data dir or configured secret."""
    return issue_local_token(settings, [Scope.ADMIN], minutes=minutes)
