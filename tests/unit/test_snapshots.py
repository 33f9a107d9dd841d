"""Face snapshots: a small JPEG crop that always fits the contract's inline cap."""

from __future__ import annotations

import base64

import cv2
import numpy as np

from contracts.messages import Snapshot
from edge_agent.capture.snapshots import JpegSnapshotEncoder, encode_face_snapshot
from models.faces import FaceBox


def decode(b64: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(base64.b64decode(b64), dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_crop_keeps_a_margin_and_is_at_most_160_px() -> None:
    image = np.zeros((480, 640, 3), dtype=np.uint8)
    image[100:300, 200:400] = (0, 0, 255)  # a red "face"
    b64 = JpegSnapshotEncoder()(image, FaceBox(200, 100, 200, 200))
    assert b64 is not None
    crop = decode(b64)
    assert crop.shape[:2] == (160, 160)  # 200 px + 25% each side = 300 px, scaled to 160
    centre = crop[80, 80]
    corner = crop[2, 2]
    assert centre[2] > 200  # still red in the middle
    assert centre[1] < 60
    assert corner.max() < 60  # the margin shows what was around the face
    assert Snapshot(jpeg_b64=b64).jpeg_bytes() is not None


def test_small_faces_are_not_upscaled() -> None:
    image = np.full((480, 640, 3), 128, dtype=np.uint8)
    b64 = encode_face_snapshot(image, FaceBox(10, 10, 40, 30), margin=0.0)
    assert b64 is not None
    assert decode(b64).shape[:2] == (30, 40)


def test_a_crop_over_the_cap_is_shrunk_or_dropped() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    box = FaceBox(0, 0, 640, 480)
    full = encode_face_snapshot(noise, box, max_side=640, quality=95, max_bytes=10**7)
    assert full is not None
    cap = len(full) * 3 // 4 // 2
    smaller = encode_face_snapshot(noise, box, max_side=640, quality=95, max_bytes=cap)
    assert smaller is not None
    assert len(smaller) * 3 // 4 <= cap
    assert encode_face_snapshot(noise, box, max_side=640, max_bytes=1000) is None


def test_a_box_outside_the_image_gives_no_snapshot() -> None:
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    assert encode_face_snapshot(image, FaceBox(200, 200, 10, 10)) is None
