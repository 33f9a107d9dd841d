"""Room inspection logic on a room composed of real photos: alignment, per-region change,
tags, checklist and the ready verdict (no I/O)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hub.vision.room_inspection import (
    RULES,
    SETUP_MINUTES,
    Region,
    RegionKind,
    align,
    inspect,
    ssim_map,
)
from testkit.rooms import REGIONS, another_shot, reference_room, with_patch

TAGS = {
    "bed": "bed_unmade",
    "bathroom": "bathroom_needs_cleaning",
    "floor": "floor_needs_cleaning",
    "amenity shelf": "amenity_incomplete",
}


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return reference_room()


@pytest.mark.parametrize(
    ("dx", "dy", "angle", "gain"),
    [(0, 0, 0.0, 1.0), (9, 6, 1.5, 1.15), (-7, 4, -1.0, 0.8), (12, -8, 2.0, 1.2)],
)
def test_the_same_room_shot_again_is_ready(
    reference: np.ndarray, dx: float, dy: float, angle: float, gain: float
) -> None:
    photo = another_shot(reference, dx=dx, dy=dy, angle=angle, gain=gain)
    result = inspect(reference, photo, REGIONS)
    assert result.alignment.method == "homography"
    assert result.alignment.inliers >= 100
    assert result.ready_for_guest, result
    assert result.tags == []
    assert all(item.done for item in result.checklist)
    assert result.estimated_cleaning_minutes == 0.0
    assert result.score > 0.98
    assert max(r.changed_fraction for r in result.regions) < 0.02


@pytest.mark.parametrize("region", list(TAGS))
def test_a_changed_region_is_named(reference: np.ndarray, region: str) -> None:
    photo = another_shot(with_patch(reference, region, 0.25))
    result = inspect(reference, photo, REGIONS)
    assert not result.ready_for_guest
    assert result.tags == [TAGS[region]]
    changed = [r.name for r in result.regions if r.changed]
    assert changed == [region]
    undone = [item for item in result.checklist if not item.done]
    assert [item.region for item in undone] == [region]
    kind = next(r.kind for r in REGIONS if r.name == region)
    assert undone[0].task == RULES[kind].task
    assert result.estimated_cleaning_minutes == RULES[kind].minutes + SETUP_MINUTES


def test_a_small_change_still_counts(reference: np.ndarray) -> None:
    result = inspect(reference, another_shot(with_patch(reference, "floor", 0.12)), REGIONS)
    assert result.tags == ["floor_needs_cleaning"]


def test_an_unrelated_photo_falls_back_and_is_not_ready(reference: np.ndarray) -> None:
    flat = np.full_like(reference, 120)
    result = inspect(reference, flat, REGIONS)
    assert result.alignment.method == "resize"
    assert result.alignment.reason
    assert not result.ready_for_guest
    assert result.notes


def test_alignment_recovers_a_shift(reference: np.ndarray) -> None:
    shifted = another_shot(reference, dx=15, dy=-10, angle=0.0, gain=1.0, quality=95)
    warped, mask, alignment = align(reference, shifted)
    assert alignment.method == "homography"
    valid = mask > 0
    error = np.abs(warped.astype(np.int16) - reference.astype(np.int16)).mean(axis=2)[valid]
    assert float(np.median(error)) < 4.0


def test_ssim_is_one_for_identical_images() -> None:
    gray = cv2.cvtColor(reference_room(), cv2.COLOR_BGR2GRAY).astype(np.float32)
    assert float(ssim_map(gray, gray).mean()) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    "bad",
    [
        {"x": -0.1, "y": 0.0, "w": 0.5, "h": 0.5},
        {"x": 0.6, "y": 0.0, "w": 0.5, "h": 0.5},
        {"x": 0.0, "y": 0.0, "w": 0.0, "h": 0.5},
        {"x": 0.0, "y": 0.7, "w": 0.5, "h": 0.5},
    ],
)
def test_regions_outside_the_photo_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="region 'r'"):
        Region("r", RegionKind.BED, **bad)


def test_no_regions_is_refused(reference: np.ndarray) -> None:
    with pytest.raises(ValueError, match="at least one region"):
        inspect(reference, reference, [])
