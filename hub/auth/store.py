"""Users and API keys in the database (the callers own the transaction and commit)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.auth.api_keys import generate_api_key, hash_api_key
from hub.auth.passwords import hash_password, verify_password
from hub.auth.scopes import Role
from hub.tables import ApiKey, User

logger = logging.getLogger(__name__)


class UserExistsError(ValueError):
    """A user with that name exists already."""


async def find_user(session: AsyncSession, username: str) -> User | None:
    return (await session.exec(select(User).where(User.username == username))).first()


async def authenticate_user(session: AsyncSession, username: str, password: str) -> User | None:
    """The enabled user with this name and password, else ``None`` (same cost either way)."""
    user = await find_user(session, username)
    stored = user.password_hash if user is not None else None
    matches = await asyncio.to_thread(verify_password, stored, password)
    if user is None or not matches or user.disabled:
        return None
    return user


async def create_user(
    session: AsyncSession, username: str, password: str, role: Role, *, disabled: bool = False
) -> User:
    if await find_user(session, username) is not None:
        raise UserExistsError(f"user {username!r} exists already")
    password_hash = await asyncio.to_thread(hash_password, password)
    user = User(username=username, password_hash=password_hash, role=role.value, disabled=disabled)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:  # created meanwhile by another request
        await session.rollback()
        raise UserExistsError(f"user {username!r} exists already") from None
    return user


async def create_api_key(
    session: AsyncSession,
    name: str,
    scopes: Iterable[str],
    *,
    created_by: str,
    service: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key row and the key itself (to show once; only its hash is stored); ``service``:
    a key of one CompreFace-compatible service (:class:`hub.auth.api_keys.KeyService`)."""
    new = generate_api_key()
    row = ApiKey(
        name=name,
        prefix=new.prefix,
        key_hash=new.key_hash,
        scopes=sorted(set(scopes)),
        created_by=created_by,
        service=service,
    )
    session.add(row)
    await session.flush()
    return row, new.key


async def find_api_key(session: AsyncSession, key: str) -> ApiKey | None:
    """The row of ``key`` (revoked or not), by the hash of the key."""
    query = select(ApiKey).where(ApiKey.key_hash == hash_api_key(key))
    return (await session.exec(query)).first()


async def list_api_keys(session: AsyncSession) -> list[ApiKey]:
    return list((await session.exec(select(ApiKey).order_by(col(ApiKey.id)))).all())


async def revoke_api_key(session: AsyncSession, key_id: int) -> ApiKey | None:
    """Mark the key revoked (idempotent); ``None`` when there is no such key."""
    row = await session.get(ApiKey, key_id)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.add(row)
        await session.flush()
    return row


class UnknownUserError(LookupError):
    """No user has that name."""


async def list_users(session: AsyncSession) -> list[User]:
    return list((await session.exec(select(User).order_by(col(User.id)))).all())


async def enabled_admin_exists(session: AsyncSession) -> bool:
    """Whether any enabled user holds the ``admin`` role (the hub's first-start check)."""
    query = select(User.id).where(User.role == Role.ADMIN.value, col(User.disabled).is_(False))
    return (await session.exec(query.limit(1))).first() is not None


async def set_user_disabled(session: AsyncSession, username: str, disabled: bool) -> User:
    """Disable (or enable) a user; their tokens stop working at the next request."""
    user = await find_user(session, username)
    if user is None:
        raise UnknownUserError(f"no user {username!r}")
    user.disabled = disabled
    user.updated_at = datetime.now(UTC)
    session.add(user)
    await session.flush()
    return user


async def set_user_password(session: AsyncSession, username: str, password: str) -> User:
    """Replace a user's password hash (the caller checked the password against the policy)."""
    user = await find_user(session, username)
    if user is None:
        raise UnknownUserError(f"no user {username!r}")
    user.password_hash = await asyncio.to_thread(hash_password, password)
    user.updated_at = datetime.now(UTC)
    session.add(user)
    await session.flush()
    return user
