"""Flow work off the ingest's commit-and-ack path (issue 21): the ingest commits an
``event_flow_work`` row with each event the flows must see; the queue hands them over in pages,
coalesces hazard alerts per hazard and zone, and deletes a row only once its work is done."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from contracts.ids import uuid7
from contracts.messages import (
    AnomalyPayload,
    AnomalyType,
    BBox,
    CameraPayload,
    CameraState,
    EventEnvelope,
    EventKind,
    Phase,
)
from hub.db import create_engine, create_session_factory, init_db
from hub.flows.event_work import EventWorkQueue, coalesce_hazards
from hub.ingest import MqttIngest
from hub.ingest.mqtt import subscriptions
from hub.ingest.writer import lock_key, needs_flows
from hub.settings import HubSettings
from hub.storage import LocalFolderStore
from hub.tables import EventFlowWork
from testkit.hub import BASE_TIME, make_event

SITE = "test"
DEVICE = "edge-1"


def anomaly(
    seq: int, zone: str, *, phase: Phase = Phase.NEW, event_id: Any = None
) -> EventEnvelope:
    return EventEnvelope(
        device_id=DEVICE,
        seq=seq,
        event_id=event_id or uuid7(),
        phase=phase,
        camera_id="kitchen-1",
        kind=EventKind.ANOMALY,
        started_at=BASE_TIME + timedelta(seconds=seq),
        payload=AnomalyPayload(
            type=AnomalyType.FIRE, score=0.9, bbox=BBox(x=1, y=1, w=9, h=9), zone=zone
        ),
    )


def camera(seq: int, state: CameraState, *, event_id: Any = None) -> EventEnvelope:
    """The edge's report of camera ``kitchen-1`` lost (``new``) or back (``end``)."""
    restored = state is CameraState.RESTORED
    started = BASE_TIME + timedelta(seconds=1)
    return EventEnvelope(
        device_id=DEVICE,
        seq=seq,
        event_id=event_id or uuid7(),
        phase=Phase.END if restored else Phase.NEW,
        camera_id="kitchen-1",
        kind=EventKind.CAMERA,
        started_at=started,
        ended_at=started + timedelta(seconds=seq) if restored else None,
        payload=CameraPayload(state=state, reason="no frames for 10 s"),
    )


def topic(envelope: EventEnvelope) -> str:
    return f"innsight/{SITE}/{DEVICE}/events/{envelope.kind.value}"


def test_pure_parts() -> None:
    rows = [
        {
            "event_id": "a",
            "kind": "anomaly",
            "payload": {"type": "fire", "zone": "z1"},
            "camera_id": "c",
            "started_at": BASE_TIME + timedelta(seconds=2),
        },
        {
            "event_id": "b",
            "kind": "anomaly",
            "payload": {"type": "fire", "zone": "z1"},
            "camera_id": "c",
            "started_at": BASE_TIME,
        },
        {
            "event_id": "c",
            "kind": "anomaly",
            "payload": {"type": "smoke", "zone": "z1"},
            "camera_id": "c",
            "started_at": BASE_TIME,
        },
        {
            "event_id": "d",
            "kind": "anomaly",
            "payload": {"type": "fire", "zone": "z2"},
            "camera_id": "c",
            "started_at": BASE_TIME,
        },
        {"event_id": "e", "kind": "face", "payload": {}, "camera_id": "c", "started_at": BASE_TIME},
        {
            "event_id": "f",
            "kind": "camera",
            "payload": {"kind": "camera", "state": "lost"},
            "camera_id": "c",
            "started_at": BASE_TIME,
        },
    ]
    # one per (hazard, zone), the earliest; none where an alert is still open; a lost camera is
    # an alert of its own, keyed by the camera
    assert coalesce_hazards(rows, set()) == ["b", "c", "d", "f"]
    assert coalesce_hazards(rows, {("fire", "z2"), ("camera", "c")}) == ["b", "c"]
    assert needs_flows({"kind": "face", "person_id": "emp-1"}, created=False)
    assert needs_flows({"kind": "face", "person_id": None, "liveness": "spoof"}, created=False)
    assert not needs_flows({"kind": "face", "person_id": None, "liveness": "live"}, created=True)
    assert needs_flows({"kind": "anomaly"}, created=True)
    assert not needs_flows({"kind": "anomaly"}, created=False)  # an update does not re-alert
    lost = {"kind": "camera", "payload": {"state": "lost"}}
    assert needs_flows(lost, created=True)
    assert not needs_flows(lost, created=False)  # its `restored` later: no second alert
    event_id = uuid7()
    assert lock_key(event_id) == lock_key(event_id)
    assert -(2**63) <= lock_key(event_id) < 2**63
    assert (
        subscriptions(SITE, "innsight-ingest")[0]
        == f"$share/innsight-ingest/innsight/{SITE}/+/events/+"
    )
    assert subscriptions(SITE, None)[0] == f"innsight/{SITE}/+/events/+"


def test_work_rows_are_committed_with_events_and_deleted_only_when_done(tmp_path: Path) -> None:
    async def main() -> None:
        settings = HubSettings(data_dir=tmp_path, site=SITE, mqtt_enabled=False)
        engine = create_engine(settings.database_url.get_secret_value())
        await init_db(engine, backup=False)
        sessions = create_session_factory(engine)
        ingest = MqttIngest(settings, sessions, LocalFolderStore(tmp_path / "objects"))
        first = anomaly(1, "z1")
        messages = [
            first,
            anomaly(2, "z1", phase=Phase.UPDATE, event_id=first.event_id),  # same appearance
            anomaly(3, "z1"),  # same hazard and zone: coalesced
            anomaly(4, "z2"),
            make_event(5, device=DEVICE, person_id="emp-1"),  # attendance
            make_event(6, device=DEVICE),  # unknown face: nothing for the flows
            camera(7, CameraState.LOST),  # a lost camera: an alert
        ]
        messages.append(camera(8, CameraState.RESTORED, event_id=messages[-1].event_id))
        await ingest.process([(topic(m), m.to_json_bytes()) for m in messages])
        await ingest.process([(topic(first), first.to_json_bytes())])  # redelivery: no new row

        async def work_rows() -> int:
            async with sessions() as session:
                conn = await session.connection()
                return int(
                    (
                        await conn.execute(select(func.count()).select_from(EventFlowWork))
                    ).scalar_one()
                )

        assert await work_rows() == 5  # 3 new anomalies + 1 recognised face + 1 camera lost

        seen: list[tuple[list[dict[str, Any]], list[str]]] = []

        async def failing(events: list[dict[str, Any]], hazards: list[str]) -> None:
            raise RuntimeError("the flows fell over")

        with pytest.raises(RuntimeError):
            await EventWorkQueue(sessions, failing).run_once()
        assert await work_rows() == 5  # nothing lost: the rows stay for the next try

        async def recording(events: list[dict[str, Any]], hazards: list[str]) -> None:
            seen.append((events, hazards))

        assert await EventWorkQueue(sessions, recording).run_once() == 5
        assert await work_rows() == 0
        ((events, hazards),) = seen
        assert {str(e["event_id"]) for e in events} == {
            str(first.event_id),
            str(messages[2].event_id),
            str(messages[3].event_id),
            str(messages[4].event_id),
            str(messages[6].event_id),
        }
        assert sorted(hazards) == sorted(
            [str(first.event_id), str(messages[3].event_id), str(messages[6].event_id)]
        )
        await engine.dispose()

    asyncio.run(main())
