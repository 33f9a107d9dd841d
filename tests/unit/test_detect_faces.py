"""``hub.gallery.detect_faces``: a large photo is searched on a smaller copy, once. A backend
that scales by itself (``ScalingFaceDetector``: BlazeFace at the hub) gets the photo as it is;
any other gets the copy, and its boxes come back in the photo's pixels."""

from __future__ import annotations

import numpy as np

from hub.gallery import detect_faces
from models.faces import DetectedFace, Embedding, FaceBox, Image, ScalingFaceDetector


class Recorder:
    """Finds one face at a fixed place of whatever image it is given; records the sizes."""

    model_id = "recorder-v1"
    dim = 2

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def detect(self, image: Image) -> list[DetectedFace]:
        height, width = image.shape[:2]
        self.seen.append((width, height))
        return [DetectedFace(FaceBox(width // 4, height // 4, width // 8, height // 8), 0.9)]

    def embed(self, image: Image, face: DetectedFace) -> Embedding:
        raise NotImplementedError("detect_faces never embeds")


class ScalingRecorder(Recorder):
    def __init__(self, side: int | None) -> None:
        super().__init__()
        self._side = side

    @property
    def detect_max_side(self) -> int | None:
        return self._side


def test_a_backend_that_scales_by_itself_gets_the_photo_as_it_is() -> None:
    photo = np.zeros((3000, 4000, 3), dtype=np.uint8)
    own = ScalingRecorder(640)
    assert isinstance(own, ScalingFaceDetector)
    [face] = detect_faces(own, photo, max_side=1280)
    assert own.seen == [(4000, 3000)]
    assert face.box == FaceBox(1000, 750, 500, 375)


def test_any_other_backend_gets_a_copy_and_boxes_in_the_photos_pixels() -> None:
    photo = np.zeros((3000, 4000, 3), dtype=np.uint8)
    plain = Recorder()
    assert not isinstance(plain, ScalingFaceDetector)
    [face] = detect_faces(plain, photo, max_side=1280)
    assert plain.seen == [(1280, 960)]
    assert face.box == FaceBox(1000, 750, 500, 375)
    # a backend whose own size is larger than asked for, or unset, is given the copy too
    for side in (2000, None):
        larger = ScalingRecorder(side)
        detect_faces(larger, photo, max_side=1280)
        assert larger.seen == [(1280, 960)]
