"""Falls from BlazePose keypoints: the geometry and the posture rule, pure numpy (no model, no I/O).

The pipeline (:mod:`models.fall_pose_detector` runs it) is MediaPipe's own:

1. ``pose-detect`` (BlazePose's person detector) finds people in a 224 px letterboxed frame:
   an SSD over 2254 anchors (strides 8, 16, 32, 32, 32; :data:`DETECT_STRIDES`), each with a box
   and four keypoints: the hip centre, a point on the circle that encloses the body, the
   shoulder centre and a point above the head (MediaPipe's ``pose_detection.pbtxt``).
2. The region of interest (:func:`roi_from_detection`): centred on the hip centre, a square of
   side 2 x (hip centre -> circle point) x 1.25, turned so that the body axis (hip centre ->
   circle point) is the crop's "up" (``AlignmentPointsRectsCalculator``, target angle 90°). A
   person lying on the floor is a person standing upright in the crop: the landmark model never
   sees a lying person, so its keypoints stay good whatever the posture.
3. ``pose-landmark-full`` reads the 256 px crop: 33 body landmarks (plus 6 auxiliary ones), each
   x, y, z, visibility and presence (logits); :func:`crop_to_image` maps them back.

The rule (:func:`fall_score`): a person is lying when the body is far from vertical in the
image. The posture angle is the torso's (shoulder centre -> hip centre) angle to the vertical,
or, when the ankles are visible, the smaller of that and the whole body's (shoulder centre ->
ankle centre): someone bending over has a horizontal torso but vertical legs. The score maps
30° -> 0 and 80° -> 1 linearly (:data:`UPRIGHT_DEG`, :data:`LYING_DEG`), so the edge's default
fall threshold 0.6 means "60° or more from vertical"; it is capped by the body's extent (a body
that is much taller than wide in the image is not lying; :func:`extent_score`). When the torso's
landmarks are not visible, the detector's body axis stands in for them.

Known limits (docs/hazards.md): a single frame says *lying*, not *falling* (the edge's N of M
window adds the duration); a person lying along the camera's line of sight (feet towards the
camera) is foreshortened and looks upright in 2-D; the person's earlier height is not used (the
detector is shared by the cameras and keeps no tracks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

DETECT_SIZE = 224
DETECT_STRIDES = (8, 16, 32, 32, 32)
DETECT_KEYPOINTS = 4
DETECT_MIN_SCORE = 0.5
LANDMARK_SIZE = 256
NUM_LANDMARKS = 39
"""33 body landmarks and 6 auxiliary ones (MediaPipe's pose_landmark_full)."""
ROI_SCALE = 1.25

# MediaPipe Pose landmark indices
NOSE = 0
SHOULDERS = (11, 12)
HIPS = (23, 24)
KNEES = (25, 26)
ANKLES = (27, 28)
BODY = 33
"""The first 33 landmarks are the body's; the rest steer MediaPipe's tracking."""

UPRIGHT_DEG = 30.0
LYING_DEG = 80.0
MIN_VISIBILITY = 0.5
EXTENT_UPRIGHT = 0.5
"""Body extent width / height at or under which a person is not lying (score 0) ..."""
EXTENT_LYING = 1.2
"""... and at or over which the extent does not limit the score."""


@dataclass(frozen=True, slots=True)
class Roi:
    """A square crop of ``side`` pixels centred on (cx, cy), turned by ``rotation`` radians
    (clockwise in image coordinates, y down)."""

    cx: float
    cy: float
    side: float
    rotation: float


def normalize_radians(angle: float) -> float:
    """``angle`` in [-pi, pi)."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def roi_from_detection(hip: tuple[float, float], circle: tuple[float, float]) -> Roi:
    """MediaPipe's pose ROI from the detector's first two keypoints, in image pixels."""
    dx, dy = circle[0] - hip[0], circle[1] - hip[1]
    side = 2.0 * math.hypot(dx, dy) * ROI_SCALE
    rotation = normalize_radians(math.pi / 2 - math.atan2(-dy, dx))
    return Roi(float(hip[0]), float(hip[1]), side, rotation)


def crop_matrix(roi: Roi, size: int = LANDMARK_SIZE) -> FloatArray:
    """The 2 x 3 affine map from crop pixels (0..``size``) to image pixels (for
    ``cv2.warpAffine(..., flags=WARP_INVERSE_MAP)``, and for mapping landmarks back)."""
    scale = roi.side / size
    cos, sin = math.cos(roi.rotation) * scale, math.sin(roi.rotation) * scale
    half = size / 2.0
    tx = roi.cx - (cos * half - sin * half)
    ty = roi.cy - (sin * half + cos * half)
    return np.array([[cos, -sin, tx], [sin, cos, ty]], dtype=np.float32)


def crop_to_image(points: npt.ArrayLike, matrix: FloatArray) -> FloatArray:
    """Points [K, 2] in crop pixels -> image pixels."""
    p = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    return np.asarray(p @ matrix[:, :2].T + matrix[:, 2], dtype=np.float32)


def sigmoid(x: npt.ArrayLike) -> FloatArray:
    z = np.clip(np.asarray(x, dtype=np.float64), -100.0, 100.0)
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float32)


def angle_from_vertical(top: FloatArray, bottom: FloatArray) -> float:
    """Degrees between the image's up direction and ``bottom -> top`` (0: upright, 90: level,
    180: upside down)."""
    dx, dy = float(top[0] - bottom[0]), float(top[1] - bottom[1])
    if dx == 0.0 and dy == 0.0:
        return 0.0
    return math.degrees(math.atan2(abs(dx), -dy))


def angle_score(degrees: float) -> float:
    """0 at :data:`UPRIGHT_DEG` or less, 1 at :data:`LYING_DEG` or more, linear between."""
    return float(np.clip((degrees - UPRIGHT_DEG) / (LYING_DEG - UPRIGHT_DEG), 0.0, 1.0))


def extent_score(width: float, height: float) -> float:
    """0 for a body at most :data:`EXTENT_UPRIGHT` as wide as tall, 1 from
    :data:`EXTENT_LYING`, linear between."""
    ratio = width / max(height, 1e-6)
    return float(np.clip((ratio - EXTENT_UPRIGHT) / (EXTENT_LYING - EXTENT_UPRIGHT), 0.0, 1.0))


@dataclass(frozen=True, slots=True)
class Posture:
    """What the rule read from one person: the angle it used, where it came from
    (``torso``, ``body`` or ``axis``), the body's extent and the fall score in [0, 1]."""

    angle: float
    source: str
    width: float
    height: float
    score: float


