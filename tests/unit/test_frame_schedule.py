"""Less work per frame: the step planner, the embed schedule, the motion gate, carried tracks,
and the scheduled pipeline over an in-memory face backend that finds a bright square."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from contracts.messages import BBox, FacePayload, GallerySnapshot, Phase
from edge_agent.app import frame_schedule
from edge_agent.config import ConfigError, ScheduleConfig, parse_config
from edge_agent.domain.events import PendingEvent
from edge_agent.domain.motion import MotionDetector, MotionPolicy, changed_cells
from edge_agent.domain.pipeline import FacePipeline
from edge_agent.domain.schedule import (
    EmbedPolicy,
    FrameStep,
    WorkPolicy,
    face_quality,
    plan_step,
    wants_embedding,
)
from edge_agent.domain.tracking import FaceTracker, TrackerConfig
from edge_agent.ports import Frame, GalleryMatch
from models.faces import DetectedFace, Embedding, FaceBox, Image, l2_normalise

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
W = WorkPolicy(motion_gate=True, detect_every=3, still_detect_every_s=2.0)


def plan(
    policy: WorkPolicy = W,
    *,
    moving: bool = True,
    tracks: int = 0,
    tentative: bool = False,
    frames: int | None = 1,
    seconds: float | None = 0.1,
) -> FrameStep:
    return plan_step(
        policy,
        moving=moving,
        open_tracks=tracks,
        tentative=tentative,
        frames_since_detect=frames,
        seconds_since_detect=seconds,
    )


# -- the step planner ------------------------------------------------------------------------------


def test_first_frame_and_tentative_tracks_are_detected_at_once() -> None:
    assert plan(frames=None, seconds=None, moving=False) is FrameStep.DETECT
    assert plan(tentative=True, tracks=1, frames=1) is FrameStep.DETECT


def test_a_still_scene_is_idle_until_the_forced_detection() -> None:
    assert plan(moving=False, tracks=1, frames=50, seconds=1.9) is FrameStep.IDLE
    assert plan(moving=False, tracks=1, frames=50, seconds=2.0) is FrameStep.DETECT


def test_a_moving_scene_is_detected_on_the_stride_and_tracked_between() -> None:
    steps = [plan(tracks=1, frames=n) for n in (1, 2, 3)]
    assert steps == [FrameStep.TRACK, FrameStep.TRACK, FrameStep.DETECT]
    # nothing tracked yet: the motion may be a face coming in, searched every search_every
    assert plan(tracks=0, frames=1) is FrameStep.DETECT  # search_every 1: every moving frame
    assert plan(tracks=0, frames=1, moving=False) is FrameStep.IDLE
    every_other = WorkPolicy(detect_every=3, search_every=2)
    assert [plan(every_other, tracks=0, frames=n) for n in (1, 2)] == [
        FrameStep.IDLE,
        FrameStep.DETECT,
    ]


def test_without_the_gate_a_still_scene_follows_the_stride() -> None:
    policy = WorkPolicy(motion_gate=False, detect_every=2)
    assert plan(policy, moving=False, tracks=1, frames=1) is FrameStep.TRACK
    assert plan(policy, moving=False, tracks=1, frames=2) is FrameStep.DETECT
    assert plan(policy, moving=False, tracks=0, frames=1) is FrameStep.DETECT


@pytest.mark.parametrize(
    "kwargs",
    [{"detect_every": 0}, {"still_detect_every_s": 0.0}, {"max_jump": -1.0}, {"search_every": 0}],
)
def test_work_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        WorkPolicy(**kwargs)  # type: ignore[arg-type]


# -- the embed schedule ----------------------------------------------------------------------------


def wants(policy: EmbedPolicy, **kw: float | int | None) -> bool:
    args: dict[str, float | int | None] = {
        "taken": 2,
        "hits_since_last": 1,
        "seconds_since_last": 0.1,
        "quality": 50.0,
        "best_quality": 50.0,
    }
    args.update(kw)
    return wants_embedding(policy, **args)  # type: ignore[arg-type]


def test_embeds_first_votes_then_on_better_quality_then_on_refresh() -> None:
    policy = EmbedPolicy(initial=2, refresh_s=2.0, quality_gain=0.25)
    assert wants(policy, taken=0, seconds_since_last=None, best_quality=None)
    assert wants(policy, taken=1)
    assert not wants(policy)  # votes in, same quality, too soon
    assert not wants(policy, quality=62.0)  # 24 % better: not enough
    assert wants(policy, quality=63.0)  # 26 % better
    assert wants(policy, seconds_since_last=2.0)


def test_embed_cap_and_the_frame_count_rule() -> None:
    assert not wants(EmbedPolicy(max_embeddings=2), taken=2, quality=1e6, seconds_since_last=1e6)
    frame_rule = EmbedPolicy(every_hits=3, refresh_s=None, quality_gain=None)
    assert not wants(frame_rule, hits_since_last=2, seconds_since_last=1e6, quality=1e6)
    assert wants(frame_rule, hits_since_last=3)


def test_face_quality_grows_with_size_and_confidence() -> None:
    assert face_quality(100, 80, 0.9) == pytest.approx(72.0)
    assert face_quality(100, 100, 2.5) == 100.0  # dlib's scores run past 1: clamped


# -- the motion gate -------------------------------------------------------------------------------


def scene(square_at: int | None = None, noise_seed: int | None = None) -> Image:
    rng = np.random.default_rng(0)
    image = rng.integers(60, 200, (480, 640, 3), dtype=np.uint8)  # a textured, fixed wall
    if square_at is not None:
        image[200:260, square_at : square_at + 60] = 250
    if noise_seed is not None:
        grain = np.random.default_rng(noise_seed).normal(0, 3, image.shape)
        image = np.clip(image + grain, 0, 255).astype(np.uint8)
    return image


def test_motion_gate_sees_a_moving_face_but_not_sensor_noise() -> None:
    gate = MotionDetector()
    assert gate.update(scene(noise_seed=1))  # the first frame: nothing to compare with
    assert not gate.update(scene(noise_seed=2))
    assert gate.update(scene(100, noise_seed=3))
    assert gate.last_fraction > MotionPolicy().min_area


def test_motion_regions_cover_what_moved_and_ignore_noise() -> None:
    gate = MotionDetector()
    gate.update(scene(noise_seed=1))
    assert gate.changed_regions() is None or gate.changed_regions() == []
    gate.update(scene(noise_seed=2))
    assert gate.changed_regions() == []  # sensor noise: no cell reaches two changed samples
    gate.update(scene(300, noise_seed=3))  # the 60 x 60 square at x 300-359, y 200-259
    regions = gate.changed_regions()
    assert regions
    x0 = min(b.x for b in regions)
    x1 = max(b.x + b.w for b in regions)
    y0 = min(b.y for b in regions)
    y1 = max(b.y + b.h for b in regions)
    assert x0 <= 300
    assert y0 <= 200
    assert x1 >= 360
    assert y1 >= 260
    assert x1 - x0 <= 60 + 2 * 32  # within one cell of the square
    assert y1 - y0 <= 60 + 2 * 32


def test_changed_cells_counts_samples_per_cell() -> None:
    mask = np.zeros((10, 20), dtype=bool)
    mask[1, 1] = True  # one sample: below min_samples
    mask[2:4, 17] = True  # two in the last (narrower) cell column
    assert changed_cells(mask, cell=8, min_samples=2) == [(16, 0, 4, 8)]
    assert changed_cells(mask, cell=8, min_samples=1) == [(0, 0, 8, 8), (16, 0, 4, 8)]


def test_a_new_still_scene_fades_into_the_background() -> None:
    gate = MotionDetector(MotionPolicy(learn_rate=0.3))
    gate.update(scene())
    moving = [gate.update(scene(100)) for _ in range(30)]
    assert moving[0]
    assert not moving[-1]


# -- carried tracks --------------------------------------------------------------------------------


def at(i: int) -> datetime:
    return T0 + timedelta(milliseconds=100 * i)


def test_a_carried_track_still_ends_when_the_detector_stops_seeing_it() -> None:
    tracker = FaceTracker("cam", TrackerConfig(max_missed=1))
    box = BBox(x=100, y=100, w=60, h=60)
    tracker.observe([box], at(0))
    tracker.observe([box], at(1))
    moved = BBox(x=110, y=100, w=60, h=60)
    (carried,) = tracker.carry([moved], at(2))
    assert carried.box == moved
    assert carried.hits == 3
    tracker.observe([], at(3))  # detector: nothing (flow had followed the wall)
    tracker.carry([moved], at(4))  # flow keeps it, but that clears no miss
    tracker.observe([], at(5))
    events = tracker.emit("m", None)
    assert [e.phase for e in events] == [Phase.NEW, Phase.END]


def test_carry_counts_a_lost_box_as_a_miss_and_checks_its_input() -> None:
    tracker = FaceTracker("cam", TrackerConfig(min_hits=1, max_missed=0))
    tracker.observe([BBox(x=0, y=0, w=50, h=50)], at(0))
    with pytest.raises(ValueError, match="1 open tracks"):
        tracker.carry([], at(1))
    assert tracker.carry([None], at(1)) == []
    assert tracker.tracks == ()


def test_a_fast_face_keeps_its_track_within_max_jump() -> None:
    box = BBox(x=100, y=100, w=60, h=60)
    jumped = BBox(x=150, y=100, w=60, h=60)  # IoU 0.09, centres 50 px (0.83 widths) apart
    iou_only = FaceTracker("cam")
    (a,) = iou_only.observe([box], at(0))
    assert iou_only.observe([jumped], at(1)) != [a]
    with_jump = FaceTracker("cam", TrackerConfig(max_jump=1.0))
    (b,) = with_jump.observe([box], at(0))
    assert with_jump.observe([jumped], at(1)) == [b]


# -- the scheduled pipeline ------------------------------------------------------------------------

DIM = 8
ALICE = l2_normalise(np.arange(1, DIM + 1, dtype=np.float32))


class SquareFinder:
    """A face backend that finds the 60 x 60 white square of :func:`scene`; counts its calls."""

    model_id = "square-v1"
    dim = DIM

    def __init__(self) -> None:
        self.detections = 0
        self.embeddings = 0

    def detect(self, image: Image) -> list[DetectedFace]:
        self.detections += 1
        return self.squares(image)

    @staticmethod
    def squares(image: Image) -> list[DetectedFace]:
        ys, xs = np.nonzero(image[:, :, 0] == 250)
        if xs.size == 0:
            return []
        return [DetectedFace(FaceBox(int(xs.min()), int(ys.min()), 60, 60), 0.9)]

    def embed(self, image: Image, face: DetectedFace) -> Embedding:
        assert image[face.box.y, face.box.x, 0] == 250, "embedded where no face was found"
        self.embeddings += 1
        return ALICE


class RegionSquareFinder(SquareFinder):
    """:class:`SquareFinder` that can search parts of a frame: records where it was asked to
    look (None: the whole frame) and finds the square only where a region touches it."""

    def __init__(self) -> None:
        super().__init__()
        self.searched: list[list[FaceBox] | None] = []

    def detect(self, image: Image) -> list[DetectedFace]:
        self.searched.append(None)
        return super().detect(image)

    def detect_within(self, image: Image, regions: Sequence[FaceBox]) -> list[DetectedFace]:
        self.searched.append(list(regions))
        self.detections += 1
        return [
            f
            for f in self.squares(image)
            if any(
                r.x < f.box.x + f.box.w
                and f.box.x < r.x + r.w
                and r.y < f.box.y + f.box.h
                and f.box.y < r.y + r.h
                for r in regions
            )
        ]


class OnePerson:
    model_id = "square-v1"
    version = 3

    def __len__(self) -> int:
        return 1

    def search(self, embedding: Embedding, k: int = 1) -> list[GalleryMatch]:
        return [GalleryMatch("alice", float(embedding @ ALICE))][:k]

    def replace(self, snapshot: GallerySnapshot) -> None:
        raise NotImplementedError


def scheduled(finder: SquareFinder, work: WorkPolicy = W) -> FacePipeline:
    """The scheduled pipeline over ``finder`` and Alice's gallery: two votes, no refresh."""
    return FacePipeline(
        finder, OnePerson(), work=work, embed_policy=EmbedPolicy(initial=2, refresh_s=10.0)
    )


