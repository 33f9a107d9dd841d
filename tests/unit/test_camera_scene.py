"""Camera scenes for /anomaly/detect (hub/vision/camera_scene.py): zone polygons, the foot-point
intrusion rule, and the water detector against a single dry reference photo (real floor photo,
simulated puddle: testkit/floors.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hub.vision.camera_scene import (
    RestrictedZone,
    SceneMismatchError,
    check_polygon,
    foot_inside,
    intrusions,
    water_against_reference,
)
from models.anomaly import HazardDetection
from models.faces import FaceBox
from testkit import floors

DOOR = RestrictedZone("door", ((0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0)))


@pytest.mark.parametrize(
    ("points", "reason"),
    [
        ([[0, 0], [1, 1]], "at least 3"),
        ([[0, 0], [1.5, 0], [1, 1]], "outside"),
        ([[0, 0], [0.5, 0.5], [1, 1]], "no area"),
    ],
)
def test_bad_polygons_are_named(points: list[list[float]], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_polygon(points, "restricted_zones[0].polygon")


def test_the_foot_point_decides() -> None:
    standing_in = FaceBox(300, 100, 100, 200)  # feet at (350, 300): inside the lower right
    overlapping = FaceBox(120, 250, 120, 100)  # reaches into the zone, feet at (180, 350) out
    assert foot_inside(standing_in, DOOR, 400, 400)
    assert not foot_inside(overlapping, DOOR, 400, 400)
    people = [
        HazardDetection("person", 0.9, standing_in, "m"),
        HazardDetection("person", 0.9, overlapping, "m"),
    ]
    found = intrusions(people, [DOOR], 400, 400)
    assert [(p.box, z.name) for p, z in found] == [(standing_in, "door")]


def test_water_against_one_reference_photo() -> None:
    zone = [(x, y) for x, y in floors.FLOOR_ZONE]
    dry = floors.dry_floor(1)
    assert water_against_reference(dry, floors.dry_floor(7), zone) == []
    (wet,) = water_against_reference(dry, floors.wet_floor(2), zone)
    assert wet.kind == "water"
    assert 180 <= wet.box.x <= 280
    assert 300 <= wet.box.y <= 350
    # the same view at twice the resolution: boxes come back in the frame's pixels
    big = np.ascontiguousarray(cv2.resize(floors.wet_floor(3), (1280, 960)), dtype=np.uint8)
    (scaled,) = water_against_reference(dry, big, zone)
    assert 360 <= scaled.box.x <= 560
    assert 600 <= scaled.box.y <= 700
    # a person standing on the puddle is masked out
    assert (
        water_against_reference(dry, floors.wet_floor(2), zone, [FaceBox(180, 300, 300, 160)]) == []
    )


def test_another_aspect_ratio_is_another_view() -> None:
    with pytest.raises(SceneMismatchError, match="aspect ratio"):
        water_against_reference(
            floors.dry_floor(), floors.wet_floor()[:, :360], [(0, 0), (1, 0), (1, 1)]
        )
