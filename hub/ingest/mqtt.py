"""The ingest's broker connection: one client with a persistent session, and the topics it
subscribes to.

A hub alone uses MQTT 3.1.1 (``clean_session=False``, stable client id). Ingest workers
(``innsight hub ingest``) share the subscription through MQTT 5 shared subscriptions
(``$share/{group}/innsight/{site}/...``, Mosquitto >= 2.0): the broker hands each message to one
worker of the group; each worker keeps its own persistent session (``clean_start=False`` and a
session expiry), so a restarted worker gets what was queued for it.
"""

from __future__ import annotations

import logging

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contracts.topics import Channel, site_subscription
from hub.settings import HubSettings

# How long the broker keeps a disconnected worker's session (and queues its messages).
SESSION_EXPIRY_S = 24 * 3600
SUBSCRIBED_CHANNELS = (Channel.EVENTS, Channel.STATUS, Channel.HEARTBEAT)


def subscriptions(site: str, shared_group: str | None) -> list[str]:
    """The topic filters of the ingest (shared by ``shared_group`` when given)."""
    topics = [site_subscription(site, channel) for channel in SUBSCRIBED_CHANNELS]
    if shared_group is None:
        return topics
    return [f"$share/{shared_group}/{topic}" for topic in topics]


def new_client(settings: HubSettings, client_id: str, *, shared: bool) -> aiomqtt.Client:
    """A client with a persistent session: MQTT 5 for shared subscriptions, else 3.1.1."""
    s = settings
    password = s.mqtt_password.get_secret_value() if s.mqtt_password is not None else None
    logger = logging.getLogger("hub.ingest.mqtt")
    if not shared:
        return aiomqtt.Client(
            s.mqtt_host,
            s.mqtt_port,
            username=s.mqtt_username,
            password=password,
            identifier=client_id,
            clean_session=False,
            keepalive=s.mqtt_keepalive_s,
            timeout=10,
            logger=logger,
        )
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = SESSION_EXPIRY_S
    return aiomqtt.Client(
        s.mqtt_host,
        s.mqtt_port,
        username=s.mqtt_username,
        password=password,
        identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=False,
        properties=properties,
        keepalive=s.mqtt_keepalive_s,
        timeout=10,
        logger=logger,
    )


def payload_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, bytearray):
        return bytes(payload)
    if payload is None:
        return b""
    return str(payload).encode()
