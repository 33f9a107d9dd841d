"""The face pipeline end to end over in-memory fakes of the face backend and the gallery."""

from __future__ import annotations

import ast
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from contracts.messages import FacePayload, GallerySnapshot, LivenessVerdict, Phase
from edge_agent.domain.events import PendingEvent
from edge_agent.domain.liveness import LivenessPolicy
from edge_agent.domain.matching import DEFAULT_THRESHOLD
from edge_agent.domain.pipeline import FacePipeline
from edge_agent.domain.tracking import TrackerConfig
from edge_agent.ports import Frame, GalleryMatch
from models.faces import DetectedFace, Embedding, FaceBox, Image, l2_normalise
from tests.unit.test_liveness import PHOTO, head, jitter, view

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
MODEL = "fake-embedder-v1"
DIM = 16
A = FaceBox(100, 100, 60, 60)
B = FaceBox(400, 100, 60, 60)

_rng = np.random.default_rng(42)
ALICE = l2_normalise(_rng.normal(size=DIM))


def near(base: Embedding, cos: float, seed: int) -> Embedding:
    """A unit vector whose cosine similarity with ``base`` is exactly ``cos``."""
    noise = np.random.default_rng(seed).normal(size=DIM)
    noise -= (noise @ base) * base
    return l2_normalise(cos * base + np.sqrt(1 - cos**2) * l2_normalise(noise))


ALICE_AGAIN = near(ALICE, 0.95, seed=1)  # Alice in another frame
STRANGER = near(ALICE, 0.80, seed=2)  # nearest to Alice, but below the threshold

Script = Sequence[Sequence[tuple[FaceBox, Embedding]]]


class FakeFaceAnalyzer:
    """Returns scripted faces, one list per ``detect`` call; embeddings by box."""

    def __init__(self, script: Script, model_id: str = MODEL) -> None:
        self._script = list(script)
        self._model_id = model_id
        self._current: dict[FaceBox, Embedding] = {}
        self.embedded: list[FaceBox] = []

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return DIM

    def detect(self, image: Image) -> list[DetectedFace]:
        assert image.ndim == 3, "the pipeline hands the backend a colour frame"
        faces = self._script.pop(0)
        self._current = dict(faces)
        return [DetectedFace(box, 1.0) for box, _ in faces]

    def embed(self, image: Image, face: DetectedFace) -> Embedding:
        assert image.ndim == 3, "the pipeline hands the backend a colour frame"
        self.embedded.append(face.box)
        return self._current[face.box]


class FakeFaceIndex:
    """Exact cosine search over a dict of person -> embeddings."""

    def __init__(
        self,
        people: dict[str, list[Embedding]] | None = None,
        model_id: str | None = MODEL,
        version: int | None = 7,
    ) -> None:
        self._people = people or {}
        self._model_id = model_id
        self._version = version

    @property
    def model_id(self) -> str | None:
        return self._model_id

    @property
    def version(self) -> int | None:
        return self._version

    def __len__(self) -> int:
        return len(self._people)

    def search(self, embedding: Embedding, k: int = 1) -> list[GalleryMatch]:
        best = [
            GalleryMatch(pid, max(float(e @ embedding) for e in embs))
            for pid, embs in self._people.items()
        ]
        return sorted(best, key=lambda m: -m.similarity)[:k]

    def replace(self, snapshot: GallerySnapshot) -> None:
        raise NotImplementedError("not needed by these tests")


def frames(n: int, camera_id: str = "lobby") -> list[Frame]:
    image = np.zeros((480, 640, 3), dtype=np.uint8)
    return [Frame(camera_id, i, T0 + timedelta(milliseconds=100 * i), image) for i in range(n)]


def run(pipeline: FacePipeline, n: int, *, flush: bool = True) -> list[PendingEvent]:
    events: list[PendingEvent] = []
    for frame in frames(n):
        events += pipeline.process(frame)
    if flush:
        events += pipeline.flush(T0 + timedelta(milliseconds=100 * (n - 1)))
    return events


def face(event: PendingEvent) -> FacePayload:
    assert isinstance(event.payload, FacePayload)
    return event.payload


def gallery() -> FakeFaceIndex:
    return FakeFaceIndex({"alice": [ALICE]})


