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

**Less work per frame** (optional, see :mod:`edge_agent.domain.schedule`): with a ``work``
policy the pipeline asks the motion gate (:mod:`edge_agent.domain.motion`) whether the scene
moves and plans each frame as ``DETECT`` (the detector), ``TRACK`` (the open tracks' boxes moved
by ``box_flow``, an optical-flow adapter, or kept in place without one) or ``IDLE`` (nothing);
faces are embedded only on detected frames, by ``embed_policy``. Without it every frame is
detected and faces are embedded by the frame-count rule above (the older path).

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from contracts.messages import FacePayload, Phase
from edge_agent.domain.events import PendingEvent
from edge_agent.domain.geometry import clip_box
from edge_agent.domain.liveness import LivenessObservation
from edge_agent.domain.matching import decide
from edge_agent.domain.motion import MotionDetector, MotionPolicy
from edge_agent.domain.schedule import (
    EmbedPolicy,
    FrameStep,
    WorkPolicy,
    face_quality,
    plan_step,
    wants_embedding,
)
from edge_agent.domain.tracking import FaceTracker, Track, TrackerConfig
from edge_agent.ports import FaceIndex, Frame
from models.faces import (
    DetectedFace,
    FaceAnalyzer,
    FaceBox,
    FaceLandmarker,
    Image,
    Landmarks,
    detect_within,
)

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


class BoxFlow(Protocol):
    """Moves boxes from the frame it last saw to the next one (an optical-flow adapter); one per
    camera, fed that camera's frames in order."""

    def reset(self, image: Image) -> None:
        """Remember ``image`` as the frame the next :meth:`track` moves boxes from."""
        ...

    def track(self, image: Image, boxes: Sequence[FaceBox]) -> list[FaceBox | None]:
        """``boxes`` (of the remembered frame) in ``image``, None where one was lost; then
        remember ``image``."""
        ...


BoxFlowFactory = Callable[[], BoxFlow]


