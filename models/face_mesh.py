"""MediaPipe Face Mesh (468 points, Apache-2.0) as the landmarker for the quality gate and liveness.

It replaces dlib's 68-point predictor (``dlib-shape-68``: trained on iBUG 300-W, whose licence
excludes commercial use). The consumers — the eye aspect ratio and parallax cues of
:mod:`edge_agent.domain.liveness`, the pose estimate of :mod:`models.face_quality` — read points
in the 68-point iBUG layout, so :class:`FaceMeshLandmarker` implements
:class:`models.faces.FaceLandmarker` by picking, for each of the 68, the mesh vertex at the same
place on the face (:data:`MESH_TO_68`): eye corners and lids (33, 160, 158, 133, 153, 144 for the
person's right eye), brows, nose bridge and tip, lips, and the face oval for the jaw line.

Pre-processing is MediaPipe's: the face box grown 1.5 times into a square about its centre,
rotated so the eyes are level (when the detector gives eye points), warped to 192 x 192 RGB in
0..1; the 468 (x, y, z) outputs are in crop pixels and are mapped back through the inverse warp.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from models.faces import DetectedFace, Image, Landmarks, resolve_model_file

MODEL_ID = "facemesh-468"
INPUT_SIZE = 192
ROI_SCALE = 1.5

MESH_TO_68: tuple[int, ...] = (
    # jaw 0-16, image left to right along the face oval
    127, 234, 93, 132, 58, 172, 150, 176, 152, 400, 379, 397, 288, 361, 323, 454, 356,
    # brows 17-21 (person's right), 22-26 (left), outer to inner / inner to outer
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    # nose bridge 27-30 (30: tip), nostrils 31-35
    168, 197, 5, 1, 98, 97, 2, 326, 327,
    # eyes 36-41 (right: outer corner, two upper, inner corner, two lower), 42-47 (left)
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    # outer lips 48-59 from the right corner, inner lips 60-67
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
)  # fmt: skip
"""For each iBUG 300-W point, the Face Mesh vertex at the same place."""


def mesh_to_68(mesh: npt.NDArray[np.floating]) -> Landmarks:
    """468 (or 478) mesh points [N, 2 or 3] -> the 68-point layout [68, 2]."""
    points = np.asarray(mesh, dtype=np.float32)
    if points.ndim != 2 or points.shape[0] < 468 or points.shape[1] < 2:
        raise ValueError(f"need 468 mesh points, got an array of shape {points.shape}")
    return np.ascontiguousarray(points[list(MESH_TO_68), :2])


def roi_transform(face: DetectedFace, scale: float = ROI_SCALE) -> npt.NDArray[np.float64]:
    """The 2 x 3 affine that maps image pixels to the 192 px crop of ``face``: a square of
    ``scale`` times the box's longer side about the box centre, turned so the eye line (from the
    detector's five points, when it gave them) is level."""
    b = face.box
    cx, cy = b.x + b.w / 2.0, b.y + b.h / 2.0
    angle = 0.0
    if face.landmarks is not None and len(face.landmarks) >= 2:
        right_eye, left_eye = face.landmarks[0], face.landmarks[1]
        angle = math.degrees(
            math.atan2(float(left_eye[1] - right_eye[1]), float(left_eye[0] - right_eye[0]))
        )
    side = max(b.w, b.h) * scale
    matrix = np.asarray(cv2.getRotationMatrix2D((cx, cy), angle, INPUT_SIZE / side), np.float64)
    matrix[:, 2] += np.array([INPUT_SIZE / 2.0 - cx, INPUT_SIZE / 2.0 - cy])
    return matrix


def to_image(points: npt.NDArray[np.floating], matrix: npt.NDArray[np.float64]) -> Landmarks:
    """Crop-pixel (x, y) points back to image pixels through the inverse of ``matrix``."""
    inverse = cv2.invertAffineTransform(matrix)
    p = np.asarray(points, dtype=np.float64)[:, :2]
    mapped = p @ inverse[:, :2].T + inverse[:, 2]
    return np.asarray(mapped, dtype=np.float32)


class FaceMeshLandmarker:
    """:class:`models.faces.FaceLandmarker` from Face Mesh; ``mesh`` gives all 468 points and the
    face-presence score."""

    def __init__(
        self,
        models_dir: Path | None = None,
        *,
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
    ) -> None:
        from models.session import create_session

        path = resolve_model_file(MODEL_ID, models_dir)
        self._session: Any = create_session(
            path, providers=providers, intra_op_threads=intra_op_threads
        )
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()

    def mesh(self, image: Image, face: DetectedFace) -> tuple[Landmarks, float]:
        """468 x 3 points (x, y in image pixels; z in crop pixels, relative) and the
        probability that the crop holds a face."""
        matrix = roi_transform(face)
        crop = cv2.warpAffine(
            image, matrix, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
        )  # fmt: skip
        tensor = crop[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        with self._lock:
            raw, presence = self._session.run(None, {self._input: np.ascontiguousarray(tensor)})
        points = np.asarray(raw, dtype=np.float32).reshape(468, 3)
        xy = to_image(points, matrix)
        score = 1.0 / (1.0 + math.exp(-float(np.clip(np.ravel(presence)[0], -80.0, 80.0))))
        return np.concatenate([xy, points[:, 2:3]], axis=1).astype(np.float32), score

    def landmarks68(self, image: Image, face: DetectedFace) -> Landmarks:
        """The 68-point layout of the mesh of ``face`` (x, y in ``image`` pixels)."""
        points, _ = self.mesh(image, face)
        return mesh_to_68(points)
