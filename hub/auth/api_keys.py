"""API keys for integrations: ``ik_`` + 43 url-safe characters (256 random bits).

Only the SHA-256 of a key is stored (a key has full entropy, so a fast hash is enough and lets
the hub find it by an index); the first 11 characters (``ik_`` + 8) are kept in clear to tell
keys apart in listings. The key itself is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

API_KEY_PREFIX = "ik_"
DISPLAY_CHARS = len(API_KEY_PREFIX) + 8
_RANDOM_BYTES = 32


class KeyService(StrEnum):
    """The CompreFace-compatible service a key is limited to (hub/compat/compreface): such a key
    works only under ``/api/v1/{service}`` and is refused by the rest of the hub's API."""

    RECOGNITION = "recognition"
    DETECTION = "detection"
    VERIFICATION = "verification"


@dataclass(frozen=True, slots=True)
class NewApiKey:
    key: str
    prefix: str
    key_hash: str

    def __repr__(self) -> str:
        return f"NewApiKey(prefix={self.prefix!r})"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_api_key() -> NewApiKey:
    key = API_KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)
    return NewApiKey(key=key, prefix=key[:DISPLAY_CHARS], key_hash=hash_api_key(key))


def looks_like_api_key(token: str) -> bool:
    return token.startswith(API_KEY_PREFIX)