def test_one_appearance_is_one_new_and_one_end_with_the_same_event_id() -> None:
    script = [[(A, ALICE_AGAIN)]] * 6 + [[]] * 3
    events = run(FacePipeline(FakeFaceAnalyzer(script), gallery()), len(script), flush=False)
    assert [e.phase for e in events] == [Phase.NEW, Phase.END]
    assert events[0].event_id == events[1].event_id
    assert [face(e).person_id for e in events] == ["alice", "alice"]
    assert face(events[1]).score == pytest.approx(0.95, abs=1e-5)
    assert face(events[1]).gallery_version == 7
    assert face(events[1]).model_id == MODEL


def test_two_faces_are_two_appearances_with_their_own_identities() -> None:
    script = [[(A, ALICE_AGAIN), (B, STRANGER)]] * 5
    events = run(FacePipeline(FakeFaceAnalyzer(script), gallery()), len(script))
    assert len({e.event_id for e in events}) == 2
    by_box = {face(e).bbox.x: face(e).person_id for e in events if e.phase is Phase.END}
    assert by_box == {A.x: "alice", B.x: None}


def test_face_missing_for_one_frame_keeps_its_track() -> None:
    script = [[(A, ALICE_AGAIN)]] * 3 + [[]] + [[(A, ALICE_AGAIN)]] * 3
    events = run(FacePipeline(FakeFaceAnalyzer(script), gallery()), len(script))
    assert [e.phase for e in events] == [Phase.NEW, Phase.END]
    assert face(events[-1]).frames == 6


def test_gap_longer_than_max_missed_ends_the_appearance() -> None:
    script = [[(A, ALICE_AGAIN)]] * 3 + [[]] * 3 + [[(A, ALICE_AGAIN)]] * 3
    pipeline = FacePipeline(FakeFaceAnalyzer(script), gallery(), TrackerConfig(max_missed=2))
    events = run(pipeline, len(script))
    assert [e.phase for e in events] == [Phase.NEW, Phase.END, Phase.NEW, Phase.END]
    assert len({e.event_id for e in events}) == 2
    assert events[1].ended_at == T0 + timedelta(milliseconds=200)


def test_an_unknown_face_never_gets_a_person_id() -> None:
    script = [[(A, STRANGER)]] * 30
    events = run(FacePipeline(FakeFaceAnalyzer(script), gallery()), len(script))
    assert events
    assert {face(e).person_id for e in events} == {None}
    assert max(face(e).score for e in events) < DEFAULT_THRESHOLD


def test_one_lucky_embedding_does_not_name_a_stranger() -> None:
    # the first embedding looks like Alice, every later one does not
    analyzer = FakeFaceAnalyzer([[(A, ALICE_AGAIN)]] + [[(A, STRANGER)]] * 12)
    events = run(FacePipeline(analyzer, gallery(), embed_every=1), 13)
    assert {face(e).person_id for e in events} == {None}


def test_gallery_of_another_model_is_refused_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    index = FakeFaceIndex({"alice": [ALICE]}, model_id="other-model-v9")
    analyzer = FakeFaceAnalyzer([[(A, ALICE)]] * 8)
    with caplog.at_level(logging.ERROR, logger="edge_agent.domain.pipeline"):
        events = run(FacePipeline(analyzer, index), 8)
    assert [e.phase for e in events] == [Phase.NEW, Phase.END]
    assert {face(e).person_id for e in events} == {None}
    assert analyzer.embedded == []  # nothing to compare with, so nothing is embedded
    refusals = [r for r in caplog.records if "refusing to match" in r.getMessage()]
    assert len(refusals) == 1
    assert "other-model-v9" in refusals[0].getMessage()


def test_empty_gallery_means_every_face_is_unknown() -> None:
    analyzer = FakeFaceAnalyzer([[(A, ALICE)]] * 4)
    events = run(FacePipeline(analyzer, FakeFaceIndex({})), 4)
    assert {face(e).person_id for e in events} == {None}
    assert analyzer.embedded == []


def test_gallery_without_a_model_id_is_still_used() -> None:
    index = FakeFaceIndex({"alice": [ALICE]}, model_id=None, version=None)
    events = run(FacePipeline(FakeFaceAnalyzer([[(A, ALICE)]] * 3), index), 3)
    assert {face(e).person_id for e in events} == {"alice"}


def test_one_frame_flicker_makes_no_event() -> None:
    script = [[], [(A, ALICE)], [], [], [], []]
    assert run(FacePipeline(FakeFaceAnalyzer(script), gallery()), len(script)) == []


