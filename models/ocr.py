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
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.faces import Image
from models.pixels import swap_red_blue

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


# Measured on the real receipts (benchmarks/ocr_real.py, dev part): see RapidOcrEngine
DET_MAX_SIDE = 960
REC_BATCH = 1
REC_MIN_WIDTH = 96
TEXT_SCORE = 0.5  # RapidOCR's own floor: lines read with less are dropped
TURN_CHECK_LINES = 8  # the widest lines read both ways to confirm a half turn

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
    """PP-OCR on ONNX Runtime, in two passes: the detector finds the text lines on a copy of
    the page scaled down to ``det_max_side`` (its time grows with pixels, and lines stay
    findable at ~1000 px), the recogniser reads each line cropped from the page itself (its
    input is always 48 px high, so crops lose nothing to the detector's scale). No angle
    classifier: orientation is the page preparation's job (hub/vision/document_geometry.py).

    ``rec_batch``: lines per recogniser run (a batch is padded to its widest line, so 1 costs
    the least CPU here); ``rec_min_width``: the narrowest recogniser input (PaddleOCR pads
    every line to 320 px; short cells such as prices need far less). ``threads``: the cores a
    reading uses, without spin-waiting (a spinning pool took twice the CPU on 2 cores): the
    detector's ONNX Runtime intra-op threads, and as many lines read at once, each by one
    thread (a 48 px line is too small a tensor to split well: the recogniser alone on 52 inputs
    48 px high and 96-640 px wide, a receipt's worth, took 1.48 s with two intra-op threads and
    1.04 s two at a time with one each, with 25 % less CPU; over the 150 real receipts p95 went
    from 2.41 to 2.13 s, benchmarks/RESULTS.md; None: all cores).

    One instance per process; calls are serialised."""

    name = RAPIDOCR

    def __init__(
        self,
        *,
        threads: int | None = None,
        models_dir: Path | None = None,
        det_max_side: int = DET_MAX_SIDE,
        rec_batch: int = REC_BATCH,
        rec_min_width: int = REC_MIN_WIDTH,
        text_score: float = TEXT_SCORE,
    ) -> None:
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
            "Det.limit_type": "max",
            "Det.limit_side_len": det_max_side,
            "Rec.rec_batch_num": rec_batch,
            **{f"{section}.model_path": str(path) for section, path in self.model_files.items()},
        }
        if threads is not None:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
        self._rec_workers = threads if threads is not None else (os.cpu_count() or 1)
        try:
            engine: Any = RapidOCR(params=params)
            self._det: Any = engine._load_det_model()  # the two stages, run apart
            self._rec: Any = engine._load_rec_model()
            if threads is None or threads > 1:
                # a detector pool that sleeps when idle (RapidOCR cannot ask for one); the
                # recogniser runs one thread per line, several lines at once (see above). With
                # one thread RapidOCR's own sessions are already that, with no pool to spin.
                self._det.session.session = _ort_session(self.model_files["Det"], threads)
                self._rec.session.session = _ort_session(self.model_files["Rec"], 1)
        except Exception as err:
            raise OcrEngineUnavailableError(
                f"rapidocr could not load its PP-OCR models: {type(err).__name__}: {err}"
            ) from err
        # the recogniser's narrowest input: [C, 48, rec_min_width]
        channels, height, _ = self._rec.rec_image_shape
        self._rec.rec_image_shape = [channels, height, rec_min_width]
        self.det_max_side = det_max_side
        self.text_score = text_score
        self._lock = threading.Lock()
        self._rec_pool = (
            ThreadPoolExecutor(self._rec_workers, thread_name_prefix="ocr-rec")
            if self._rec_workers > 1
            else None
        )

    def detect(self, image_bgr: Image) -> list[np.ndarray]:
        """The text lines' quadrilaterals (4x2 float32, page pixels), found on a copy of the
        page no larger than ``det_max_side``."""
        import cv2
        from rapidocr.utils.process_img import apply_vertical_padding

        height, width = image_bgr.shape[:2]
        scale = min(1.0, self.det_max_side / max(height, width))
        small = image_bgr
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            resized = cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA)
            small = np.ascontiguousarray(resized, dtype=np.uint8)
        # a strip (one line, or wider than 8:1) gets white above and below, as RapidOCR does
        padded, record = apply_vertical_padding(small, {}, 8, 30)
        found = self._det(padded)
        if found.boxes is None or len(found.boxes) == 0:
            return []
        boxes = np.asarray(found.boxes, dtype=np.float32).copy()
        boxes[:, :, 1] -= float(record["padding_1"]["top"])
        boxes /= scale
        boxes[:, :, 0] = np.clip(boxes[:, :, 0], 0, width)
        boxes[:, :, 1] = np.clip(boxes[:, :, 1], 0, height)
        return list(boxes)

    def recognise(self, image_bgr: Image, quads: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """Read each quadrilateral, cropped (and straightened) from ``image_bgr`` itself."""
        from rapidocr.ch_ppocr_rec import TextRecInput
        from rapidocr.utils.process_img import get_rotate_crop_image

        if not quads:
            return []
        crops = [get_rotate_crop_image(image_bgr, quad.copy()) for quad in quads]

        def read(images: list[Image]) -> list[tuple[str, float]]:
            result = self._rec(TextRecInput(img=images))
            return [
                (str(text), float(score))
                for text, score in zip(result.txts, result.scores, strict=True)
            ]

        if self._rec_pool is None or len(crops) < 2:
            return read(crops)
        # narrowest to widest, dealt in turn, so each worker gets a like share of the work
        order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1] / crops[i].shape[0])
        shares = [
            share for k in range(self._rec_workers) if (share := order[k :: self._rec_workers])
        ]
        readings: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        parts = self._rec_pool.map(lambda share: read([crops[i] for i in share]), shares)
        for share, part in zip(shares, parts, strict=True):
            for index, reading in zip(share, part, strict=True):
                readings[index] = reading
        return readings

    def reads_better_turned(self, image_bgr: Image, *, lines: int = TURN_CHECK_LINES) -> bool:
        """Whether the page turned half a turn reads better than as it is: the recogniser's
        mean confidence on the ``lines`` widest text lines, read both ways (upside-down text
        reads with far less confidence; on the 40 ID specimens, each read both ways, the
        right way won all 80 times, by 0.12 or more)."""
        import cv2

        height, width = image_bgr.shape[:2]
        with self._lock:
            try:
                quads = self.detect(image_bgr)
                quads.sort(key=lambda quad: -float(np.ptp(quad[:, 0])))
                quads = quads[:lines]
                if not quads:
                    return False
                as_is = self.recognise(image_bgr, quads)
                # the same quadrilaterals on the turned page, corners in the same order
                turned_quads = [
                    np.ascontiguousarray(
                        np.stack([width - quad[:, 0], height - quad[:, 1]], axis=1)[[2, 3, 0, 1]],
                        dtype=np.float32,
                    )
                    for quad in quads
                ]
                page = np.ascontiguousarray(cv2.rotate(image_bgr, cv2.ROTATE_180), dtype=np.uint8)
                turned = self.recognise(page, turned_quads)
            except Exception as err:
                raise OcrEngineError(f"rapidocr failed: {type(err).__name__}: {err}") from err
        return float(np.mean([s for _, s in turned])) > float(np.mean([s for _, s in as_is]))

    def read(self, image_bgr: Image) -> list[OcrLine]:
        """Find and read every text segment of the page, top to bottom."""
        height, width = image_bgr.shape[:2]
        with self._lock:
            try:
                quads = self.detect(image_bgr)
                readings = self.recognise(image_bgr, quads)
            except Exception as err:
                raise OcrEngineError(f"rapidocr failed: {type(err).__name__}: {err}") from err
        lines = [
            OcrLine(text.strip(), _box_of(quad, width, height), score, RAPIDOCR)
            for quad, (text, score) in zip(quads, readings, strict=True)
            if text.strip() and score >= self.text_score
        ]
        lines.sort(key=lambda line: (line.box.y0, line.box.x0))
        return lines


def _ort_session(model: Path, threads: int | None) -> Any:
    """An ONNX Runtime CPU session with ``threads`` intra-op threads that sleep when idle."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = False
    options.inter_op_num_threads = 1
    if threads is not None:
        options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


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
        rgb = swap_red_blue(image_bgr)
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
