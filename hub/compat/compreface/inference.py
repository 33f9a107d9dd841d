"""Recognize, detect and verify in CompreFace's shapes, over the hub's own face services.

Detection is the hub's (:func:`hub.gallery.detect_faces`), the quality gate the edge's
(:mod:`hub.face_gate`), the templates and the gallery the hub's (:class:`FaceRecognitionService`
: the same gallery the edges download, under the site's template key). Every detected face
comes back, biggest first; a face that fails the quality gate, or matches nobody at the hub's
threshold, has no subjects: the hub never names "the nearest person" nor gives the similarity of
a face that matched nobody (no oracle for tuning an attack image).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hub import face_gate
from hub.compat.compreface import errors
from hub.compat.compreface.params import FaceQuery
from hub.face_templates import TemplateProtector
from hub.gallery import detect_faces
from hub.vision.faces import (
    FaceRecognitionService,
    GalleryMatrix,
    Recognition,
    RecognitionStatus,
    utcnow,
)
from models.faces import DetectedFace, FaceAnalyzer, Image

DETECTOR_PLUGIN = "detector"
# dlib's HOG gives an SVM margin (0 at its threshold, ~1 to 3 for a clear face), not a
# probability: it is mapped through a logistic of this slope (margin 0 -> 0.5, 0.46 -> 0.8,
# 1 -> 0.95). Detectors that give a probability (SCRFD, YuNet) are passed through.
_MARGIN_SLOPE = 3.0
_MARGIN_DETECTORS = ("dlib",)


def detection_probability(model_id: str, score: float) -> float:
    if model_id.startswith(_MARGIN_DETECTORS):
        return 1.0 / (1.0 + math.exp(-_MARGIN_SLOPE * score))
    return min(max(score, 0.0), 1.0)


def five_landmarks(points: npt.NDArray[np.floating] | None) -> list[list[int]] | None:
    """CompreFace's five points (left eye, right eye, nose, mouth left, mouth right) from 68
    iBUG landmarks (or five given by the detector)."""
    if points is None:
        return None
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] == 68:
        pts = np.stack(
            [pts[36:42].mean(axis=0), pts[42:48].mean(axis=0), pts[30], pts[48], pts[54]]
        )
    if pts.shape[0] != 5:
        return None
    return [[round(float(x)), round(float(y))] for x, y in pts]


@dataclass(frozen=True, slots=True)
class FaceFinding:
    """One detected face: box, probability and what the plugins and the gate made of it."""

    face: DetectedFace
    probability: float
    landmarks: list[list[int]] | None
    embedding: npt.NDArray[np.float32] | None  # None: failed the quality gate
    detector_ms: float
    calculator_ms: float


def analyse(
    analyzer: FaceAnalyzer,
    image: Image,
    query: FaceQuery,
    *,
    gate: bool = True,
    single: bool = False,
) -> list[FaceFinding]:
    """Detect, keep faces at ``det_prob_threshold``, biggest first up to ``limit``, and embed
    each one that passes the quality gate (worker thread). ``single``: a photo of one face
    (another of comparable size is refused before anything is embedded)."""
    started = time.perf_counter()
    found = detect_faces(analyzer, image)
    detector_ms = (time.perf_counter() - started) * 1000.0
    kept = [
        (face, detection_probability(analyzer.model_id, face.score))
        for face in sorted(found, key=lambda f: f.box.area, reverse=True)
    ]
    kept = [(face, p) for face, p in kept if p >= query.det_prob_threshold]
    if single and face_gate.comparable_faces([face for face, _ in kept]) > 1:
        raise errors.too_many_faces()
    if query.limit:
        kept = kept[: query.limit]
    findings = []
    for face, probability in kept:
        started = time.perf_counter()
        points = face_gate.landmarks_of(analyzer, image, face)
        embedding = None
        if not gate or face_gate.check(analyzer, image, face).ok:
            embedding = np.asarray(analyzer.embed(image, face), dtype=np.float32).reshape(-1)
        findings.append(
            FaceFinding(
                face=face,
                probability=probability,
                landmarks=five_landmarks(points),
                embedding=embedding,
                detector_ms=detector_ms / max(len(kept), 1),
                calculator_ms=(time.perf_counter() - started) * 1000.0,
            )
        )
    return findings


def plugin_versions(analyzer: FaceAnalyzer, query: FaceQuery) -> dict[str, str]:
    versions = {DETECTOR_PLUGIN: f"{analyzer.model_id}.FaceDetector"}
    if "calculator" in query.plugins:
        versions["calculator"] = f"{analyzer.model_id}.Calculator"
    if "landmarks" in query.plugins:
        versions["landmarks"] = f"{analyzer.model_id}.Landmarks"
    return versions


def _recognition(
    analyzer: FaceAnalyzer,
    gallery: GalleryMatrix,
    finding: FaceFinding,
    subjects: list[dict[str, Any]],
    faces: int,
    elapsed_ms: float,
) -> Recognition:
    """One face's outcome as the hub records its own recognitions (FaceRecognitionLog)."""
    best = subjects[0] if subjects else None
    status: RecognitionStatus = (
        "success"
        if best is not None
        else ("face_not_found" if finding.embedding is not None else "face_low_quality")
    )
    return Recognition(
        status=status,
        message="recognised via the CompreFace-compatible API",
        employee_id=best["subject"] if best is not None else None,
        name=None,
        confidence=best["similarity"] if best is not None else None,
        face_location=finding.face.box,
        faces_detected=faces,
        quality=None,
        liveness=None,
        model_id=analyzer.model_id,
        gallery_version=gallery.version or None,
        recognition_time_ms=round(finding.detector_ms + finding.calculator_ms + elapsed_ms, 1),
    )