def play(pipeline: FacePipeline, images: list[Image]) -> list[PendingEvent]:
    """The frames of one camera, 100 ms apart; the events they raised."""
    events = []
    for i, image in enumerate(images):
        events += pipeline.process(Frame("lobby", i, at(i), image))
    return events


def test_scheduled_pipeline_skips_still_frames_and_names_the_face_without_delay() -> None:
    finder = SquareFinder()
    pipeline = scheduled(finder)
    # 3 s still, a face walks in (10 px a frame) for 2 s, then 1 s of empty scene again
    images = [scene()] * 30 + [scene(100 + 10 * i) for i in range(20)] + [scene()] * 10
    events = play(pipeline, images)
    stats = pipeline.stats
    # still: frame 0, then forced at 2.0 s (frame 20); moving: every frame until confirmed, then
    # every third; the rest is carried or idle
    assert finder.detections < len(images) / 2
    assert stats.idle_frames > 20
    new = next(e for e in events if e.phase is Phase.NEW)
    assert new.started_at == at(30)
    assert isinstance(new.payload, FacePayload)
    assert new.payload.person_id == "alice"
    assert events.index(new) == 0
    assert finder.embeddings == 2  # the two votes; no refresh within 2 s, no better face
    assert [e.phase for e in events] == [Phase.NEW, Phase.END]


