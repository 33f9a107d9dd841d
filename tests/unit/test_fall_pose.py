"""The pose fall rule and its geometry (models/fall_pose.py, pure numpy), the SSD anchors of the
pose and full-range face detectors, and the converter's densifying of sparse weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models import blazeface_decode as bf
from models import fall_pose as fp
from models.export.tflite_onnx import ConversionError, densify_csr_last


def _person(angle_deg: float, legs_deg: float | None = None) -> np.ndarray:
    """33 landmarks of a stick figure: hips at (300, 300), the torso (100 px) tilted
    ``angle_deg`` from vertical, the legs (120 px) ``legs_deg`` (default: in line with it)."""
    pts = np.zeros((fp.BODY, 2), np.float32)
    hip = np.array([300.0, 300.0], np.float32)

    def along(deg: float, length: float) -> np.ndarray:
        rad = math.radians(deg)
        return np.array([math.sin(rad), -math.cos(rad)], np.float32) * length

    side = np.array([10.0, 0.0], np.float32)
    shoulder = hip + along(angle_deg, 100)
    ankle = hip - along(angle_deg if legs_deg is None else legs_deg, 120)
    pts[:] = (shoulder + ankle) / 2
    pts[fp.NOSE] = hip + along(angle_deg, 130)
    for a, b, centre in ((*fp.SHOULDERS, shoulder), (*fp.HIPS, hip), (*fp.ANKLES, ankle)):
        pts[a], pts[b] = centre - side, centre + side
    return pts


def test_upright_person_is_not_a_fall_and_a_lying_one_is() -> None:
    vis = np.ones(fp.BODY, np.float32)
    upright = fp.posture(_person(2.0), vis, axis_angle=0.0)
    assert upright.score == 0.0
    assert upright.source in ("torso", "body")
    lying = fp.posture(_person(90.0), vis, axis_angle=0.0)
    assert lying.score == pytest.approx(1.0)
    assert lying.angle == pytest.approx(90.0, abs=1.0)
    # the default edge threshold 0.6 sits at 60 degrees from vertical
    assert fp.angle_score(60.0) == pytest.approx(0.6)
    assert fp.angle_score(30.0) == 0.0
    assert fp.angle_score(150.0) == 1.0


def test_bending_over_is_not_lying_when_the_legs_are_seen() -> None:
    vis = np.ones(fp.BODY, np.float32)
    bent = fp.posture(_person(85.0, legs_deg=0.0), vis, axis_angle=85.0)
    assert bent.source == "body"
    assert bent.score < 0.6
    vis[list(fp.ANKLES)] = 0.1  # legs unseen: the torso alone decides
    assert fp.posture(_person(85.0, legs_deg=0.0), vis, axis_angle=85.0).source == "torso"


def test_the_detector_axis_stands_in_for_an_unseen_torso() -> None:
    vis = np.zeros(fp.BODY, np.float32)
    found = fp.posture(_person(90.0), vis, axis_angle=88.0)
    assert found.source == "axis"
    assert found.score == pytest.approx(1.0)
    assert fp.posture(_person(90.0), vis, axis_angle=5.0).score == 0.0


def test_a_body_much_taller_than_wide_caps_the_score() -> None:
    assert fp.extent_score(40.0, 200.0) == 0.0
    assert fp.extent_score(300.0, 100.0) == 1.0
    pts = _person(70.0)
    pts[:, 1] = (pts[:, 1] - 300.0) * 6.0 + 300.0  # stretched tall: narrow extent
    assert fp.posture(pts, np.ones(fp.BODY, np.float32), 0.0).score < 0.6


def test_roi_turns_the_body_axis_upright_and_maps_back() -> None:
    upright = fp.roi_from_detection((100.0, 200.0), (100.0, 120.0))
    assert upright.rotation == pytest.approx(0.0)
    assert upright.side == pytest.approx(2 * 80 * fp.ROI_SCALE)
    lying = fp.roi_from_detection((100.0, 200.0), (180.0, 200.0))  # head to the right
    assert lying.rotation == pytest.approx(math.pi / 2)
    matrix = fp.crop_matrix(lying)
    size = fp.LANDMARK_SIZE
    centre, top = fp.crop_to_image([[size / 2, size / 2], [size / 2, 0.0]], matrix)
    assert centre == pytest.approx([100.0, 200.0], abs=1e-3)
    # the crop's top edge is towards the head, half a side away
    assert top == pytest.approx([100.0 + lying.side / 2, 200.0], abs=1e-3)
    assert fp.normalize_radians(3 * math.pi) == pytest.approx(-math.pi)


def test_body_box_covers_the_landmarks_inside_the_frame() -> None:
    box = fp.body_box(_person(0.0), 640, 480, margin=0.0)
    assert box is not None
    x, y, w, h = box
    assert (x, y) == (290, 170)
    assert (w, h) == (20, 250)
    assert fp.body_box(_person(0.0) + 2000.0, 640, 480) is None


def test_pose_and_full_range_face_anchors_match_mediapipe() -> None:
    pose = bf.ssd_anchors(fp.DETECT_SIZE, fp.DETECT_STRIDES)
    assert pose.shape == (2254, 2)  # 28x28x2 + 14x14x2 + 7x7x6
    assert pose[1568] == pytest.approx([0.5 / 14, 0.5 / 14])
    full = bf.ssd_anchors(192, (4,), per_layer=1)
    assert full.shape == (2304, 2)  # 48 x 48, one anchor a cell
    assert full[1] == pytest.approx([1.5 / 48, 0.5 / 48])
    raw = np.zeros((len(pose), 12), np.float32)
    logits = np.full(len(pose), -9.0, np.float32)
    logits[5] = 4.0
    found = bf.decode(raw, logits, pose, fp.DETECT_SIZE, num_keypoints=fp.DETECT_KEYPOINTS)
    assert found.keypoints.shape == (1, 4, 2)
    assert bf.weighted_nms(bf.decode(raw, logits - 20, pose, num_keypoints=4)).keypoints.shape == (
        0,
        4,
        2,
    )


def test_densify_places_csr_values_and_refuses_bad_arrays() -> None:
    dense = densify_csr_last(
        (2, 1, 1, 4),
        np.array([1.0, 2.0, 3.0], np.float16),
        segments=np.array([0, 2, 3]),
        indices=np.array([0, 3, 1]),
    )
    assert dense.dtype == np.float16
    assert dense.reshape(2, 4).tolist() == [[1.0, 0.0, 0.0, 2.0], [0.0, 3.0, 0.0, 0.0]]
    with pytest.raises(ConversionError, match="inconsistent"):
        densify_csr_last((2, 4), np.ones(3), np.array([0, 2]), np.array([0, 1, 2]))
    with pytest.raises(ConversionError, match="out of range"):
        densify_csr_last((1, 4), np.ones(1), np.array([0, 1]), np.array([4]))
