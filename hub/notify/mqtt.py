"""Staff apps subscribe to ``innsight/{site}/staff/{role}/notifications``; the hub publishes
there through its own MQTT connection (the ingest's client)."""

from __future__ import annotations

import json
import logging
import re
from typing import Protocol

from hub.notify.base import Notification, NotifyError

logger = logging.getLogger(__name__)

_ROLE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class Publisher(Protocol):
    async def publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> None: ...


def staff_topic(site: str, role: str) -> str:
    if not _ROLE.match(role):
        raise ValueError(f"invalid staff role {role!r} for a topic")
    return f"innsight/{site}/staff/{role}/notifications"


class MqttTopicChannel:
    name = "mqtt"

    def __init__(self, publisher: Publisher, site: str) -> None:
        self._publisher = publisher
        self._site = site

    async def send(self, address: str, note: Notification) -> None:
        """``address`` is the staff role (``housekeeping``, ``security``, ...)."""
        payload = json.dumps(
            {"kind": note.kind, "subject": note.subject, "body": note.body}, ensure_ascii=False
        ).encode()
        try:
            await self._publisher.publish(staff_topic(self._site, address), payload, qos=1)
        except Exception as err:
            raise NotifyError(f"MQTT publish failed: {type(err).__name__}: {err}") from err
        logger.info("published a %s notification for %s", note.kind, address)
