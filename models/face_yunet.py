"""OpenCV face backend: YuNet detector + SFace embedder (MIT / Apache-2.0, commercial use fine).

Both run inside OpenCV's DNN module (``cv2.FaceDetectorYN``, ``cv2.FaceRecognizerSF``, in
opencv-contrib 4.x); their ONNX weights are not in any package and come only through
``innsight models fetch yunet-2023mar`` and ``innsight models fetch sface-2021dec`` (verified by
sha256 through :func:`models.registry.model_path`).

YuNet gives a box, five landmarks and a score per face; SFace embeds the 112 px crop aligned on
those landmarks (:mod:`models.face_align`, the same template as ``alignCrop``) into 128 values.
OpenCV's published operating point for SFace is cosine 0.363; it is *not* measured here (no
weights offline), and :data:`OPERATING_THRESHOLD` says so.
"""

from __future__ import annotations

import logging
import threading
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

DETECTOR_ID = "yunet-2023mar"
MODEL_ID = "sface-2021dec"
EMBEDDING_DIM = 128
OPERATING_THRESHOLD = 0.363
"""OpenCV's cosine threshold for SFace (from its model zoo, not measured in this project)."""


def faces_from_yunet(
    rows: npt.NDArray[np.floating] | None, width: int, height: int, min_score: float = 0.0
) -> list[DetectedFace]:
    """YuNet's N x 15 output (x, y, w, h, five (x, y) landmarks, score) as typed faces, boxes
    clipped to the image, best score first."""
    if rows is None:
        return []
    data = np.asarray(rows, dtype=np.float32).reshape(-1, 15)
    faces = []
    for row in data:
        score = float(row[14])
        if score < min_score:
            continue
        x, y, w, h = (float(v) for v in row[:4])
        x0, y0 = max(round(x), 0), max(round(y), 0)
        x1, y1 = min(round(x + w), width - 1), min(round(y + h), height - 1)
        if x1 <= x0 or y1 <= y0:
            continue
        landmarks = row[4:14].reshape(5, 2).astype(np.float32)
        faces.append(DetectedFace(FaceBox(x0, y0, x1 - x0, y1 - y0), score, landmarks))
    return sorted(faces, key=lambda f: -f.score)


class YuNetSFaceAnalyzer:
    """Implements :class:`models.faces.AligningFaceAnalyzer` with OpenCV's YuNet and SFace."""

    def __init__(
        self,
        models_dir: Path | None = None,
        *,
        score_threshold: float = 0.7,
        nms_threshold: float = 0.3,
        top_k: int = 50,
    ) -> None:
        import cv2

        detector_path = resolve_model_file(DETECTOR_ID, models_dir)
        recognizer_path = resolve_model_file(MODEL_ID, models_dir)
        if not hasattr(cv2, "FaceDetectorYN") or not hasattr(cv2, "FaceRecognizerSF"):
            raise ModelUnavailableError(
                f"{MODEL_ID}: this OpenCV ({cv2.__version__}) lacks FaceDetectorYN/FaceRecognizerSF"
            )
        try:
            self._detector: Any = cv2.FaceDetectorYN.create(
                str(detector_path), "", (320, 320), score_threshold, nms_threshold, top_k
            )
            self._recognizer: Any = cv2.FaceRecognizerSF.create(str(recognizer_path), "")
        except cv2.error as err:
            raise ModelUnavailableError(f"{MODEL_ID}: OpenCV cannot load the model: {err}") from err
        self._size: tuple[int, int] | None = None
        self._min_score = score_threshold
        self._lock = threading.Lock()
        logger.info("YuNet + SFace face backend ready (model %s)", MODEL_ID)

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def dim(self) -> int:
        return EMBEDDING_DIM

    def detect(self, image: Image) -> list[DetectedFace]:
        height, width = image.shape[:2]
        with self._lock:
            if self._size != (width, height):
                self._detector.setInputSize((width, height))
                self._size = (width, height)
            _, rows = self._detector.detect(image)
        return faces_from_yunet(rows, width, height, self._min_score)

    def align(self, image: Image, face: DetectedFace) -> AlignedFace:
        if face.landmarks is None:
            raise ValueError(f"{MODEL_ID} aligns on YuNet's five landmarks; this face has none")
        return AlignedFace(arcface_crop(image, face.landmarks), face, face.landmarks)

    def embed_aligned(self, aligned: AlignedFace) -> Embedding:
        with self._lock:
            feature = self._recognizer.feature(aligned.image)
        return l2_normalise(np.asarray(feature, dtype=np.float32))

    def embed(self, image: Image, face: DetectedFace) -> Embedding:
        return self.embed_aligned(self.align(image, face))
