"""The optical-flow adapter that carries face boxes between detections."""

from __future__ import annotations

import numpy as np

from edge_agent.vision.box_flow import LucasKanadeBoxFlow
from models.faces import FaceBox, Image

_PATCH = np.random.default_rng(5).integers(0, 255, (120, 100, 3), dtype=np.uint8)


def frame(x: int | None) -> Image:
    image = np.full((480, 640, 3), 110, dtype=np.uint8)  # a flat wall: nothing to follow
    if x is not None:
        image[150:270, x : x + 100] = _PATCH
    return image


def test_a_textured_face_is_followed_and_a_flat_wall_loses_it() -> None:
    flow = LucasKanadeBoxFlow()
    flow.reset(frame(200))
    box: FaceBox | None = FaceBox(210, 160, 80, 100)
    for step in range(1, 6):
        assert box is not None
        (box,) = flow.track(frame(200 + 6 * step), [box])
    assert box is not None
    assert abs(box.x - 240) <= 2
    assert abs(box.y - 160) <= 2
    assert abs(box.w - 80) <= 4
    assert flow.track(frame(None), [box]) == [None]


def test_nothing_to_move_from_before_a_reset() -> None:
    assert LucasKanadeBoxFlow().track(frame(100), [FaceBox(0, 0, 10, 10)]) == [None]
