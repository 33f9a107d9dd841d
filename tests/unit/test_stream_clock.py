from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edge_agent.domain.stream_clock import StreamClock

T0 = datetime(2026, 11, 23, 8, tzinfo=UTC)


def ms(value: float) -> timedelta:
    return timedelta(milliseconds=value)


def test_spacing_comes_from_the_stream_not_from_decode_jitter() -> None:
    clock = StreamClock()
    # frames every 40 ms by PTS, decoded with up to 30 ms of jitter
    decoded_at = [0, 55, 70, 150, 160]
    stamps = [clock.stamp(40.0 * i, T0 + ms(d)) for i, d in enumerate(decoded_at)]
    assert [s - stamps[0] for s in stamps] == [ms(40 * i) for i in range(5)]
    assert stamps[0] == T0


def test_pts_jump_or_drift_reanchors_to_the_wall_clock() -> None:
    clock = StreamClock(max_drift_s=2.0)
    clock.stamp(1000.0, T0)
    # the camera restarted: its PTS starts again from a small value
    later = clock.stamp(1040.0 + 60_000.0, T0 + ms(40))
    assert later == T0 + ms(40)
    assert clock.reanchors == 1


def test_missing_or_backwards_pts_falls_back_and_never_goes_back() -> None:
    clock = StreamClock()
    first = clock.stamp(500.0, T0)
    second = clock.stamp(None, T0 - ms(5))  # wall clock stepped back (NTP)
    third = clock.stamp(400.0, T0 + ms(10))  # PTS went backwards
    assert first < second < third
    assert third == T0 + ms(10)


def test_invalid_drift() -> None:
    with pytest.raises(ValueError, match="max_drift_s"):
        StreamClock(0)
