"""Housekeeping inspection: compare a photo of a room with the reference photo of its room type
in the ready state, region by region (bed, towels, bathroom, floor, amenity shelf ...).

Steps (pure: arrays in, a typed result out; no I/O):

1. **Align** the inspection photo onto the reference: ORB features, ratio-tested matches and a
   RANSAC homography; with too few matches or inliers (or a degenerate homography) fall back to
   resizing the photo to the reference's size and say so in the result.
2. **Normalise light**: the aligned photo's grey levels are matched to the reference's (mean and
   spread over the pixels both images cover), so a brighter or darker shot is not "a change".
3. **Compare per region**, over the pixels both images cover: structural dissimilarity (1 - local
   SSIM), colour difference (chroma distance in CIE Lab, so brightness does not count) and edge
   change (Canny edges present in one image and not near an edge of the other). A pixel is
   *changed* when any cue passes its threshold; the region is changed when the changed fraction,
   after a morphological opening that drops isolated pixels, is over the region's limit.
4. **Decide**: a changed region gives its kind's tag (``bed_unmade``, ``towel_missing`` ...) and
   checklist item; the room is ready for a guest when no region changed and the alignment could be
   trusted; the cleaning estimate sums the minutes of the changed regions' tasks.

The thresholds were calibrated on composed rooms made of real photos (scikit-image's data
images): the same scene shifted by ~10 px, rotated by 1.5°, re-lit by -20 %..+15 % and
JPEG-compressed keeps every region at 0.0 % changed pixels (structure 0.02-0.06, chroma 3-8);
a region 12 % covered by a patch of another photo reads 8-12 % changed, a quarter covered 20-26 %;
the limit sits at 4 %.
See tests/unit/test_room_inspection.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from models.faces import Image

# -- thresholds (calibrated: see the module docstring) -----------------------------------------

WORK_SIDE = 640
"""Both images are compared at this longest side (px)."""
ORB_FEATURES = 2000
RATIO_TEST = 0.75
MIN_GOOD_MATCHES = 12
MIN_INLIERS = 10
RANSAC_REPROJ_PX = 4.0
SSIM_WINDOW_SIGMA = 1.5
STRUCTURE_THRESHOLD = 0.55
"""A pixel is structurally changed when its local SSIM is below 1 - this."""
COLOUR_THRESHOLD = 18.0
"""Chroma distance (Lab a*, b* in 0..255 OpenCV units) that counts as a colour change."""
EDGE_TOLERANCE_PX = 3
DEFAULT_MAX_CHANGED_FRACTION = 0.04
"""A region whose changed fraction is over this is reported changed (per-region override)."""
OPENING_PX = 5
BORDER_ERODE_PX = 7


class RegionKind(StrEnum):
    BED = "bed"
    TOWELS = "towels"
    BATHROOM = "bathroom"
    FLOOR = "floor"
    AMENITY_SHELF = "amenity_shelf"
    DESK = "desk"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class KindRule:
    tag: str
    task: str
    minutes: float


RULES: dict[RegionKind, KindRule] = {
    RegionKind.BED: KindRule("bed_unmade", "Make the bed and change the linen", 8.0),
    RegionKind.TOWELS: KindRule("towel_missing", "Replace the towels", 3.0),
    RegionKind.BATHROOM: KindRule(
        "bathroom_needs_cleaning", "Clean the bathroom and replace the towels", 12.0
    ),
    RegionKind.FLOOR: KindRule("floor_needs_cleaning", "Vacuum and mop the floor", 6.0),
    RegionKind.AMENITY_SHELF: KindRule("amenity_incomplete", "Restock the amenities", 3.0),
    RegionKind.DESK: KindRule("desk_untidy", "Tidy and wipe the desk", 3.0),
    RegionKind.OTHER: KindRule("area_changed", "Check the area against the reference", 4.0),
}
SETUP_MINUTES = 2.0
"""Added once when anything needs doing (cart, door, final look)."""


@dataclass(frozen=True, slots=True)
class Region:
    """A named area of the reference photo, in fractions (0..1) of its width and height."""

    name: str
    kind: RegionKind
    x: float
    y: float
    w: float
    h: float
    max_changed_fraction: float = DEFAULT_MAX_CHANGED_FRACTION

    def __post_init__(self) -> None:
        if not (0.0 <= self.x < 1.0 and 0.0 <= self.y < 1.0):
            raise ValueError(f"region {self.name!r}: x and y must be in [0, 1)")
        if not (self.w > 0.0 and self.h > 0.0 and self.x + self.w <= 1.0 + 1e-9):
            raise ValueError(f"region {self.name!r}: x + w must be in (0, 1]")
        if self.y + self.h > 1.0 + 1e-9:
            raise ValueError(f"region {self.name!r}: y + h must be in (0, 1]")
        if not 0.0 < self.max_changed_fraction < 1.0:
            raise ValueError(f"region {self.name!r}: max_changed_fraction must be in (0, 1)")

    @property
    def rule(self) -> KindRule:
        return RULES[self.kind]

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` in an image of ``width`` x ``height``."""
        x0, y0 = round(self.x * width), round(self.y * height)
        x1 = min(width, max(x0 + 1, round((self.x + self.w) * width)))
        y1 = min(height, max(y0 + 1, round((self.y + self.h) * height)))
        return x0, y0, x1, y1


