"""YOLOv8 pre/post-processing on hand-made tensors: letterbox, decode, NMS, mapping back."""

from __future__ import annotations

import numpy as np
import pytest

from models.anomaly_yolo import kinds_of, parse_class_names
from models.yolo_decode import (
    PAD_VALUE,
    Candidates,
    box_iou,
    decode,
    letterbox_geometry,
    nms,
    place,
    to_frame,
    to_input,
    to_xywh,
)


def raw_output(
    rows: list[tuple[float, float, float, float, list[float]]], n: int = 50
) -> np.ndarray:
    """A ``[1, 4 + nc, n]`` output with the given anchors first and silent anchors after."""
    nc = len(rows[0][4])
    out = np.zeros((1, 4 + nc, n), dtype=np.float32)
    out[0, 0:4, :] = 10.0  # silent anchors still have a box; their scores are 0
    for i, (cx, cy, w, h, scores) in enumerate(rows):
        out[0, 0:4, i] = (cx, cy, w, h)
        out[0, 4:, i] = scores
    return out


def test_letterbox_of_a_640x480_frame_pads_top_and_bottom() -> None:
    box = letterbox_geometry(640, 480, 640, 640)
    assert (box.scale, box.new_w, box.new_h, box.pad_x, box.pad_y) == (1.0, 640, 480, 0, 80)


def test_letterbox_of_a_portrait_frame_pads_left_and_right() -> None:
    box = letterbox_geometry(810, 1080, 640, 640)
    assert box.new_h == 640
    assert box.new_w == 480
    assert box.pad_x == 80
    assert box.pad_y == 0
    assert box.scale == pytest.approx(640 / 1080)


def test_letterbox_rejects_empty_sizes() -> None:
    with pytest.raises(ValueError, match="positive"):
        letterbox_geometry(0, 480, 640, 640)


def test_place_puts_the_image_at_the_offset_on_grey() -> None:
    box = letterbox_geometry(4, 2, 4, 4)
    image = np.full((2, 4, 3), 7, dtype=np.uint8)
    canvas = place(image, box)
    assert canvas.shape == (4, 4, 3)
    assert (canvas[1:3] == 7).all()
    assert (canvas[0] == PAD_VALUE).all()
    assert (canvas[3] == PAD_VALUE).all()
    with pytest.raises(ValueError, match="expected 4x2"):
        place(np.zeros((3, 4, 3), dtype=np.uint8), box)


def test_to_input_is_rgb_nchw_in_unit_range() -> None:
    bgr = np.zeros((2, 3, 3), dtype=np.uint8)
    bgr[..., 0] = 255  # blue
    tensor = to_input(bgr)
    assert tensor.shape == (1, 3, 2, 3)
    assert tensor.dtype == np.float32
    assert tensor.flags["C_CONTIGUOUS"]
    assert (tensor[0, 2] == 1.0).all()  # blue is the last RGB channel
    assert (tensor[0, 0] == 0.0).all()


def test_decode_keeps_the_best_class_of_each_anchor_over_the_floor() -> None:
    out = raw_output([(100, 100, 20, 40, [0.9, 0.2]), (300, 50, 10, 10, [0.1, 0.6])])
    got = decode(out, 0.5)
    assert len(got) == 2
    np.testing.assert_allclose(got.boxes[0], [90, 80, 110, 120])
    assert got.classes.tolist() == [0, 1]
    np.testing.assert_allclose(got.scores, [0.9, 0.6])


def test_decode_with_per_class_floors_drops_unlisted_classes() -> None:
    out = raw_output([(100, 100, 20, 40, [0.9, 0.2]), (300, 50, 10, 10, [0.1, 0.6])])
    assert decode(out, {1: 0.5}).classes.tolist() == [1]
    assert decode(out, {0: 0.95, 1: 0.5}).classes.tolist() == [1]
    assert len(decode(out, 0.95)) == 0


