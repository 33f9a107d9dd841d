"""Carry face boxes between detections with pyramidal Lucas-Kanade optical flow (OpenCV).

Implements :class:`edge_agent.domain.pipeline.BoxFlow` ("median flow"): a grid of points inside
each box is followed from the previous frame to this one and back again; points whose round trip
misses by more than ``max_fb_error`` pixels, or that LK cannot follow (a flat, textureless
patch), are dropped; the box moves by the median displacement of the rest and scales by the
median change of their pairwise distances. A box keeps fewer than ``min_points`` good points:
lost (None), and the tracker counts a missed frame.

Both frames are converted to grey at ``scale`` of their size (half by default: 320 x 240 for a
640 x 480 frame), about 1 ms of work for a handful of faces on a small CPU. OpenCV's
``TrackerKCF``/``TrackerCSRT`` (opencv-contrib) would work too, but they keep a model per track
and cost several ms per face and frame; flow needs nothing but the previous frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from models.faces import FaceBox, Image

_WIN = (15, 15)
_LEVELS = 2
_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.03)
Grey = npt.NDArray[np.uint8]


class LucasKanadeBoxFlow:
    """One camera's flow; feed it that camera's frames in order (see the module docstring)."""

    def __init__(
        self,
        *,
        scale: float = 0.5,
        grid: int = 6,
        max_fb_error: float = 1.0,
        min_points: int = 6,
    ) -> None:
        if not 0 < scale <= 1:
            raise ValueError(f"scale must be in (0, 1], got {scale}")
        if grid < 2:
            raise ValueError(f"grid must be >= 2, got {grid}")
        self._scale = scale
        self._grid = grid
        self._max_fb = max_fb_error
        self._min_points = min_points
        self._previous: Grey | None = None

    def _grey(self, image: Image) -> Grey:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        if self._scale != 1.0:
            grey = cv2.resize(
                grey, None, fx=self._scale, fy=self._scale, interpolation=cv2.INTER_AREA
            )
        return np.asarray(grey, dtype=np.uint8)

    def reset(self, image: Image) -> None:
        self._previous = self._grey(image)

    def _points(self, box: FaceBox) -> npt.NDArray[np.float32]:
        """A grid over the middle 80 % of the box, in the scaled frame."""
        s = self._scale
        xs = np.linspace(box.x + 0.1 * box.w, box.x + 0.9 * box.w, self._grid) * s
        ys = np.linspace(box.y + 0.1 * box.h, box.y + 0.9 * box.h, self._grid) * s
        gx, gy = np.meshgrid(xs, ys)
        return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)

    def track(self, image: Image, boxes: Sequence[FaceBox]) -> list[FaceBox | None]:
        current = self._grey(image)
        previous, self._previous = self._previous, current
        if previous is None or previous.shape != current.shape or not boxes:
            return [None] * len(boxes)
        per_box = self._grid * self._grid
        start = np.concatenate([self._points(b) for b in boxes]).reshape(-1, 1, 2)
        moved, status, _ = cv2.calcOpticalFlowPyrLK(
            previous,
            current,
            start,
            start.copy(),
            winSize=_WIN,
            maxLevel=_LEVELS,
            criteria=_CRITERIA,
        )
        back, status_back, _ = cv2.calcOpticalFlowPyrLK(
            current,
            previous,
            moved,
            start.copy(),
            winSize=_WIN,
            maxLevel=_LEVELS,
            criteria=_CRITERIA,
        )
        error = np.linalg.norm((start - back).reshape(-1, 2), axis=1)
        good = (status.ravel() == 1) & (status_back.ravel() == 1) & (error < self._max_fb)
        p0 = start.reshape(-1, 2)
        p1 = moved.reshape(-1, 2)
        out: list[FaceBox | None] = []
        for i, box in enumerate(boxes):
            sel = slice(i * per_box, (i + 1) * per_box)
            ok = good[sel]
            if int(ok.sum()) < self._min_points:
                out.append(None)
                continue
            out.append(self._moved(box, p0[sel][ok], p1[sel][ok]))
        return out

    def _moved(
        self, box: FaceBox, p0: npt.NDArray[np.float32], p1: npt.NDArray[np.float32]
    ) -> FaceBox:
        shift = np.median(p1 - p0, axis=0) / self._scale
        d0 = np.linalg.norm(p0[:, None, :] - p0[None, :, :], axis=2)
        d1 = np.linalg.norm(p1[:, None, :] - p1[None, :, :], axis=2)
        upper = np.triu_indices(len(p0), k=1)
        ratios = d1[upper] / np.maximum(d0[upper], 1e-6)
        zoom = float(np.clip(np.median(ratios), 0.9, 1.1)) if ratios.size else 1.0
        cx = box.x + box.w / 2 + float(shift[0])
        cy = box.y + box.h / 2 + float(shift[1])
        w = max(1, round(box.w * zoom))
        h = max(1, round(box.h * zoom))
        return FaceBox(round(cx - w / 2), round(cy - h / 2), w, h)
