"""Parameter types shared by routes: text a database can store, datetimes it can compare.

PostgreSQL's text cannot hold NUL characters and no driver can encode a lone UTF-16 surrogate
(JSON allows ``"\\ud800"``): such input would fail in the database as a 500; these types turn it
into a 422 naming the field. Datetimes are normalised to UTC here, where a value whose offset
pushes it past year 1 or 9999 is a 422 too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator


def storable_text(value: object) -> object:
    """Refuse strings with NUL characters or lone surrogates (other values pass through)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL (\\x00) characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def to_utc(value: datetime | None) -> datetime | None:
    """Aware UTC; a value without an offset is taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


StorableText = BeforeValidator(storable_text)
"""Put in ``Annotated[str, ..., StorableText]`` (query, form or body fields)."""

UtcDateTime = Annotated[datetime, AfterValidator(to_utc)]
