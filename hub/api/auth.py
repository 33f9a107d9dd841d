"""Who is calling, and may they: the API's authentication and authorisation dependencies.

Credentials, in order: ``X-API-Key: ik_...``; ``Authorization: Bearer ik_...`` (an API key);
``Authorization: Bearer <JWT>`` (an access token from ``POST /api/v1/auth/token`` or minted
locally, see :mod:`hub.auth.local`); on the gallery routes also ``Authorization: Bearer
<device token>`` (an enrolled, unrevoked edge; :func:`hub.device_registry.verify_device_token`).

Answers: 401 with ``WWW-Authenticate: Bearer`` when credentials are missing, unknown, revoked,
expired or badly signed; 403 naming the missing scope; 429 with ``Retry-After`` over a rate limit.
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import (
    APIKeyHeader,
    HTTPAuthorizationCredentials,
    HTTPBearer,
    OAuth2PasswordBearer,
    SecurityScopes,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.api.access_audit import record_access
from hub.api.deps import Session
from hub.api.errors import field_error
from hub.auth.api_keys import looks_like_api_key
from hub.auth.bootstrap import AdminGate, setup_hint
from hub.auth.principal import Principal as Principal  # re-exported; logic imports it there
from hub.auth.ratelimit import RateLimiter, retry_after_header
from hub.auth.scopes import SCOPE_DESCRIPTIONS, Scope, grants, missing_scopes, role_scopes
from hub.auth.store import find_api_key, find_user
from hub.auth.tokens import JwtCodec, TokenError, TokenKind
from hub.cluster.ratelimit_store import DatabaseRateLimiter
from hub.db import SessionFactory
from hub.device_registry import verify_device_token
from hub.settings import HubSettings

logger = logging.getLogger(__name__)

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 - a path, not a password
API_KEY_HEADER = "X-API-Key"

bearer_scheme = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL,
    scopes=dict(SCOPE_DESCRIPTIONS),
    auto_error=False,
    description="An access token (password flow), or an API key / device token as a bearer.",
)
api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="ApiKey",
    auto_error=False,
    description="An integration's API key (ik_...).",
)

# Reads the same header as bearer_scheme; declared so that /docs offers a box to paste a token
# (a local admin token, an API key) besides the password flow.
pasted_bearer_scheme = HTTPBearer(
    scheme_name="BearerToken",
    auto_error=False,
    description="Paste an access token or an API key (ik_...).",
)

Bearer = Annotated[str | None, Depends(bearer_scheme)]
ApiKeyHeader = Annotated[str | None, Depends(api_key_scheme)]
PastedBearer = Annotated[HTTPAuthorizationCredentials | None, Depends(pasted_bearer_scheme)]


RECOGNIZE_LIMIT = "face recognition"  # its own limiter (settings.rate_limit_recognize_*)
LOGIN_LIMIT = "sign-in"  # settings.rate_limit_login_*


class AuthState:
    """What the dependencies need, built once by ``create_app``: the token codec, the token
    lifetime and the rate limits.

    The rate limits live in the database once the lifespan has bound it
    (:meth:`use_database`), so every API replica counts the same requests
    (:mod:`hub.cluster.ratelimit_store`); before that, in this process."""

    def __init__(self, settings: HubSettings, jwt_secret: str) -> None:
        self.codec = JwtCodec(jwt_secret, site=settings.site)
        self.token_ttl = timedelta(minutes=settings.access_token_expire_minutes)
        self.metrics_open_on_loopback = settings.metrics_open_on_loopback
        self._heavy_limit = (settings.rate_limit_heavy_per_minute, settings.rate_limit_heavy_burst)
        self._limits: dict[str, tuple[float, int]] = {
            RECOGNIZE_LIMIT: (
                settings.rate_limit_recognize_per_minute,
                settings.rate_limit_recognize_burst,
            ),
            LOGIN_LIMIT: (settings.rate_limit_login_per_minute, settings.rate_limit_login_burst),
        }
        self._local: dict[str, RateLimiter] = {}
        self._shared: dict[str, DatabaseRateLimiter] = {}
        self._sessions: SessionFactory | None = None
        # first start: while no administrator exists, every 401 says how to create one
        self.setup = AdminGate(setup_hint(settings))

    def use_database(self, sessions: SessionFactory | None) -> None:
        """Count requests in the database from now on (``None``: in this process again)."""
        self._sessions = sessions
        self._shared.clear()

    def limiter(self, name: str) -> RateLimiter:
        """The in-process limiter of one endpoint (each has its own buckets per caller)."""
        limiter = self._local.get(name)
        if limiter is None:
            limiter = RateLimiter(*self._limits.get(name, self._heavy_limit))
            self._local[name] = limiter
        return limiter

    async def hit(self, name: str, caller: str) -> float:
        """Count one request of ``caller`` under limit ``name``: 0.0 when it may go, else the
        seconds until it could (the ``Retry-After``)."""
        if self._sessions is None:
            return self.limiter(name).hit(caller)
        shared = self._shared.get(name)
        if shared is None:
            shared = DatabaseRateLimiter(
                self._sessions, name, *self._limits.get(name, self._heavy_limit)
            )
            self._shared[name] = shared
        return await shared.hit(caller)


def get_auth(request: Request) -> AuthState:
    state: AuthState = request.app.state.auth
    return state


class AuthFailure(Exception):
    """Credentials were given but are refused; ``field`` names where they came from."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