def test_a_moving_scene_is_searched_where_it_moved_and_the_whole_frame_every_interval() -> None:
    finder = RegionSquareFinder()
    # frame 0 still; a face walks in from frame 1 (10 px a frame, 100 ms a frame) for 3 s
    events = play(scheduled(finder), [scene()] + [scene(100 + 10 * i) for i in range(30)])
    assert finder.searched[0] is None  # a camera's first frame: all of it
    partial = [r for r in finder.searched if r is not None]
    assert partial, "a moving scene was never searched in parts"
    for regions in partial:
        assert sum(r.w * r.h for r in regions) < 640 * 480 / 2  # the moving part, not the frame
    # the whole frame again once 2 s have passed without a whole-frame search (frame 20)
    wholes = [i for i, r in enumerate(finder.searched) if r is None]
    assert len(wholes) == 2
    new = next(e for e in events if e.phase is Phase.NEW)
    assert new.started_at == at(1)  # found on the first frame it moved in, confirmed on the next
    assert isinstance(new.payload, FacePayload)
    assert new.payload.person_id == "alice"


def test_the_detector_runs_on_every_nth_frame_not_every_n_plus_first() -> None:
    finder = SquareFinder()
    pipeline = FacePipeline(
        finder, OnePerson(), work=WorkPolicy(detect_every=3, search_every=1, region_search=False)
    )
    detected = []
    for i, image in enumerate([scene()] * 2 + [scene(100 + 10 * i) for i in range(14)]):
        before = finder.detections
        pipeline.process(Frame("lobby", i, at(i), image))
        if finder.detections > before:
            detected.append(i)
    # 0: the first frame; 1: still, idle; 2: moving, searched (the face); 3: the tentative track
    # confirmed; then every 3rd frame, the two between carried by the tracker
    assert detected == [0, 2, 3, 6, 9, 12, 15]


