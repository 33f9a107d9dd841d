"""A hotel's broker bridged to the chain broker (issue 21 item 4, docs/chain.md).

Each hotel keeps its own Mosquitto and hub; a Mosquitto bridge on the hotel's broker forwards its
events, device status, heartbeats and staff alarms to the chain broker, under the same topics
(``innsight/{site}/...``), at QoS 1, with a persistent session on both sides and a local queue
sized for a day's outage. This module renders the two halves from one list of topics:

- the hotel's side: ``bridge.d/chain.conf`` (the ``connection`` section: TLS to the chain broker,
  the bridge's credentials, the topics, the queue limits), included by the hotel's
  ``mosquitto.conf`` through ``include_dir``;
- the chain's side: the bridge user's password entry and ACL block (``write`` on exactly the
  forwarded topics of its own site, nothing else), and the chain hub's read-only block.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from contracts.ids import is_valid_id
from contracts.messages import MAX_EVENT_BYTES
from contracts.topics import BRIDGED_CHANNELS, ROOT, all_sites_subscription, bridged_filters
from provisioning.broker_auth import AclFile, PasswordFile, new_password
from provisioning.broker_config import directive_values
from provisioning.fs import write_public, write_secret

CHAIN_HUB_USER = "chain-hub"
BRIDGE_CONF_DIR = "bridge.d"
BRIDGE_CONF_NAME = "chain.conf"
CHAIN_CA_NAME = "chain-ca.crt"
INCLUDE_MARK = "# innsight chain bridge (innsight provision bridge)"
DAY_S = 24 * 3600
# The defaults of the sizing (docs/chain.md): DESIGN §6's 10 cameras at 1 event message/s, a
# heartbeat every 30 s from each of 4 edges, messages of 2 KiB on average (a face or anomaly
# envelope with a snapshot uploaded by reference is under 1 KiB; inline snapshots are bigger),
# and 25 % headroom.
DEFAULT_EVENTS_PER_S = 10.0
DEFAULT_HEARTBEATS_PER_S = 4 / 30
DEFAULT_AVG_MESSAGE_BYTES = 2048
DEFAULT_HEADROOM = 1.25


class BridgeError(ValueError):
    """A bridge that cannot be set up as asked."""


def bridge_user_for(site: str) -> str:
    """The site's bridge user at the chain broker (also the bridge's remote client id)."""
    return f"bridge-{site}"


def forwarded_topics(site: str) -> list[str]:
    """What a site's bridge forwards: events, status (retained), heartbeats, staff alarms."""
    if not is_valid_id(site):
        raise BridgeError(f"invalid site id {site!r}")
    return bridged_filters(site)


def chain_hub_topics() -> list[str]:
    """What the chain hub may read: the forwarded topics of every site."""
    return [
        *(all_sites_subscription(channel) for channel in BRIDGED_CHANNELS),
        f"{ROOT}/+/staff/+/notifications",
    ]


@dataclass(frozen=True, slots=True)
class QueueSizing:
    """The bridge's queue on the site broker, for ``outage_s`` without the chain broker."""

    events_per_s: float = DEFAULT_EVENTS_PER_S
    heartbeats_per_s: float = DEFAULT_HEARTBEATS_PER_S
    avg_message_bytes: int = DEFAULT_AVG_MESSAGE_BYTES
    outage_s: float = DAY_S
    headroom: float = DEFAULT_HEADROOM

    def __post_init__(self) -> None:
        if self.events_per_s < 0 or self.heartbeats_per_s < 0:
            raise BridgeError("message rates must be >= 0")
        if not 0 < self.avg_message_bytes <= MAX_EVENT_BYTES:
            raise BridgeError(f"avg_message_bytes must be in 1..{MAX_EVENT_BYTES}")
        if self.outage_s <= 0 or self.headroom < 1:
            raise BridgeError("outage_s must be > 0 and headroom >= 1")

    @property
    def messages(self) -> int:
        """``max_queued_messages``: every message of the outage, with headroom."""
        rate = self.events_per_s + self.heartbeats_per_s
        return max(1000, math.ceil(rate * self.outage_s * self.headroom))

    @property
    def bytes(self) -> int:
        """``max_queued_bytes``: the messages at their average size (payloads only, as
        Mosquitto counts them)."""
        return self.messages * self.avg_message_bytes


@dataclass(frozen=True, slots=True)
class BridgeSpec:
    """Everything the site's ``connection`` section says."""

    site: str
    chain_host: str
    chain_port: int
    password: str
    cafile: Path
    sizing: QueueSizing = QueueSizing()
    tls: bool = True

    @property
    def user(self) -> str:
        return bridge_user_for(self.site)


