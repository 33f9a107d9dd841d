"""The wire contract: golden fixtures round-trip, and every way a message is wrong is named."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from pydantic import ValidationError

from contracts.errors import ContractError, ContractErrorCode
from contracts.ids import is_valid_id, uuid7, uuid7_unix_ms
from contracts.messages import (
    MAX_EVENT_BYTES,
    AckMessage,
    AnomalyPayload,
    AnomalyType,
    EventEnvelope,
    EventKind,
    FacePayload,
    GalleryVersion,
    Heartbeat,
    Phase,
    parse_event,
    seqs_to_ranges,
)
from contracts.topics import (
    Channel,
    Topic,
    device_topic,
    event_topic,
    parse_topic,
    site_subscription,
)
from tests.conftest import load_golden

EVENT_FIXTURES = [
    "event_face_new.json",
    "event_face_end_unknown.json",
    "event_anomaly_fire.json",
    "event_camera_lost.json",
]


@pytest.mark.parametrize("name", EVENT_FIXTURES)
def test_golden_events_parse_and_round_trip(name: str) -> None:
    raw = json.dumps(load_golden(name)).encode()
    envelope = parse_event(raw)
    again = parse_event(envelope.to_json_bytes())
    assert again == envelope
    assert json.loads(envelope.to_json_bytes())["schema"] == 1


def test_golden_face_event_fields() -> None:
    envelope = parse_event(json.dumps(load_golden("event_face_new.json")).encode())
    assert envelope.kind is EventKind.FACE
    assert isinstance(envelope.payload, FacePayload)
    assert envelope.payload.person_id == "emp-0042"
    assert envelope.event_id == UUID("019a6b8e-3c2d-7a10-8b4e-2f1c9d0e7a55")
    assert envelope.started_at.tzinfo is not None


def test_golden_unknown_face_has_inline_snapshot() -> None:
    envelope = parse_event(json.dumps(load_golden("event_face_end_unknown.json")).encode())
    assert isinstance(envelope.payload, FacePayload)
    assert envelope.payload.person_id is None
    assert envelope.snapshot is not None
    jpeg = envelope.snapshot.jpeg_bytes()
    assert jpeg is not None
    assert jpeg.startswith(b"\xff\xd8")


def _raw(**changes: object) -> bytes:
    data = load_golden("event_face_new.json")
    data.update(changes)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", ContractErrorCode.BAD_JSON),
        (b"\xff\xfe", ContractErrorCode.BAD_JSON),
        (b"[1, 2]", ContractErrorCode.INVALID),
        (_raw(schema=2), ContractErrorCode.UNSUPPORTED_SCHEMA),
        (_raw(kind="sneeze"), ContractErrorCode.UNKNOWN_KIND),
        (_raw(seq=0), ContractErrorCode.OUT_OF_RANGE),
        (_raw(kind="anomaly"), ContractErrorCode.INVALID),
        (_raw(phase="end"), ContractErrorCode.INVALID),
        (_raw(started_at="2026-11-23T07:58:12"), ContractErrorCode.BAD_TIME),
        (_raw(device_id="edge/+/#"), ContractErrorCode.INVALID),
        (_raw(extra_field=1), ContractErrorCode.INVALID),
        (b"x" * (MAX_EVENT_BYTES + 1), ContractErrorCode.OVERSIZE),
    ],
)
def test_bad_messages_are_refused_with_a_reason(raw: bytes, code: ContractErrorCode) -> None:
    with pytest.raises(ContractError) as info:
        parse_event(raw)
    assert info.value.code is code
    assert info.value.detail


def test_oversize_inline_snapshot_is_refused() -> None:
    big = "A" * (200 * 1024)
    with pytest.raises(ContractError) as info:
        parse_event(_raw(snapshot={"content_type": "image/jpeg", "jpeg_b64": big}))
    assert info.value.code is ContractErrorCode.TOO_LONG
    assert "by ref" in info.value.detail


def test_ended_before_started_is_refused() -> None:
    start = datetime(2026, 11, 23, 8, tzinfo=UTC)
    with pytest.raises(ValidationError, match="before started_at"):
        EventEnvelope(
            device_id="d1",
            seq=1,
            event_id=uuid7(),
            phase=Phase.END,
            camera_id="c1",
            kind=EventKind.ANOMALY,
            started_at=start,
            ended_at=start - timedelta(seconds=1),
            payload=AnomalyPayload(type=AnomalyType.SMOKE, score=0.5),
        )


def test_envelopes_are_frozen() -> None:
    envelope = parse_event(_raw())
    with pytest.raises(ValidationError):
        envelope.seq = 2  # type: ignore[misc]


def test_ack_golden_and_ranges() -> None:
    ack = AckMessage.model_validate(load_golden("ack.json"))
    assert ack.seqs() == [41, 42, 43, 44, 47]
    assert seqs_to_ranges([47, 41, 42, 44, 43, 42]) == [(41, 44), (47, 47)]
    assert seqs_to_ranges([]) == []
    with pytest.raises(ValidationError):
        AckMessage(device_id="d", ranges=[(5, 3)])
    with pytest.raises(ValidationError):
        AckMessage(device_id="d", ranges=[(1, 5), (4, 9)])


def test_gallery_version_and_heartbeat_golden() -> None:
    gv = GalleryVersion.model_validate(load_golden("gallery_version.json"))
    assert gv.version == 3
    hb = Heartbeat.model_validate(load_golden("heartbeat.json"))
    assert hb.cameras["lobby-entrance"].dropped_frames == 3
    assert Heartbeat.model_validate_json(hb.to_json_bytes()) == hb


def test_topics_build_and_parse() -> None:
    assert device_topic("h1", "edge-1", Channel.STATUS) == "innsight/h1/edge-1/status"
    assert (
        device_topic("h1", "edge-1", Channel.GALLERY_VERSION)
        == "innsight/h1/edge-1/gallery/version"
    )
    assert event_topic("h1", "edge-1", EventKind.FACE) == "innsight/h1/edge-1/events/face"
    assert parse_topic("innsight/h1/edge-1/events/anomaly") == Topic(
        "h1", "edge-1", Channel.EVENTS, EventKind.ANOMALY
    )
    assert parse_topic("innsight/h1/edge-1/gallery/version").channel is Channel.GALLERY_VERSION
    assert site_subscription("h1", Channel.EVENTS) == "innsight/h1/+/events/+"
    for channel in Channel:
        if channel is not Channel.EVENTS:
            topic = device_topic("h1", "edge-1", channel)
            assert str(parse_topic(topic)) == topic


@pytest.mark.parametrize(
    ("topic", "code"),
    [
        ("other/h1/edge-1/status", ContractErrorCode.BAD_TOPIC),
        ("innsight/h1/edge-1", ContractErrorCode.BAD_TOPIC),
        ("innsight/h1/edge-1/events/sneeze", ContractErrorCode.UNKNOWN_KIND),
        ("innsight/h1/edge-1/whatever", ContractErrorCode.BAD_TOPIC),
        ("innsight/h 1/edge-1/status", ContractErrorCode.BAD_TOPIC),
    ],
)
def test_bad_topics(topic: str, code: ContractErrorCode) -> None:
    with pytest.raises(ContractError) as info:
        parse_topic(topic)
    assert info.value.code is code


def test_ids_refuse_wildcards() -> None:
    with pytest.raises(ContractError):
        device_topic("h1", "edge/#", Channel.STATUS)
    assert is_valid_id("edge-lobby_01.a")
    assert not is_valid_id("")
    assert not is_valid_id("a+b")


def test_uuid7_is_time_ordered_and_versioned() -> None:
    first = uuid7(1_700_000_000_000)
    second = uuid7(1_700_000_000_001)
    assert first.version == 7
    assert first.variant == "specified in RFC 4122"
    assert first < second
    assert uuid7_unix_ms(first) == 1_700_000_000_000
    assert len({uuid7() for _ in range(1000)}) == 1000
