"""A "room" composed of real photos (scikit-image's data images), for housekeeping inspection
tests: the reference in its ready state, another shot of it (shifted, rotated, re-lit, JPEG),
and the same scene with one region partly covered by a patch of another real photo."""

from __future__ import annotations

import cv2
import numpy as np
from skimage import data

from hub.vision.room_inspection import Region, RegionKind
from models.faces import Image

HEIGHT, WIDTH = 600, 800

REGIONS = (
    Region("bed", RegionKind.BED, 0.04, 0.05, 0.54, 0.48),
    Region("bathroom", RegionKind.BATHROOM, 0.62, 0.05, 0.34, 0.40),
    Region("floor", RegionKind.FLOOR, 0.04, 0.58, 0.54, 0.38),
    Region("amenity shelf", RegionKind.AMENITY_SHELF, 0.62, 0.52, 0.34, 0.44),
)


def _bgr(picture: np.ndarray) -> Image:
    rgb = np.asarray(picture, dtype=np.uint8)
    if rgb.ndim == 2:
        rgb = np.stack([rgb] * 3, axis=-1)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _sources() -> list[Image]:
    names = ("chelsea", "coffee", "brick", "rocket")
    return [_bgr(getattr(data, name)()) for name in names]


def reference_room() -> Image:
    """A wall-grey canvas with a real photo in every region."""
    canvas = np.full((HEIGHT, WIDTH, 3), 190, np.uint8)
    for region, source in zip(REGIONS, _sources(), strict=True):
        x0, y0, x1, y1 = region.pixels(WIDTH, HEIGHT)
        canvas[y0:y1, x0:x1] = cv2.resize(source, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    return canvas


def another_shot(
    room: Image,
    *,
    dx: float = 9,
    dy: float = 6,
    angle: float = 1.5,
    gain: float = 1.15,
    quality: int = 80,
) -> Image:
    """The camera moved a little, the light changed, the JPEG is lossy."""
    matrix = cv2.getRotationMatrix2D((WIDTH / 2, HEIGHT / 2), angle, 1.0)
    matrix[:, 2] += np.array([dx, dy])
    moved = cv2.warpAffine(room, matrix, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REPLICATE)
    lit = np.clip(moved.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", lit, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR), dtype=np.uint8)


def with_patch(room: Image, region_name: str, fraction: float = 0.25) -> Image:
    """``fraction`` of the named region covered by the astronaut photo (something left behind)."""
    region = next(r for r in REGIONS if r.name == region_name)
    x0, y0, x1, y1 = region.pixels(WIDTH, HEIGHT)
    side = fraction**0.5
    w, h = int((x1 - x0) * side), int((y1 - y0) * side)
    out = room.copy()
    astronaut = _bgr(data.astronaut())  # type: ignore[no-untyped-call]
    patch = cv2.resize(astronaut, (w, h), interpolation=cv2.INTER_AREA)
    out[y0 + 5 : y0 + 5 + h, x0 + 5 : x0 + 5 + w] = patch
    return out
