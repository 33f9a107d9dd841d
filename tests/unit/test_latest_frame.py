"""The latest-frame grabber: a slow consumer gets the newest frame and the rest are counted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from edge_agent.capture.latest import LatestFrameGrabber
from edge_agent.ports import Frame

START = datetime(2026, 11, 23, 8, tzinfo=UTC)


class FakeLiveSource:
    """Emits ``count`` frames as fast as it is read; optionally fails at the end."""

    def __init__(
        self, count: int, *, fail: bool = False, turns: threading.Semaphore | None = None
    ) -> None:
        self.count = count
        self.fail = fail
        self.turns = turns  # lockstep: one frame per turn the consumer gives back
        self.closed = False

    @property
    def camera_id(self) -> str:
        return "cam"

    def frames(self) -> Iterator[Frame]:
        image = np.zeros((4, 4, 3), dtype=np.uint8)
        for i in range(self.count):
            if self.turns is not None:
                assert self.turns.acquire(timeout=5)
            yield Frame("cam", i, START + timedelta(milliseconds=40 * i), image)
        if self.fail:
            raise RuntimeError("stream broke")

    def close(self) -> None:
        self.closed = True


def test_slow_consumer_gets_newest_frames_in_order_and_counts_drops() -> None:
    grabber = LatestFrameGrabber(FakeLiveSource(200))
    seen = []
    for frame in grabber.frames():
        seen.append(frame.index)
        time.sleep(0.002)  # slower than the source
    grabber.close()
    assert seen == sorted(seen)  # never goes back in time
    assert seen[-1] == 199  # the newest frame is always delivered
    assert grabber.grabbed == 200
    assert grabber.dropped == 200 - len(seen)
    assert grabber.dropped > 0


def test_consumer_keeping_up_drops_nothing() -> None:
    turns = threading.Semaphore(1)
    source = FakeLiveSource(5, turns=turns)
    grabber = LatestFrameGrabber(source)
    seen = []
    for frame in grabber.frames():
        seen.append(frame.index)
        turns.release()  # the source may produce the next frame only now
    grabber.close()
    assert seen == [0, 1, 2, 3, 4]
    assert grabber.dropped == 0
    assert source.closed


def test_source_errors_reach_the_consumer() -> None:
    grabber = LatestFrameGrabber(FakeLiveSource(3, fail=True))
    with pytest.raises(RuntimeError, match="stream broke"):
        list(grabber.frames())
    grabber.close()
