"""The Apache-2.0 pose fall detector (BlazePose person detector + landmarks + models/fall_pose.py)
and BlazeFace full-range, on real packaged photos (CPU, the converted ONNX models)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from innsight.demo import photos
from models.anomaly import HazardDetector
from models.anomaly_yolo import POSE_FALL_MODEL_ID, load_hazard_detectors
from models.face_blazeface import BlazeFaceDetector
from models.fall_pose_detector import PoseFallDetector


@pytest.fixture(scope="module")
def pose() -> HazardDetector:
    found, reasons = load_hazard_detectors(model_ids=(POSE_FALL_MODEL_ID,), intra_op_threads=1)
    assert reasons == []
    (detector,) = found
    assert isinstance(detector, PoseFallDetector)
    return detector


def _frame(image: np.ndarray, turns: int = 0) -> np.ndarray:
    turned = np.ascontiguousarray(np.rot90(image, turns))
    return np.ascontiguousarray(cv2.resize(turned, (640, 480), interpolation=cv2.INTER_AREA))


def test_the_astronaut_upright_is_a_person_and_turned_over_is_a_fall(
    pose: HazardDetector,
) -> None:
    assert pose.model_id == "pose-landmark-full"
    assert pose.kinds == frozenset({"person", "fall"})
    upright = pose.detect(_frame(photos.astronaut()))
    assert [d.kind for d in upright if d.score >= 0.5] == ["person"]
    person = upright[0].box
    assert person.w * person.h > 0.25 * 640 * 480  # she fills most of the frame
    lying = pose.detect(_frame(photos.astronaut(), turns=1))
    falls = [d for d in lying if d.kind == "fall"]
    assert falls
    assert max(d.score for d in falls) >= 0.6  # the edge's default fall threshold


def test_an_empty_scene_has_nobody(pose: HazardDetector) -> None:
    from skimage import data

    brick = np.asarray(data.brick(), dtype=np.uint8)  # type: ignore[no-untyped-call]
    frame = cv2.cvtColor(cv2.resize(brick, (640, 480)), cv2.COLOR_GRAY2BGR)
    assert pose.detect(np.ascontiguousarray(frame)) == []
    with pytest.raises(ValueError, match="BGR"):
        pose.detect(np.zeros((4, 4), np.uint8))


def test_full_range_blazeface_finds_small_faces_with_its_own_anchors() -> None:
    group = cv2.resize(photos.group_photo(), (320, 213), interpolation=cv2.INTER_AREA)
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[130:343, 160:480] = group  # six faces of ~25-30 px
    full = BlazeFaceDetector(min_face_px=24, variant="blazeface-full", intra_op_threads=1)
    assert full.variant.input_size == 192
    assert full.min_score == pytest.approx(0.6)
    faces = full.detect(frame)
    small = [f for f in faces if 15 <= f.box.w <= 40]  # one face also came out at 49 px
    assert len(small) >= 4
    for face in faces:
        assert face.box.x >= 160
        assert face.box.x + face.box.w <= 480
        assert face.box.y >= 130
        assert face.box.y + face.box.h <= 343
    with pytest.raises(ValueError, match="unknown BlazeFace variant"):
        BlazeFaceDetector(variant="blazeface-tiny")