def test_faces_are_embedded_first_then_every_n_frames() -> None:
    analyzer = FakeFaceAnalyzer([[(A, ALICE_AGAIN)]] * 10)
    pipeline = FacePipeline(analyzer, gallery(), embed_every=3)
    run(pipeline, 10)
    # sightings 1 and 2 (the vote), then 5 and 8
    assert len(analyzer.embedded) == 4
    assert pipeline.stats.embeddings == 4


def test_embeddings_per_track_are_capped() -> None:
    analyzer = FakeFaceAnalyzer([[(A, ALICE_AGAIN)]] * 20)
    run(FacePipeline(analyzer, gallery(), embed_every=1, max_embeddings=5), 20)
    assert len(analyzer.embedded) == 5


def test_new_and_update_carry_a_snapshot_of_the_face_and_end_does_not() -> None:
    crops: list[FaceBox] = []

    def encoder(image: Image, box: FaceBox) -> str | None:
        crops.append(box)
        return "anBlZw=="

    # the face comes closer to the camera: a better likeness in every frame
    script = [[(A, near(ALICE, 0.5 + 0.05 * i, seed=i))] for i in range(9)]
    pipeline = FacePipeline(
        FakeFaceAnalyzer(script),
        gallery(),
        TrackerConfig(update_every=1, min_score_gain=0.0),
        embed_every=1,
        snapshot_encoder=encoder,
    )
    events = run(pipeline, len(script))
    phases = [e.phase for e in events]
    assert Phase.UPDATE in phases
    for event in events:
        has_snapshot = event.snapshot_jpeg_b64 is not None
        assert has_snapshot == (event.phase is not Phase.END)
    assert set(crops) == {A}


def test_boxes_poking_out_of_the_frame_are_clipped() -> None:
    script = [[(FaceBox(-10, 450, 60, 60), ALICE)]] * 3
    events = run(FacePipeline(FakeFaceAnalyzer(script), gallery()), 3)
    bbox = face(events[0]).bbox
    assert (bbox.x, bbox.y, bbox.w, bbox.h) == (0, 450, 50, 30)


def test_cameras_are_tracked_apart() -> None:
    analyzer = FakeFaceAnalyzer([[(A, ALICE)]] * 6)
    pipeline = FacePipeline(analyzer, gallery())
    events: list[PendingEvent] = []
    for lobby, bar in zip(frames(3, "lobby"), frames(3, "bar"), strict=True):
        events += pipeline.process(lobby) + pipeline.process(bar)
    events += pipeline.flush(T0 + timedelta(seconds=1))
    assert sorted((e.camera_id, e.phase) for e in events) == [
        ("bar", Phase.END),
        ("bar", Phase.NEW),
        ("lobby", Phase.END),
        ("lobby", Phase.NEW),
    ]
    assert len({e.event_id for e in events}) == 2


def test_stage_timings_are_counted() -> None:
    ticks = iter(float(i) for i in range(1000))
    analyzer = FakeFaceAnalyzer([[(A, ALICE)]] * 4)
    pipeline = FacePipeline(analyzer, gallery(), timer=lambda: next(ticks))
    events = run(pipeline, 4)
    stats = pipeline.stats
    assert stats.frames == 4
    assert stats.faces == 4
    assert stats.embeddings == 2
    assert stats.events == len(events) == 2
    assert stats.detect_s == 4.0  # one tick per detect call with this timer
    assert stats.embed_s == 2.0
    assert stats.match_s == 2.0


