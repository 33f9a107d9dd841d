"""InsightFace face backend: SCRFD detector + ArcFace embedder from the ``buffalo_l`` pack.

NOT FOR COMMERCIAL USE without a licence from InsightFace: the pretrained packs are released for
non-commercial research (the manifest marks ``buffalo_l`` so). The weights come only through
``innsight models fetch buffalo_l``, which unpacks and verifies ``det_10g.onnx`` (SCRFD-10G) and
``w600k_r50.onnx`` (ArcFace ResNet-50 trained on WebFace600K).

The two models run on ONNX Runtime through :func:`models.session.create_session` (TensorRT ->
CUDA -> CPU); the ``insightface`` package is *not* imported (it is installed ``--no-deps`` here,
for its sample photos only). Pre- and post-processing follow ``insightface.model_zoo``'s
``SCRFD`` and ``ArcFaceONNX`` exactly, so the same files give the same faces and embeddings:

- SCRFD: the image letterboxed into ``det_size`` (top-left, aspect kept), ``(x - 127.5) / 128``,
  RGB; outputs per stride (8, 16, 32; two anchors a cell): scores, box distances and five
  keypoint offsets, in stride units from the anchor centres; then NMS at IoU 0.4.
- ArcFace: the 112 px crop aligned on the five keypoints, ``(x - 127.5) / 127.5``, RGB; 512 values.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.face_align import arcface_crop
from models.faces import (
    AlignedFace,
    DetectedFace,
    Embedding,
    FaceBox,
    Image,
    ModelUnavailableError,
    l2_normalise,
    resolve_model_file,
)

logger = logging.getLogger(__name__)

MODEL_ID = "buffalo_l"
DETECTOR_FILE = "det_10g.onnx"
RECOGNIZER_FILE = "w600k_r50.onnx"
EMBEDDING_DIM = 512
STRIDES = (8, 16, 32)
ANCHORS_PER_CELL = 2
OPERATING_THRESHOLD = 0.4
"""Cosine threshold commonly used with ArcFace R50 embeddings; NOT measured in this project."""

FloatArray = npt.NDArray[np.float32]


def letterbox(image: Image, size: int) -> tuple[npt.NDArray[np.float32], float]:
    """SCRFD's input blob (1 x 3 x size x size) and the scale from image to blob pixels."""
    import cv2

    height, width = image.shape[:2]
    scale = min(size / height, size / width)
    new_w, new_h = max(1, int(width * scale)), max(1, int(height * scale))
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h))
    rgb = canvas[:, :, ::-1].astype(np.float32)
    blob = ((rgb - 127.5) / 128.0).transpose(2, 0, 1)[None]
    return np.ascontiguousarray(blob, dtype=np.float32), new_h / height


def anchor_centres(
    height: int, width: int, stride: int, per_cell: int = ANCHORS_PER_CELL
) -> FloatArray:
    """(x, y) of every anchor of a stride's feature map, row-major, ``per_cell`` per cell."""
    rows, cols = height // stride, width // stride
    ys, xs = np.mgrid[:rows, :cols]
    centres = (np.stack([xs, ys], axis=-1).reshape(-1, 2) * stride).astype(np.float32)
    return np.repeat(centres, per_cell, axis=0) if per_cell > 1 else centres


def distance2bbox(points: FloatArray, distance: FloatArray) -> FloatArray:
    return np.stack(
        [
            points[:, 0] - distance[:, 0],
            points[:, 1] - distance[:, 1],
            points[:, 0] + distance[:, 2],
            points[:, 1] + distance[:, 3],
        ],
        axis=-1,
    ).astype(np.float32)


def distance2kps(points: FloatArray, distance: FloatArray) -> FloatArray:
    offsets = distance.reshape(len(distance), -1, 2)
    return (points[:, None, :] + offsets).astype(np.float32)


def nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; indices kept, best score first."""
    x0, y0, x1, y1 = boxes.T
    areas = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = list(np.argsort(-scores))
    keep: list[int] = []
    while order:
        i = int(order.pop(0))
        keep.append(i)
        if not order:
            break
        rest = np.asarray(order)
        w = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]) + 1)
        overlap = w * h / (areas[i] + areas[rest] - w * h)
        order = [int(j) for j, o in zip(rest, overlap, strict=True) if o <= iou_threshold]
    return keep


def decode_scrfd(
    outputs: Sequence[npt.NDArray[np.floating]],
    input_size: int,
    det_scale: float,
    *,
    score_threshold: float = 0.5,
    nms_threshold: float = 0.4,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """SCRFD's nine outputs (scores, boxes, keypoints per stride; batched or not) -> boxes
    (N x 4, x0 y0 x1 y1), scores (N), keypoints (N x 5 x 2) in image pixels, after NMS."""
    n = len(STRIDES)
    if len(outputs) != 3 * n:
        raise ValueError(f"SCRFD with keypoints has {3 * n} outputs, got {len(outputs)}")
    all_boxes, all_scores, all_kps = [], [], []
    for i, stride in enumerate(STRIDES):
        scores = np.asarray(outputs[i], dtype=np.float32)
        boxes = np.asarray(outputs[i + n], dtype=np.float32)
        kps = np.asarray(outputs[i + 2 * n], dtype=np.float32)
        if scores.ndim == 3:  # batched export: (1, N, k)
            scores, boxes, kps = scores[0], boxes[0], kps[0]
        centres = anchor_centres(input_size, input_size, stride)
        if len(centres) != len(scores):
            raise ValueError(f"stride {stride}: {len(scores)} scores for {len(centres)} anchors")
        hit = scores.reshape(-1) >= score_threshold
        all_scores.append(scores.reshape(-1)[hit])
        all_boxes.append(distance2bbox(centres, boxes * stride)[hit])
        all_kps.append(distance2kps(centres, kps * stride)[hit])
    boxes_all = np.concatenate(all_boxes) / det_scale
    scores_all = np.concatenate(all_scores)
    kps_all = np.concatenate(all_kps) / det_scale
    if not len(scores_all):
        return (
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, 5, 2), np.float32),
        )
    keep = nms(boxes_all, scores_all, nms_threshold)
    return (
        boxes_all[keep].astype(np.float32),
        scores_all[keep].astype(np.float32),
        kps_all[keep].astype(np.float32),
    )


def arcface_blob(aligned_bgr: Image) -> FloatArray:
    """ArcFace's input: 1 x 3 x 112 x 112, RGB, (x - 127.5) / 127.5."""
    rgb = aligned_bgr[:, :, ::-1].astype(np.float32)
    return np.ascontiguousarray(((rgb - 127.5) / 127.5).transpose(2, 0, 1)[None], dtype=np.float32)


def _pack_files(models_dir: Path | None) -> tuple[Path, Path]:
    pack = resolve_model_file(MODEL_ID, models_dir)
    directory = pack if pack.is_dir() else pack.parent
    det, rec = directory / DETECTOR_FILE, directory / RECOGNIZER_FILE
    for path in (det, rec):
        if not path.is_file():
            raise ModelUnavailableError(
                f"{MODEL_ID}: {path} is missing; run `innsight models fetch {MODEL_ID}`"
            )
    return det, rec


class InsightFaceAnalyzer:
    """Implements :class:`models.faces.AligningFaceAnalyzer`: SCRFD + ArcFace on ONNX Runtime."""

    def __init__(
        self,
        models_dir: Path | None = None,
        *,
        det_size: int = 640,
        score_threshold: float = 0.5,
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
    ) -> None:
        from models.session import create_session

        det_path, rec_path = _pack_files(models_dir)
        threads = intra_op_threads
        self._det: Any = create_session(det_path, providers=providers, intra_op_threads=threads)
        self._rec: Any = create_session(rec_path, providers=providers, intra_op_threads=threads)
        self._det_input = self._det.get_inputs()[0].name
        self._rec_input = self._rec.get_inputs()[0].name
        self._det_size = det_size
        self._score_threshold = score_threshold
        self._lock = threading.Lock()
        logger.warning(
            "InsightFace %s loaded: its weights are licensed for NON-COMMERCIAL use only", MODEL_ID
        )

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def dim(self) -> int:
        return EMBEDDING_DIM

    def detect(self, image: Image) -> list[DetectedFace]:
        height, width = image.shape[:2]
        blob, scale = letterbox(image, self._det_size)
        with self._lock:
            outputs = self._det.run(None, {self._det_input: blob})
        boxes, scores, kps = decode_scrfd(
            outputs, self._det_size, scale, score_threshold=self._score_threshold
        )
        faces = []
        for (x0, y0, x1, y1), score, points in zip(boxes, scores, kps, strict=True):
            left, top = max(int(x0), 0), max(int(y0), 0)
            right, bottom = min(int(x1), width - 1), min(int(y1), height - 1)
            if right > left and bottom > top:
                box = FaceBox(left, top, right - left, bottom - top)
                faces.append(DetectedFace(box, float(score), points.astype(np.float32)))
        return faces

    def align(self, image: Image, face: DetectedFace) -> AlignedFace:
        if face.landmarks is None:
            raise ValueError(f"{MODEL_ID} aligns on SCRFD's five keypoints; this face has none")
        return AlignedFace(arcface_crop(image, face.landmarks), face, face.landmarks)

    def embed_aligned(self, aligned: AlignedFace) -> Embedding:
        with self._lock:
            (output,) = self._rec.run(None, {self._rec_input: arcface_blob(aligned.image)})[:1]
        return l2_normalise(np.asarray(output, dtype=np.float32))

    def embed(self, image: Image, face: DetectedFace) -> Embedding:
        return self.embed_aligned(self.align(image, face))