def posture(landmarks: npt.ArrayLike, visibility: npt.ArrayLike, axis_angle: float) -> Posture:
    """The fall score of one person from image-pixel landmarks [>= 33, 2], their visibility
    (probabilities, [>= 33]) and the detector's body-axis angle (the fallback)."""
    pts = np.asarray(landmarks, dtype=np.float32).reshape(-1, 2)[:BODY]
    vis = np.asarray(visibility, dtype=np.float32).reshape(-1)[:BODY]
    if len(pts) < BODY or len(vis) < BODY:
        raise ValueError(f"expected {BODY} body landmarks, got {len(pts)} and {len(vis)}")

    def seen(indices: tuple[int, ...]) -> bool:
        return bool(all(vis[i] >= MIN_VISIBILITY for i in indices))

    def centre(indices: tuple[int, ...]) -> FloatArray:
        return np.asarray(pts[list(indices)].mean(axis=0), dtype=np.float32)

    if seen(SHOULDERS + HIPS):
        shoulders = centre(SHOULDERS)
        angle = angle_from_vertical(shoulders, centre(HIPS))
        source = "torso"
        if seen(ANKLES):
            body = angle_from_vertical(shoulders, centre(ANKLES))
            if body < angle:
                angle, source = body, "body"
    else:
        angle, source = axis_angle, "axis"
    visible = pts[vis >= MIN_VISIBILITY]
    if len(visible) < 2:
        visible = pts
    width = float(visible[:, 0].max() - visible[:, 0].min())
    height = float(visible[:, 1].max() - visible[:, 1].min())
    score = min(angle_score(angle), extent_score(width, height))
    return Posture(angle, source, width, height, score)


def body_box(
    landmarks: npt.ArrayLike, frame_w: int, frame_h: int, margin: float = 0.1
) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) around the 33 body landmarks plus ``margin`` of its size each side, inside
    the frame; None when nothing of it is inside."""
    pts = np.asarray(landmarks, dtype=np.float32).reshape(-1, 2)[:BODY]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    left, top = max(0, math.floor(x0 - mx)), max(0, math.floor(y0 - my))
    right, bottom = min(frame_w, math.ceil(x1 + mx)), min(frame_h, math.ceil(y1 + my))
    if right - left < 2 or bottom - top < 2:
        return None
    return left, top, right - left, bottom - top
