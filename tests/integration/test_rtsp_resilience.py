"""A real RTSP camera (gst-rtsp-server) that dies, hangs and comes back: the capture goes on.

The source under test is the production stack, ``ReconnectingFrameSource(OpenCvFrameSource)``
reading ``rtsp://user:password@127.0.0.1:PORT/cam`` through OpenCV's FFmpeg backend, with short
timeouts and backoff so that each test takes seconds. Every wait is on a condition with a
deadline. The password is a distinctive string that must never show up in the log records, on
the process's stdout/stderr (FFmpeg writes there from native code) or in an event.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from contracts.messages import (
    CameraPayload,
    CameraState,
    EventEnvelope,
    EventKind,
    Phase,
    parse_event,
)
from edge_agent.app import EdgeAgent
from edge_agent.capture.opencv_source import OpenCvFrameSource
from edge_agent.capture.resilient import ReconnectingFrameSource
from edge_agent.config import CameraConfig, EdgeConfig
from edge_agent.domain.events import PendingEvent
from models.faces import DetectedFace, Embedding, Image
from testkit.rtsp_server import RtspTestServer, rtsp_server_unavailable

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

logger = logging.getLogger(__name__)

USER = "admin"
PASSWORD = "Pa55-7f3c9e-rtsp"
READ_TIMEOUT_S = 2.0
RESTORE_AFTER_S = 0.5


@pytest.fixture
def rtsp_available() -> None:
    reason = rtsp_server_unavailable()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def rtsp_server(rtsp_available: None, tmp_path: Path) -> Iterator[RtspTestServer]:
    with RtspTestServer(tmp_path, user=USER, password=PASSWORD) as server:
        yield server


class Capture:
    """Reads a camera on its own thread, as the edge's capture loop does, and records it all."""

    def __init__(self, url: str) -> None:
        self.stop = threading.Event()
        self.events: list[tuple[float, PendingEvent]] = []
        self.frames: list[tuple[float, int, datetime]] = []  # (monotonic, index, timestamp)
        self.error: BaseException | None = None
        inner = OpenCvFrameSource(
            "gate", url, 320, 240, open_timeout_s=5.0, read_timeout_s=READ_TIMEOUT_S
        )
        self.source = ReconnectingFrameSource(
            inner,
            on_event=lambda event: self.events.append((time.monotonic(), event)),
            min_backoff_s=0.1,
            max_backoff_s=0.5,
            restore_after_s=RESTORE_AFTER_S,
            stop=self.stop,
        )
        self._thread = threading.Thread(target=self._read, name="capture-gate", daemon=True)

    def _read(self) -> None:
        try:
            for frame in self.source.frames():
                self.frames.append((time.monotonic(), frame.index, frame.timestamp))
        except BaseException as err:  # noqa: BLE001 - reported by the test's waits
            self.error = err

    def __enter__(self) -> Capture:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self._thread.join(timeout=15)
        self.source.close()
        assert not self._thread.is_alive(), "the capture thread did not stop"

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout_s: float) -> float:
        """Seconds until ``predicate`` held; fails the test after ``timeout_s``."""
        began = time.monotonic()
        while not predicate():
            assert self.error is None, f"capture ended with {self.error!r}"
            assert time.monotonic() - began < timeout_s, f"no {what} within {timeout_s} s"
            time.sleep(0.01)
        return time.monotonic() - began

    def states(self) -> list[CameraState]:
        states = []
        for _, event in self.events:
            assert isinstance(event.payload, CameraPayload)
            states.append(event.payload.state)
        return states

    def first_frame_after(self, moment: float) -> float:
        return next(t for t, _, _ in self.frames if t >= moment) - moment


def assert_no_secret(secret: str, caplog: pytest.LogCaptureFixture, output: str) -> None:
    assert caplog.records, "nothing was logged: the check would prove nothing"
    assert secret not in caplog.text
    assert secret not in output