def test_region_search_off_searches_the_whole_frame() -> None:
    finder = RegionSquareFinder()
    pipeline = scheduled(finder, WorkPolicy(detect_every=3, region_search=False))
    play(pipeline, [scene()] + [scene(100 + 10 * i) for i in range(10)])
    assert finder.searched
    assert all(r is None for r in finder.searched)


# -- configuration ---------------------------------------------------------------------------------

CONFIG = """\
device_id: edge-1
site: hotel
cameras:
  - id: lobby
    url: lobby.avi
  - id: desk
    url: desk.avi
    realtime: true
    live: true
    schedule:
      detect_every: 1
      motion_gate: false
"""


def test_each_camera_may_override_the_schedule() -> None:
    config = parse_config(CONFIG)
    lobby, desk = config.cameras
    assert lobby.schedule is None  # recognition.schedule: the defaults
    default = frame_schedule(config.recognition.schedule, config.recognition.min_votes)
    assert default.work == WorkPolicy(motion_gate=True, detect_every=3, still_detect_every_s=2.0)
    # an incoming face is searched for on every moving frame, in the parts that moved
    assert (default.work or W).search_every == 1
    assert (default.work or W).region_search
    every_other = ScheduleConfig(search_every=2, region_search=False)
    assert frame_schedule(every_other, 2).work == WorkPolicy(
        detect_every=3, search_every=2, region_search=False
    )
    assert default.embed == EmbedPolicy(initial=2, every_hits=None, refresh_s=2.0)
    assert default.box_flow is not None
    assert desk.schedule is not None
    desk_work = frame_schedule(desk.schedule, 2).work
    assert desk_work is not None
    assert (desk_work.detect_every, desk_work.motion_gate) == (1, False)
    old = frame_schedule(ScheduleConfig(enabled=False), 2)
    assert old.work is None  # the older path: detect every frame


def test_a_live_file_must_be_paced() -> None:
    with pytest.raises(ConfigError, match="live needs realtime"):
        parse_config(CONFIG.replace("    realtime: true\n", ""))
