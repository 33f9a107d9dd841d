"""Face snapshots for events: a small JPEG of the face crop, base64, under the inline cap.

Only a crop travels, never the frame (DESIGN §2, §7): a face with some margin, at most
``max_side`` pixels on its longer side. If a crop is still over the inline cap (it never is at
160 px, but the cap is the contract), the quality is lowered step by step before giving up.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass

import cv2
import numpy as np

from contracts.messages import MAX_INLINE_SNAPSHOT_BYTES
from edge_agent.domain.geometry import expand_box
from models.faces import FaceBox, Image

logger = logging.getLogger(__name__)

_MIN_QUALITY = 30


@dataclass(frozen=True, slots=True)
class JpegSnapshotEncoder:
    """Callable ``(image, box) -> base64 JPEG | None``, the pipeline's ``SnapshotEncoder``."""

    margin: float = 0.25
    max_side: int = 160
    quality: int = 80
    max_bytes: int = MAX_INLINE_SNAPSHOT_BYTES

    def __call__(self, image: Image, box: FaceBox) -> str | None:
        return encode_face_snapshot(
            image,
            box,
            margin=self.margin,
            max_side=self.max_side,
            quality=self.quality,
            max_bytes=self.max_bytes,
        )


def encode_face_snapshot(
    image: Image,
    box: FaceBox,
    *,
    margin: float = 0.25,
    max_side: int = 160,
    quality: int = 80,
    max_bytes: int = MAX_INLINE_SNAPSHOT_BYTES,
) -> str | None:
    """Base64 JPEG of ``box`` (grown by ``margin``) in ``image``, or None if it cannot be made.

    ``max_bytes`` bounds the *decoded* JPEG, measured as the contract's validator measures it
    (base64 length x 3/4), so a returned snapshot is always accepted by ``Snapshot``.
    """
    height, width = image.shape[:2]
    crop_box = expand_box(box, margin, width, height)
    if crop_box is None:
        return None
    crop: Image = image[crop_box.y : crop_box.y + crop_box.h, crop_box.x : crop_box.x + crop_box.w]
    longest = max(crop_box.w, crop_box.h)
    if longest > max_side:
        scale = max_side / longest
        size = (max(1, round(crop_box.w * scale)), max(1, round(crop_box.h * scale)))
        crop = np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    q = quality
    while True:
        ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, q])
        if not ok:
            logger.warning("JPEG encoding of a %dx%d face crop failed", crop_box.w, crop_box.h)
            return None
        b64 = base64.b64encode(buf.tobytes()).decode("ascii")
        if len(b64) * 3 // 4 <= max_bytes:
            return b64
        if q <= _MIN_QUALITY:
            logger.warning("face snapshot stays over %d bytes at quality %d: dropped", max_bytes, q)
            return None
        q = max(_MIN_QUALITY, q - 20)
