"""Fuzzing the ingest (issue 14), on SQLite and PostgreSQL.

- ``test_fuzz_through_the_broker``: a few thousand generated hostile messages interleaved with
  valid events, through a real Mosquitto into the running hub. The hub stays up, every valid
  event is stored once, every hostile message is refused with the code the contract gives it (or
  stored, when it is in fact valid), and every message whose seq can be read is acked, so
  nothing is re-sent forever.
- ``test_generated_envelopes_store_and_read_back``: property-based (hypothesis): whatever the
  envelope, parse -> store -> read back never raises; what the contract accepts is stored and
  reads back equal, what it refuses is a dead letter with its code. The database never refuses
  anything the contract accepted.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from contracts.errors import ContractError
from contracts.ids import uuid7
from contracts.limits import INT64_MAX
from contracts.messages import (
    AckMessage,
    DeviceStatus,
    EventEnvelope,
    parse_event,
    parse_heartbeat,
    peek_seq,
)
from hub.db import create_engine, create_session_factory, init_db
from hub.ingest import MqttIngest
from hub.storage import LocalFolderStore
from hub.tables import DeadLetter, Event, EventPublic
from innsight.broker import MosquittoBroker
from testkit.hub import (
    DEVICE,
    SITE,
    MqttProbe,
    acks_topic,
    hub_settings,
    jpeg_b64,
    make_event,
    mqtt_probe,
    running_hub,
    wait_until,
)
from testkit.postgres import PostgresServer

pytestmark = pytest.mark.integration

VALID = 200
HOSTILE = 2000
EVENTS_TOPIC = f"innsight/{SITE}/{DEVICE}/events/face"


def _admin_dsn(async_url: str) -> str:
    return make_url(async_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"hub_fuzz_{uuid.uuid4().hex[:12]}"
    admin = _admin_dsn(server.async_url)
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server.async_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# ---------------------------------------------------------------------------------------------
# Hostile messages
# ---------------------------------------------------------------------------------------------

_TEXTS = ["x\u0000y", "\ud800", "\udfff tail", "é" * 200, "m" * 129, "", " ", "a\nb", "🙂" * 40]
_TIMES = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "1969-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "2026-11-22T08:00:00",
    "2026-13-01T00:00:00Z",
    "not a time",
    "2026-11-22T08:00:00+23:59",
    "2099-06-01T00:00:00+05:30",  # valid
]
_NUMBERS = [2**63, 2**64 + 1, -1, 0, -(2**63), 1.5, "7", True, None, [], {}, 10**30]


@dataclass(frozen=True)
class Message:
    topic: str
    raw: bytes


def _valid_dict(seq: int, rng: random.Random) -> dict[str, Any]:
    envelope = make_event(seq, score=round(rng.random(), 4), snapshot_seed=None)
    return envelope.model_dump(mode="json", by_alias=True)


def _mutations(rng: random.Random) -> list[Callable[[dict[str, Any], int], bytes]]:
    def dumps(data: object) -> bytes:
        return json.dumps(data).encode()

    def field(name: str, values: list[Any]) -> Callable[[dict[str, Any], int], bytes]:
        return lambda d, _s: dumps({**d, name: rng.choice(values)})

    def payload_field(name: str, values: list[Any]) -> Callable[[dict[str, Any], int], bytes]:
        return lambda d, _s: dumps({**d, "payload": {**d["payload"], name: rng.choice(values)}})

    def deep(d: dict[str, Any], _s: int) -> bytes:
        depth = rng.choice([9, 50, 5000])
        return dumps({**d, "extra": 1})[:-1] + b', "n": ' + b"[" * depth + b"]" * depth + b"}"

    def long_number(d: dict[str, Any], _s: int) -> bytes:
        return dumps(d).replace(b'"seq": ', b'"seq": ' + b"9" * rng.choice([41, 300, 5001]), 1)

    def non_finite(d: dict[str, Any], _s: int) -> bytes:
        word = rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e999"])
        return dumps({**d, "payload": {**d["payload"], "score": 0.123}}).replace(b"0.123", word)

    def garbage(_d: dict[str, Any], _s: int) -> bytes:
        return rng.randbytes(rng.randint(0, 300))

    def truncated(d: dict[str, Any], _s: int) -> bytes:
        raw = dumps(d)
        return raw[: rng.randint(0, len(raw) - 1)]

    def not_object(_d: dict[str, Any], _s: int) -> bytes:
        return rng.choice([b"[]", b"1", b'"face"', b"null", b"true"])

    def bad_snapshot(d: dict[str, Any], _s: int) -> bytes:
        snapshot = rng.choice(
            [
                {"jpeg_b64": "!!not base64!!"},
                {"ref": "../../etc/passwd"},
                {"ref": "/abs"},
                {"jpeg_b64": "QUJD", "ref": "a.jpg"},
                {"jpeg_b64": "A" * 200_000},
                {"ref": "snapshots/ok.jpg"},  # valid
                {"jpeg_b64": jpeg_b64(1)},  # valid
            ]
        )
        return dumps({**d, "snapshot": snapshot})

    def extra_key(d: dict[str, Any], _s: int) -> bytes:
        return dumps({**d, rng.choice(["x", "\u0000", "\ud800", "seq2"]): 1})

    def oversize(d: dict[str, Any], _s: int) -> bytes:
        return dumps({**d, "pad": "x" * 270_000})

    return [
        field("seq", _NUMBERS),
        field("schema", [2, 0, "1", True, None]),
        field("kind", ["smell", 1, None, "anomaly", "camera"]),
        field("phase", ["begin", None, 3, "end"]),
        field("device_id", ["edge-2", "a/b", "", "\u0000", "e" * 65]),
        field("camera_id", [*_TEXTS, "cam#1"]),
        field("event_id", ["not-a-uuid", 5, "", "00000000-0000-0000-0000-00000000000g"]),
        lambda d, _s: json.dumps({**d, "event_id": str(uuid.uuid4())}).encode(),  # valid
        field("started_at", _TIMES),
        field("ended_at", _TIMES),
        payload_field("model_id", _TEXTS),
        payload_field("person_id", [*_TEXTS, "emp-1"]),
        payload_field("score", [-0.1, 1.01, "0.5", None, 1, 0]),
        payload_field("track_id", _NUMBERS),
        payload_field("frames", _NUMBERS),
        payload_field("gallery_version", [2**31, 2**31 - 1, -1, 2**63]),
        payload_field(
            "bbox", [{"x": -1, "y": 0, "w": 1, "h": 1}, {"x": 0, "y": 0, "w": 0, "h": 1}]
        ),
        deep,
        long_number,
        non_finite,
        garbage,
        truncated,
        not_object,
        bad_snapshot,
        extra_key,
        oversize,
    ]


def hostile_messages(rng: random.Random, count: int, first_seq: int) -> list[Message]:
    """``count`` hostile messages; each starts from a valid event with its own seq (so one
    that stays valid is stored once), on the device's event topic or another channel."""
    mutations = _mutations(rng)
    messages = []
    for i in range(count):
        seq = first_seq + i
        data = _valid_dict(seq, rng)
        roll = rng.random()
        if roll < 0.04:
            topic = f"innsight/{SITE}/{DEVICE}/heartbeat"
            raw = rng.choice(
                [
                    b"{}",
                    json.dumps(
                        {"schema": 1, "device_id": DEVICE, "sent_at": rng.choice(_TIMES)}
                    ).encode(),
                    json.dumps(
                        {
                            "schema": 1,
                            "device_id": DEVICE,
                            "sent_at": "2026-11-22T08:00:00Z",
                            "gpu": "\u0000",
                        }
                    ).encode(),
                    rng.randbytes(50),
                ]
            )
        elif roll < 0.06:
            topic = f"innsight/{SITE}/{DEVICE}/status"
            raw = rng.choice([b"sleepy", b"\xff", b"online" * 20, b"on\x00line"])
        elif roll < 0.09:
            topic = rng.choice(
                [
                    f"innsight/{SITE}/{DEVICE}/events/anomaly",
                    f"innsight/{SITE}/{DEVICE}/events/smell",
                    f"innsight/{SITE}/edge-2/events/face",
                ]
            )
            raw = json.dumps(data).encode()
        else:
            topic = EVENTS_TOPIC
            raw = rng.choice(mutations)(data, seq)
        messages.append(Message(topic, raw))
    return messages


