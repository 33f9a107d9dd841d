"""IoU tracking and the appearance life cycle: one event id per appearance, new/update/end."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from contracts.ids import uuid7_unix_ms
from contracts.messages import BBox, FacePayload, Phase
from edge_agent.domain.events import PendingEvent
from edge_agent.domain.matching import Decision
from edge_agent.domain.tracking import FaceTracker, TrackerConfig

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MODEL = "test-model"
A = BBox(x=100, y=100, w=60, h=60)
B = BBox(x=400, y=120, w=60, h=60)


def at(i: int) -> datetime:
    return T0 + timedelta(milliseconds=100 * i)


def run(
    tracker: FaceTracker, script: Sequence[Sequence[BBox]], *, flush: bool = True
) -> list[PendingEvent]:
    """Feed one list of boxes per frame; returns every message, flushed at the end."""
    events: list[PendingEvent] = []
    for i, boxes in enumerate(script):
        tracker.observe(boxes, at(i))
        events += tracker.emit(MODEL, 3)
    if flush:
        events += tracker.flush(at(len(script) - 1), MODEL, 3)
    return events


def phases(events: Sequence[PendingEvent]) -> list[Phase]:
    return [e.phase for e in events]


def face(event: PendingEvent) -> FacePayload:
    assert isinstance(event.payload, FacePayload)
    return event.payload


def test_one_appearance_is_one_new_and_one_end_with_one_event_id() -> None:
    events = run(FaceTracker("cam1"), [[A]] * 6 + [[]] * 3, flush=False)
    assert phases(events) == [Phase.NEW, Phase.END]
    new, end = events
    assert new.event_id == end.event_id
    assert new.started_at == end.started_at == at(0)
    assert end.ended_at == at(5)  # last seen, not when the loss was noticed
    assert face(end).frames == 6
    assert face(end).person_id is None
    assert face(end).model_id == MODEL
    assert face(end).gallery_version == 3


def test_new_comes_when_the_track_is_confirmed() -> None:
    tracker = FaceTracker("cam1", TrackerConfig(min_hits=3))
    emitted = []
    for i in range(4):
        tracker.observe([A], at(i))
        emitted.append(phases(tracker.emit(MODEL, None)))
    assert emitted == [[], [], [Phase.NEW], []]


def test_event_id_is_a_uuid7_stamped_with_the_first_frame() -> None:
    events = run(FaceTracker("cam1"), [[A]] * 3)
    assert events[0].event_id.version == 7
    assert uuid7_unix_ms(events[0].event_id) == int(at(0).timestamp() * 1000)


def test_one_frame_flicker_makes_no_event() -> None:
    assert run(FaceTracker("cam1"), [[A], [], [], [], []]) == []
    assert run(FaceTracker("cam1"), [[], [A]]) == []  # flush drops a tentative track too


def test_tentative_track_dies_on_its_first_miss() -> None:
    events = run(FaceTracker("cam1"), [[A], [], [A], [A]])
    assert phases(events) == [Phase.NEW, Phase.END]
    assert events[0].started_at == at(2)


def test_face_missing_for_one_frame_keeps_its_track() -> None:
    events = run(FaceTracker("cam1"), [[A]] * 4 + [[]] + [[A]] * 3)
    assert phases(events) == [Phase.NEW, Phase.END]
    assert len({e.event_id for e in events}) == 1
    assert face(events[-1]).frames == 7


def test_face_missing_for_max_missed_frames_keeps_its_track() -> None:
    events = run(FaceTracker("cam1", TrackerConfig(max_missed=2)), [[A]] * 3 + [[]] * 2 + [[A]])
    assert phases(events) == [Phase.NEW, Phase.END]


def test_gap_longer_than_max_missed_is_two_appearances() -> None:
    events = run(FaceTracker("cam1"), [[A]] * 4 + [[]] * 3 + [[A]] * 3)
    assert phases(events) == [Phase.NEW, Phase.END, Phase.NEW, Phase.END]
    first, second = {events[0].event_id}, {events[2].event_id}
    assert first == {events[1].event_id}
    assert second == {events[3].event_id}
    assert first != second
    assert face(events[0]).track_id != face(events[2]).track_id


def test_two_faces_are_two_appearances() -> None:
    events = run(FaceTracker("cam1"), [[A, B]] * 4)
    assert sorted(phases(events)) == sorted([Phase.NEW, Phase.NEW, Phase.END, Phase.END])
    assert len({e.event_id for e in events}) == 2
    assert {face(e).bbox for e in events if e.phase is Phase.NEW} == {A, B}


def test_detection_order_does_not_swap_tracks() -> None:
    tracker = FaceTracker("cam1")
    first = tracker.observe([A, B], at(0))
    second = tracker.observe([B, A], at(1))
    assert second == [first[1], first[0]]


def test_a_moving_face_stays_one_track() -> None:
    script = [[BBox(x=100 + 8 * i, y=100 + 3 * i, w=60, h=60)] for i in range(15)]
    events = run(FaceTracker("cam1"), script)
    assert phases(events) == [Phase.NEW, Phase.END]
    assert face(events[-1]).bbox == script[-1][0]


def test_a_box_that_jumps_away_starts_a_new_track() -> None:
    tracker = FaceTracker("cam1", TrackerConfig(min_iou=0.3))
    (first,) = tracker.observe([A], at(0))
    # IoU of A with a box shifted by 40 of its 60 px is 20/100 = 0.2 < 0.3
    (second,) = tracker.observe([BBox(x=140, y=100, w=60, h=60)], at(1))
    assert first is not second


def test_flush_ends_a_face_still_in_view_at_the_flush_time() -> None:
    tracker = FaceTracker("cam1")
    for i in range(3):
        tracker.observe([A], at(i))
        tracker.emit(MODEL, None)
    (end,) = tracker.flush(at(10), MODEL, None)
    assert end.phase is Phase.END
    assert end.ended_at == at(10)
    assert tracker.tracks == ()


def test_flush_ends_a_face_already_gone_when_it_was_last_seen() -> None:
    tracker = FaceTracker("cam1")
    for i, boxes in enumerate([[A], [A], []]):
        tracker.observe(boxes, at(i))
        tracker.emit(MODEL, None)
    (end,) = tracker.flush(at(10), MODEL, None)
    assert end.ended_at == at(1)


def test_min_hits_one_announces_on_the_first_frame() -> None:
    tracker = FaceTracker("cam1", TrackerConfig(min_hits=1))
    tracker.observe([A], at(0))
    assert phases(tracker.emit(MODEL, None)) == [Phase.NEW]


def test_identity_and_score_improvements_are_updates_at_most_every_n_frames() -> None:
    tracker = FaceTracker("cam1", TrackerConfig(update_every=5, min_score_gain=0.01))
    events: list[PendingEvent] = []
    for i in range(21):
        (track,) = tracker.observe([A], at(i))
        track.add_vote(Decision("alice", 0.89 + 0.005 * i))  # improves every frame
        events += tracker.emit(MODEL, 1)
    updates = [e for e in events if e.phase is Phase.UPDATE]
    assert phases(events)[0] is Phase.NEW
    assert face(events[0]).person_id == "alice"  # two votes by the confirming frame
    assert [e.started_at for e in updates] == [at(0)] * 3
    assert len(updates) == 3  # new at frame 1, then updates at frames 6, 11 and 16 of 0..20
    scores = [face(e).score for e in events]
    assert scores == sorted(scores)
    assert all(e.event_id == events[0].event_id for e in events)


def test_no_update_without_an_improvement() -> None:
    tracker = FaceTracker("cam1", TrackerConfig(update_every=1))
    events: list[PendingEvent] = []
    for i in range(10):
        (track,) = tracker.observe([A], at(i))
        if i < 2:
            track.add_vote(Decision("alice", 0.95))
        events += tracker.emit(MODEL, 1)
    assert phases(events) == [Phase.NEW]


def test_identity_change_is_sent_as_an_update() -> None:
    tracker = FaceTracker("cam1", TrackerConfig(update_every=1))
    events: list[PendingEvent] = []
    for i in range(4):
        (track,) = tracker.observe([A], at(i))
        if i == 2:
            track.add_vote(Decision("alice", 0.93))
            track.add_vote(Decision("alice", 0.92))
        events += tracker.emit(MODEL, 1)
    assert [(e.phase, face(e).person_id) for e in events] == [
        (Phase.NEW, None),
        (Phase.UPDATE, "alice"),
    ]
    assert events[1].event_id == events[0].event_id


def test_score_is_clipped_to_the_unit_interval() -> None:
    tracker = FaceTracker("cam1")
    for i in range(2):
        (track,) = tracker.observe([A], at(i))
        track.add_vote(Decision(None, -0.2))
    (new,) = tracker.emit(MODEL, None)
    assert face(new).score == 0.0


def test_every_message_is_a_valid_envelope() -> None:
    events = run(FaceTracker("cam1"), [[A, B]] * 3 + [[B]] * 4)
    assert len(events) == 4
    for seq, event in enumerate(events, start=1):
        envelope = event.to_envelope("edge-1", seq)
        assert envelope.camera_id == "cam1"
        assert (envelope.ended_at is not None) == (event.phase is Phase.END)


def test_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="min_iou"):
        TrackerConfig(min_iou=0.0)
    with pytest.raises(ValueError, match="min_hits"):
        TrackerConfig(min_hits=0)
