"""Edge event -> Mosquitto -> hub ingest -> attendance -> Prefect notification flow -> SMTP, and
a room-ready analysis -> rooms.status -> the waiting guest's message (issue 8's "must show").

Real Mosquitto, the real hub (ingest, API) on SQLite, Prefect's local mode (one harness per test
session) and a real SMTP server (aiosmtpd) that captures the e-mails. The edge is played by an
MQTT client publishing the edge's own contract messages (a recognised, live face at the staff
entrance)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from contracts.ids import uuid7
from contracts.messages import (
    AnomalyPayload,
    AnomalyType,
    BBox,
    EventEnvelope,
    EventKind,
    FacePayload,
    LivenessVerdict,
    Phase,
)
from hub.auth.keys import with_secrets
from hub.crypto import PiiCipher, bind_pii_cipher
from hub.db import create_engine, create_session_factory
from hub.settings import HubSettings
from hub.tables import (
    AttendanceLog,
    AttendanceMark,
    HazardAlert,
    NotificationLog,
    Room,
    WorkflowLog,
)
from innsight.broker import MosquittoBroker
from testkit import prefect as prefect_support  # before anything imports Prefect
from testkit.hub import (
    DEVICE,
    RunningHub,
    acks_topic,
    hub_settings,
    mqtt_probe,
    running_hub,
    wait_for_acked,
    wait_until,
)
from testkit.prefect import (
    GUEST_EMAIL,
    LATE_EMPLOYEE,
    READY_ROOM,
    SUPERVISOR_EMAIL,
    prefect_harness,
    seed_hotel,
)
from testkit.smtp import SmtpSink, smtp_sink

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(240),
    pytest.mark.usefixtures("prefect_harness"),
    pytest.mark.filterwarnings(
        r"ignore:Exception ignored in. <socket\.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]
__all__ = ["prefect_harness"]

ENTRANCE = "staff-entrance"
MANAGER_EMAIL = "manager@hotel.test"


def face_event(
    seq: int,
    person_id: str,
    started_at: datetime,
    *,
    liveness: LivenessVerdict = LivenessVerdict.LIVE,
    camera: str = ENTRANCE,
) -> EventEnvelope:
    return EventEnvelope(
        device_id=DEVICE,
        seq=seq,
        event_id=uuid7(),
        phase=Phase.NEW,
        camera_id=camera,
        kind=EventKind.FACE,
        started_at=started_at,
        payload=FacePayload(
            person_id=person_id,
            score=0.97,
            liveness=liveness,
            liveness_score=0.9 if liveness is LivenessVerdict.LIVE else 0.1,
            bbox=BBox(x=10, y=20, w=80, h=80),
            track_id=3,
            model_id="dlib-resnet-v1",
        ),
    )


async def _rows(settings: HubSettings, model: Any) -> list[Any]:
    engine = create_engine(settings.database_url.get_secret_value())
    bind_pii_cipher(engine, PiiCipher.from_secret(settings.pii_key))
    try:
        async with create_session_factory(engine)() as session:
            return list((await session.exec(select(model))).all())
    finally:
        await engine.dispose()


def rows(settings: HubSettings, model: Any) -> list[Any]:
    return asyncio.run(_rows(settings, model))


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with smtp_sink() as sink:
        yield sink


@pytest.fixture
def hub(tmp_path: Path, mosquitto: MosquittoBroker, smtp: SmtpSink) -> Iterator[RunningHub]:
    settings = with_secrets(
        hub_settings(
            tmp_path / "hub",
            mosquitto,
            flows_enabled=True,
            flows_poll_interval_s=0.5,
            flows_default_schedules=False,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            attendance_cameras=[ENTRANCE],
            attendance_notify_email=MANAGER_EMAIL,
            timezone="UTC",
        )
    )
    asyncio.run(seed_hotel(settings, shift_start="08:00"))
    with running_hub(settings) as running:
        runner = running.app.state.hub.flow_runner
        wait_until(lambda: runner.ready or None, what="Prefect deployments", timeout_s=60)
        yield running
    # collect the sockets Prefect's clients leave behind while this module's warning filter
    # applies, not during some later test
    gc.collect()


def test_late_face_event_checks_in_and_emails_the_supervisor(
    hub: RunningHub, mosquitto: MosquittoBroker, smtp: SmtpSink
) -> None:
    today = datetime.now(UTC).date()
    arrived = datetime(today.year, today.month, today.day, 8, 17, 30, tzinfo=UTC)
    late = face_event(1, LATE_EMPLOYEE, arrived)
    spoof = face_event(2, "hk-1", arrived, liveness=LivenessVerdict.SPOOF)
    elsewhere = face_event(3, "hk-1", arrived, camera="lobby-1")
    with mqtt_probe(mosquitto) as edge:
        edge.subscribe(acks_topic())
        for envelope in (late, spoof, elsewhere):
            edge.publish_event(envelope)
        wait_for_acked(edge, {1, 2, 3})
        # the broker redelivers the first message: no second row, no second e-mail
        edge.publish_event(late)
        wait_for_acked(edge, {1})

    logs = wait_until(lambda: rows(hub.settings, AttendanceLog) or None, what="attendance row")
    assert len(logs) == 1  # the spoofed face and the lobby camera do not count
    log = logs[0]
    assert log.employee_id == LATE_EMPLOYEE
    assert log.check_in_at == arrived
    assert log.check_out_at is None
    assert log.status == "late"
    assert log.method == "face"
    assert log.camera_id == ENTRANCE
    assert str(log.event_id) == str(late.event_id)
    marks = rows(hub.settings, AttendanceMark)
    assert [m.minutes_late for m in marks] == [18]  # 17.5 min after 08:00, rounded up

    mail = smtp.wait_for(1, timeout_s=60)[0]
    assert mail.rcpt_tos == [SUPERVISOR_EMAIL]
    assert "Lan Tran" in mail.subject + mail.text()
    assert "18" in mail.text()
    assert mail.message["X-Innsight-Kind"] == "late_arrival"

    # the notification ran as a Prefect flow run, mirrored in workflow_logs
    def finished() -> list[WorkflowLog] | None:
        done = [
            w
            for w in rows(hub.settings, WorkflowLog)
            if w.flow_name == "late_arrival_notification" and w.status == "completed"
        ]
        return done or None

    run = wait_until(finished, what="the notification flow run", timeout_s=30)[0]
    status = hub.http.get(f"/api/v1/prefect/workflows/status/{run.run_id}").json()
    assert status["status"] == "completed"
    assert status["flow_run_id"] == f"fr_{str(run.run_id).replace('-', '')}"
    # e-mail to the shift's supervisor, and the staff apps' supervisor topic over MQTT
    assert status["result"]["sent"] == ["email:employee:sup-1", "mqtt:role:supervisor"]

    # a later sighting at the entrance (leaving) is the check-out, on the same row
    with mqtt_probe(mosquitto, "probe-2") as edge:
        edge.subscribe(acks_topic())
        edge.publish_event(face_event(4, LATE_EMPLOYEE, arrived + timedelta(hours=8)))
        wait_for_acked(edge, {4})
    logs = wait_until(
        lambda: [r for r in rows(hub.settings, AttendanceLog) if r.check_out_at] or None,
        what="check-out",
    )
    assert len(rows(hub.settings, AttendanceLog)) == 1
    assert logs[0].check_out_at == arrived + timedelta(hours=8)
    assert len(smtp.messages) == 1
    assert prefect_support.starts == 1


def test_room_ready_updates_the_room_and_messages_the_waiting_guest(
    hub: RunningHub, smtp: SmtpSink
) -> None:
    # the seed's room status event: housekeeping reports the room clean
    cleaned = {
        "room_number": READY_ROOM,
        "old_status": "dirty",
        "new_status": "clean",
        "updated_by": "hk-1",
        "timestamp": datetime.now(UTC).isoformat(),
    }
    response = hub.http.post("/api/v1/prefect/events/room_status", json=cleaned)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["previous"] == "cleaning"
    assert body["status"] == "available"
    assert body["guest_notified"] is True
    room = next(r for r in rows(hub.settings, Room) if r.room_number == READY_ROOM)
    assert room.status == "available"

    mail = smtp.wait_for(1, timeout_s=60)[0]
    assert mail.rcpt_tos == [GUEST_EMAIL]
    assert READY_ROOM in mail.subject + mail.text()
    assert "Mai Pham" in mail.text()
    # the channels log their sends independently: the e-mail can land before the MQTT row
    expected = [("room_ready", "email", True), ("room_ready", "mqtt", True)]

    def sent() -> list[tuple[str, str, bool]] | None:
        got = sorted((n.kind, n.channel, n.ok) for n in rows(hub.settings, NotificationLog))
        return got if len(got) >= len(expected) else None

    assert wait_until(sent, what="both notification log rows", timeout_s=30) == expected
    logs = rows(hub.settings, NotificationLog)
    assert GUEST_EMAIL not in repr([n.recipient for n in logs])  # never the address

    unknown = hub.http.post(
        "/api/v1/prefect/events/room_status", json=cleaned | {"room_number": "999"}
    )
    assert unknown.status_code == 404


def test_fire_event_alerts_until_acknowledged(
    hub: RunningHub, mosquitto: MosquittoBroker, smtp: SmtpSink
) -> None:
    fire = EventEnvelope(
        device_id=DEVICE,
        seq=1,
        event_id=uuid7(),
        phase=Phase.NEW,
        camera_id="kitchen-cam",
        kind=EventKind.ANOMALY,
        started_at=datetime.now(UTC),
        payload=AnomalyPayload(type=AnomalyType.FIRE, score=0.91, zone="kitchen"),
    )
    with mqtt_probe(mosquitto) as edge:
        edge.subscribe(acks_topic())
        edge.publish_event(fire)
        wait_for_acked(edge, {1})
    alerts = wait_until(lambda: rows(hub.settings, HazardAlert) or None, what="hazard alert")
    assert [(a.hazard, a.location, str(a.event_id)) for a in alerts] == [
        ("fire", "kitchen", str(fire.event_id))
    ]
    mail = smtp.wait_for(1, timeout_s=60)[0]
    assert mail.rcpt_tos == [MANAGER_EMAIL]
    assert "kitchen" in mail.subject + mail.text()
    listed = hub.http.get("/api/v1/prefect/alerts").json()["items"]
    assert [a["id"] for a in listed] == [alerts[0].id]
    acked = hub.http.post(f"/api/v1/prefect/alerts/{alerts[0].id}/acknowledge")
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_by"] == "local:local-admin"
    assert hub.http.get("/api/v1/prefect/alerts").json()["items"] == []
    assert hub.http.post("/api/v1/prefect/alerts/999/acknowledge").status_code == 404
