"""Frames from a video file or an RTSP/HTTP stream through OpenCV (FFmpeg backend).

Timestamps: a file has its own clock (``CAP_PROP_POS_MSEC``), so its frames are stamped
``start_time + position`` and a replay is reproducible; a live stream is stamped with the wall
clock (UTC) when the frame is read. ``realtime=True`` paces a file at its recorded speed, which
is what a demo or a soak test that stands in for a camera wants.

Frames are resized to ``width`` x ``height`` (the detector's working size) and, with
``stride`` > 1, only every ``stride``-th frame is decoded: skipped ones are grabbed without
decoding, which is what keeps a main stream affordable (DESIGN §6). Only the frame being yielded
is held: never more than one decoded frame per source.

Reconnection after a stream drops is not this module's job: a failed stream read raises
:class:`CaptureError` so that the caller can decide (:mod:`edge_agent.capture.resilient`
reconnects). A stalled stream fails too: FFmpeg's interrupt callback aborts an open after
``open_timeout_s`` and a read after ``read_timeout_s`` with no data (``CAP_PROP_OPEN_TIMEOUT_MSEC``
/ ``CAP_PROP_READ_TIMEOUT_MSEC``), so a camera that hangs without closing its socket is noticed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent.capture.errors import CaptureError
from edge_agent.capture.redact import redact_url
from edge_agent.domain.stream_clock import StreamClock
from edge_agent.ports import Frame
from models.faces import Image

logger = logging.getLogger(__name__)

OPEN_TIMEOUT_MS = 10_000
READ_TIMEOUT_MS = 10_000


def is_stream(url_or_path: str) -> bool:
    """True for network URLs (rtsp://, http://, ...); False for paths and file:// URLs."""
    scheme, sep, _ = url_or_path.partition("://")
    return bool(sep) and scheme.lower() != "file"


class OpenCvFrameSource:
    """Implements :class:`edge_agent.ports.FrameSource` with ``cv2.VideoCapture``.

    The source is opened by :meth:`frames`, which raises :class:`CaptureError` at once when it
    cannot be; iteration ends at the end of a file or after :meth:`close`.
    """

    def __init__(
        self,
        camera_id: str,
        url_or_path: str,
        width: int = 640,
        height: int = 480,
        stride: int = 1,
        realtime: bool = False,
        *,
        start_time: datetime | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        open_timeout_s: float = OPEN_TIMEOUT_MS / 1000,
        read_timeout_s: float = READ_TIMEOUT_MS / 1000,
    ) -> None:
        if width < 1 or height < 1:
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        if start_time is not None and start_time.tzinfo is None:
            raise ValueError("start_time must be timezone-aware")
        if open_timeout_s <= 0 or read_timeout_s <= 0:
            raise ValueError("open_timeout_s and read_timeout_s must be positive")
        self._camera_id = camera_id
        self._url = url_or_path
        self._redacted = redact_url(url_or_path)
        self._stream = is_stream(url_or_path)
        self._size = (width, height)
        self._stride = stride
        self._realtime = realtime
        self._start_time = start_time
        self._sleep = sleep
        self._monotonic = monotonic
        self._open_timeout_ms = round(open_timeout_s * 1000)
        self._read_timeout_ms = round(read_timeout_s * 1000)
        self._lock = threading.Lock()
        self._capture: Any = None
        self._iterating = False
        self._closed = False

    @property
    def camera_id(self) -> str:
        return self._camera_id

    @property
    def is_stream(self) -> bool:
        """True for a network stream (it can be reopened after a failure); False for a file."""
        return self._stream

    @property
    def source(self) -> str:
        """The URL or path with credentials redacted: safe to log."""
        return self._redacted

    def frames(self) -> Iterator[Frame]:
        """Open the source and return an iterator over its frames.

        Raises :class:`CaptureError` here, not on the first ``next``, when the source cannot be
        opened. After a file ends or a stream fails, calling it again opens the source again.
        """
        with self._lock:
            if self._closed:
                return iter(())
            if self._iterating:
                raise RuntimeError(f"camera {self._camera_id}: frames() is already being read")
            stale, self._capture = self._capture, None  # opened by a call never iterated
        if stale is not None:
            stale.release()
        capture = self._open()
        with self._lock:
            self._capture = capture
        return self._iterate(capture)

    def close(self) -> None:
        """Stop the iteration and release the source; safe from another thread, idempotent.

        While a frame is being read, releasing the capture under the reader would pull native
        state from under it, so the reading thread releases it when it sees the flag.
        """
        with self._lock:
            self._closed = True
            if self._iterating:
                return
            capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()

    def _open(self) -> Any:
        if not self._stream and not Path(self._url.removeprefix("file://")).is_file():
            raise CaptureError(f"no such video file: {self._redacted}", source=self._redacted)
        try:
            if self._stream:
                capture = cv2.VideoCapture(
                    self._url,
                    cv2.CAP_FFMPEG,
                    [
                        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                        self._open_timeout_ms,
                        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                        self._read_timeout_ms,
                    ],
                )
            else:
                capture = cv2.VideoCapture(self._url.removeprefix("file://"))
        except cv2.error as err:
            raise CaptureError(
                f"cannot open video source {self._redacted}", source=self._redacted
            ) from err
        if not capture.isOpened():
            capture.release()
            raise CaptureError(f"cannot open video source {self._redacted}", source=self._redacted)
        logger.info(
            "camera %s: opened %s (%s)",
            self._camera_id,
            self._redacted,
            "stream" if self._stream else "file",
        )
        return capture

    def _iterate(self, capture: Any) -> Iterator[Frame]:
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        start = self._start_time or datetime.now(UTC)
        paced_from = self._monotonic()
        last_ms = -1.0
        index = -1
        stream_clock = StreamClock()
        with self._lock:
            self._iterating = True
        try:
            while not self._closed:
                index += 1
                grabbed = capture.grab()
                if not grabbed:
                    if self._stream and not self._closed:
                        raise CaptureError(
                            f"camera {self._camera_id}: stream read failed: {self._redacted}",
                            source=self._redacted,
                        )
                    return
                if index % self._stride:
                    continue
                ok, image = capture.retrieve()
                if not ok or image is None:
                    if self._stream and not self._closed:
                        raise CaptureError(
                            f"camera {self._camera_id}: frame decode failed: {self._redacted}",
                            source=self._redacted,
                        )
                    return
                if self._stream:
                    pts_ms = float(capture.get(cv2.CAP_PROP_POS_MSEC))
                    timestamp = stream_clock.stamp(pts_ms, datetime.now(UTC))
                else:
                    position_ms = self._position_ms(capture, index, fps, last_ms)
                    last_ms = position_ms
                    timestamp = start + timedelta(milliseconds=position_ms)
                    if self._realtime:
                        delay = paced_from + position_ms / 1000.0 - self._monotonic()
                        if delay > 0:
                            self._sleep(delay)
                yield Frame(self._camera_id, index, timestamp, self._resize(image))
        finally:
            with self._lock:
                self._iterating = False
                self._capture = None
            capture.release()

    @staticmethod
    def _position_ms(capture: Any, index: int, fps: float, last_ms: float) -> float:
        """The frame's position in the file; derived from its index when the container lies.

        Some containers report 0 or a repeated position; a timestamp must still rise.
        """
        position = float(capture.get(cv2.CAP_PROP_POS_MSEC))
        if position > last_ms:
            return position
        if fps > 0:
            return max(index * 1000.0 / fps, last_ms + 1.0)
        return last_ms + 1.0

    def _resize(self, image: Image) -> Image:
        width, height = self._size
        if image.shape[1] == width and image.shape[0] == height:
            return np.ascontiguousarray(image)
        shrinking = image.shape[1] > width or image.shape[0] > height
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        resized = cv2.resize(image, (width, height), interpolation=interpolation)
        return np.asarray(resized, dtype=np.uint8)
