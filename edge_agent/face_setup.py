"""Composition of the face stack from the config: backend, quality gate, landmarks, liveness.

Called by :mod:`edge_agent.app` (the composition root) only; it builds real model objects.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Collection
from dataclasses import dataclass

from edge_agent.config import (
    BLAZEFACE_VARIANTS,
    DlibFaceConfig,
    InsightFaceConfig,
    LbphFaceConfig,
    LivenessMode,
    RecognitionConfig,
    YuNetFaceConfig,
)
from edge_agent.domain.liveness import LivenessPolicy
from edge_agent.domain.matching import DEFAULT_THRESHOLD, MatchPolicy
from edge_agent.domain.pipeline import PassiveLiveness, QualityGate
from edge_agent.domain.tracking import TrackerConfig
from models.face_quality import QualityPolicy, assess
from models.faces import FaceAnalyzer, FaceLandmarker

logger = logging.getLogger(__name__)

OPERATING_THRESHOLDS = {
    "dlib-resnet-v1": DEFAULT_THRESHOLD,  # measured: benchmarks/perception.py
    "sface-2021dec": 0.363,  # OpenCV's published threshold, not measured here
    "buffalo_l": 0.4,  # common ArcFace R50 operating point, not measured here
    "lbph-u2-4x4": 0.92,  # measured: models/face_lbph.py, tests/unit/test_face_lbph.py
}
"""Cosine threshold per embedding model, used when the config does not set match_threshold."""


def build_analyzer(recognition: RecognitionConfig) -> FaceAnalyzer:
    model = recognition.model
    threads = recognition.threads
    if isinstance(model, DlibFaceConfig):
        from models.face_dlib import DlibFaceAnalyzer

        # the 68-point predictor (iBUG 300-W, non-commercial) is never loaded: Face Mesh gives
        # the landmarks (build_face_checks)
        dlib = DlibFaceAnalyzer(upsample=model.upsample, landmarks68=False, onnx_threads=threads)
        if model.detector == "hog":
            return dlib
        from models.face_blazeface import BlazeFaceDetector, BlazeFaceDlibAnalyzer

        detector = BlazeFaceDetector(
            min_face_px=model.min_face_px,
            variant=BLAZEFACE_VARIANTS[model.detector],
            intra_op_threads=threads,
        )
        return BlazeFaceDlibAnalyzer(detector, dlib, verifier=build_landmarker(threads))
    if isinstance(model, LbphFaceConfig):
        from models.face_dlib import DlibFaceAnalyzer
        from models.face_lbph import LbphFaceAnalyzer

        aligner = DlibFaceAnalyzer(upsample=model.upsample, landmarks68=False, onnx_threads=threads)
        if model.detector == "hog":
            return LbphFaceAnalyzer(aligner, aligner)
        from models.face_blazeface import BlazeFaceDetector, BlazeFaceDlibAnalyzer

        found_by = BlazeFaceDlibAnalyzer(
            BlazeFaceDetector(
                min_face_px=model.min_face_px,
                variant=BLAZEFACE_VARIANTS[model.detector],
                intra_op_threads=threads,
            ),
            aligner,
            verifier=build_landmarker(threads),
        )
        return LbphFaceAnalyzer(found_by, aligner)
    if isinstance(model, YuNetFaceConfig):
        from models.face_yunet import YuNetSFaceAnalyzer

        return YuNetSFaceAnalyzer(model.models_dir, score_threshold=model.score_threshold)
    if isinstance(model, InsightFaceConfig):
        from models.face_insightface import InsightFaceAnalyzer

        return InsightFaceAnalyzer(
            model.models_dir, det_size=model.det_size, intra_op_threads=threads
        )
    raise TypeError(f"unknown face backend config {type(model).__name__}")


def build_landmarker(threads: int | None = None) -> FaceLandmarker:
    """MediaPipe Face Mesh (Apache-2.0) in the 68-point layout: the landmarks of the quality gate
    and the liveness cues. dlib's 68-point predictor (``dlib-shape-68``) is not used by default:
    it was trained on iBUG 300-W, whose licence excludes commercial use. ``threads``: ONNX
    Runtime's intra-op threads (``recognition.threads``)."""
    from models.face_mesh import FaceMeshLandmarker

    return FaceMeshLandmarker(intra_op_threads=threads)


