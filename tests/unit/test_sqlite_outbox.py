"""SqliteOutbox: seqs, ordering, resend, acks, the disk budget and crash safety."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.ids import uuid7
from contracts.messages import (
    AnomalyPayload,
    AnomalyType,
    BBox,
    CameraPayload,
    CameraState,
    FacePayload,
    Phase,
    parse_event,
)
from edge_agent.domain.events import EventPayload, PendingEvent
from edge_agent.outbox.sqlite_outbox import SqliteOutbox

DEVICE = "edge-01"
SITE = "hotel-a"


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def face(camera: str = "cam-1", track: int = 1) -> PendingEvent:
    return _event(
        camera,
        FacePayload(score=0.9, bbox=BBox(x=1, y=2, w=30, h=40), track_id=track, model_id="m1"),
    )


def anomaly(camera: str = "cam-1") -> PendingEvent:
    return _event(camera, AnomalyPayload(type=AnomalyType.FIRE, score=0.8))


def camera_lost(camera: str = "cam-1") -> PendingEvent:
    return _event(camera, CameraPayload(state=CameraState.LOST, reason="timeout"))


def _event(camera: str, payload: EventPayload) -> PendingEvent:
    return PendingEvent(
        event_id=uuid7(),
        phase=Phase.NEW,
        camera_id=camera,
        started_at=datetime(2026, 11, 22, 12, 0, tzinfo=UTC),
        payload=payload,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox(tmp_path: Path, clock: FakeClock) -> Iterator[SqliteOutbox]:
    box = SqliteOutbox(tmp_path / "outbox.db", DEVICE, SITE, clock=clock)
    yield box
    box.close()


def test_durability_settings(outbox: SqliteOutbox) -> None:
    db = outbox._db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_enqueue_returns_the_stored_envelope(outbox: SqliteOutbox) -> None:
    envelope = outbox.enqueue(face())
    [row] = outbox.due(now=0.0, resend_after_s=10.0, limit=10)
    assert row.seq == envelope.seq == 1
    assert row.topic == f"innsight/{SITE}/{DEVICE}/events/face"
    assert row.attempts == 0
    assert parse_event(row.payload) == envelope
    assert envelope.device_id == DEVICE


def test_seq_rises_by_one_and_survives_reopen_after_everything_is_acked(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    box = SqliteOutbox(path, DEVICE, SITE)
    seqs = [box.enqueue(face()).seq for _ in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert box.ack(seqs) == 5
    assert box.depth() == 0
    assert box.enqueue(anomaly()).seq == 6
    assert box.ack([6]) == 1
    box.close()

    reopened = SqliteOutbox(path, DEVICE, SITE)
    try:
        assert reopened.depth() == 0
        assert reopened.last_seq() == 6
        assert [reopened.enqueue(face()).seq for _ in range(3)] == [7, 8, 9]
    finally:
        reopened.close()


def test_due_is_in_seq_order_and_keeps_per_camera_order(outbox: SqliteOutbox) -> None:
    cameras = ["cam-1", "cam-2", "cam-1", "cam-3", "cam-2", "cam-1"]
    for i, cam in enumerate(cameras):
        outbox.enqueue(face(cam, track=i))
    rows = outbox.due(now=0.0, resend_after_s=10.0, limit=100)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6]
    by_camera: dict[str, list[int]] = {}
    for r in rows:
        by_camera.setdefault(parse_event(r.payload).camera_id, []).append(r.seq)
    assert by_camera == {"cam-1": [1, 3, 6], "cam-2": [2, 5], "cam-3": [4]}
    assert [r.seq for r in outbox.due(now=0.0, resend_after_s=10.0, limit=2)] == [1, 2]


def test_sent_rows_come_due_again_after_the_resend_timeout(
    outbox: SqliteOutbox, clock: FakeClock
) -> None:
    for _ in range(3):
        outbox.enqueue(face())
    t0 = clock.now
    outbox.mark_sent([1, 2], now=t0)
    assert [r.seq for r in outbox.due(now=t0 + 5, resend_after_s=10, limit=10)] == [3]
    outbox.mark_sent([3], now=t0 + 5)
    assert outbox.due(now=t0 + 9.9, resend_after_s=10, limit=10) == []
    again = outbox.due(now=t0 + 10, resend_after_s=10, limit=10)
    assert [(r.seq, r.attempts) for r in again] == [(1, 1), (2, 1)]
    assert outbox.in_flight() == 3
    outbox.mark_sent([1], now=t0 + 10)
    assert [(r.seq, r.attempts) for r in outbox.due(now=t0 + 30, resend_after_s=10, limit=1)] == [
        (1, 2)
    ]


def test_ack_releases_only_its_seqs_and_is_idempotent(outbox: SqliteOutbox) -> None:
    for _ in range(6):
        outbox.enqueue(face())
    assert outbox.ack([2, 3, 5]) == 3
    assert outbox.seqs() == [1, 4, 6]
    assert outbox.ack([2, 3, 5]) == 0  # already released
    assert outbox.ack([99, 1000]) == 0  # never existed
    assert outbox.ack([]) == 0
    assert outbox.ack_ranges([(1, 1), (6, 10_000_000)]) == 2
    assert outbox.seqs() == [4]
    assert outbox.depth() == 1


def test_ack_gives_the_bytes_back_to_the_budget(outbox: SqliteOutbox) -> None:
    assert outbox.stored_bytes() == 0
    seqs = [outbox.enqueue(face()).seq for _ in range(4)]
    assert outbox.stored_bytes() > 0
    outbox.ack(seqs)
    assert outbox.stored_bytes() == 0


def test_oldest_age_and_depth(outbox: SqliteOutbox, clock: FakeClock) -> None:
    assert outbox.oldest_age_s(clock.now) is None
    assert outbox.depth() == 0
    outbox.enqueue(face())
    clock.now += 7.5
    outbox.enqueue(face())
    assert outbox.depth() == 2
    assert outbox.oldest_age_s(clock.now + 1) == pytest.approx(8.5)
    outbox.ack([1])
    assert outbox.oldest_age_s(clock.now + 1) == pytest.approx(1.0)


def _row_bytes(box: SqliteOutbox) -> int:
    probe = box.enqueue(face())
    size = box.stored_bytes()
    box.ack([probe.seq])
    return size


def test_budget_drops_oldest_faces_first_and_counts_drops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.db"
    sizer = SqliteOutbox(tmp_path / "sizer.db", DEVICE, SITE)
    face_bytes = _row_bytes(sizer)
    sizer.close()
    # Room for about 10 messages; drops go down to 90 %.
    box = SqliteOutbox(path, DEVICE, SITE, max_bytes=10 * face_bytes + face_bytes // 2)
    kinds: dict[int, str] = {}
    for i in range(30):
        event = anomaly() if i % 10 == 0 else camera_lost() if i % 10 == 5 else face()
        kinds[box.enqueue(event).seq] = event.kind.value
    alarms = [seq for seq, kind in kinds.items() if kind != "face"]
    kept = box.seqs()

    assert set(alarms) <= set(kept), "an alarm was dropped while faces remained"
    assert box.stored_bytes() <= 10 * face_bytes + face_bytes // 2
    assert box.dropped() == 30 - len(kept) > 0
    faces_kept = [s for s in kept if kinds[s] == "face"]
    faces_dropped = [s for s in kinds if kinds[s] == "face" and s not in kept]
    assert max(faces_dropped) < min(faces_kept), "a newer face was dropped before an older one"
    assert any("budget" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    dropped = box.dropped()
    box.close()

    reopened = SqliteOutbox(path, DEVICE, SITE, max_bytes=10 * face_bytes + face_bytes // 2)
    try:
        assert reopened.dropped() == dropped
        assert reopened.seqs() == kept
    finally:
        reopened.close()


def test_budget_drops_alarms_only_when_no_face_is_left(tmp_path: Path) -> None:
    sizer = SqliteOutbox(tmp_path / "sizer.db", DEVICE, SITE)
    face_bytes = _row_bytes(sizer)
    sizer.close()
    box = SqliteOutbox(tmp_path / "outbox.db", DEVICE, SITE, max_bytes=4 * face_bytes)
    try:
        first_face = box.enqueue(face()).seq
        alarms = [box.enqueue(anomaly()).seq for _ in range(8)]
        assert first_face not in box.seqs()
        remaining = box.seqs()
        assert remaining == alarms[-len(remaining) :], "the oldest alarms go first"
        assert box.dropped() == 9 - len(remaining)
    finally:
        box.close()


_KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from tests.unit.test_sqlite_outbox import DEVICE, SITE, anomaly, face
    from edge_agent.outbox.sqlite_outbox import SqliteOutbox

    box = SqliteOutbox(Path(sys.argv[1]), DEVICE, SITE)
    seqs = [box.enqueue(face() if i % 3 else anomaly()).seq for i in range(50)]
    box.mark_sent(seqs[:20], now=1.0)
    box.ack(seqs[:5])
    print(seqs[-1], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint, no atexit
    """
)


def test_a_killed_process_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    result = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(path)],
        capture_output=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    assert int(result.stdout) == 50

    box = SqliteOutbox(path, DEVICE, SITE)
    try:
        assert box.seqs() == list(range(6, 51))
        assert box.in_flight() == 15
        assert box.enqueue(face()).seq == 51
        rows = box.due(now=1_000.0, resend_after_s=10.0, limit=100)
        assert len(rows) == 46
        assert all(json.loads(r.payload)["seq"] == r.seq for r in rows)
    finally:
        box.close()
