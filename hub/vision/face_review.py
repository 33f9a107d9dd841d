"""Face review for the staff console (issue 18, People and Search): the face crops of recent
face events re-embedded by the hub's own face model, unknown faces grouped into clusters, a
cluster named (enrolled) or dismissed, a wrong match undone ("not this person"), and face search
by photo.

Every embedding here is made on the hub by the analyzer that builds the hub's gallery, from the
event's stored crop (DESIGN §2: never another model's vectors). Embeddings stay in memory, keyed
by event and model, and are never logged or returned.

Clustering is greedy and deterministic: events oldest first; each joins the cluster whose
centroid (normalised mean) is most similar when that cosine clears the threshold, else starts a
new one. A cluster's id is the event id of its first member.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import cv2
import numpy as np
import numpy.typing as npt
from sqlmodel import col, select

from hub import face_gate
from hub.db import SessionFactory
from hub.gallery import detect_faces
from hub.storage import ObjectStore, StorageError
from hub.tables import AttendanceLog, Event, utcnow
from models.faces import FaceAnalyzer, Image

logger = logging.getLogger(__name__)

Vector = npt.NDArray[np.float32]

NOT_PERSON_KEY = "not_person"  # event payload: employee ids a person said it is not
CACHE_SIZE = 4096
MAX_EVENTS = 500


class FaceReviewError(ValueError):
    """A request the review cannot honour: ``field`` and ``reason`` for the 4xx."""

    def __init__(self, field: str, reason: str, *, status: int = 422) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class FaceSample:
    """One face event's crop, embedded: never leaves the process with its vector."""

    event_id: uuid.UUID
    camera_id: str
    device_id: str
    started_at: datetime
    person_id: str | None
    score: float | None
    vector: Vector


@dataclass(slots=True)
class Cluster:
    cluster_id: str
    members: list[FaceSample] = field(default_factory=list)
    _sum: Vector | None = None

    @property
    def centroid(self) -> Vector:
        if self._sum is None:
            raise ValueError("an empty cluster has no centroid")
        norm = float(np.linalg.norm(self._sum))
        return (self._sum / norm).astype(np.float32) if norm > 0 else self._sum

    def add(self, sample: FaceSample) -> None:
        self.members.append(sample)
        self._sum = sample.vector.copy() if self._sum is None else self._sum + sample.vector

    def cohesion(self) -> float:
        """The lowest cosine of a member to the centroid (1.0 for a single face)."""
        centre = self.centroid
        return round(min(float(np.dot(m.vector, centre)) for m in self.members), 4)


def cluster_samples(samples: Sequence[FaceSample], threshold: float) -> list[Cluster]:
    """Greedy centroid clustering (oldest first), largest cluster first, then newest."""
    clusters: list[Cluster] = []
    for sample in sorted(samples, key=lambda s: (s.started_at, str(s.event_id))):
        best: Cluster | None = None
        best_sim = threshold
        for cluster in clusters:
            sim = float(np.dot(sample.vector, cluster.centroid))
            if sim >= best_sim:
                best, best_sim = cluster, sim
        if best is None:
            best = Cluster(cluster_id=str(sample.event_id))
            clusters.append(best)
        best.add(sample)
    return sorted(clusters, key=lambda c: (-len(c.members), -c.members[-1].started_at.timestamp()))


