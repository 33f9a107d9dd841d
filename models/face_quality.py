"""Face quality gate: is this face worth enrolling or matching? (size, blur, pose)

A face that is too small, blurred or turned away gives an embedding that sits far from its
owner's and close to nobody in particular: matching it wastes time at best and, across many
frames, invites a wrong vote. The gate runs before enrolment and before matching; a face that
fails it is still tracked (and still checked for liveness), it just casts no identity vote.

- **size**: the shorter side of the detector's box, in pixels.
- **sharpness**: variance of the Laplacian of the grey face crop resized to 64 x 64, divided by
  the variance of the crop itself, so neither the face's size nor its brightness or contrast moves
  it (a 30 % darker face has half the Laplacian variance, and the same ratio). Measured on the
  packaged photos: sharp faces 0.13-0.34 (t1.jpg at 640 px, Tom Hanks, the astronaut at 0.5-2x,
  darker, JPEG 40), the astronaut under a Gaussian blur of sigma 1.5 / 2 / 3 px: 0.051 / 0.032 /
  0.018. The default floor, 0.08, sits between.
- **pose** from five landmarks (eye centres, nose tip, mouth corners; 68 landmarks are reduced to
  those): roll is the angle of the eye line; yaw is read from where the nose tip falls between the
  eyes along that line (0.5 when frontal). With the nose about 0.55 interocular distances in front
  of the eye plane, ``yaw ≈ atan((t - 0.5) / 0.55)``: an approximation good to a few degrees near
  frontal, which is all a gate needs. Pitch is not estimated.

The pose limits are wide on purpose (45 degrees each): the aligned embedders undo roll, and on
t1.jpg two of the six people, turned towards a friend (estimated yaw 42-43 deg, one also rolled
33 deg), still match their own photos at cosine >= 0.98; beyond ~45 deg of yaw dlib's frontal
HOG detector stops finding faces anyway. Tighten them for enrolment photos.

With MediaPipe's points (BlazeFace's keypoints on the hub, Face Mesh on the edge) the estimates
agree with dlib's within a few degrees on near-frontal faces (t1.jpg, Tom Hanks, the astronaut),
but t1's most turned face reads -52 to -57 degrees where dlib's 68 points read -36 to -42: that
face now fails the 45-degree gate ("turned away").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from models.faces import DetectedFace, Image, five_from_68

NOSE_DEPTH = 0.55
"""Nose tip in front of the eye plane, in interocular distances (for the yaw estimate)."""
SHARPNESS_SIDE = 64


@dataclass(frozen=True, slots=True)
class QualityPolicy:
    min_face_px: int = 40
    min_sharpness: float = 0.08
    max_yaw_deg: float = 45.0
    max_roll_deg: float = 45.0

    def __post_init__(self) -> None:
        if self.min_face_px < 1:
            raise ValueError(f"min_face_px must be >= 1, got {self.min_face_px}")
        if self.min_sharpness < 0:
            raise ValueError(f"min_sharpness must be >= 0, got {self.min_sharpness}")
        if not (0 < self.max_yaw_deg <= 90 and 0 < self.max_roll_deg <= 180):
            raise ValueError("max_yaw_deg must be in (0, 90] and max_roll_deg in (0, 180]")


@dataclass(frozen=True, slots=True)
class Pose:
    yaw_deg: float
    roll_deg: float


@dataclass(frozen=True, slots=True)
class FaceQuality:
    """The measurements and, in ``reasons``, every rule the face broke (empty: it passes)."""

    size_px: int
    sharpness: float
    pose: Pose | None
    reasons: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.reasons


def estimate_pose(points: npt.NDArray[np.floating]) -> Pose:
    """Approximate yaw and roll from 5 (or 68) landmarks; see the module docstring."""
    p = np.asarray(points, dtype=np.float64)
    if p.shape == (68, 2):
        p = five_from_68(p).astype(np.float64)
    if p.shape != (5, 2):
        raise ValueError(f"need 5 or 68 landmarks, got an array of shape {p.shape}")
    right_eye, left_eye, nose = p[0], p[1], p[2]
    axis = left_eye - right_eye
    iod = float(np.linalg.norm(axis))
    if iod == 0.0:
        raise ValueError("the two eye points coincide")
    unit = axis / iod
    roll = math.degrees(math.atan2(float(unit[1]), float(unit[0])))
    t = float((nose - right_eye) @ unit) / iod
    yaw = math.degrees(math.atan((t - 0.5) / NOSE_DEPTH))
    return Pose(yaw_deg=yaw, roll_deg=roll)


def sharpness(gray_crop: npt.NDArray[Any]) -> float:
    """Contrast-normalised Laplacian variance of a grey crop (see the module docstring)."""
    if gray_crop.ndim != 2 or min(gray_crop.shape) < 3:
        raise ValueError("need a 2-D grey crop of at least 3 x 3 pixels")
    small = cv2.resize(
        gray_crop, (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=cv2.INTER_AREA
    ).astype(np.float32)
    spread = float(small.var())
    if spread < 1.0:  # a flat patch: nothing to be sharp about
        return 0.0
    return float(cv2.Laplacian(small, cv2.CV_32F).var()) / spread


def assess(
    image: Image,
    face: DetectedFace,
    landmarks: npt.NDArray[np.floating] | None = None,
    policy: QualityPolicy | None = None,
) -> FaceQuality:
    """Measure ``face`` in ``image`` and list the rules of ``policy`` it breaks.

    ``landmarks``: 68 or 5 points; without them (and without the detector's own five points) the
    pose is not checked.
    """
    policy = policy or QualityPolicy()
    b = face.box
    size = min(b.w, b.h)
    reasons: list[str] = []
    if size < policy.min_face_px:
        reasons.append(f"face {size} px < {policy.min_face_px} px")
    crop = image[max(b.y, 0) : b.y + b.h, max(b.x, 0) : b.x + b.w]
    sharp = 0.0
    if crop.size and min(crop.shape[:2]) >= 3:
        sharp = sharpness(np.asarray(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), dtype=np.uint8))
    if sharp < policy.min_sharpness:
        reasons.append(f"blurred: sharpness {sharp:.3f} < {policy.min_sharpness}")
    points = landmarks if landmarks is not None else face.landmarks
    pose = None
    if points is not None:
        pose = estimate_pose(points)
        if abs(pose.yaw_deg) > policy.max_yaw_deg:
            reasons.append(f"turned away: yaw {pose.yaw_deg:.0f} deg")
        if abs(pose.roll_deg) > policy.max_roll_deg:
            reasons.append(f"tilted: roll {pose.roll_deg:.0f} deg")
    return FaceQuality(size_px=size, sharpness=sharp, pose=pose, reasons=tuple(reasons))
