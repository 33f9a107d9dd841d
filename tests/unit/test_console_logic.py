"""Pure logic behind the console pages (issue 18): unknown-face clustering, the rooms board's
statuses and the reasons shown beside a recommended price."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from hub.hotel.room_board import board_status
from hub.ml.price_decisions import reasons
from hub.tables import RoomAnalysisLog
from hub.vision.face_review import FaceSample, cluster_samples

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def _sample(vector: list[float], minutes: int) -> FaceSample:
    v = np.asarray(vector, dtype=np.float32)
    return FaceSample(
        event_id=uuid.UUID(int=minutes + 1),
        camera_id=f"cam-{minutes % 2}",
        device_id="edge-1",
        started_at=T0 + timedelta(minutes=minutes),
        person_id=None,
        score=None,
        vector=v / np.linalg.norm(v),
    )


def test_faces_above_the_threshold_share_a_cluster_named_by_its_first_face() -> None:
    a1, a2, a3 = _sample([1, 0.05, 0], 0), _sample([1, 0, 0.05], 5), _sample([1, 0.02, 0.02], 9)
    b1 = _sample([0, 1, 0], 3)
    clusters = cluster_samples([a3, b1, a2, a1], threshold=0.93)
    assert [len(c.members) for c in clusters] == [3, 1]
    assert clusters[0].cluster_id == str(a1.event_id)  # the oldest member
    assert [m.event_id for m in clusters[0].members] == [a1.event_id, a2.event_id, a3.event_id]
    assert 0.99 < clusters[0].cohesion() <= 1.0
    assert cluster_samples([], threshold=0.93) == []


def test_a_face_joins_the_most_similar_cluster() -> None:
    a, b = _sample([1, 0, 0], 0), _sample([0.6, 0.8, 0], 1)  # cos 0.6: two clusters at 0.7
    between = _sample([0.7, 0.71, 0], 2)  # cos 0.70 to a, 0.99 to b: both clear 0.7
    clusters = cluster_samples([a, b, between], threshold=0.7)
    members = {c.cluster_id: [m.event_id for m in c.members] for c in clusters}
    assert members == {
        str(a.event_id): [a.event_id],
        str(b.event_id): [b.event_id, between.event_id],
    }


def _inspection(at: datetime, ready: bool) -> RoomAnalysisLog:
    return RoomAnalysisLog(analysis_type="cleanliness", analysed_at=at, ready_for_guest=ready)


@pytest.mark.parametrize(
    ("status", "inspected", "expected"),
    [
        ("occupied", None, "occupied"),
        ("maintenance", None, "out_of_order"),
        ("out_of_order", (5, True), "out_of_order"),
        ("cleaning", None, "dirty"),
        ("cleaning", (-60, False), "dirty"),  # inspected before it became dirty again
        ("cleaning", (5, False), "cleaning"),
        ("available", (0, True), "inspected"),
        ("available", (-60, True), "ready"),
        ("available", None, "ready"),
    ],
)
def test_board_status(status: str, inspected: tuple[int, bool] | None, expected: str) -> None:
    last = None
    if inspected is not None:
        last = _inspection(T0 + timedelta(minutes=inspected[0]), inspected[1])
    assert board_status(status, T0, last) == expected


def test_price_reasons_name_demand_change_and_the_limiting_rule() -> None:
    found = reasons(
        {
            "expected_occupancy": 0.91,
            "change": 0.12,
            "limited_by": "ceiling",
            "confidence_level": "high",
        }
    )
    assert [(r.code, r.value) for r in found] == [
        ("demand_high", 0.91),
        ("price_up", 0.12),
        ("limited_by", "ceiling"),
        ("confidence", "high"),
    ]
    low = reasons({"expected_occupancy": 0.3, "change": -0.05, "limited_by": "none"})
    assert [r.code for r in low] == ["demand_low", "price_down"]
    assert reasons({"decision": "override", "price": 100}) == []
