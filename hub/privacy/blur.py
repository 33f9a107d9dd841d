"""Other people's faces blurred out of a subject's snapshots (a subject access export must not
disclose third parties). Pure: numpy + OpenCV on boxes the caller found."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from models.faces import FaceBox, Image

SAME_FACE_OVERLAP = 0.5  # intersection / the smaller box: two boxes of one face
_MARGIN = 0.2  # blurred area around a face box, a fraction of its side
_PIXELATE = 8  # the blurred area is first shrunk to about this many cells a side


def fits(shape: tuple[int, ...], box: FaceBox) -> bool:
    """Whether ``box`` lies inside an image of ``shape`` (then it is in that image's pixels)."""
    height, width = shape[:2]
    return box.x >= 0 and box.y >= 0 and box.x + box.w <= width and box.y + box.h <= height


def overlap(a: FaceBox, b: FaceBox) -> float:
    """Intersection over the smaller box's area (0..1)."""
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    if w <= 0 or h <= 0:
        return 0.0
    return (w * h) / max(1, min(a.area, b.area))


def subject_of(
    shape: tuple[int, ...], stored: FaceBox | None, found: Sequence[FaceBox]
) -> FaceBox | None:
    """The subject's face: the event's stored box when the snapshot is the camera frame (the box
    fits), else (a crop around the subject) the largest face found, else none."""
    if stored is not None and fits(shape, stored):
        return stored
    return max(found, key=lambda b: b.area) if found else None


def others(subject: FaceBox | None, boxes: Sequence[FaceBox]) -> list[FaceBox]:
    """The boxes that are not the subject's face."""
    if subject is None:
        return list(boxes)
    return [b for b in boxes if overlap(b, subject) < SAME_FACE_OVERLAP]


def blur_box(image: Image, box: FaceBox) -> None:
    """Pixelates then blurs ``box`` (with a margin) in place: the face cannot be recognised."""
    height, width = image.shape[:2]
    dx, dy = int(box.w * _MARGIN), int(box.h * _MARGIN)
    x0, y0 = max(0, box.x - dx), max(0, box.y - dy)
    x1, y1 = min(width, box.x + box.w + dx), min(height, box.y + box.h + dy)
    if x1 <= x0 or y1 <= y0:
        return
    region = image[y0:y1, x0:x1]
    small = cv2.resize(
        region,
        (
            max(1, (x1 - x0) // max(1, (x1 - x0) // _PIXELATE)),
            max(1, (y1 - y0) // max(1, (y1 - y0) // _PIXELATE)),
        ),
        interpolation=cv2.INTER_AREA,
    )
    coarse = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    kernel = max(3, (min(x1 - x0, y1 - y0) // 4) | 1)
    image[y0:y1, x0:x1] = cv2.GaussianBlur(coarse, (kernel, kernel), 0)


def blur_all_but(image: Image, keep: FaceBox | None) -> None:
    """No face detector: everything but the subject's box is blurred (safe fallback)."""
    saved = None
    if keep is not None:
        saved = image[keep.y : keep.y + keep.h, keep.x : keep.x + keep.w].copy()
    height, width = image.shape[:2]
    blur_box(image, FaceBox(0, 0, width, height))
    if keep is not None and saved is not None:
        image[keep.y : keep.y + keep.h, keep.x : keep.x + keep.w] = saved


def redact(
    image: Image,
    *,
    stored: FaceBox | None,
    found: Sequence[FaceBox] | None,
    extra: Sequence[FaceBox] = (),
) -> tuple[Image, int]:
    """A copy of ``image`` with every face but the subject's blurred, and how many were.

    ``stored``: the event's box of the subject; ``found``: faces a detector found in the
    snapshot (``None``: no detector, so all but the subject is blurred); ``extra``: boxes of
    other people's events in the same frame."""
    out = np.ascontiguousarray(image.copy())
    subject = subject_of(out.shape, stored, found or ())
    if found is None:
        blur_all_but(out, subject)
        return out, -1
    targets = others(subject, [*found, *(b for b in extra if fits(out.shape, b))])
    for box in targets:
        blur_box(out, box)
    return out, len(targets)
