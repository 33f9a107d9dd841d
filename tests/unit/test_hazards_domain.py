"""Hazard alarms: N-of-M filtering, zones and restricted hours, and the new/update/end cycle.

The detections here are values (``HazardDetection``), as a detector returns them; the models
themselves run in tests/integration/test_hazard_models.py. ``ScriptedDetector`` replays a list
of detections per frame: a fake at the detector Protocol, to drive :class:`HazardWatch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from contracts.ids import uuid7_unix_ms
from contracts.messages import AnomalyPayload, AnomalyType, Phase
from edge_agent.config import ConfigError, parse_config
from edge_agent.domain.events import PendingEvent
from edge_agent.domain.hazards import (
    HazardPolicy,
    HazardTracker,
    TimeWindow,
    Zone,
    point_in_polygon,
)
from edge_agent.ports import Frame
from edge_agent.services.hazard_watch import HazardWatch, policy_from_config, zones_from_config
from models.anomaly import HazardDetection, HazardKind
from models.faces import FaceBox, Image

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday
W, H = 640, 480
FLAME = HazardDetection("fire", 0.8, FaceBox(300, 200, 40, 60), "fire-yolov8-flame")


def at(i: int, start: datetime = T0) -> datetime:
    return start + timedelta(seconds=i)


def det(kind: HazardKind, score: float, box: tuple[int, int, int, int]) -> HazardDetection:
    return HazardDetection(kind, score, FaceBox(*box), "test-model")


def run(
    tracker: HazardTracker,
    script: Sequence[Sequence[HazardDetection]],
    *,
    start: datetime = T0,
    flush: bool = False,
) -> list[PendingEvent]:
    events: list[PendingEvent] = []
    for i, detections in enumerate(script):
        events += tracker.observe(detections, W, H, at(i, start))
    if flush:
        events += tracker.flush(at(len(script) - 1, start))
    return events


def anomaly(event: PendingEvent) -> AnomalyPayload:
    assert isinstance(event.payload, AnomalyPayload)
    return event.payload


def phases(events: Sequence[PendingEvent]) -> list[tuple[AnomalyType, Phase]]:
    return [(anomaly(e).type, e.phase) for e in events]


# -- N of M ---------------------------------------------------------------------------------


def test_a_flame_in_one_frame_only_raises_no_alarm() -> None:
    events = run(HazardTracker("lobby"), [[FLAME]] + [[]] * 10, flush=True)
    assert events == []


def test_a_flickering_false_flame_never_reaches_three_of_five() -> None:
    script = [[FLAME], [], [], [], [FLAME], [], [], [], [FLAME], [], []] * 3
    assert run(HazardTracker("lobby"), script, flush=True) == []


def test_three_of_five_frames_raise_one_alarm_that_ends_once() -> None:
    script = [[], [FLAME], [], [FLAME], [FLAME], [FLAME], [FLAME]] + [[]] * 6
    events = run(HazardTracker("lobby"), script)
    assert phases(events) == [(AnomalyType.FIRE, Phase.NEW), (AnomalyType.FIRE, Phase.END)]
    new, end = events
    assert new.event_id == end.event_id
    assert new.started_at == end.started_at == at(1)  # the window's first hit, not the 3rd
    assert uuid7_unix_ms(new.event_id) == int(at(1).timestamp() * 1000)
    assert end.ended_at == at(6)  # last frame with a flame
    assert anomaly(new).score == pytest.approx(0.8)
    bbox = anomaly(new).bbox
    assert bbox is not None
    assert (bbox.x, bbox.y, bbox.w, bbox.h) == (300, 200, 40, 60)
    assert anomaly(new).zone is None


def test_the_alarm_is_raised_on_the_frame_of_the_third_hit() -> None:
    tracker = HazardTracker("lobby")
    assert tracker.observe([FLAME], W, H, at(0)) == []
    assert tracker.observe([FLAME], W, H, at(1)) == []
    raised = tracker.observe([FLAME], W, H, at(2))
    assert phases(raised) == [(AnomalyType.FIRE, Phase.NEW)]
    assert set(tracker.raised) == {(AnomalyType.FIRE, None)}


def test_a_short_gap_does_not_split_an_alarm_and_a_return_after_the_end_is_a_new_one() -> None:
    policy = HazardPolicy(clear_after=3)
    script = [[FLAME]] * 4 + [[], []] + [[FLAME]] * 3 + [[]] * 3 + [[FLAME]] * 3 + [[]] * 3
    events = run(HazardTracker("lobby", policy=policy), script)
    assert [e.phase for e in events] == [Phase.NEW, Phase.END, Phase.NEW, Phase.END]
    assert events[0].event_id == events[1].event_id != events[2].event_id == events[3].event_id
    assert events[1].ended_at == at(8)


def test_detections_under_the_kind_threshold_do_not_count() -> None:
    weak = det("fire", 0.4, (300, 200, 40, 60))
    assert run(HazardTracker("lobby"), [[weak]] * 10, flush=True) == []
    policy = HazardPolicy(thresholds={"fire": 0.3})
    assert len(run(HazardTracker("lobby", policy=policy), [[weak]] * 10, flush=True)) == 2


def test_a_better_score_is_sent_as_an_update_at_most_every_update_every_frames() -> None:
    policy = HazardPolicy(update_every=3, min_score_gain=0.03)
    scores = [0.6, 0.6, 0.6, 0.62, 0.9, 0.95, 0.96, 0.99, 0.99, 0.99]
    script = [[det("smoke", s, (10, 10, 100, 80))] for s in scores]
    events = run(HazardTracker("kitchen", policy=policy), script, flush=True)
    assert [e.phase for e in events] == [Phase.NEW, Phase.UPDATE, Phase.UPDATE, Phase.END]
    assert [anomaly(e).score for e in events] == pytest.approx([0.6, 0.95, 0.99, 0.99])
    assert len({e.event_id for e in events}) == 1


def test_flush_ends_raised_alarms_and_forgets_pending_ones() -> None:
    tracker = HazardTracker("lobby")
    smoke = det("smoke", 0.7, (0, 0, 50, 50))
    run(tracker, [[FLAME, smoke], [FLAME], [FLAME]])
    ended = tracker.flush(at(9))
    assert phases(ended) == [(AnomalyType.FIRE, Phase.END)]
    assert ended[0].ended_at == at(9)  # still burning on the last frame
    assert tracker.flush(at(10)) == []


def test_policy_rejects_impossible_filters() -> None:
    with pytest.raises(ValueError, match="min_hits"):
        HazardPolicy(window=3, min_hits=4)
    with pytest.raises(ValueError, match="threshold"):
        HazardPolicy(thresholds={"fire": 1.5})
    with pytest.raises(ValueError, match="clear_after"):
        HazardPolicy(clear_after=0)


# -- zones, schedules, intrusion, falls ----------------------------------------------------------

NIGHT = TimeWindow(time(22, 0), time(6, 0))
BACK_OFFICE = Zone(
    "back-office", "lobby", ((0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0)), (NIGHT,)
)
PERSON_IN = det("person", 0.7, (400, 200, 80, 200))  # feet at (440, 400): inside
PERSON_OUT = det("person", 0.7, (100, 200, 80, 200))  # feet at (140, 400): outside
HEAD_IN_FEET_OUT = det("person", 0.7, (400, 40, 80, 190))  # feet at (440, 230): above the zone


def test_a_person_in_a_zone_during_its_restricted_hours_is_an_intrusion() -> None:
    night = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    events = run(HazardTracker("lobby", [BACK_OFFICE]), [[PERSON_IN]] * 4, start=night, flush=True)
    assert phases(events) == [
        (AnomalyType.INTRUSION, Phase.NEW),
        (AnomalyType.INTRUSION, Phase.END),
    ]
    assert anomaly(events[0]).zone == "back-office"


def test_no_intrusion_outside_the_zone_by_the_feet_or_outside_the_hours() -> None:
    night = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    noon = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    tracker = HazardTracker("lobby", [BACK_OFFICE])
    assert run(tracker, [[PERSON_OUT, HEAD_IN_FEET_OUT]] * 6, start=night, flush=True) == []
    assert run(tracker, [[PERSON_IN]] * 6, start=noon, flush=True) == []


def test_zones_of_other_cameras_do_not_apply() -> None:
    night = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    assert run(HazardTracker("pool", [BACK_OFFICE]), [[PERSON_IN]] * 6, start=night) == []


def test_restricted_hours_are_in_the_site_time_zone() -> None:
    policy = HazardPolicy(timezone=ZoneInfo("Asia/Ho_Chi_Minh"))  # UTC+7
    tracker = HazardTracker("lobby", [BACK_OFFICE], policy)
    local_23h = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    local_noon = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    assert run(tracker, [[PERSON_IN]] * 4, start=local_noon, flush=True) == []
    assert len(run(tracker, [[PERSON_IN]] * 4, start=local_23h, flush=True)) == 2


def test_a_fallen_person_is_a_fall_and_still_an_intruder() -> None:
    night = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    fallen = det("fall", 0.8, (380, 330, 200, 90))
    events = run(HazardTracker("lobby", [BACK_OFFICE]), [[fallen]] * 3, start=night, flush=True)
    assert sorted((a.value, p.value) for a, p in phases(events)) == [
        ("fall", "end"),
        ("fall", "new"),
        ("intrusion", "end"),
        ("intrusion", "new"),
    ]
    fall_new = next(e for e in events if anomaly(e).type is AnomalyType.FALL)
    assert anomaly(fall_new).zone == "back-office"  # where it happened, for the staff


def test_time_windows_wrap_past_midnight_and_belong_to_their_start_day() -> None:
    friday_night = TimeWindow(time(22, 0), time(6, 0), frozenset({4}))
    assert friday_night.contains(datetime(2026, 11, 27, 23, 0))  # Friday 23:00
    assert friday_night.contains(datetime(2026, 11, 28, 3, 0))  # Saturday 03:00
    assert not friday_night.contains(datetime(2026, 11, 27, 3, 0))  # Friday 03:00
    assert not friday_night.contains(datetime(2026, 11, 28, 22, 30))  # Saturday 22:30
    office = TimeWindow(time(9, 0), time(17, 0))
    assert office.contains(datetime(2026, 11, 23, 9, 0))
    assert not office.contains(datetime(2026, 11, 23, 17, 0))
    assert TimeWindow(time(0, 0), time(0, 0), frozenset({6})).contains(datetime(2026, 11, 29, 13))
    with pytest.raises(ValueError, match="days"):
        TimeWindow(time(1), time(2), frozenset({7}))


def test_point_in_a_concave_polygon() -> None:
    ell = [(0, 0), (10, 0), (10, 4), (4, 4), (4, 10), (0, 10)]
    assert point_in_polygon((2, 8), ell)
    assert point_in_polygon((8, 2), ell)
    assert not point_in_polygon((8, 8), ell)
    assert not point_in_polygon((-1, 2), ell)


def test_zone_polygons_are_fractions_of_the_frame() -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        Zone("z", "cam", ((0, 0), (640, 0), (640, 480)))
    with pytest.raises(ValueError, match="3 points"):
        Zone("z", "cam", ((0, 0), (1, 1)))


def test_water_boxes_are_keyed_by_their_floor_zone() -> None:
    floor = Zone("floor", "spa", ((0, 0.5), (1, 0.5), (1, 1), (0, 1)), water=True)
    puddle = det("water", 0.7, (200, 300, 150, 80))
    events = run(HazardTracker("spa", [floor]), [[puddle]] * 3, flush=True)
    assert phases(events) == [(AnomalyType.WATER, Phase.NEW), (AnomalyType.WATER, Phase.END)]
    assert anomaly(events[0]).zone == "floor"


# -- the edge stage ------------------------------------------------------------------------------


class ScriptedDetector:
    """A fake at the HazardDetector Protocol: replays one list of detections per call."""

    model_id = "scripted-v1"
    kinds: frozenset[HazardKind] = frozenset({"fire", "person"})

    def __init__(self, script: Sequence[Sequence[HazardDetection]]) -> None:
        self.script = list(script)
        self.calls = 0

    def detect(self, image: Image) -> list[HazardDetection]:
        assert image.shape == (H, W, 3)
        out = list(self.script[self.calls]) if self.calls < len(self.script) else []
        self.calls += 1
        return out


class RecordingWater:
    def __init__(self) -> None:
        self.ignored: list[list[FaceBox]] = []

    def detect(self, image: Image, ignore: Sequence[FaceBox] = ()) -> list[HazardDetection]:
        assert image.shape == (H, W, 3)
        self.ignored.append(list(ignore))
        return []


def frames(n: int, camera: str = "lobby") -> list[Frame]:
    image = np.zeros((H, W, 3), dtype=np.uint8)
    return [Frame(camera, i, at(i), image) for i in range(n)]


def test_the_stage_runs_detectors_on_a_stride_and_attaches_snapshots() -> None:
    detector = ScriptedDetector([[FLAME]] * 10)
    crops: list[FaceBox] = []

    def encoder(image: Image, box: FaceBox) -> str:
        crops.append(box)
        return "anBlZw=="

    watch = HazardWatch([detector], stride=3, snapshot_encoder=encoder)
    events: list[PendingEvent] = []
    for frame in frames(9):
        events += watch.process(frame)
    assert detector.calls == 3  # frames 0, 3, 6
    assert [e.phase for e in events] == [Phase.NEW]
    assert events[0].started_at == at(0)
    assert events[0].snapshot_jpeg_b64 == "anBlZw=="
    assert crops == [FaceBox(300, 200, 40, 60)]
    ended = watch.flush(at(9))
    assert [e.phase for e in ended] == [Phase.END]
    assert ended[0].snapshot_jpeg_b64 is None
    assert watch.stats.frames == 9
    assert watch.stats.processed == 3
    assert watch.stats.events == 2


def test_the_water_watcher_is_told_where_the_people_are() -> None:
    floor = Zone("floor", "lobby", ((0, 0.5), (1, 0.5), (1, 1), (0, 1)), water=True)
    water = RecordingWater()
    detector = ScriptedDetector([[PERSON_IN, FLAME]])
    watch = HazardWatch([detector], zones=[floor], stride=1, water_factory=lambda _z: water)
    for frame in frames(2):
        watch.process(frame)
    assert water.ignored == [[PERSON_IN.box], []]


# -- the edge config -----------------------------------------------------------------------------

CONFIG = """\
device_id: edge-1
site: hotel
cameras:
  - id: lobby
    url: lobby.mp4
