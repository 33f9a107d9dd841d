"""Fault tests (issue 4): a real edge process, real Mosquitto, the real hub ingest (SQLite).

The edge is ``testkit/edge_harness.py`` in its own process: SqliteOutbox + PahoTransport
+ OutboxDrainer with synthetic events (delivery is under test here, not perception). The hub
runs in this process (``create_app`` + ``HubServerThread``), the broker is a Mosquitto process.
Each test breaks one thing (the broker, the edge, the hub, the link), then checks the hub's
database: every seq 1..N applied exactly once, one row per event, per-camera order by seq, no
gap. Each prints its figures (``[fault:...]`` lines): lost, duplicates the hub saw and
dropped before they reached a row (its duplicate counter, and received - stored), misordered
arrivals, the edge's re-sends.

"Misordered arrivals" counts messages the hub applied after a higher seq of the same device had
already been committed (from ``received_messages.received_at``, i.e. at the granularity of the
ingest's batches): re-sends after a fault arrive late by design, and the hub must not care.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from edge_agent.outbox.sqlite_outbox import SqliteOutbox
from hub.settings import HubSettings
from innsight.broker import MosquittoBroker
from testkit.edge_harness import EXIT_DRAINED, HarnessProcess, counter_of, expected_of
from testkit.hub import RunningHub, hub_settings, running_hub, wait_until
from testkit.tcp_proxy import TcpProxy

# Register the `fault` marker in pyproject (lead) to select these with -m fault.
pytestmark = [pytest.mark.integration, pytest.mark.fault]

SITE = "hotel-f"
DEVICE = "edge-f1"
CAMERAS = 4
RESEND_AFTER_S = 2.0
# The ingest's wait for an ack's PUBACK is bounded (hub.ingest.ACK_PUBLISH_TIMEOUT_S, 3 s); before
# that bound a broker crash caught mid-ack froze it for aiomqtt's whole 10 s timeout. 3 s plus
# slack for a loaded CI machine, still short of that freeze.
HUB_NOTICES_S = 8.0

Show = Callable[[str, dict[str, Any]], None]


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def show(
    capsys: pytest.CaptureFixture[str], record_property: Callable[[str, object], None]
) -> Show:
    """Print a scenario's figures past pytest's capture (and keep them in the junit report)."""

    def _show(name: str, figures: dict[str, Any]) -> None:
        line = f"[fault:{name}] " + " ".join(f"{k}={v}" for k, v in figures.items())
        with capsys.disabled():
            sys.stdout.write(f"\n{line}\n")
        for key, value in figures.items():
            record_property(f"{name}.{key}", value)

    return _show


def settings_for(tmp_path: Path, broker: MosquittoBroker) -> HubSettings:
    return hub_settings(tmp_path / "hub", broker, site=SITE)


def hub_db(settings: HubSettings) -> Path:
    return settings.data_dir / "hub.db"


def start_edge(
    tmp_path: Path, port: int, events: int, rate: float, *, name: str = "edge", **options: Any
) -> HarnessProcess:
    return HarnessProcess.start(
        tmp_path / "edge",
        db=tmp_path / "edge" / "outbox.db",
        device=DEVICE,
        site=SITE,
        host="127.0.0.1",
        port=port,
        events=events,
        cameras=CAMERAS,
        rate=rate,
        name=name,
        resend_after_s=RESEND_AFTER_S,
        **options,
    )


@dataclass
class IngestCounts:
    received: int = 0  # event messages received (redeliveries included)
    stored: int = 0  # applied (first delivery)
    duplicates: int = 0  # dropped as already applied

    def __add__(self, other: IngestCounts) -> IngestCounts:
        return IngestCounts(
            self.received + other.received,
            self.stored + other.stored,
            self.duplicates + other.duplicates,
        )


def ingest_registry(hub: RunningHub) -> CollectorRegistry:
    """The ingest's metrics; still readable after the hub has stopped."""
    registry: CollectorRegistry = hub.app.state.hub.registries[0]
    return registry