class CompreFaceInference:
    """``/recognition/recognize``, ``/detection/detect`` and ``/verification/verify``."""

    def __init__(self, faces: FaceRecognitionService, templates: TemplateProtector) -> None:
        self._faces = faces
        self._templates = templates

    def _face(
        self, analyzer: FaceAnalyzer, finding: FaceFinding, query: FaceQuery
    ) -> dict[str, Any]:
        """One face in CompreFace's shape (``box`` always; plugins and timings on request)."""
        box = finding.face.box
        out: dict[str, Any] = {
            "box": {
                "probability": round(finding.probability, 5),
                "x_max": box.x + box.w,
                "y_max": box.y + box.h,
                "x_min": box.x,
                "y_min": box.y,
            }
        }
        if "landmarks" in query.plugins:
            out["landmarks"] = finding.landmarks or []
        if "calculator" in query.plugins:
            # the site-keyed template (what the gallery holds), never the raw descriptor
            out["embedding"] = (
                [round(float(v), 7) for v in self._probe(analyzer, finding.embedding)]
                if finding.embedding is not None
                else []
            )
        if query.status:
            timings = {DETECTOR_PLUGIN: round(finding.detector_ms, 1)}
            if finding.embedding is not None:
                timings["calculator"] = round(finding.calculator_ms, 1)
            out["execution_time"] = timings
        return out

    def _probe(
        self, analyzer: FaceAnalyzer, embedding: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        return self._templates.probe(analyzer.model_id, embedding)

    async def _findings(
        self, analyzer: FaceAnalyzer, image: Image, query: FaceQuery
    ) -> list[FaceFinding]:
        findings = await asyncio.to_thread(analyse, analyzer, image, query)
        if not findings:
            raise errors.no_face()
        return findings

    def _answer(
        self, analyzer: FaceAnalyzer, result: list[dict[str, Any]], query: FaceQuery
    ) -> dict[str, Any]:
        answer: dict[str, Any] = {"result": result}
        if query.status:
            answer["plugins_versions"] = plugin_versions(analyzer, query)
        return answer

    async def detect(
        self, analyzer: FaceAnalyzer, image: Image, query: FaceQuery
    ) -> dict[str, Any]:
        findings = await self._findings(analyzer, image, query)
        return self._answer(analyzer, [self._face(analyzer, f, query) for f in findings], query)

    async def recognize(
        self, analyzer: FaceAnalyzer, image: Image, query: FaceQuery
    ) -> dict[str, Any]:
        findings = await self._findings(analyzer, image, query)
        started = time.perf_counter()
        gallery = await self._faces.gallery(analyzer.model_id, analyzer.dim)
        result = []
        for finding in findings:
            face = self._face(analyzer, finding, query)
            face["subjects"] = self._subjects(analyzer, gallery, finding, query.prediction_count)
            result.append(face)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        for finding, face in zip(findings, result, strict=True):  # recorded as the hub's own
            outcome = _recognition(
                analyzer, gallery, finding, face["subjects"], len(findings), elapsed_ms
            )
            await self._faces.record(outcome, camera_id=None, captured_at=utcnow())
        return self._answer(analyzer, result, query)

    def _subjects(
        self,
        analyzer: FaceAnalyzer,
        gallery: GalleryMatrix,
        finding: FaceFinding,
        count: int,
    ) -> list[dict[str, Any]]:
        """The best ``count`` people at or above the hub's match threshold, best first."""
        if finding.embedding is None or gallery.vectors.shape[0] == 0:
            return []
        scores = gallery.vectors @ self._probe(analyzer, finding.embedding)
        best: dict[str, float] = {}
        for person, score in zip(gallery.person_ids, scores.tolist(), strict=True):
            if score >= self._faces.threshold and score > best.get(person, -1.0):
                best[person] = score
        ranked = sorted(best.items(), key=lambda item: item[1], reverse=True)[:count]
        return [
            {"subject": person, "similarity": round(min(score, 1.0), 5)} for person, score in ranked
        ]

    async def verify(
        self, analyzer: FaceAnalyzer, source: Image, target: Image, query: FaceQuery
    ) -> dict[str, Any]:
        """The one face of ``source`` against every face of ``target`` (similarity 0..1)."""
        source_query = FaceQuery(
            limit=1,
            det_prob_threshold=query.det_prob_threshold,
            plugins=query.plugins,
            status=query.status,
        )
        sources = await asyncio.to_thread(
            analyse, analyzer, source, source_query, gate=False, single=True
        )
        if not sources:
            raise errors.no_face()
        targets = await asyncio.to_thread(analyse, analyzer, target, query, gate=False)
        if not targets:
            raise errors.no_face()
        probe = sources[0].embedding
        matches = []
        for finding in targets:
            face = self._face(analyzer, finding, query)
            similarity = 0.0
            if probe is not None and finding.embedding is not None:
                similarity = float(np.clip(probe @ finding.embedding, 0.0, 1.0))
            face["similarity"] = round(similarity, 5)
            matches.append(face)
        matches.sort(key=lambda m: float(m["similarity"]), reverse=True)
        item: dict[str, Any] = {
            "source_image_face": self._face(analyzer, sources[0], source_query),
            "face_matches": matches,
        }
        if query.status:
            item["plugins_versions"] = plugin_versions(analyzer, query)
        return {"result": [item]}
