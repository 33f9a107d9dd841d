"""Camera health: one lost/restored pair per outage, paired by event_id; backoff bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from contracts.ids import uuid7_unix_ms
from contracts.messages import CameraPayload, CameraState, EventEnvelope, Phase, parse_event
from edge_agent.domain.backoff import Backoff, backoff_ceiling, full_jitter
from edge_agent.domain.camera_health import CameraHealth, HealthState
from edge_agent.domain.events import PendingEvent

T0 = datetime(2026, 11, 23, 22, 11, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def envelope(event: PendingEvent, seq: int = 1) -> EventEnvelope:
    """Through the wire contract and back: what the hub would accept."""
    return parse_event(event.to_envelope("edge-1", seq).to_json_bytes())


def payload(event: PendingEvent) -> CameraPayload:
    assert isinstance(event.payload, CameraPayload)
    return event.payload


def test_no_event_while_frames_flow() -> None:
    health = CameraHealth("gate")
    assert health.state is HealthState.STARTING
    assert not health.connected
    assert [health.frame_ok(at(i / 10)) for i in range(50)] == [None] * 50
    assert health.state is HealthState.HEALTHY
    assert health.connected


def test_one_lost_per_outage_however_many_reconnects_fail() -> None:
    health = CameraHealth("gate", restore_after_s=0)
    health.frame_ok(at(0))
    lost = health.read_failed(at(1), "camera gate: stream read failed: rtsp://admin:***@cam/1")
    assert lost is not None
    later = [health.open_failed(at(2 + i), "cannot open") for i in range(50)]
    later += [health.read_failed(at(60), "stream read failed")]
    assert later == [None] * 51
    assert lost.phase is Phase.NEW
    assert lost.camera_id == "gate"
    assert lost.started_at == at(0)  # the last frame: when the video stopped
    assert lost.ended_at is None
    assert payload(lost).state is CameraState.LOST
    assert payload(lost).reason == "camera gate: stream read failed: rtsp://admin:***@cam/1"
    assert health.state is HealthState.LOST
    assert not health.connected
    assert health.outage is not None
    assert health.outage.failures == 52
    assert envelope(lost).payload == payload(lost)


def test_restored_ends_the_outage_with_the_same_event_id() -> None:
    health = CameraHealth("gate", restore_after_s=0)
    health.frame_ok(at(0))
    lost = health.read_failed(at(1), "stream read failed")
    health.open_failed(at(2), "cannot open")
    restored = health.frame_ok(at(7.5))
    assert lost is not None
    assert restored is not None
    assert restored.event_id == lost.event_id
    assert restored.phase is Phase.END
    assert restored.started_at == lost.started_at
    assert restored.ended_at == at(7.5)
    assert payload(restored).state is CameraState.RESTORED
    assert payload(restored).reason == "stream read failed"  # the row keeps why it was lost
    assert envelope(restored, seq=2).ended_at == at(7.5)  # an 'end' needs ended_at: it has one
    assert health.connected
    assert health.outage is None
    assert health.frame_ok(at(8)) is None


def test_each_outage_gets_its_own_event_id() -> None:
    health = CameraHealth("gate", restore_after_s=0)
    health.frame_ok(at(0))
    events = [
        health.read_failed(at(1), "a"),
        health.frame_ok(at(2)),
        health.read_failed(at(3), "b"),
        health.frame_ok(at(4)),
    ]
    assert [e.phase if e else None for e in events] == [Phase.NEW, Phase.END, Phase.NEW, Phase.END]
    ids = [e.event_id for e in events if e is not None]
    assert ids[0] == ids[1] != ids[2] == ids[3]
    assert uuid7_unix_ms(ids[0]) == int(at(0).timestamp() * 1000)  # time-ordered, from the loss
    assert [e.started_at for e in events if e is not None] == [at(0), at(0), at(2), at(2)]


def test_a_stall_is_dated_from_the_last_frame_not_from_its_timeout() -> None:
    health = CameraHealth("gate", restore_after_s=0)
    for i in range(10):
        health.frame_ok(at(i / 10))
    lost = health.read_failed(at(10.9), "stream read failed")  # a 10 s read timeout fired
    assert lost is not None
    assert lost.started_at == at(0.9)
    restored = health.frame_ok(at(15))
    assert restored is not None
    assert restored.ended_at == at(15)
    assert restored.started_at == at(0.9)


def test_a_stream_that_never_opens_yields_one_lost() -> None:
    health = CameraHealth("gate")
    events = [health.open_failed(at(i), "cannot open video source rtsp://cam") for i in range(20)]
    lost = [e for e in events if e is not None]
    assert len(lost) == 1
    assert lost[0].started_at == at(0)
    assert payload(lost[0]).state is CameraState.LOST
    assert health.state is HealthState.LOST


def test_restored_waits_for_frames_to_flow_for_restore_after_s() -> None:
    health = CameraHealth("gate", restore_after_s=2.0)
    health.frame_ok(at(0))
    lost = health.read_failed(at(1), "stream read failed")
    assert lost is not None
    assert health.frame_ok(at(10)) is None
    assert health.frame_ok(at(11)) is None
    assert not health.connected
    restored = health.frame_ok(at(12))
    assert restored is not None
    assert restored.ended_at == at(10)  # when frames came back, not when that was confirmed
    assert restored.event_id == lost.event_id


def test_a_flapping_stream_stays_one_outage() -> None:
    health = CameraHealth("gate", restore_after_s=2.0)
    health.frame_ok(at(0))
    events = [health.read_failed(at(1), "stream read failed")]
    for cycle in range(10):  # back for a second, gone again
        start = 5 + 10 * cycle
        events += [health.frame_ok(at(start)), health.frame_ok(at(start + 1))]
        events.append(health.read_failed(at(start + 1.5), "stream read failed"))
    events.append(health.frame_ok(at(200)))
    events.append(health.frame_ok(at(203)))
    sent = [e for e in events if e is not None]
    assert [e.phase for e in sent] == [Phase.NEW, Phase.END]
    assert sent[1].ended_at == at(200)


def test_a_clock_stepping_back_never_makes_ended_at_precede_started_at() -> None:
    health = CameraHealth("gate", restore_after_s=0)
    health.frame_ok(at(100))
    lost = health.read_failed(at(101), "stream read failed")
    restored = health.frame_ok(at(50))  # NTP stepped the wall clock back
    assert lost is not None
    assert restored is not None
    assert restored.ended_at is not None
    assert restored.ended_at >= lost.started_at
    envelope(restored)  # the contract accepts it


def test_reasons_are_cut_to_fit_the_contract() -> None:
    health = CameraHealth("gate")
    lost = health.open_failed(at(0), "x" * 2000)
    assert lost is not None
    envelope(lost)


def test_event_ids_can_be_injected() -> None:
    fixed = UUID("019a6b90-0001-7c00-9000-00000000ca11")
    health = CameraHealth("gate", new_event_id=lambda _at: fixed)
    lost = health.open_failed(at(0), "cannot open")
    assert lost is not None
    assert lost.event_id == fixed


def test_naive_times_and_negative_hold_down_are_refused() -> None:
    with pytest.raises(ValueError, match="restore_after_s"):
        CameraHealth("gate", restore_after_s=-1)
    with pytest.raises(ValueError, match="timezone-aware"):
        CameraHealth("gate").frame_ok(datetime(2026, 11, 23))


# -- backoff ---------------------------------------------------------------------------------


def test_backoff_ceiling_doubles_from_min_up_to_max() -> None:
    assert [backoff_ceiling(n, 1.0, 30.0) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff_ceiling(10_000, 1.0, 30.0) == 30.0  # no overflow, however long the outage


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    assert full_jitter(3, 1.0, 30.0, lambda: 0.0) == 0.0
    assert full_jitter(3, 1.0, 30.0, lambda: 0.5) == 4.0
    assert full_jitter(3, 1.0, 30.0, lambda: 0.999999) == pytest.approx(8.0, abs=1e-4)
    assert full_jitter(9, 1.0, 30.0, lambda: 0.999999) <= 30.0


def test_backoff_grows_until_reset() -> None:
    backoff = Backoff(1.0, 30.0, rand=lambda: 1.0)  # the ceiling itself: shows the envelope
    assert [backoff.next_delay() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_backoff_delays_stay_within_bounds_with_real_randomness() -> None:
    backoff = Backoff(0.5, 8.0)
    delays = [backoff.next_delay() for _ in range(200)]
    assert all(0.0 <= d <= 8.0 for d in delays)
    assert len(set(delays)) > 100  # jittered, not lockstep


@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)])
def test_backoff_refuses_bad_bounds(low: float, high: float) -> None:
    with pytest.raises(ValueError, match="min_s"):
        Backoff(low, high)


def test_backoff_ceiling_refuses_a_negative_attempt() -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff_ceiling(-1, 1.0, 2.0)