def ingest_counts(registry: CollectorRegistry) -> IngestCounts:
    def value(name: str, labels: dict[str, str] | None = None) -> int:
        return int(registry.get_sample_value(name, labels) or 0)

    return IngestCounts(
        received=value("innsight_ingest_messages_received_total", {"channel": "events"}),
        stored=value("innsight_ingest_messages_stored_total"),
        duplicates=value("innsight_ingest_duplicates_total"),
    )


def device_gaps(http: httpx.Client) -> tuple[int, int]:
    """(last_seq, missing) of the device as the hub reports them."""
    items = http.get("/api/v1/devices").json()["items"]
    (device,) = [d for d in items if d["device_id"] == DEVICE]
    return int(device["last_seq"]), int(device["missing"])


@dataclass
class Delivery:
    """What the hub's database holds for the device, against what the edge generated."""

    expected: int
    stored_rows: int
    distinct_event_ids: int
    received_messages: int
    lost: int  # seqs 1..expected with no applied message
    unexpected: int  # applied seqs outside 1..expected
    reapplied: int  # event rows built from more than one message (a message applied twice)
    wrong_content: int  # rows whose camera/kind/counter is not what seq implies
    order_violations: int  # per camera, ordering by seq does not give counters 0, 1, 2, ...
    misordered_arrivals: int  # applied after a higher seq was already committed


def read_delivery(database: Path, expected: int, cameras: int = CAMERAS) -> Delivery:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT seq, event_id, camera_id, kind, payload, messages FROM events"
            " WHERE device_id = ? ORDER BY seq",
            (DEVICE,),
        ).fetchall()
        received = db.execute(
            "SELECT seq, received_at FROM received_messages WHERE device_id = ?", (DEVICE,)
        ).fetchall()

    wrong = 0
    per_camera: dict[str, list[int]] = {}
    for seq, _event_id, camera, kind, payload_json, _messages in rows:
        payload = json.loads(payload_json)
        want = expected_of(int(seq) - 1, cameras)
        counter = counter_of(payload)
        if (camera, kind, counter) != (want.camera_id, want.kind.value, want.counter):
            wrong += 1
        per_camera.setdefault(camera, []).append(counter)
    violations = sum(
        1
        for counters in per_camera.values()
        for position, counter in enumerate(counters)
        if counter != position
    )

    seqs = {int(seq) for seq, _ in received}
    wanted = set(range(1, expected + 1))
    misordered = 0
    earliest_later: str | None = None  # earliest commit time among higher seqs
    for _seq, received_at in sorted(received, key=lambda r: int(r[0]), reverse=True):
        if earliest_later is not None and received_at > earliest_later:
            misordered += 1
        if earliest_later is None or received_at < earliest_later:
            earliest_later = received_at
    return Delivery(
        expected=expected,
        stored_rows=len(rows),
        distinct_event_ids=len({r[1] for r in rows}),
        received_messages=len(received),
        lost=len(wanted - seqs),
        unexpected=len(seqs - wanted),
        reapplied=sum(1 for r in rows if int(r[5]) != 1),
        wrong_content=wrong,
        order_violations=violations,
        misordered_arrivals=misordered,
    )


def assert_exactly_once(delivery: Delivery) -> None:
    assert delivery.lost == 0, delivery
    assert delivery.unexpected == 0, delivery
    assert delivery.stored_rows == delivery.expected, delivery
    assert delivery.distinct_event_ids == delivery.expected, delivery
    assert delivery.received_messages == delivery.expected, delivery
    assert delivery.reapplied == 0, delivery
    assert delivery.wrong_content == 0, delivery
    assert delivery.order_violations == 0, delivery


def outbox_state(path: Path) -> tuple[int, int, int]:
    """(last seq, rows stored, rows sent but unacked) of a dead edge's outbox."""
    box = SqliteOutbox(path, DEVICE, SITE)
    try:
        return box.last_seq(), box.depth(), box.in_flight()
    finally:
        box.close()


