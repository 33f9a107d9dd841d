"""ReconnectingFrameSource over a scripted source: reopen with backoff, one event pair, order."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from contracts.messages import CameraPayload, CameraState, Phase
from edge_agent.capture.errors import CaptureError
from edge_agent.capture.resilient import ReconnectingFrameSource
from edge_agent.domain.camera_health import HealthState
from edge_agent.domain.events import PendingEvent
from edge_agent.ports import Frame

T0 = datetime(2026, 11, 23, 8, tzinfo=UTC)
IMAGE = np.zeros((2, 2, 3), dtype=np.uint8)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass
class Session:
    """One successful open: these frames, then a read failure (or the end of a file)."""

    stamps: list[float]
    fails: bool = True


OPEN_FAILS = "open fails"


class ScriptedSource:
    """Plays one script entry per :meth:`frames` call; sets ``done`` (the wrapper's stop) when
    the last entry has played, so that the test ends where the script does."""

    def __init__(self, script: list[Session | str], *, stream: bool = True) -> None:
        self.script = list(script)
        self.stream = stream
        self.opens = 0
        self.now = 0.0  # the scripted wall clock: a frame's time, then half a second per failure
        self.closed = False
        self.done = threading.Event()

    @property
    def camera_id(self) -> str:
        return "gate"

    @property
    def is_stream(self) -> bool:
        return self.stream

    def frames(self) -> Iterator[Frame]:
        self.opens += 1
        if self.closed or not self.script:
            self.done.set()
            return iter(())
        entry = self.script.pop(0)
        if isinstance(entry, str):
            raise CaptureError("cannot open video source rtsp://admin:***@cam/1")
        return self._play(entry)

    def _play(self, session: Session) -> Iterator[Frame]:
        for index, seconds in enumerate(session.stamps):
            self.now = seconds
            yield Frame("gate", index, at(seconds), IMAGE)
        if session.fails:
            raise CaptureError("camera gate: stream read failed: rtsp://admin:***@cam/1")
        if not self.script:
            self.done.set()

    def close(self) -> None:
        self.closed = True


class Recorder:
    def __init__(self) -> None:
        self.events: list[PendingEvent] = []
        self.sleeps: list[float] = []

    def state(self, event: PendingEvent) -> CameraState:
        assert isinstance(event.payload, CameraPayload)
        return event.payload.state


def reconnecting(inner: ScriptedSource, rec: Recorder, **kwargs: float) -> ReconnectingFrameSource:
    def clock() -> datetime:
        inner.now += 0.5
        return at(inner.now)

    return ReconnectingFrameSource(
        inner,
        on_event=rec.events.append,
        sleep=rec.sleeps.append,
        clock=clock,
        rand=lambda: 1.0,  # every delay is its ceiling: the envelope is visible
        stop=inner.done,
        **kwargs,
    )


def test_a_stream_is_reopened_after_read_and_open_failures() -> None:
    inner = ScriptedSource(
        [Session([0, 0.1, 0.2]), OPEN_FAILS, OPEN_FAILS, Session([9, 9.1, 9.2], fails=False)]
    )
    rec = Recorder()
    source = reconnecting(inner, rec, min_backoff_s=1, max_backoff_s=30, restore_after_s=0)
    frames = list(source.frames())
    assert [f.index for f in frames] == [0, 1, 2, 3, 4, 5]
    assert rec.sleeps == [1, 2, 4]  # doubling while lost
    assert [(e.phase, rec.state(e)) for e in rec.events] == [
        (Phase.NEW, CameraState.LOST),
        (Phase.END, CameraState.RESTORED),
    ]
    lost, restored = rec.events
    assert restored.event_id == lost.event_id
    assert restored.ended_at == at(9)
    assert source.failures == 3
    assert source.opens == 2
    assert source.connected


def test_backoff_starts_again_from_min_after_a_restore() -> None:
    inner = ScriptedSource(
        [Session([0]), OPEN_FAILS, Session([5, 6]), OPEN_FAILS, Session([20], fails=False)]
    )
    rec = Recorder()
    source = reconnecting(inner, rec, min_backoff_s=1, max_backoff_s=30, restore_after_s=0)
    list(source.frames())
    assert rec.sleeps == [1, 2, 1, 2]
    assert [e.phase for e in rec.events] == [Phase.NEW, Phase.END, Phase.NEW, Phase.END]


def test_timestamps_and_indexes_never_go_back_across_a_reconnect() -> None:
    # the second connection's wall clock is behind the first one's (NTP stepped it back)
    inner = ScriptedSource([Session([10, 10.1, 10.2]), Session([5, 5.1, 10.25, 11])])
    source = reconnecting(inner, Recorder())
    frames = list(source.frames())
    stamps = [f.timestamp for f in frames]
    assert all(b > a for a, b in itertools.pairwise(stamps))
    assert stamps[-1] == at(11)  # a frame already ahead of the last one keeps its own time
    assert [f.index for f in frames] == list(range(7))


def test_many_failed_reconnects_are_one_outage() -> None:
    inner = ScriptedSource(
        [Session([0]), *[OPEN_FAILS] * 50, Session([100, 101, 102, 103], fails=False)]
    )
    rec = Recorder()
    source = reconnecting(inner, rec, min_backoff_s=1, max_backoff_s=30, restore_after_s=2)
    list(source.frames())
    # lost, then 50 silent failures, then restored once frames have flowed for 2 s
    assert [e.phase for e in rec.events] == [Phase.NEW, Phase.END]
    assert rec.events[0].event_id == rec.events[1].event_id
    assert rec.events[1].ended_at == at(100)
    assert source.failures == 51
    assert len(rec.sleeps) == 51
    assert max(rec.sleeps) == 30
    assert source.state is HealthState.HEALTHY


def test_a_file_ends_at_its_end_without_reconnecting() -> None:
    inner = ScriptedSource([Session([0, 0.1, 0.2], fails=False), Session([5])], stream=False)
    rec = Recorder()
    frames = list(reconnecting(inner, rec).frames())
    assert len(frames) == 3
    assert inner.opens == 1
    assert rec.events == []
    assert rec.sleeps == []


def test_a_file_that_cannot_be_opened_raises_after_one_lost() -> None:
    inner = ScriptedSource([OPEN_FAILS], stream=False)
    rec = Recorder()
    with pytest.raises(CaptureError, match="cannot open"):
        list(reconnecting(inner, rec).frames())
    assert [rec.state(e) for e in rec.events] == [CameraState.LOST]
    assert rec.sleeps == []


class NeverOpens(ScriptedSource):
    def __init__(self) -> None:
        super().__init__([])

    def frames(self) -> Iterator[Frame]:
        self.opens += 1
        raise CaptureError("cannot open video source rtsp://admin:***@cam/1")


def _iterate_in_thread(source: ReconnectingFrameSource) -> threading.Thread:
    thread = threading.Thread(target=lambda: list(source.frames()), daemon=True)
    thread.start()
    return thread


def _wait_for(predicate: object, timeout_s: float = 5.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_stop_interrupts_the_backoff_wait() -> None:
    stop = threading.Event()
    events: list[PendingEvent] = []
    source = ReconnectingFrameSource(
        NeverOpens(), on_event=events.append, min_backoff_s=60, max_backoff_s=60, stop=stop
    )
    thread = _iterate_in_thread(source)
    _wait_for(lambda: events)
    began = time.monotonic()
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - began < 1.0
    assert len(events) == 1


def test_close_from_another_thread_ends_the_iteration() -> None:
    inner = NeverOpens()
    events: list[PendingEvent] = []
    source = ReconnectingFrameSource(
        inner, on_event=events.append, min_backoff_s=60, max_backoff_s=60
    )
    thread = _iterate_in_thread(source)
    _wait_for(lambda: events)
    source.close()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert inner.closed