def face_model_ids(
    recognition: RecognitionConfig, camera_modes: Collection[LivenessMode] = ()
) -> tuple[str, ...]:
    """The manifest ids of the face and liveness weights :func:`build_analyzer` and
    :func:`build_face_checks` load for ``recognition``: what a licence check reads."""
    model = recognition.model
    ids: list[str] = []
    if isinstance(model, DlibFaceConfig | LbphFaceConfig):
        # BlazeFace's uncertain detections are confirmed by Face Mesh
        if model.detector == "hog":
            ids += ["dlib-hog"]
        else:
            ids += [BLAZEFACE_VARIANTS[model.detector], "facemesh-468"]
        ids += ["dlib-shape-5"]
        # dlib's ResNet runs on ONNX Runtime when its export is there (the same weights)
        is_dlib = isinstance(model, DlibFaceConfig)
        ids += ["dlib-resnet-v1", "dlib-resnet-v1-onnx"] if is_dlib else ["lbph-u2-4x4"]
    elif isinstance(model, YuNetFaceConfig):
        ids += ["yunet-2023mar", "sface-2021dec"]
    else:
        ids += ["buffalo_l"]
    live_on = recognition.liveness.mode != "off" or any(m != "off" for m in camera_modes)
    if (live_on or recognition.quality.enabled) and "facemesh-468" not in ids:
        ids.append("facemesh-468")
    if live_on and recognition.liveness.passive_model:
        ids.append("minifasnet-v2")
    return tuple(ids)


def match_threshold(recognition: RecognitionConfig, model_id: str) -> float:
    """The configured threshold, or the embedding model's own when none was configured."""
    if "match_threshold" in recognition.model_fields_set:
        return recognition.match_threshold
    return OPERATING_THRESHOLDS.get(model_id, recognition.match_threshold)


@dataclass(frozen=True)
class FaceChecks:
    """What the pipeline needs besides the backend and the gallery; shared by all cameras."""

    tracker: TrackerConfig
    quality_gate: QualityGate | None
    landmarker: FaceLandmarker | None
    passive_liveness: PassiveLiveness | None


def build_face_checks(
    recognition: RecognitionConfig,
    analyzer: FaceAnalyzer,
    camera_modes: Collection[LivenessMode] = (),
) -> FaceChecks:
    """``camera_modes``: the cameras' own liveness modes (CameraConfig.liveness); the
    landmarker and the passive model are built when any camera checks liveness."""
    liveness = recognition.liveness
    live_on = liveness.mode != "off" or any(mode != "off" for mode in camera_modes)
    quality = recognition.quality
    gate: QualityGate | None = None
    if quality.enabled:
        policy = QualityPolicy(
            min_face_px=quality.min_face_px,
            min_sharpness=quality.min_sharpness,
            max_yaw_deg=quality.max_yaw_deg,
            max_roll_deg=quality.max_roll_deg,
        )
        gate = functools.partial(assess, policy=policy)
    landmarker: FaceLandmarker | None = None
    if live_on or gate is not None:  # blink, parallax and pose read the 68-point layout
        landmarker = build_landmarker(recognition.threads)
    passive: PassiveLiveness | None = None
    if live_on and liveness.passive_model:
        from models.liveness import MiniFasNetLiveness

        passive = MiniFasNetLiveness(liveness.models_dir, intra_op_threads=recognition.threads)
    tracker = TrackerConfig(
        max_missed=recognition.max_missed,
        min_hits=recognition.min_hits,
        match=MatchPolicy(
            threshold=match_threshold(recognition, analyzer.model_id),
            min_votes=recognition.min_votes,
        ),
        liveness=(
            LivenessPolicy(min_frames=liveness.min_frames, window_frames=liveness.window_frames)
            if liveness.mode != "off"
            else None
        ),
        require_live=liveness.mode == "require",
    )
    logger.info(
        "face checks: quality gate %s, liveness %s%s",
        "on" if gate else "off",
        liveness.mode,
        " + MiniFASNet" if passive else "",
    )
    return FaceChecks(tracker, gate, landmarker, passive)


def tracker_for_camera(
    checks: FaceChecks, recognition: RecognitionConfig, mode: LivenessMode | None
) -> TrackerConfig:
    """The tracker config of one camera: the shared one, with the camera's own liveness mode
    when it has one (``require`` at attendance cameras)."""
    if mode is None:
        return checks.tracker
    liveness = recognition.liveness
    policy = (
        None
        if mode == "off"
        else LivenessPolicy(min_frames=liveness.min_frames, window_frames=liveness.window_frames)
    )
    return dataclasses.replace(checks.tracker, liveness=policy, require_live=mode == "require")
