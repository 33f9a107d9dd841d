"""An inspection (:mod:`hub.vision.room_inspection`) as the seed API reports it (pure).

- ``overall_status``: ``clean`` (ready for a guest), ``dirty`` (a region changed) or
  ``unverified`` (the photo could not be aligned to the reference: nothing can be said).
- ``confidence`` (0..1): how far the verdict is from flipping. It is the alignment's RANSAC
  inlier ratio (inliers / ratio-tested matches; 0 when the photo could not be aligned) times the
  smallest *decision margin* over the regions, where a region's margin is
  ``|changed_fraction - limit| / limit`` capped at 1 (0: exactly at its limit; 1: at 0 % or at
  twice the limit). A clean room photographed from the reference spot scores near the inlier
  ratio; one region just under or over its limit pulls it down.
- Each tag's ``confidence``: the inlier ratio times that region's margin (a region changed
  because the photo covers under half of it has margin 0.5); ``severity`` by the region's kind.
- ``checklist``: the seed's five items from the regions of their kind (``None``: no region of
  that kind is registered for the room type, or the photo was not aligned).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from hub.vision.room_inspection import Inspection, RegionKind, RegionResult

OverallStatus = Literal["clean", "dirty", "unverified"]
Severity = Literal["low", "medium", "high"]

SEVERITY: dict[RegionKind, Severity] = {
    RegionKind.BED: "high",
    RegionKind.BATHROOM: "high",
    RegionKind.TOWELS: "medium",
    RegionKind.FLOOR: "medium",
    RegionKind.AMENITY_SHELF: "medium",
    RegionKind.DESK: "low",
    RegionKind.OTHER: "low",
}
CHECKLIST: dict[str, RegionKind] = {
    "bed_made": RegionKind.BED,
    "bathroom_clean": RegionKind.BATHROOM,
    "towels_present": RegionKind.TOWELS,
    "amenities_complete": RegionKind.AMENITY_SHELF,
    "floor_clean": RegionKind.FLOOR,
}
LOW_COVERAGE = 0.5
"""Under this coverage a region counts as changed (room_inspection); its margin is 0.5."""


@dataclass(frozen=True, slots=True)
class TagReport:
    label: str
    confidence: float
    severity: Severity
    region: str


@dataclass(frozen=True, slots=True)
class RoomReport:
    overall_status: OverallStatus
    confidence: float
    tags: list[TagReport]
    checklist: dict[str, bool | None]
    estimated_cleaning_time_minutes: int


def inlier_ratio(inspection: Inspection) -> float:
    alignment = inspection.alignment
    if not alignment.trusted or alignment.matches <= 0:
        return 0.0
    return min(1.0, alignment.inliers / alignment.matches)


def margin(region: RegionResult) -> float:
    """How far the region's changed fraction is from its limit, relative to the limit (0..1)."""
    if region.coverage < LOW_COVERAGE:
        return 0.5
    limit = region.max_changed_fraction
    return min(1.0, abs(region.changed_fraction - limit) / limit)


def overall_status(inspection: Inspection) -> OverallStatus:
    if not inspection.alignment.trusted:
        return "unverified"
    return "clean" if inspection.ready_for_guest else "dirty"


def checklist(inspection: Inspection) -> dict[str, bool | None]:
    trusted = inspection.alignment.trusted
    out: dict[str, bool | None] = {}
    for item, kind in CHECKLIST.items():
        regions = [r for r in inspection.regions if r.kind == kind]
        out[item] = all(not r.changed for r in regions) if regions and trusted else None
    return out


def report(inspection: Inspection) -> RoomReport:
    ratio = inlier_ratio(inspection)
    regions: Sequence[RegionResult] = inspection.regions
    worst = min((margin(r) for r in regions), default=0.0)
    tags = [
        TagReport(
            label=r.tag,
            confidence=round(ratio * margin(r), 3),
            severity=SEVERITY[r.kind],
            region=r.name,
        )
        for r in regions
        if r.tag is not None
    ]
    return RoomReport(
        overall_status=overall_status(inspection),
        confidence=round(ratio * worst, 3),
        tags=tags,
        checklist=checklist(inspection),
        estimated_cleaning_time_minutes=math.ceil(inspection.estimated_cleaning_minutes),
    )
