"""Issue 19 items 2+3 end to end: a running hub on a real Mosquitto mirrors an edge's events as
Frigate-shaped messages and announces the edge and its camera to Home Assistant; a revoked
device's discovery configs are removed (empty retained)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from contracts.ids import uuid7
from contracts.messages import (
    AnomalyPayload,
    AnomalyType,
    CameraStats,
    EventEnvelope,
    EventKind,
    Heartbeat,
    Phase,
)
from hub.db import create_engine, create_session_factory
from hub.device_registry import register_device, revoke_device
from hub.settings import HubSettings
from innsight.broker import MosquittoBroker
from testkit.consent import record_consent
from testkit.hub import (
    BASE_TIME,
    DEVICE,
    SITE,
    WAIT_S,
    MqttProbe,
    hub_settings,
    make_event,
    mqtt_probe,
    running_hub,
)

CAMERA = "lobby-1"
EDGE_CONFIG = f"homeassistant/device/innsight_{SITE}_{DEVICE}/config"
CAMERA_CONFIG = f"homeassistant/device/innsight_{SITE}_{DEVICE}_{CAMERA}/config"
CAMERA_STATE = f"innsight-ha/{SITE}/{DEVICE}/{CAMERA}/state"

Messages = list[mqtt.MQTTMessage]


def collect(
    probe: MqttProbe, seen: Messages, done: Callable[[Messages], bool], what: str
) -> Messages:
    """Read the probe into ``seen`` until ``done(seen)``."""
    deadline = time.monotonic() + WAIT_S
    while not done(seen):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            topics = sorted({m.topic for m in seen})
            raise AssertionError(f"timed out waiting for {what}; got topics {topics}")
        seen.append(probe.next_message(remaining))
    return seen


def payloads(seen: Messages, topic: str) -> list[Any]:
    return [json.loads(m.payload) for m in seen if m.topic == topic and m.payload]


def frigate_events(seen: Messages, event_id: uuid.UUID) -> list[dict[str, Any]]:
    return [e for e in payloads(seen, "frigate/events") if e["after"]["id"] == str(event_id)]


def on_registry(settings: HubSettings, action: str) -> None:
    """What `innsight provision enroll` / `revoke` do to the hub's registry (the broker's files
    are theirs, not under test here)."""

    async def run() -> None:
        engine = create_engine(settings.database_url.get_secret_value())
        try:
            async with create_session_factory(engine)() as session:
                if action == "enroll":
                    await register_device(session, DEVICE, SITE, [CAMERA])
                else:
                    await revoke_device(session, DEVICE)
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(run())


def retained(broker: MosquittoBroker, topic: str) -> tuple[Messages, bytes]:
    """The retained messages a new subscriber of ``topic`` gets, and the retained
    ``frigate/available`` (subscribed after ``topic``: the end marker)."""
    with mqtt_probe(broker, f"late-{uuid.uuid4().hex[:8]}") as late:
        late.subscribe(topic)
        late.subscribe("frigate/available")
        got: Messages = []
        collect(late, got, lambda s: any(m.topic == "frigate/available" for m in s), "retained")
        marker = next(m for m in got if m.topic == "frigate/available")
        assert marker.retain
        return [m for m in got if m is not marker], bytes(marker.payload)


def test_edge_events_reach_frigate_consumers_and_home_assistant(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    settings = hub_settings(
        tmp_path / "hub",
        mosquitto,
        frigate_enabled=True,
        ha_discovery_enabled=True,
        ha_last_employee=True,
        ha_rescan_s=0.2,
    )
    with (
        running_hub(settings) as hub,
        mqtt_probe(mosquitto, "edge") as edge,
        mqtt_probe(mosquitto, "consumer") as consumer,
    ):
        for person, name, purpose in (("e-ann", "Ann", "access"), ("e-bob", "Bob", "attendance")):
            created = hub.http.post(
                "/api/v1/hotel/employees", json={"employee_id": person, "name": name}
            )
            assert created.status_code == 201, created.text
            record_consent(hub.http, person, purpose=purpose)
        for topic in ("frigate/#", "homeassistant/#", "innsight-ha/#"):
            consumer.subscribe(topic)
        on_registry(settings, "enroll")

        seen: Messages = []
        collect(
            consumer,
            seen,
            lambda s: {EDGE_CONFIG, CAMERA_CONFIG} <= {m.topic for m in s if m.payload},
            "discovery of the enrolled edge and its camera",
        )
        camera_config = payloads(seen, CAMERA_CONFIG)[-1]
        assert camera_config["availability"][0]["topic"] == f"innsight/{SITE}/{DEVICE}/status"
        assert camera_config["components"]["smoke"]["device_class"] == "smoke"
        assert camera_config["components"]["people"]["state_topic"] == CAMERA_STATE
        assert "last_employee" in camera_config["components"]

        edge.publish(f"innsight/{SITE}/{DEVICE}/status", b"online", retain=True)
        heartbeat = Heartbeat(
            device_id=DEVICE, sent_at=datetime.now(UTC), cameras={CAMERA: CameraStats(fps=12.5)}
        )
        edge.publish(f"innsight/{SITE}/{DEVICE}/heartbeat", heartbeat.to_json_bytes())
        ann, bob, smoke = uuid7(), uuid7(), uuid7()
        edge.publish_event(make_event(1, event_id=ann, person_id="e-ann", score=0.97))
        edge.publish_event(make_event(2, event_id=bob, person_id="e-bob", score=0.96))
        edge.publish_event(
            EventEnvelope(
                device_id=DEVICE,
                seq=3,
                event_id=smoke,
                phase=Phase.NEW,
                camera_id=CAMERA,
                kind=EventKind.ANOMALY,
                started_at=BASE_TIME,
                payload=AnomalyPayload(type=AnomalyType.SMOKE, score=0.88, zone="kitchen"),
            )
        )
        collect(
            consumer,
            seen,
            lambda s: (
                all(frigate_events(s, e) for e in (ann, bob, smoke))
                and any(m.topic == "frigate/tracked_object_update" for m in s)
            ),
            "the Frigate-shaped events",
        )
        (new,) = frigate_events(seen, ann)
        assert new["type"] == "new"
        after = new["after"]
        assert after["camera"] == CAMERA
        assert after["label"] == "person"
        assert after["sub_label"] == ["Ann", 0.97]  # consent for access covers it
        assert after["top_score"] == after["score"] == 0.97
        assert after["box"] == [10, 20, 74, 84]
        assert after["start_time"] == BASE_TIME.timestamp()
        assert after["end_time"] is None
        assert after["has_snapshot"] is False
        assert after["false_positive"] is False
        (face,) = payloads(seen, "frigate/tracked_object_update")
        assert face == {
            "type": "face",
            "id": str(ann),
            "name": "Ann",
            "score": 0.97,
            "camera": CAMERA,
            "timestamp": face["timestamp"],
        }
        (unnamed,) = frigate_events(seen, bob)
        assert unnamed["after"]["sub_label"] is None  # Bob's consent is for attendance only
        assert all("Bob" not in m.payload.decode() for m in seen)
        (hazard,) = frigate_events(seen, smoke)
        assert hazard["after"]["label"] == "smoke"
        assert hazard["after"]["current_zones"] == ["kitchen"]
        collect(
            consumer,
            seen,
            lambda s: (
                payloads(s, f"frigate/{CAMERA}/person")[-1:] == [2]
                and payloads(s, f"frigate/{CAMERA}/smoke")[-1:] == [1]
            ),
            "the per-camera counts",
        )
        state = collect(
            consumer,
            seen,
            lambda s: any(p.get("smoke") == "ON" for p in payloads(s, CAMERA_STATE)),
            "the camera's Home Assistant state",
        )
        last_state = payloads(state, CAMERA_STATE)[-1]
        assert last_state["people"] == 2
        assert last_state["last_employee"] == "Ann"

        edge.publish_event(
            make_event(
                4,
                event_id=ann,
                phase=Phase.END,
                person_id="e-ann",
                score=0.98,
                started_at=BASE_TIME - timedelta(seconds=1),
            )
        )
        collect(
            consumer, seen, lambda s: len(frigate_events(s, ann)) == 2, "the end of Ann's event"
        )
        end = frigate_events(seen, ann)[-1]
        assert end["type"] == "end"
        assert end["before"]["end_time"] is None
        assert end["after"]["end_time"] is not None
        assert end["after"]["sub_label"] == ["Ann", 0.98]
        collect(
            consumer,
            seen,
            lambda s: payloads(s, f"frigate/{CAMERA}/person")[-1:] == [1],
            "the person count to drop",
        )

        withdrawn = hub.http.post("/api/v1/privacy/consents/e-ann/withdraw")
        assert withdrawn.status_code == 200, withdrawn.text
        again = uuid7()
        edge.publish_event(make_event(5, event_id=again, person_id="e-ann", score=0.97))
        collect(consumer, seen, lambda s: bool(frigate_events(s, again)), "a face after withdrawal")
        assert frigate_events(seen, again)[0]["after"]["sub_label"] is None  # named no more

        announced = len(payloads(seen, EDGE_CONFIG))
        consumer.publish("homeassistant/status", b"online")  # Home Assistant restarted
        collect(
            consumer,
            seen,
            lambda s: len(payloads(s, EDGE_CONFIG)) > announced,
            "discovery re-announced after Home Assistant's birth message",
        )
        configs, available = retained(mosquitto, "homeassistant/device/+/config")
        assert available == b"online"
        assert {m.topic for m in configs} == {EDGE_CONFIG, CAMERA_CONFIG}
        assert all(m.retain for m in configs)

        on_registry(settings, "revoke")
        collect(
            consumer,
            seen,
            lambda s: (
                {EDGE_CONFIG, CAMERA_CONFIG, CAMERA_STATE}
                <= {m.topic for m in s if m.payload == b""}
            ),
            "the revoked device's configs to be removed",
        )
        assert retained(mosquitto, "homeassistant/device/+/config")[0] == []
        assert retained(mosquitto, "innsight-ha/#")[0] == []

    assert retained(mosquitto, "homeassistant/#")[1] == b"offline"  # the hub stopped
