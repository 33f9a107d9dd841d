"""The seed-shaped report of a room inspection (hub/vision/room_report.py): status, confidence
from the alignment's inlier ratio and the regions' decision margins, tags, checklist."""

from __future__ import annotations

import pytest

from hub.vision.room_inspection import Alignment, Inspection, RegionKind, RegionResult
from hub.vision.room_report import margin, report


def region(
    name: str, kind: RegionKind, fraction: float, *, coverage: float = 1.0, tag: str | None = None
) -> RegionResult:
    changed = fraction > 0.04 or coverage < 0.5
    return RegionResult(
        name=name,
        kind=kind,
        changed=changed,
        changed_fraction=fraction,
        structure=0.0,
        colour=0.0,
        edges=0.0,
        coverage=coverage,
        tag=tag if changed else None,
        max_changed_fraction=0.04,
    )


def inspection(regions: list[RegionResult], alignment: Alignment) -> Inspection:
    tags = sorted({r.tag for r in regions if r.tag})
    return Inspection(
        ready_for_guest=not tags and alignment.trusted,
        score=0.9,
        tags=tags,
        checklist=[],
        regions=regions,
        alignment=alignment,
        estimated_cleaning_minutes=10.5 if tags else 0.0,
    )


ALIGNED = Alignment("homography", matches=200, inliers=180)


def test_a_clean_room_is_as_sure_as_its_alignment() -> None:
    clean = inspection(
        [region("bed", RegionKind.BED, 0.0), region("floor", RegionKind.FLOOR, 0.0)], ALIGNED
    )
    result = report(clean)
    assert result.overall_status == "clean"
    assert result.confidence == pytest.approx(0.9)
    assert result.tags == []
    assert result.checklist == {
        "bed_made": True,
        "bathroom_clean": None,
        "towels_present": None,
        "amenities_complete": None,
        "floor_clean": True,
    }
    assert result.estimated_cleaning_time_minutes == 0


def test_a_region_near_its_limit_lowers_the_confidence() -> None:
    near = inspection([region("bed", RegionKind.BED, 0.03)], ALIGNED)
    assert report(near).overall_status == "clean"
    assert report(near).confidence == pytest.approx(0.9 * 0.25)


def test_tags_carry_their_margin_and_severity() -> None:
    dirty = inspection(
        [
            region("bed", RegionKind.BED, 0.12, tag="bed_unmade"),
            region("towels", RegionKind.TOWELS, 0.05, tag="towel_missing"),
        ],
        ALIGNED,
    )
    result = report(dirty)
    assert result.overall_status == "dirty"
    tags = {t.label: t for t in result.tags}
    assert tags["bed_unmade"].confidence == pytest.approx(0.9)  # 3x the limit: margin 1
    assert tags["bed_unmade"].severity == "high"
    assert tags["towel_missing"].confidence == pytest.approx(0.9 * 0.25)
    assert tags["towel_missing"].severity == "medium"
    assert result.checklist["bed_made"] is False
    assert result.checklist["towels_present"] is False
    assert result.estimated_cleaning_time_minutes == 11  # rounded up


def test_an_unaligned_photo_is_unverified_with_no_confidence() -> None:
    resized = Alignment("resize", matches=5, inliers=0, reason="5 good matches, under 12")
    result = report(inspection([region("bed", RegionKind.BED, 0.0)], resized))
    assert result.overall_status == "unverified"
    assert result.confidence == 0.0
    assert result.checklist["bed_made"] is None


def test_a_barely_covered_region_has_half_margin() -> None:
    assert margin(region("bed", RegionKind.BED, 0.0, coverage=0.3, tag="bed_unmade")) == 0.5
