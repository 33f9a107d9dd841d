"""Face stack composition from the edge config: backends, per-model thresholds, the quality
gate and the liveness mode (no model is loaded: the analyzer is a fake with 68 landmarks)."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.config import HAZARD_MODELS, ConfigError, RecognitionConfig, parse_config
from edge_agent.face_setup import (
    build_analyzer,
    build_face_checks,
    face_model_ids,
    match_threshold,
    tracker_for_camera,
)
from models.face_mesh import FaceMeshLandmarker
from models.faces import DetectedFace, Embedding, FaceBox, Image, Landmarks
from models.registry import Commercial, load_manifest

BASE = """\
device_id: edge-door-01
site: hotel-a
cameras:
  - id: door
    url: rtsp://10.0.0.5/stream1
"""


class FakeBackend:
    """A backend with its own 68-point landmarker (as dlib has)."""

    def __init__(self, model_id: str = "dlib-resnet-v1") -> None:
        self._model_id = model_id

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return 128

    def detect(self, image: Image) -> list[DetectedFace]:  # noqa: ARG002
        return []

    def embed(self, image: Image, face: DetectedFace) -> Embedding:  # noqa: ARG002
        return np.full(128, 1 / np.sqrt(128), dtype=np.float32)

    def landmarks68(self, image: Image, face: DetectedFace) -> Landmarks:  # noqa: ARG002
        return np.zeros((68, 2), dtype=np.float32)


def test_defaults_flag_liveness_and_gate_quality() -> None:
    rec = parse_config(BASE).recognition
    assert rec.liveness.mode == "flag"
    backend = FakeBackend()
    checks = build_face_checks(rec, backend)
    assert checks.tracker.liveness is not None
    assert checks.tracker.require_live is False
    # Face Mesh in the 68-point layout, not the backend's iBUG-trained predictor
    assert isinstance(checks.landmarker, FaceMeshLandmarker)
    assert checks.passive_liveness is None
    assert checks.quality_gate is not None
    image = np.zeros((120, 120, 3), dtype=np.uint8)
    verdict = checks.quality_gate(image, DetectedFace(FaceBox(0, 0, 20, 20), 1.0), None)
    assert not verdict.ok  # 20 px face, flat: too small and blurred
    assert checks.tracker.match.threshold == pytest.approx(0.93)


def test_require_and_off_modes() -> None:
    required = RecognitionConfig.model_validate({"liveness": {"mode": "require"}})
    assert build_face_checks(required, FakeBackend()).tracker.require_live is True
    off = RecognitionConfig.model_validate(
        {"liveness": {"mode": "off"}, "quality": {"enabled": False}}
    )
    checks = build_face_checks(off, FakeBackend())
    assert checks.tracker.liveness is None
    assert checks.quality_gate is None


def test_a_camera_may_require_liveness_while_the_edge_default_stays() -> None:
    """Issue 17: provisioning sets ``liveness: require`` on attendance cameras; the others
    keep the edge's global mode."""
    config = parse_config(
        BASE
        + "  - id: staff-door\n    url: rtsp://10.0.0.6/s\n    liveness: require\n"
        + "recognition:\n  liveness:\n    mode: 'off'\n"
    )
    door, staff = config.cameras
    assert (door.liveness, staff.liveness) == (None, "require")
    modes = [c.liveness for c in config.cameras if c.liveness is not None]
    checks = build_face_checks(config.recognition, FakeBackend(), modes)
    assert checks.landmarker is not None  # some camera checks liveness: cues are built
    shared = tracker_for_camera(checks, config.recognition, door.liveness)
    assert (shared.liveness, shared.require_live) == (None, False)
    strict = tracker_for_camera(checks, config.recognition, staff.liveness)
    assert strict.liveness is not None
    assert strict.require_live is True
    assert strict.match == shared.match
    with pytest.raises(ConfigError, match="liveness"):
        parse_config(BASE + "    liveness: maybe\n")


