"""Errors raised when bytes or topics do not satisfy the contract."""

from __future__ import annotations

from enum import StrEnum


class ContractErrorCode(StrEnum):
    """Why a message was refused; the hub stores this in dead_letters.reason."""

    OVERSIZE = "oversize"
    BAD_JSON = "bad_json"
    UNSUPPORTED_SCHEMA = "unsupported_schema"
    UNKNOWN_KIND = "unknown_kind"
    INVALID = "invalid"
    BAD_TOPIC = "bad_topic"
    TOPIC_MISMATCH = "topic_mismatch"


class ContractError(ValueError):
    """A message or topic that breaks the contract, with a machine-readable code and a reason."""

    def __init__(self, code: ContractErrorCode, detail: str) -> None:
        super().__init__(f"{code.value}: {detail}")
        self.code = code
        self.detail = detail
