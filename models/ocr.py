"""OCR engine adapters: RapidOCR (PP-OCR det/rec ONNX models shipped in the ``rapidocr`` wheel,
run by ONNX Runtime) and Tesseract (``pytesseract`` driving the ``tesseract`` binary with the
``vie`` language pack).

Both return :class:`OcrLine` (text, axis-aligned box, confidence 0..1, engine name). RapidOCR
finds the text segments and reads English and digits exactly but drops stacked Vietnamese
diacritics; Tesseract reads Vietnamese exactly. :meth:`TesseractEngine.read_segments` re-reads
segments another engine found (one Tesseract run over the crops stacked into one image), so
the service can merge the two per segment (hub/vision/ocr_service.py).

Engines are built once, by their provider, in a worker thread; constructors raise
:class:`OcrEngineUnavailableError` with the reason and the fix when the backend is missing.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.faces import Image

logger = logging.getLogger(__name__)

RAPIDOCR = "rapidocr"
TESSERACT = "tesseract"

# Tesseract reads stacked crops with this much white around each
_STACK_PAD = 24
_CROP_MARGIN = 4


class OcrEngineUnavailableError(RuntimeError):
    """An OCR backend cannot be used here; the message says why and how to fix it."""


class OcrEngineError(RuntimeError):
    """An OCR backend failed on one image (not a configuration problem)."""


@dataclass(frozen=True, slots=True)
class TextBox:
    """Axis-aligned box in pixels, ``x1``/``y1`` exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]


@dataclass(frozen=True, slots=True)
class OcrLine:
    """One text segment: a phrase or a table cell (RapidOCR) or a word run (Tesseract)."""

    text: str
    box: TextBox
    confidence: float
    engine: str


def _box_of(points: Any, width: int, height: int) -> TextBox:
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x0, y0 = np.floor(array.min(axis=0)).astype(int)
    x1, y1 = np.ceil(array.max(axis=0)).astype(int)
    return TextBox(
        max(0, int(x0)), max(0, int(y0)), min(width, int(x1) + 1), min(height, int(y1) + 1)
    )


RAPIDOCR_MODELS = {"Det": "rapidocr-det", "Rec": "rapidocr-rec", "Cls": "rapidocr-cls"}
"""RapidOCR's config section -> the manifest id of the PP-OCR model it opens."""


def rapidocr_model_files(models_dir: Path | None = None) -> dict[str, Path]:
    """The PP-OCR models RapidOCR would open from its wheel, each verified against the
    manifest's sha256 (:func:`models.registry.model_path`: a copy under ``models_dir`` first,
    else the packaged file); handed to RapidOCR by path so it opens exactly these. Raises
    :class:`OcrEngineUnavailableError` naming the model and ``innsight models fetch ID``."""
    from models.faces import ModelUnavailableError
    from models.registry import model_path

    try:
        return {
            section: model_path(model_id, models_dir=models_dir)
            for section, model_id in RAPIDOCR_MODELS.items()
        }
    except ModelUnavailableError as err:
        raise OcrEngineUnavailableError(str(err)) from err


class RapidOcrEngine:
    """PP-OCR (det + rec, no angle classifier: documents arrive upright) on ONNX Runtime.

    One instance per process; calls are serialised (RapidOCR keeps per-call state)."""

    name = RAPIDOCR

    def __init__(self, *, threads: int | None = None, models_dir: Path | None = None) -> None:
        try:
            from rapidocr import RapidOCR
        except ImportError as err:
            raise OcrEngineUnavailableError(
                f"rapidocr is not installed ({err}): pip install rapidocr onnxruntime"
            ) from None
        self.model_files = rapidocr_model_files(models_dir)
        """The verified files RapidOCR opens, by its config section (Det, Rec, Cls)."""
        params: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.use_cls": False,
            **{f"{section}.model_path": str(path) for section, path in self.model_files.items()},
        }
        if threads is not None:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
        try:
            self._engine: Any = RapidOCR(params=params)
        except Exception as err:
            raise OcrEngineUnavailableError(
                f"rapidocr could not load its PP-OCR models: {type(err).__name__}: {err}"
            ) from err
        self._lock = threading.Lock()

    def read(self, image_bgr: Image) -> list[OcrLine]:
        """Find and read every text segment of the page, top to bottom."""
        height, width = image_bgr.shape[:2]
        with self._lock:
            try:
                result = self._engine(image_bgr, use_det=True, use_cls=False, use_rec=True)
            except Exception as err:
                raise OcrEngineError(f"rapidocr failed: {type(err).__name__}: {err}") from err
        boxes, texts, scores = result.boxes, result.txts, result.scores
        if boxes is None or texts is None or scores is None:
            return []
        lines = [
            OcrLine(str(text).strip(), _box_of(points, width, height), float(score), RAPIDOCR)
            for points, text, score in zip(boxes, texts, scores, strict=True)
            if str(text).strip()
        ]
        lines.sort(key=lambda line: (line.box.y0, line.box.x0))
        return lines


