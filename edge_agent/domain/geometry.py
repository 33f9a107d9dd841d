"""Box arithmetic for the tracker and the snapshot crop: IoU, clipping, margins, centre distance.

Pure (numpy and contracts only). Functions accept anything with integer ``x, y, w, h``
attributes (:class:`BoxLike`) so that the perception layer's ``FaceBox`` and the wire's
:class:`~contracts.messages.BBox` are both accepted without this module importing the former.
Boxes are pixel rectangles ``[x, x + w) x [y, y + h)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from contracts.messages import BBox


class BoxLike(Protocol):
    """Any pixel box given by its top-left corner, width and height."""

    @property
    def x(self) -> int: ...

    @property
    def y(self) -> int: ...

    @property
    def w(self) -> int: ...

    @property
    def h(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Rect:
    """A plain box that, unlike :class:`BBox`, may lie partly outside the image."""

    x: int
    y: int
    w: int
    h: int


def iou(a: BoxLike, b: BoxLike) -> float:
    """Intersection over union of two boxes, in [0, 1]; 0 when either box is empty."""
    ix = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    iy = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = float(ix * iy)
    union = float(a.w * a.h + b.w * b.h) - inter
    return inter / union if union > 0 else 0.0


def _as_array(boxes: Sequence[BoxLike]) -> npt.NDArray[np.float64]:
    return np.array([(b.x, b.y, b.w, b.h) for b in boxes], dtype=np.float64).reshape(-1, 4)


def iou_matrix(a: Sequence[BoxLike], b: Sequence[BoxLike]) -> npt.NDArray[np.float64]:
    """IoU of every box in ``a`` with every box in ``b``: shape ``(len(a), len(b))``.

    Vectorised because the tracker compares every open track with every detection each frame.
    """
    aa, bb = _as_array(a), _as_array(b)
    ax0, ay0 = aa[:, 0:1], aa[:, 1:2]
    ax1, ay1 = ax0 + aa[:, 2:3], ay0 + aa[:, 3:4]
    bx0, by0 = bb[:, 0], bb[:, 1]
    bx1, by1 = bx0 + bb[:, 2], by0 + bb[:, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0.0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0.0, None)
    inter = iw * ih
    union = (aa[:, 2:3] * aa[:, 3:4]) + (bb[:, 2] * bb[:, 3]) - inter
    out: npt.NDArray[np.float64] = np.divide(
        inter, union, out=np.zeros_like(inter), where=union > 0
    )
    return out


def centre(box: BoxLike) -> tuple[float, float]:
    return (box.x + box.w / 2.0, box.y + box.h / 2.0)


def centre_distance(a: BoxLike, b: BoxLike) -> float:
    """Euclidean distance in pixels between the centres of two boxes."""
    (ax, ay), (bx, by) = centre(a), centre(b)
    return math.hypot(ax - bx, ay - by)


def clip_box(box: BoxLike, width: int, height: int) -> BBox | None:
    """The part of ``box`` inside a ``width`` x ``height`` image, or None when nothing is left.

    Detectors may return boxes that poke out of the frame; the wire's :class:`BBox` only accepts
    non-negative corners and positive sizes, so every box is clipped before it is tracked.
    """
    x0, y0 = max(box.x, 0), max(box.y, 0)
    x1, y1 = min(box.x + box.w, width), min(box.y + box.h, height)
    if x1 <= x0 or y1 <= y0:
        return None
    return BBox(x=x0, y=y0, w=x1 - x0, h=y1 - y0)


def expand_box(box: BoxLike, margin: float, width: int, height: int) -> BBox | None:
    """``box`` grown by ``margin`` x its size on every side, then clipped to the image.

    A face crop with some context (hair, chin) is what a person recognises in a snapshot.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    dx, dy = round(box.w * margin), round(box.h * margin)
    return clip_box(Rect(box.x - dx, box.y - dy, box.w + 2 * dx, box.h + 2 * dy), width, height)