@dataclass
class _Camera:
    """The pipeline's state for one camera."""

    tracker: FaceTracker
    motion: MotionDetector | None
    flow: BoxFlow | None
    frames_since_detect: int | None = None
    last_detect_at: datetime | None = None
    last_full_search_at: datetime | None = None
    moving: bool = True


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
    detections: int = 0
    """Frames the detector ran on; the rest were tracked or idle."""
    tracked_frames: int = 0
    idle_frames: int = 0
    track_s: float = 0.0
    motion_s: float = 0.0


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
        work: WorkPolicy | None = None,
        motion: MotionPolicy | None = None,
        box_flow: BoxFlowFactory | None = None,
        embed_policy: EmbedPolicy | None = None,
    ) -> None:
        self._analyzer = analyzer
        self._index = index
        self._config = tracker_config or TrackerConfig()
        if embed_every < 1:
            raise ValueError(f"embed_every must be >= 1, got {embed_every}")
        # Enough early embeddings for the vote to name a face by the time its track is confirmed.
        self._initial_embeds = (
            self._config.match.min_votes if initial_embeds is None else initial_embeds
        )
        if max_embeddings < 1:
            raise ValueError(f"max_embeddings must be >= 1, got {max_embeddings}")
        self._embed_policy = embed_policy or EmbedPolicy(
            initial=self._initial_embeds,
            max_embeddings=max_embeddings,
            every_hits=embed_every,
            refresh_s=None,
            quality_gain=None,
        )
        self._work = work
        self._motion_policy = motion or MotionPolicy()
        self._box_flow = box_flow
        self._encode_snapshot = snapshot_encoder
        self._timer = timer
        self._quality_gate = quality_gate
        self._landmarker = landmarker
        self._passive = passive_liveness
        self._liveness_on = self._config.liveness is not None
        self._cameras: dict[str, _Camera] = {}
        self._refused_model: str | None = None
        self._stats = PipelineStats()

    @property
    def stats(self) -> PipelineStats:
        return self._stats

    def process(self, frame: Frame) -> list[PendingEvent]:
        """Run one frame through the pipeline; returns the messages it produced (often none)."""
        cam = self._camera(frame.camera_id)
        t0 = self._timer()
        step = self._plan(cam, frame)
        motion_s = self._timer() - t0
        if step is FrameStep.IDLE:
            self._count(frames=1, idle_frames=1, motion_s=motion_s)
            return []
        image = frame.image
        t0 = self._timer()
        if step is FrameStep.DETECT:
            faces, tracks = self._detect(cam, frame)
        else:
            faces, tracks = self._carry(cam, frame)
        located_s = self._timer() - t0

        embed_s = match_s = liveness_s = 0.0
        embeddings = rejected = 0
        can_match = step is FrameStep.DETECT and self._can_match()
        for face, track in zip(faces, tracks, strict=True):
            wants = can_match and self._wants_embedding(track, face, frame.timestamp)
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
            track.add_vote(decision, frame.timestamp, self._quality(face))

        events = cam.tracker.emit(self._analyzer.model_id, self._index.version)
        t3 = self._timer()
        events = [self._with_snapshot(event, image) for event in events]
        snapshot_s = self._timer() - t3
        detected = step is FrameStep.DETECT
        self._count(
            frames=1,
            faces=len(faces),
            embeddings=embeddings,
            events=len(events),
            detect_s=located_s if detected else 0.0,
            track_s=0.0 if detected else located_s,
            embed_s=embed_s,
            match_s=match_s,
            snapshot_s=snapshot_s,
            quality_rejected=rejected,
            liveness_s=liveness_s,
            detections=int(detected),
            tracked_frames=int(not detected),
            motion_s=motion_s,
        )
        return events

    def _count(self, **added: float) -> None:
        """Add to the cumulative stats (fields by name)."""
        s = self._stats
        values: dict[str, Any] = {
            k: type(getattr(s, k))(getattr(s, k) + v) for k, v in added.items()
        }
        self._stats = dataclasses.replace(s, **values)

    def _plan(self, cam: _Camera, frame: Frame) -> FrameStep:
        """This frame's step (always ``DETECT`` without a work policy)."""
        work = self._work
        if work is None:
            return FrameStep.DETECT
        moving = cam.motion.update(frame.image) if cam.motion is not None else True
        cam.moving = moving
        open_tracks = cam.tracker.tracks
        since_s = None
        if cam.last_detect_at is not None:
            since_s = max(0.0, (frame.timestamp - cam.last_detect_at).total_seconds())
        # counting this frame: the one right after a detection is 1 frame since it
        if cam.frames_since_detect is not None:
            cam.frames_since_detect += 1
        step = plan_step(
            work,
            moving=moving,
            open_tracks=len(open_tracks),
            tentative=any(not t.confirmed for t in open_tracks),
            frames_since_detect=cam.frames_since_detect,
            seconds_since_detect=since_s,
        )
        return step

    def _search_regions(self, cam: _Camera, frame: Frame) -> list[FaceBox] | None:
        """Where this detection looks (:mod:`edge_agent.domain.schedule`): None for the whole
        frame, else the boxes that moved and the open tracks grown by ``max_jump`` face sides."""
        work = self._work
        if work is None or not work.region_search or cam.motion is None or not cam.moving:
            return None
        if cam.last_full_search_at is None:
            return None
        since_full = (frame.timestamp - cam.last_full_search_at).total_seconds()
        if since_full >= work.still_detect_every_s:
            return None
        regions = cam.motion.changed_regions()
        if regions is None:
            return None
        jump = max(work.max_jump, self._config.max_jump, 0.5)
        for track in cam.tracker.tracks:
            b = track.box
            grow = round(max(b.w, b.h) * jump)
            regions.append(FaceBox(b.x - grow, b.y - grow, b.w + 2 * grow, b.h + 2 * grow))
        return regions

    def _detect(self, cam: _Camera, frame: Frame) -> tuple[list[DetectedFace], list[Track]]:
        image = frame.image
        height, width = image.shape[:2]
        faces: list[DetectedFace] = []
        boxes = []
        regions = self._search_regions(cam, frame)
        if regions is None:
            cam.last_full_search_at = frame.timestamp
        for face in detect_within(self._analyzer, image, regions):
            box = clip_box(face.box, width, height)
            if box is not None:
                faces.append(face)
                boxes.append(box)
        tracks = cam.tracker.observe(boxes, frame.timestamp)
        for face, track in zip(faces, tracks, strict=True):
            track.score = face.score
        if cam.flow is not None:
            cam.flow.reset(image)
        cam.frames_since_detect = 0
        cam.last_detect_at = frame.timestamp
        return faces, tracks

    def _carry(self, cam: _Camera, frame: Frame) -> tuple[list[DetectedFace], list[Track]]:
        """Move the open tracks without the detector (optical flow, or in place without it)."""
        image = frame.image
        height, width = image.shape[:2]
        previous = [FaceBox(t.box.x, t.box.y, t.box.w, t.box.h) for t in cam.tracker.tracks]
        moved: Sequence[FaceBox | None] = previous
        if cam.flow is not None and previous:
            moved = cam.flow.track(image, previous)
        boxes = [None if b is None else clip_box(b, width, height) for b in moved]
        tracks = cam.tracker.carry(boxes, frame.timestamp)
        faces = [DetectedFace(FaceBox(t.box.x, t.box.y, t.box.w, t.box.h), t.score) for t in tracks]
        return faces, tracks

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
        for cam_id, cam in self._cameras.items():
            if camera_id is None or cam_id == camera_id:
                events += cam.tracker.flush(at, self._analyzer.model_id, self._index.version)
                cam.frames_since_detect = None  # the next frame is detected
                cam.last_detect_at = None
        self._count(events=len(events))
        return events

    def _camera(self, camera_id: str) -> _Camera:
        cam = self._cameras.get(camera_id)
        if cam is None:
            work = self._work
            gate = work is not None and work.motion_gate
            config = self._config
            if work is not None and work.max_jump > config.max_jump:
                config = dataclasses.replace(config, max_jump=work.max_jump)
            cam = self._cameras[camera_id] = _Camera(
                tracker=FaceTracker(camera_id, config),
                motion=MotionDetector(self._motion_policy) if gate else None,
                flow=self._box_flow() if work is not None and self._box_flow else None,
            )
        return cam

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

    @staticmethod
    def _quality(face: DetectedFace) -> float:
        return face_quality(face.box.w, face.box.h, face.score)

    def _wants_embedding(self, track: Track, face: DetectedFace, at: datetime) -> bool:
        since_s = None
        if track.last_vote_at is not None:
            since_s = (at - track.last_vote_at).total_seconds()
        return wants_embedding(
            self._embed_policy,
            taken=len(track.votes),
            hits_since_last=track.hits - track.hits_at_last_vote,
            seconds_since_last=since_s,
            quality=self._quality(face),
            best_quality=track.best_quality,
        )

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
