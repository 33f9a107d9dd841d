"""Box arithmetic: IoU, clipping to the frame, margins and centre distance."""

from __future__ import annotations

import numpy as np
import pytest

from contracts.messages import BBox
from edge_agent.domain.geometry import (
    Rect,
    centre_distance,
    clip_box,
    expand_box,
    iou,
    iou_matrix,
)
from models.faces import FaceBox


def test_iou_of_a_box_with_itself_is_one() -> None:
    assert iou(FaceBox(10, 20, 30, 40), FaceBox(10, 20, 30, 40)) == pytest.approx(1.0)


def test_iou_of_half_shifted_boxes_is_one_third() -> None:
    # 50 px² shared, 150 px² covered
    assert iou(Rect(0, 0, 10, 10), Rect(5, 0, 10, 10)) == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "other",
    [Rect(20, 20, 5, 5), Rect(10, 0, 10, 10), Rect(0, 10, 10, 10)],
    ids=["apart", "touching-right", "touching-below"],
)
def test_boxes_that_do_not_overlap_have_zero_iou(other: Rect) -> None:
    assert iou(Rect(0, 0, 10, 10), other) == 0.0


def test_iou_accepts_wire_and_perception_boxes_alike() -> None:
    assert iou(BBox(x=0, y=0, w=10, h=10), FaceBox(0, 0, 10, 5)) == pytest.approx(0.5)


def test_iou_matrix_agrees_with_pairwise_iou() -> None:
    rng = np.random.default_rng(7)
    a = [
        Rect(*map(int, rng.integers(0, 50, 2)), *map(int, rng.integers(1, 40, 2))) for _ in range(5)
    ]
    b = [
        Rect(*map(int, rng.integers(0, 50, 2)), *map(int, rng.integers(1, 40, 2))) for _ in range(4)
    ]
    matrix = iou_matrix(a, b)
    assert matrix.shape == (5, 4)
    expected = np.array([[iou(x, y) for y in b] for x in a])
    np.testing.assert_allclose(matrix, expected)
    assert (matrix > 0).any()


def test_iou_matrix_with_no_boxes_is_empty() -> None:
    assert iou_matrix([], [Rect(0, 0, 1, 1)]).shape == (0, 1)
    assert iou_matrix([Rect(0, 0, 1, 1)], []).shape == (1, 0)


def test_centre_distance_is_euclidean_between_centres() -> None:
    assert centre_distance(Rect(0, 0, 2, 2), Rect(3, 4, 2, 2)) == pytest.approx(5.0)


def test_clip_box_keeps_the_part_inside_the_frame() -> None:
    assert clip_box(Rect(-5, -3, 20, 10), 12, 100) == BBox(x=0, y=0, w=12, h=7)


def test_clip_box_of_a_box_outside_the_frame_is_none() -> None:
    assert clip_box(Rect(100, 0, 10, 10), 100, 100) is None
    assert clip_box(Rect(-10, 0, 10, 10), 100, 100) is None


def test_expand_box_adds_a_margin_then_clips() -> None:
    assert expand_box(Rect(20, 20, 10, 20), 0.5, 100, 100) == BBox(x=15, y=10, w=20, h=40)
    assert expand_box(Rect(0, 0, 10, 10), 0.5, 12, 100) == BBox(x=0, y=0, w=12, h=15)


def test_expand_box_refuses_a_negative_margin() -> None:
    with pytest.raises(ValueError, match="margin"):
        expand_box(Rect(0, 0, 10, 10), -0.1, 100, 100)