def largest_face_vector(analyzer: FaceAnalyzer, image: Image) -> Vector | None:
    """The embedding of the largest face in ``image``; ``None`` when no face is found."""
    faces = detect_faces(analyzer, image)
    if not faces:
        return None
    face = max(faces, key=lambda f: f.box.w * f.box.h)
    vector = np.asarray(analyzer.embed(image, face), dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else None


def _decode_jpeg(data: bytes) -> Image | None:
    array = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(array, cv2.IMREAD_COLOR)
    return None if image is None else np.ascontiguousarray(image, dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class Scan:
    samples: list[FaceSample]
    events_seen: int
    without_face: int


@dataclass(frozen=True, slots=True)
class SearchHit:
    sample: FaceSample
    similarity: float


class FaceReview:
    """Reads face events and their crops, embeds them (cached per event and model)."""

    def __init__(self, session_factory: SessionFactory, store: ObjectStore) -> None:
        self._sessions = session_factory
        self._store = store
        self._cache: OrderedDict[tuple[str, str], Vector | None] = OrderedDict()
        self._lock = asyncio.Lock()

    async def face_events(
        self, *, since: datetime, unknown_only: bool, limit: int = MAX_EVENTS
    ) -> list[Event]:
        async with self._sessions() as session:
            query = select(Event).where(
                Event.kind == "face",
                col(Event.snapshot_key).is_not(None),
                col(Event.started_at) >= since,
            )
            if unknown_only:
                query = query.where(col(Event.person_id).is_(None))
            rows = await session.exec(query.order_by(col(Event.started_at).desc()).limit(limit))
            return list(rows.all())

    async def scan(self, analyzer: FaceAnalyzer, events: Sequence[Event]) -> Scan:
        """Embed each event's crop with ``analyzer`` (cached); events without a face are
        counted, not returned."""
        samples: list[FaceSample] = []
        without = 0
        async with self._lock:
            for event in events:
                vector = await self._vector(analyzer, event)
                if vector is None:
                    without += 1
                    continue
                samples.append(
                    FaceSample(
                        event_id=event.event_id,
                        camera_id=event.camera_id,
                        device_id=event.device_id,
                        started_at=event.started_at,
                        person_id=event.person_id,
                        score=event.score,
                        vector=vector,
                    )
                )
        return Scan(samples, len(events), without)

    async def _vector(self, analyzer: FaceAnalyzer, event: Event) -> Vector | None:
        key = (str(event.event_id), analyzer.model_id)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        vector: Vector | None = None
        try:
            data = await asyncio.to_thread(self._store.get, event.snapshot_key or "")
        except StorageError as err:
            logger.warning("face crop of an event is unreadable: %s", type(err).__name__)
            return None  # not cached: the store may answer next time
        image = await asyncio.to_thread(_decode_jpeg, data)
        if image is not None:
            vector = await asyncio.to_thread(largest_face_vector, analyzer, image)
        self._cache[key] = vector
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return vector

    async def clusters(
        self, analyzer: FaceAnalyzer, *, days: int, threshold: float
    ) -> tuple[list[Cluster], Scan]:
        since = utcnow() - timedelta(days=days)
        events = await self.face_events(since=since, unknown_only=True)
        scan = await self.scan(analyzer, events)
        return cluster_samples(scan.samples, threshold), scan

    async def search(
        self, analyzer: FaceAnalyzer, probe: Vector, *, days: int, threshold: float, limit: int
    ) -> tuple[list[SearchHit], Scan]:
        since = utcnow() - timedelta(days=days)
        events = await self.face_events(since=since, unknown_only=False)
        scan = await self.scan(analyzer, events)
        hits = [
            SearchHit(s, round(float(np.dot(s.vector, probe)), 4))
            for s in scan.samples
            if float(np.dot(s.vector, probe)) >= threshold
        ]
        hits.sort(key=lambda h: -h.similarity)
        return hits[:limit], scan

    async def unknown_events(
        self, event_ids: Sequence[uuid.UUID], *, naming: str | None = None
    ) -> list[Event]:
        """The events, each an unknown face event with its crop (else FaceReviewError); with
        ``naming``, none may have been marked "not this person" for that employee (409)."""
        async with self._sessions() as session:
            rows = (
                await session.exec(select(Event).where(col(Event.event_id).in_(list(event_ids))))
            ).all()
        found = {r.event_id: r for r in rows}
        out = []
        for i, event_id in enumerate(event_ids):
            event = found.get(event_id)
            if event is None:
                raise FaceReviewError(f"event_ids[{i}]", f"no event {event_id}", status=404)
            if event.kind != "face" or event.person_id is not None:
                raise FaceReviewError(f"event_ids[{i}]", "not an unknown face event", status=409)
            if event.snapshot_key is None:
                raise FaceReviewError(f"event_ids[{i}]", "its face crop has expired", status=409)
            if naming is not None and naming in (event.payload or {}).get(NOT_PERSON_KEY, []):
                raise FaceReviewError(
                    "employee_id", f"{event_id} was marked as not {naming}", status=409
                )
            out.append(event)
        return out

    async def crops(self, events: Sequence[Event]) -> list[bytes]:
        out = []
        for i, event in enumerate(events):
            try:
                out.append(await asyncio.to_thread(self._store.get, event.snapshot_key or ""))
            except StorageError as err:
                raise FaceReviewError(
                    f"event_ids[{i}]", "its face crop is unreadable", status=409
                ) from err
        return out

    async def label(self, event_ids: Sequence[uuid.UUID], employee_id: str) -> int:
        """Attribute the (unknown) events to ``employee_id``."""
        async with self._sessions() as session:
            rows = (
                await session.exec(
                    select(Event).where(
                        col(Event.event_id).in_(list(event_ids)), col(Event.person_id).is_(None)
                    )
                )
            ).all()
            for row in rows:
                row.person_id = employee_id
                row.updated_at = utcnow()
                session.add(row)
            await session.commit()
            return len(rows)

    async def dismiss(self, events: Sequence[Event]) -> tuple[int, int]:
        """Delete the events and their crops now (before retention would). Returns (rows,
        crops deleted); a crop whose delete fails keeps its row for the retention purge."""
        deleted_crops = 0
        doomed: list[uuid.UUID] = []
        for event in events:
            try:
                await asyncio.to_thread(self._store.delete, event.snapshot_key or "")
            except StorageError as err:
                logger.warning("could not delete a dismissed face crop: %s", type(err).__name__)
                continue
            deleted_crops += 1
            doomed.append(event.event_id)
        async with self._sessions() as session:
            linked = (
                await session.exec(
                    select(AttendanceLog).where(col(AttendanceLog.event_id).in_(doomed))
                )
            ).all()
            for log in linked:
                log.event_id = None
                session.add(log)
            rows = (await session.exec(select(Event).where(col(Event.event_id).in_(doomed)))).all()
            for row in rows:
                await session.delete(row)
            await session.commit()
        for event_id in doomed:
            for key in [k for k in self._cache if k[0] == str(event_id)]:
                self._cache.pop(key, None)
        return len(doomed), deleted_crops

    async def not_this_person(self, event_id: uuid.UUID) -> tuple[str, int]:
        """Undo a wrong match: the event becomes unknown, remembers whom it is not (so naming
        it back is refused), and its crop is no longer attributed. Returns (the employee it
        was matched to, attendance rows that the match fed)."""
        async with self._sessions() as session:
            event = await session.get(Event, event_id)
            if event is None:
                raise FaceReviewError("event_id", f"no event {event_id}", status=404)
            if event.kind != "face":
                raise FaceReviewError("event_id", "not a face event", status=409)
            if event.person_id is None:
                raise FaceReviewError("event_id", "the event matched nobody", status=409)
            wrong = event.person_id
            payload = dict(event.payload or {})
            refused = [p for p in payload.get(NOT_PERSON_KEY, []) if isinstance(p, str)]
            payload[NOT_PERSON_KEY] = sorted({*refused, wrong})
            payload.pop("person_id", None)
            event.payload = payload
            event.person_id = None
            event.score = None
            event.updated_at = utcnow()
            session.add(event)
            linked = (
                await session.exec(select(AttendanceLog).where(AttendanceLog.event_id == event_id))
            ).all()
            await session.commit()
        return wrong, len(linked)

    async def crop_of(self, event_id: uuid.UUID) -> bytes:
        async with self._sessions() as session:
            event = await session.get(Event, event_id)
        if event is None or event.kind != "face":
            raise FaceReviewError("event_id", f"no face event {event_id}", status=404)
        if event.snapshot_key is None:
            raise FaceReviewError("event_id", "its face crop has expired", status=404)
        try:
            return await asyncio.to_thread(self._store.get, event.snapshot_key)
        except StorageError as err:
            raise FaceReviewError("event_id", "its face crop is unreadable", status=404) from err


@dataclass(frozen=True, slots=True)
class PhotoVerdict:
    """The enrolment gate's verdict on one photo, before anything is stored."""

    index: int
    accepted: bool
    code: str  # ok | no_face | several_faces | below_quality_gate | not_same_person
    quality: float | None
    faces_found: int
    reason: str | None


def photo_verdicts(
    analyzer: FaceAnalyzer, images: Sequence[Image], match_threshold: float
) -> list[PhotoVerdict]:
    """The checks of enrolment (hub/gallery.py) on every photo, each judged on its own, and
    "the same person as the first accepted photo" (worker thread)."""
    out: list[PhotoVerdict] = []
    first: Vector | None = None
    for index, image in enumerate(images):
        faces = detect_faces(analyzer, image)
        if not faces:
            out.append(PhotoVerdict(index, False, "no_face", None, 0, "no face found"))
            continue
        comparable = face_gate.comparable_faces(faces)
        if comparable > 1:
            reason = f"{comparable} faces of comparable size: give a photo of the person alone"
            out.append(PhotoVerdict(index, False, "several_faces", None, len(faces), reason))
            continue
        face = face_gate.largest_face(faces)
        quality = face_gate.check(analyzer, image, face)
        score = round(face_gate.quality_score(quality), 4)
        if not quality.ok:
            reason = "the face fails the quality gate: " + "; ".join(quality.reasons)
            out.append(PhotoVerdict(index, False, "below_quality_gate", score, len(faces), reason))
            continue
        vector = np.asarray(analyzer.embed(image, face), dtype=np.float32).reshape(-1)
        if first is not None and float(first @ vector) < match_threshold:
            reason = "not the same person as the first accepted photo"
            out.append(PhotoVerdict(index, False, "not_same_person", score, len(faces), reason))
            continue
        first = vector if first is None else first
        out.append(PhotoVerdict(index, True, "ok", score, len(faces), None))
    return out
