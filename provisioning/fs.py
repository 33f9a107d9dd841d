"""Atomic file writes with explicit permissions: secrets are 0600 from the moment they exist."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644


def write_atomic(path: Path, data: str | bytes, *, mode: int) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder (created 0600, chmod'ed to
    ``mode``, fsync'ed, renamed): readers see the old file or the new one, never a partial one,
    and a secret is never readable by others, not even briefly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_secret(path: Path, data: str | bytes) -> None:
    write_atomic(path, data, mode=SECRET_MODE)


def write_public(path: Path, data: str | bytes) -> None:
    write_atomic(path, data, mode=PUBLIC_MODE)
