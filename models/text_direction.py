"""Is a line of text upside down? PP-OCR's text direction classifier
(``ch_ppocr_mobile_v2.0_cls``, Apache-2.0, shipped in the rapidocr wheel and verified as the
manifest's ``rapidocr-cls``) on ONNX Runtime, CPU, one thread.

The input is crops of single text lines (grey or BGR, upright or turned half a turn); the output
the mean probability that they are turned 180 degrees. Preprocessing is RapidOCR's own: height
48, width up to 192 at the crop's aspect ratio, ``(x / 255 - 0.5) / 0.5``, zero padding right.
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

from models.session import CPU, create_session

MODEL_ID = "rapidocr-cls"
HEIGHT, WIDTH = 48, 192


def normalised(crop: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """One crop as the classifier's (3, 48, 192) input."""
    bgr = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR) if crop.ndim == 2 else crop
    height, width = bgr.shape[:2]
    resized_w = min(WIDTH, math.ceil(HEIGHT * width / max(1, height)))
    resized = cv2.resize(bgr, (max(1, resized_w), HEIGHT), interpolation=cv2.INTER_LINEAR)
    chw = (resized.astype(np.float32).transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    out = np.zeros((3, HEIGHT, WIDTH), dtype=np.float32)
    out[:, :, : chw.shape[2]] = chw
    return out


class TextDirectionClassifier:
    """Callable on text-line crops: the mean probability they are upside down (0..1)."""

    def __init__(self, model: Path | None = None) -> None:
        if model is None:
            from models.registry import model_path

            model = model_path(MODEL_ID)
        self._session: Any = create_session(model, providers=[CPU], intra_op_threads=1)
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()

    def __call__(self, crops: Sequence[npt.NDArray[np.uint8]]) -> float:
        if not crops:
            return 0.0
        batch = np.stack([normalised(crop) for crop in crops])
        with self._lock:
            probabilities = self._session.run(None, {self._input: batch})[0]
        return float(np.mean(np.asarray(probabilities, dtype=np.float64)[:, 1]))
