"""One camera's view as ``/api/v1/cv/anomaly/detect`` needs it (pure: arrays in, results out).

- **Flood**: the edge's water detector (:class:`models.anomaly_water.WaterDetector`) compares a
  frame with the camera's floor *when dry*. The edge learns that background from its first
  frames; the hub has one uploaded photo, so the detector learns from that single reference
  photo and then judges the frame. The frame is brought to the reference's size first (same
  aspect ratio required: another aspect ratio is another view) and boxes go back to the frame's
  pixels.
- **Intrusion**: a person (or a fallen person) whose foot point, the bottom centre of the box,
  lies inside one of the camera's restricted zones. The hub has no schedule for zones: a zone
  registered here is restricted at all hours (the edge's zones carry restricted hours).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from models.anomaly import HazardDetection
from models.anomaly_water import WaterDetector
from models.faces import FaceBox, Image

Point = tuple[float, float]
ASPECT_TOLERANCE = 0.02
"""The frame's aspect ratio may differ from the reference's by this fraction."""
FULL_FRAME: tuple[Point, ...] = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))


@dataclass(frozen=True, slots=True)
class RestrictedZone:
    name: str
    polygon: tuple[Point, ...]
    """[x, y] fractions of the frame's width and height."""


class SceneMismatchError(ValueError):
    """The frame cannot be compared with the camera's reference (another view)."""


def check_polygon(polygon: Sequence[Sequence[float]], what: str) -> tuple[Point, ...]:
    """At least 3 points, each in 0..1, with an area; raises ``ValueError`` naming ``what``."""
    points = tuple((float(p[0]), float(p[1])) for p in polygon)
    if len(points) < 3:
        raise ValueError(f"{what}: a polygon needs at least 3 points")
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"{what}: point ({x}, {y}) is outside 0..1")
    area = cv2.contourArea(np.array(points, dtype=np.float32))
    if area <= 1e-6:
        raise ValueError(f"{what}: the polygon has no area")
    return points


def foot_inside(box: FaceBox, zone: RestrictedZone, width: int, height: int) -> bool:
    """Whether the bottom centre of ``box`` (frame pixels) lies inside ``zone``."""
    contour = np.array([(x * width, y * height) for x, y in zone.polygon], dtype=np.float32)
    foot = (float(box.x + box.w / 2.0), float(box.y + box.h))
    return cv2.pointPolygonTest(contour, foot, False) >= 0


def intrusions(
    people: Sequence[HazardDetection], zones: Sequence[RestrictedZone], width: int, height: int
) -> list[tuple[HazardDetection, RestrictedZone]]:
    """Each person (``person`` or ``fall`` box) standing in a restricted zone, with the zone
    (the first zone that holds the foot point)."""
    found: list[tuple[HazardDetection, RestrictedZone]] = []
    for person in people:
        for zone in zones:
            if foot_inside(person.box, zone, width, height):
                found.append((person, zone))
                break
    return found


def _scale_box(box: FaceBox, sx: float, sy: float) -> FaceBox:
    return FaceBox(
        round(box.x * sx), round(box.y * sy), max(1, round(box.w * sx)), max(1, round(box.h * sy))
    )


def water_against_reference(
    reference: Image,
    frame: Image,
    floor_zone: Sequence[Point],
    people: Sequence[FaceBox] = (),
) -> list[HazardDetection]:
    """Water on ``floor_zone`` of ``frame`` against the dry ``reference`` (boxes in the frame's
    pixels). Raises :class:`SceneMismatchError` when the aspect ratios differ."""
    ref_h, ref_w = reference.shape[:2]
    height, width = frame.shape[:2]
    if abs((width / height) / (ref_w / ref_h) - 1.0) > ASPECT_TOLERANCE:
        raise SceneMismatchError(
            f"the frame is {width}x{height}, the camera's reference {ref_w}x{ref_h}: "
            "another aspect ratio is another view"
        )
    sx, sy = ref_w / width, ref_h / height
    work = frame
    if (width, height) != (ref_w, ref_h):
        work = np.ascontiguousarray(
            cv2.resize(frame, (ref_w, ref_h), interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
    detector = WaterDetector(floor_zone, learn_frames=1)
    detector.detect(reference)  # learns the dry floor
    found = detector.detect(work, [_scale_box(b, sx, sy) for b in people])
    return [
        HazardDetection(d.kind, d.score, _scale_box(d.box, 1.0 / sx, 1.0 / sy), d.model_id)
        for d in found
    ]
