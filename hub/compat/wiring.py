"""The compatibility layers' part of the hub's lifespan (hub/api/app.py): build and start the
bridge when the Frigate mirror or Home Assistant discovery is enabled, chained after the flows
on the ingest's after-commit callback."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from hub.compat.bridge import CompatBridge
from hub.db import SessionFactory
from hub.settings import HubSettings

if TYPE_CHECKING:
    from hub.ingest import MqttIngest

logger = logging.getLogger(__name__)

EventsStored = Callable[[list[dict[str, Any]]], Awaitable[None]]


def _version() -> str:
    try:
        return version("innsight")
    except PackageNotFoundError:
        return "0"


def fan_out(*callbacks: EventsStored | None) -> EventsStored:
    """One after-commit callback calling each of ``callbacks`` in turn (one failing does not
    keep the others from running)."""
    present = [c for c in callbacks if c is not None]

    async def call(events: list[dict[str, Any]]) -> None:
        for callback in present:
            try:
                await callback(events)
            except Exception:
                logger.exception("an after-commit callback failed")

    return call


async def start_compat(
    settings: HubSettings,
    session_factory: SessionFactory,
    ingest: MqttIngest | None,
    *,
    chain: Callable[[Sequence[Mapping[str, Any]]], Awaitable[None]] | None,
) -> CompatBridge | None:
    """The running bridge, or None when both layers are off or the hub runs without MQTT.
    ``chain``: the callback already on the ingest (the flows'), still called first."""
    if ingest is None or not (settings.frigate_enabled or settings.ha_discovery_enabled):
        return None
    bridge = CompatBridge(settings, session_factory, sw_version=_version())
    await bridge.start()
    ingest.set_on_events_stored(fan_out(chain, bridge.events_stored))
    logger.info(
        "compat: Frigate mirror %s, Home Assistant discovery %s",
        "on" if bridge.frigate is not None else "off",
        "on" if bridge.naming is not None else "off",
    )
    return bridge
