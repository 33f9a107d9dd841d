"""BlazeFace post-processing (pure numpy): anchors, decoding, weighted NMS, search windows; and
the converter's TensorFlow SAME padding."""

from __future__ import annotations

import numpy as np
import pytest

from models import blazeface_decode as bf
from models.export.tflite_onnx import same_pads


def test_anchors_are_mediapipes_896_in_layer_order() -> None:
    anchors = bf.ssd_anchors()
    assert anchors.shape == (896, 2)
    # stride 8: 16 x 16 cells, two anchors each; then stride 16: 8 x 8 cells, six anchors each
    assert anchors[0] == pytest.approx([0.5 / 16, 0.5 / 16])
    assert anchors[1] == pytest.approx(anchors[0])
    assert anchors[2] == pytest.approx([1.5 / 16, 0.5 / 16])
    assert anchors[512] == pytest.approx([0.5 / 8, 0.5 / 8])
    assert anchors[512:518] == pytest.approx(np.tile(anchors[512], (6, 1)))
    assert anchors[-1] == pytest.approx([7.5 / 8, 7.5 / 8])


def _raw(anchors: np.ndarray, index: int, box: tuple[float, float, float, float]) -> np.ndarray:
    """Regressors that encode ``box`` (cx, cy, w, h in input pixels) at anchor ``index``."""
    raw = np.zeros((len(anchors), 16), np.float32)
    ax, ay = anchors[index] * bf.INPUT_SIZE
    cx, cy, w, h = box
    raw[index, :4] = [cx - ax, cy - ay, w, h]
    for k in range(bf.NUM_KEYPOINTS):
        raw[index, 4 + 2 * k : 6 + 2 * k] = [cx - ax + k, cy - ay - k]
    return raw


def test_decode_places_boxes_and_keypoints_relative_to_their_anchor() -> None:
    anchors = bf.ssd_anchors()
    raw = _raw(anchors, 600, (70.0, 50.0, 30.0, 40.0))
    logits = np.full(896, -10.0, np.float32)
    logits[600] = 3.0
    found = bf.decode(raw, logits, anchors)
    assert len(found) == 1
    assert found.boxes[0] == pytest.approx([55.0, 30.0, 85.0, 70.0], abs=1e-4)
    assert found.keypoints[0, 2] == pytest.approx([72.0, 48.0], abs=1e-4)
    assert found.scores[0] == pytest.approx(1 / (1 + np.exp(-3.0)))
    logits[600] = -0.5  # below 0.5 after the sigmoid
    assert len(bf.decode(raw, logits, anchors)) == 0
    logits[600] = 1e6  # clipped, no overflow
    assert bf.decode(raw, logits, anchors).scores[0] == pytest.approx(1.0)


def _dets(boxes: list[list[float]], scores: list[float]) -> bf.Detections:
    b = np.asarray(boxes, np.float32)
    points = np.repeat(b[:, None, :2], bf.NUM_KEYPOINTS, axis=1)
    return bf.Detections(b, points, np.asarray(scores, np.float32))


def test_weighted_nms_merges_overlaps_by_score_and_keeps_separate_faces() -> None:
    found = _dets(
        [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5]],
        [0.9, 0.3, 0.8, 0.6],
    )
    merged = bf.weighted_nms(found)
    assert len(merged) == 2
    assert merged.scores.tolist() == pytest.approx([0.9, 0.8])
    expected_x0 = (0 * 0.9 + 1 * 0.3 + 0 * 0.6) / 1.8
    assert merged.boxes[0, 0] == pytest.approx(expected_x0)
    assert merged.keypoints[0, 0, 0] == pytest.approx(expected_x0)
    assert merged.boxes[1].tolist() == pytest.approx([50, 50, 60, 60])
    assert len(bf.weighted_nms(bf.Detections.empty())) == 0


def test_mapping_a_window_back_to_the_image() -> None:
    found = _dets([[10, 20, 30, 40]], [0.9]).mapped(2.5, 100, -20)
    assert found.boxes[0].tolist() == pytest.approx([125, 30, 175, 80])
    assert found.keypoints[0, 0].tolist() == pytest.approx([125, 30])


def test_windows_cover_the_frame_down_to_the_smallest_face() -> None:
    wins = bf.windows(640, 480, 48)
    sides = sorted({w.side for w in wins}, reverse=True)
    assert sides == [640, 320]  # 48 px is 15 % of 320
    small = [w for w in wins if w.side == 320]
    covered = np.zeros((480, 640), bool)
    for w in small:
        covered[max(w.y, 0) : w.y + w.side, max(w.x, 0) : w.x + w.side] = True
    assert covered.all()
    assert len(bf.windows(640, 480, 200)) == 1  # big faces only: the whole frame
    assert len(bf.windows(4000, 3000, 20, max_windows=10)) <= 10
    with pytest.raises(ValueError, match="min_face_px"):
        bf.windows(640, 480, 0)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [(128, 5, 2, (1, 2)), (64, 3, 1, (1, 1)), (64, 2, 2, (0, 0)), (7, 3, 2, (1, 1))],
)
def test_tensorflow_same_padding_puts_the_extra_pixel_at_the_end(
    size: int, kernel: int, stride: int, expected: tuple[int, int]
) -> None:
    assert same_pads(size, kernel, stride) == expected


def test_touching_keeps_the_windows_a_region_overlaps() -> None:
    wins = bf.windows(640, 480, 48)
    assert bf.touching(wins, []) == []
    everywhere = bf.touching(wins, [(0, 0, 640, 480)])
    assert everywhere == wins
    corner = bf.touching(wins, [(5, 5, 10, 10)])  # top-left: the whole frame and one square
    assert 1 < len(corner) < len(wins)
    assert all(w.x <= 5 and w.y <= 5 for w in corner)
    assert bf.touching(wins, [(5, 5, 0, 10)]) == []  # an empty region touches nothing
    # a face whole inside some window is found in the windows touching any part of it
    x, y, side = 300, 200, 90  # the face; a region on its middle only
    kept = bf.touching(wins, [(330, 230, 10, 10)])
    holding = [
        w
        for w in wins
        if w.x <= x and w.y <= y and w.x + w.side >= x + side and w.y + w.side >= y + side
    ]
    assert holding
    assert all(w in kept for w in holding)
