"""How much work a frame gets: detect, carry the tracks, or nothing; and when to embed a face.

Pure decisions (no clock, no image), so the pipeline's schedule is unit-tested on its own.

**Frame steps** (:func:`plan_step`), per camera:

- ``DETECT``: run the face detector over the frame;
- ``TRACK``: move the open tracks' boxes from the previous frame to this one (optical flow, an
  adapter), no detector;
- ``IDLE``: nothing at all: the scene is still and no new face can have appeared.

The rules, in order:

1. a tentative track (seen once, not yet confirmed) is detected again at once, so a face entering
   the frame is confirmed on the next frame and its ``new`` event is not delayed by the stride;
2. on a still scene (the motion gate saw no change) nothing is done, except a forced detection
   every ``still_detect_every_s`` of stream time: a person standing still is not lost, and a
   motion the gate missed is caught within that interval;
3. on a moving scene (or with the gate off) with no open track, the detector runs every
   ``search_every`` frames: the motion may be a face coming in, and each frame waited delays
   its ``new`` event by a frame (the agent sets it from how many cameras share the CPU);
4. on a moving scene with open tracks the detector runs every ``detect_every`` frames; the
   frames between carry the tracks (``TRACK``).

Where a detection looks (``region_search``, the pipeline's ``_search_regions``): on a moving
scene, only the parts of the frame that moved and the open tracks' surroundings; the whole frame
on a camera's first frame, on a still scene's forced detection, and whenever the whole frame has
not been searched for ``still_detect_every_s``, so a person who stands still outside the motion
is found within that interval as before.

**Embedding** (:func:`wants_embedding`), per track, only on frames where the detector saw the
face: its first ``initial`` embeddings (the votes that name it when it is confirmed); then
whenever its quality (face size times detector score) beats the best embedded so far by
``quality_gain``; then once every ``refresh_s`` seconds; never more than ``max_embeddings``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FrameStep(enum.Enum):
    DETECT = "detect"
    TRACK = "track"
    IDLE = "idle"


@dataclass(frozen=True, slots=True)
class WorkPolicy:
    """Per-camera knobs of :func:`plan_step` (``edge_agent.config.ScheduleConfig``)."""

    motion_gate: bool = True
    detect_every: int = 3
    still_detect_every_s: float = 2.0
    search_every: int = 1
    """While the scene moves and nothing is tracked: detect every n-th frame."""
    max_jump: float = 1.0
    """Face widths a face may move between two detections and keep its track (the tracker's
    ``TrackerConfig.max_jump``, for what optical flow did not follow)."""
    region_search: bool = True
    """On a moving scene, search only where the frame moved and around the open tracks (grown
    by ``max_jump``); the whole frame is searched on a still scene's forced detection and at
    least every ``still_detect_every_s``."""

    def __post_init__(self) -> None:
        if self.max_jump < 0:
            raise ValueError(f"max_jump must be >= 0, got {self.max_jump}")
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if self.search_every < 1:
            raise ValueError(f"search_every must be >= 1, got {self.search_every}")
        if self.still_detect_every_s <= 0:
            raise ValueError(f"still_detect_every_s must be > 0, got {self.still_detect_every_s}")


def plan_step(
    policy: WorkPolicy,
    *,
    moving: bool,
    open_tracks: int,
    tentative: bool,
    frames_since_detect: int | None,
    seconds_since_detect: float | None,
) -> FrameStep:
    """The step for this frame. ``*_since_detect``: since the last detection (None: never)."""
    if tentative or frames_since_detect is None or seconds_since_detect is None:
        return FrameStep.DETECT
    if policy.motion_gate and not moving:
        if seconds_since_detect >= policy.still_detect_every_s:
            return FrameStep.DETECT
        return FrameStep.IDLE
    if not open_tracks:
        return FrameStep.DETECT if frames_since_detect >= policy.search_every else FrameStep.IDLE
    if frames_since_detect >= policy.detect_every:
        return FrameStep.DETECT
    return FrameStep.TRACK


@dataclass(frozen=True, slots=True)
class EmbedPolicy:
    """When a track's face is embedded (see the module docstring).

    ``every_hits`` keeps the older frame-count rule (an embedding every n sightings) for a
    pipeline that detects on every frame; ``refresh_s`` and ``quality_gain`` are the rules of the
    scheduled pipeline. Unset rules never fire.
    """

    initial: int = 2
    max_embeddings: int = 30
    every_hits: int | None = None
    refresh_s: float | None = 2.0
    quality_gain: float | None = 0.25

    def __post_init__(self) -> None:
        if self.initial < 0:
            raise ValueError(f"initial must be >= 0, got {self.initial}")
        if self.max_embeddings < 1:
            raise ValueError(f"max_embeddings must be >= 1, got {self.max_embeddings}")
        if self.every_hits is not None and self.every_hits < 1:
            raise ValueError(f"every_hits must be >= 1, got {self.every_hits}")
        if self.refresh_s is not None and self.refresh_s <= 0:
            raise ValueError(f"refresh_s must be > 0, got {self.refresh_s}")
        if self.quality_gain is not None and self.quality_gain < 0:
            raise ValueError(f"quality_gain must be >= 0, got {self.quality_gain}")


def face_quality(width: int, height: int, score: float) -> float:
    """A cheap likeness score for the embed schedule: the face's short side in pixels times the
    detector's confidence (clamped to [0, 1]); a closer, clearer face scores higher."""
    return float(min(width, height)) * min(max(score, 0.0), 1.0)


def wants_embedding(
    policy: EmbedPolicy,
    *,
    taken: int,
    hits_since_last: int,
    seconds_since_last: float | None,
    quality: float,
    best_quality: float | None,
) -> bool:
    """Whether to embed a track's face now. ``taken``: embeddings so far; ``*_since_last``: since
    the last one (None: none yet); ``best_quality``: the best quality embedded so far."""
    if taken >= policy.max_embeddings:
        return False
    if taken < policy.initial:
        return True
    if policy.every_hits is not None and hits_since_last >= policy.every_hits:
        return True
    if (
        policy.quality_gain is not None
        and best_quality is not None
        and quality > best_quality * (1.0 + policy.quality_gain)
    ):
        return True
    return (
        policy.refresh_s is not None
        and seconds_since_last is not None
        and seconds_since_last >= policy.refresh_s
    )
