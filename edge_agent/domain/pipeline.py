"""The face pipeline of the edge: detect → track → embed (sometimes) → match → vote → events.

Pure orchestration: the face backend, the gallery and the snapshot encoder are passed in, so the
same code runs against dlib and a real hnswlib gallery in production and against in-memory fakes
in the unit tests.

Embedding is the expensive step (~110 ms a face with dlib on a small CPU), so a track's face is
embedded on its first ``initial_embeds`` frames (enough votes to name it when the track is
confirmed), then every ``embed_every`` frames in which it is seen, up to ``max_embeddings`` per
track (a long dwell adds no information after that). Nothing is embedded while there is nothing
to match against: an empty gallery, or a gallery made by another model.

A gallery built by one embedding model is never matched with another model's embeddings
(DESIGN §2): their vectors live in unrelated spaces, and a "match" between them would be noise
that names a stranger. Such a gallery is refused (logged once) and every face stays unknown until
a gallery of the right model arrives.

Two checks sit before an identity (both optional, both injected):
- the **quality gate** (``quality_gate``, e.g. :func:`models.face_quality.assess`): a face that
  is too small, blurred or turned away is not embedded and casts no vote (counted in
  ``PipelineStats.quality_rejected``); the track goes on and a later, better frame votes.
- **liveness** (``TrackerConfig.liveness``): every frame of a track adds an observation (68
  landmarks from ``landmarker``, the grey face crop and its glare for the screen cues, a passive
  model's score from ``passive_liveness``); the tracker gates the identity by the verdict (see
  :mod:`edge_agent.domain.tracking`), so a spoof never becomes a recognised person.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np

from contracts.messages import FacePayload, Phase
from edge_agent.domain.events import PendingEvent
from edge_agent.domain.geometry import clip_box
from edge_agent.domain.liveness import LivenessObservation
from edge_agent.domain.matching import decide
from edge_agent.domain.tracking import FaceTracker, Track, TrackerConfig
from edge_agent.ports import FaceIndex, Frame
from models.faces import DetectedFace, FaceAnalyzer, FaceBox, FaceLandmarker, Image, Landmarks

logger = logging.getLogger(__name__)

SnapshotEncoder = Callable[[Image, FaceBox], str | None]
"""Face crop of a frame → base64 JPEG (or None when it cannot be made small enough)."""


class QualityCheck(Protocol):
    @property
    def ok(self) -> bool: ...


QualityGate = Callable[[Image, DetectedFace, Landmarks | None], QualityCheck]
"""Frame, face, its 68 landmarks (if known) → a verdict with ``ok`` (models.face_quality.assess)."""
PassiveLiveness = Callable[[Image, DetectedFace], float]
"""A single-frame anti-spoofing model: frame and face → probability that the face is live."""
GLARE_LEVEL = 245


@dataclass(frozen=True, slots=True)
class PipelineStats:
    """Cumulative work and time per stage, for benchmarks and the heartbeat."""

    frames: int = 0
    faces: int = 0
    embeddings: int = 0
    events: int = 0
    detect_s: float = 0.0
    embed_s: float = 0.0
    match_s: float = 0.0
    snapshot_s: float = 0.0
    quality_rejected: int = 0
    liveness_s: float = 0.0


class FacePipeline:
    """Turns frames into face events (one appearance → ``new``, ``update``\\*, ``end``).

    One tracker is kept per ``camera_id``. Not thread-safe: give each capture loop its own
    pipeline, or serialise the calls.
    """

    def __init__(
        self,
        analyzer: FaceAnalyzer,
        index: FaceIndex,
        tracker_config: TrackerConfig | None = None,
        embed_every: int = 3,
        snapshot_encoder: SnapshotEncoder | None = None,
        *,
        initial_embeds: int | None = None,
        max_embeddings: int = 30,
        timer: Callable[[], float] = time.perf_counter,
        quality_gate: QualityGate | None = None,
        landmarker: FaceLandmarker | None = None,
        passive_liveness: PassiveLiveness | None = None,
    ) -> None:
        self._analyzer = analyzer
        self._index = index
        self._config = tracker_config or TrackerConfig()
        if embed_every < 1:
            raise ValueError(f"embed_every must be >= 1, got {embed_every}")
        self._embed_every = embed_every
        # Enough early embeddings for the vote to name a face by the time its track is confirmed.
        self._initial_embeds = (
            self._config.match.min_votes if initial_embeds is None else initial_embeds
        )
        if max_embeddings < 1:
            raise ValueError(f"max_embeddings must be >= 1, got {max_embeddings}")
        self._max_embeddings = max_embeddings
        self._encode_snapshot = snapshot_encoder
        self._timer = timer
        self._quality_gate = quality_gate
        self._landmarker = landmarker
        self._passive = passive_liveness
        self._liveness_on = self._config.liveness is not None
        self._trackers: dict[str, FaceTracker] = {}
        self._refused_model: str | None = None
        self._stats = PipelineStats()

    @property
    def stats(self) -> PipelineStats:
        return self._stats

    def process(self, frame: Frame) -> list[PendingEvent]:
        """Run one frame through the pipeline; returns the messages it produced (often none)."""
        image = frame.image
        height, width = image.shape[:2]
        t0 = self._timer()
        detected = self._analyzer.detect(image)
        detect_s = self._timer() - t0

        faces: list[DetectedFace] = []
        boxes = []
        for face in detected:
            box = clip_box(face.box, width, height)
            if box is not None:
                faces.append(face)
                boxes.append(box)
        tracker = self._tracker(frame.camera_id)
        tracks = tracker.observe(boxes, frame.timestamp)

        embed_s = match_s = liveness_s = 0.0
        embeddings = rejected = 0
        can_match = self._can_match()
        for face, track in zip(faces, tracks, strict=True):
            wants = can_match and self._wants_embedding(track)
            if not (wants or self._liveness_on):
                continue
            t1 = self._timer()
            landmarks = None
            if self._landmarker is not None and (self._liveness_on or self._quality_gate):
                landmarks = self._landmarker.landmarks68(image, face)
            if track.liveness is not None:
                track.liveness.observe(self._observation(image, face, landmarks))
            liveness_s += self._timer() - t1
            if not wants:
                continue
            if self._quality_gate is not None and not self._quality_gate(image, face, landmarks).ok:
                track.quality_rejects += 1
                rejected += 1
                continue
            t1 = self._timer()
            embedding = self._analyzer.embed(image, face)
            t2 = self._timer()
            decision = decide(self._index.search(embedding, k=1), self._config.match.threshold)
            match_s += self._timer() - t2
            embed_s += t2 - t1
            embeddings += 1
            track.add_vote(decision)

        events = tracker.emit(self._analyzer.model_id, self._index.version)
        t3 = self._timer()
        events = [self._with_snapshot(event, image) for event in events]
        snapshot_s = self._timer() - t3
        s = self._stats
        self._stats = PipelineStats(
            frames=s.frames + 1,
            faces=s.faces + len(faces),
            embeddings=s.embeddings + embeddings,
            events=s.events + len(events),
            detect_s=s.detect_s + detect_s,
            embed_s=s.embed_s + embed_s,
            match_s=s.match_s + match_s,
            snapshot_s=s.snapshot_s + snapshot_s,
            quality_rejected=s.quality_rejected + rejected,
            liveness_s=s.liveness_s + liveness_s,
        )
        return events

    def _observation(
        self, image: Image, face: DetectedFace, landmarks: Landmarks | None
    ) -> LivenessObservation:
        b = face.box
        crop = image[max(b.y, 0) : b.y + b.h, max(b.x, 0) : b.x + b.w]
        gray = glare = None
        if crop.size:
            gray = np.asarray(
                crop[:, :, 0] * 0.114 + crop[:, :, 1] * 0.587 + crop[:, :, 2] * 0.299,
                dtype=np.uint8,
            )
            glare = float((crop.min(axis=2) >= GLARE_LEVEL).mean())
        passive = None if self._passive is None else float(self._passive(image, face))
        return LivenessObservation(
            landmarks68=landmarks, face_gray=gray, glare=glare, passive=passive
        )

    def flush(self, at: datetime, camera_id: str | None = None) -> list[PendingEvent]:
        """End every open appearance (of one camera, or all): end of a file, shutdown."""
        events: list[PendingEvent] = []
        for cam, tracker in self._trackers.items():
            if camera_id is None or cam == camera_id:
                events += tracker.flush(at, self._analyzer.model_id, self._index.version)
        self._stats = dataclasses.replace(self._stats, events=self._stats.events + len(events))
        return events

    def _tracker(self, camera_id: str) -> FaceTracker:
        tracker = self._trackers.get(camera_id)
        if tracker is None:
            tracker = self._trackers[camera_id] = FaceTracker(camera_id, self._config)
        return tracker

    def _can_match(self) -> bool:
        """Whether the gallery can name anyone: not empty, and made by our embedding model."""
        gallery_model = self._index.model_id
        ours = self._analyzer.model_id
        if gallery_model is not None and gallery_model != ours:
            if self._refused_model != gallery_model:
                self._refused_model = gallery_model
                logger.error(
                    "gallery was built with model %s but faces are embedded with %s: "
                    "refusing to match, every face is unknown until a %s gallery arrives",
                    gallery_model,
                    ours,
                    ours,
                )
            return False
        self._refused_model = None
        return len(self._index) > 0

    def _wants_embedding(self, track: Track) -> bool:
        taken = len(track.votes)
        if taken >= self._max_embeddings:
            return False
        if taken < self._initial_embeds:
            return True
        return track.hits - track.hits_at_last_vote >= self._embed_every

    def _with_snapshot(self, event: PendingEvent, image: Image) -> PendingEvent:
        """Attach a crop of the face to ``new`` and ``update`` messages (the face is in view)."""
        payload = event.payload
        if (
            self._encode_snapshot is None
            or event.phase is Phase.END
            or not isinstance(payload, FacePayload)
        ):
            return event
        b = payload.bbox
        jpeg_b64 = self._encode_snapshot(image, FaceBox(b.x, b.y, b.w, b.h))
        if jpeg_b64 is None:
            return event
        return dataclasses.replace(event, snapshot_jpeg_b64=jpeg_b64)
