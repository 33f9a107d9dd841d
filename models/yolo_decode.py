"""Pre- and post-processing of Ultralytics-style YOLOv8 detectors, in numpy alone.

An exported YOLOv8 detector takes one letterboxed RGB image, float32 in [0, 1], NCHW, and
returns ``[1, 4 + nc, N]``: for each of ``N`` anchors the box centre, width and height in the
letterboxed input's pixels, then one sigmoid score per class (no objectness, no NMS). This
module does everything around the session call:

- :func:`letterbox_geometry`: the scale and padding that fit a frame into the model's input
  without distorting it (the resize itself is the caller's, who owns an image library);
- :func:`to_input`: a letterboxed BGR uint8 image -> the model's input tensor;
- :func:`decode`: the raw output -> candidate boxes over a score floor, best class per anchor;
- :func:`nms`: greedy non-maximum suppression per class;
- :func:`to_frame`: boxes in the input's pixels -> boxes in the original frame, clipped.

Pure: no onnxruntime, no OpenCV, so the unit tests run it on hand-made tensors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

PAD_VALUE = 114
"""Grey used by Ultralytics for the letterbox border; the models were trained with it."""


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a ``src_w`` x ``src_h`` frame sits in a ``dst_w`` x ``dst_h`` model input.

    The frame is scaled by ``scale`` to ``new_w`` x ``new_h`` and placed at (``pad_x``,
    ``pad_y``); the rest of the input is :data:`PAD_VALUE` grey.
    """

    src_w: int
    src_h: int
    dst_w: int
    dst_h: int
    scale: float
    new_w: int
    new_h: int
    pad_x: int
    pad_y: int


def letterbox_geometry(src_w: int, src_h: int, dst_w: int, dst_h: int) -> Letterbox:
    """Fit ``src`` into ``dst`` keeping its aspect ratio, centred (Ultralytics' ``LetterBox``)."""
    if min(src_w, src_h, dst_w, dst_h) <= 0:
        raise ValueError(f"sizes must be positive: src {src_w}x{src_h}, dst {dst_w}x{dst_h}")
    scale = min(dst_w / src_w, dst_h / src_h)
    new_w = min(dst_w, max(1, round(src_w * scale)))
    new_h = min(dst_h, max(1, round(src_h * scale)))
    pad_x = (dst_w - new_w) // 2
    pad_y = (dst_h - new_h) // 2
    return Letterbox(src_w, src_h, dst_w, dst_h, scale, new_w, new_h, pad_x, pad_y)


def place(resized: npt.NDArray[np.uint8], box: Letterbox) -> npt.NDArray[np.uint8]:
    """The model-sized canvas with ``resized`` (``new_h`` x ``new_w`` x 3) at the padding offset."""
    if resized.shape[:2] != (box.new_h, box.new_w):
        raise ValueError(
            f"resized image is {resized.shape[1]}x{resized.shape[0]}, "
            f"expected {box.new_w}x{box.new_h}"
        )
    canvas = np.full((box.dst_h, box.dst_w, 3), PAD_VALUE, dtype=np.uint8)
    canvas[box.pad_y : box.pad_y + box.new_h, box.pad_x : box.pad_x + box.new_w] = resized
    return canvas


def to_input(letterboxed_bgr: npt.NDArray[np.uint8]) -> FloatArray:
    """BGR uint8 HWC -> RGB float32 NCHW in [0, 1], contiguous (what the exporter expects)."""
    if letterboxed_bgr.ndim != 3 or letterboxed_bgr.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 image, got shape {letterboxed_bgr.shape}")
    rgb = letterboxed_bgr[:, :, ::-1]
    chw = np.transpose(rgb, (2, 0, 1))[np.newaxis]
    return np.ascontiguousarray(chw, dtype=np.float32) / np.float32(255.0)


@dataclass(frozen=True, slots=True)
class Candidates:
    """Boxes as ``[x1, y1, x2, y2]`` rows (float32), with their score and class id."""

    boxes: FloatArray
    scores: FloatArray
    classes: IntArray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def take(self, index: npt.NDArray[np.intp] | IntArray) -> Candidates:
        return Candidates(self.boxes[index], self.scores[index], self.classes[index])


def empty_candidates() -> Candidates:
    return Candidates(
        np.zeros((0, 4), dtype=np.float32),
        np.zeros((0,), dtype=np.float32),
        np.zeros((0,), dtype=np.int64),
    )


