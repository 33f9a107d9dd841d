"""Errors raised by the ML layer; routes map them to HTTP status codes (DESIGN §3 rule 5)."""

from __future__ import annotations


class MLError(Exception):
    """Base class. ``field`` names the request field at fault, when there is one."""

    def __init__(self, reason: str, *, field: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class InvalidInputError(MLError):
    """The request is well formed but its values cannot be served (a reversed date range)."""


class NotFoundError(MLError):
    """The request names something that does not exist (room type, guest, booking, model)."""


class ModelNotTrainedError(MLError):
    """No promoted model of that name yet (or its file is missing or altered)."""


class InsufficientHistoryError(MLError):
    """The booking history is too short or empty for this model."""


class ConflictError(MLError):
    """The request is valid but does not apply to the current state (a cancelled booking)."""
