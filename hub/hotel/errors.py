"""The one error of hub/hotel: which field, why, and the HTTP status a route gives it."""

from __future__ import annotations


class HotelError(ValueError):
    """``status``: 404 unknown record, 409 conflict (double booking, duplicate id, impossible
    status change), 412 stale ETag, 422 invalid value, 428 If-Match missing. ``allowed``: the
    statuses a booking may move to, on a refused transition."""

    def __init__(
        self, status: int, field: str, reason: str, *, allowed: tuple[str, ...] = ()
    ) -> None:
        super().__init__(f"{field}: {reason}")
        self.status = status
        self.field = field
        self.reason = reason
        self.allowed = allowed


def not_found(field: str, what: str, value: object) -> HotelError:
    return HotelError(404, field, f"no {what} {value!r}")


def invalid(field: str, reason: str) -> HotelError:
    return HotelError(422, field, reason)
