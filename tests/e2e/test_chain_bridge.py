"""A hotel chain over bridged Mosquitto brokers (issue 21 item 4, docs/chain.md).

Two hotels' Mosquittos bridge (TLS, the files ``innsight provision bridge`` writes) to a chain
Mosquitto; hotel A's bridge runs through a proxy whose link is cut during traffic. Hotel A runs
a real edge delivery path (testkit/edge_harness.py) acked by its own hub; hotel B's device, with
the same device id as hotel A's, publishes directly. The chain hub (``--role chain``) must hold
every event of both hotels exactly once after the link is back, tell the two ``edge-1`` apart,
never ack, store a re-delivered message once, and show each token only its sites. Neither a
hotel's device nor its bridge can publish into another hotel's topics at the chain broker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from contracts.messages import EventEnvelope
from contracts.topics import event_topic
from hub.api.chain_app import create_chain_app
from hub.serve import HubServerThread
from testkit.chain import AuthClient, ChainBroker, SiteBroker, chain_broker, site_broker
from testkit.edge_harness import HarnessProcess
from testkit.hub import (
    admin_headers,
    hub_settings,
    make_event,
    mqtt_probe,
    running_hub,
    scoped_headers,
    wait_until,
)
from testkit.tcp_proxy import TcpProxy
from testkit.tls import make_server_tls

SITE_A, SITE_B, DEVICE = "hotel-a", "hotel-b", "edge-1"
EVENTS_A, EVENTS_B = 300, 40
RATE_A = 100.0  # events/s: hotel A's traffic lasts 3 s; the link is cut for 1.5 s of it
CUT_S = 1.5
WAIT_S = 20.0


def _count(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def _total(http: httpx.Client, site: str) -> int:
    response = http.get("/api/v1/chain/events", params={"limit": 1, "site": site})
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


@dataclass
class ChainWorld:
    chain: ChainBroker
    proxy: TcpProxy  # hotel A's link to the chain broker
    a: SiteBroker
    b: SiteBroker


@pytest.fixture(scope="module")
def chain_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainWorld]:
    tmp_path = tmp_path_factory.mktemp("chain-world")
    tls = make_server_tls(tmp_path / "tls")
    chain = chain_broker(tmp_path / "chain", tls)
    proxy = TcpProxy("127.0.0.1", chain.tls_port).start()
    site_a = site_broker(tmp_path / "a", SITE_A, chain, tls.ca_cert, chain_port=proxy.port)
    site_b = site_broker(tmp_path / "b", SITE_B, chain, tls.ca_cert, chain_port=chain.tls_port)
    chain.broker.start()
    site_a.broker.start()
    site_b.broker.start()
    try:
        yield ChainWorld(chain, proxy, site_a, site_b)
    finally:
        proxy.close()
        for broker in (site_a.broker, site_b.broker, chain.broker):
            broker.kill()


def test_bridge_cut_chain_hub_stores_every_event_once(
    tmp_path: Path, chain_world: ChainWorld
) -> None:
    chain, proxy, site_a, site_b = (
        chain_world.chain,
        chain_world.proxy,
        chain_world.a,
        chain_world.b,
    )

    chain_settings = hub_settings(
        tmp_path / "chain-hub",
        chain.broker,
        site="chain",
        mqtt_username="chain-hub",
        mqtt_password=chain.hub_password,
        mqtt_client_id="chain-hub",
    )
    chain_db = chain_settings.database_url.get_secret_value().replace("+aiosqlite", "")
    site_settings = hub_settings(tmp_path / "hub-a", site_a.broker, site=SITE_A)
    app = create_chain_app(chain_settings)
    with (
        HubServerThread(app, port=chain_settings.api_port) as server,
        httpx.Client(
            base_url=server.base_url, timeout=30.0, headers=admin_headers(chain_settings)
        ) as chain_http,
        running_hub(site_settings) as hub_a,
    ):
        wait_until(
            lambda: chain_http.get("/health").json()["ingest_connected"] or None,
            what="the chain hub to read the chain broker",
        )
        harness = HarnessProcess.start(
            tmp_path / "edge-a",
            db=tmp_path / "edge-a" / "outbox.sqlite",
            device=DEVICE,
            site=SITE_A,
            host="127.0.0.1",
            port=site_a.broker.port,
            events=EVENTS_A,
            cameras=2,
            rate=RATE_A,
            resend_after_s=2.0,
        )
        with harness, mqtt_probe(site_b.broker, "edge-b") as edge_b:
            # hotel A's events reach the chain, then the link between A and the chain is cut
            wait_until(lambda: _total(chain_http, SITE_A) >= 30 or None, what="A's first events")
            proxy.cut()
            envelopes_b: list[EventEnvelope] = []
            for seq in range(1, EVENTS_B + 1):  # hotel B keeps its link
                envelope = make_event(seq, device=DEVICE, camera="hall-b")
                envelopes_b.append(envelope)
                edge_b.publish_event(envelope, topic=event_topic(SITE_B, DEVICE, envelope.kind))
            time.sleep(CUT_S)  # the outage: hotel A's traffic goes on, acked by its own hub
            # events hotel A's hub stored and acked while cut are not at the chain (yet)
            at_chain = _total(chain_http, SITE_A)
            progress = harness.last()
            assert progress is not None
            assert progress["released"] - at_chain >= 20, progress
            proxy.restore()

            harness.wait_for(
                lambda r: r["type"] == "drained", timeout_s=WAIT_S, what="A's outbox drained"
            )
            wait_until(
                lambda: _total(chain_http, SITE_A) == EVENTS_A or None,
                what=f"{EVENTS_A} events of {SITE_A} at the chain hub",
                timeout_s=WAIT_S,
            )
            wait_until(
                lambda: _total(chain_http, SITE_B) == EVENTS_B or None,
                what=f"{EVENTS_B} events of {SITE_B} at the chain hub",
            )
            # a re-delivered message (as a bridge resends after a cut) is stored once
            again = envelopes_b[0]
            edge_b.publish_event(again, topic=event_topic(SITE_B, DEVICE, again.kind))
            marker = make_event(EVENTS_B + 1, device=DEVICE, camera="hall-b")
            edge_b.publish_event(marker, topic=event_topic(SITE_B, DEVICE, marker.kind))
            wait_until(
                lambda: _total(chain_http, SITE_B) == EVENTS_B + 1 or None,
                what="the marker after the duplicate",
            )

        # every message exactly once, both hotels' edge-1 apart, nothing missing
        key_a, key_b = f"{SITE_A}/{DEVICE}", f"{SITE_B}/{DEVICE}"
        rows = "SELECT count(*) FROM received_messages WHERE device_id = '{}'"
        assert _count(chain_db, rows.format(key_a)) == EVENTS_A
        assert _count(chain_db, rows.format(key_b)) == EVENTS_B + 1
        assert _count(chain_db, "SELECT count(*) FROM events WHERE messages != 1") == 0
        assert _count(chain_db, "SELECT count(*) FROM events") == EVENTS_A + EVENTS_B + 1
        assert _count(chain_db, "SELECT count(*) FROM event_flow_work") == 0
        devices = chain_http.get("/api/v1/chain/devices").json()["items"]
        health = {(d["site"], d["device"]): d for d in devices}
        assert health[(SITE_A, DEVICE)]["last_seq"] == EVENTS_A
        assert health[(SITE_A, DEVICE)]["missing"] == 0
        assert health[(SITE_B, DEVICE)]["missing"] == 0
        # the chain holds what hotel A's own hub holds, event for event
        site_ids = {e["event_id"] for e in _site_events(hub_a.http)}
        chain_ids = {
            e["event_id"]
            for e in chain_http.get(
                "/api/v1/chain/events", params={"site": SITE_A, "limit": 500}
            ).json()["items"]
        }
        assert site_ids == chain_ids
        assert len(chain_ids) == EVENTS_A
        alerts = chain_http.get("/api/v1/chain/alerts", params={"site": SITE_A}).json()
        assert alerts["total"] == EVENTS_A // 5  # every fifth message of a camera is an anomaly

        # per-site scopes: a token for hotel A sees hotel A only
        only_a = scoped_headers(chain_settings, "cv:read", f"site:{SITE_A}")
        refused = chain_http.get("/api/v1/chain/events", params={"site": SITE_B}, headers=only_a)
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["field"] == "site"
        mine = chain_http.get("/api/v1/chain/events", headers=only_a).json()
        assert mine["total"] == EVENTS_A
        visible = chain_http.get("/api/v1/chain/devices", headers=only_a).json()["items"]
        assert {d["site"] for d in visible} == {SITE_A}
        no_site = scoped_headers(chain_settings, "cv:read")
        assert chain_http.get("/api/v1/chain/events", headers=no_site).json()["total"] == 0


def _site_events(http: httpx.Client) -> list[dict[str, object]]:
    response = http.get("/api/v1/events", params={"limit": 500})
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


def test_no_site_can_publish_into_another_sites_topics(chain_world: ChainWorld) -> None:
    chain, site_a = chain_world.chain, chain_world.a
    watcher = AuthClient(chain.broker.port, "watcher", "chain-hub", chain.hub_password)
    try:
        for topic in ("innsight/+/+/status", "innsight/+/+/events/+"):
            watcher.subscribe(topic)
        forbidden = f"innsight/{SITE_B}/{DEVICE}/events/face"
        # a device of hotel A, on its own broker: its bridge forwards hotel A's topics only
        with mqtt_probe(site_a.broker, "rogue-edge") as rogue:
            rogue.publish(forbidden, b"{}")
            rogue.publish(f"innsight/{SITE_A}/rogue-edge/status", b"online")
        wait_until(
            lambda: f"innsight/{SITE_A}/rogue-edge/status" in watcher.topics() or None,
            what="hotel A's allowed message through the bridge",
        )
        # hotel A's bridge credentials, straight at the chain broker: the ACL allows A's only
        bridge = AuthClient(
            chain.broker.port, "bridge-a-direct", f"bridge-{SITE_A}", site_a.bridge_password
        )
        try:
            bridge.publish(forbidden, b"{}")
            bridge.publish(f"innsight/{SITE_A}/rogue-edge-2/status", b"online")
        finally:
            bridge.close()
        wait_until(
            lambda: f"innsight/{SITE_A}/rogue-edge-2/status" in watcher.topics() or None,
            what="the bridge's allowed message",
        )
        assert forbidden not in watcher.topics()
        # the chain hub's own user reads only: its publish is dropped by the ACL
        writer = AuthClient(chain.broker.port, "hub-writes", "chain-hub", chain.hub_password)
        try:
            writer.publish(f"innsight/{SITE_B}/{DEVICE}/status", b"online")
            writer.publish(f"innsight/{SITE_A}/x/acks", b"{}")
        finally:
            writer.close()
        bridge_b = AuthClient(
            chain.broker.port, "bridge-b-direct", f"bridge-{SITE_B}", chain_world.b.bridge_password
        )
        try:
            bridge_b.publish(f"innsight/{SITE_B}/marker/status", b"online")
        finally:
            bridge_b.close()
        wait_until(
            lambda: f"innsight/{SITE_B}/marker/status" in watcher.topics() or None,
            what="hotel B's marker",
        )
        assert f"innsight/{SITE_B}/{DEVICE}/status" not in watcher.topics()
    finally:
        watcher.close()
