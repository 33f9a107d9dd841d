"""Real photos that ship inside installed packages (no download at run time).

- insightface's wheel: ``data/images/t1.jpg`` (six people) and ``Tom_Hanks_54745.png``. We read
  the files through the distribution's metadata and never import insightface (its import pulls
  onnxruntime and opencv-python, which the demo does not need).
- scikit-image: ``data.astronaut()`` (Eileen Collins).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import cv2
import numpy as np

from models.faces import Image


class PhotoUnavailableError(RuntimeError):
    """A photo package is missing; the message says what to install."""


def _insightface_image(name: str) -> Image:
    try:
        dist = importlib.metadata.distribution("insightface")
    except importlib.metadata.PackageNotFoundError:
        raise PhotoUnavailableError(
            "the demo's photos come from the insightface wheel: "
            "pip install --no-deps insightface==2.1 (scripts/install.sh does this)"
        ) from None
    path = Path(str(dist.locate_file(f"insightface/data/images/{name}")))
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise PhotoUnavailableError(f"cannot read {path} from the insightface wheel")
    return np.asarray(image, dtype=np.uint8)


def group_photo() -> Image:
    """insightface t1.jpg: six different people, BGR."""
    return _insightface_image("t1.jpg")


def tom_hanks() -> Image:
    """insightface Tom_Hanks_54745.png: one face, 112x112, BGR."""
    return _insightface_image("Tom_Hanks_54745.png")


def astronaut() -> Image:
    """scikit-image's astronaut (Eileen Collins), BGR, 512x512."""
    try:
        from skimage import data
    except ImportError:
        raise PhotoUnavailableError(
            "the demo needs scikit-image: pip install scikit-image"
        ) from None
    rgb = np.asarray(data.astronaut(), dtype=np.uint8)  # type: ignore[no-untyped-call]
    return np.ascontiguousarray(rgb[:, :, ::-1])


def astronaut_portrait() -> Image:
    """Her head and shoulders: the enrolment photo (the full image also shows a suit patch that
    dlib's upsampled HOG detector takes for a face)."""
    return np.ascontiguousarray(astronaut()[0:260, 120:380])