def test_a_restarted_server_is_one_outage_and_frames_flow_again(
    rtsp_server: RtspTestServer,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    caplog.set_level(logging.DEBUG)
    with Capture(rtsp_server.url) as capture:
        capture.wait_for("first frames", lambda: len(capture.frames) >= 5, 20)

        killed_at = time.monotonic()
        rtsp_server.kill()
        capture.wait_for("lost event", lambda: capture.events, 10)
        # the camera stays down while several reconnects fail: still a single event
        capture.wait_for("failed reconnects", lambda: capture.source.failures >= 5, 15)
        assert capture.states() == [CameraState.LOST]
        lost_after_s = capture.events[0][0] - killed_at

        seen_before = len(capture.frames)
        restarted_at = time.monotonic()
        rtsp_server.start()
        capture.wait_for("restored event", lambda: len(capture.events) >= 2, 20)
        capture.wait_for("frames again", lambda: len(capture.frames) >= seen_before + 10, 10)
        restored_after_s = capture.events[1][0] - restarted_at
        first_frame_after_s = capture.first_frame_after(restarted_at)
        assert capture.source.connected

    assert capture.states() == [CameraState.LOST, CameraState.RESTORED]
    lost, restored = (event for _, event in capture.events)
    assert lost.phase is Phase.NEW
    assert restored.phase is Phase.END
    assert restored.event_id == lost.event_id
    assert restored.started_at == lost.started_at
    assert restored.ended_at is not None
    assert restored.ended_at > lost.started_at
    # both go over the wire as the hub will parse them (an 'end' needs its ended_at)
    assert parse_event(lost.to_envelope("edge-1", 1).to_json_bytes()).phase is Phase.NEW
    assert parse_event(restored.to_envelope("edge-1", 2).to_json_bytes()).ended_at

    indexes = [index for _, index, _ in capture.frames]
    stamps = [stamp for _, _, stamp in capture.frames]
    assert all(b > a for a, b in itertools.pairwise(indexes))
    assert all(b > a for a, b in itertools.pairwise(stamps))

    assert isinstance(lost.payload, CameraPayload)
    assert lost.payload.reason is not None
    assert f"{USER}:***@127.0.0.1:{rtsp_server.port}" in lost.payload.reason
    output = capfd.readouterr()
    assert_no_secret(PASSWORD, caplog, output.out + output.err)
    assert all(PASSWORD not in repr(event) for _, event in capture.events)

    for name, value in (
        ("kill_to_lost_s", lost_after_s),
        ("restart_to_first_frame_s", first_frame_after_s),
        ("restart_to_restored_s", restored_after_s),
    ):
        record_property(name, round(value, 3))
    logger.info(
        "kill -> lost %.2f s; restart -> first frame %.2f s, -> restored %.2f s",
        lost_after_s,
        first_frame_after_s,
        restored_after_s,
    )


def test_a_stalled_stream_is_lost_after_the_read_timeout(rtsp_server: RtspTestServer) -> None:
    with Capture(rtsp_server.url) as capture:
        capture.wait_for("first frames", lambda: len(capture.frames) >= 5, 20)
        paused_at = time.monotonic()
        rtsp_server.pause()  # the socket stays open; nothing comes
        capture.wait_for("lost event", lambda: capture.events, READ_TIMEOUT_S + 8)
        stalled_for = capture.events[0][0] - paused_at
        assert stalled_for >= READ_TIMEOUT_S - 0.5  # the buffered frames, then the timeout
        resumed_at = time.monotonic()
        rtsp_server.resume()
        capture.wait_for("restored event", lambda: len(capture.events) >= 2, 20)
        seen = len(capture.frames)
        capture.wait_for("frames again", lambda: len(capture.frames) >= seen + 5, 10)
    assert capture.states() == [CameraState.LOST, CameraState.RESTORED]
    logger.info(
        "stall -> lost %.2f s; resume -> restored %.2f s",
        stalled_for,
        capture.events[1][0] - resumed_at,
    )


def test_a_camera_down_at_start_is_lost_once_then_restored(
    rtsp_available: None, tmp_path: Path
) -> None:
    server = RtspTestServer(tmp_path, user=USER, password=PASSWORD)  # its port, not listening
    try:
        with Capture(server.url) as capture:
            capture.wait_for("lost event", lambda: capture.events, 10)
            capture.wait_for("failed opens", lambda: capture.source.failures >= 5, 15)
            assert capture.frames == []
            assert not capture.source.connected
            server.start()
            capture.wait_for("restored event", lambda: len(capture.events) >= 2, 20)
        assert capture.states() == [CameraState.LOST, CameraState.RESTORED]
        assert capture.events[0][1].event_id == capture.events[1][1].event_id
    finally:
        server.kill()


def test_a_wrong_password_is_one_lost_event_and_never_logged(
    rtsp_server: RtspTestServer,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wr0ng-91ab44-pass"
    url = rtsp_server.url.replace(PASSWORD, wrong)
    with Capture(url) as capture:
        capture.wait_for("lost event", lambda: capture.events, 10)
        capture.wait_for("failed opens", lambda: capture.source.failures >= 5, 15)
    assert capture.states() == [CameraState.LOST]
    assert capture.frames == []
    reason = capture.events[0][1].payload
    assert isinstance(reason, CameraPayload)
    assert reason.reason is not None
    assert "cannot open video source rtsp://admin:***@127.0.0.1" in reason.reason
    output = capfd.readouterr()
    assert_no_secret(wrong, caplog, output.out + output.err)
    assert_no_secret(PASSWORD, caplog, output.out + output.err)


class NoFaces:
    """A face backend that sees nobody: the agent's capture path without a model."""

    model_id = "no-faces-v1"
    dim = 128

    def detect(self, image: Image) -> list[DetectedFace]:
        assert image.shape == (240, 320, 3)
        return []

    def embed(self, image: Image, face: DetectedFace) -> Embedding:
        raise AssertionError(f"nothing was detected, yet {face} of {image.shape} was embedded")


def wait_until(what: str, predicate: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"no {what} within {timeout_s} s"
        time.sleep(0.02)


def test_the_edge_agent_rides_out_a_camera_restart(
    rtsp_server: RtspTestServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The composition root: the outage reaches the outbox as one row pair, the counters follow.

    The agent's own backoff (1 to 30 s) and restore hold-down (2 s) are in play here.
    """
    caplog.set_level(logging.INFO)
    camera = CameraConfig(id="gate", url=rtsp_server.url, width=320, height=240)
    config = EdgeConfig(
        device_id="edge-1", site="hotel", data_dir=tmp_path / "edge", cameras=[camera]
    )
    agent = EdgeAgent(config, analyzer=NoFaces())
    counters = agent.cameras["gate"]

    def outbox() -> list[EventEnvelope]:
        return [parse_event(row.payload) for row in agent.outbox.due(time.time() + 60, 0.0, 100)]

    agent.start_cameras()
    try:
        wait_until("frames", lambda: counters.frames >= 5 and counters.connected, 20)
        rtsp_server.kill()
        wait_until("lost row", lambda: len(outbox()) == 1 and not counters.connected, 15)
        rtsp_server.start()
        wait_until("restored row", lambda: len(outbox()) == 2 and counters.connected, 30)
        before = counters.frames
        wait_until("frames again", lambda: counters.frames >= before + 5, 10)
        rows = outbox()
    finally:
        agent.stop(drain_timeout_s=0.1)
    assert [(r.kind, r.phase) for r in rows] == [
        (EventKind.CAMERA, Phase.NEW),
        (EventKind.CAMERA, Phase.END),
    ]
    assert [r.seq for r in rows] == [1, 2]
    assert rows[0].event_id == rows[1].event_id
    assert [getattr(r.payload, "state", None) for r in rows] == [
        CameraState.LOST,
        CameraState.RESTORED,
    ]
    assert rows[1].ended_at is not None
    assert PASSWORD not in caplog.text