@dataclass
class Expectation:
    stored: set[str]  # event ids
    codes: Counter[str]  # refusal reason -> messages
    ackable: dict[int, str | None]  # seq -> refusal reason (None: stored)


def expect(messages: list[Message]) -> Expectation:
    """What the contract says about each message (the hub must agree)."""
    stored: set[str] = set()
    codes: Counter[str] = Counter()
    ackable: dict[int, str | None] = {}
    for m in messages:
        parts = m.topic.split("/")
        if parts[3] != "events":
            if not _accepted_on_other_channel(parts[3], m.raw):
                codes["hostile-other-channel"] += 1
            continue
        device, kind = parts[2], parts[4]
        if kind not in {"face", "anomaly", "camera"}:
            code = "unknown_kind"
        else:
            try:
                envelope = parse_event(m.raw)
            except ContractError as err:
                code = err.code.value
            else:
                if envelope.device_id == device and envelope.kind.value == kind:
                    stored.add(str(envelope.event_id))
                    ackable[envelope.seq] = None
                    continue
                code = "topic_mismatch"
        codes[code] += 1
        seq = peek_seq(m.raw)
        if seq is not None and device == DEVICE:
            ackable[seq] = code
    return Expectation(stored, codes, ackable)


def _accepted_on_other_channel(channel: str, raw: bytes) -> bool:
    if channel == "heartbeat":
        try:
            return parse_heartbeat(raw).device_id == DEVICE
        except ContractError:
            return False
    try:
        DeviceStatus(raw.decode().strip())
    except (UnicodeDecodeError, ValueError):
        return False
    return len(raw) <= 64


