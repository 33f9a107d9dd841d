"""Floors for the hub's flood checks, from real photos: scikit-image's gravel photo as a dry
floor seen by a fixed camera, and the same view with a *simulated* puddle (an ellipse darkened
to 65 % and smoothed: what a film of water does to a floor; no package ships a real photo of a
wet floor). Camera noise differs between the reference and the frame, as between two shots."""

from __future__ import annotations

import cv2
import numpy as np
from skimage import data

from models.faces import Image

WIDTH, HEIGHT = 640, 480
PUDDLE_CENTRE = (320, 370)
PUDDLE_AXES = (120, 50)
FLOOR_ZONE = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]
"""The lower half of the view, as [x, y] fractions (the floor)."""


def _noisy(image: Image, seed: int, sigma: float = 3.0) -> Image:
    rng = np.random.default_rng(seed)
    out = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape)
    return np.asarray(np.clip(out, 0, 255), dtype=np.uint8)


def _gravel() -> Image:
    grey = np.asarray(data.gravel(), dtype=np.uint8)  # type: ignore[no-untyped-call]
    bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(cv2.resize(bgr, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA))


def dry_floor(seed: int = 1) -> Image:
    return _noisy(_gravel(), seed)


def wet_floor(seed: int = 2) -> Image:
    """The same view with a puddle (simulated) around :data:`PUDDLE_CENTRE`."""
    scene = _gravel()
    mask = np.zeros((HEIGHT, WIDTH), np.float32)
    cv2.ellipse(mask, PUDDLE_CENTRE, PUDDLE_AXES, 10, 0, 360, 1.0, -1)
    soft = np.asarray(cv2.GaussianBlur(mask, (0, 0), 4.0), dtype=np.float32)[..., None]
    wet = cv2.GaussianBlur(scene.astype(np.float32), (0, 0), 2.5) * 0.65
    blended = np.clip(scene * (1 - soft) + wet * soft, 0, 255).astype(np.uint8)
    return _noisy(blended, seed)