async def identify(
    auth: AuthState, session: AsyncSession, bearer: str | None, api_key: str | None
) -> Principal | None:
    """The caller named by the credentials; ``None`` when none were given; raises
    :class:`AuthFailure` when they are refused."""
    if api_key is not None:
        return await _api_key_principal(session, api_key, API_KEY_HEADER)
    if bearer is None:
        return None
    if looks_like_api_key(bearer):
        return await _api_key_principal(session, bearer, "Authorization")
    try:
        claims = auth.codec.decode(bearer)
    except TokenError as err:
        raise AuthFailure(
            "Authorization", "the token has expired" if err.expired else err.reason
        ) from None
    scopes = claims.scopes
    if claims.kind is TokenKind.USER:
        user = await find_user(session, claims.subject)
        if user is None or user.disabled:
            raise AuthFailure("Authorization", "the token's user is unknown or disabled")
        allowed = role_scopes(user.role)
        scopes = frozenset(s for s in scopes if grants(allowed, s))
    return Principal(claims.kind.value, claims.subject, scopes)


async def _api_key_principal(session: AsyncSession, key: str, source: str) -> Principal:
    if not looks_like_api_key(key):
        raise AuthFailure(source, "not an innsight API key (ik_...)")
    row = await find_api_key(session, key)
    if row is None or row.revoked_at is not None:
        raise AuthFailure(source, "unknown or revoked API key")
    if row.service is not None:  # hub/compat/compreface: that service's routes only
        raise AuthFailure(source, f"a key of the CompreFace-compatible {row.service} API only")
    return Principal("api_key", row.prefix, frozenset(row.scopes))


def with_setup_hint(reason: str, hint: str | None) -> str:
    """``reason``, followed by the first-start hint while the hub has no administrator."""
    return reason if hint is None else f"{reason}; {hint}"


def _unauthorized(failure: AuthFailure | None, hint: str | None = None) -> HTTPException:
    if failure is None:
        return HTTPException(
            status_code=401,
            detail=field_error(
                "Authorization",
                with_setup_hint(
                    "not authenticated: send 'Authorization: Bearer <token>' or 'X-API-Key'",
                    hint,
                ),
            ),
            headers={"WWW-Authenticate": "Bearer"},
        )
    return HTTPException(
        status_code=401,
        detail=field_error(failure.field, with_setup_hint(failure.reason, hint)),
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _forbidden(missing: list[str]) -> HTTPException:
    needed = " ".join(missing)
    return HTTPException(
        status_code=403,
        detail=field_error("scope", f"missing scope {needed}: the credentials do not grant it"),
        headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed}"'},
    )