def _metric_counts(text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    prefix = 'innsight_ingest_dead_letters_total{reason="'
    for line in text.splitlines():
        if line.startswith(prefix):
            reason = line[len(prefix) : line.index('"', len(prefix))]
            counts[reason] = int(float(line.rsplit(" ", 1)[1]))
    return counts


@pytest.mark.timeout(240)
def test_fuzz_through_the_broker(
    tmp_path: Path, mosquitto: MosquittoBroker, database_url: str
) -> None:
    rng = random.Random(14)  # noqa: S311 - a reproducible fuzz, not cryptography
    valid = [make_event(seq, score=0.5) for seq in range(1, VALID + 1)]
    hostile = hostile_messages(rng, HOSTILE, first_seq=10_000)
    stream: list[Message] = [Message(EVENTS_TOPIC, e.to_json_bytes()) for e in valid]
    for message in hostile:
        stream.insert(rng.randint(0, len(stream)), message)
    expected = expect(hostile)
    settings = hub_settings(tmp_path / "hub", mosquitto, database_url=database_url)

    with running_hub(settings) as hub, mqtt_probe(mosquitto, "edge-probe") as edge:
        edge.subscribe(acks_topic())
        for message in stream:
            edge.publish(message.topic, message.raw)

        acked: set[int] = set()
        refused: dict[int, str] = {}
        want = set(range(1, VALID + 1)) | set(expected.ackable)

        def all_acked() -> bool:
            _collect(edge, acked, refused)
            return want <= acked

        wait_until(all_acked, what="every readable seq acked", timeout_s=60)

        # the hub stayed up and never needed its last resort
        assert hub.ingest_connected
        assert hub.http.get("/api/v1/cv/health").status_code == 200
        metrics = hub.http.get("/metrics").text
        assert "innsight_ingest_internal_errors_total 0.0" in metrics
        # one device produced far more dead letters than the alert threshold: one alert
        assert "innsight_ingest_dead_letter_alerts_total 1.0" in metrics
        assert "innsight_ingest_noisy_devices 1.0" in metrics

        # every valid event stored once; a hostile one only when it is in fact valid
        page = hub.http.get("/api/v1/events", params={"limit": 500}).json()
        ids = [e["event_id"] for e in page["items"]]
        more = page["total"] - len(ids)
        offset = 500
        while more > 0:
            chunk = hub.http.get("/api/v1/events", params={"limit": 500, "offset": offset}).json()
            ids.extend(e["event_id"] for e in chunk["items"])
            more -= len(chunk["items"])
            offset += 500
        assert len(ids) == len(set(ids))
        assert set(ids) == {str(e.event_id) for e in valid} | expected.stored
        assert [e for e in page["items"] if e["messages"] != 1] == []

        # every refusal with the contract's code: the metric and the listing agree
        counts = _metric_counts(metrics)
        other = counts.copy()
        for code, n in expected.codes.items():
            if code != "hostile-other-channel":
                assert counts[code] >= n, code
                other[code] -= n
        assert sum(other.values()) == expected.codes["hostile-other-channel"]
        assert "apply_failed" not in counts  # the database refused nothing
        assert "ingest_error" not in counts
        summary = hub.http.get("/api/v1/dead-letters/summary").json()
        assert sum(r["times_seen"] for r in summary["reasons"]) == sum(counts.values())

        # refused seqs come back with their reason, so the edge drops them
        for seq, reason in expected.ackable.items():
            if reason is not None:
                assert refused.get(seq) == reason, seq
        assert not set(refused) & set(range(1, VALID + 1))


def _collect(probe: MqttProbe, acked: set[int], refused: dict[int, str]) -> None:
    while not probe.received.empty():
        ack = AckMessage.model_validate_json(probe.received.get_nowait().payload)
        acked.update(ack.seqs())
        refused.update({r.seq: r.reason for r in ack.refused})


# ---------------------------------------------------------------------------------------------
# Property: parse -> store -> read back
# ---------------------------------------------------------------------------------------------

_offsets = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)
_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=70)
_times = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=_offsets
).map(datetime.isoformat)
_ints = st.one_of(
    st.integers(min_value=-(2**66), max_value=2**66),
    st.sampled_from([0, 1, 2**31 - 1, 2**31, 2**63 - 1, 2**63]),
)
_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """Face, anomaly and camera envelopes whose every field may be out of bounds."""
    kind = draw(st.sampled_from(["face", "anomaly", "camera"]))
    if kind == "face":
        payload: dict[str, Any] = {
            "kind": "face",
            "person_id": draw(
                st.one_of(
                    st.none(),
                    st.from_regex(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,10}$", fullmatch=True),
                    _text,
                )
            ),
            "score": draw(st.one_of(st.floats(0, 1), _floats)),
            "bbox": {"x": draw(_ints), "y": 0, "w": draw(st.integers(1, 2000) | _ints), "h": 5},
            "track_id": draw(st.integers(0, 1000) | _ints),
            "model_id": draw(st.sampled_from(["dlib-resnet-v1"]) | _text),
            "frames": draw(st.integers(1, 100) | _ints),
        }
    elif kind == "anomaly":
        payload = {
            "kind": "anomaly",
            "type": draw(st.sampled_from(["fire", "smoke", "water"])),
            "score": draw(st.floats(0, 1)),
            "zone": draw(st.one_of(st.none(), _text)),
        }
    else:
        payload = {
            "kind": "camera",
            "state": draw(st.sampled_from(["lost", "restored"])),
            "reason": draw(st.one_of(st.none(), _text)),
        }
    started = draw(st.one_of(st.just("2026-11-22T08:00:00+00:00"), _times))
    return {
        "schema": 1,
        "device_id": DEVICE,
        "seq": draw(st.integers(1, INT64_MAX) | _ints),
        "event_id": str(uuid7()),
        "phase": "new",
        "camera_id": draw(st.sampled_from(["lobby-1"]) | _text),
        "kind": kind,
        "started_at": started,
        "payload": payload,
    }


