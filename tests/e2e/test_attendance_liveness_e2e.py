"""Issue 17, item 1, through the real broker: edge face events -> Mosquitto -> hub ingest ->
attendance. At an attendance camera only a ``live`` face checks in (``unchecked`` and ``spoof``
do not); a later ``spoof`` verdict of the same track (same event_id) retracts the check-in it
made, audited, and the supervisor is e-mailed; with no attendance cameras configured nothing
is marked at all.

Real Mosquitto, the real hub (ingest, API, in-process flow hooks) on SQLite and a real SMTP
server. The edge is played by an MQTT client publishing the edge's contract messages. The
edge-side half (a printed photo in front of a camera never yields ``live``) is
tests/integration/test_liveness_clips.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from contracts.ids import uuid7
from contracts.messages import (
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
from hub.tables import AttendanceLog, AuditLog
from innsight.broker import MosquittoBroker
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
from testkit.prefect import HOUSEKEEPER, LATE_EMPLOYEE, SUPERVISOR_EMAIL, seed_hotel
from testkit.smtp import SmtpSink, smtp_sink

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ENTRANCE = "staff-entrance"
LOBBY = "lobby-1"


def face(
    seq: int,
    person_id: str | None,
    started_at: datetime,
    liveness: LivenessVerdict,
    *,
    camera: str = ENTRANCE,
    event_id: uuid.UUID | None = None,
    phase: Phase = Phase.NEW,
    score: float = 0.97,
) -> EventEnvelope:
    return EventEnvelope(
        device_id=DEVICE,
        seq=seq,
        event_id=event_id or uuid7(),
        phase=phase,
        camera_id=camera,
        kind=EventKind.FACE,
        started_at=started_at,
        payload=FacePayload(
            person_id=person_id,
            score=score,
            liveness=liveness,
            liveness_score=0.9 if liveness is LivenessVerdict.LIVE else 0.1,
            bbox=BBox(x=10, y=20, w=80, h=80),
            track_id=seq,
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


def _hub(
    tmp_path: Path, broker: MosquittoBroker, smtp: SmtpSink, cameras: list[str]
) -> HubSettings:
    settings = with_secrets(
        hub_settings(
            tmp_path / "hub",
            broker,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            attendance_cameras=cameras,
            timezone="UTC",
        )
    )
    asyncio.run(seed_hotel(settings, shift_start="08:00"))
    return settings


def _settled(edge: Any, seq: int, at: datetime) -> None:
    """Waits until every earlier message's attendance step ran: a later message at a camera
    no attendance counts is acked only after the batches before it were processed."""
    edge.publish_event(face(seq, HOUSEKEEPER, at, LivenessVerdict.LIVE, camera=LOBBY))
    wait_for_acked(edge, {seq})
    time.sleep(0.5)


@pytest.fixture
def hub(tmp_path: Path, mosquitto: MosquittoBroker, smtp: SmtpSink) -> Iterator[RunningHub]:
    with running_hub(_hub(tmp_path, mosquitto, smtp, [ENTRANCE])) as running:
        yield running


def test_only_live_faces_check_in_and_a_later_spoof_retracts(
    hub: RunningHub, mosquitto: MosquittoBroker, smtp: SmtpSink
) -> None:
    today = datetime.now(UTC).date()
    at = datetime(today.year, today.month, today.day, 7, 55, tzinfo=UTC)
    with mqtt_probe(mosquitto) as edge:
        edge.subscribe(acks_topic())
        # a face whose liveness was not checked and a printed photo: no attendance
        edge.publish_event(face(1, LATE_EMPLOYEE, at, LivenessVerdict.UNCHECKED))
        edge.publish_event(face(2, HOUSEKEEPER, at, LivenessVerdict.SPOOF))
        wait_for_acked(edge, {1, 2})
        _settled(edge, 3, at)
        assert rows(hub.settings, AttendanceLog) == []

        # a live face checks in
        track = uuid7()
        edge.publish_event(face(4, LATE_EMPLOYEE, at, LivenessVerdict.LIVE, event_id=track))
        wait_for_acked(edge, {4})
        logs = wait_until(lambda: rows(hub.settings, AttendanceLog) or None, what="check-in")
        assert [(x.employee_id, x.camera_id, str(x.event_id)) for x in logs] == [
            (LATE_EMPLOYEE, ENTRANCE, str(track))
        ]

        # the same track, later found to be a spoof: the check-in is taken back
        edge.publish_event(
            face(
                5,
                LATE_EMPLOYEE,
                at,
                LivenessVerdict.SPOOF,
                event_id=track,
                phase=Phase.UPDATE,
                score=0.99,
            )
        )
        wait_for_acked(edge, {5})
        wait_until(lambda: rows(hub.settings, AttendanceLog) == [] or None, what="the retraction")
        # a redelivery of the live message does not check the spoof in again
        edge.publish_event(face(4, LATE_EMPLOYEE, at, LivenessVerdict.LIVE, event_id=track))
        wait_for_acked(edge, {4})
        _settled(edge, 6, at)
        assert rows(hub.settings, AttendanceLog) == []

    (audit,) = [a for a in rows(hub.settings, AuditLog) if a.action == "attendance.retract"]
    assert audit.actor == "system:liveness"
    assert audit.detail["event_id"] == str(track)
    assert audit.detail["employee_id"] == LATE_EMPLOYEE
    assert audit.hash is not None  # chained (hub/audit_chain.py)
    mail = smtp.wait_for(1, timeout_s=30)[0]
    assert mail.rcpt_tos == [SUPERVISOR_EMAIL]
    assert mail.message["X-Innsight-Kind"] == "attendance_retracted"
    assert "Lan Tran" in mail.subject + mail.text()


def test_a_lower_scoring_spoof_update_retracts_too(
    hub: RunningHub, mosquitto: MosquittoBroker
) -> None:
    today = datetime.now(UTC).date()
    at = datetime(today.year, today.month, today.day, 7, 55, tzinfo=UTC)
    with mqtt_probe(mosquitto) as edge:
        edge.subscribe(acks_topic())
        track = uuid7()
        edge.publish_event(face(1, LATE_EMPLOYEE, at, LivenessVerdict.LIVE, event_id=track))
        wait_for_acked(edge, {1})
        wait_until(lambda: rows(hub.settings, AttendanceLog) or None, what="check-in")
        spoof = face(
            2, None, at, LivenessVerdict.SPOOF, event_id=track, phase=Phase.UPDATE, score=0.5
        )
        edge.publish_event(spoof)
        wait_for_acked(edge, {2})
        _settled(edge, 3, at)
        assert rows(hub.settings, AttendanceLog) == []


def test_no_attendance_cameras_means_no_face_attendance(
    tmp_path: Path, mosquitto: MosquittoBroker, smtp: SmtpSink
) -> None:
    settings = _hub(tmp_path, mosquitto, smtp, [])
    today = datetime.now(UTC).date()
    at = datetime(today.year, today.month, today.day, 7, 55, tzinfo=UTC)
    with running_hub(settings) as hub, mqtt_probe(mosquitto) as edge:
        edge.subscribe(acks_topic())
        edge.publish_event(face(1, LATE_EMPLOYEE, at, LivenessVerdict.LIVE))
        edge.publish_event(face(2, HOUSEKEEPER, at, LivenessVerdict.LIVE, camera=LOBBY))
        wait_for_acked(edge, {1, 2})
        _settled(edge, 3, at)
        assert rows(hub.settings, AttendanceLog) == []
