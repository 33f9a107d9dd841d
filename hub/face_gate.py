"""The hub's face-quality gate: the edge's own (:mod:`models.face_quality`: size, blur, pose),
used by enrolment and by ``/face/recognize`` (issue 17 item 2), plus the enrolment-only rules.

The policy is the edge's default (``edge_agent.config.FaceQualityConfig``: 40 px, sharpness
0.08, yaw and roll 45 degrees), so a face the hub enrols or recognises is one the edge would
match too. Pose needs 68 landmarks: taken from the analyzer when it has a predictor (dlib), as
the edge does; else from the detector's five points; else pose is not checked.

Enrolment refuses a photo with several faces *of comparable size*: the second-largest face's
box area at least :data:`COMPARABLE_FACE_RATIO` of the largest one's. A small face far behind
the subject (a passer-by) is not comparable and is ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import numpy.typing as npt

from models.face_quality import FaceQuality, QualityPolicy, assess
from models.faces import DetectedFace, FaceAnalyzer, FaceLandmarker, Image

GATE = QualityPolicy()
"""The edge's default quality policy (edge_agent/config.py FaceQualityConfig)."""
COMPARABLE_FACE_RATIO = 0.5
"""Second face area / largest face area at or above which a photo shows several people."""
_SIZE_FULL = 150.0  # face side (px) counted as fully sized in the 0..1 score
_SHARPNESS_FULL = 0.25  # sharpness counted as fully sharp (sharp photos measure 0.13-0.34)


def landmarks_of(
    analyzer: FaceAnalyzer, image: Image, face: DetectedFace
) -> npt.NDArray[np.floating] | None:
    """68 landmarks from the analyzer's predictor when it has one (as the edge does)."""
    if callable(getattr(analyzer, "landmarks68", None)):
        points = cast(FaceLandmarker, analyzer).landmarks68(image, face)
        return np.asarray(points, dtype=np.float32)
    return face.landmarks


def check(
    analyzer: FaceAnalyzer, image: Image, face: DetectedFace, policy: QualityPolicy = GATE
) -> FaceQuality:
    """The edge's gate on ``face``: measurements and the rules it breaks (``ok``: none)."""
    return assess(image, face, landmarks_of(analyzer, image, face), policy)


def quality_score(quality: FaceQuality) -> float:
    """0..1 from the face's size and its sharpness (the figure the API reports)."""
    size = min(1.0, quality.size_px / _SIZE_FULL)
    sharp = min(1.0, quality.sharpness / _SHARPNESS_FULL)
    return round(0.5 * size + 0.5 * sharp, 3)


def too_small(quality: FaceQuality, policy: QualityPolicy = GATE) -> bool:
    return quality.size_px < policy.min_face_px


def comparable_faces(faces: Sequence[DetectedFace], ratio: float = COMPARABLE_FACE_RATIO) -> int:
    """How many faces are of a size comparable to the largest (the largest included)."""
    if not faces:
        return 0
    largest = max(face.box.area for face in faces)
    return sum(1 for face in faces if face.box.area >= ratio * largest)


def largest_face(faces: Sequence[DetectedFace]) -> DetectedFace:
    return max(faces, key=lambda f: f.box.area)