@dataclass
class Stack:
    engine: AsyncEngine
    ingest: MqttIngest
    loop: asyncio.AbstractEventLoop


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    loop = asyncio.new_event_loop()
    engine = create_engine(database_url)
    loop.run_until_complete(init_db(engine))
    settings = hub_settings(tmp_path / "hub", None, database_url=database_url)
    store = LocalFolderStore(tmp_path / "objects")
    ingest = MqttIngest(settings, create_session_factory(engine), store)
    try:
        yield Stack(engine, ingest, loop)
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=envelopes())
def test_generated_envelopes_store_and_read_back(stack: Stack, data: dict[str, Any]) -> None:
    # a device of its own: seqs of different examples must not count as redeliveries
    device = f"fz-{uuid.uuid4().hex[:12]}"
    data = {**data, "device_id": device}
    raw = json.dumps(data).encode()
    topic = f"innsight/{SITE}/{device}/events/{data['kind']}"
    refusal: ContractError | None = None
    envelope: EventEnvelope | None = None
    try:
        envelope = parse_event(raw)
    except ContractError as err:
        refusal = err
    stack.loop.run_until_complete(stack.ingest.process([(topic, raw)]))  # never raises
    factory = create_session_factory(stack.engine)

    async def read_back() -> tuple[Event | None, list[DeadLetter]]:
        async with factory() as session:
            event = await session.get(Event, uuid.UUID(data["event_id"]))
            sha = hashlib.sha256(raw).hexdigest()
            letters = (
                await session.exec(select(DeadLetter).where(col(DeadLetter.sha256) == sha))
            ).all()
            return event, list(letters)

    event, letters = stack.loop.run_until_complete(read_back())
    if refusal is not None:
        assert event is None
        assert [d.reason for d in letters] == [refusal.code.value]
        return
    assert envelope is not None
    assert letters == [], [(d.reason, d.detail) for d in letters]  # the database took it
    assert event is not None
    public = EventPublic.model_validate(event, from_attributes=True)
    assert public.started_at == envelope.started_at.astimezone(UTC)
    assert public.payload == envelope.payload.model_dump(mode="json")
    assert public.camera_id == envelope.camera_id
