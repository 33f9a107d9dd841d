"""The hub's face gate (hub/face_gate.py): which faces are "of comparable size", the 0..1 score."""

from __future__ import annotations

import pytest

from hub.face_gate import COMPARABLE_FACE_RATIO, GATE, comparable_faces, quality_score, too_small
from models.face_quality import FaceQuality, QualityPolicy
from models.faces import DetectedFace, FaceBox


def _face(side: int) -> DetectedFace:
    return DetectedFace(FaceBox(0, 0, side, side), 0.9)


@pytest.mark.parametrize(
    ("sides", "expected"),
    [
        ([], 0),
        ([100], 1),
        ([100, 71], 2),  # 71^2 / 100^2 = 0.504: comparable
        ([100, 70], 1),  # 0.49: a passer-by far behind
        ([100, 90, 20, 95], 3),
    ],
)
def test_comparable_faces(sides: list[int], expected: int) -> None:
    assert COMPARABLE_FACE_RATIO == 0.5
    assert comparable_faces([_face(s) for s in sides]) == expected


def test_the_gate_is_the_edges_default_and_the_score_is_bounded() -> None:
    assert QualityPolicy() == GATE  # edge_agent/config.py FaceQualityConfig's defaults
    small = FaceQuality(size_px=39, sharpness=0.3, pose=None, reasons=("face 39 px < 40 px",))
    assert too_small(small)
    assert 0.0 < quality_score(small) < 1.0
    sharp = FaceQuality(size_px=400, sharpness=2.0, pose=None, reasons=())
    assert quality_score(sharp) == 1.0
    assert not too_small(sharp)
