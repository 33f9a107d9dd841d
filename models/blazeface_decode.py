"""BlazeFace post-processing, pure numpy: SSD anchors, box and keypoint decoding, weighted NMS,
and the square windows a large frame is searched in.

The numbers are MediaPipe's own for the short-range model (``face_detection_short_range.pbtxt``):
four anchor layers at strides 8, 16, 16, 16 on a 128 px input, two anchors per cell of fixed size
(layers of one stride are merged): 16 x 16 x 2 + 8 x 8 x 6 = 896 anchors. Each of the 16 regressor
values per anchor is in input pixels: box centre offset (x, y), size (w, h), then six keypoints
(x, y): the person's right eye, left eye, nose tip, mouth centre, right and left ear tragion.
Scores are logits (clipped to +-100, then a sigmoid). Overlapping detections are merged, not
dropped: MediaPipe's *weighted* NMS averages every box (and keypoint) that overlaps the best one
by IoU > 0.3, weighted by score, which steadies boxes from frame to frame.

The short-range model finds faces of about 15-75 % of its square input (measured on t1.jpg at
640 px: its six 48-64 px faces all found in 320 px windows, five of six in 400 px ones).
:func:`windows` covers a frame with squares at as many sizes as it takes to find faces down to
``min_face_px``, so one frame costs a small batch of 128 px inferences rather than one
inference at a size the model was not trained for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

INPUT_SIZE = 128
STRIDES = (8, 16, 16, 16)
NUM_KEYPOINTS = 6
SCORE_CLIP = 100.0
MIN_SCORE = 0.5
NMS_IOU = 0.3
FACE_FRACTION_MIN = 0.15
"""The smallest face, as a fraction of the window side, the short-range model finds reliably."""
FULL_FACE_FRACTION_MIN = 0.08
"""The same for the full-range model (benchmarks/blazeface_range.py: on the whole 640 px frame,
a 192 px input, it found 1 of 7 faces of 5 % of the side, 6 of 7 of 6 %; in 320 px windows 5 of
7 at 7.5 %, 7 of 7 at 10 %)."""
MAX_LEVEL_RATIO = 3.0
"""Window sides shrink by at most this factor from one level to the next (the model covers faces
of about 15-75 % of its window: a 5-fold range, so levels three-fold apart overlap)."""


@dataclass(frozen=True, slots=True)
class Variant:
    """One BlazeFace model: its manifest id, input side, SSD layout (MediaPipe's graph options),
    the smallest face it finds reliably as a fraction of its input, and its score threshold."""

    model_id: str
    input_size: int
    strides: tuple[int, ...]
    per_layer: int
    face_fraction_min: float
    min_score: float
    """The detector's default threshold: the edge's 0.7 for short-range, MediaPipe's 0.6 for
    full-range (its scores run lower)."""


SHORT_RANGE = Variant("blazeface-short", INPUT_SIZE, STRIDES, 2, FACE_FRACTION_MIN, 0.7)
FULL_RANGE = Variant("blazeface-full", 192, (4,), 1, FULL_FACE_FRACTION_MIN, 0.6)
"""``face_detection_full_range.pbtxt``: one layer of stride 4 on a 192 px input, one anchor per
cell (``interpolated_scale_aspect_ratio: 0``): 48 x 48 = 2304 anchors; min score 0.6."""
VARIANTS = {v.model_id: v for v in (SHORT_RANGE, FULL_RANGE)}


def ssd_anchors(
    input_size: int = INPUT_SIZE, strides: tuple[int, ...] = STRIDES, per_layer: int = 2
) -> FloatArray:
    """Anchor centres [N, 2] (x, y) in 0..1, in MediaPipe's order (layer, row, column, anchor).

    MediaPipe's SsdAnchorsCalculator with ``fixed_anchor_size`` and one aspect ratio: with an
    interpolated scale (the default) two anchors per cell per layer (``per_layer=2``), without
    one (``interpolated_scale_aspect_ratio: 0``, the full-range face model) one; layers of
    equal stride merged."""
    centres: list[tuple[float, float]] = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        same = 0
        while layer + same < len(strides) and strides[layer + same] == stride:
            same += 1
        per_cell = per_layer * same
        cells = math.ceil(input_size / stride)
        for y in range(cells):
            for x in range(cells):
                centre = ((x + 0.5) / cells, (y + 0.5) / cells)
                centres.extend([centre] * per_cell)
        layer += same
    return np.asarray(centres, dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Detections:
    """Boxes [K, 4] (x0, y0, x1, y1), keypoints [K, 6, 2] and scores [K], in one frame."""

    boxes: FloatArray
    keypoints: FloatArray
    scores: FloatArray

    def __len__(self) -> int:
        return len(self.scores)

    @staticmethod
    def empty(num_keypoints: int = NUM_KEYPOINTS) -> Detections:
        return Detections(
            np.zeros((0, 4), np.float32),
            np.zeros((0, num_keypoints, 2), np.float32),
            np.zeros(0, np.float32),
        )

    def mapped(self, scale: float, dx: float, dy: float) -> Detections:
        """Coordinates times ``scale`` plus (dx, dy): a window's frame to the image's."""
        shift = np.array([dx, dy], dtype=np.float32)
        boxes = self.boxes * scale + np.tile(shift, 2)
        return Detections(boxes, self.keypoints * scale + shift, self.scores)

    @staticmethod
    def concat(parts: list[Detections]) -> Detections:
        if not parts:
            return Detections.empty()
        return Detections(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.keypoints for p in parts]),
            np.concatenate([p.scores for p in parts]),
        )


def decode(
    regressors: npt.ArrayLike,
    logits: npt.ArrayLike,
    anchors: FloatArray,
    input_size: int = INPUT_SIZE,
    min_score: float = MIN_SCORE,
    num_keypoints: int = NUM_KEYPOINTS,
) -> Detections:
    """One image's raw outputs ([N, 4 + 2 * num_keypoints], [N] or [N, 1]) -> detections above
    ``min_score``, in input pixels (0..``input_size``)."""
    raw = np.asarray(regressors, dtype=np.float32).reshape(len(anchors), -1)
    logit = np.clip(np.asarray(logits, dtype=np.float32).reshape(-1), -SCORE_CLIP, SCORE_CLIP)
    scores = 1.0 / (1.0 + np.exp(-logit.astype(np.float64)))
    keep = scores >= min_score
    if not keep.any():
        return Detections.empty(num_keypoints)
    raw, scores, anchor = raw[keep], scores[keep], anchors[keep] * input_size
    centre = raw[:, 0:2] + anchor
    half = raw[:, 2:4] / 2.0
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    points = raw[:, 4 : 4 + 2 * num_keypoints].reshape(-1, num_keypoints, 2) + anchor[:, None, :]
    return Detections(
        boxes.astype(np.float32), points.astype(np.float32), scores.astype(np.float32)
    )


def iou(box: FloatArray, others: FloatArray) -> FloatArray:
    """IoU of one box (x0, y0, x1, y1) with each of ``others`` [K, 4]."""
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    return np.asarray(np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0), np.float32)


def weighted_nms(found: Detections, iou_threshold: float = NMS_IOU) -> Detections:
    """MediaPipe's weighted non-maximum suppression: best first; every remaining detection that
    overlaps it by more than ``iou_threshold`` is merged into it (score-weighted mean of boxes and
    keypoints; the best score is kept)."""
    order = np.argsort(-found.scores, kind="stable")
    boxes, points, scores = found.boxes[order], found.keypoints[order], found.scores[order]
    remaining = np.ones(len(scores), dtype=bool)
    out_boxes, out_points, out_scores = [], [], []
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        overlap = remaining & (iou(boxes[i], boxes) > iou_threshold)
        overlap[i] = True
        weights = scores[overlap][:, None]
        total = float(weights.sum())
        out_boxes.append((boxes[overlap] * weights).sum(axis=0) / total)
        out_points.append((points[overlap] * weights[:, :, None]).sum(axis=0) / total)
        out_scores.append(scores[i])
        remaining &= ~overlap
    if not out_scores:
        return Detections.empty(found.keypoints.shape[1])
    return Detections(
        np.asarray(out_boxes, np.float32),
        np.asarray(out_points, np.float32),
        np.asarray(out_scores, np.float32),
    )


@dataclass(frozen=True, slots=True)
class Window:
    """A square of ``side`` pixels at (x, y) in the image; it may reach past the image's edge
    (the overhang is padded black)."""

    x: int
    y: int
    side: int


def _starts(length: int, side: int, overlap: float) -> list[int]:
    if side >= length:
        return [(length - side) // 2]
    count = math.ceil((length - side) / (side * (1.0 - overlap))) + 1
    step = (length - side) / (count - 1)
    return [round(i * step) for i in range(count)]


def touching(wins: list[Window], regions: Sequence[tuple[int, int, int, int]]) -> list[Window]:
    """The windows that overlap at least one of ``regions`` (x, y, w, h rectangles). A face lies
    whole in some window (:func:`windows` overlaps them); if any part of it is in a region, every
    window that holds it whole touches that region, so searching these finds it."""
    if not wins or not regions:
        return []
    r = np.asarray(regions, dtype=np.int64).reshape(-1, 4)
    w = np.asarray([(win.x, win.y, win.side) for win in wins], dtype=np.int64)
    overlaps = (
        (w[:, None, 0] < r[None, :, 0] + r[None, :, 2])
        & (r[None, :, 0] < w[:, None, 0] + w[:, None, 2])
        & (w[:, None, 1] < r[None, :, 1] + r[None, :, 3])
        & (r[None, :, 1] < w[:, None, 1] + w[:, None, 2])
        & (r[None, :, 2] > 0)
        & (r[None, :, 3] > 0)
    )
    keep = np.flatnonzero(overlaps.any(axis=1))
    return [wins[int(i)] for i in keep]


def windows(
    width: int,
    height: int,
    min_face_px: int,
    overlap: float = 0.25,
    max_windows: int = 64,
    face_fraction_min: float = FACE_FRACTION_MIN,
) -> list[Window]:
    """Squares covering a ``width`` x ``height`` image at sizes from the whole image (its longer
    side) down, at most :data:`MAX_LEVEL_RATIO`-fold per level, to the side whose
    ``face_fraction_min`` (15 % for the short-range model) is ``min_face_px``; neighbours overlap by
    ``overlap`` of a side so a face cut by one square is whole in the next. At most
    ``max_windows`` (the smallest sizes are dropped first)."""
    if width < 1 or height < 1 or min_face_px < 1:
        raise ValueError("width, height and min_face_px must be >= 1")
    if not 0.0 <= overlap < 1.0:
        raise ValueError("overlap must be in [0, 1)")
    sides = [max(width, height)]
    smallest = max(math.ceil(min_face_px / face_fraction_min), 32)
    while sides[-1] > smallest:
        sides.append(max(smallest, math.ceil(sides[-1] / MAX_LEVEL_RATIO)))
    out: list[Window] = []
    for side in sides:
        level = [
            Window(x, y, side)
            for y in _starts(height, side, overlap)
            for x in _starts(width, side, overlap)
        ]
        if out and len(out) + len(level) > max_windows:
            break
        out.extend(level)
    return out
