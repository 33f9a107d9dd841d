"""Typed results and the one interface every face backend implements (detect -> align -> embed).

- :class:`FaceAnalyzer` is what the pipeline needs: ``detect`` then ``embed`` (which aligns
  internally). Every backend implements it.
- :class:`AligningFaceAnalyzer` makes the middle step explicit: ``align`` returns the crop the
  embedder sees (:class:`AlignedFace`), ``embed_aligned`` embeds it; ``embed(image, face)`` is
  ``embed_aligned(align(image, face))``. Enrolment tools and tests use it to look at the crop.
- :class:`FaceLandmarker` gives the 68-point landmarks (iBUG 300-W order) that the quality gate
  and the liveness cues (eye aspect ratio, parallax) read: Face Mesh mapped to that layout by
  default (``models.face_mesh``), dlib's predictor where configured.

Five-point landmarks, where a detector gives them, are in the order of InsightFace and OpenCV:
right eye, left eye (of the person: image left, image right), nose tip, right and left mouth corner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
"""A BGR uint8 image, H x W x 3 (OpenCV's layout)."""
Embedding = npt.NDArray[np.float32]
"""An L2-normalised float32 vector."""
Landmarks = npt.NDArray[np.float32]
"""Points as an N x 2 float32 array of (x, y) pixel coordinates."""


@dataclass(frozen=True, slots=True)
class FaceBox:
    """Pixel box: top-left corner, width and height, clipped to the image."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h


@dataclass(frozen=True, slots=True)
class DetectedFace:
    """A face found by a detector; ``landmarks`` are its five points where the detector gives
    them (SCRFD, YuNet), else None (dlib's HOG)."""

    box: FaceBox
    score: float
    landmarks: npt.NDArray[np.float32] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, eq=False)
class AlignedFace:
    """The crop an embedder sees: the face warped so its eyes and mouth sit where the model's
    training faces had them. ``landmarks``: the points the warp used, in ``image`` coordinates."""

    image: Image
    source: DetectedFace = field(compare=False)
    landmarks: Landmarks | None = field(default=None, compare=False)


class FaceAnalyzer(Protocol):
    """A face backend. ``model_id`` names the embedding model: galleries record it."""

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def detect(self, image: Image) -> list[DetectedFace]: ...

    def embed(self, image: Image, face: DetectedFace) -> Embedding: ...


@runtime_checkable
class RegionFaceDetector(Protocol):
    """A backend that can search parts of a frame (BlazeFace: only the windows touching them)."""

    def detect_within(self, image: Image, regions: Sequence[FaceBox]) -> list[DetectedFace]: ...


@runtime_checkable
class ScalingFaceDetector(Protocol):
    """A backend that searches a large image on a copy scaled down to its own size."""

    @property
    def detect_max_side(self) -> int | None:
        """Larger images are searched at this longest side (None: as they are)."""
        ...


def detect_within(
    analyzer: FaceAnalyzer, image: Image, regions: Sequence[FaceBox] | None
) -> list[DetectedFace]:
    """The faces with a part inside ``regions`` at least (None: the whole frame). A backend that
    cannot search parts of a frame searches all of it, so more faces may come back."""
    if regions is None or not isinstance(analyzer, RegionFaceDetector):
        return analyzer.detect(image)
    return analyzer.detect_within(image, regions)


class AligningFaceAnalyzer(FaceAnalyzer, Protocol):
    """A backend whose align step is visible: ``embed == embed_aligned . align``."""

    def align(self, image: Image, face: DetectedFace) -> AlignedFace: ...

    def embed_aligned(self, aligned: AlignedFace) -> Embedding: ...


class FaceLandmarker(Protocol):
    """68 facial landmarks (iBUG 300-W order) of a detected face."""

    def landmarks68(self, image: Image, face: DetectedFace) -> Landmarks: ...


class ModelUnavailableError(RuntimeError):
    """A model's weights or runtime are missing; the message names the model and the fix."""


def l2_normalise(vector: npt.NDArray[np.floating]) -> Embedding:
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    if norm == 0.0 or not np.isfinite(norm):
        raise ValueError("cannot normalise a zero or non-finite embedding")
    return (v / norm).astype(np.float32)


# -- landmarks -----------------------------------------------------------------------------

RIGHT_EYE_68 = slice(36, 42)
"""The person's right eye (image left) in the 68-point scheme: corner, 2 upper, corner, 2 lower."""
LEFT_EYE_68 = slice(42, 48)


def five_from_68(points: npt.NDArray[np.floating]) -> Landmarks:
    """The five-point form (eye centres, nose tip, mouth corners) of 68 landmarks."""
    p = np.asarray(points, dtype=np.float32).reshape(68, 2)
    return np.stack(
        [p[RIGHT_EYE_68].mean(axis=0), p[LEFT_EYE_68].mean(axis=0), p[30], p[48], p[54]]
    ).astype(np.float32)


ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
"""Where ArcFace-family embedders (InsightFace, SFace) expect the five points in a 112 px crop."""


def similarity_transform(
    src: npt.NDArray[np.floating], dst: npt.NDArray[np.floating]
) -> npt.NDArray[np.float64]:
    """The 2 x 3 similarity (rotation, uniform scale, shift) that maps ``src`` onto ``dst`` in
    the least-squares sense (Umeyama, 1991); no reflection."""
    s = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    d = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if s.shape != d.shape or len(s) < 2:
        raise ValueError("need two equally long lists of at least 2 points")
    s_mean, d_mean = s.mean(axis=0), d.mean(axis=0)
    sc, dc = s - s_mean, d - d_mean
    var = float((sc**2).sum()) / len(s)
    if var == 0.0:
        raise ValueError("source points coincide")
    cov = dc.T @ sc / len(s)
    u, sigma, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    scale = float((sigma * sign).sum()) / var
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = d_mean - scale * rotation @ s_mean
    return matrix


# -- model files -----------------------------------------------------------------------------


def resolve_model_file(model_id: str, models_dir: Path | None = None) -> Path:
    """The verified local file of ``model_id`` (for an archive, the directory of its members).

    :func:`models.registry.model_path`, imported when first needed (it reads the manifest);
    raises :class:`ModelUnavailableError` naming the model and the fix.
    """
    from models.registry import model_path

    return model_path(model_id, models_dir=models_dir)
