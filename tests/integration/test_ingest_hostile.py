"""One bad message never costs another (issue 14), through a real Mosquitto, on SQLite and
PostgreSQL: the three failures found by fuzzing, a message the database itself refuses, a
database that goes away, and an edge that learns of its refused messages.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from sqlalchemy.engine import make_url

from contracts.ids import uuid7
from contracts.messages import (
    AckMessage,
    AnomalyPayload,
    AnomalyType,
    BBox,
    EventEnvelope,
    EventKind,
    FacePayload,
    Phase,
)
from edge_agent.domain.events import PendingEvent
from edge_agent.outbox.sqlite_outbox import SqliteOutbox
from edge_agent.services.drain import OutboxDrainer
from edge_agent.services.heartbeat import HeartbeatService, HeartbeatStats
from edge_agent.transport.paho_transport import PahoTransport
from hub.settings import HubSettings
from innsight.broker import MosquittoBroker
from testkit.hub import (
    DEVICE,
    SITE,
    MqttProbe,
    acks_topic,
    events_page,
    hub_settings,
    make_event,
    mqtt_probe,
    running_hub,
    wait_until,
)
from testkit.postgres import PostgresServer

pytestmark = pytest.mark.integration

TOPIC = f"innsight/{SITE}/{DEVICE}/events/face"


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------


def _admin_dsn(async_url: str) -> str:
    return make_url(async_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@dataclass
class Database:
    kind: str
    url: str | None  # None: the hub's default SQLite file
    admin_dsn: str | None = None
    name: str | None = None

    def settings(self, data_dir: Path, broker: MosquittoBroker, **overrides: Any) -> HubSettings:
        return hub_settings(data_dir, broker, database_url=self.url, **overrides)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    if request.param == "sqlite":
        yield Database("sqlite", None)
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"hub_hostile_{uuid.uuid4().hex[:12]}"
    admin = _admin_dsn(server.async_url)
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    url = make_url(server.async_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield Database("postgres", url, admin, name)
    finally:
        asyncio.run(
            _admin(admin, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'),
        )
        asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Acks:
    """Every ack the probe received: seqs released, and seqs refused with their reason."""

    acked: set[int] = field(default_factory=set)
    refused: dict[int, str] = field(default_factory=dict)

    def drain(self, probe: MqttProbe) -> None:
        while not probe.received.empty():
            ack = AckMessage.model_validate_json(probe.received.get_nowait().payload)
            self.acked.update(ack.seqs())
            self.refused.update({r.seq: r.reason for r in ack.refused})

    def wait(self, probe: MqttProbe, seqs: set[int], timeout_s: float = 15.0) -> None:
        def probe_acks() -> bool:
            self.drain(probe)
            return seqs <= self.acked

        wait_until(probe_acks, what=f"acks for {sorted(seqs)}", timeout_s=timeout_s)


def letters(http: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = http.get("/api/v1/dead-letters", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def metric(http: httpx.Client, name: str) -> float:
    """The value of an unlabelled sample ``name`` in /metrics (0 when absent)."""
    for line in http.get("/metrics").text.splitlines():
        if line.split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _raw(envelope: EventEnvelope, **changes: Any) -> bytes:
    data = envelope.model_dump(mode="json", by_alias=True)
    payload = changes.pop("payload", None)
    data.update(changes)
    if payload is not None:
        data["payload"] = {**data["payload"], **payload}
    return json.dumps(data).encode()


def _stored_event_ids(http: httpx.Client) -> set[str]:
    return {e["event_id"] for e in events_page(http, limit=500)["items"]}


# ---------------------------------------------------------------------------------------------
# The three failures of issue 14
# ---------------------------------------------------------------------------------------------


def test_a_seq_past_63_bits_costs_no_neighbour(
    tmp_path: Path, mosquitto: MosquittoBroker, database: Database
) -> None:
    settings = database.settings(tmp_path / "hub", mosquitto)
    valid = [make_event(seq) for seq in (1, 2, 3)]
    huge = _raw(make_event(4), seq=2**63)
    huger = _raw(make_event(4), seq=2**64 + 5)
    with running_hub(settings) as hub, mqtt_probe(mosquitto, "edge-probe") as edge:
        edge.subscribe(acks_topic())
        acks = Acks()
        edge.publish_event(valid[0])
        edge.publish(TOPIC, huge)
        edge.publish_event(valid[1])
        edge.publish(TOPIC, huger)
        edge.publish(TOPIC, huge)  # the edge re-sends it: one row, seen twice
        edge.publish_event(valid[2])

        acks.wait(edge, {1, 2, 3})
        assert _stored_event_ids(hub.http) == {str(e.event_id) for e in valid}
        found = wait_until(
            lambda: got if len(got := letters(hub.http, reason="out_of_range")) == 2 else None,
            what="two out_of_range dead letters",
        )
        by_size = {d["payload_size"]: d for d in found}
        assert by_size[len(huge)]["times_seen"] == 2
        assert by_size[len(huger)]["times_seen"] == 1
        assert all("seq" in d["detail"] for d in found)
        metrics = hub.http.get("/metrics").text
        assert 'innsight_ingest_dead_letters_total{reason="out_of_range"} 3.0' in metrics
        assert "innsight_ingest_internal_errors_total 0.0" in metrics
        assert "innsight_ingest_batch_failures_total 0.0" in metrics  # refused before the DB
        assert hub.ingest_connected
        devices = hub.http.get("/api/v1/devices").json()["items"]
        assert [(d["last_seq"], d["gaps"]) for d in devices] == [(3, [])]


def test_unstorable_text_and_times_are_refused_acked_and_kept_as_evidence(
    tmp_path: Path, mosquitto: MosquittoBroker, database: Database
) -> None:
    settings = database.settings(tmp_path / "hub", mosquitto)
    nul_model = _raw(make_event(2), payload={"model_id": "dlib\u0000resnet"})
    year_one = _raw(make_event(3), started_at="0001-01-01T00:00:00+14:00")
    surrogate = _raw(make_event(4), payload={"model_id": "dlib\ud800"})
    anomaly = EventEnvelope(
        device_id=DEVICE,
        seq=5,
        event_id=uuid7(),
        phase=Phase.NEW,
        camera_id="lobby-1",
        kind=EventKind.ANOMALY,
        started_at=datetime(2026, 11, 22, 8, tzinfo=UTC),
        payload=AnomalyPayload(type=AnomalyType.SMOKE, score=0.8, zone="bar"),
    )
    nul_zone = _raw(anomaly, payload={"zone": "bar\u0000"})
    with running_hub(settings) as hub, mqtt_probe(mosquitto, "edge-probe") as edge:
        edge.subscribe(acks_topic())
        acks = Acks()
        edge.publish_event(make_event(1))
        edge.publish(TOPIC, nul_model)
        edge.publish(TOPIC, year_one)
        edge.publish(TOPIC, surrogate)
        edge.publish(f"innsight/{SITE}/{DEVICE}/events/anomaly", nul_zone)
        edge.publish_event(make_event(6))

        # refused for good: acked (the edge stops re-sending) and named with the reason
        acks.wait(edge, {1, 2, 3, 4, 5, 6})
        assert acks.refused == {2: "bad_text", 3: "bad_time", 4: "bad_text", 5: "bad_text"}
        assert events_page(hub.http)["total"] == 2

        found = letters(hub.http, device_id=DEVICE)
        assert sorted(d["reason"] for d in found) == [
            "bad_text",
            "bad_text",
            "bad_text",
            "bad_time",
        ]
        assert letters(hub.http, device_id="edge-other") == []
        (time_letter,) = letters(hub.http, reason="bad_time")
        assert time_letter["seq"] == 3
        assert time_letter["topic"] == TOPIC
        # the exact bytes received
        payload = hub.http.get(f"/api/v1/dead-letters/{time_letter['id']}/payload")
        assert payload.status_code == 200
        assert payload.content == year_one
        assert payload.headers["content-type"] == "application/octet-stream"
        missing = hub.http.get("/api/v1/dead-letters/999999/payload")
        assert missing.status_code == 404

        summary = hub.http.get("/api/v1/dead-letters/summary").json()
        assert {r["key"]: r["letters"] for r in summary["reasons"]} == {
            "bad_text": 3,
            "bad_time": 1,
        }
        assert summary["devices"] == [{"key": DEVICE, "letters": 4, "times_seen": 4}]
        metrics = hub.http.get("/metrics").text
        assert 'innsight_ingest_dead_letters_total{reason="bad_text"} 3.0' in metrics
        assert 'innsight_ingest_dead_letters_total{reason="bad_time"} 1.0' in metrics

        # re-sent anyway (an older edge): acked again, counted on the same row
        edge.publish(TOPIC, year_one)
        acks.acked.clear()
        acks.wait(edge, {3})
        wait_until(
            lambda: letters(hub.http, reason="bad_time")[0]["times_seen"] == 2,
            what="the repeat to be counted",
        )


def test_deep_nesting_and_a_5001_digit_seq_are_refused_with_codes(
    tmp_path: Path, mosquitto: MosquittoBroker, database: Database
) -> None:
    settings = database.settings(tmp_path / "hub", mosquitto)
    deep = b'{"schema": 1, "seq": 2, "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    digits = b'{"schema": 1, "kind": "face", "seq": ' + b"9" * 5001 + b"}"
    heartbeat_deep = b'{"schema": 1, "cameras": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001
    with running_hub(settings) as hub, mqtt_probe(mosquitto, "edge-probe") as edge:
        edge.subscribe(acks_topic())
        acks = Acks()
        edge.publish_event(make_event(1))
        edge.publish(TOPIC, deep)
        edge.publish(TOPIC, digits)
        edge.publish(f"innsight/{SITE}/{DEVICE}/heartbeat", heartbeat_deep)
        edge.publish_event(make_event(3))
        acks.wait(edge, {1, 3})
        found = wait_until(
            lambda: got if len(got := letters(hub.http)) == 3 else None, what="3 dead letters"
        )
        assert sorted(d["reason"] for d in found) == ["number_too_long", "too_deep", "too_deep"]
        assert events_page(hub.http)["total"] == 2
        metrics = hub.http.get("/metrics").text
        assert "ingest_error" not in metrics
        assert "innsight_ingest_internal_errors_total 0.0" in metrics


# ---------------------------------------------------------------------------------------------
# The database refuses one message of a batch; the database goes away
# ---------------------------------------------------------------------------------------------


def _poison_the_events_table(settings: HubSettings, database: Database) -> None:
    """Make the real database refuse events from camera 'poison' (a stand-in for whatever the
    contract cannot foresee)."""
    if database.kind == "sqlite":
        path = make_url(settings.database_url.get_secret_value()).database
        assert path is not None
        with sqlite3.connect(path) as conn:
            conn.execute(
                "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.camera_id = 'poison' "
                "BEGIN SELECT RAISE(ABORT, 'camera poison refused by a trigger'); END"
            )
    else:
        assert database.url is not None
        dsn = _admin_dsn(database.url)
        asyncio.run(
            _admin(dsn, "ALTER TABLE events ADD CONSTRAINT poison CHECK (camera_id <> 'poison')")
        )


def test_a_message_the_database_refuses_is_split_out_of_its_batch(
    tmp_path: Path, mosquitto: MosquittoBroker, database: Database
) -> None:
    settings = database.settings(
        tmp_path / "hub", mosquitto, ingest_max_batch_delay_s=0.5, ingest_batch_size=500
    )
    with running_hub(settings) as hub, mqtt_probe(mosquitto, "edge-probe") as edge:
        _poison_the_events_table(settings, database)
        edge.subscribe(acks_topic())
        acks = Acks()
        good = [make_event(seq) for seq in range(1, 41) if seq != 17]
        poison = make_event(17, camera="poison")
        for envelope in good[:16]:
            edge.publish_event(envelope)
        edge.publish_event(poison)
        for envelope in good[16:]:
            edge.publish_event(envelope)

        acks.wait(edge, set(range(1, 41)))
        assert acks.refused == {17: "apply_failed"}
        assert _stored_event_ids(hub.http) == {str(e.event_id) for e in good}
        (letter,) = letters(hub.http, reason="apply_failed")
        assert letter["seq"] == 17
        assert "poison" in letter["detail"]  # the database's own reason
        raw = hub.http.get(f"/api/v1/dead-letters/{letter['id']}/payload").content
        assert raw == poison.to_json_bytes()  # the bytes received, not a re-serialisation
        metrics = hub.http.get("/metrics").text
        assert "innsight_ingest_internal_errors_total 0.0" in metrics
        assert metric(hub.http, "innsight_ingest_batch_failures_total") >= 1
        # seq 17 shows as a gap, as for any message that never made it
        devices = hub.http.get("/api/v1/devices").json()["items"]
        assert devices[0]["gaps"] == [[17, 17]]


@pytest.mark.postgres
def test_a_database_outage_is_transient_nothing_acked_then_everything_stored(
    tmp_path: Path, mosquitto: MosquittoBroker, postgres_server: PostgresServer
) -> None:
    name = f"hub_outage_{uuid.uuid4().hex[:12]}"
    admin = _admin_dsn(postgres_server.async_url)
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_server.async_url).set(database=name)
    settings = hub_settings(
        tmp_path / "hub", mosquitto, database_url=url.render_as_string(hide_password=False)
    )
    try:
        with running_hub(settings) as hub, mqtt_probe(mosquitto, "edge-probe") as edge:
            edge.subscribe(acks_topic())
            acks = Acks()
            edge.publish_event(make_event(1))
            acks.wait(edge, {1})
            asyncio.run(
                _admin(
                    admin,
                    f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "  # noqa: S608
                    f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
                )
            )
            later = [make_event(seq) for seq in (2, 3, 4)]
            for envelope in later:
                edge.publish_event(envelope)
            time.sleep(2.0)
            acks.drain(edge)
            assert not acks.acked & {2, 3, 4}, "acked while the database was down"
            assert metric(hub.http, "innsight_ingest_transient_failures_total") >= 1
            asyncio.run(_admin(admin, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            acks.wait(edge, {2, 3, 4}, timeout_s=30.0)
            assert acks.refused == {}
            assert events_page(hub.http)["total"] == 4
            assert letters(hub.http) == []
    finally:
        asyncio.run(_admin(admin, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# ---------------------------------------------------------------------------------------------
# The edge learns of its refused messages
# ---------------------------------------------------------------------------------------------


def _face(track: int) -> PendingEvent:
    return PendingEvent(
        event_id=uuid7(),
        phase=Phase.NEW,
        camera_id="lobby-1",
        started_at=datetime(2026, 11, 22, 8, tzinfo=UTC),
        payload=FacePayload(
            score=0.7, bbox=BBox(x=1, y=2, w=30, h=40), track_id=track, model_id="m"
        ),
    )


def _inject_row(outbox_path: Path, payload_of: Any) -> int:
    """Write a row the way an older edge would have (the contract of today refuses it)."""
    with sqlite3.connect(outbox_path) as conn:
        seq = int(conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0])
        payload = payload_of(seq)
        conn.execute(
            "INSERT INTO outbox(seq, topic, payload, kind, camera_id, priority, created_at,"
            " sent_at, attempts) VALUES (?, ?, ?, 'face', 'lobby-1', 0, ?, NULL, 0)",
            (seq, TOPIC, payload, time.time()),
        )
        conn.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (seq + 1,))
        conn.execute(
            "UPDATE meta SET value = value + ? WHERE key = 'stored_bytes'",
            (len(payload) + len(TOPIC),),
        )
    return seq


def test_the_edge_drops_refused_messages_logs_and_reports_them(
    tmp_path: Path, mosquitto: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    settings = hub_settings(tmp_path / "hub", mosquitto)
    outbox_path = tmp_path / "edge" / "outbox.db"
    outbox = SqliteOutbox(outbox_path, DEVICE, SITE)
    transport = PahoTransport(
        SITE, DEVICE, mosquitto.host, mosquitto.port, min_backoff_s=0.1, max_backoff_s=0.5
    )
    drainer = OutboxDrainer(outbox, transport, SITE, DEVICE, resend_after_s=1.0, poll_s=0.05)
    heartbeat = HeartbeatService(
        transport,
        SITE,
        DEVICE,
        lambda: HeartbeatStats(outbox_depth=outbox.depth(), refused_events=outbox.refused()),
        interval_s=0.3,
    )
    stop = threading.Event()
    threads = [
        threading.Thread(target=drainer.run, args=(stop,), daemon=True),
        threading.Thread(target=heartbeat.run, args=(stop,), daemon=True),
    ]
    try:
        with running_hub(settings) as hub, caplog.at_level("WARNING"):
            transport.start()
            assert transport.wait_connected(10)
            drainer.attach()
            for thread in threads:
                thread.start()
            outbox.enqueue(_face(1))
            bad_seq = _inject_row(
                outbox_path,
                lambda seq: _raw(make_event(seq), payload={"model_id": "m\u0000"}),
            )
            outbox.enqueue(_face(3))
            drainer.wake()

            assert drainer.wait_until_drained(20), f"left in the outbox: {outbox.seqs()}"
            assert outbox.refused() == 1
            assert drainer.stats().refused == 1
            assert events_page(hub.http)["total"] == 2
            assert f"seq {bad_seq}" in caplog.text
            assert "bad_text" in caplog.text

            def reported() -> bool:
                items = hub.http.get("/api/v1/devices").json()["items"]
                beat: dict[str, object] | None = items[0]["last_heartbeat"] if items else None
                return beat is not None and beat.get("refused_events") == 1

            wait_until(reported, what="the heartbeat to report the refused event")
            # nothing is re-sent: the refused row is gone for good
            published = drainer.stats().published
            time.sleep(1.5)
            assert drainer.stats().published == published
    finally:
        stop.set()
        for thread in threads:
            if thread.is_alive():
                thread.join(5)
        transport.stop()
        outbox.close()
