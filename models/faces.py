"""Typed results and the one interface every face backend implements (detect -> align -> embed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
"""A BGR uint8 image, H x W x 3 (OpenCV's layout)."""
Embedding = npt.NDArray[np.float32]
"""An L2-normalised float32 vector."""


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
    box: FaceBox
    score: float
    landmarks: npt.NDArray[np.float32] | None = field(default=None, compare=False)


class FaceAnalyzer(Protocol):
    """A face backend. ``model_id`` names the embedding model: galleries record it."""

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def detect(self, image: Image) -> list[DetectedFace]: ...

    def embed(self, image: Image, face: DetectedFace) -> Embedding: ...


class ModelUnavailableError(RuntimeError):
    """A model's weights or runtime are missing; the message names the model and the fix."""


def l2_normalise(vector: npt.NDArray[np.floating]) -> Embedding:
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    if norm == 0.0 or not np.isfinite(norm):
        raise ValueError("cannot normalise a zero or non-finite embedding")
    return (v / norm).astype(np.float32)
