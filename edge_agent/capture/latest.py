"""Keep only the newest frame of a live stream.

A camera delivers 15 to 25 frames/s; the face pipeline on a small CPU manages fewer. Reading frames
in the pipeline's own loop would let OpenCV's buffer (and the latency) grow without bound, so a
grabber thread decodes continuously and keeps one slot: the newest frame. The pipeline takes
whatever is newest; frames overwritten before the pipeline took them are counted as dropped and
reported in the heartbeat. At most two decoded frames per camera are alive at once (the slot and
the one being processed), as DESIGN §6 asks. File sources don't need this: every frame of a
recording is processed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from types import TracebackType

from edge_agent.ports import Frame, FrameSource

logger = logging.getLogger(__name__)


class LatestFrameGrabber:
    """A :class:`FrameSource` that yields the newest frame of ``inner``, dropping stale ones."""

    def __init__(self, inner: FrameSource, *, poll_s: float = 0.5) -> None:
        self._inner = inner
        self._poll_s = poll_s
        self._cond = threading.Condition()
        self._slot: Frame | None = None
        self._finished = False
        self._error: BaseException | None = None
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self.grabbed = 0
        self.dropped = 0

    @property
    def camera_id(self) -> str:
        return self._inner.camera_id

    def _grab(self) -> None:
        try:
            for frame in self._inner.frames():
                with self._cond:
                    if self._slot is not None:
                        self.dropped += 1
                    self._slot = frame
                    self.grabbed += 1
                    self._cond.notify()
                if self._closed.is_set():
                    break
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, re-raised there
            self._error = err
        finally:
            with self._cond:
                self._finished = True
                self._cond.notify()

    def frames(self) -> Iterator[Frame]:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._grab, name=f"grab-{self.camera_id}", daemon=True
            )
            self._thread.start()
        while True:
            with self._cond:
                while self._slot is None and not self._finished and not self._closed.is_set():
                    self._cond.wait(self._poll_s)
                frame, self._slot = self._slot, None
                finished = self._finished
            if frame is not None:
                yield frame
                continue
            if self._closed.is_set():
                return
            if finished:
                if self._error is not None:
                    raise self._error
                return

    def close(self) -> None:
        self._closed.set()
        self._inner.close()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def __enter__(self) -> LatestFrameGrabber:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()
