"""The ingest's errors, and how a failure is told apart: the database is unavailable
(transient: keep and retry) or this message is refused (permanent: dead-letter it)."""

from __future__ import annotations

from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from hub.storage import StorageError


class IngestError(RuntimeError):
    """Base class of the ingest's errors."""


class IngestNotConnectedError(IngestError):
    """The ingest has no live broker connection (disabled, not started or reconnecting)."""


class PublishError(IngestError):
    """The broker did not take a message."""


def is_transient(err: BaseException) -> bool:
    """Errors that say the database (or object store) is unavailable, not that the data is bad."""
    if isinstance(err, DBAPIError) and err.connection_invalidated:
        return True
    return isinstance(
        err,
        OperationalError
        | InterfaceError
        | DisconnectionError
        | PoolTimeoutError
        | StorageError
        | ConnectionError
        | TimeoutError
        | OSError,
    )


def database_reason(err: BaseException) -> str:
    """The database's own reason for refusing a message (no SQL, no parameters)."""
    orig = getattr(err, "orig", None)
    cause = orig if isinstance(orig, BaseException) else err
    message = str(cause).strip().splitlines()
    first = message[0] if message else ""
    return f"{type(cause).__name__}: {first}" if first else type(cause).__name__


def storable(value: str, limit: int) -> str:
    """Text from a message or an error, made storable on both databases and bounded."""
    value = value[:limit]
    if "\x00" in value:
        value = value.replace("\x00", "\\x00")
    if not value.isascii():
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value
