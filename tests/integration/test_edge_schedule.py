"""The edge agent's scheduled path end to end: the demo clip -> motion gate -> dlib on a stride
with optical flow between -> embeddings on schedule -> events in the outbox. Every appearance the
clip holds is found, named as before, with the detector on fewer than 60 % of the frames."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.messages import (
    EventEnvelope,
    FacePayload,
    GalleryPerson,
    GallerySnapshot,
    Phase,
    parse_event,
)
from edge_agent.app import EdgeAgent
from edge_agent.config import CameraConfig, EdgeConfig, RecognitionConfig, ScheduleConfig
from edge_agent.index.hnsw_gallery import encode_embeddings
from innsight.demo import photos
from innsight.demo.clip import build_clip
from models.face_dlib import DlibFaceAnalyzer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def analyzer() -> DlibFaceAnalyzer:
    return DlibFaceAnalyzer(upsample=1)


def run_agent(
    tmp_path: Path, analyzer: DlibFaceAnalyzer, schedule: ScheduleConfig
) -> tuple[EdgeAgent, list[EventEnvelope]]:
    clip = build_clip(tmp_path / "clip.avi", "emp-astronaut")
    config = EdgeConfig(
        device_id="edge-1",
        site="hotel",
        data_dir=tmp_path / "edge",
        cameras=[CameraConfig(id="lobby", url=str(clip.path))],
        recognition=RecognitionConfig(schedule=schedule),
    )
    agent = EdgeAgent(config, analyzer=analyzer)
    portrait = photos.astronaut_portrait()
    vector = analyzer.embed(portrait, analyzer.detect(portrait)[0])
    agent.index.replace(
        GallerySnapshot(
            version=1,
            model_id=analyzer.model_id,
            dim=analyzer.dim,
            created_at=datetime.now(UTC),
            people=[
                GalleryPerson(
                    person_id="emp-astronaut", embeddings_b64=encode_embeddings(vector[None, :])
                )
            ],
        )
    )
    agent.start_cameras()
    try:
        assert agent.wait_cameras(timeout_s=120)
        rows = agent.outbox.due(time.time() + 60, 0.0, 1000)
    finally:
        agent.stop(drain_timeout_s=0.1)
    return agent, [parse_event(row.payload) for row in rows]


def test_the_scheduled_path_finds_every_appearance_with_fewer_detections(
    tmp_path: Path, analyzer: DlibFaceAnalyzer
) -> None:
    agent, events = run_agent(tmp_path, analyzer, ScheduleConfig())
    news = [e for e in events if e.phase is Phase.NEW]
    payloads = [e.payload for e in news]
    assert all(isinstance(p, FacePayload) for p in payloads)
    named = [p.person_id for p in payloads if isinstance(p, FacePayload) and p.person_id]
    # the clip's 8 appearances: the enrolled astronaut, the 6 of the group photo, Tom Hanks
    assert len(news) == 8
    assert named == ["emp-astronaut"]
    assert len([e for e in events if e.phase is Phase.END]) == 8
    stats = agent.cameras["lobby"].pipeline
    assert stats.frames == 46
    assert stats.detections < stats.frames * 0.6  # gated and strided; the rest tracked or idle
    assert stats.tracked_frames + stats.idle_frames == stats.frames - stats.detections
