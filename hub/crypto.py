"""Encryption at rest for personal fields (DESIGN §7): Fernet (AES-128-CBC + HMAC-SHA256).

``EncryptedString`` is a column type: values are encrypted on the way in and decrypted on the
way out with the :class:`PiiCipher` bound to the engine (``bind_pii_cipher``, done by the hub's
lifespan), so no key lives at module level. Ciphertexts are randomised: an encrypted column
cannot be compared in SQL (the type refuses it); look rows up by a blind index instead, a
column holding ``cipher.blind_index(value)`` (keyed HMAC-SHA256 of the normalised value).

Key rotation: ``pii_key`` may list several keys, newest first; values are written with the
first and read with any (``MultiFernet``); ``cipher.rotate(token)`` re-encrypts with the newest.
Blind indexes derive from the newest key, so a rotation recomputes them with the values.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Sequence
from typing import Any
from weakref import WeakKeyDictionary

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr
from sqlalchemy import Engine, LargeBinary, Text
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import operators
from sqlalchemy.sql.operators import OperatorType
from sqlalchemy.types import TypeDecorator

_BLIND_INDEX_LABEL = b"innsight blind index v1"


class PiiKeyError(RuntimeError):
    """No usable key: none configured, none bound to the engine, or a malformed one."""


class PiiDecryptError(ValueError):
    """A stored value does not decrypt with any configured key (wrong key or damaged data)."""


class PiiCipher:
    """Encrypts and decrypts personal fields with one or more Fernet keys (newest first)."""

    def __init__(self, keys: Sequence[str]) -> None:
        cleaned = [key.strip() for key in keys if key.strip()]
        if not cleaned:
            raise PiiKeyError("no PII key given")
        try:
            fernets = [Fernet(key.encode("ascii")) for key in cleaned]
        except (ValueError, UnicodeEncodeError) as err:
            raise PiiKeyError(f"malformed PII key: {type(err).__name__}") from None
        self._fernet = MultiFernet(fernets)
        self._index_key = hmac.new(
            cleaned[0].encode("ascii"), _BLIND_INDEX_LABEL, hashlib.sha256
        ).digest()

    def __repr__(self) -> str:
        return "PiiCipher(<keys hidden>)"

    @classmethod
    def from_secret(cls, secret: SecretStr | None) -> PiiCipher:
        if secret is None:
            raise PiiKeyError("no pii_key configured (hub.auth.keys.with_secrets fills it)")
        return cls(secret.get_secret_value().split(","))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise PiiDecryptError(
                "a stored personal field does not decrypt with the configured PII keys"
            ) from None

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the newest key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise PiiDecryptError("cannot rotate: the value does not decrypt") from None

    def encrypt_bytes(self, plaintext: bytes) -> bytes:
        """``plaintext`` as a Fernet token (ASCII bytes): face templates, crops, artefacts."""
        return self._fernet.encrypt(bytes(plaintext))

    def decrypt_bytes(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(bytes(token))
        except (InvalidToken, TypeError):
            raise PiiDecryptError(
                "stored bytes do not decrypt with the configured PII keys"
            ) from None

    def blind_index(self, value: str) -> str:
        """A keyed, deterministic digest of the normalised value (NFKC, trimmed, casefolded):
        equal inputs give equal indexes, and the index reveals nothing without the key."""
        normalised = unicodedata.normalize("NFKC", value).strip().casefold()
        return hmac.new(self._index_key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()


_CIPHERS: WeakKeyDictionary[Dialect, PiiCipher] = WeakKeyDictionary()


def bind_pii_cipher(engine: AsyncEngine | Engine, cipher: PiiCipher) -> None:
    """Make ``EncryptedString`` columns read and written through ``engine`` use ``cipher``."""
    _CIPHERS[engine.dialect] = cipher


def cipher_for(dialect: Dialect) -> PiiCipher:
    try:
        return _CIPHERS[dialect]
    except KeyError:
        raise PiiKeyError(
            "no PII cipher is bound to this engine: call hub.crypto.bind_pii_cipher(engine, ...)"
        ) from None


_REFUSED = frozenset(
    {
        operators.eq,
        operators.ne,
        operators.lt,
        operators.le,
        operators.gt,
        operators.ge,
        operators.in_op,
        operators.not_in_op,
        operators.like_op,
        operators.not_like_op,
        operators.ilike_op,
        operators.not_ilike_op,
        operators.contains_op,
        operators.startswith_op,
        operators.endswith_op,
        operators.between_op,
    }
)


class EncryptedString(TypeDecorator[str]):
    """A text column stored encrypted (see the module docstring); ``None`` stays NULL."""

    impl = Text
    cache_ok = True

    class comparator_factory(TypeDecorator.Comparator[str]):
        def operate(self, op: OperatorType, *other: Any, **kwargs: Any) -> Any:
            if op in _REFUSED:
                raise TypeError(
                    "an encrypted column cannot be compared in SQL (its ciphertexts are "
                    "randomised): compare a blind-index column instead"
                )
            return super().operate(op, *other, **kwargs)

        def reverse_operate(self, op: OperatorType, other: Any, **kwargs: Any) -> Any:
            if op in _REFUSED:
                raise TypeError("an encrypted column cannot be compared in SQL")
            return super().reverse_operate(op, other, **kwargs)

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"EncryptedString takes str, not {type(value).__name__}")
        return cipher_for(dialect).encrypt(value)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return cipher_for(dialect).decrypt(str(value))


class EncryptedBytes(TypeDecorator[bytes]):
    """A binary column stored encrypted (a Fernet token, like :class:`EncryptedString`): face
    templates (``employee_faces.embedding``). ``None`` stays NULL; no SQL comparison."""

    impl = LargeBinary
    cache_ok = True
    comparator_factory = EncryptedString.comparator_factory

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"EncryptedBytes takes bytes, not {type(value).__name__}")
        return cipher_for(dialect).encrypt_bytes(bytes(value))

    def process_result_value(self, value: Any | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return cipher_for(dialect).decrypt_bytes(bytes(value))