def test_decode_rejects_shapes_that_are_not_yolov8() -> None:
    with pytest.raises(ValueError, match="4 \\+ nc"):
        decode(np.zeros((1, 4, 10), dtype=np.float32), 0.5)
    with pytest.raises(ValueError, match="batch of one"):
        decode(np.zeros((2, 6, 10), dtype=np.float32), 0.5)


def candidates(boxes: list[list[float]], scores: list[float], classes: list[int]) -> Candidates:
    return Candidates(
        np.asarray(boxes, dtype=np.float32),
        np.asarray(scores, dtype=np.float32),
        np.asarray(classes, dtype=np.int64),
    )


def test_nms_merges_overlapping_boxes_of_one_class_only() -> None:
    got = nms(
        candidates(
            [[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]],
            [0.8, 0.9, 0.7, 0.6],
            [0, 0, 1, 0],
        ),
        0.45,
    )
    # the 0.9 box absorbs the 0.8 one (same class, IoU 0.68); the class-1 box stays
    assert got.scores.tolist() == pytest.approx([0.9, 0.7, 0.6])
    assert got.classes.tolist() == [0, 1, 0]


def test_nms_keeps_boxes_that_touch_less_than_the_threshold() -> None:
    got = nms(candidates([[0, 0, 10, 10], [6, 0, 16, 10]], [0.9, 0.8], [0, 0]), 0.45)
    assert len(got) == 2  # IoU 4/16 = 0.25


def test_nms_caps_the_number_of_boxes_and_handles_nothing() -> None:
    many = candidates([[i * 20, 0, i * 20 + 10, 10] for i in range(10)], [0.5] * 10, [0] * 10)
    assert len(nms(many, 0.45, max_det=3)) == 3
    assert len(nms(candidates([[0, 0, 1, 1]], [0.5], [0]).take(np.array([], np.int64)), 0.5)) == 0
    with pytest.raises(ValueError, match="iou_threshold"):
        nms(many, 1.5)


def test_box_iou_of_disjoint_identical_and_degenerate_boxes() -> None:
    ref = np.array([0, 0, 10, 10], dtype=np.float32)
    others = np.array([[20, 20, 30, 30], [0, 0, 10, 10], [5, 5, 5, 5]], dtype=np.float32)
    assert box_iou(ref, others).tolist() == pytest.approx([0.0, 1.0, 0.0])


def test_boxes_map_back_to_the_frame_and_are_clipped() -> None:
    box = letterbox_geometry(1280, 720, 640, 640)  # scale 0.5, pad_y 140
    mapped = to_frame(np.array([[10, 150, 110, 250], [-5, 100, 700, 600]], np.float32), box)
    np.testing.assert_allclose(mapped[0], [20, 20, 220, 220])
    np.testing.assert_allclose(mapped[1], [0, 0, 1280, 720])
    assert to_frame(np.zeros((0, 4), np.float32), box).shape == (0, 4)


def test_to_xywh_rounds_outwards_and_drops_empty_boxes() -> None:
    assert to_xywh(10.4, 20.6, 30.2, 40.0) == (10, 20, 21, 20)
    assert to_xywh(5.0, 5.0, 5.0, 9.0) is None


def test_class_names_from_ultralytics_and_json_metadata() -> None:
    assert parse_class_names("{0: 'Normal', 1: 'Fall'}") == {0: "Normal", 1: "Fall"}
    assert parse_class_names('{"0": "smoke", "1": "fire"}') == {0: "smoke", 1: "fire"}
    assert parse_class_names('["fire", "smoke"]') == {0: "fire", 1: "smoke"}
    assert parse_class_names("__import__('os')") == {}
    assert parse_class_names(None) == {}
    assert kinds_of({0: "Normal", 1: "Fall", 2: "dog"}) == {0: "person", 1: "fall"}
    assert kinds_of({0: "smoke", 1: "fire"}) == {0: "smoke", 1: "fire"}
