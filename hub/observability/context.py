"""The id of the HTTP request being served, in a context variable: every log line written while
the request runs (and in the tasks it starts) carries it."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from typing import Final

REQUEST_ID_HEADER: Final = "X-Request-ID"
# what a caller's X-Request-ID may be (a proxy's UUID, a trace id...); anything else is replaced
_ACCEPTED: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_id_var: ContextVar[str | None] = ContextVar("innsight_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request this code runs for, or ``None`` outside a request."""
    return request_id_var.get()


def request_id_from(header: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is a plain token of at most 128 characters, else a
    new random id (a header is never trusted into the logs as it came)."""
    if header is not None and _ACCEPTED.fullmatch(header):
        return header
    return uuid.uuid4().hex
