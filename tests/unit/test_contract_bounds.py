"""The contract refuses what storage cannot hold, each refusal with its own code (issue 14).

Property-based: whatever bytes arrive, :func:`parse_event` either returns an envelope that
round-trips, or raises :class:`ContractError` with a code; never anything else.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.errors import ContractError, ContractErrorCode
from contracts.ids import is_valid_id
from contracts.limits import INT64_MAX, MAX_JSON_DEPTH, check_depth, load_json
from contracts.messages import (
    MAX_EVENT_BYTES,
    AckMessage,
    EventEnvelope,
    Heartbeat,
    parse_ack,
    parse_event,
    parse_heartbeat,
    peek_seq,
)
from edge_agent.domain.events import PendingEvent
from edge_agent.outbox.sqlite_outbox import SqliteOutbox
from tests.conftest import load_golden


def _event(**changes: Any) -> dict[str, Any]:
    data = load_golden("event_face_new.json")
    data.update(changes)
    return data


def _payload(**changes: Any) -> dict[str, Any]:
    data = _event()
    payload = dict(data["payload"])
    payload.update(changes)
    data["payload"] = payload
    return data


def _code(raw: bytes) -> ContractErrorCode:
    with pytest.raises(ContractError) as info:
        parse_event(raw)
    assert info.value.detail
    return info.value.code


def _dumps(data: object) -> bytes:
    return json.dumps(data).encode()


# -- one code per refusal -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        # the three failures of issue 14
        (_dumps(_event(seq=2**63)), ContractErrorCode.OUT_OF_RANGE),
        (_dumps(_event(seq=-1)), ContractErrorCode.OUT_OF_RANGE),
        (_dumps(_payload(model_id="dlib\u0000")), ContractErrorCode.BAD_TEXT),
        (
            _dumps(_event(started_at="0001-01-01T00:00:00+14:00")),
            ContractErrorCode.BAD_TIME,
        ),
        (b'{"seq": ' + b"9" * 5001 + b"}", ContractErrorCode.NUMBER_TOO_LONG),
        (b"[" * 100_000 + b"]" * 100_000, ContractErrorCode.TOO_DEEP),
        (b'{"a": ' * 50 + b"1" + b"}" * 50, ContractErrorCode.TOO_DEEP),
        # more of the same family
        (_dumps(_event(started_at="9999-12-31T23:00:00-14:00")), ContractErrorCode.BAD_TIME),
        (_dumps(_event(started_at="1969-12-31T23:59:59Z")), ContractErrorCode.BAD_TIME),
        (_dumps(_event(started_at="2100-01-01T00:00:00Z")), ContractErrorCode.BAD_TIME),
        (_dumps(_payload(model_id="a\ud800b")), ContractErrorCode.BAD_TEXT),
        (_dumps(_payload(model_id="m" * 129)), ContractErrorCode.TOO_LONG),
        (_dumps(_payload(track_id=2**63)), ContractErrorCode.OUT_OF_RANGE),
        (_dumps(_payload(score=1.5)), ContractErrorCode.OUT_OF_RANGE),
        (_dumps(_payload(score=0.25)).replace(b"0.25", b"1e999"), ContractErrorCode.OUT_OF_RANGE),
        (
            _dumps(_payload(bbox={"x": 0, "y": 0, "w": 10**9, "h": 1})),
            ContractErrorCode.OUT_OF_RANGE,
        ),
        (_dumps(_payload(gallery_version=2**31)), ContractErrorCode.OUT_OF_RANGE),
        (b'{"schema": 1, "seq": NaN}', ContractErrorCode.BAD_JSON),
        (b'{"schema": 1, "seq": Infinity}', ContractErrorCode.BAD_JSON),
        (b'{"schema": 1, "score": 0.' + b"1" * 100 + b"}", ContractErrorCode.NUMBER_TOO_LONG),
        (_dumps(_event(schema=True)), ContractErrorCode.UNSUPPORTED_SCHEMA),
        (_dumps(_event(seq=True)), ContractErrorCode.INVALID),
        (_dumps(_event(seq=1.0)), ContractErrorCode.INVALID),
        (_dumps(_event(seq="7")), ContractErrorCode.INVALID),
        (_dumps(_event(kind=["face"])), ContractErrorCode.UNKNOWN_KIND),
        (_dumps({**_event(), "\u0000": 1}), ContractErrorCode.INVALID),
        (
            _dumps(_event(snapshot={"ref": "../../etc/passwd"})),
            ContractErrorCode.INVALID,
        ),
        (b"\xef\xbb\xbf" + _dumps(_event()), ContractErrorCode.BAD_JSON),
        (_dumps(_event()).decode().encode("utf-16"), ContractErrorCode.BAD_JSON),
        (b"x" * (MAX_EVENT_BYTES + 1), ContractErrorCode.OVERSIZE),
    ],
)
def test_each_refusal_has_its_code(raw: bytes, code: ContractErrorCode) -> None:
    assert _code(raw) is code


def test_the_detail_of_a_refusal_is_storable_text() -> None:
    raw = _dumps({**_event(), "k\u0000\ud800" * 30: 1})
    with pytest.raises(ContractError) as info:
        parse_event(raw)
    detail = info.value.detail
    assert "\x00" not in detail
    detail.encode("utf-8")  # no lone surrogates


def test_bounds_accept_the_extremes_storage_holds() -> None:
    envelope = parse_event(
        _dumps(
            _event(
                seq=INT64_MAX,
                started_at="1970-01-01T00:00:00+00:00",
            )
        )
    )
    assert envelope.seq == INT64_MAX
    assert parse_event(envelope.to_json_bytes()) == envelope
    assert peek_seq(envelope.to_json_bytes()) == INT64_MAX
    assert peek_seq(_dumps(_event(seq=2**63))) is None
    assert peek_seq(_dumps(_event(seq=True))) is None
    assert peek_seq(b'{"seq": ' + b"9" * 5001 + b"}") is None
    # an offset that stays inside the window once in UTC is fine
    late = parse_event(_dumps(_event(started_at="2099-12-31T23:00:00-00:30")))
    assert late.started_at.astimezone(UTC).year == 2099


def test_depth_scan_ignores_brackets_inside_strings() -> None:
    text = '{"zone": "' + "[{" * 500 + '"}'
    check_depth(text.encode())
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(ContractError) as info:
        check_depth(deep.encode())
    assert info.value.code is ContractErrorCode.TOO_DEEP
    assert load_json(("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH).encode(), 1000) == [
        [[[[[[[]]]]]]]
    ]


def test_ids_refuse_a_trailing_newline() -> None:
    assert is_valid_id("edge-1")
    assert not is_valid_id("edge-1\n")


# -- heartbeat and ack -----------------------------------------------------------------------


def test_heartbeat_bounds_and_refused_counter() -> None:
    data = load_golden("heartbeat.json")
    heartbeat = parse_heartbeat(_dumps(data))
    assert heartbeat.refused_events == 0  # older heartbeats still parse
    again = parse_heartbeat(Heartbeat.model_validate({**data, "refused_events": 3}).to_json_bytes())
    assert again.refused_events == 3
    changes: list[tuple[dict[str, object], ContractErrorCode]] = [
        ({"gpu": "nv\u0000"}, ContractErrorCode.BAD_TEXT),
        ({"gallery_version": 2**31}, ContractErrorCode.OUT_OF_RANGE),
        ({"outbox_depth": 2**63}, ContractErrorCode.OUT_OF_RANGE),
        ({"sent_at": "0001-01-01T00:00:00+14:00"}, ContractErrorCode.BAD_TIME),
        ({"providers": ["p"] * 17}, ContractErrorCode.TOO_LONG),
        ({"cameras": {"bad/id": {"fps": 1.0}}}, ContractErrorCode.INVALID),
    ]
    for change, code in changes:
        with pytest.raises(ContractError) as info:
            parse_heartbeat(_dumps({**data, **change}))
        assert info.value.code is code, change


def test_ack_with_refusals_and_old_acks_still_parse() -> None:
    old = parse_ack(_dumps(load_golden("ack.json")))
    assert old.refused == []
    assert old.seqs() == [41, 42, 43, 44, 47]
    # an ack without refusals is byte-for-byte the older format
    assert json.loads(old.to_json_bytes()) == load_golden("ack.json")

    new = parse_ack(_dumps(load_golden("ack_refused.json")))
    assert [(r.seq, r.reason) for r in new.refused] == [(43, "bad_text"), (47, "apply_failed")]
    assert parse_ack(new.to_json_bytes()) == new
    assert AckMessage.model_validate_json(new.to_json_bytes()) == new
    for bad in [
        {**load_golden("ack.json"), "ranges": [[1, 2**63]]},
        {**load_golden("ack_refused.json"), "refused": [{"seq": 1, "reason": "Not A Code"}]},
        {**load_golden("ack_refused.json"), "refused": [{"seq": 0, "reason": "bad_text"}]},
    ]:
        with pytest.raises(ContractError):
            parse_ack(_dumps(bad))


def test_outbox_drops_refused_rows_and_counts_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from contracts.ids import uuid7
    from contracts.messages import BBox, FacePayload, Phase

    outbox = SqliteOutbox(tmp_path / "outbox.db", "edge-1", "demo")
    try:
        for track in range(3):
            outbox.enqueue(
                PendingEvent(
                    event_id=uuid7(),
                    phase=Phase.NEW,
                    camera_id="cam-1",
                    started_at=datetime(2026, 11, 22, tzinfo=UTC),
                    payload=FacePayload(
                        score=0.5, bbox=BBox(x=0, y=0, w=8, h=8), track_id=track, model_id="m"
                    ),
                )
            )
        with caplog.at_level("WARNING"):
            assert outbox.refuse([(2, "bad_text"), (99, "invalid")]) == 1
        assert outbox.seqs() == [1, 3]
        assert outbox.refused() == 1
        assert "seq 2" in caplog.text
        assert "bad_text" in caplog.text
        assert outbox.refuse([(2, "bad_text")]) == 0  # again: nothing, counted once
        assert outbox.refused() == 1
    finally:
        outbox.close()
    reopened = SqliteOutbox(tmp_path / "outbox.db", "edge-1", "demo")
    try:
        assert reopened.refused() == 1  # persistent, like dropped()
    finally:
        reopened.close()


# -- property: parse never raises anything but ContractError ---------------------------------

_offsets = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)
_any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=80)
_hostile_ints = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2**31 - 1, 2**31, 2**53, 2**63 - 1, 2**63, 2**64]),
)
_hostile_values = st.one_of(
    _hostile_ints,
    st.floats(allow_nan=True, allow_infinity=True),
    _any_text,
    st.booleans(),
    st.none(),
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=_offsets
    ).map(datetime.isoformat),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(_any_text, st.integers(), max_size=2),
)
_event_fields = ["seq", "device_id", "camera_id", "started_at", "ended_at", "phase", "event_id"]
_payload_fields = [
    "score",
    "model_id",
    "track_id",
    "person_id",
    "frames",
    "gallery_version",
    "bbox",
]


@st.composite
def hostile_events(draw: st.DrawFn) -> bytes:
    """A valid face event with a few fields replaced by hostile values, as JSON bytes."""
    data = _event(seq=draw(st.integers(min_value=1, max_value=INT64_MAX)))
    payload = dict(data["payload"])
    for name in draw(st.lists(st.sampled_from(_event_fields), max_size=3)):
        data[name] = draw(_hostile_values)
    for name in draw(st.lists(st.sampled_from(_payload_fields), max_size=3)):
        payload[name] = draw(_hostile_values)
    data["payload"] = payload
    return json.dumps(data, allow_nan=True).encode("utf-8", "surrogatepass")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(hostile_events(), st.binary(max_size=200)))
def test_parse_event_accepts_or_refuses_with_a_code(raw: bytes) -> None:
    refusal: ContractError | None = None
    try:
        envelope = parse_event(raw)
    except ContractError as err:
        refusal = err
    if refusal is not None:
        assert isinstance(refusal.code, ContractErrorCode)
        assert refusal.detail
        return
    assert isinstance(envelope, EventEnvelope)
    assert 1 <= envelope.seq <= INT64_MAX
    again = parse_event(envelope.to_json_bytes())
    assert again == envelope
