"""The hub's generated secrets: the JWT signing secret and the PII encryption key.

When :class:`~hub.settings.HubSettings` does not give them, each is generated once and kept in
``{data_dir}/jwt.secret`` / ``{data_dir}/pii.key`` (mode 0600), so tokens stay valid and
encrypted fields stay readable across restarts. Creation is atomic (written to a private temp
file, then hard-linked into place), so two processes starting at once agree on one secret.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import SecretStr

from hub.settings import MIN_JWT_SECRET_CHARS, HubSettings

logger = logging.getLogger(__name__)

JWT_SECRET_FILE = "jwt.secret"  # noqa: S105 - a file name
PII_KEY_FILE = "pii.key"


class SecretFileError(RuntimeError):
    """A secret file exists but cannot be used; the message names the file."""


def _new_jwt_secret() -> str:
    return secrets.token_urlsafe(48)


def _new_pii_key() -> str:
    return Fernet.generate_key().decode("ascii")


def load_or_create_secret(path: Path, make: Callable[[], str], *, min_chars: int = 1) -> str:
    """The secret in ``path``; when the file is missing, a new one from ``make`` (mode 0600)."""
    try:
        return _read(path, min_chars)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(make() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: use its secret
            os.link(temp, path)
            logger.info("generated a new secret in %s", path)
    finally:
        temp.unlink(missing_ok=True)
    return _read(path, min_chars)


def _read(path: Path, min_chars: int) -> str:
    value = path.read_text(encoding="ascii").strip()
    if len(value) < min_chars:
        raise SecretFileError(f"{path} holds no usable secret: delete it to generate a new one")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning("%s is readable by other users (mode %o): chmod 600 it", path, mode)
    return value


def with_secrets(settings: HubSettings) -> HubSettings:
    """``settings`` with ``jwt_secret`` and ``pii_key`` filled in (from the data dir when unset)."""
    update: dict[str, SecretStr] = {}
    if settings.jwt_secret is None:
        update["jwt_secret"] = SecretStr(
            load_or_create_secret(
                settings.data_dir / JWT_SECRET_FILE,
                _new_jwt_secret,
                min_chars=MIN_JWT_SECRET_CHARS,
            )
        )
    if settings.pii_key is None:
        update["pii_key"] = SecretStr(
            load_or_create_secret(settings.data_dir / PII_KEY_FILE, _new_pii_key, min_chars=44)
        )
    if not update:
        return settings
    return HubSettings.model_validate({**_fields(settings), **update})


def _fields(settings: HubSettings) -> dict[str, object]:
    return {name: getattr(settings, name) for name in HubSettings.model_fields}


def jwt_secret_of(settings: HubSettings) -> str:
    secret = with_secrets(settings).jwt_secret
    if secret is None:  # with_secrets always fills it
        raise SecretFileError("no JWT secret")
    return secret.get_secret_value()
