"""ETags of hotel records and the If-Match rule (pure).

An ETag names one version of a record: a digest of its kind, id and ``updated_at``, which every
writer sets (the hotel routes, the booking and room flows), so a change made anywhere changes the
ETag; no personal value goes into it. Updates need ``If-Match`` (428 without it, 412 when it is
not the current ETag; ``*`` matches any version).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from hub.hotel.errors import HotelError

IF_MATCH = "If-Match"


def etag_of(kind: str, key: object, updated_at: datetime) -> str:
    """The quoted strong ETag of record ``key`` of ``kind`` at ``updated_at``."""
    moment = updated_at.astimezone(UTC).isoformat(timespec="microseconds")
    digest = hashlib.sha256(f"{kind}\x1f{key}\x1f{moment}".encode()).hexdigest()[:32]
    return f'"{digest}"'


def check_if_match(if_match: str | None, current: str) -> None:
    """Raises 428 when ``if_match`` is missing, 412 when no tag in it is ``current``."""
    if if_match is None or not if_match.strip():
        raise HotelError(
            428,
            IF_MATCH,
            "updates need the If-Match header: the ETag of the version you read (GET answers it)",
        )
    tags = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if "*" in tags or current in tags:
        return
    raise HotelError(
        412,
        IF_MATCH,
        f"the record changed since you read it: its ETag is now {current}; read it again",
    )