class TesseractEngine:
    """The ``tesseract`` binary with ``langs`` (e.g. ``vie``), checked when built."""

    name = TESSERACT

    def __init__(self, *, cmd: str = "tesseract", langs: str = "vie") -> None:
        try:
            import pytesseract
        except ImportError as err:
            raise OcrEngineUnavailableError(
                f"pytesseract is not installed ({err}): pip install pytesseract"
            ) from None
        self._pt: Any = pytesseract
        self._cmd = cmd
        self._langs = langs
        # One OpenMP thread: tesseract's default team spin-waits, which measured 4x the CPU
        # per page (1.2 s against 0.3 s) on the 2-core box for no gain in wall time.
        self._env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        self._lock = threading.Lock()
        with self._configured():
            try:
                version = pytesseract.get_tesseract_version()
                available = set(pytesseract.get_languages(config=""))
            except (pytesseract.TesseractNotFoundError, OSError) as err:
                raise OcrEngineUnavailableError(
                    f"tesseract is not available at {cmd!r} ({type(err).__name__}): "
                    "install it (apt install tesseract-ocr tesseract-ocr-vie) or set "
                    "INNSIGHT_OCR_TESSERACT_CMD"
                ) from None
            except pytesseract.TesseractError as err:
                raise OcrEngineUnavailableError(f"tesseract does not run: {err}") from None
        missing = [lang for lang in langs.split("+") if lang not in available]
        if missing:
            raise OcrEngineUnavailableError(
                f"tesseract lacks the language data {', '.join(missing)}: "
                f"apt install {' '.join('tesseract-ocr-' + m for m in missing)}"
            )
        self.version = str(version)

    @contextmanager
    def _configured(self) -> Iterator[None]:
        # pytesseract keeps the binary's path and the child's environment in module globals:
        # set them under a lock
        with self._lock:
            self._pt.pytesseract.tesseract_cmd = self._cmd
            self._pt.pytesseract.environ = self._env
            yield

    def _data(self, image_bgr: Image, psm: int) -> dict[str, list[Any]]:
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        with self._configured():
            try:
                data: dict[str, list[Any]] = self._pt.image_to_data(
                    rgb,
                    lang=self._langs,
                    config=f"--psm {psm}",
                    output_type=self._pt.Output.DICT,
                )
            except (self._pt.TesseractError, OSError, RuntimeError) as err:
                raise OcrEngineError(f"tesseract failed: {type(err).__name__}") from err
        return data

    def read(self, image_bgr: Image) -> list[OcrLine]:
        """The whole page (automatic layout): one OcrLine per Tesseract text line."""
        data = self._data(image_bgr, psm=3)
        groups: dict[tuple[int, int, int], list[int]] = {}
        for index, word in enumerate(data["text"]):
            if str(word).strip() and float(data["conf"][index]) >= 0:
                key = (data["block_num"][index], data["par_num"][index], data["line_num"][index])
                groups.setdefault(key, []).append(index)
        lines = [self._line(data, indexes) for indexes in groups.values()]
        lines.sort(key=lambda line: (line.box.y0, line.box.x0))
        return lines

    def read_segments(self, image_bgr: Image, boxes: Sequence[TextBox]) -> list[OcrLine | None]:
        """Re-read each box (found by another engine) as one text line; ``None`` where
        Tesseract saw nothing. One Tesseract run: the crops are stacked into one image."""
        if not boxes:
            return []
        height, width = image_bgr.shape[:2]
        crops = []
        for box in boxes:
            x0, y0 = max(0, box.x0 - _CROP_MARGIN), max(0, box.y0 - _CROP_MARGIN)
            x1, y1 = min(width, box.x1 + _CROP_MARGIN), min(height, box.y1 + _CROP_MARGIN)
            # at the page's own scale: normalising line heights (to 30-64 px) read fewer
            # photographed pages exactly (benchmarks/ocr.py --robustness)
            crops.append(image_bgr[y0:y1, x0:x1])
        canvas_w = max(crop.shape[1] for crop in crops) + 2 * _STACK_PAD
        canvas_h = sum(crop.shape[0] + 2 * _STACK_PAD for crop in crops)
        canvas = np.full((canvas_h, canvas_w, 3), 255, dtype=np.uint8)
        spans: list[tuple[int, int]] = []
        y = 0
        for crop in crops:
            y += _STACK_PAD
            canvas[y : y + crop.shape[0], _STACK_PAD : _STACK_PAD + crop.shape[1]] = crop
            spans.append((y, y + crop.shape[0]))
            y += crop.shape[0] + _STACK_PAD
        data = self._data(canvas, psm=6)
        members: list[list[int]] = [[] for _ in boxes]
        for index, word in enumerate(data["text"]):
            if not str(word).strip() or float(data["conf"][index]) < 0:
                continue
            cy = data["top"][index] + data["height"][index] / 2
            for slot, (top, bottom) in enumerate(spans):
                if top - _STACK_PAD <= cy < bottom + _STACK_PAD:
                    members[slot].append(index)
                    break
        out: list[OcrLine | None] = []
        for box, indexes in zip(boxes, members, strict=True):
            if not indexes:
                out.append(None)
                continue
            line = self._line(data, indexes)
            out.append(OcrLine(line.text, box, line.confidence, TESSERACT))
        return out

    @staticmethod
    def _line(data: dict[str, list[Any]], indexes: list[int]) -> OcrLine:
        indexes = sorted(indexes, key=lambda i: int(data["left"][i]))
        text = " ".join(str(data["text"][i]).strip() for i in indexes)
        confidence = min(float(data["conf"][i]) for i in indexes) / 100.0
        x0 = min(int(data["left"][i]) for i in indexes)
        y0 = min(int(data["top"][i]) for i in indexes)
        x1 = max(int(data["left"][i]) + int(data["width"][i]) for i in indexes)
        y1 = max(int(data["top"][i]) + int(data["height"][i]) for i in indexes)
        return OcrLine(text, TextBox(x0, y0, x1, y1), max(0.0, min(1.0, confidence)), TESSERACT)
