"""Edge messages through a real Mosquitto into the hub (SQLite), read back over REST.

The helpers here (``hub_settings``, ``running_hub``, ``MqttProbe``, ``make_event``) are shared by
the PostgreSQL and enrolment tests.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from contracts.ids import uuid7
from contracts.messages import (
    MAX_EVENT_BYTES,
    Phase,
)
from innsight.broker import MosquittoBroker, free_port
from testkit.hub import (
    BASE_TIME,
    DEVICE,
    SITE,
    acks_topic,
    dead_letters,
    events_page,
    hub_settings,
    jpeg_b64,
    make_event,
    mqtt_probe,
    running_hub,
    wait_for_acked,
    wait_for_events,
    wait_until,
)

pytestmark = pytest.mark.integration


def test_event_is_stored_readable_and_acked(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    settings = hub_settings(tmp_path / "hub", mosquitto)
    envelope = make_event(1, score=0.81, person_id="emp-7", snapshot_seed=3)
    with running_hub(settings) as hub, mqtt_probe(mosquitto, "edge-probe") as edge:
        edge.subscribe(acks_topic())
        edge.publish_event(envelope)

        assert wait_for_acked(edge, {1}) == [1]
        items = wait_for_events(hub.http, lambda items: len(items) == 1)
        event = items[0]
        assert event["event_id"] == str(envelope.event_id)
        assert event["device_id"] == DEVICE
        assert event["camera_id"] == "lobby-1"
        assert event["kind"] == "face"
        assert event["phase"] == "new"
        assert event["person_id"] == "emp-7"
        assert event["score"] == pytest.approx(0.81)
        assert event["payload"]["bbox"] == {"x": 10, "y": 20, "w": 64, "h": 64}
        assert datetime.fromisoformat(event["started_at"]) == BASE_TIME
        key = event["snapshot_key"]
        assert key == f"snapshots/{DEVICE}/{envelope.event_id}.jpg"
        stored = (settings.objects_dir / key).read_bytes()
        assert stored == base64.b64decode(jpeg_b64(3))

        one = hub.http.get(f"/api/v1/events/{envelope.event_id}")
        assert one.status_code == 200
        assert one.json()["event_id"] == str(envelope.event_id)
        missing = hub.http.get(f"/api/v1/events/{uuid7()}")
        assert missing.status_code == 404
        assert missing.json()["errors"][0]["field"] == "event_id"

        devices = hub.http.get("/api/v1/devices").json()["items"]
        assert [(d["device_id"], d["last_seq"], d["gaps"]) for d in devices] == [(DEVICE, 1, [])]

        metrics = hub.http.get("/metrics").text
        assert "innsight_ingest_messages_stored_total 1.0" in metrics
        assert 'innsight_http_requests_total{method="GET",route="/api/v1/events"' in metrics


def test_redelivery_and_lifecycle_keep_one_row(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    settings = hub_settings(tmp_path / "hub", mosquitto)
    event_id = uuid7()
    messages = [
        make_event(1, event_id=event_id, phase=Phase.NEW, score=0.6),
        make_event(
            2, event_id=event_id, phase=Phase.UPDATE, score=0.9, person_id="emp-1", snapshot_seed=9
        ),
        make_event(3, event_id=event_id, phase=Phase.UPDATE, score=0.7, snapshot_seed=10),
        make_event(4, event_id=event_id, phase=Phase.END, score=0.65),
    ]
    with running_hub(settings) as hub, mqtt_probe(mosquitto, "edge-probe") as edge:
        edge.subscribe(acks_topic())
        edge.publish_event(messages[0])
        edge.publish_event(messages[1])
        edge.publish_event(messages[1])  # duplicate delivery
        edge.publish_event(messages[2])
        edge.publish_event(messages[3])
        wait_for_acked(edge, {1, 2, 3, 4})

        items = wait_for_events(hub.http, lambda items: bool(items) and items[0]["phase"] == "end")
        assert len(items) == 1
        row = items[0]
        assert row["score"] == pytest.approx(0.9)
        assert row["person_id"] == "emp-1"
        assert row["payload"]["score"] == pytest.approx(0.9)
        assert row["seq"] == 1
        assert row["last_seq"] == 4
        assert row["messages"] == 4
        assert datetime.fromisoformat(row["ended_at"]) == BASE_TIME + timedelta(seconds=4)
        # the snapshot kept is the one of the best message (seq 2), not the later seq 3
        snapshot = (settings.objects_dir / row["snapshot_key"]).read_bytes()
        assert snapshot == base64.b64decode(jpeg_b64(9))

        # A message redelivered after it was acked is acked again and changes nothing.
        edge.publish_event(messages[0])
        assert 1 in wait_for_acked(edge, {1})
        assert events_page(hub.http)["total"] == 1
        assert hub.http.get(f"/api/v1/events/{event_id}").json()["messages"] == 4

        # A lost seq (5) shows up as a gap once seq 6 arrives.
        edge.publish_event(make_event(6, started_at=BASE_TIME + timedelta(minutes=1)))
        wait_for_acked(edge, {6})
        devices = hub.http.get("/api/v1/devices").json()["items"]
        assert devices[0]["gaps"] == [[5, 5]]
        assert devices[0]["missing"] == 1
        assert devices[0]["last_seq"] == 6

        # Filters and paging
        page = events_page(hub.http, limit=1)
        assert page["total"] == 2
        assert page["limit"] == 1
        assert len(page["items"]) == 1
        assert page["items"][0]["seq"] == 6  # newest first
        assert events_page(hub.http, person_id="emp-1")["total"] == 1
        assert events_page(hub.http, kind="anomaly")["total"] == 0
        later = (BASE_TIME + timedelta(seconds=30)).isoformat()
        assert events_page(hub.http, since=later)["total"] == 1
        assert events_page(hub.http, until=later)["total"] == 1
        bad = hub.http.get(
            "/api/v1/events", params={"since": later, "until": BASE_TIME.isoformat()}
        )
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "since"
        assert "after" in bad.json()["errors"][0]["reason"]
        too_many = hub.http.get("/api/v1/events", params={"limit": 501})
        assert too_many.status_code == 422
        assert too_many.json()["errors"][0]["field"] == "limit"


def test_malformed_messages_are_dead_lettered_and_ingest_continues(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    settings = hub_settings(tmp_path / "hub", mosquitto)
    topic = f"innsight/{SITE}/{DEVICE}/events/face"
    valid = make_event(11).model_dump(mode="json", by_alias=True)
    schema_2 = {**valid, "schema": 2, "seq": 12}
    unknown_kind = {**valid, "kind": "smell", "seq": 13}
    oversize = json.dumps({**valid, "seq": 14, "pad": "x" * MAX_EVENT_BYTES}).encode()
    wrong_device = make_event(15, device="edge-2")
    with running_hub(settings) as hub, mqtt_probe(mosquitto, "edge-probe") as edge:
        edge.subscribe(acks_topic())
        edge.publish(topic, b"{not json")
        edge.publish(topic, json.dumps(schema_2).encode())
        edge.publish(topic, json.dumps(unknown_kind).encode())
        edge.publish(f"innsight/{SITE}/{DEVICE}/events/smell", make_event(16).to_json_bytes())
        edge.publish(topic, oversize)
        edge.publish(topic, wrong_device.to_json_bytes())
        edge.publish(f"innsight/{SITE}/{DEVICE}/status", b"sleepy")
        good = make_event(17, score=0.77)
        edge.publish_event(good)

        items = wait_for_events(hub.http, lambda items: len(items) == 1)
        assert items[0]["event_id"] == str(good.event_id)
        letters = wait_until(
            lambda: found if len(found := dead_letters(hub.http)) >= 7 else None,
            what="7 dead letters",
        )
        reasons = sorted(d["reason"] for d in letters)
        assert reasons == sorted(
            [
                "bad_json",
                "unsupported_schema",
                "unknown_kind",
                "unknown_kind",
                "oversize",
                "topic_mismatch",
                "invalid",
            ]
        )
        by_reason = {d["reason"]: d for d in letters}
        assert by_reason["oversize"]["payload_size"] == len(oversize)
        assert by_reason["oversize"]["truncated"] is True
        assert by_reason["topic_mismatch"]["seq"] == 15
        assert "edge-2" in by_reason["topic_mismatch"]["detail"]
        assert by_reason["bad_json"]["topic"] == topic
        assert all(d["detail"] for d in letters)

        # Refused messages whose seq is readable are released too; the valid one is acked.
        acked = wait_for_acked(edge, {12, 13, 14, 15, 16, 17})
        assert 11 not in acked

        metrics = hub.http.get("/metrics").text
        assert 'innsight_ingest_dead_letters_total{reason="oversize"} 1.0' in metrics


def test_ingest_reconnects_after_broker_restart(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    settings = hub_settings(tmp_path / "hub", mosquitto)
    with running_hub(settings) as hub:
        mosquitto.stop()
        wait_until(lambda: not hub.ingest_connected, what="the ingest to notice")
        mosquitto.start()
        wait_until(lambda: hub.ingest_connected, what="the ingest to reconnect")
        with mqtt_probe(mosquitto, "edge-probe") as edge:
            edge.subscribe(acks_topic())
            edge.publish_event(make_event(1))
            wait_for_acked(edge, {1})
        assert events_page(hub.http)["total"] == 1


def test_hub_starts_and_reports_when_the_broker_is_missing(tmp_path: Path) -> None:
    settings = hub_settings(
        tmp_path / "hub", None, mqtt_enabled=True, mqtt_host="127.0.0.1", mqtt_port=free_port()
    )
    with running_hub(settings, wait_connected=False) as hub:
        assert events_page(hub.http)["total"] == 0
        health = hub.http.get("/api/v1/cv/health")
        assert health.status_code == 200
        body = health.json()
        assert body["ingest"] == {"enabled": True, "connected": False, "incompatible_edges": {}}
        assert body["database"]["ok"] is True
        assert body["status"] == "degraded"
