"""Page preparation before OCR: find the page in a photo, flatten it, make it upright and level,
optionally even out its lighting.

:func:`prepare_page` is what the OCR service calls at the start of reading a page. Everything is
measured on small copies and the full image is warped once, at the end (flattening, turns and
deskew composed into one perspective transform), to at most ``max_side`` pixels:

1. **page** - the paper is the largest bright, unsaturated region (thresholded at Otsu's level
   and at lower ones, for paper in a shadow); its outline is fitted with a quadrilateral whose
   sides are refined by line fits. Only when the region is confidently a page: it fills its
   quadrilateral, covers 8 to 97 % of the photo, no side runs along the photo's border, the
   corners are near right angles and the paper is clearly brighter than its surround.
2. **orient** - the text lines' direction (a docstrum plus the elongation of smeared ink)
   decides a quarter turn, on a found page only (elsewhere the background's texture weighs
   in); ``upside_down`` (a text direction classifier on line crops, from the caller) decides a
   half turn. Steps ``orient:90``, ``orient:180``, ``orient:270`` (clockwise).
3. **deskew** - the angle (up to ``max_skew`` degrees) whose row profile is sharpest, coarse to
   fine; applied when at least ``min_skew`` degrees. Step ``deskew:<degrees>``.
4. **normalise** - (off by default) the page divided by its background (a morphological close
   of a small copy), which flattens shadows and gradients; paper becomes white.

Never harmful by construction: every step either finds what it needs with confidence or does
nothing; with no step the very same array comes back, and ``steps`` names exactly what was
applied.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from models.faces import Image

Gray = npt.NDArray[np.uint8]
UpsideDown = Callable[[Sequence[Gray]], float]  # text-line crops -> P(turned 180 degrees)
Points = npt.NDArray[np.float64]  # (4, 2): x, y of top-left, top-right, bottom-right, bottom-left

MIN_PAGE_FRACTION = 0.08
MAX_PAGE_FRACTION = 0.97
MIN_FILL = 0.98  # of the quadrilateral covered by the paper region
MIN_CORNER_DEGREES = 55.0
MIN_CONTRAST = 25.0  # paper minus surround, on the 0..255 paperness scale
BORDER_PX = 2  # a side whose points lie this close to the photo's edge runs along it
THRESHOLD_STEPS = 5  # Otsu's level and lower ones, for paper in a shadow
THRESHOLD_STEP = 15.0
ORIENT_MARGIN = 1.5  # turn a page when its columns beat its rows by this factor
MIN_LINE_CROPS = 3  # text lines the direction classifier needs to turn a page over
UPSIDE_DOWN = 0.6  # their mean probability of being upside down that turns it
MEASURE_PIXELS = 1_000_000  # the copy of the page its text direction is measured on
SKEW_PIXELS = 300_000  # and its skew
MIN_MARKS, MAX_MARKS, MAX_QUERIES = 20, 4000, 300
MIN_INK_PIXELS, MAX_INK_PIXELS = 200, 60_000


@dataclass(frozen=True)
class GeometryOptions:
    find_page: bool = True
    orient: bool = True
    orient_without_page: bool = False  # quarter-turn a photo in which no page was found
    deskew: bool = True
    normalise: bool = False
    find_side: int = 640  # the copy the page is looked for on
    max_side: int | None = 2400  # cap on the prepared page's longer side (None: its own size)
    max_skew: float = 15.0
    min_skew: float = 0.3


DEFAULT_OPTIONS = GeometryOptions()


@dataclass(frozen=True)
class PreparedPage:
    image: Image  # the page to read (BGR uint8)
    steps: tuple[str, ...]  # what was applied, in order; () when the image is unchanged
    corners: tuple[tuple[float, float], ...] | None = None  # the page found in the input


@dataclass(frozen=True)
class PageQuad:
    corners: Points  # in the coordinates of the image it was found on
    fill: float
    fraction: float
    contrast: float


# ---------------------------------------------------------------------------------------------
# Pure geometry
# ---------------------------------------------------------------------------------------------


def order_corners(points: npt.ArrayLike) -> Points:
    """Four points as top-left, top-right, bottom-right, bottom-left: clockwise (in image
    coordinates) around their centre, starting from the one with the smallest x + y."""
    pts = np.asarray(points, dtype=np.float64).reshape(4, 2)
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    clockwise = pts[np.argsort(angles)]
    start = int(np.argmin(clockwise.sum(axis=1)))
    return np.roll(clockwise, -start, axis=0)


def corner_angles(corners: Points) -> list[float]:
    """The interior angle (degrees) at each corner."""
    result = []
    for i in range(4):
        a = corners[i - 1] - corners[i]
        b = corners[(i + 1) % 4] - corners[i]
        cos = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))
        result.append(math.degrees(math.acos(max(-1.0, min(1.0, cos)))))
    return result


def page_size(corners: Points) -> tuple[int, int]:
    """Width and height of the flat page: the longer of each pair of opposite sides."""
    tl, tr, br, bl = corners
    width = max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))
    height = max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))
    return max(1, round(float(width))), max(1, round(float(height)))


def _intersect(p: npt.NDArray[np.float64], q: npt.NDArray[np.float64]) -> Points | None:
    """Intersection of two lines given as (vx, vy, x0, y0)."""
    (vx1, vy1, x1, y1), (vx2, vy2, x2, y2) = p, q
    det = vx1 * (-vy2) - (-vx2) * vy1
    if abs(det) < 1e-6:
        return None
    t = ((x2 - x1) * (-vy2) - (-vx2) * (y2 - y1)) / det
    return np.array([x1 + t * vx1, y1 + t * vy1], dtype=np.float64)


def refine_corners(
    corners: Points, outline: Points, *, tolerance: float, max_move: float
) -> Points:
    """The corners where straight lines fitted to the outline's points along each side (within
    ``tolerance`` of it, away from its ends) meet: more exact than the polygon's vertices, which
    a bright patch touching a corner drags off. A corner that would move more than ``max_move``
    keeps its first value."""
    lines = []
    for i in range(4):
        a, b = corners[i], corners[(i + 1) % 4]
        side = b - a
        length = float(np.linalg.norm(side))
        if length < 1:
            return corners
        direction = side / length
        rel = outline - a
        along = rel @ direction
        across = np.abs(rel[:, 0] * direction[1] - rel[:, 1] * direction[0])
        near = (across < tolerance) & (along > 0.1 * length) & (along < 0.9 * length)
        if int(near.sum()) < 5:
            lines.append(np.array([direction[0], direction[1], a[0], a[1]]))
            continue
        fitted = cv2.fitLine(outline[near].astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01)
        lines.append(fitted.reshape(4).astype(np.float64))
    refined = corners.copy()
    for i in range(4):
        point = _intersect(lines[i - 1], lines[i])
        if point is not None and float(np.linalg.norm(point - corners[i])) <= max_move:
            refined[i] = point
    return refined


# ---------------------------------------------------------------------------------------------
# Page detection (on a small copy)
# ---------------------------------------------------------------------------------------------


def downscaled(image: Image, side: int, *, coarse: bool = False) -> tuple[Image, float]:
    """``image`` with its longer side at most ``side``, by area averaging, and the scale
    applied. Much larger images are strided first (to twice the size; with ``coarse``, to the
    size: for finding shapes, not reading letters)."""
    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale >= 1.0:
        return image, 1.0
    stride = int(1 / scale) if coarse else int(1 / scale) // 2
    source = image[::stride, ::stride] if stride >= 2 else image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(source, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small, dtype=np.uint8), scale


def paperness(small: Image) -> Gray:
    """Bright and unsaturated is paper: value minus half the saturation, denoised."""
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    value = hsv[:, :, 2].astype(np.int16)
    saturation = hsv[:, :, 1].astype(np.int16)
    score = np.clip(value - saturation // 2, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(cv2.medianBlur(score, 5), dtype=np.uint8)


def _quad_of(contour: npt.NDArray[np.int32]) -> Points | None:
    hull = cv2.convexHull(contour)
    perimeter = cv2.arcLength(hull, closed=True)
    for epsilon in (0.01, 0.02, 0.03, 0.05, 0.08):
        approx = cv2.approxPolyDP(hull, epsilon * perimeter, closed=True)
        if len(approx) == 4:
            return order_corners(approx.reshape(4, 2))
        if len(approx) < 4:
            break
    return None


def _along_border(corners: Points, width: int, height: int) -> bool:
    for i in range(4):
        a, b = corners[i], corners[(i + 1) % 4]
        for axis, limit in ((0, 0), (0, width - 1), (1, 0), (1, height - 1)):
            if abs(a[axis] - limit) <= BORDER_PX and abs(b[axis] - limit) <= BORDER_PX:
                return True
    return False


def _candidate(closed: Gray, threshold: float, kernel: npt.NDArray[np.uint8]) -> PageQuad | None:
    """The largest region of ``closed`` above ``threshold`` as a page, if it passes as one."""
    height, width = closed.shape
    mask = cv2.morphologyEx(((closed > threshold) * 255).astype(np.uint8), cv2.MORPH_OPEN, kernel)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count < 2:
        return None
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    region = (labels == biggest).astype(np.uint8) * 255
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    contour = max(contours, key=cv2.contourArea)
    corners = _quad_of(contour)
    if corners is None:
        return None
    outline = contour.reshape(-1, 2).astype(np.float64)
    corners = refine_corners(
        corners,
        outline,
        tolerance=max(3.0, kernel.shape[0] / 2),
        max_move=0.05 * float(np.linalg.norm(corners[2] - corners[0])),
    )
    fraction = float(cv2.contourArea(corners.astype(np.float32))) / (height * width)
    if not (MIN_PAGE_FRACTION <= fraction <= MAX_PAGE_FRACTION):
        return None
    if min(corner_angles(corners)) < MIN_CORNER_DEGREES or _along_border(corners, width, height):
        return None
    quad_mask = np.zeros_like(region)
    cv2.fillConvexPoly(quad_mask, np.round(corners).astype(np.int32), 255)
    inside = quad_mask > 0
    fill = float(np.count_nonzero(region[inside])) / max(1, int(np.count_nonzero(inside)))
    contrast = float(closed[inside].mean()) - float(closed[~inside].mean())
    if fill < MIN_FILL or contrast < MIN_CONTRAST:
        return None
    return PageQuad(corners, fill, fraction, contrast)


def find_page(small: Image) -> PageQuad | None:
    """The page in ``small`` (a downscaled photo), or None when none is found with confidence.
    The paper map (text closed away) is thresholded at Otsu's level and at lower ones (paper in
    a shadow is darker than paper in the light, but still brighter than its surround); the
    largest region that passes as a page wins (a level that leaks into the background fails
    the checks)."""
    height, width = small.shape[:2]
    side = max(3, round(max(height, width) / 45) | 1)
    kernel = np.ones((side, side), np.uint8)
    closed = np.asarray(cv2.morphologyEx(paperness(small), cv2.MORPH_CLOSE, kernel), np.uint8)
    otsu, _ = cv2.threshold(closed, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    best: PageQuad | None = None
    for step in range(THRESHOLD_STEPS):
        found = _candidate(closed, otsu - step * THRESHOLD_STEP, kernel)
        if found is not None and (best is None or found.fraction > best.fraction):
            best = found
    return best


# ---------------------------------------------------------------------------------------------
# Orientation and skew (on an ink mask of a small copy of the page)
# ---------------------------------------------------------------------------------------------


def ink_mask(gray: Gray) -> Gray:
    """Dark marks on the page, white on black."""
    ink = cv2.adaptiveThreshold(
        gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 25, 15
    )
    return np.ascontiguousarray(ink, dtype=np.uint8)


def shrunk(ink: Gray, pixels: int) -> Gray:
    """``ink`` at about ``pixels`` pixels (a mark stays where any of its ink was)."""
    scale = math.sqrt(pixels / ink.size)
    if scale >= 1:
        return ink
    small = cv2.resize(ink, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray((small > 64) * np.uint8(255), dtype=np.uint8)


def _marks(ink: Gray) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """Stats and centroids of the ink's marks of letter size (no specks, no rules)."""
    _, _, stats, centroids = cv2.connectedComponentsWithStats(ink, connectivity=8)
    size = np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT])
    keep = (size >= 4) & (size <= 60) & (stats[1:, cv2.CC_STAT_AREA] >= 6)
    return np.asarray(stats[1:][keep], np.int32), np.asarray(centroids[1:][keep], np.float64)