hazards:
  enabled: true
  timezone: Asia/Ho_Chi_Minh
  thresholds: {fire: 0.6}
  zones:
    - id: back-office
      camera: lobby
      polygon: [[0.5, 0.5], [1, 0.5], [1, 1], [0.5, 1]]
      restricted_hours:
        - {start: "22:00", end: "06:00", days: [fri, sat]}
    - id: spa-floor
      camera: lobby
      polygon: [[0, 0.6], [0.5, 0.6], [0.5, 1]]
      water: true
"""


def test_zones_and_policy_come_from_the_edge_config() -> None:
    config = parse_config(CONFIG).hazards
    zones = zones_from_config(config)
    assert [z.id for z in zones] == ["back-office", "spa-floor"]
    assert zones[0].restricted == (TimeWindow(time(22), time(6), frozenset({4, 5})),)
    assert zones[1].water
    assert not zones[1].restricted
    policy = policy_from_config(config)
    assert policy.threshold("fire") == 0.6
    assert policy.threshold("smoke") == 0.5
    assert policy.timezone == ZoneInfo("Asia/Ho_Chi_Minh")
    assert (policy.window, policy.min_hits) == (5, 3)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "camera: lobby\n      polygon: [[0.5",
            "camera: pool\n      polygon: [[0.5",
            "unknown camera",
        ),
        ("id: spa-floor", "id: back-office", "zone ids must be unique"),
        ("[1, 0.5], [1, 1]", "[1, 0.5], [1.2, 1]", ":13:40: hazards.zones.0.polygon.2.0"),
        ('end: "06:00"', 'end: "6pm"', ":15:33: hazards.zones.0.restricted_hours.0.end"),
        (
            "days: [fri, sat]",
            "days: [fri, someday]",
            ":15:54: hazards.zones.0.restricted_hours.0.days.1",
        ),
        ("timezone: Asia/Ho_Chi_Minh", "timezone: Mars/Olympus", ":8:13: hazards.timezone"),
        ("enabled: true", "enabled: true\n  min_hits: 9", "cannot exceed window"),
        ("thresholds: {fire: 0.6}", "thresholds: {flame: 0.6}", ":9:16: hazards.thresholds.flame"),
    ],
)
def test_bad_hazard_config_is_reported_at_its_line(old: str, new: str, expected: str) -> None:
    assert old in CONFIG
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.replace(old, new, 1))
    assert expected in str(caught.value)
