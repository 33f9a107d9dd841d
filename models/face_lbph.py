"""LBPH face templates (Ahonen et al. 2004): a weightless, classical second embedding model.

Every embedding network offline here is dlib's ResNet (``dlib-resnet-v1``); the dlib HOG and the
BlazeFace edge backends both embed with it, so they share one gallery. ``lbph-u2-4x4`` is a
*different* face model whose templates are incompatible with dlib's: the face chip dlib's
5-point shape predictor aligns (150 px, the same chip the ResNet sees) is turned to grey,
resized to 96 px, coded with 8-neighbour uniform local binary patterns (58 uniform codes + one
for the rest) and histogrammed over a 4 x 4 grid: 16 x 59 = 944 values, square-rooted (Hellinger)
and L2-normalised, so the cosine of two templates is the Bhattacharyya coefficient of their
histograms. No weights: pure numpy on dlib's alignment.

What it is good for (measured on the packaged photos, ``tests/unit/test_face_lbph.py``): a face
against edits of its own photo (JPEG 60, 0.7 scale, 0.8 brightness) scores >= 0.96, two different
people <= 0.88 (operating threshold :data:`THRESHOLD` 0.92). It does not recognise a person
across different photos the way a trained network does, and a mirrored face is another face:
it is the fleet's CPU-only second model (the multi-model gallery is tested with it), not a
recommendation for production recognition.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from models.faces import (
    AligningFaceAnalyzer,
    DetectedFace,
    Embedding,
    FaceAnalyzer,
    FaceBox,
    Image,
    detect_within,
)

MODEL_ID = "lbph-u2-4x4"
GRID = 4
SIZE = 96
BINS = 59
EMBEDDING_DIM = GRID * GRID * BINS
THRESHOLD = 0.92
_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


def _uniform_table() -> npt.NDArray[np.intp]:
    """LBP code (0..255) -> its uniform bin (0..57), non-uniform codes -> 58."""
    table = np.full(256, BINS - 1, dtype=np.intp)
    uniform = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        if sum(bits[i] != bits[(i + 1) % 8] for i in range(8)) <= 2:
            table[code] = uniform
            uniform += 1
    return table


_TABLE = _uniform_table()


def lbp_codes(gray: npt.NDArray[np.uint8]) -> npt.NDArray[np.intp]:
    """The uniform-LBP bin of every interior pixel of a grey image."""
    g = gray.astype(np.int16)
    centre = g[1:-1, 1:-1]
    code = np.zeros(centre.shape, dtype=np.uint8)
    height, width = g.shape
    for bit, (dy, dx) in enumerate(_OFFSETS):
        neighbour = g[1 + dy : height - 1 + dy, 1 + dx : width - 1 + dx]
        code |= (neighbour >= centre).astype(np.uint8) << bit
    return np.asarray(_TABLE[code], dtype=np.intp)


def lbph_template(chip: Image) -> Embedding:
    """The unit-norm LBPH template of an aligned BGR face chip."""
    gray = cv2.cvtColor(chip, cv2.COLOR_BGR2GRAY)
    gray = cv2.resize(gray, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    codes = lbp_codes(np.asarray(gray, dtype=np.uint8))
    height, width = codes.shape
    cells = []
    for i in range(GRID):
        for j in range(GRID):
            cell = codes[
                i * height // GRID : (i + 1) * height // GRID,
                j * width // GRID : (j + 1) * width // GRID,
            ]
            cells.append(np.bincount(cell.ravel(), minlength=BINS) / cell.size)
    vector = np.sqrt(np.concatenate(cells))
    return np.asarray(vector / np.linalg.norm(vector), dtype=np.float32)


class LbphFaceAnalyzer:
    """:class:`models.faces.FaceAnalyzer`: ``detector`` finds the faces (dlib HOG or BlazeFace),
    ``aligner`` (dlib: :class:`models.face_dlib.DlibFaceAnalyzer`) places the chip, LBPH embeds."""

    def __init__(self, detector: FaceAnalyzer, aligner: AligningFaceAnalyzer) -> None:
        self._detector = detector
        self._aligner = aligner

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def dim(self) -> int:
        return EMBEDDING_DIM

    def detect(self, image: Image) -> list[DetectedFace]:
        return self._detector.detect(image)

    def detect_within(self, image: Image, regions: Sequence[FaceBox]) -> list[DetectedFace]:
        return detect_within(self._detector, image, regions)

    def embed(self, image: Image, face: DetectedFace) -> Embedding:
        return lbph_template(self._aligner.align(image, face).image)
