"""What storage can hold, checked on the wire: bounded JSON loading, storable text and times.

Both databases refuse things JSON happily carries: integers past 64 bits, text with NUL or lone
surrogates (PostgreSQL), datetimes that leave years 1..9999 once moved to UTC. The contract
refuses them first, each with its own :class:`~contracts.errors.ContractErrorCode`, so a message
that could never be stored is refused once, with a reason, instead of failing the database.

:func:`load_json` reads bytes with every limit checked before or while parsing: size, nesting
depth (a scan over the bytes: no recursion, no ``RecursionError``), length of every number
literal (a 5,001-digit integer is refused, never handed to ``int()``), and the non-standard
``NaN``/``Infinity`` literals.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, Final

from pydantic_core import PydanticCustomError

from contracts.errors import ContractError, ContractErrorCode

# Signed 64-bit columns (BIGINT on PostgreSQL, INTEGER on SQLite) hold at most this.
INT64_MAX: Final = 2**63 - 1
# Plain INTEGER columns on PostgreSQL (gallery versions, counters kept in int columns).
INT32_MAX: Final = 2**31 - 1
# Depth of arrays/objects: the deepest message of the contract nests 3 levels.
MAX_JSON_DEPTH: Final = 8
# Characters of one number literal: an int64 has at most 20, a float's repr at most 24.
MAX_NUMBER_CHARS: Final = 40
# Times the hub accepts: a camera clock outside this window is wrong, and every value inside
# it is representable in UTC on both databases (offsets are at most +-24 h).
MIN_TIME: Final = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME: Final = datetime(2100, 1, 1, tzinfo=UTC)

# A JSON string (escapes included) or one bracket; strings are skipped, brackets counted.
_TOKEN_RE: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class _NumberTooLongError(ValueError):
    pass


class _BadConstantError(ValueError):
    pass


def check_depth(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON nested deeper than ``max_depth`` (``too_deep``) without parsing it."""
    # Fast path: a message with few brackets cannot be deep (every event of the contract).
    if raw.count(b"{") + raw.count(b"[") <= max_depth:
        return
    depth = 0
    for match in _TOKEN_RE.finditer(raw):
        first = match.group()[0]
        if first in (0x7B, 0x5B):  # { [
            depth += 1
            if depth > max_depth:
                raise ContractError(
                    ContractErrorCode.TOO_DEEP, f"JSON nested deeper than {max_depth} levels"
                )
        elif first in (0x7D, 0x5D):  # } ]
            depth -= 1


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberTooLongError(text[:12])
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberTooLongError(text[:12])
    return float(text)


def _parse_constant(text: str) -> Any:
    raise _BadConstantError(text)


# One decoder, made once (json.loads with hooks would build one per call).
_DECODER: Final = json.JSONDecoder(
    parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
)


def load_json(raw: bytes, max_bytes: int) -> Any:
    """Parse ``raw`` (UTF-8 JSON) with every limit checked; raises :class:`ContractError`."""
    if len(raw) > max_bytes:
        raise ContractError(ContractErrorCode.OVERSIZE, f"{len(raw)} bytes > limit {max_bytes}")
    check_depth(raw)
    try:
        return _DECODER.decode(raw.decode("utf-8"))
    except _NumberTooLongError as err:
        raise ContractError(
            ContractErrorCode.NUMBER_TOO_LONG,
            f"a number literal is longer than {MAX_NUMBER_CHARS} characters ({err}...)",
        ) from None
    except _BadConstantError as err:
        raise ContractError(
            ContractErrorCode.BAD_JSON, f"{err} is not JSON (numbers must be finite)"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ContractError(ContractErrorCode.BAD_JSON, str(err)) from None
    except RecursionError:  # unreachable after check_depth; kept as a guard
        raise ContractError(ContractErrorCode.TOO_DEEP, "JSON nested too deeply") from None


def storable_text(value: str) -> str:
    """Pydantic validator: no NUL characters, no lone surrogates (``bad_text``)."""
    if "\x00" in value:
        raise PydanticCustomError("bad_text", "text must not contain NUL (\\u0000) characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise PydanticCustomError(
                "bad_text", "text must be valid Unicode (no lone surrogates)"
            ) from None
    return value


def storable_time(value: datetime) -> datetime:
    """Pydantic validator: an aware datetime inside [MIN_TIME, MAX_TIME) once in UTC."""
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise PydanticCustomError(
            "bad_time", "time is out of range once converted to UTC"
        ) from None
    if not MIN_TIME <= utc < MAX_TIME:
        raise PydanticCustomError(
            "bad_time",
            "time must lie between {low} and {high} (UTC)",
            {"low": MIN_TIME.isoformat(), "high": MAX_TIME.isoformat()},
        )
    return value


# pydantic error types -> refusal codes; anything else is ``invalid``.
_ERROR_CODES: Final[dict[str, ContractErrorCode]] = {
    "bad_text": ContractErrorCode.BAD_TEXT,
    "string_unicode": ContractErrorCode.BAD_TEXT,
    "bad_time": ContractErrorCode.BAD_TIME,
    "timezone_aware": ContractErrorCode.BAD_TIME,
    "datetime_parsing": ContractErrorCode.BAD_TIME,
    "datetime_from_date_parsing": ContractErrorCode.BAD_TIME,
    "datetime_object_invalid": ContractErrorCode.BAD_TIME,
    "greater_than": ContractErrorCode.OUT_OF_RANGE,
    "greater_than_equal": ContractErrorCode.OUT_OF_RANGE,
    "less_than": ContractErrorCode.OUT_OF_RANGE,
    "less_than_equal": ContractErrorCode.OUT_OF_RANGE,
    "finite_number": ContractErrorCode.OUT_OF_RANGE,
    "int_parsing_size": ContractErrorCode.OUT_OF_RANGE,
    "string_too_long": ContractErrorCode.TOO_LONG,
    "too_long": ContractErrorCode.TOO_LONG,
    "bytes_too_long": ContractErrorCode.TOO_LONG,
}
# When one message breaks several rules, the most specific code wins.
_PRIORITY: Final = (
    ContractErrorCode.BAD_TEXT,
    ContractErrorCode.OUT_OF_RANGE,
    ContractErrorCode.BAD_TIME,
    ContractErrorCode.TOO_LONG,
)


def code_for_errors(error_types: list[str]) -> ContractErrorCode:
    """The refusal code for a pydantic ``ValidationError``'s error types."""
    found = {_ERROR_CODES[t] for t in error_types if t in _ERROR_CODES}
    for code in _PRIORITY:
        if code in found:
            return code
    return ContractErrorCode.INVALID