def acked_since(mono: float, released: int) -> Callable[[dict[str, Any]], bool]:
    """A harness record, after ``mono``, showing more rows released than ``released``."""
    return lambda r: bool(r["mono"] > mono and r["released"] > released)


@contextlib.contextmanager
def timed() -> Iterator[Callable[[], float]]:
    began = time.monotonic()
    yield lambda: round(time.monotonic() - began, 2)


# ---------------------------------------------------------------------------------------------
# a. The broker is SIGKILLed and restarted twice while 10,000 events go through
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(150)
def test_broker_sigkilled_twice_loses_nothing(
    tmp_path: Path, mosquitto: MosquittoBroker, show: Show
) -> None:
    total, rate = 10_000, 2500.0
    settings = settings_for(tmp_path, mosquitto)
    kills: list[int] = []
    hub_noticed_s: list[float] = []
    acking_again_s: list[float] = []
    with timed() as elapsed, running_hub(settings) as hub:
        registry = ingest_registry(hub)
        with start_edge(tmp_path, mosquitto.port, total, rate) as edge:
            released = 0
            for at in (total // 4, total * 6 // 10):
                # Each crash lands while events flow: the edge connected, the hub acking.
                def flowing(record: dict[str, Any], at: int = at, floor: int = released) -> bool:
                    return bool(
                        record["enqueued"] >= at
                        and record["connected"]
                        and record["released"] > floor
                    )

                edge.wait_for(flowing, timeout_s=60, what=f"{at} enqueued, acks flowing")
                mosquitto.kill()
                killed_at = time.monotonic()
                kills.append(edge.poll_records()[-1]["enqueued"])
                # Down until both ends have noticed, then back on the same port. The hub must
                # notice promptly even when the crash catches an ack waiting for its PUBACK.
                edge.wait_for(lambda r: not r["connected"], timeout_s=10, what="edge offline")
                wait_until(
                    lambda: not hub.ingest_connected,
                    what="the hub ingest to notice the broker is gone",
                    timeout_s=HUB_NOTICES_S,
                )
                hub_noticed_s.append(round(time.monotonic() - killed_at, 2))
                released = edge.poll_records()[-1]["released"]
                mosquitto.start()
                restarted_at = time.monotonic()
                again = edge.wait_for(
                    acked_since(restarted_at, released),
                    timeout_s=60,
                    what="acks again after the restart",
                )
                acking_again_s.append(round(again["mono"] - restarted_at, 2))
                released = again["released"]
            drained = edge.wait_for(
                lambda r: r["type"] in {"drained", "timeout"}, timeout_s=120, what="drained"
            )
            assert drained["type"] == "drained", drained
            assert edge.wait(15) == EXIT_DRAINED, edge.stderr_tail()
        last_seq, missing = device_gaps(hub.http)
    counts = ingest_counts(registry)
    delivery = read_delivery(hub_db(settings), total)
    show(
        "broker-sigkill-x2",
        {
            "events": total,
            "kills_at_enqueued": kills,
            "hub_noticed_s": hub_noticed_s,
            "acking_again_s": acking_again_s,
            "stored": delivery.stored_rows,
            "lost": delivery.lost,
            "hub_received": counts.received,
            "hub_duplicates": counts.duplicates,
            "received_minus_stored": counts.received - counts.stored,
            "misordered_arrivals": delivery.misordered_arrivals,
            "edge_published": drained["published"],
            "edge_resent": drained["resent"],
            "edge_reconnects": drained["reconnects"],
            "seconds": elapsed(),
        },
    )
    assert_exactly_once(delivery)
    assert (last_seq, missing) == (total, 0)
    assert counts.stored == total
    assert counts.received - counts.stored == counts.duplicates
    assert drained["reconnects"] >= 2


# ---------------------------------------------------------------------------------------------
# b. The edge process is SIGKILLed with unacked rows, then restarted
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_edge_sigkilled_mid_stream_resumes_exactly(
    tmp_path: Path, mosquitto: MosquittoBroker, show: Show
) -> None:
    total, rate = 4000, 1000.0
    settings = settings_for(tmp_path, mosquitto)
    outbox = tmp_path / "edge" / "outbox.db"
    with timed() as elapsed, running_hub(settings) as hub:
        registry = ingest_registry(hub)
        with start_edge(tmp_path, mosquitto.port, total, rate, name="edge-1") as first:
            first.wait_for(
                lambda r: r["enqueued"] >= total // 3 and r["in_flight"] > 0,
                timeout_s=60,
                what="a third enqueued, rows in flight",
            )
            first.kill()
        enqueued, depth, in_flight = outbox_state(outbox)
        assert 0 < enqueued < total
        assert in_flight > 0, "the kill should catch rows sent but not acked"

        with start_edge(tmp_path, mosquitto.port, total, rate, name="edge-2") as second:
            start = second.wait_for(lambda r: r["type"] == "start", timeout_s=30, what="start")
            assert start["resumed_from"] == enqueued
            drained = second.wait_for(
                lambda r: r["type"] in {"drained", "timeout"}, timeout_s=90, what="drained"
            )
            assert drained["type"] == "drained", drained
            assert drained["events_this_run"] == total - enqueued
            assert second.wait(15) == EXIT_DRAINED, second.stderr_tail()
        last_seq, missing = device_gaps(hub.http)
    counts = ingest_counts(registry)
    delivery = read_delivery(hub_db(settings), total)
    show(
        "edge-sigkill",
        {
            "events": total,
            "killed_at_enqueued": enqueued,
            "outbox_depth_at_kill": depth,
            "unacked_at_kill": in_flight,
            "stored": delivery.stored_rows,
            "lost": delivery.lost,
            "hub_received": counts.received,
            "hub_duplicates": counts.duplicates,
            "received_minus_stored": counts.received - counts.stored,
            "misordered_arrivals": delivery.misordered_arrivals,
            "edge_resent_after_restart": drained["resent"],
            "seconds": elapsed(),
        },
    )
    assert_exactly_once(delivery)
    assert (last_seq, missing) == (total, 0)
    assert counts.received - counts.stored == counts.duplicates


# ---------------------------------------------------------------------------------------------
# c. The hub is down for a while; the broker queues for its session, the edge re-sends
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_hub_down_for_a_while_gets_everything_after(
    tmp_path: Path, mosquitto: MosquittoBroker, show: Show
) -> None:
    total, rate = 3000, 500.0
    settings = settings_for(tmp_path, mosquitto)
    with timed() as elapsed, start_edge(tmp_path, mosquitto.port, total, rate) as edge:
        with running_hub(settings) as hub:
            first = ingest_registry(hub)
            edge.wait_for(
                lambda r: r["released"] >= total // 6, timeout_s=60, what="first acks released"
            )
        down_at = edge.poll_records()[-1]
        # Hub gone: the edge fills its unacked window, then re-sends it every RESEND_AFTER_S.
        during = edge.wait_for(  # a record from after the hub stopped (wait_for scans old ones)
            lambda r: (
                r["mono"] > down_at["mono"] and r["resent"] > 0 and r["enqueued"] >= total * 2 // 3
            ),
            timeout_s=60,
            what="re-sends while the hub is down",
        )
        # the edge holds what the hub has not acked and keeps re-sending it (acks already on
        # their way when the hub stopped may still release a few: no exact comparison here)
        assert during["depth"] > 0
        with running_hub(settings) as hub:
            second = ingest_registry(hub)
            drained = edge.wait_for(
                lambda r: r["type"] in {"drained", "timeout"}, timeout_s=90, what="drained"
            )
            assert drained["type"] == "drained", drained
            assert edge.wait(15) == EXIT_DRAINED, edge.stderr_tail()
            last_seq, missing = device_gaps(hub.http)
    counts = ingest_counts(first) + ingest_counts(second)
    delivery = read_delivery(hub_db(settings), total)
    show(
        "hub-down",
        {
            "events": total,
            "down_at_released": down_at["released"],
            "depth_at_down": down_at["depth"],
            "depth_while_down": during["depth"],
            "in_flight_while_down": during["in_flight"],
            "stored": delivery.stored_rows,
            "lost": delivery.lost,
            "hub_received": counts.received,
            "hub_duplicates": counts.duplicates,
            "received_minus_stored": counts.received - counts.stored,
            "misordered_arrivals": delivery.misordered_arrivals,
            "edge_resent": drained["resent"],
            "seconds": elapsed(),
        },
    )
    assert_exactly_once(delivery)
    assert (last_seq, missing) == (total, 0)
    assert counts.stored == total
    assert counts.received - counts.stored == counts.duplicates


# ---------------------------------------------------------------------------------------------
# d. The edge's link to the broker is down for a long outage (TCP proxy cut)
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_link_outage_backlog_drains_in_seq_order(
    tmp_path: Path, mosquitto: MosquittoBroker, show: Show
) -> None:
    total, rate = 8000, 2000.0
    settings = settings_for(tmp_path, mosquitto)
    with (
        timed() as elapsed,
        TcpProxy(mosquitto.host, mosquitto.port) as proxy,
        running_hub(settings) as hub,
        start_edge(tmp_path, proxy.port, total, rate) as edge,
    ):
        registry = ingest_registry(hub)
        edge.wait_for(
            lambda r: r["released"] >= total // 8 and r["connected"],
            timeout_s=60,
            what="first acks released",
        )
        proxy.cut()
        cut_at = time.monotonic()
        # The outage lasts until the edge has enqueued everything: the outbox only grows, and
        # nothing is released (no ack can arrive).
        edge.wait_for(lambda r: r["type"] == "enqueued", timeout_s=60, what="all enqueued")
        offline = [r for r in edge.poll_records() if r["mono"] > cut_at + 1.0]
        assert offline, "the outage is too short to observe"
        assert not any(r["connected"] for r in offline)
        depths = [r["depth"] for r in offline]
        assert depths == sorted(depths), "the outbox must only grow while the link is down"
        released_before = offline[0]["released"]
        assert {r["released"] for r in offline} == {released_before}
        backlog = offline[-1]["depth"]
        assert backlog == total - released_before, "the outbox holds every unacked event"
        restored_at = time.monotonic()
        proxy.restore()
        reconnected = edge.wait_for(
            lambda r: r["mono"] > restored_at and r["connected"], timeout_s=30, what="reconnect"
        )
        drained = edge.wait_for(
            lambda r: r["type"] in {"drained", "timeout"}, timeout_s=90, what="drained"
        )
        assert drained["type"] == "drained", drained
        assert edge.wait(15) == EXIT_DRAINED, edge.stderr_tail()
        last_seq, missing = device_gaps(hub.http)
    counts = ingest_counts(registry)
    drain_s = drained["mono"] - restored_at
    delivery = read_delivery(hub_db(settings), total)
    show(
        "link-outage",
        {
            "events": total,
            "acked_before_cut": released_before,
            "outage_s": round(restored_at - cut_at, 2),
            "backlog_at_restore": backlog,
            "reconnect_s": round(reconnected["mono"] - restored_at, 2),
            "drain_s": round(drain_s, 2),
            "drain_rate_ev_s": round(backlog / drain_s),
            "drain_rate_after_reconnect_ev_s": round(
                backlog / (drained["mono"] - reconnected["mono"])
            ),
            "stored": delivery.stored_rows,
            "lost": delivery.lost,
            "hub_received": counts.received,
            "hub_duplicates": counts.duplicates,
            "received_minus_stored": counts.received - counts.stored,
            "misordered_arrivals": delivery.misordered_arrivals,
            "edge_resent": drained["resent"],
            "proxy": asdict(proxy.stats),
            "seconds": elapsed(),
        },
    )
    assert_exactly_once(delivery)
    assert (last_seq, missing) == (total, 0)
    assert delivery.misordered_arrivals == 0, "the backlog must drain in seq order"