@dataclass(frozen=True, slots=True)
class Alignment:
    method: Literal["homography", "resize"]
    matches: int
    inliers: int
    reason: str | None = None

    @property
    def trusted(self) -> bool:
        return self.method == "homography"


@dataclass(frozen=True, slots=True)
class RegionResult:
    name: str
    kind: RegionKind
    changed: bool
    changed_fraction: float
    structure: float
    """Mean structural dissimilarity (1 - SSIM) over the region."""
    colour: float
    """Mean chroma distance over the region."""
    edges: float
    """Fraction of edge pixels without a counterpart in the other image."""
    coverage: float
    """Fraction of the region the aligned photo covers."""
    tag: str | None
    max_changed_fraction: float = DEFAULT_MAX_CHANGED_FRACTION
    """The region's limit (its ``changed_fraction`` above it: changed)."""
    changed_box: tuple[float, float, float, float] | None = None
    """``(x, y, w, h)`` of its changed pixels, fractions of the reference photo."""


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    region: str
    task: str
    done: bool


@dataclass(frozen=True, slots=True)
class Inspection:
    ready_for_guest: bool
    score: float
    """0..1, 1 = identical to the reference (1 - the mean changed fraction, weighted by area)."""
    tags: list[str]
    checklist: list[ChecklistItem]
    regions: list[RegionResult]
    alignment: Alignment
    estimated_cleaning_minutes: float
    notes: list[str] = field(default_factory=list)


# -- steps -------------------------------------------------------------------------------------


def _u8(array: object) -> Image:
    return np.asarray(array, dtype=np.uint8)


def to_work_size(image: Image, side: int = WORK_SIDE) -> Image:
    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return _u8(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def align(reference: Image, photo: Image) -> tuple[Image, npt.NDArray[np.uint8], Alignment]:
    """``photo`` warped onto ``reference``'s frame, the mask of pixels it covers, and how."""
    height, width = reference.shape[:2]
    full = np.full((height, width), 255, np.uint8)
    orb = cv2.ORB.create(nfeatures=ORB_FEATURES)
    ref_gray = cv2.cvtColor(reference, cv2.COLOR_BGR2GRAY)
    photo_gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    kp_ref, des_ref = orb.detectAndCompute(ref_gray, None)
    kp_photo, des_photo = orb.detectAndCompute(photo_gray, None)

    def resize(
        matches: int, inliers: int, reason: str
    ) -> tuple[Image, npt.NDArray[np.uint8], Alignment]:
        resized = _u8(cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA))
        return resized, full, Alignment("resize", matches, inliers, reason)

    if des_ref is None or des_photo is None or len(kp_ref) < 2 or len(kp_photo) < 2:
        return resize(0, 0, "too few features to align")
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(des_photo, des_ref, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO_TEST * p[1].distance]
    if len(good) < MIN_GOOD_MATCHES:
        return resize(len(good), 0, f"{len(good)} good matches, under {MIN_GOOD_MATCHES}")
    src = np.array([kp_photo[m.queryIdx].pt for m in good], np.float32).reshape(-1, 1, 2)
    dst = np.array([kp_ref[m.trainIdx].pt for m in good], np.float32).reshape(-1, 1, 2)
    found, inlier_mask = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_REPROJ_PX)
    inliers = int(inlier_mask.sum()) if inlier_mask is not None else 0
    if found is None or inliers < MIN_INLIERS:
        return resize(len(good), inliers, f"{inliers} RANSAC inliers, under {MIN_INLIERS}")
    homography: npt.NDArray[np.float64] = np.asarray(found, dtype=np.float64)
    if not _plausible(homography):
        return resize(len(good), inliers, "the homography is degenerate")
    warped = _u8(cv2.warpPerspective(photo, homography, (width, height), flags=cv2.INTER_LINEAR))
    ones = np.full(photo.shape[:2], 255, np.uint8)
    mask = _u8(cv2.warpPerspective(ones, homography, (width, height), flags=cv2.INTER_NEAREST))
    kernel = np.ones((BORDER_ERODE_PX, BORDER_ERODE_PX), np.uint8)
    mask = _u8(cv2.erode(mask, kernel))
    return warped, mask, Alignment("homography", len(good), inliers)


