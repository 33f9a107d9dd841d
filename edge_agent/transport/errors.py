"""Errors the transport surfaces to its callers (DESIGN §3, convention 5)."""

from __future__ import annotations


class PublishError(RuntimeError):
    """A message could not be handed to the transport (stopped, or refused)."""