def neighbour_direction(centroids: npt.NDArray[np.float64]) -> float:
    """log of how much more often a mark's nearest neighbour lies beside it than above or
    below it: letters sit closer along a line than lines sit to each other, monospaced print
    included (a docstrum, O'Gorman 1993). Misled where small letters blur into words."""
    points = centroids[:MAX_MARKS]  # a contiguous run: neighbours stay in it
    if len(points) < MIN_MARKS:
        return 0.0
    queries = points[:: max(1, len(points) // MAX_QUERIES)]
    distances = ((queries[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)
    distances[distances == 0] = np.inf
    offsets = np.abs(points[np.argmin(distances, axis=1)] - queries)
    beside = int(np.count_nonzero(offsets[:, 0] > 2 * offsets[:, 1]))
    above = int(np.count_nonzero(offsets[:, 1] > 2 * offsets[:, 0]))
    return math.log((beside + 1) / (above + 1))


def _elongation(ink: Gray, kernel: npt.NDArray[np.uint8], min_area: float) -> float:
    """Area-weighted mean log aspect (along the kernel) of the ink's blobs once smeared."""
    smeared = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, kernel)
    _, _, stats, _ = cv2.connectedComponentsWithStats(smeared, connectivity=8)
    width = stats[1:, cv2.CC_STAT_WIDTH].astype(np.float64)
    height = stats[1:, cv2.CC_STAT_HEIGHT].astype(np.float64)
    area = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
    big = area >= min_area
    if not big.any():
        return 0.0
    along = width / height if kernel.shape[1] > 1 else height / width
    return float(np.average(np.log(along[big]), weights=area[big]))


def smear_direction(ink: Gray, stats: npt.NDArray[np.int32]) -> float:
    """How much longer the blobs get smeared along rows than along columns (log aspects):
    smeared along its lines, text becomes long bars; across them, blocks. Misled by
    monospaced columns, right where the docstrum is sure."""
    if len(stats) < MIN_MARKS:
        return 0.0
    thickness = float(
        np.median(np.minimum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]))
    )
    length = max(3, round(3 * thickness))
    min_area = 4 * thickness**2
    rows = _elongation(ink, np.ones((1, length), np.uint8), min_area)
    columns = _elongation(ink, np.ones((length, 1), np.uint8), min_area)
    return rows - columns


def line_direction(ink: Gray) -> float:
    """> 0 when the text lines run horizontally, < 0 when vertically: two measures that fail
    in different places, added (log scales)."""
    stats, centroids = _marks(ink)
    return neighbour_direction(centroids) + smear_direction(ink, stats)


def sharpness(profile: npt.NDArray[np.float64]) -> float:
    """How sharply a row profile (smoothed over 5 rows) alternates between text rows and
    gaps, independent of the page's size."""
    smooth = np.convolve(profile, np.ones(5) / 5, mode="same")
    energy = float(np.sum(smooth**2))
    return float(np.sum(np.diff(smooth) ** 2)) / energy if energy > 0 else 0.0


def best_skew(ink: Gray, *, max_angle: float) -> float:
    """The angle (degrees, counter-clockwise) that levels the text rows: the sharpest row
    profile over 1 degree steps within ±max_angle, then 0.1 degree steps around the best.
    Each profile is the ink pixels' rotated rows counted (no image is rotated)."""
    ys, xs = np.nonzero(ink)
    if len(ys) < MIN_INK_PIXELS:
        return 0.0
    step = max(1, len(ys) // MAX_INK_PIXELS)
    xs = xs[::step].astype(np.float64) - ink.shape[1] / 2
    ys = ys[::step].astype(np.float64) - ink.shape[0] / 2

    def score(angle: float) -> float:
        theta = math.radians(angle)
        rows = np.floor(ys * math.cos(theta) - xs * math.sin(theta)).astype(np.int64)
        return sharpness(np.bincount(rows - rows.min()).astype(np.float64))

    best, best_score = 0.0, score(0.0)
    for angle in np.arange(-max_angle, max_angle + 0.5, 1.0):
        value = score(float(angle))
        if value > best_score:
            best, best_score = float(angle), value
    coarse = best
    for angle in np.arange(coarse - 0.9, coarse + 0.95, 0.1):
        value = score(float(angle))
        if value > best_score:
            best, best_score = float(angle), value
    return round(best, 2)


# ---------------------------------------------------------------------------------------------
# Lighting
# ---------------------------------------------------------------------------------------------


def normalise_lighting(image: Image, *, side: int = 600) -> Image:
    """``image`` divided by its background (a close of a small grey copy, which removes the
    text): shadows and gradients flatten out and the paper becomes white."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    small, _ = downscaled(np.ascontiguousarray(gray), side)
    size = max(5, round(max(small.shape) / 30) | 1)
    background = cv2.medianBlur(cv2.morphologyEx(small, cv2.MORPH_CLOSE, np.ones((size, size))), 5)
    background = cv2.resize(background, (gray.shape[1], gray.shape[0]))
    background = cv2.cvtColor(np.maximum(background, 16), cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(cv2.divide(image, background, scale=255), dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# Entry point: geometry found on small copies, one warp of the full image
# ---------------------------------------------------------------------------------------------


def _scaling(factor: float) -> npt.NDArray[np.float64]:
    return np.diag([factor, factor, 1.0])


def _quarter_clockwise(height: int) -> npt.NDArray[np.float64]:
    """(x, y) -> (height - 1 - y, x): a quarter turn clockwise of a page ``height`` tall."""
    return np.array([[0.0, -1.0, height - 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def _half_turn(width: int, height: int) -> npt.NDArray[np.float64]:
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, -1.0, height - 1.0], [0.0, 0.0, 1.0]])


def text_line_crops(gray: Gray, count: int = 8) -> list[Gray]:
    """Up to ``count`` crops of single text lines from a level page (the longest lines, each
    cut to four times its height: the direction classifier's aspect ratio)."""
    ink = ink_mask(gray)
    smeared = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((1, 9), np.uint8))
    _, _, stats, _ = cv2.connectedComponentsWithStats(smeared, connectivity=8)
    boxes = [
        (int(x), int(y), int(w), int(h))
        for x, y, w, h, _ in stats[1:]
        if 10 <= h <= 80 and w >= 3 * h
    ]
    boxes.sort(key=lambda box: -box[2])
    crops = []
    for x, y, w, h in boxes[:count]:
        pad = max(2, h // 6)
        crop = gray[max(0, y - pad) : y + h + pad, x : x + min(w, 4 * h)]
        crops.append(np.ascontiguousarray(crop, dtype=np.uint8))
    return crops


def _level(width: int, height: int, angle: float) -> tuple[npt.NDArray[np.float64], int, int]:
    """The rotation by ``angle`` degrees (counter-clockwise) onto a canvas keeping every
    corner, and that canvas's size."""
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(height * sin + width * cos), int(height * cos + width * sin)
    matrix[0, 2] += new_w / 2 - width / 2
    matrix[1, 2] += new_h / 2 - height / 2
    return np.vstack([matrix, [0.0, 0.0, 1.0]]), new_w, new_h


def _measure_copy(image: Image, to_page: npt.NDArray[np.float64], size: tuple[int, int]) -> Gray:
    """The page (``to_page`` maps ``image`` onto a ``size`` page) in grey at about
    MEASURE_PIXELS, enough for the letters of small print to stay apart: the page's region
    cut out, shrunk by area averaging (thin strokes survive), then warped."""
    factor = min(1.0, math.sqrt(MEASURE_PIXELS / (size[0] * size[1])))
    width, height = max(1, round(size[0] * factor)), max(1, round(size[1] * factor))
    page = np.array([[0, 0], [size[0], 0], [size[0], size[1]], [0, size[1]]], np.float64)
    region = cv2.perspectiveTransform(page[None], np.linalg.inv(to_page))[0]
    x0, y0 = np.maximum(np.floor(region.min(axis=0)).astype(int), 0)
    x1, y1 = np.ceil(region.max(axis=0)).astype(int)
    gray = np.asarray(cv2.cvtColor(image[y0 : y1 + 1, x0 : x1 + 1], cv2.COLOR_BGR2GRAY), np.uint8)
    small, pre = downscaled(gray, math.ceil(max(gray.shape) * factor))
    shift = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    matrix = _scaling(factor) @ to_page @ shift @ _scaling(1 / pre)
    if not np.allclose(matrix, np.eye(3), atol=1e-6):
        warped = cv2.warpPerspective(
            small, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        return np.ascontiguousarray(warped, dtype=np.uint8)
    return np.ascontiguousarray(small, dtype=np.uint8)


def prepare_page(
    image: Image,
    options: GeometryOptions = DEFAULT_OPTIONS,
    *,
    upside_down: UpsideDown | None = None,
) -> PreparedPage:
    """The page to read from ``image`` (BGR uint8) and the steps applied to get it.
    ``upside_down`` (e.g. models.text_direction.TextDirectionClassifier): the probability
    that text-line crops are turned half a turn; without it a page is never turned 180
    degrees (a sideways page is turned clockwise, which is right for half of them)."""
    steps: list[str] = []
    corners_out: tuple[tuple[float, float], ...] | None = None
    # to_page: the input -> the flat page at the input's own resolution
    to_page = np.eye(3)
    page_w, page_h = image.shape[1], image.shape[0]
    if options.find_page:
        small, scale = downscaled(image, options.find_side, coarse=True)
        found = find_page(small)
        if found is not None:
            corners = found.corners / scale
            corners_out = tuple((float(x), float(y)) for x, y in corners)
            page_w, page_h = page_size(corners)
            target = np.array(
                [[0, 0], [page_w - 1, 0], [page_w - 1, page_h - 1], [0, page_h - 1]], np.float32
            )
            to_page = cv2.getPerspectiveTransform(corners.astype(np.float32), target).astype(
                np.float64
            )
            steps.append("page")
    out_scale = 1.0
    if options.max_side is not None:
        out_scale = min(1.0, options.max_side / max(page_w, page_h))
    to_out = _scaling(out_scale) @ to_page
    out_w, out_h = max(1, round(page_w * out_scale)), max(1, round(page_h * out_scale))
    if options.orient or options.deskew:
        gray = _measure_copy(image, to_page, (page_w, page_h))
        ink = ink_mask(gray)
        turn = 0
        # without a page found, the background's texture weighs in the line direction: no
        # quarter turns then (the half-turn classifier reads text-line crops: still trusted)
        may_turn = options.orient and ("page" in steps or options.orient_without_page)
        if may_turn and line_direction(ink) < -math.log(ORIENT_MARGIN):
            turn = 90
            gray = np.ascontiguousarray(cv2.rotate(gray, cv2.ROTATE_90_CLOCKWISE))
            ink = np.ascontiguousarray(cv2.rotate(ink, cv2.ROTATE_90_CLOCKWISE))
        angle = best_skew(shrunk(ink, SKEW_PIXELS), max_angle=options.max_skew)
        if not options.deskew or abs(angle) < options.min_skew:
            angle = 0.0
        if options.orient and upside_down is not None:
            level, width, height = _level(gray.shape[1], gray.shape[0], angle)
            levelled = cv2.warpAffine(
                gray, level[:2], (width, height), borderMode=cv2.BORDER_REPLICATE
            )
            crops = text_line_crops(np.ascontiguousarray(levelled, dtype=np.uint8))
            if len(crops) >= MIN_LINE_CROPS and upside_down(crops) > UPSIDE_DOWN:
                turn += 180
        if turn in (90, 270):
            to_out = _quarter_clockwise(out_h) @ to_out
            out_w, out_h = out_h, out_w
        if angle:
            level, out_w, out_h = _level(out_w, out_h, angle)
            to_out = level @ to_out
        if turn >= 180:
            to_out = _half_turn(out_w, out_h) @ to_out
        if turn:
            steps.append(f"orient:{turn}")
        if angle:
            steps.append(f"deskew:{angle:g}")
    page = image
    if steps:
        page = np.ascontiguousarray(
            cv2.warpPerspective(
                image,
                to_out,
                (out_w, out_h),
                # cubic: linear blurred the stacked diacritics of Vietnamese print (NGUYỄN read
                # as NGUYÊN on tests/integration/test_ocr_api.py's photographed card)
                flags=cv2.INTER_CUBIC,
                borderMode=cv2.BORDER_REPLICATE,
            ),
            dtype=np.uint8,
        )
    if options.normalise:
        page = normalise_lighting(page)
        steps.append("normalise")
    return PreparedPage(image=page, steps=tuple(steps), corners=corners_out)
