"""What every channel shares: the message, the channel Protocol and its error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

TemplateSource = Literal["generated", "fallback"]


class NotifyError(RuntimeError):
    """A channel could not deliver (server down, refused, timed out)."""


@dataclass(frozen=True, slots=True)
class Notification:
    """One rendered message. ``template`` says whether the assistant's template rendered it or
    the local fallback did."""

    kind: str
    subject: str
    body: str
    html: str | None = None
    template: TemplateSource = "generated"


class Channel(Protocol):
    """Delivers a notification to one address (an e-mail address, a staff role topic, ...)."""

    name: str

    async def send(self, address: str, note: Notification) -> None:
        """Raises :class:`NotifyError` when the message was not taken."""
        ...