def decode(
    output: npt.NDArray[np.floating],
    min_score: float | Mapping[int, float],
) -> Candidates:
    """Raw ``[1, 4 + nc, N]`` (or ``[4 + nc, N]``) -> the anchors whose best class clears its floor.

    ``min_score`` is one floor for every class or a floor per class id (a class missing from the
    mapping is never reported). Each anchor keeps only its best class, as Ultralytics does with
    ``multi_label=False``.
    """
    raw = np.asarray(output)
    if raw.ndim == 3:
        if raw.shape[0] != 1:
            raise ValueError(f"expected a batch of one, got {raw.shape[0]}")
        raw = raw[0]
    if raw.ndim != 2 or raw.shape[0] < 5:
        raise ValueError(f"expected [1, 4 + nc, N] with nc >= 1, got {np.asarray(output).shape}")
    preds = raw.astype(np.float32, copy=False).T  # [N, 4 + nc]
    class_scores = preds[:, 4:]
    classes = np.argmax(class_scores, axis=1).astype(np.int64)
    scores = class_scores[np.arange(preds.shape[0]), classes]
    nc = class_scores.shape[1]
    if isinstance(min_score, Mapping):
        floors = np.full(nc, np.inf, dtype=np.float32)
        for class_id, floor in min_score.items():
            if 0 <= class_id < nc:
                floors[class_id] = floor
        keep = scores >= floors[classes]
    else:
        keep = scores >= np.float32(min_score)
    if not np.any(keep):
        return empty_candidates()
    cx, cy, w, h = (preds[keep, i] for i in range(4))
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return Candidates(boxes.astype(np.float32), scores[keep].astype(np.float32), classes[keep])


def box_iou(box: FloatArray, others: FloatArray) -> FloatArray:
    """IoU of one ``[x1, y1, x2, y2]`` box with each row of ``others``."""
    ix1 = np.maximum(box[0], others[:, 0])
    iy1 = np.maximum(box[1], others[:, 1])
    ix2 = np.minimum(box[2], others[:, 2])
    iy2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = max(float(box[2] - box[0]), 0.0) * max(float(box[3] - box[1]), 0.0)
    areas = np.clip(others[:, 2] - others[:, 0], 0, None) * np.clip(
        others[:, 3] - others[:, 1], 0, None
    )
    union = area + areas - inter
    out = np.zeros_like(inter, dtype=np.float32)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def nms(candidates: Candidates, iou_threshold: float, max_det: int = 100) -> Candidates:
    """Greedy NMS per class: highest score first, drop same-class boxes overlapping it by more
    than ``iou_threshold``. Returns at most ``max_det`` boxes, best first."""
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
    if len(candidates) == 0 or max_det <= 0:
        return empty_candidates()
    order = np.argsort(-candidates.scores, kind="stable")
    kept: list[int] = []
    suppressed = np.zeros(len(candidates), dtype=bool)
    for rank, i in enumerate(order):
        if suppressed[i]:
            continue
        kept.append(int(i))
        if len(kept) >= max_det:
            break
        rest = order[rank + 1 :]
        rest = rest[~suppressed[rest] & (candidates.classes[rest] == candidates.classes[i])]
        if rest.size:
            overlaps = box_iou(candidates.boxes[i], candidates.boxes[rest])
            suppressed[rest[overlaps > iou_threshold]] = True
    return candidates.take(np.asarray(kept, dtype=np.int64))


def to_frame(boxes: FloatArray, box: Letterbox) -> FloatArray:
    """``[x1, y1, x2, y2]`` rows in the model input's pixels -> the original frame's, clipped."""
    out = np.asarray(boxes, dtype=np.float32).copy()
    if out.size == 0:
        return out.reshape(0, 4)
    out[:, [0, 2]] = (out[:, [0, 2]] - box.pad_x) / box.scale
    out[:, [1, 3]] = (out[:, [1, 3]] - box.pad_y) / box.scale
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, box.src_w)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, box.src_h)
    return out


def to_xywh(x1: float, y1: float, x2: float, y2: float) -> tuple[int, int, int, int] | None:
    """Integer top-left/width/height of a frame box, or None when less than a pixel remains."""
    left, top = int(np.floor(x1)), int(np.floor(y1))
    right, bottom = int(np.ceil(x2)), int(np.ceil(y2))
    if right - left < 1 or bottom - top < 1:
        return None
    return left, top, right - left, bottom - top
