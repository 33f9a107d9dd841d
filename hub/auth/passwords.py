"""Password hashing for the users table: Argon2id (argon2-cffi's RFC 9106 low-memory profile).

Hashing costs tens of milliseconds on purpose: callers in async code run these in a thread.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _HASHER.hash("innsight: no such user")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches. ``None`` (no such user) is checked against a dummy hash,
    so an unknown user takes as long to refuse as a wrong password."""
    try:
        _HASHER.verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None
