"""Face recognition on the hub: detect -> quality -> (liveness) -> embed -> match against the
hub's gallery of the analyzer's embedding model (DESIGN §2: a gallery built by one model is never
matched with another model's embeddings).

The gallery matched here is built by the same query as the artefact the edges download
(:func:`hub.gallery.gallery_rows`: active employees with recorded consent), and is cached per
published gallery version, so the hub and its edges agree on who is known. The quality gate is
the edge's (hub/face_gate.py): a face under its size is ``face_too_small``, a blurred or turned
face ``face_low_quality``; neither is matched. A face that matches nobody is ``face_not_found``
with no similarity and no nearest person (no oracle for tuning an attack image).

Liveness from one photo needs a passive anti-spoofing model (MiniFASNet, ``minifasnet-v2``,
fetch-only) to say a face is *live*. Without it the single-image screen cues of the edge
(:func:`edge_agent.domain.liveness.moire_score`: a filmed screen's pixel grid; the glare of a
glossy print) can still find evidence of a presentation attack, answered
``liveness_check_failed``; when they find none the answer is ``liveness_unavailable``: the hub
never claims a face is live when it could not check.

Every recognition is recorded (:class:`hub.tables.FaceRecognitionLog`: camera, the caller's
capture time, outcome, who) by :meth:`FaceRecognitionService.record`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt
from sqlmodel import col, select

from edge_agent.domain.liveness import LivenessPolicy, moire_score
from edge_agent.domain.pipeline import GLARE_LEVEL
from hub import face_gate
from hub.db import SessionFactory
from hub.face_templates import TemplateProtector
from hub.gallery import detect_faces, gallery_rows
from hub.tables import FaceRecognitionLog, GalleryVersionRecord
from models.face_quality import FaceQuality
from models.faces import DetectedFace, FaceAnalyzer, FaceBox, Image, ModelUnavailableError

logger = logging.getLogger(__name__)

LIVENESS_MODEL_ID = "minifasnet-v2"
DEFAULT_LIVENESS_THRESHOLD = 0.5
SCREEN_CUES_ID = "screen-cues"
# The edge's thresholds (one frame here, where the edge wants most of a track's frames).
_CUES = LivenessPolicy()
_MOIRE_SCORE = 0.05  # the edge's liveness_score for a screen pattern
_GLARE_SCORE = 0.1  # ... and for glare

RecognitionStatus = Literal[
    "success",
    "no_face_detected",
    "face_too_small",
    "face_low_quality",
    "face_not_found",
    "liveness_check_failed",
    "liveness_unavailable",
]


class PassiveLiveness(Protocol):
    """A single-image anti-spoofing model, ``(image, face) -> P(live)``
    (:class:`models.liveness.MiniFasNetLiveness`)."""

    @property
    def model_id(self) -> str: ...

    def __call__(self, image: Image, face: DetectedFace) -> float: ...


LivenessLoader = Callable[[], PassiveLiveness]
"""Builds the passive liveness model or raises :class:`ModelUnavailableError` saying why."""


class LivenessProvider:
    """Loads the passive liveness model once, on first use, and remembers why it could not."""

    def __init__(self, loader: LivenessLoader | None) -> None:
        self._loader = loader
        self._model: PassiveLiveness | None = None
        self._error: str | None = None
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> PassiveLiveness | None:
        return self._model

    @property
    def error(self) -> str | None:
        return self._error

    async def get(self) -> PassiveLiveness:
        if self._model is None and self._error is None:
            async with self._lock:
                if self._model is None and self._error is None:
                    await self._load()
        if self._model is None:
            raise ModelUnavailableError(self._error or f"{LIVENESS_MODEL_ID} unavailable")
        return self._model

    async def _load(self) -> None:
        if self._loader is None:
            self._error = (
                f"no passive liveness model is configured ({LIVENESS_MODEL_ID}: "
                f"innsight models fetch {LIVENESS_MODEL_ID})"
            )
            return
        try:
            self._model = await asyncio.to_thread(self._loader)
        except ModelUnavailableError as err:
            self._error = str(err)
            logger.warning("liveness model unavailable: %s", err)
        except Exception as err:
            self._error = f"liveness model failed to load: {type(err).__name__}: {err}"
            logger.exception("liveness model failed to load")


def minifasnet_liveness() -> PassiveLiveness:
    """MiniFASNetV2 from the model registry (raises :class:`ModelUnavailableError` when it was
    not fetched: it ships in no package)."""
    from models.liveness import MiniFasNetLiveness

    return MiniFasNetLiveness(intra_op_threads=1)  # one per request; requests run in parallel


def liveness_unavailable_message(reason: str | None) -> str:
    return (
        "liveness cannot be checked from a single image without the passive anti-spoofing "
        f"model {LIVENESS_MODEL_ID} (innsight models fetch {LIVENESS_MODEL_ID})"
        + (f": {reason}" if reason else "")
    )


@dataclass(frozen=True, slots=True)
class SpoofEvidence:
    score: float
    reason: str


def screen_evidence(image: Image, box: FaceBox) -> SpoofEvidence | None:
    """Evidence in one image that the face is shown on a screen or a glossy print: the face
    crop's moiré (a screen's pixel grid, filmed) or glare, by the edge's cues and thresholds.
    None means no evidence, never "live"."""
    crop = image[max(box.y, 0) : box.y + box.h, max(box.x, 0) : box.x + box.w]
    if crop.size == 0:
        return None
    gray = np.asarray(
        crop[:, :, 0] * 0.114 + crop[:, :, 1] * 0.587 + crop[:, :, 2] * 0.299, dtype=np.uint8
    )
    moire = moire_score(gray)
    if moire >= _CUES.moire_spoof:
        return SpoofEvidence(_MOIRE_SCORE, f"a screen pattern in the face (moire {moire:.2f})")
    glare = float((crop.min(axis=2) >= GLARE_LEVEL).mean())
    if glare >= _CUES.glare_spoof:
        return SpoofEvidence(_GLARE_SCORE, f"glare on {glare:.0%} of the face")
    return None


# ---------------------------------------------------------------------------------------------
# Matching (pure)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GalleryMatrix:
    """Unit embeddings (rows) and whose they are, for one model."""

    model_id: str
    version: int
    person_ids: tuple[str, ...]
    vectors: npt.NDArray[np.float32]  # (n, dim)

    @property
    def people(self) -> int:
        return len(set(self.person_ids))


@dataclass(frozen=True, slots=True)
class Match:
    """The nearest gallery person and the cosine similarity; ``accepted`` when it clears the
    threshold (below it the face is unknown, never "the nearest person")."""

    person_id: str | None
    similarity: float
    accepted: bool


def best_match(gallery: GalleryMatrix, probe: npt.NDArray[np.float32], threshold: float) -> Match:
    """Exact cosine search (unit vectors), best embedding per person."""
    if gallery.vectors.shape[0] == 0:
        return Match(None, 0.0, False)
    if probe.shape[-1] != gallery.vectors.shape[1]:
        raise ValueError(
            f"probe has {probe.shape[-1]} dimensions, the gallery {gallery.vectors.shape[1]}"
        )
    scores = gallery.vectors @ probe.astype(np.float32).reshape(-1)
    index = int(np.argmax(scores))
    similarity = float(np.clip(scores[index], -1.0, 1.0))
    accepted = similarity >= threshold
    return Match(gallery.person_ids[index], similarity, accepted)


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LivenessResult:
    checked: bool
    is_live: bool | None
    score: float | None
    model_id: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class Recognition:
    status: RecognitionStatus
    message: str
    employee_id: str | None
    name: str | None
    confidence: float | None
    face_location: FaceBox | None
    faces_detected: int
    quality: float | None
    liveness: LivenessResult | None
    model_id: str
    gallery_version: int | None
    recognition_time_ms: float

    @property
    def success(self) -> bool:
        return self.status == "success"


@dataclass(frozen=True, slots=True)
class _Analysed:
    faces: list[DetectedFace]
    face: DetectedFace | None
    gate: FaceQuality | None
    embedding: npt.NDArray[np.float32] | None
    liveness_score: float | None
    spoof: SpoofEvidence | None = None

    @property
    def quality(self) -> float | None:
        return face_gate.quality_score(self.gate) if self.gate is not None else None


# ---------------------------------------------------------------------------------------------
# The service
# ---------------------------------------------------------------------------------------------


class FaceRecognitionService:
    """Recognises one face per request against the hub's gallery of the analyzer's model."""

    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        threshold: float,
        liveness: LivenessProvider,
        liveness_threshold: float = DEFAULT_LIVENESS_THRESHOLD,
        templates: TemplateProtector,
    ) -> None:
        self._templates = templates  # probes are matched under the site's template key
        self._session_factory = session_factory
        self._threshold = threshold
        self.liveness = liveness
        self._liveness_threshold = liveness_threshold
        self._cache: dict[str, GalleryMatrix] = {}
        self._names: dict[str, str] = {}
        self._lock = asyncio.Lock()

    @property
    def threshold(self) -> float:
        return self._threshold

    async def gallery(self, model_id: str, dim: int) -> GalleryMatrix:
        """The gallery for ``model_id``, rebuilt when a new gallery version was published."""
        async with self._session_factory() as session:
            version = (
                await session.exec(
                    select(GalleryVersionRecord.version)
                    .order_by(col(GalleryVersionRecord.version).desc())
                    .limit(1)
                )
            ).first()
        current = int(version or 0)
        cached = self._cache.get(model_id)
        if cached is not None and cached.version == current:
            return cached
        async with self._lock:
            cached = self._cache.get(model_id)
            if cached is not None and cached.version == current:
                return cached
            matrix, names = await self._load(model_id, dim, current)
            self._cache[model_id] = matrix
            self._names.update(names)
            return matrix

    async def refresh(self) -> int:
        """Reload the galleries held here whose version moved on (another API replica
        published one: hub/cluster/); how many were reloaded."""
        reloaded = 0
        for held in list(self._cache.values()):
            if await self.gallery(held.model_id, int(held.vectors.shape[1])) is not held:
                reloaded += 1
        return reloaded

    async def _load(
        self, model_id: str, dim: int, version: int
    ) -> tuple[GalleryMatrix, dict[str, str]]:
        async with self._session_factory() as session:
            rows = await gallery_rows(session, model_id, dim)
        ids = [row.employee_id for row in rows]
        blobs = [row.embedding for row in rows]
        names = {row.employee_id: row.name for row in rows}
        vectors = (
            np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), dim).astype(np.float32)
            if blobs
            else np.zeros((0, dim), dtype=np.float32)
        )
        return GalleryMatrix(model_id, version, tuple(ids), vectors), names

    async def recognize(
        self, analyzer: FaceAnalyzer, image: Image, *, check_liveness: bool
    ) -> Recognition:
        started = time.perf_counter()
        liveness_model: PassiveLiveness | None = None
        liveness_error: str | None = None
        if check_liveness:
            try:
                liveness_model = await self.liveness.get()
            except ModelUnavailableError as err:
                liveness_error = str(err)
        gallery = await self.gallery(analyzer.model_id, analyzer.dim)
        analysed = await asyncio.to_thread(
            _analyse, analyzer, image, liveness_model, screen_cues=check_liveness
        )

        def finish(
            status: RecognitionStatus,
            message: str,
            *,
            match: Match | None = None,
            liveness: LivenessResult | None = None,
        ) -> Recognition:
            person = match.person_id if match is not None and match.accepted else None
            return Recognition(
                status=status,
                message=message,
                employee_id=person,
                name=self._names.get(person) if person is not None else None,
                # the similarity of a face that matched nobody is never given out
                confidence=(
                    round(match.similarity, 4) if match is not None and person is not None else None
                ),
                face_location=analysed.face.box if analysed.face is not None else None,
                faces_detected=len(analysed.faces),
                quality=analysed.quality,
                liveness=liveness,
                model_id=analyzer.model_id,
                gallery_version=gallery.version or None,
                recognition_time_ms=round((time.perf_counter() - started) * 1000.0, 1),
            )

        if analysed.face is None or analysed.gate is None:
            return finish("no_face_detected", "no face was detected in the image")
        gate = analysed.gate
        if face_gate.too_small(gate):
            box = analysed.face.box
            return finish(
                "face_too_small",
                f"the face is {box.w}x{box.h} px, under {face_gate.GATE.min_face_px} px: "
                "too small to recognise",
            )
        liveness: LivenessResult | None = None
        if check_liveness:
            spoof = analysed.spoof
            if liveness_model is None and spoof is not None:
                liveness = LivenessResult(True, False, spoof.score, SCREEN_CUES_ID, spoof.reason)
                return finish(
                    "liveness_check_failed",
                    f"photo/video spoofing detected: {spoof.reason}",
                    liveness=liveness,
                )
            if liveness_model is None:
                message = (
                    liveness_unavailable_message(liveness_error)
                    + "; the screen cues found no screen or print, which does not prove a "
                    "live face"
                )
                liveness = LivenessResult(False, None, None, None, message)
                return finish("liveness_unavailable", message, liveness=liveness)
            score = float(analysed.liveness_score or 0.0)
            reason = None
            if spoof is not None:
                score, reason = min(score, spoof.score), spoof.reason
            is_live = score >= self._liveness_threshold
            liveness = LivenessResult(
                True, is_live, round(score, 4), liveness_model.model_id, reason
            )
            if not is_live:
                return finish(
                    "liveness_check_failed",
                    f"photo/video spoofing detected: the face did not pass the liveness check "
                    f"(score {score:.2f}{'; ' + reason if reason else ''})",
                    liveness=liveness,
                )
        if analysed.embedding is None:
            return finish(
                "face_low_quality",
                "the face fails the quality gate: " + "; ".join(gate.reasons),
                liveness=liveness,
            )
        probe = self._templates.probe(analyzer.model_id, analysed.embedding)
        match = best_match(gallery, probe, self._threshold)
        if not match.accepted:  # no similarity, no nearest person
            return finish(
                "face_not_found", "the face matches no enrolled employee", liveness=liveness
            )
        return finish("success", "recognised", match=match, liveness=liveness)

    async def record(
        self, result: Recognition, *, camera_id: str | None, captured_at: datetime
    ) -> int:
        """Store one recognition (camera, capture time, outcome, who); returns its id."""
        row = FaceRecognitionLog(
            camera_id=camera_id,
            captured_at=captured_at,
            status=result.status,
            employee_id=result.employee_id,
            confidence=result.confidence if result.success else None,
            liveness_checked=result.liveness is not None and result.liveness.checked,
            liveness_score=result.liveness.score if result.liveness is not None else None,
            recognition_time_ms=result.recognition_time_ms,
            model_id=result.model_id,
        )
        async with self._session_factory() as session:
            session.add(row)
            await session.commit()
            return int(row.id or 0)

    async def recognitions(
        self,
        *,
        camera_id: str | None = None,
        employee_id: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[FaceRecognitionLog]:
        """Recorded recognitions, newest first, optionally of one camera or one employee."""
        query = select(FaceRecognitionLog)
        if camera_id is not None:
            query = query.where(FaceRecognitionLog.camera_id == camera_id)
        if employee_id is not None:
            query = query.where(FaceRecognitionLog.employee_id == employee_id)
        if since is not None:
            query = query.where(col(FaceRecognitionLog.captured_at) >= since)
        query = query.order_by(col(FaceRecognitionLog.id).desc()).limit(limit)
        async with self._session_factory() as session:
            return list((await session.exec(query)).all())


def utcnow() -> datetime:
    return datetime.now(UTC)


def _analyse(
    analyzer: FaceAnalyzer,
    image: Image,
    liveness: PassiveLiveness | None,
    *,
    screen_cues: bool = False,
) -> _Analysed:
    """Detect, pick the largest face, run the edge's quality gate, score liveness (the passive
    model and, with ``screen_cues``, the single-image screen cues) and embed a face that passes
    the gate (worker thread)."""
    faces = detect_faces(analyzer, image)
    if not faces:
        return _Analysed(faces, None, None, None, None)
    face = face_gate.largest_face(faces)
    gate = face_gate.check(analyzer, image, face)
    if face_gate.too_small(gate):
        return _Analysed(faces, face, gate, None, None)
    live = liveness(image, face) if liveness is not None else None
    spoof = screen_evidence(image, face.box) if screen_cues else None
    embedding = analyzer.embed(image, face) if gate.ok else None
    return _Analysed(faces, face, gate, embedding, live, spoof)
