"""The face quality gate: size, blur and pose rules on synthetic faces and landmarks."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from models.face_quality import QualityPolicy, assess, estimate_pose, sharpness
from models.faces import DetectedFace, FaceBox, five_from_68, similarity_transform

FRONTAL = np.array(
    [[40.0, 50.0], [80.0, 50.0], [60.0, 70.0], [45.0, 90.0], [75.0, 90.0]], dtype=np.float32
)


def textured(size: int = 120, seed: int = 0) -> np.ndarray:
    """A sharp, face-sized patch (edges and texture) in a BGR frame."""
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), 120, dtype=np.uint8)
    for _ in range(40):
        x, y = rng.integers(0, size, 2)
        cv2.circle(
            image, (int(x), int(y)), int(rng.integers(2, 9)), (int(rng.integers(0, 255)),) * 3, -1
        )
    return image


def rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return np.asarray((points - 60) @ rot.T + 60, dtype=np.float32)


def test_pose_of_a_frontal_face_is_zero() -> None:
    pose = estimate_pose(FRONTAL)
    assert pose.yaw_deg == pytest.approx(0.0, abs=1e-6)
    assert pose.roll_deg == pytest.approx(0.0, abs=1e-6)


def test_roll_is_the_eye_line_angle_and_yaw_follows_the_nose() -> None:
    assert estimate_pose(rotate(FRONTAL, 20)).roll_deg == pytest.approx(20.0, abs=1e-4)
    assert estimate_pose(rotate(FRONTAL, 20)).yaw_deg == pytest.approx(0.0, abs=1e-4)
    turned = FRONTAL.copy()
    turned[2, 0] += 0.55 * 40 * math.tan(math.radians(30))  # nose 30 deg worth to one side
    assert estimate_pose(turned).yaw_deg == pytest.approx(30.0, abs=0.01)


def test_68_landmarks_reduce_to_five_points() -> None:
    points = np.zeros((68, 2), dtype=np.float32)
    points[36:42] = [10, 20]
    points[42:48] = [50, 20]
    points[30] = [30, 40]
    points[48] = [15, 60]
    points[54] = [45, 60]
    assert np.allclose(five_from_68(points), [[10, 20], [50, 20], [30, 40], [15, 60], [45, 60]])
    assert estimate_pose(points).roll_deg == pytest.approx(0.0)
    with pytest.raises(ValueError, match="5 or 68"):
        estimate_pose(np.zeros((3, 2), dtype=np.float32))


def test_similarity_transform_maps_points_onto_a_template() -> None:
    moved = rotate(FRONTAL, 12) * 1.7 + 5
    matrix = similarity_transform(moved, FRONTAL)
    back = np.c_[moved, np.ones(5)] @ matrix.T
    assert np.allclose(back, FRONTAL, atol=1e-3)


def test_blur_lowers_sharpness_whatever_the_brightness() -> None:
    gray = cv2.cvtColor(textured(), cv2.COLOR_BGR2GRAY)
    sharp = sharpness(gray)
    assert sharp > 0.08
    assert sharpness(cv2.GaussianBlur(gray, (0, 0), 3)) < 0.08
    darker = np.asarray(cv2.convertScaleAbs(gray, alpha=0.7))
    assert sharpness(darker) == pytest.approx(sharp, rel=0.1)
    assert sharpness(np.full((40, 40), 128, dtype=np.uint8)) == 0.0


def test_the_gate_lists_every_rule_a_face_breaks() -> None:
    image = textured()
    face = DetectedFace(FaceBox(10, 10, 100, 100), 1.0)
    good = assess(image, face, FRONTAL)
    assert good.ok, good.reasons
    assert good.size_px == 100

    small = assess(image, DetectedFace(FaceBox(10, 10, 30, 30), 1.0), FRONTAL)
    assert not small.ok
    assert any("30 px" in r for r in small.reasons)

    blurred = assess(np.asarray(cv2.GaussianBlur(image, (0, 0), 4)), face, FRONTAL)
    assert any("blurred" in r for r in blurred.reasons)

    tilted = assess(image, face, rotate(FRONTAL, 50))
    assert any("tilted" in r for r in tilted.reasons)
    turned = FRONTAL.copy()
    turned[2, 0] += 30
    assert any("turned away" in r for r in assess(image, face, turned).reasons)


def test_without_landmarks_the_pose_is_not_checked_but_the_detector_points_are_used() -> None:
    image = textured()
    face = DetectedFace(FaceBox(10, 10, 100, 100), 1.0)
    assert assess(image, face).pose is None
    with_points = DetectedFace(FaceBox(10, 10, 100, 100), 1.0, landmarks=rotate(FRONTAL, 60))
    assert not assess(image, with_points).ok


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="min_face_px"):
        QualityPolicy(min_face_px=0)
    with pytest.raises(ValueError, match="max_yaw_deg"):
        QualityPolicy(max_yaw_deg=120)
