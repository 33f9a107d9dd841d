"""Errors raised when bytes or topics do not satisfy the contract."""

from __future__ import annotations

from enum import StrEnum


class ContractErrorCode(StrEnum):
    """Why a message was refused; the hub stores this in dead_letters.reason and sends it back
    in the ack's ``refused`` list."""

    OVERSIZE = "oversize"  # more bytes than the channel allows
    BAD_JSON = "bad_json"  # not UTF-8 JSON (NaN/Infinity included)
    TOO_DEEP = "too_deep"  # arrays/objects nested past MAX_JSON_DEPTH (checked before parsing)
    NUMBER_TOO_LONG = "number_too_long"  # a number literal past MAX_NUMBER_CHARS characters
    UNSUPPORTED_SCHEMA = "unsupported_schema"
    UNKNOWN_KIND = "unknown_kind"
    OUT_OF_RANGE = "out_of_range"  # a number outside its bounds (seq >= 2**63, score > 1, ...)
    BAD_TIME = "bad_time"  # a datetime missing its offset or outside 1970..2100 UTC
    BAD_TEXT = "bad_text"  # text with NUL characters or lone surrogates
    TOO_LONG = "too_long"  # text, list or snapshot over its length limit
    INVALID = "invalid"  # any other breach: wrong type, missing field, unknown field, ...
    BAD_TOPIC = "bad_topic"
    TOPIC_MISMATCH = "topic_mismatch"


class ContractError(ValueError):
    """A message or topic that breaks the contract, with a machine-readable code and a reason."""

    def __init__(self, code: ContractErrorCode, detail: str) -> None:
        super().__init__(f"{code.value}: {detail}")
        self.code = code
        self.detail = detail
