"""Access administration (scope ``admin``): API keys, users and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from hub.api.auth import AdminUser
from hub.api.deps import Session
from hub.api.errors import field_error
from hub.api.params import StorableText
from hub.audit import AuditAction, audit
from hub.auth.api_keys import KeyService
from hub.auth.password_policy import password_problems
from hub.auth.scopes import Role, Scope
from hub.auth.store import UserExistsError, create_api_key, create_user, list_api_keys
from hub.auth.store import revoke_api_key as revoke_key
from hub.tables import ApiKey, ApiKeyPublic, AuditLog, AuditLogPublic, UserPublic

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        str, Field(min_length=1, max_length=100, description="what the key is for"), StorableText
    ]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=len(Scope))]
    service: KeyService | None = Field(
        default=None,
        description="a key of one CompreFace-compatible service (docs/compreface.md): it works "
        "only under /api/v1/{service} and is refused by the rest of the API",
    )


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="the API key: shown this once, only its hash is kept")


class ApiKeyList(BaseModel):
    items: list[ApiKeyPublic]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Annotated[SecretStr, Field(min_length=12, max_length=256), StorableText]
    role: Role
    disabled: bool = False


class AuditPage(BaseModel):
    items: list[AuditLogPublic]
    total: int
    limit: int
    offset: int


def _public(row: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic.model_validate(row, from_attributes=True)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201)
async def create_key(principal: AdminUser, session: Session, body: ApiKeyCreate) -> ApiKeyCreated:
    """Make an API key; the response carries the key, which is never shown again."""
    row, key = await create_api_key(
        session,
        body.name,
        [s.value for s in body.scopes],
        created_by=principal.actor,
        service=body.service.value if body.service is not None else None,
    )
    audit(
        session,
        actor=principal.actor,
        action=AuditAction.API_KEY_CREATE,
        target=f"api_key:{row.id}",
        detail={"prefix": row.prefix, "scopes": row.scopes, "service": row.service},
    )
    await session.commit()
    return ApiKeyCreated(**_public(row).model_dump(), key=key)


@router.get("/api-keys", response_model=ApiKeyList)
async def list_keys(_principal: AdminUser, session: Session) -> ApiKeyList:
    return ApiKeyList(items=[_public(row) for row in await list_api_keys(session)])


@router.delete("/api-keys/{key_id}", response_model=ApiKeyPublic)
async def revoke_api_key(
    principal: AdminUser,
    session: Session,
    key_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> ApiKeyPublic:
    """Revoke a key: it stops working at once (repeating this changes nothing)."""
    already = await session.get(ApiKey, key_id)
    was_revoked = already is not None and already.revoked_at is not None
    row = await revoke_key(session, key_id)
    if row is None:
        raise HTTPException(status_code=404, detail=field_error("key_id", f"no API key {key_id}"))
    if not was_revoked:
        audit(
            session,
            actor=principal.actor,
            action=AuditAction.API_KEY_REVOKE,
            target=f"api_key:{key_id}",
            detail={"prefix": row.prefix},
        )
    await session.commit()
    return _public(row)


@router.post("/users", response_model=UserPublic, status_code=201)
async def add_user(principal: AdminUser, session: Session, body: UserCreate) -> UserPublic:
    """Create a user who can sign in at ``POST /api/v1/auth/token``."""
    problems = password_problems(body.password.get_secret_value(), username=body.username)
    if problems:  # the same policy as `innsight hub init` / `hub users add`
        raise HTTPException(status_code=422, detail=field_error("password", "; ".join(problems)))
    try:
        user = await create_user(
            session,
            body.username,
            body.password.get_secret_value(),
            body.role,
            disabled=body.disabled,
        )
    except UserExistsError as err:
        raise HTTPException(
            status_code=409, detail=field_error("username", "a user with this name exists")
        ) from err
    audit(
        session,
        actor=principal.actor,
        action=AuditAction.USER_CREATE,
        target=f"user:{user.id}",
        detail={"role": user.role, "disabled": user.disabled},
    )
    await session.commit()
    return UserPublic.model_validate(user, from_attributes=True)


@router.get("/audit-log", response_model=AuditPage)
async def audit_log(
    _principal: AdminUser,
    session: Session,
    action: Annotated[str | None, Query(max_length=64), StorableText] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> AuditPage:
    """The audit trail, newest first."""
    query = select(AuditLog)
    if action is not None:
        query = query.where(AuditLog.action == action)
    return await audit_page(session, query, limit, offset)


async def audit_page(
    session: AsyncSession, query: SelectOfScalar[AuditLog], limit: int, offset: int
) -> AuditPage:
    """One page of ``query``'s audit rows, newest first, with the total it matches."""
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = (
        await session.exec(query.order_by(col(AuditLog.id).desc()).limit(limit).offset(offset))
    ).all()
    return AuditPage(
        items=[AuditLogPublic.model_validate(r, from_attributes=True) for r in rows],
        total=int(total),
        limit=limit,
        offset=offset,
    )
