"""The console logic's refusal of a request field (the route answers it as a 4xx naming it)."""

from __future__ import annotations


class FieldRefusedError(ValueError):
    """``field`` of the request cannot be applied, for ``reason``."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