def too_many_requests(what: str, wait_s: float) -> HTTPException:
    retry = retry_after_header(wait_s)
    return HTTPException(
        status_code=429,
        detail=field_error("rate_limit", f"too many {what} requests: retry in {retry} s"),
        headers={"Retry-After": retry},
    )


async def _authenticate(
    request: Request, session: AsyncSession, bearer: str | None, api_key: str | None
) -> Principal:
    auth = get_auth(request)
    try:
        principal = await identify(auth, session, bearer, api_key)
    except AuthFailure as failure:
        raise _unauthorized(failure, await auth.setup.hint_for(session)) from None
    if principal is None:
        raise _unauthorized(None, await auth.setup.hint_for(session))
    return principal


def _check_scopes(principal: Principal, required: list[str]) -> None:
    missing = missing_scopes(principal.scopes, required)
    if missing:
        raise _forbidden(missing)


class Authorize:
    """The dependency behind every protected route: ``Security(Authorize(...), scopes=[...])``.

    ``rate_limit``: a name; each caller then gets its own token bucket for that endpoint.
    ``allow_devices``: a device token is accepted too (gallery downloads), without scopes.
    """

    def __init__(self, *, rate_limit: str | None = None, allow_devices: bool = False) -> None:
        self.rate_limit = rate_limit
        self.allow_devices = allow_devices

    async def __call__(
        self,
        security_scopes: SecurityScopes,
        request: Request,
        session: Session,
        bearer: Bearer,
        api_key: ApiKeyHeader,
        _pasted: PastedBearer,
    ) -> Principal:
        if self.allow_devices and api_key is None and bearer and not looks_like_api_key(bearer):
            device_id = await verify_device_token(session, bearer)
            if device_id is not None:
                return Principal("device", device_id)
        principal = await _authenticate(request, session, bearer, api_key)
        _check_scopes(principal, security_scopes.scopes)
        if self.rate_limit is not None:
            wait_s = await get_auth(request).hit(self.rate_limit, principal.actor)
            if wait_s > 0:
                raise too_many_requests(self.rate_limit, wait_s)
        # issue 17: biometric/personal data, admin and flows:run access is audited (chained)
        await record_access(session, principal, request, security_scopes.scopes)
        return principal


authorize = Authorize()


def scoped(*scopes: str) -> Any:
    """``dependencies=[scoped("cv:read")]`` for routers and routes that do not need the caller."""
    return Security(authorize, scopes=list(scopes))


CvReader = Annotated[Principal, Security(authorize, scopes=[Scope.CV_READ])]
CvWriter = Annotated[Principal, Security(authorize, scopes=[Scope.CV_WRITE])]
RoomInspector = Annotated[Principal, Security(authorize, scopes=[Scope.ROOMS_INSPECT])]
CvEnroller = Annotated[
    Principal, Security(Authorize(rate_limit="face enrolment"), scopes=[Scope.CV_WRITE])
]
CvRecognizer = Annotated[
    Principal, Security(Authorize(rate_limit=RECOGNIZE_LIMIT), scopes=[Scope.CV_READ])
]
GalleryReader = Annotated[
    Principal, Security(Authorize(allow_devices=True), scopes=[Scope.CV_READ])
]
AdminUser = Annotated[Principal, Security(authorize, scopes=[Scope.ADMIN])]


async def optional_principal(
    request: Request,
    session: Session,
    bearer: Bearer,
    api_key: ApiKeyHeader,
    _pasted: PastedBearer,
) -> Principal | None:
    """The caller when valid credentials were given, else ``None`` (never refuses)."""
    try:
        return await identify(get_auth(request), session, bearer, api_key)
    except AuthFailure:
        return None


MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client is not None else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def metrics_access(
    request: Request, session: Session, bearer: Bearer, api_key: ApiKeyHeader
) -> None:
    """``/metrics``: open to loopback callers (when configured), else ``metrics:read``."""
    if get_auth(request).metrics_open_on_loopback and _is_loopback(request):
        return
    principal = await _authenticate(request, session, bearer, api_key)
    _check_scopes(principal, [Scope.METRICS_READ])


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"
