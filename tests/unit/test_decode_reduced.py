"""Large JPEGs decoded at a reduced size (libjpeg's DCT scaling), PNGs in full; the refusals
stay as they were."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hub.vision.decode import (
    DECODE_MIN_LONG_SIDE,
    ImageDecodeError,
    decode_image_bytes,
    reduction_factor,
)
from innsight.demo import photos


def _photo(width: int, height: int, ext: str) -> bytes:
    """insightface's t1.jpg resized to ``width`` x ``height`` (a real photo, camera-sized)."""
    image = cv2.resize(photos.group_photo(), (width, height), interpolation=cv2.INTER_LINEAR)
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


@pytest.mark.parametrize(
    ("width", "height", "factor"),
    [(4000, 3000, 2), (8000, 6000, 4), (12800, 3000, 8), (3000, 4000, 2), (3199, 2000, 1)],
)
def test_the_largest_factor_that_keeps_the_long_side(width: int, height: int, factor: int) -> None:
    assert reduction_factor(width, height) == factor
    assert max(width, height) // factor >= DECODE_MIN_LONG_SIDE


def test_a_thin_image_keeps_its_short_side() -> None:
    assert reduction_factor(12800, 200) == 2  # 1/4 would leave 50 px < 64


def test_a_large_jpeg_is_decoded_reduced_and_matches_a_full_decode_resized() -> None:
    data = _photo(3200, 400, ".jpg")  # a panorama: 1600 x 200 at half size
    reduced = decode_image_bytes(data, max_bytes=50_000_000)
    assert reduced.shape == (200, 1600, 3)
    full = decode_image_bytes(data, max_bytes=50_000_000, reduce=False)
    assert full.shape == (400, 3200, 3)
    resized = cv2.resize(full, (1600, 200), interpolation=cv2.INTER_AREA)
    assert float(np.abs(resized.astype(np.int16) - reduced).mean()) < 2.0


def test_png_is_decoded_in_full_and_refusals_are_unchanged() -> None:
    flat = np.zeros((130, 3200, 3), np.uint8)  # a JPEG this size would decode at 1/2
    ok, encoded = cv2.imencode(".png", flat)
    assert ok
    data = encoded.tobytes()
    assert decode_image_bytes(data, max_bytes=50_000_000).shape == (130, 3200, 3)
    with pytest.raises(ImageDecodeError, match="larger than"):
        decode_image_bytes(data, max_bytes=1000)
