"""models/pixels.py: the fast channel swap and the two-step area shrink give the pictures the
slow idioms gave."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.pixels import shrink_to, swap_red_blue


def _photo(height: int, width: int) -> np.ndarray:
    noise = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return np.asarray(cv2.GaussianBlur(noise, (0, 0), 2), dtype=np.uint8)


def test_swap_red_blue_is_the_channel_reversal_on_a_crop_view() -> None:
    image = _photo(60, 80)
    view = image[10:50, 5:70]  # not contiguous: a crop of the photo
    swapped = swap_red_blue(view)
    assert swapped.flags.c_contiguous
    assert np.array_equal(swapped, view[:, :, ::-1])


@pytest.mark.parametrize(("height", "width", "side"), [(2016, 1512, 640), (1418, 2048, 1280)])
def test_shrink_to_matches_a_direct_area_resize(height: int, width: int, side: int) -> None:
    image = _photo(height, width)
    small, scale = shrink_to(image, side)
    assert max(small.shape[:2]) == side
    assert scale == pytest.approx(side / max(height, width))
    target = (small.shape[1], small.shape[0])
    direct = cv2.resize(image, target, interpolation=cv2.INTER_AREA)
    assert target == (round(width * scale), round(height * scale))
    assert np.abs(small.astype(float) - direct.astype(float)).mean() < 1.5


def test_shrink_to_leaves_a_small_image_alone_and_refuses_nonsense() -> None:
    image = _photo(100, 200)
    same, scale = shrink_to(image, 200)
    assert same is image
    assert scale == 1.0
    with pytest.raises(ValueError, match="max_side"):
        shrink_to(image, 0)