def _plausible(homography: npt.NDArray[np.float64]) -> bool:
    """A photo of the same room from about the same place: no flip, scale within 0.5..2,
    limited perspective."""
    h = homography / homography[2, 2] if homography[2, 2] != 0 else homography
    det = float(np.linalg.det(h[:2, :2]))
    return 0.25 < det < 4.0 and float(np.abs(h[2, :2]).max()) < 0.002


def match_light(
    reference: npt.NDArray[np.float32], photo: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float32]:
    """``photo`` scaled and shifted so its mean and spread over ``mask`` equal ``reference``'s."""
    ref_values, photo_values = reference[mask], photo[mask]
    if ref_values.size == 0:
        return photo
    spread = float(photo_values.std())
    gain = float(ref_values.std()) / spread if spread > 1e-3 else 1.0
    gain = float(np.clip(gain, 0.5, 2.0))
    out: npt.NDArray[np.float32] = (photo - float(photo_values.mean())) * gain + float(
        ref_values.mean()
    )
    return out


def ssim_map(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Local SSIM (Wang et al. 2004, Gaussian window) of two grey images in 0..255."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.asarray(cv2.GaussianBlur(x, (0, 0), SSIM_WINDOW_SIGMA), dtype=np.float32)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    result: npt.NDArray[np.float32] = (num / den).astype(np.float32)
    return result


def change_maps(
    reference: Image, aligned: Image, mask: npt.NDArray[np.uint8]
) -> tuple[
    npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.bool_], npt.NDArray[np.bool_]
]:
    """Per pixel: structural dissimilarity, chroma distance, edge mismatch, and "changed"."""
    valid = mask > 0
    ref_gray = cv2.cvtColor(reference, cv2.COLOR_BGR2GRAY).astype(np.float32)
    photo_gray = cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY).astype(np.float32)
    photo_gray = match_light(ref_gray, photo_gray, valid)
    structure = np.clip(1.0 - ssim_map(ref_gray, photo_gray), 0.0, 2.0).astype(np.float32)

    ref_lab = cv2.cvtColor(cv2.GaussianBlur(reference, (5, 5), 0), cv2.COLOR_BGR2LAB)
    photo_lab = cv2.cvtColor(cv2.GaussianBlur(aligned, (5, 5), 0), cv2.COLOR_BGR2LAB)
    chroma = ref_lab[:, :, 1:].astype(np.float32) - photo_lab[:, :, 1:].astype(np.float32)
    colour = np.sqrt((chroma**2).sum(axis=2)).astype(np.float32)

    ref_edges = _edges(ref_gray)
    photo_edges = _edges(photo_gray)
    kernel = cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * EDGE_TOLERANCE_PX + 1, 2 * EDGE_TOLERANCE_PX + 1)
    )
    near_ref = cv2.dilate(ref_edges, kernel) > 0
    near_photo = cv2.dilate(photo_edges, kernel) > 0
    edge_miss = ((ref_edges > 0) & ~near_photo) | ((photo_edges > 0) & ~near_ref)
    # an edge mismatch marks its neighbourhood, so that an area of new texture reads as an area
    edge_area = cv2.dilate(edge_miss.astype(np.uint8), kernel) > 0

    changed = (structure > STRUCTURE_THRESHOLD) | (colour > COLOUR_THRESHOLD)
    changed &= valid
    opening = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (OPENING_PX, OPENING_PX))
    changed_u8 = cv2.morphologyEx(changed.astype(np.uint8), cv2.MORPH_OPEN, opening)
    changed = (changed_u8 > 0) & valid
    return structure, colour, edge_miss & valid, changed & (edge_area | (colour > COLOUR_THRESHOLD))


