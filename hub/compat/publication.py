"""One MQTT message the compatibility layers want published (built by pure code, sent by
:mod:`hub.compat.link`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Publication:
    topic: str
    payload: bytes
    retain: bool = False
