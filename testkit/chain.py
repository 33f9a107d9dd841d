"""A hotel chain on loopback for tests: a chain Mosquitto (TLS listener for the sites' bridges,
a plaintext one for the chain hub, passwords and ACL from :mod:`provisioning.bridge`) and site
Mosquittos bridged to it through the real ``innsight provision bridge`` files."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from innsight.broker import BrokerTls, MosquittoBroker, free_port
from provisioning.bridge import (
    BRIDGE_CONF_DIR,
    ChainPaths,
    QueueSizing,
    ensure_chain_hub,
    provision_bridge,
)
from provisioning.broker_config import directive_values

CONNECT_TIMEOUT_S = 10.0


@dataclass
class ChainBroker:
    broker: MosquittoBroker  # its ``port`` is the chain hub's plaintext loopback listener
    tls_port: int  # the sites' bridges connect here
    auth: ChainPaths
    hub_password: str


def chain_broker(workdir: Path, tls: BrokerTls) -> ChainBroker:
    """The chain broker, not started: provision the sites' bridges first (it reads its
    password and ACL files when it starts)."""
    auth = ChainPaths(workdir / "auth")
    auth.root.mkdir(parents=True, exist_ok=True)
    hub_password = ensure_chain_hub(auth)
    assert hub_password is not None
    tls_port = free_port()
    broker = MosquittoBroker(
        workdir=workdir / "broker",
        password_file=auth.passwd,
        extra_config=[
            f"acl_file {auth.acl}",
            f"listener {tls_port} 127.0.0.1",
            f"cafile {tls.ca_cert}",
            f"certfile {tls.server_cert}",
            f"keyfile {tls.server_key}",
            "tls_version tlsv1.2",
        ],
    )
    return ChainBroker(broker, tls_port, auth, hub_password)


@dataclass
class SiteBroker:
    site: str
    broker: MosquittoBroker
    bridge_conf: Path

    @property
    def bridge_password(self) -> str:
        """The bridge's password at the chain broker (from the site's bridge file)."""
        return directive_values(self.bridge_conf.read_text(), "remote_password")[0]


def site_broker(
    workdir: Path,
    site: str,
    chain: ChainBroker,
    chain_ca: Path,
    *,
    chain_port: int,
    sizing: QueueSizing | None = None,
) -> SiteBroker:
    """A site's broker (not started) with the bridge ``provision bridge`` writes (its queue
    limits included, after the broker's own), bridged to ``127.0.0.1:chain_port`` over TLS;
    the bridge's user is added to the chain broker's files."""
    broker_dir = workdir / "site-files"
    files = provision_bridge(
        site,
        broker_dir,
        chain.auth,
        chain_host="127.0.0.1",
        chain_port=chain_port,
        chain_ca=chain_ca,
        sizing=sizing,
    )
    broker = MosquittoBroker(
        workdir=workdir / "broker",
        extra_config=[f"include_dir {broker_dir.resolve() / BRIDGE_CONF_DIR}"],
    )
    return SiteBroker(site, broker, files.conf)


class AuthClient:
    """A paho client with a user name and password (3.1.1, clean session) that records what
    arrives on its subscriptions."""

    def __init__(self, port: int, client_id: str, username: str, password: str) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_args: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(CONNECT_TIMEOUT_S):
            self.close()
            raise AssertionError(f"{username} could not connect to port {port}")

    def _on_connect(self, _c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        if not getattr(reason, "is_failure", False):
            self._connected.set()

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((message.topic, bytes(message.payload)))

    def topics(self) -> list[str]:
        with self._lock:
            return [topic for topic, _payload in self.received]

    def subscribe(self, topic: str) -> None:
        self._subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self._subscribed.wait(CONNECT_TIMEOUT_S), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(CONNECT_TIMEOUT_S)
        assert info.is_published(), f"no PUBACK on {topic}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
