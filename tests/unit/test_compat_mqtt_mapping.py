"""The pure mappings of the Frigate mirror and Home Assistant discovery (hub/compat)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.compat import frigate
from hub.compat import ha_discovery as ha
from hub.compat.active import ActiveObjects, label_of
from hub.compat.frigate_mirror import FrigateMirror
from hub.compat.names import parse_purposes
from hub.compat.publication import Publication
from hub.compat.wiring import fan_out

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
EVENT = uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")
NAMING = ha.HaNaming("homeassistant", "innsight-ha", "demo", "1.2.3")


def face_row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": EVENT,
        "device_id": "edge-1",
        "camera_id": "lobby-1",
        "kind": "face",
        "phase": "new",
        "started_at": T0,
        "ended_at": None,
        "updated_at": T0 + timedelta(seconds=2),
        "person_id": "e-ann",
        "score": 0.9731,
        "liveness": "live",
        "payload": {"kind": "face", "score": 0.9731, "bbox": {"x": 10, "y": 20, "w": 64, "h": 32}},
        "snapshot_key": "snapshots/edge-1/x.jpg",
    }
    row.update(over)
    return row


def anomaly_row(hazard: str = "smoke", **over: Any) -> dict[str, Any]:
    return face_row(
        event_id=uuid.uuid4(),
        kind="anomaly",
        person_id=None,
        liveness=None,
        score=0.8,
        payload={"kind": "anomaly", "type": hazard, "score": 0.8, "zone": "kitchen"},
        snapshot_key=None,
        **over,
    )


def decoded(pubs: list[Publication], topic: str) -> list[Any]:
    return [json.loads(p.payload) for p in pubs if p.topic == topic]


def test_tracked_object_maps_every_field_of_a_face() -> None:
    obj = frigate.tracked_object(face_row(), ("Ann", 0.97314))
    ts_start, ts_frame = T0.timestamp(), (T0 + timedelta(seconds=2)).timestamp()
    assert obj == {
        "id": str(EVENT),
        "camera": "lobby-1",
        "frame_time": ts_frame,
        "snapshot": {
            "frame_time": ts_frame,
            "box": [10, 20, 74, 52],
            "area": 64 * 32,
            "region": [10, 20, 74, 52],
            "score": 0.9731,
            "attributes": [],
        },
        "label": "person",
        "sub_label": ["Ann", 0.9731],
        "top_score": 0.9731,
        "false_positive": False,
        "start_time": ts_start,
        "end_time": None,
        "score": 0.9731,
        "box": [10, 20, 74, 52],
        "area": 2048,
        "ratio": 2.0,
        "region": [10, 20, 74, 52],
        "active": True,
        "stationary": False,
        "motionless_count": 0,
        "position_changes": 0,
        "current_zones": [],
        "entered_zones": [],
        "has_clip": False,
        "has_snapshot": True,
        "attributes": {},
        "current_attributes": [],
    }


def test_an_ended_hazard_keeps_its_zone_and_end_time() -> None:
    end = T0 + timedelta(seconds=30)
    obj = frigate.tracked_object(anomaly_row("fire", phase="end", ended_at=end), None)
    assert obj["label"] == "fire"
    assert obj["sub_label"] is None
    assert obj["current_zones"] == obj["entered_zones"] == ["kitchen"]
    assert obj["end_time"] == end.timestamp()
    assert obj["frame_time"] == end.timestamp()
    assert obj["box"] is None
    assert obj["area"] == 0
    assert obj["snapshot"] is None
    assert obj["has_snapshot"] is False
    assert obj["active"] is False


def test_labels_of_each_kind() -> None:
    assert label_of(face_row()) == "person"
    assert [label_of(anomaly_row(h)) for h in ("fire", "smoke", "water", "intrusion", "fall")] == [
        "fire",
        "smoke",
        "water",
        "intrusion",
        "fall",
    ]
    lost = face_row(kind="camera", payload={"kind": "camera", "state": "lost"})
    assert label_of(lost) == "stream_lost"
    assert frigate.mirrored_label(lost) is None  # Frigate has no object for a stream
    assert label_of(face_row(kind="camera", payload={"state": "restored"})) is None


def test_mirror_new_update_end_with_before_after_counts_and_face_updates() -> None:
    active = ActiveObjects(timeout_s=60)
    mirror = FrigateMirror("frigate", active)
    names = {"e-ann": "Ann"}

    first = face_row(person_id=None, score=0.5)
    pubs = mirror.publications([first], names, active.apply([first], 0.0))
    (new,) = decoded(pubs, "frigate/events")
    assert new["type"] == "new"
    assert new["before"] == new["after"]
    assert new["after"]["sub_label"] is None
    assert decoded(pubs, "frigate/tracked_object_update") == []
    assert decoded(pubs, "frigate/lobby-1/person") == [1]
    assert decoded(pubs, "frigate/lobby-1/all") == [1]

    named = face_row(phase="update")
    pubs = mirror.publications([named], names, active.apply([named], 1.0))
    (update,) = decoded(pubs, "frigate/events")
    assert update["type"] == "update"
    assert update["before"]["sub_label"] is None
    assert update["after"]["sub_label"] == ["Ann", 0.9731]
    (face,) = decoded(pubs, "frigate/tracked_object_update")
    assert face == {
        "type": "face",
        "id": str(EVENT),
        "name": "Ann",
        "score": 0.9731,
        "camera": "lobby-1",
        "timestamp": (T0 + timedelta(seconds=2)).timestamp(),
    }
    assert decoded(pubs, "frigate/lobby-1/person") == []  # count unchanged

    again = face_row(phase="update")
    pubs = mirror.publications([again], names, active.apply([again], 2.0))
    assert decoded(pubs, "frigate/tracked_object_update") == []  # the name did not change

    end = face_row(phase="end", ended_at=T0 + timedelta(seconds=9))
    pubs = mirror.publications([end], names, active.apply([end], 3.0))
    (ended,) = decoded(pubs, "frigate/events")
    assert ended["type"] == "end"
    assert ended["after"]["end_time"] == (T0 + timedelta(seconds=9)).timestamp()
    assert ended["before"]["end_time"] is None
    assert decoded(pubs, "frigate/lobby-1/person") == [0]
    assert decoded(pubs, "frigate/lobby-1/all") == [0]
    assert all(not p.retain for p in pubs)


def test_no_name_without_consent_or_for_a_spoof() -> None:
    active = ActiveObjects(timeout_s=60)
    mirror = FrigateMirror("frigate", active)
    row = face_row()
    pubs = mirror.publications([row], {}, active.apply([row], 0.0))
    assert decoded(pubs, "frigate/events")[0]["after"]["sub_label"] is None
    assert decoded(pubs, "frigate/tracked_object_update") == []

    spoof = face_row(event_id=uuid.uuid4(), liveness="spoof")
    pubs = mirror.publications([spoof], {"e-ann": "Ann"}, active.apply([spoof], 0.0))
    (message,) = decoded(pubs, "frigate/events")
    assert message["after"]["sub_label"] is None
    assert message["after"]["false_positive"] is True
    assert decoded(pubs, "frigate/tracked_object_update") == []
    assert active.count(None, "lobby-1", "person") == 1  # only the live face counts


def test_available_is_retained_under_the_prefix() -> None:
    mirror = FrigateMirror("hotel/frigate", ActiveObjects(timeout_s=1))
    assert mirror.available(True) == Publication("hotel/frigate/available", b"online", True)
    assert mirror.available(False) == Publication("hotel/frigate/available", b"offline", True)


def test_active_objects_close_streams_and_expire() -> None:
    active = ActiveObjects(timeout_s=10)
    lost = face_row(kind="camera", payload={"kind": "camera", "state": "lost"})
    assert active.apply([lost], 0.0) == {("edge-1", "lobby-1", "stream_lost")}
    restored = face_row(event_id=uuid.uuid4(), kind="camera", payload={"state": "restored"})
    assert active.apply([restored], 1.0) == {("edge-1", "lobby-1", "stream_lost")}
    assert active.count("edge-1", "lobby-1", "stream_lost") == 0

    smoke = anomaly_row()
    active.apply([smoke], 0.0)
    assert active.expire(5.0) == set()
    assert active.expire(11.0) == {("edge-1", "lobby-1", "smoke")}
    assert active.count(None, "lobby-1", "smoke") == 0


def test_edge_discovery_config() -> None:
    config = ha.edge_config(NAMING, "edge.1")
    assert (
        ha.edge_config_topic(NAMING, "edge.1") == "homeassistant/device/innsight_demo_edge_1/config"
    )
    assert config["device"] == {
        "identifiers": ["innsight_demo_edge_1"],
        "name": "innsight edge edge.1",
        "manufacturer": "innsight",
        "model": "edge agent",
        "sw_version": "1.2.3",
    }
    assert config["origin"]["name"] == "innsight"
    assert config["availability"] == [
        {
            "topic": "innsight/demo/edge.1/status",
            "payload_available": "online",
            "payload_not_available": "offline",
            "value_template": "{{ 'online' if value == 'online' else 'offline' }}",
        }
    ]
    outbox = config["components"]["outbox_depth"]
    assert outbox["platform"] == "sensor"
    assert outbox["state_topic"] == "innsight/demo/edge.1/heartbeat"
    assert outbox["unique_id"] == "innsight_demo_edge_1_outbox_depth"
    assert {c["platform"] for c in config["components"].values()} == {"sensor"}


def test_camera_discovery_config() -> None:
    config = ha.camera_config(NAMING, "edge-1", "lobby-1")
    components = config["components"]
    assert config["device"]["via_device"] == "innsight_demo_edge-1"
    assert config["device"]["identifiers"] == ["innsight_demo_edge-1_lobby-1"]
    assert config["availability"][0]["topic"] == "innsight/demo/edge-1/status"
    classes = {
        key: c["device_class"] for key, c in components.items() if c["platform"] == "binary_sensor"
    }
    assert classes == {
        "fire": "smoke",
        "smoke": "smoke",
        "water": "moisture",
        "intrusion": "occupancy",
        "fall": "problem",
        "stream_lost": "problem",
    }
    state = "innsight-ha/demo/edge-1/lobby-1/state"
    assert components["people"]["state_topic"] == state
    assert components["people"]["platform"] == "sensor"
    assert components["fps"]["state_topic"] == "innsight/demo/edge-1/heartbeat"
    assert "lobby-1" in components["fps"]["value_template"]
    assert "last_employee" not in components  # only where allowed
    allowed = ha.HaNaming("homeassistant", "innsight-ha", "demo", "1", last_employee=True)
    assert (
        ha.camera_config(allowed, "edge-1", "lobby-1")["components"]["last_employee"]["state_topic"]
        == state
    )
    topics = ha.device_configs(NAMING, "edge-1", ["lobby-1", "bar", "lobby-1"])
    assert sorted(topics) == [
        "homeassistant/device/innsight_demo_edge-1/config",
        "homeassistant/device/innsight_demo_edge-1_bar/config",
        "homeassistant/device/innsight_demo_edge-1_lobby-1/config",
    ]


def test_camera_state() -> None:
    active = ActiveObjects(timeout_s=60)
    active.apply([face_row(), anomaly_row("water"), anomaly_row("water")], 0.0)
    state = ha.camera_state(active, "edge-1", "lobby-1", ("Ann", T0.isoformat()))
    assert state == {
        "people": 1,
        "fire": "OFF",
        "smoke": "OFF",
        "water": "ON",
        "intrusion": "OFF",
        "fall": "OFF",
        "stream_lost": "OFF",
        "last_employee": "Ann",
        "last_employee_at": T0.isoformat(),
    }
    assert ha.camera_state(active, "edge-2", "lobby-1", None)["people"] == 0
    assert ha.heartbeat_cameras({"cameras": {"a": {}, "b": {}}}) == {"a", "b"}
    assert ha.heartbeat_cameras(None) == set()


def test_purposes_and_fan_out() -> None:
    assert parse_purposes("access, safety") == {"access", "safety"}
    assert parse_purposes("none") == frozenset()
    seen: list[str] = []

    async def broken(_events: list[dict[str, Any]]) -> None:
        raise RuntimeError("boom")

    async def works(events: list[dict[str, Any]]) -> None:
        seen.append(str(events[0]["event_id"]))

    async def call() -> None:
        await fan_out(broken, None, works)([face_row()])

    asyncio.run(call())
    assert seen == [str(EVENT)]


@pytest.mark.parametrize("prefix", ["frigate", "nvr/frigate"])
def test_topics(prefix: str) -> None:
    assert frigate.events_topic(prefix) == f"{prefix}/events"
    assert frigate.tracked_object_topic(prefix) == f"{prefix}/tracked_object_update"
    assert frigate.count_topic(prefix, "lobby-1", "person") == f"{prefix}/lobby-1/person"
    assert ha.birth_topic(NAMING) == "homeassistant/status"