def test_domain_imports_no_io_library() -> None:
    """DESIGN convention 1: the domain is pure; cv2, hnswlib, dlib... live in adapters."""
    domain = Path(__file__).parents[2] / "edge_agent" / "domain"
    allowed_first_party = {"contracts", "edge_agent", "models"}
    for path in sorted(domain.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                ok = top in sys.stdlib_module_names or top in allowed_first_party or top == "numpy"
                assert ok, f"{path.name} imports {name}"
                if top == "models":  # the type-only modules, never a backend
                    assert name in {"models.faces", "models.anomaly"}, (
                        f"{path.name} imports a model backend: {name}"
                    )


# -- quality gate and liveness ----------------------------------------------------------------


class ScriptedLandmarker:
    """68 landmarks per call, from a list (the liveness tests' synthetic head)."""

    def __init__(self, points: list[npt.NDArray[np.float64]]) -> None:
        self._points = list(points)
        self.calls = 0

    def landmarks68(self, image: Image, face: DetectedFace) -> npt.NDArray[np.float32]:  # noqa: ARG002
        self.calls += 1
        return self._points.pop(0).astype(np.float32)


@dataclass(frozen=True)
class Verdict:
    ok: bool


LIVENESS = LivenessPolicy(min_frames=5, window_frames=20)


def test_a_replayed_photo_turns_spoof_and_loses_its_identity() -> None:
    n = 30
    script = [[(A, ALICE_AGAIN)]] * n
    landmarker = ScriptedLandmarker([jitter(PHOTO, i) for i in range(n)])
    pipeline = FacePipeline(
        FakeFaceAnalyzer(script),
        gallery(),
        TrackerConfig(liveness=LIVENESS),
        landmarker=landmarker,
    )
    events = run(pipeline, n)
    assert landmarker.calls == n
    first, last = face(events[0]), face(events[-1])
    assert (first.person_id, first.liveness) == ("alice", LivenessVerdict.UNCHECKED)
    assert first.liveness_score is None
    assert last.liveness is LivenessVerdict.SPOOF
    assert last.person_id is None
    assert last.liveness_score is not None
    assert last.liveness_score < 0.5
    spoofed = [e for e in events if face(e).liveness is LivenessVerdict.SPOOF]
    assert spoofed[0].phase is Phase.UPDATE  # the verdict change is announced at once
    assert all(face(e).person_id is None for e in spoofed)


def test_with_require_live_a_face_is_named_only_after_it_blinks() -> None:
    n = 16
    points = [jitter(PHOTO, i) for i in range(8)]
    points += [view(head(eyes_open=0.1))] * 2 + [jitter(PHOTO, 50 + i) for i in range(6)]
    pipeline = FacePipeline(
        FakeFaceAnalyzer([[(A, ALICE_AGAIN)]] * n),
        gallery(),
        TrackerConfig(liveness=LIVENESS, require_live=True, update_every=1),
        landmarker=ScriptedLandmarker(points),
    )
    events = run(pipeline, n)
    before = [face(e) for e in events if face(e).liveness is not LivenessVerdict.LIVE]
    after = [face(e) for e in events if face(e).liveness is LivenessVerdict.LIVE]
    assert before
    assert all(p.person_id is None for p in before)
    assert after
    assert all(p.person_id == "alice" for p in after)
    assert after[-1].liveness_score is not None
    assert after[-1].liveness_score > 0.9


def test_require_live_needs_a_liveness_policy() -> None:
    with pytest.raises(ValueError, match="liveness policy"):
        TrackerConfig(require_live=True)


def test_faces_failing_the_quality_gate_are_not_embedded_and_cast_no_vote() -> None:
    n = 8
    analyzer = FakeFaceAnalyzer([[(A, ALICE_AGAIN)]] * n)
    seen: list[object] = []

    def gate(image: Image, face: DetectedFace, landmarks: object) -> Verdict:
        seen.append(landmarks)
        return Verdict(ok=False)

    pipeline = FacePipeline(analyzer, gallery(), quality_gate=gate)
    events = run(pipeline, n)
    assert analyzer.embedded == []
    assert {face(e).person_id for e in events} == {None}
    assert pipeline.stats.quality_rejected == n
    assert seen == [None] * n  # no landmarker: the gate gets no landmarks


def test_faces_passing_the_quality_gate_are_matched_with_their_landmarks() -> None:
    n = 6
    analyzer = FakeFaceAnalyzer([[(A, ALICE_AGAIN)]] * n)
    got: list[int] = []

    def gate(
        image: Image, face: DetectedFace, landmarks: npt.NDArray[np.float32] | None
    ) -> Verdict:
        got.append(0 if landmarks is None else len(landmarks))
        return Verdict(ok=True)

    landmarker = ScriptedLandmarker([PHOTO] * n)
    pipeline = FacePipeline(analyzer, gallery(), quality_gate=gate, landmarker=landmarker)
    events = run(pipeline, n)
    assert face(events[-1]).person_id == "alice"
    assert face(events[-1]).liveness is LivenessVerdict.UNCHECKED  # liveness not configured
    assert set(got) == {68}
    assert pipeline.stats.quality_rejected == 0
