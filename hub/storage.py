"""Object storage for snapshots and gallery artefacts: a Protocol and a local-folder adapter.

MinIO comes later as another adapter of :class:`ObjectStore`. The calls are synchronous (as the
``minio`` client is); async callers run them in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)

MAX_KEY_LENGTH = 512
# Segments start with a letter or digit, so '.', '..' and hidden names are impossible.
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_KEY_RE = re.compile(rf"^{_SEGMENT}(/{_SEGMENT})*$")


class StorageError(RuntimeError):
    """The object store failed (I/O, permissions, backend unreachable)."""


class InvalidObjectKeyError(StorageError, ValueError):
    """A key that could escape the store or is not portable."""


class ObjectNotFoundError(StorageError, LookupError):
    """No object under that key."""


def validate_key(key: str) -> str:
    """Return ``key`` when it is a safe relative key (``a/b.jpg``), else raise."""
    if not key or len(key) > MAX_KEY_LENGTH or not _KEY_RE.match(key):
        raise InvalidObjectKeyError(
            f"invalid object key {key[:80]!r}: use relative segments of letters, digits, "
            "'.', '_' or '-' separated by '/', each starting with a letter or digit"
        )
    return key


class ObjectStore(Protocol):
    """Where bytes live: snapshots, gallery artefacts, uploaded images."""

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def url_for(self, key: str) -> str: ...

    def delete(self, key: str) -> None:
        """Removes the object; a missing object is not an error (deletion is idempotent)."""
        ...


class LocalFolderStore:
    """Objects as files under ``root``; writes are atomic (temp file, fsync, rename).

    ``base_url``, when given, makes :meth:`url_for` return ``{base_url}/{key}``; otherwise it
    returns a ``file://`` URI.
    """

    def __init__(self, root: Path, *, base_url: str | None = None) -> None:
        self._root = Path(root).resolve()
        self._base_url = base_url.rstrip("/") if base_url else None

    @property
    def root(self) -> Path:
        return self._root

    def _path(self, key: str) -> Path:
        path = (self._root / validate_key(key)).resolve()
        if not path.is_relative_to(self._root):  # defence in depth (symlinks)
            raise InvalidObjectKeyError(f"object key {key!r} escapes the store")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp_name, path)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            _fsync_dir(path.parent)
        except OSError as err:
            raise StorageError(f"could not write object {key!r}: {err.strerror}") from err
        logger.debug("stored %s (%d bytes, %s)", key, len(data), content_type)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as err:
            raise ObjectNotFoundError(f"no object {key!r}") from err
        except IsADirectoryError as err:
            raise ObjectNotFoundError(f"no object {key!r}") from err
        except OSError as err:
            raise StorageError(f"could not read object {key!r}: {err.strerror}") from err

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as err:
            raise StorageError(f"could not delete object {key!r}: {err.strerror}") from err
        if path.parent.is_dir():
            _fsync_dir(path.parent)

    def url_for(self, key: str) -> str:
        path = self._path(key)
        if self._base_url is not None:
            return f"{self._base_url}/{key}"
        return path.as_uri()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some filesystems refuse opening directories; the rename stands
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
