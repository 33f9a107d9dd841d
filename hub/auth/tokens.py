"""OAuth2 bearer access tokens: HS256 JWTs signed with the hub's secret (pure, no I/O).

Claims: ``sub`` (who), ``knd`` (``user``: a row of the users table, re-checked on every request;
``local``: minted on the hub machine by whoever can read its secret; ``service``: a token made
for a component such as the demo's edge), ``scope`` (space-separated), ``iss``, ``aud``,
``iat``, ``nbf``, ``exp`` and ``jti``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt

from hub.auth.scopes import ScopeError, format_scopes, parse_scopes

ALGORITHM = "HS256"
AUDIENCE = "innsight-hub"
ISSUER_PREFIX = "innsight-hub:"


class TokenKind(StrEnum):
    USER = "user"
    LOCAL = "local"
    SERVICE = "service"


class TokenError(ValueError):
    """The token is refused; ``expired`` tells an expired token from a bad one."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str
    kind: TokenKind
    scopes: frozenset[str]
    expires_at: datetime
    token_id: str


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated base64url parts (the compact JWS form)."""
    parts = token.split(".")
    return len(parts) == 3 and all(parts[:2])


class JwtCodec:
    """Signs and verifies access tokens for one hub (issuer ``innsight-hub:{site}``)."""

    def __init__(self, secret: str, *, site: str) -> None:
        if not secret:
            raise ValueError("the JWT secret is empty")
        self._secret = secret
        self.issuer = f"{ISSUER_PREFIX}{site}"

    def __repr__(self) -> str:
        return f"JwtCodec(issuer={self.issuer!r})"

    def encode(
        self,
        subject: str,
        scopes: frozenset[str] | set[str],
        *,
        ttl: timedelta,
        kind: TokenKind = TokenKind.USER,
        now: datetime | None = None,
    ) -> str:
        issued = (now or datetime.now(UTC)).astimezone(UTC)
        claims: dict[str, Any] = {
            "sub": subject,
            "knd": kind.value,
            "scope": format_scopes(scopes),
            "iss": self.issuer,
            "aud": AUDIENCE,
            "iat": int(issued.timestamp()),
            "nbf": int(issued.timestamp()),
            "exp": int((issued + ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str) -> TokenClaims:
        """The verified claims, or :class:`TokenError` (bad signature, expired, wrong issuer or
        audience, missing claims, unknown scope or kind)."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("the token has expired", expired=True) from None
        except jwt.InvalidSignatureError:
            raise TokenError("the token's signature does not verify") from None
        except jwt.InvalidTokenError as err:
            raise TokenError(f"invalid token: {err}") from None
        try:
            scopes = parse_scopes(str(claims.get("scope", "")))
            kind = TokenKind(str(claims.get("knd", "")))
        except (ScopeError, ValueError) as err:
            raise TokenError(f"invalid token: {err}") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise TokenError("invalid token: empty subject")
        return TokenClaims(
            subject=subject,
            kind=kind,
            scopes=scopes,
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            token_id=str(claims["jti"]),
        )
