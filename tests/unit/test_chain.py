"""The chain's pure parts (docs/chain.md): queue sizing, the bridge's two halves, the chain
hub's device keys, classification over every site and per-site scopes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from contracts.topics import event_topic
from hub.auth.scopes import ScopeError, parse_scopes
from hub.chain.ingest import ChainClassifier
from hub.chain.keys import ChainKeyError, device_key, split_key
from hub.chain.scopes import SiteAccess, site_scope
from hub.edge_versions import EdgeContractWatch
from hub.ingest.classify import Classifier
from hub.ingest.items import Batch
from hub.ingest.metrics import IngestMetrics
from provisioning.bridge import (
    BridgeError,
    BridgeSpec,
    ChainPaths,
    QueueSizing,
    bridge_acl_block,
    chain_hub_acl_block,
    ensure_chain_hub,
    provision_bridge,
    render_bridge_conf,
)
from provisioning.broker_auth import AclFile, PasswordFile, verify_password
from provisioning.broker_config import directive_values
from testkit.hub import make_event


def test_default_queue_holds_a_day_of_ten_cameras() -> None:
    sizing = QueueSizing()
    per_day = (10 + 4 / 30) * 24 * 3600
    assert sizing.messages == math.ceil(per_day * 1.25)
    assert sizing.bytes == sizing.messages * 2048
    assert QueueSizing(events_per_s=0, heartbeats_per_s=0).messages == 1000  # a floor
    with pytest.raises(BridgeError):
        QueueSizing(avg_message_bytes=0)
    with pytest.raises(BridgeError):
        QueueSizing(outage_s=0)


def test_bridge_conf_forwards_only_its_site_with_a_persistent_session(tmp_path: Path) -> None:
    spec = BridgeSpec("hotel-a", "mqtt.chain.example", 8883, "secret", tmp_path / "ca.crt")
    conf = render_bridge_conf(spec)
    assert directive_values(conf, "connection") == ["bridge-hotel-a"]
    assert directive_values(conf, "address") == ["mqtt.chain.example:8883"]
    assert directive_values(conf, "cleansession") == ["false"]
    assert directive_values(conf, "local_cleansession") == ["false"]
    assert directive_values(conf, "bridge_insecure") == ["false"]
    assert directive_values(conf, "max_queued_messages") == [str(QueueSizing().messages)]
    topics = directive_values(conf, "topic")
    assert topics == [
        "innsight/hotel-a/+/events/+ out 1",
        "innsight/hotel-a/+/status out 1",
        "innsight/hotel-a/+/heartbeat out 1",
        "innsight/hotel-a/staff/+/notifications out 1",
    ]
    with pytest.raises(BridgeError):
        render_bridge_conf(BridgeSpec("hotel-a", "bad host", 8883, "x", tmp_path / "ca.crt"))


def test_chain_acl_bridge_writes_own_site_hub_reads_only() -> None:
    block = bridge_acl_block("hotel-a").splitlines()
    assert block[0] == "user bridge-hotel-a"
    assert all(line.startswith("topic write innsight/hotel-a/") for line in block[1:])
    hub = chain_hub_acl_block().splitlines()
    assert hub[0] == "user chain-hub"
    assert all(line.startswith("topic read innsight/+/") for line in hub[1:])
    with pytest.raises(BridgeError):
        bridge_acl_block("bad/site")


def test_provision_bridge_writes_both_halves_and_rotates(tmp_path: Path) -> None:
    chain = ChainPaths(tmp_path / "chain")
    chain.root.mkdir()
    assert ensure_chain_hub(chain) is not None
    assert ensure_chain_hub(chain) is None  # once
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    conf_file = tmp_path / "mosquitto.conf"
    conf_file.write_text("persistence true\n")
    broker_dir = tmp_path / "site" / "broker"
    first = provision_bridge(
        "hotel-a", broker_dir, chain, chain_host="h", chain_ca=ca, mosquitto_conf=conf_file
    )
    password = directive_values(first.conf.read_text(), "remote_password")[0]
    assert verify_password(password, PasswordFile(chain.passwd).entries()["bridge-hotel-a"])
    assert first.include_added
    assert first.conf.stat().st_mode & 0o077 == 0  # it holds the password
    second = provision_bridge(
        "hotel-a", broker_dir, chain, chain_host="h", chain_ca=ca, mosquitto_conf=conf_file
    )
    rotated = directive_values(second.conf.read_text(), "remote_password")[0]
    assert rotated != password
    assert not verify_password(password, PasswordFile(chain.passwd).entries()["bridge-hotel-a"])
    assert not second.include_added
    assert len(directive_values(conf_file.read_text(), "include_dir")) == 1
    assert AclFile(chain.acl).users() == ["chain-hub", "bridge-hotel-a"]
    with pytest.raises(BridgeError):
        provision_bridge("hotel-b", broker_dir, chain, chain_host="h", chain_ca=tmp_path / "no")


def test_device_keys_tell_sites_apart() -> None:
    assert device_key("hotel-a", "edge-1") == "hotel-a/edge-1"
    assert split_key("hotel-b/edge-1") == ("hotel-b", "edge-1")
    assert device_key("s" * 40, "d" * 30) is None  # over the 64-character column
    with pytest.raises(ChainKeyError):
        split_key("edge-1")


def _classifiers() -> tuple[Classifier, Classifier]:
    registry = CollectorRegistry()
    metrics, watch = IngestMetrics.register(registry), EdgeContractWatch(registry)
    return Classifier("hotel-a", metrics, watch), ChainClassifier("chain", metrics, watch)


def test_chain_classifier_keys_every_site_and_the_site_hub_refuses_others() -> None:
    site_hub, chain_hub = _classifiers()
    batch = Batch()
    for site in ("hotel-a", "hotel-b"):
        event = make_event(1, device="edge-1")
        chain_hub.accept(batch, event_topic(site, "edge-1", event.kind), event.to_json_bytes())
    chain_hub.accept(batch, "innsight/hotel-b/edge-1/status", b"online")
    assert [m.envelope.device_id for m in batch.events] == ["hotel-a/edge-1", "hotel-b/edge-1"]
    assert list(batch.statuses) == ["hotel-b/edge-1"]
    assert batch.dead == []
    own = Batch()
    event = make_event(1, device="edge-1")
    site_hub.accept(own, event_topic("hotel-b", "edge-1", event.kind), event.to_json_bytes())
    site_hub.accept(own, event_topic("hotel-a", "edge-1", event.kind), event.to_json_bytes())
    assert [m.envelope.device_id for m in own.events] == ["edge-1"]
    assert [d.reason for d in own.dead] == ["bad_topic"]


def test_site_scopes() -> None:
    assert parse_scopes("cv:read site:hotel-a") == {"cv:read", "site:hotel-a"}
    with pytest.raises(ScopeError):
        parse_scopes("site:bad/site")
    access = SiteAccess.of({"cv:read", site_scope("hotel-a")})
    assert access.allows("hotel-a")
    assert not access.allows("hotel-b")
    assert SiteAccess.of({"admin"}).allows("hotel-b")
    assert SiteAccess.of({"cv:read"}).sites == frozenset()