def test_face_models_run_recognition_threads_each() -> None:
    """The camera loops give the parallelism: each face model gets ``recognition.threads``."""
    from models.face_blazeface import BlazeFaceDlibAnalyzer

    for threads in (1, 2):
        rec = RecognitionConfig.model_validate({"threads": threads})
        analyzer = build_analyzer(rec)
        assert isinstance(analyzer, BlazeFaceDlibAnalyzer)
        detector = analyzer.detector._session.get_session_options()
        assert detector.intra_op_num_threads == threads
        checks = build_face_checks(rec, analyzer)
        assert isinstance(checks.landmarker, FaceMeshLandmarker)
        mesh = checks.landmarker._session.get_session_options()
        assert mesh.intra_op_num_threads == threads
    assert RecognitionConfig().threads == 1


def test_each_embedding_model_gets_its_own_threshold_unless_one_is_set() -> None:
    default = RecognitionConfig()
    assert match_threshold(default, "dlib-resnet-v1") == pytest.approx(0.93)
    assert match_threshold(default, "sface-2021dec") == pytest.approx(0.363)
    assert match_threshold(default, "buffalo_l") == pytest.approx(0.4)
    explicit = RecognitionConfig(match_threshold=0.5)
    assert match_threshold(explicit, "sface-2021dec") == pytest.approx(0.5)
    checks = build_face_checks(default, FakeBackend("sface-2021dec"))
    assert checks.tracker.match.threshold == pytest.approx(0.363)


def test_backends_are_chosen_by_tag() -> None:
    yunet = parse_config(BASE + "recognition:\n  model:\n    backend: yunet-sface\n")
    assert yunet.recognition.model.backend == "yunet-sface"


def test_insightface_needs_its_non_commercial_licence_accepted() -> None:
    text = BASE + "recognition:\n  model:\n    backend: insightface\n"
    with pytest.raises(ConfigError, match="non-commercial"):
        parse_config(text, "edge.yaml")
    accepted = parse_config(text + "    accept_non_commercial_licence: true\n")
    assert accepted.recognition.model.backend == "insightface"


def test_a_bad_backend_field_points_at_its_line() -> None:
    text = BASE + "recognition:\n  model:\n    backend: yunet-sface\n    score_threshold: 2\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, "edge.yaml")
    (problem,) = info.value.problems
    assert problem.startswith("edge.yaml:9:22: recognition.model.score_threshold:")


def test_liveness_window_must_hold_min_frames() -> None:
    with pytest.raises(ValueError, match="min_frames"):
        RecognitionConfig.model_validate({"liveness": {"min_frames": 50, "window_frames": 10}})


def test_the_default_edge_uses_only_commercially_usable_face_and_liveness_weights() -> None:
    """Issue 22: the default edge configuration loads no non-commercial (iBUG 300-W, InsightFace)
    and no AGPL weights for faces and liveness; dlib's HOG stays selectable."""
    config = parse_config(
        BASE + "  - id: staff-door\n    url: rtsp://10.0.0.6/s\n    liveness: require\n"
    )
    ids = face_model_ids(config.recognition, [c.liveness for c in config.cameras if c.liveness])
    assert ids == (
        "blazeface-short",
        "facemesh-468",
        "dlib-shape-5",
        "dlib-resnet-v1",
        "dlib-resnet-v1-onnx",
    )
    manifest = load_manifest()
    for model_id in ids:
        licence = manifest.get(model_id).licence
        assert licence.commercial is Commercial.YES, model_id
        assert "AGPL" not in licence.name.upper(), model_id
        assert "edge" in manifest.get(model_id).default_for, model_id  # what `models list` says
    hog = RecognitionConfig.model_validate({"model": {"backend": "dlib", "detector": "hog"}})
    assert face_model_ids(hog)[0] == "dlib-hog"
    far = RecognitionConfig.model_validate(
        {"model": {"backend": "dlib", "detector": "blazeface-full"}}
    )
    assert face_model_ids(far)[0] == "blazeface-full"
    assert manifest.get("blazeface-full").licence.commercial is Commercial.YES
    # falls on the edge come from the pose model (Apache-2.0), not the AGPL YOLO
    assert "fall-yolov8n" not in HAZARD_MODELS
    for model_id in ("pose-detect", "pose-landmark-full"):
        assert manifest.get(model_id).licence.commercial is Commercial.YES, model_id
        assert "edge" in manifest.get(model_id).default_for, model_id
    insight = RecognitionConfig.model_validate(
        {"model": {"backend": "insightface", "accept_non_commercial_licence": True}}
    )
    assert manifest.get(face_model_ids(insight)[0]).licence.commercial is Commercial.NO
