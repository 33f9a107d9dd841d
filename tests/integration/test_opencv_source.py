"""OpenCvFrameSource on a real video file written by OpenCV, and on sources that cannot open."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.capture.errors import CaptureError
from edge_agent.capture.opencv_source import OpenCvFrameSource, is_stream

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
FPS = 10.0
FRAMES = 12


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "lobby.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (320, 240))
    assert writer.isOpened()
    for i in range(FRAMES):
        image = np.zeros((240, 320, 3), dtype=np.uint8)
        cv2.rectangle(image, (10 + 20 * i, 80), (50 + 20 * i, 120), (0, 255, 0), -1)
        writer.write(image)
    writer.release()
    return path


def test_reads_every_frame_resized_with_rising_timestamps(clip: Path) -> None:
    source = OpenCvFrameSource("lobby", str(clip), width=160, height=120, start_time=START)
    frames = list(source.frames())
    assert len(frames) == FRAMES
    assert [f.index for f in frames] == list(range(FRAMES))
    assert {f.image.shape for f in frames} == {(120, 160, 3)}
    assert {f.camera_id for f in frames} == {"lobby"}
    stamps = [f.timestamp for f in frames]
    assert stamps[0] == START
    assert all(b > a for a, b in itertools.pairwise(stamps))
    assert (stamps[-1] - START).total_seconds() == pytest.approx((FRAMES - 1) / FPS, abs=0.01)
    # the moving square is where it was drawn (x 10 + 20 i .. 50 + 20 i at full size)
    green = frames[5].image[:, :, 1] > 128
    columns = np.flatnonzero(green.any(axis=0))
    assert columns.min() == pytest.approx((10 + 20 * 5) / 2, abs=2)


def test_stride_keeps_every_nth_frame_with_its_own_time(clip: Path) -> None:
    source = OpenCvFrameSource("lobby", str(clip), stride=3, start_time=START)
    frames = list(source.frames())
    assert [f.index for f in frames] == [0, 3, 6, 9]
    offsets = [(f.timestamp - START).total_seconds() for f in frames]
    assert offsets == pytest.approx([0.0, 0.3, 0.6, 0.9], abs=0.01)
    assert frames[0].image.shape == (480, 640, 3)


def test_realtime_paces_a_file_at_its_frame_rate(clip: Path) -> None:
    source = OpenCvFrameSource("lobby", str(clip), width=80, height=60, realtime=True)
    began = time.monotonic()
    assert len(list(source.frames())) == FRAMES
    assert time.monotonic() - began >= (FRAMES - 1) / FPS - 0.02


def test_close_ends_the_iteration(clip: Path) -> None:
    source = OpenCvFrameSource("lobby", str(clip), width=80, height=60)
    seen = 0
    for _ in source.frames():
        seen += 1
        if seen == 3:
            source.close()
    assert seen == 3
    assert list(source.frames()) == []


def test_a_missing_file_raises_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="no such video file"):
        OpenCvFrameSource("lobby", str(tmp_path / "missing.mp4")).frames()


def test_a_file_that_is_not_a_video_raises_capture_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.avi"
    bogus.write_text("not a video")
    with pytest.raises(CaptureError, match="cannot open"):
        OpenCvFrameSource("lobby", str(bogus)).frames()


def test_an_unreachable_stream_raises_with_the_password_redacted() -> None:
    url = "rtsp://admin:hunter2@127.0.0.1:9/stream1"  # port 9 (discard): nothing listens
    with pytest.raises(CaptureError) as caught:
        OpenCvFrameSource("gate", url).frames()
    assert "hunter2" not in str(caught.value)
    assert "rtsp://admin:***@127.0.0.1:9/stream1" in str(caught.value)
    assert caught.value.source == "rtsp://admin:***@127.0.0.1:9/stream1"


def test_streams_and_files_are_told_apart() -> None:
    assert is_stream("rtsp://cam/1")
    assert is_stream("http://cam/mjpeg")
    assert not is_stream("/clips/a.mp4")
    assert not is_stream("file:///clips/a.mp4")
