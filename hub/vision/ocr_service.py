"""OCR for the hub: engine choice, per-segment merge of RapidOCR and Tesseract, field parsing.

Engine ``auto`` (the default): RapidOCR finds and reads every text segment (exact on English and
digits); when the page is Vietnamese (the caller says so, or RapidOCR's marked letters speak for
Vietnamese rather than French or Spanish: :func:`page_language`) Tesseract ``vie`` re-reads
every segment but MRZ lines, in one run over the stacked crops, and :func:`merge_segment` keeps
Tesseract's reading where both engines agree on the letters, digits and symbols once diacritics
are folded away (RapidOCR drops stacked diacritics and the ``₫`` sign; Tesseract sometimes
misreads digits and symbols), else RapidOCR's.
``rapidocr`` and ``tesseract`` use one engine alone.

Before any of it the page is scaled to at most ``max_side``, prepared
(:func:`hub.vision.document_geometry.prepare_page`: found, flattened, upright; a half turn
stays only when the recogniser reads the page better turned) and, unless the preparation
levelled it already, levelled when up to ~6 degrees askew (:func:`estimate_skew`). RapidOCR
then finds the lines on a smaller copy and reads them off this page (models/ocr.py).

Engines load once, lazily, in a worker thread (:class:`OcrEngines`); the hub starts without them
and a missing backend is an :class:`OcrUnavailableError` with the reason (503 in the API).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import cv2
import numpy as np

from hub.vision.document_geometry import GeometryOptions, UpsideDown, prepare_page
from hub.vision.ocr_id import IdFields, parse_id
from hub.vision.ocr_invoice import InvoiceFields, parse_invoice
from hub.vision.ocr_text import Row, alnum_skeleton, group_rows, is_subsequence, looks_vietnamese
from models.faces import Image, ModelUnavailableError
from models.ocr import (
    DET_MAX_SIDE,
    RAPIDOCR,
    REC_BATCH,
    REC_MIN_WIDTH,
    TESSERACT,
    OcrEngineError,
    OcrEngineUnavailableError,
    OcrLine,
    RapidOcrEngine,
    TesseractEngine,
)

logger = logging.getLogger(__name__)

EngineChoice = Literal["auto", "rapidocr", "tesseract"]
Language = Literal["auto", "vi", "en"]
# Marked letters in RapidOCR's output that make a page Vietnamese (it keeps some marks), when
# more of them speak for Vietnamese than against it (ocr_text.looks_vietnamese)
VIETNAMESE_MIN_MARKS = 3
MIN_SKEW_DEGREES = 0.3
# prepare_page's step name for levelling; when it names one, estimate_skew is not run again
LEVELLED_STEP = "deskew"
ORIENT_STEP = "orient:"  # prepare_page's turns: orient:90, orient:180, orient:270 (clockwise)
# Page preparation with its own levelling (±15°); estimate_skew (±6°) runs only when it did not
# level the page
PAGE_OPTIONS = GeometryOptions()
_MRZ_LIKE = re.compile(r"^[A-Z0-9<]{20,}$")


class OcrUnavailableError(RuntimeError):
    """The configured OCR engines cannot run here; the message says why."""


class OcrFailedError(RuntimeError):
    """An engine failed on this image."""


@dataclass(frozen=True)
class OcrConfig:
    engine: EngineChoice = "auto"
    tesseract_cmd: str = "tesseract"
    tesseract_langs: str = "vie"
    max_side: int = 2400  # larger pages are scaled down first (the lines are read off this)
    threads: int | None = 2  # cores a RapidOCR reading uses (models/ocr.py); None: all cores
    det_max_side: int = DET_MAX_SIDE  # RapidOCR finds the lines on a copy this large at most
    rec_batch: int = REC_BATCH  # lines per recogniser run
    rec_min_width: int = REC_MIN_WIDTH  # narrowest recogniser input (px at 48 px high)
    timezone: str = "UTC"  # the hotel's zone: "today" for the date sanity check


@dataclass(frozen=True)
class PageText:
    lines: tuple[OcrLine, ...]
    rows: tuple[Row, ...]
    language: str  # vi | en
    engine: str  # rapidocr | tesseract | rapidocr+tesseract
    steps: tuple[str, ...] = ()  # what page preparation applied (prepare_page, then "deskew")


# ---------------------------------------------------------------------------------------------
# Pure merge rules
# ---------------------------------------------------------------------------------------------


def wants_tesseract(line: OcrLine) -> bool:
    """Every segment but MRZ lines gets a Tesseract reading on a Vietnamese page (numbers too:
    RapidOCR drops the ₫/đ after amounts)."""
    compact = line.text.replace(" ", "")
    return not (_MRZ_LIKE.match(compact) and "<" in compact)


def _digits(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


# Symbols RapidOCR reads reliably; a letter in their place means Tesseract misread the mark.
# (Others, like '!' or a stray '.', are what RapidOCR leaves of a letter it could not read.)
_STRICT_SYMBOLS = frozenset("/:()%@#&+=")


def _symbols(text: str) -> str:
    return "".join(char for char in text if char in _STRICT_SYMBOLS)


def merge_segment(rapid: OcrLine, tess: OcrLine | None) -> OcrLine:
    """The better reading of one segment. Tesseract's wins when it has the same digits, keeps
    RapidOCR's symbols (``/ : ( ) %``...), and its folded letters contain RapidOCR's (RapidOCR
    drops characters with stacked diacritics but does not invent any); else RapidOCR's."""
    if tess is None or not tess.text.strip():
        return rapid
    if _digits(rapid.text) != _digits(tess.text):
        return rapid
    if not is_subsequence(_symbols(rapid.text), _symbols(tess.text)):
        return rapid  # a '/' or ':' RapidOCR saw became a letter: Tesseract misread it
    short, long = alnum_skeleton(rapid.text), alnum_skeleton(tess.text)
    if not long or not is_subsequence(short, long):
        return rapid
    if len(long) - len(short) > max(3, len(long) // 3):
        return rapid  # Tesseract added too much: not the same text
    confidence = max(rapid.confidence, tess.confidence) if short == long else tess.confidence
    return OcrLine(tess.text, rapid.box, confidence, f"{RAPIDOCR}+{TESSERACT}")


def page_language(lines: Sequence[OcrLine]) -> str:
    """``vi`` when the marked letters speak for Vietnamese (:func:`looks_vietnamese`): the
    accents of a French, Spanish or Hungarian passport do not, so Tesseract does not re-read
    it (it cost those pages up to a second)."""
    texts = [line.text for line in lines]
    return "vi" if looks_vietnamese(texts, min_marks=VIETNAMESE_MIN_MARKS) else "en"


# ---------------------------------------------------------------------------------------------
# Engines
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Engines:
    rapid: RapidOcrEngine | None
    tesseract: TesseractEngine | None
    # RapidOCR's upside-down text classifier: turns a page found upside down (None: not loaded)
    direction: UpsideDown | None = None


def load_engines(config: OcrConfig) -> Engines:
    """Build the engines ``config.engine`` needs; raises OcrEngineUnavailableError."""
    rapid = (
        RapidOcrEngine(
            threads=config.threads,
            det_max_side=config.det_max_side,
            rec_batch=config.rec_batch,
            rec_min_width=config.rec_min_width,
        )
        if config.engine in ("auto", "rapidocr")
        else None
    )
    tesseract = (
        TesseractEngine(cmd=config.tesseract_cmd, langs=config.tesseract_langs)
        if config.engine in ("auto", "tesseract")
        else None
    )
    return Engines(rapid, tesseract, _direction_classifier())


def _direction_classifier() -> UpsideDown | None:
    """The upside-down classifier, or None (pages are then never given a half turn)."""
    from models.text_direction import TextDirectionClassifier

    try:
        return TextDirectionClassifier()
    except (ModelUnavailableError, OSError, RuntimeError) as err:
        logger.warning("no upside-down text classifier, pages are not half-turned: %s", err)
        return None


class OcrEngines:
    """Loads the engines on first use (in a thread) and remembers why it could not."""

    def __init__(
        self, config: OcrConfig, factory: Callable[[OcrConfig], Engines] = load_engines
    ) -> None:
        self.config = config
        self._factory = factory
        self._engines: Engines | None = None
        self._error: str | None = None
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        return self._engines is not None

    @property
    def error(self) -> str | None:
        return self._error

    async def get(self) -> Engines:
        if self._engines is not None:
            return self._engines
        async with self._lock:
            if self._engines is None and self._error is None:
                try:
                    self._engines = await asyncio.to_thread(self._factory, self.config)
                except OcrEngineUnavailableError as err:
                    self._error = str(err)
                    logger.warning("OCR unavailable: %s", err)
                except Exception as err:
                    self._error = f"OCR engines failed to load: {type(err).__name__}: {err}"
                    logger.exception("OCR engines failed to load")
        if self._engines is None:
            raise OcrUnavailableError(self._error or "OCR engines unavailable")
        return self._engines


def half_turned(steps: Sequence[str]) -> bool:
    """Whether page preparation turned the page half a turn (``orient:180`` or ``orient:270``,
    a quarter and a half)."""
    return any(step in (f"{ORIENT_STEP}180", f"{ORIENT_STEP}270") for step in steps)


def without_half_turn(steps: Sequence[str]) -> tuple[str, ...]:
    """``steps`` once the page is turned back half a turn: ``orient:180`` goes, ``orient:270``
    becomes ``orient:90``."""
    kept: list[str] = []
    for step in steps:
        if step == f"{ORIENT_STEP}270":
            kept.append(f"{ORIENT_STEP}90")
        elif step != f"{ORIENT_STEP}180":
            kept.append(step)
    return tuple(kept)


def _scaled(image: Image, max_side: int) -> Image:
    height, width = image.shape[:2]
    side = max(height, width)
    if side <= max_side:
        return image
    scale = max_side / side
    resized = cv2.resize(
        image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
    )
    return np.ascontiguousarray(resized, dtype=np.uint8)


def _profile_sharpness(ink: np.ndarray, angle: float) -> float:
    height, width = ink.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    rotated = cv2.warpAffine(ink, matrix, (width, height), flags=cv2.INTER_NEAREST)
    profile = rotated.sum(axis=1, dtype=np.float64)
    return float(np.sum(np.diff(profile) ** 2))


SKEW_COARSE_STEPS = 4  # the coarse search steps by 4 fine steps, then refines around its best


def estimate_skew(image: Image, *, max_angle: float = 6.0, step: float = 0.25) -> float:
    """The rotation (degrees, counter-clockwise) that levels the page's text lines: the angle
    whose horizontal ink profile is sharpest (text rows and gaps alternate), on an 800 px copy.
    Searched coarse to fine: every ``4 * step`` degrees, then every ``step`` around the best
    (20 rotations instead of 49 for +-6 degrees)."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    scale = 800 / max(gray.shape)
    if scale < 1:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    fine = np.arange(-max_angle, max_angle + step / 2, step)
    scores: dict[int, float] = {}

    def sharpness(index: int) -> float:
        if index not in scores:
            scores[index] = _profile_sharpness(ink, float(fine[index]))
        return scores[index]

    coarse = range(0, len(fine), SKEW_COARSE_STEPS)
    centre = max(coarse, key=sharpness)
    around = range(
        max(0, centre - SKEW_COARSE_STEPS + 1), min(len(fine), centre + SKEW_COARSE_STEPS)
    )
    return float(fine[max(around, key=sharpness)])


def rotate_page(image: Image, angle: float) -> Image:
    """``image`` rotated by ``angle`` degrees (counter-clockwise) on a white canvas large
    enough to keep every corner."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(height * sin + width * cos), int(height * cos + width * sin)
    matrix[0, 2] += new_w / 2 - width / 2
    matrix[1, 2] += new_h / 2 - height / 2
    rotated = cv2.warpAffine(
        image,
        matrix,
        (new_w, new_h),
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(255, 255, 255),
    )
    return np.ascontiguousarray(rotated, dtype=np.uint8)


def read_page(engines: Engines, image: Image, *, language: Language, max_side: int) -> PageText:
    """OCR one page with the loaded engines (CPU-heavy: call it in a worker thread). The page
    is scaled to ``max_side`` at most, prepared (:func:`prepare_page`) and, unless that levelled
    it, levelled when a few degrees askew (rows, table cells and Tesseract's crops all assume
    horizontal lines)."""
    image = _scaled(image, max_side)
    prepared = prepare_page(image, PAGE_OPTIONS, upside_down=engines.direction)
    image, steps = prepared.image, prepared.steps
    if half_turned(steps) and engines.rapid is not None:
        # the direction classifier's crops of small print are poor (it turned an upright
        # 272 px passport over): the recogniser confirms the half turn or it is undone
        try:
            undo = engines.rapid.reads_better_turned(image)
        except OcrEngineError as err:
            raise OcrFailedError(str(err)) from err
        if undo:
            image = np.ascontiguousarray(cv2.rotate(image, cv2.ROTATE_180), dtype=np.uint8)
            steps = without_half_turn(steps)
    if not any(step.startswith(LEVELLED_STEP) for step in steps):
        angle = estimate_skew(image)
        if abs(angle) >= MIN_SKEW_DEGREES:
            image = rotate_page(image, angle)
            steps = (*steps, LEVELLED_STEP)
    try:
        if engines.rapid is None:
            assert engines.tesseract is not None  # noqa: S101 - load_engines builds one
            lines = engines.tesseract.read(image)
            lang = language if language != "auto" else page_language(lines)
            return PageText(tuple(lines), tuple(group_rows(lines)), lang, TESSERACT, steps)
        lines = engines.rapid.read(image)
        lang = language if language != "auto" else page_language(lines)
        engine = RAPIDOCR
        if lang == "vi" and engines.tesseract is not None and lines:
            wanted = [index for index, line in enumerate(lines) if wants_tesseract(line)]
            rereads = engines.tesseract.read_segments(image, [lines[i].box for i in wanted])
            merged = list(lines)
            for index, reread in zip(wanted, rereads, strict=True):
                merged[index] = merge_segment(lines[index], reread)
            lines = merged
            engine = f"{RAPIDOCR}+{TESSERACT}"
    except OcrEngineError as err:
        raise OcrFailedError(str(err)) from err
    return PageText(tuple(lines), tuple(group_rows(lines)), lang, engine, steps)


@dataclass(frozen=True)
class InvoiceReading:
    page: PageText
    fields: InvoiceFields
    elapsed_ms: float


@dataclass(frozen=True)
class IdReading:
    page: PageText
    fields: IdFields
    elapsed_ms: float


def today_in(zone: str) -> date:
    """Today's date in the IANA time zone ``zone`` (UTC when the zone is unknown here)."""
    try:
        return datetime.now(ZoneInfo(zone)).date()
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone %r: dates are checked against UTC", zone)
        return datetime.now(ZoneInfo("UTC")).date()


class OcrService:
    """What the routes call: read an invoice or an identity document off a decoded image."""

    def __init__(self, engines: OcrEngines) -> None:
        self.engines = engines

    def _today(self, today: date | None) -> date:
        return today if today is not None else today_in(self.engines.config.timezone)

    async def read_invoice(
        self, image: Image, *, language: Language = "auto", today: date | None = None
    ) -> InvoiceReading:
        """``today``: the request's date (default: now in the configured zone); later dates
        are misreadings."""
        loaded = await self.engines.get()
        start = time.perf_counter()
        page = await asyncio.to_thread(
            read_page, loaded, image, language=language, max_side=self.engines.config.max_side
        )
        fields = parse_invoice(page.rows, today=self._today(today))
        return InvoiceReading(page, fields, (time.perf_counter() - start) * 1000)

    async def read_id(
        self,
        image: Image,
        *,
        language: Language = "auto",
        expected: str | None = None,
        country: str | None = None,
        today: date | None = None,
    ) -> IdReading:
        """``expected``/``country``: what the caller says the document is (see parse_id);
        ``today`` as for :meth:`read_invoice`."""
        loaded = await self.engines.get()
        start = time.perf_counter()
        page = await asyncio.to_thread(
            read_page, loaded, image, language=language, max_side=self.engines.config.max_side
        )
        fields = parse_id(page.rows, today=self._today(today), expected=expected, country=country)
        return IdReading(page, fields, (time.perf_counter() - start) * 1000)