def _edges(gray: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    image = np.clip(gray, 0, 255).astype(np.uint8)
    median = float(np.median(image))
    low, high = int(max(0.0, 0.66 * median)), int(min(255.0, 1.33 * median))
    edges = cv2.Canny(cv2.GaussianBlur(image, (5, 5), 0), low, max(high, low + 1))
    return _u8(edges)


def _changed_box(
    changed: npt.NDArray[np.bool_], x0: int, y0: int, width: int, height: int
) -> tuple[float, float, float, float] | None:
    ys, xs = np.nonzero(changed)
    if xs.size == 0:
        return None
    left, top = x0 + int(xs.min()), y0 + int(ys.min())
    right, bottom = x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1
    return (
        round(left / width, 4),
        round(top / height, 4),
        round((right - left) / width, 4),
        round((bottom - top) / height, 4),
    )


def inspect(reference: Image, photo: Image, regions: Sequence[Region]) -> Inspection:
    """Compare ``photo`` with ``reference`` (both BGR) over ``regions``."""
    if not regions:
        raise ValueError("at least one region is needed")
    ref = to_work_size(reference)
    shot = to_work_size(photo)
    aligned, mask, alignment = align(ref, shot)
    structure, colour, edge_miss, changed = change_maps(ref, aligned, mask)
    height, width = ref.shape[:2]
    results: list[RegionResult] = []
    weighted, total_area = 0.0, 0
    for region in regions:
        x0, y0, x1, y1 = region.pixels(width, height)
        area = (x1 - x0) * (y1 - y0)
        valid = mask[y0:y1, x0:x1] > 0
        covered = int(valid.sum())
        coverage = covered / area if area else 0.0
        box: tuple[float, float, float, float] | None = None
        if covered == 0:
            fraction = 1.0
            s_mean = c_mean = e_frac = 0.0
        else:
            fraction = float(changed[y0:y1, x0:x1][valid].mean())
            box = _changed_box(changed[y0:y1, x0:x1], x0, y0, width, height)
            s_mean = float(structure[y0:y1, x0:x1][valid].mean())
            c_mean = float(colour[y0:y1, x0:x1][valid].mean())
            e_frac = float(edge_miss[y0:y1, x0:x1][valid].mean())
        is_changed = fraction > region.max_changed_fraction or coverage < 0.5
        weighted += fraction * area
        total_area += area
        results.append(
            RegionResult(
                name=region.name,
                kind=region.kind,
                changed=is_changed,
                changed_fraction=round(fraction, 4),
                structure=round(s_mean, 4),
                colour=round(c_mean, 3),
                edges=round(e_frac, 4),
                coverage=round(coverage, 3),
                tag=region.rule.tag if is_changed else None,
                max_changed_fraction=region.max_changed_fraction,
                changed_box=box,
            )
        )
    tags = sorted({r.tag for r in results if r.tag is not None})
    checklist = [
        ChecklistItem(region=r.name, task=RULES[r.kind].task, done=not r.changed) for r in results
    ]
    notes: list[str] = []
    if not alignment.trusted:
        notes.append(
            f"the photo could not be aligned to the reference ({alignment.reason}); "
            "retake it from the reference position"
        )
    minutes = sum(RULES[r.kind].minutes for r in results if r.changed)
    if minutes:
        minutes += SETUP_MINUTES
    score = 1.0 - (weighted / total_area if total_area else 1.0)
    return Inspection(
        ready_for_guest=not tags and alignment.trusted,
        score=round(max(0.0, score), 4),
        tags=tags,
        checklist=checklist,
        regions=results,
        alignment=alignment,
        estimated_cleaning_minutes=minutes,
        notes=notes,
    )
