"""Identifiers: UUIDv7 event ids (RFC 9562) and the site/device id syntax."""

from __future__ import annotations

import os
import re
import time
import uuid

# Site, device and camera ids travel inside MQTT topics: no '/', '+', '#' or spaces.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_ID_RE = re.compile(ID_PATTERN)


def is_valid_id(value: str) -> bool:
    """True when ``value`` may be used as a site, device or camera id."""
    return bool(_ID_RE.fullmatch(value))  # fullmatch: '$' would accept a trailing newline


def uuid7(unix_ms: int | None = None) -> uuid.UUID:
    """A time-ordered UUID version 7: 48 bits of Unix milliseconds, then 74 random bits."""
    ms = int(time.time() * 1000) if unix_ms is None else unix_ms
    if not 0 <= ms < 1 << 48:
        raise ValueError(f"timestamp out of range for UUIDv7: {ms}")
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (ms << 80)
        | (0x7 << 76)
        | ((rand >> 62) & 0xFFF) << 64
        | (0b10 << 62)
        | (rand & ((1 << 62) - 1))
    )
    return uuid.UUID(int=value)


def uuid7_unix_ms(value: uuid.UUID) -> int:
    """The millisecond timestamp stored in a UUIDv7."""
    if value.version != 7:
        raise ValueError(f"not a UUIDv7: {value}")
    return value.int >> 80
