"""``merge_event``: one events row per event_id, folded from its messages in any order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from contracts.messages import (
    BBox,
    EventEnvelope,
    EventKind,
    FacePayload,
    LivenessVerdict,
    Phase,
)
from hub.ingest import merge_event

EVENT = uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def _face(seq: int, score: float, liveness: LivenessVerdict, phase: Phase) -> EventEnvelope:
    return EventEnvelope(
        device_id="edge-1",
        seq=seq,
        event_id=EVENT,
        phase=phase,
        camera_id="entrance",
        kind=EventKind.FACE,
        started_at=NOW,
        ended_at=NOW if phase is Phase.END else None,
        payload=FacePayload(
            person_id="EMP001",
            score=score,
            liveness=liveness,
            liveness_score=0.9 if liveness is LivenessVerdict.LIVE else 0.1,
            bbox=BBox(x=1, y=2, w=64, h=64),
            track_id=3,
            model_id="dlib-resnet-v1",
        ),
    )


def test_a_lower_scoring_spoof_verdict_overrides_an_earlier_live_one() -> None:
    row, _ = merge_event(None, _face(1, 0.97, LivenessVerdict.LIVE, Phase.NEW), NOW)
    assert row["liveness"] == "live"
    row, _ = merge_event(row, _face(2, 0.94, LivenessVerdict.SPOOF, Phase.UPDATE), NOW)
    assert (row["liveness"], row["liveness_score"]) == ("spoof", 0.1)
    assert row["score"] == 0.97  # the best match still names the row's score and payload


def test_a_spoof_verdict_stays_when_a_better_live_message_follows_or_arrives_late() -> None:
    spoof = _face(2, 0.94, LivenessVerdict.SPOOF, Phase.UPDATE)
    later_live = _face(3, 0.99, LivenessVerdict.LIVE, Phase.END)
    earlier_live = _face(1, 0.98, LivenessVerdict.LIVE, Phase.NEW)
    row, _ = merge_event(None, spoof, NOW)
    for message in (later_live, earlier_live):
        row, _ = merge_event(row, message, NOW)
        assert row["liveness"] == "spoof"
    assert row["score"] == 0.99


def test_live_replaces_unchecked_on_a_better_message() -> None:
    row, _ = merge_event(None, _face(1, 0.9, LivenessVerdict.UNCHECKED, Phase.NEW), NOW)
    row, _ = merge_event(row, _face(2, 0.95, LivenessVerdict.LIVE, Phase.UPDATE), NOW)
    assert row["liveness"] == "live"
