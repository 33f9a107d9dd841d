"""Build and parse the MQTT topics of DESIGN §2.

``innsight/{site}/{device}/status|heartbeat|acks|commands``,
``innsight/{site}/{device}/events/{kind}`` and ``innsight/{site}/{device}/gallery/version``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from contracts.errors import ContractError, ContractErrorCode
from contracts.ids import is_valid_id
from contracts.messages import EventKind

ROOT = "innsight"


class Channel(StrEnum):
    STATUS = "status"
    EVENTS = "events"
    HEARTBEAT = "heartbeat"
    ACKS = "acks"
    GALLERY_VERSION = "gallery/version"
    COMMANDS = "commands"


@dataclass(frozen=True, slots=True)
class Topic:
    site: str
    device: str
    channel: Channel
    event_kind: EventKind | None = None

    def __str__(self) -> str:
        base = f"{ROOT}/{self.site}/{self.device}/{self.channel.value}"
        return f"{base}/{self.event_kind.value}" if self.event_kind is not None else base


def _check_id(name: str, value: str) -> None:
    if not is_valid_id(value):
        raise ContractError(ContractErrorCode.BAD_TOPIC, f"invalid {name} id {value!r}")


def device_topic(site: str, device: str, channel: Channel) -> str:
    """The topic of one device's channel (not for events: use :func:`event_topic`)."""
    if channel is Channel.EVENTS:
        raise ValueError("event topics need a kind: use event_topic()")
    _check_id("site", site)
    _check_id("device", device)
    return str(Topic(site, device, channel))


def event_topic(site: str, device: str, kind: EventKind) -> str:
    _check_id("site", site)
    _check_id("device", device)
    return str(Topic(site, device, Channel.EVENTS, kind))


def site_subscription(site: str, channel: Channel) -> str:
    """The hub's wildcard subscription for one channel of every device of a site."""
    _check_id("site", site)
    suffix = "events/+" if channel is Channel.EVENTS else channel.value
    return f"{ROOT}/{site}/+/{suffix}"


def all_sites_subscription(channel: Channel) -> str:
    """The chain hub's wildcard subscription for one channel of every device of every site."""
    suffix = "events/+" if channel is Channel.EVENTS else channel.value
    return f"{ROOT}/+/+/{suffix}"


# What a site's bridge forwards to the chain broker (docs/chain.md), besides staff alarms.
BRIDGED_CHANNELS = (Channel.EVENTS, Channel.STATUS, Channel.HEARTBEAT)


def bridged_filters(site: str) -> list[str]:
    """The topic filters a site's broker bridges to the chain broker: its devices' events,
    status and heartbeats, and the hub's staff notifications (alarms)."""
    topics = [site_subscription(site, channel) for channel in BRIDGED_CHANNELS]
    return [*topics, f"{ROOT}/{site}/staff/+/notifications"]


def parse_topic(topic: str) -> Topic:
    """Parse a concrete topic; raises :class:`ContractError` (``bad_topic``) when it is not ours."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != ROOT:
        raise ContractError(ContractErrorCode.BAD_TOPIC, f"not an innsight topic: {topic!r}")
    site, device, rest = parts[1], parts[2], parts[3:]
    _check_id("site", site)
    _check_id("device", device)
    if rest[0] == Channel.EVENTS.value and len(rest) == 2:
        try:
            kind = EventKind(rest[1])
        except ValueError:
            raise ContractError(
                ContractErrorCode.UNKNOWN_KIND, f"unknown event kind in topic: {rest[1]!r}"
            ) from None
        return Topic(site, device, Channel.EVENTS, kind)
    joined = "/".join(rest)
    for channel in Channel:
        if channel is not Channel.EVENTS and channel.value == joined:
            return Topic(site, device, channel)
    raise ContractError(ContractErrorCode.BAD_TOPIC, f"unknown channel in topic: {topic!r}")
