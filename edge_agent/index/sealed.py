"""The edge's gallery file, sealed at rest (issue 17 item 4): AES-256-GCM under the site's
gallery key, so the file on disk holds no template, no person id and no transform key in clear,
and a file copied to another site (another key) does not open there.

Where the key lives: ``gallery.key`` in the edge config (the device bundle; 32 url-safe base64
bytes, the same for every box of a site when the operator wants galleries to move between them),
else ``{data_dir}/gallery.key`` (mode 0600), made once by the edge. Rotating it: replace the key
and restart the edge; the sealed file no longer opens, the edge starts empty and downloads the
current gallery from the hub (which re-seals it under the new key).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

KEY_BYTES = 32
KEY_FILE = "gallery.key"
MAGIC = b"innsight-gallery-sealed-v1\n"
_NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed gallery that does not open: another key (another site), or damaged bytes."""


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def parse_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError, binascii.Error):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ValueError(f"a gallery key is {KEY_BYTES} url-safe base64 bytes")
    return raw


def load_or_create_key(path: Path) -> bytes:
    """The key in ``path``; made once (mode 0600, atomically) when the file is missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(new_key() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process was first
                os.link(temp, path)
        finally:
            temp.unlink(missing_ok=True)
    return parse_key(path.read_text(encoding="ascii"))


def seal(key: bytes, data: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, data, MAGIC)


def open_sealed(key: bytes, blob: bytes) -> bytes:
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + _NONCE_BYTES + 16:
        raise SealError("not a sealed innsight gallery")
    nonce = blob[len(MAGIC) : len(MAGIC) + _NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, blob[len(MAGIC) + _NONCE_BYTES :], MAGIC)
    except InvalidTag:
        raise SealError(
            "the gallery does not open with this site's gallery key (another site's file, "
            "or damaged)"
        ) from None


def gallery_key(configured: SecretStr | None, data_dir: Path) -> bytes:
    """``gallery.key`` from the config, else ``{data_dir}/gallery.key`` (made once)."""
    if configured is None:
        return load_or_create_key(data_dir / KEY_FILE)
    try:
        return parse_key(configured.get_secret_value())
    except ValueError as err:
        raise ValueError(f"gallery.key: {err}") from None
