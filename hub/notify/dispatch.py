"""The hub's notifier: picks the channel, sends, and records the outcome (no message text)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from hub.db import SessionFactory
from hub.notify.base import Channel, Notification, NotifyError
from hub.tables import NotificationLog

logger = logging.getLogger(__name__)


class ChannelUnavailableError(NotifyError):
    """The channel asked for is not configured (no SMTP host, no webhook URL, no broker)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    channel: str
    recipient: str
    ok: bool
    error: str | None = None


class Notifier:
    def __init__(
        self, channels: Mapping[str, Channel], session_factory: SessionFactory | None = None
    ) -> None:
        self._channels = dict(channels)
        self._sessions = session_factory

    @property
    def channels(self) -> list[str]:
        return sorted(self._channels)

    def has(self, channel: str) -> bool:
        return channel in self._channels

    async def send(
        self, channel: str, address: str, note: Notification, *, recipient: str
    ) -> Delivery:
        """Send through ``channel``; ``recipient`` names who it was for in the log (a role or an
        id, never the address). Raises :class:`NotifyError` when it fails (after logging it)."""
        target = self._channels.get(channel)
        if target is None:
            error: NotifyError = ChannelUnavailableError(f"channel {channel!r} is not configured")
            await self._record(note, channel, recipient, str(error))
            raise error
        try:
            await target.send(address, note)
        except NotifyError as err:
            await self._record(note, channel, recipient, str(err)[:500])
            raise
        await self._record(note, channel, recipient, None)
        return Delivery(channel, recipient, True)

    async def _record(
        self, note: Notification, channel: str, recipient: str, error: str | None
    ) -> None:
        if self._sessions is None:
            return
        async with self._sessions() as session:
            session.add(
                NotificationLog(
                    kind=note.kind,
                    channel=channel,
                    recipient=recipient[:128],
                    ok=error is None,
                    error=error,
                    template=note.template,
                )
            )
            await session.commit()
