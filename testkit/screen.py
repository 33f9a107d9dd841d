"""A photo as a camera sees it on a screen: the display's fine pixel grid shows as an oblique
periodic pattern over the face (the pattern the edge's and hub's moiré cue looks for; the same
stripes as tests/unit/test_liveness.py's ``grating``, laid over a real photo)."""

from __future__ import annotations

import math

import numpy as np

from models.faces import Image


def on_screen(image: Image, period: float = 3.0, amplitude: float = 24.0) -> Image:
    """``image`` with a screen's stripe pattern (``period`` px, at 0.5 rad) added."""
    height, width = image.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    phase = (xx * math.cos(0.5) + yy * math.sin(0.5)) / period
    stripes = amplitude * np.sin(2 * np.pi * phase)
    shown = np.clip(image.astype(np.float64) + stripes[:, :, None], 0, 255)
    return np.ascontiguousarray(shown.astype(np.uint8))
