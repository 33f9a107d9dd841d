"""Who is calling: the authenticated principal, as logic below the HTTP layer sees it.

:mod:`hub.api.auth` makes one from the request's credentials; logic (the assistant, flows)
receives it and never imports the HTTP layer (DESIGN §3).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``kind``: user | local | service | api_key | device; ``name`` is
    the token's subject (a user name, a key prefix, a device id)."""

    kind: str
    name: str
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def actor(self) -> str:
        """How audit rows and rate limits name the caller (no secret in it)."""
        return f"{self.kind}:{self.name}"
