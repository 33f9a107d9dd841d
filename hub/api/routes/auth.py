"""``POST /api/v1/auth/token``: the OAuth2 password flow against the users table."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from pydantic import BaseModel, Field

from hub.api.auth import (
    LOGIN_LIMIT,
    client_address,
    get_auth,
    too_many_requests,
    with_setup_hint,
)
from hub.api.deps import Session
from hub.api.errors import field_error
from hub.api.params import StorableText
from hub.auth.scopes import ScopeError, format_scopes, narrow, parse_scopes, role_scopes
from hub.auth.store import authenticate_user
from hub.auth.tokens import TokenKind

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int = Field(description="seconds")
    scope: str = Field(description="the granted scopes, space-separated")


@router.post("/token", response_model=TokenResponse)
async def issue_token(
    request: Request,
    session: Session,
    username: Annotated[str, Form(min_length=1, max_length=64), StorableText],
    password: Annotated[str, Form(min_length=1, max_length=1024), StorableText],
    scope: Annotated[
        str, Form(max_length=1000, description="space-separated; empty: the role's scopes")
    ] = "",
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,  # noqa: ARG001 - OAuth2
) -> TokenResponse:
    """Exchange a username and password for an access token (OAuth2 password flow)."""
    auth = get_auth(request)
    wait_s = await auth.hit(LOGIN_LIMIT, client_address(request))
    if wait_s > 0:
        raise too_many_requests("sign-in", wait_s)
    try:
        requested = parse_scopes(scope)
    except ScopeError as err:
        raise HTTPException(status_code=400, detail=field_error("scope", str(err))) from err
    user = await authenticate_user(session, username, password)
    if user is None:
        reason = "incorrect username or password, or a disabled user"
        raise HTTPException(
            status_code=401,
            detail=field_error(
                "password", with_setup_hint(reason, await auth.setup.hint_for(session))
            ),
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        granted = narrow(role_scopes(user.role), requested)
    except ScopeError as err:
        raise HTTPException(status_code=400, detail=field_error("scope", str(err))) from err
    token = auth.codec.encode(user.username, granted, ttl=auth.token_ttl, kind=TokenKind.USER)
    logger.info("access token issued to user id %s", user.id)
    return TokenResponse(
        access_token=token,
        expires_in=int(auth.token_ttl.total_seconds()),
        scope=format_scopes(granted),
    )