def render_bridge_conf(spec: BridgeSpec) -> str:
    """The site broker's bridge section (and its queue limits), as Mosquitto reads it."""
    if any(c.isspace() for c in spec.chain_host) or not spec.chain_host:
        raise BridgeError(f"invalid chain broker host {spec.chain_host!r}")
    sizing = spec.sizing
    lines = [
        "# innsight: this site's bridge to the chain broker (written by `innsight provision",
        "# bridge`; hand edits are overwritten). See docs/chain.md.",
        "#",
        f"# Queue sized for {sizing.outage_s / 3600:g} h without the chain broker at "
        f"{sizing.events_per_s:g} event messages/s + {sizing.heartbeats_per_s:.3g} heartbeats/s, "
        f"{sizing.avg_message_bytes} B each, x{sizing.headroom:g}.",
        "# These limits apply per client (the bridge, the hub, each edge); when the bridge's",
        "# queue is full, Mosquitto drops the newest QoS 1 messages for it (the site hub still",
        "# stores them; the chain hub shows the missing seqs as gaps).",
        f"max_queued_messages {sizing.messages}",
        f"max_queued_bytes {sizing.bytes}",
        "",
        f"connection {spec.user}",
        f"address {spec.chain_host}:{spec.chain_port}",
        "bridge_protocol_version mqttv311",
        # a persistent session at both ends: the chain broker keeps the bridge's session, and the
        # site broker keeps queueing for the bridge while the link is down
        "cleansession false",
        "local_cleansession false",
        f"remote_clientid {spec.user}",
        f"local_clientid {spec.user}-local",
        f"remote_username {spec.user}",
        f"remote_password {spec.password}",
        "try_private true",
        # the bridge's own up/down state stays on the site broker (the chain ACL grants no $SYS)
        "notifications true",
        "notifications_local_only true",
        f"notification_topic innsight-bridge/{spec.site}/state",
        "start_type automatic",
        "restart_timeout 1 30",
        "keepalive_interval 30",
        "bridge_outgoing_retain true",
    ]
    if spec.tls:
        lines += [
            f"bridge_cafile {spec.cafile}",
            "bridge_tls_version tlsv1.2",
            "bridge_insecure false",
        ]
    lines += [f"topic {topic} out 1" for topic in forwarded_topics(spec.site)]
    return "\n".join(lines) + "\n"


def bridge_acl_block(site: str) -> str:
    """The chain broker's rights for a site's bridge: write its own forwarded topics only."""
    user = bridge_user_for(site)
    return "\n".join([f"user {user}", *(f"topic write {t}" for t in forwarded_topics(site))])


def chain_hub_acl_block(user: str = CHAIN_HUB_USER) -> str:
    """The chain hub's rights: read every site's forwarded topics, write nothing."""
    if not is_valid_id(user):
        raise BridgeError(f"invalid chain hub user {user!r}")
    return "\n".join([f"user {user}", *(f"topic read {t}" for t in chain_hub_topics())])


@dataclass(frozen=True, slots=True)
class ChainPaths:
    """The chain broker's auth files (``passwd``, ``acl``), as ``provision bridge`` keeps them."""

    root: Path

    @property
    def passwd(self) -> Path:
        return self.root / "passwd"

    @property
    def acl(self) -> Path:
        return self.root / "acl"

    @property
    def hub_env(self) -> Path:
        return self.root / "chain-hub.env"


def ensure_chain_hub(chain: ChainPaths, user: str = CHAIN_HUB_USER) -> str | None:
    """Create the chain hub's broker user (read-only block) once; returns its new password, or
    None when it existed. The password also goes to ``chain-hub.env`` (0600)."""
    acl = AclFile(chain.acl)
    if user in PasswordFile(chain.passwd).users() and user in acl.users():
        return None
    password = new_password()
    PasswordFile(chain.passwd).set(user, password)
    acl.set_block("chain", user, chain_hub_acl_block(user))
    write_secret(
        chain.hub_env,
        f"INNSIGHT_MQTT_USERNAME={user}\nINNSIGHT_MQTT_CLIENT_ID={user}\n"
        f"INNSIGHT_MQTT_PASSWORD={password}\n",
    )
    return password


@dataclass(frozen=True, slots=True)
class BridgeFiles:
    conf: Path
    cafile: Path
    include_added: bool


def provision_bridge(
    site: str,
    broker_dir: Path,
    chain: ChainPaths,
    *,
    chain_host: str,
    chain_port: int = 8883,
    chain_ca: Path,
    sizing: QueueSizing | None = None,
    mosquitto_conf: Path | None = None,
    config_dir: Path | None = None,
) -> BridgeFiles:
    """Give ``site`` a bridge user at the chain broker and write the site's bridge section.

    ``broker_dir`` is the site's broker folder (``DIR/broker``); ``config_dir`` is where the
    broker sees that folder (default: the same; ``/mosquitto/config/site`` under compose).
    ``mosquitto_conf``, when given, gets an ``include_dir`` line for ``bridge.d`` once.
    A second run rotates the bridge's password (both halves are rewritten).
    """
    if not chain_ca.is_file():
        raise BridgeError(f"no chain CA certificate at {chain_ca}")
    seen_by_broker = (config_dir or broker_dir.resolve()).as_posix().rstrip("/")
    cafile = broker_dir / CHAIN_CA_NAME
    broker_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(chain_ca, cafile)
    password = new_password()
    spec = BridgeSpec(
        site=site,
        chain_host=chain_host,
        chain_port=chain_port,
        password=password,
        cafile=Path(f"{seen_by_broker}/{CHAIN_CA_NAME}"),
        sizing=sizing or QueueSizing(),
    )
    conf = broker_dir / BRIDGE_CONF_DIR / BRIDGE_CONF_NAME
    conf.parent.mkdir(parents=True, exist_ok=True)
    write_secret(conf, render_bridge_conf(spec))  # holds the bridge's password: 0600
    PasswordFile(chain.passwd).set(spec.user, password)
    AclFile(chain.acl).set_block("chain", spec.user, bridge_acl_block(site))
    added = False
    if mosquitto_conf is not None:
        added = add_include(mosquitto_conf, f"{seen_by_broker}/{BRIDGE_CONF_DIR}")
    return BridgeFiles(conf=conf, cafile=cafile, include_added=added)


def add_include(mosquitto_conf: Path, include_dir: str) -> bool:
    """Append ``include_dir`` to the site's config once (last, so its limits win)."""
    text = mosquitto_conf.read_text(encoding="utf-8")
    if include_dir in directive_values(text, "include_dir"):
        return False
    suffix = "" if text.endswith("\n") else "\n"
    write_public(mosquitto_conf, f"{text}{suffix}\n{INCLUDE_MARK}\ninclude_dir {include_dir}\n")
    return True
