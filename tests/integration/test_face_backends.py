"""The face backends behind one interface: dlib's explicit align step on real photos, the ONNX
backends' pre- and post-processing (their weights cannot be fetched here), their refusal when
the weights are missing, and a gallery of one model refusing another model's embeddings."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from contracts.messages import FacePayload, GalleryPerson, GallerySnapshot
from edge_agent.domain.pipeline import FacePipeline
from edge_agent.index.hnsw_gallery import HnswFaceIndex, encode_embeddings
from edge_agent.ports import Frame
from models.face_align import arcface_crop
from models.face_dlib import CHIP_SIZE, DlibFaceAnalyzer
from models.face_insightface import (
    STRIDES,
    InsightFaceAnalyzer,
    anchor_centres,
    arcface_blob,
    decode_scrfd,
    letterbox,
)
from models.face_yunet import YuNetSFaceAnalyzer, faces_from_yunet
from models.faces import (
    ARCFACE_TEMPLATE_112,
    DetectedFace,
    Embedding,
    FaceBox,
    Image,
    ModelUnavailableError,
    five_from_68,
)
from models.liveness import MiniFasNetLiveness, crop_box, live_probability, preprocess
from testkit.face_photos import astronaut_head, packaged_photo

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def analyzer() -> DlibFaceAnalyzer:
    return DlibFaceAnalyzer(upsample=1)


@pytest.fixture(scope="module")
def astronaut() -> Image:
    return astronaut_head()


# -- dlib: detect -> align -> embed -----


def test_dlib_align_then_embed_is_embed(analyzer: DlibFaceAnalyzer, astronaut: Image) -> None:
    (face,) = analyzer.detect(astronaut)
    aligned = analyzer.align(astronaut, face)
    assert aligned.image.shape == (CHIP_SIZE, CHIP_SIZE, 3)
    assert aligned.source == face
    assert aligned.landmarks is not None
    assert aligned.landmarks.shape == (5, 2)
    one_step = analyzer.embed(astronaut, face)
    two_steps = analyzer.embed_aligned(aligned)
    assert float(one_step @ two_steps) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="150 px"):
        analyzer.embed_aligned(type(aligned)(astronaut, face))


def test_dlib_68_landmarks_sit_on_the_face(analyzer: DlibFaceAnalyzer, astronaut: Image) -> None:
    (face,) = analyzer.detect(astronaut)
    points = analyzer.landmarks68(astronaut, face)
    assert points.shape == (68, 2)
    b = face.box
    inside = (
        (points[:, 0] >= b.x - 0.2 * b.w)
        & (points[:, 0] <= b.x + 1.2 * b.w)
        & (points[:, 1] >= b.y - 0.2 * b.h)
        & (points[:, 1] <= b.y + 1.2 * b.h)
    )
    assert inside.all()
    right_eye, left_eye = five_from_68(points)[:2]
    assert right_eye[0] < left_eye[0]  # the person's right eye is on the image's left
    assert abs(right_eye[1] - left_eye[1]) < 0.1 * b.h


def test_arcface_alignment_puts_the_eyes_where_the_template_wants_them(
    analyzer: DlibFaceAnalyzer,
) -> None:
    hanks = packaged_photo("Tom_Hanks_54745.png")
    (face,) = analyzer.detect(hanks)
    five = five_from_68(analyzer.landmarks68(hanks, face))
    crop = arcface_crop(hanks, five)
    assert crop.shape == (112, 112, 3)
    # find the face again in the aligned crop: its eyes must be where ArcFace expects them
    aligned_points = analyzer.landmarks68(crop, DetectedFace(FaceBox(8, 12, 96, 96), 1.0))
    eyes = five_from_68(aligned_points)[:2]
    assert np.abs(eyes - ARCFACE_TEMPLATE_112[:2]).max() < 6.0


# -- YuNet + SFace: post-processing -----


def test_yunet_rows_become_typed_faces_clipped_and_best_first() -> None:
    rows = np.array(
        [
            [100, 50, 80, 90, 120, 80, 160, 80, 140, 100, 125, 120, 155, 120, 0.82],
            [-10, 300, 60, 70, 5, 320, 30, 320, 18, 340, 8, 355, 28, 355, 0.95],
            [400, 200, 50, 50, 410, 210, 440, 210, 425, 225, 412, 238, 438, 238, 0.40],
        ],
        dtype=np.float32,
    )
    faces = faces_from_yunet(rows, 640, 360, min_score=0.5)
    assert [f.score for f in faces] == pytest.approx([0.95, 0.82])
    assert faces[0].box == FaceBox(0, 300, 50, 59)  # clipped on the left and bottom
    assert faces[1].box == FaceBox(100, 50, 80, 90)
    assert faces[1].landmarks is not None
    assert faces[1].landmarks.tolist()[2] == [140.0, 100.0]  # the nose tip
    assert faces_from_yunet(None, 640, 360) == []


# -- InsightFace SCRFD + ArcFace: pre- and post-processing -----


def scrfd_outputs(
    faces: list[tuple[int, int, tuple[float, float, float, float], float]], size: int = 640
) -> list[np.ndarray]:
    """SCRFD's nine raw outputs with ``faces`` = (stride, anchor index, box in input pixels,
    score) planted at their anchors, everything else silent."""
    scores, boxes, kps = [], [], []
    for stride in STRIDES:
        n = len(anchor_centres(size, size, stride))
        scores.append(np.zeros((n, 1), np.float32))
        boxes.append(np.zeros((n, 4), np.float32))
        kps.append(np.zeros((n, 10), np.float32))
    for stride, anchor, (x0, y0, x1, y1), score in faces:
        s = STRIDES.index(stride)
        cx, cy = anchor_centres(size, size, stride)[anchor]
        scores[s][anchor, 0] = score
        boxes[s][anchor] = np.array([cx - x0, cy - y0, x1 - cx, y1 - cy]) / stride
        eyes_nose_mouth = [(x0 + 0.3 * (x1 - x0), y0 + 0.4 * (y1 - y0))] * 5
        kps[s][anchor] = (np.array(eyes_nose_mouth).reshape(-1) - [cx, cy] * 5) / stride
    return scores + boxes + kps


def test_scrfd_decoding_recovers_planted_faces_and_suppresses_duplicates() -> None:
    centre = anchor_centres(640, 640, 16)[2 * (20 * 40 + 10)]  # row 20, column 10, anchor 0
    assert centre.tolist() == [160.0, 320.0]
    box = (130.0, 280.0, 200.0, 370.0)
    outputs = scrfd_outputs(
        [
            (16, 2 * (20 * 40 + 10), box, 0.9),
            (8, 2 * (40 * 80 + 20) + 1, (131.0, 281.0, 199.0, 369.0), 0.7),  # the same face
            (32, 2 * (5 * 20 + 15), (470.0, 150.0, 540.0, 240.0), 0.8),
            (8, 0, (0.0, 0.0, 20.0, 20.0), 0.3),  # below the score threshold
        ]
    )
    boxes, scores, kps = decode_scrfd(outputs, 640, det_scale=0.5)
    assert scores.tolist() == pytest.approx([0.9, 0.8])
    assert boxes[0] == pytest.approx(np.array(box) / 0.5, abs=1e-3)  # back to image pixels
    assert boxes[1] == pytest.approx(np.array([470, 150, 540, 240]) / 0.5, abs=1e-3)
    assert kps.shape == (2, 5, 2)
    assert kps[0, 0] == pytest.approx([(130 + 21) / 0.5, (280 + 36) / 0.5], abs=1e-3)
    batched = [o[None] for o in outputs]
    assert decode_scrfd(batched, 640, det_scale=0.5)[1].tolist() == pytest.approx([0.9, 0.8])
    with pytest.raises(ValueError, match="9 outputs"):
        decode_scrfd(outputs[:6], 640, det_scale=1.0)


def test_scrfd_letterbox_and_arcface_blob_follow_insightface() -> None:
    image = np.full((480, 640, 3), (0, 128, 255), dtype=np.uint8)  # BGR
    blob, scale = letterbox(image, 640)
    assert blob.shape == (1, 3, 640, 640)
    assert scale == pytest.approx(1.0)
    assert blob[0, :, 0, 0] == pytest.approx([(255 - 127.5) / 128, 0.5 / 128, -127.5 / 128])
    assert blob[0, :, 600, 0] == pytest.approx([-127.5 / 128] * 3)  # the padding below
    aligned = np.full((112, 112, 3), (0, 128, 255), dtype=np.uint8)
    face = arcface_blob(aligned)
    assert face.shape == (1, 3, 112, 112)
    assert face[0, :, 5, 5] == pytest.approx([1.0, 0.5 / 127.5, -1.0])


# -- MiniFASNet: pre- and post-processing -----


def test_minifasnet_crop_follows_silent_face() -> None:
    assert crop_box(FaceBox(300, 200, 100, 100), 640, 480) == FaceBox(215, 115, 270, 270)
    # too close to the corner: the enlarged box is shifted inside the frame
    assert crop_box(FaceBox(10, 10, 100, 100), 640, 480) == FaceBox(0, 0, 270, 270)
    # larger than the frame allows: the scale shrinks to fit
    assert crop_box(FaceBox(200, 100, 300, 300), 640, 480).h == 479


def test_minifasnet_input_and_output() -> None:
    image = np.zeros((480, 640, 3), dtype=np.uint8)
    image[:, :, 2] = 200  # red, BGR order kept
    blob = preprocess(image, DetectedFace(FaceBox(300, 200, 100, 100), 1.0))
    assert blob.shape == (1, 3, 80, 80)
    assert blob.dtype == np.float32
    assert blob[0, :, 40, 40].tolist() == [0.0, 0.0, 200.0]  # 0-255, not divided
    assert live_probability(np.array([[0.0, 3.0, 0.0]])) == pytest.approx(
        math.exp(3) / (math.exp(3) + 2)
    )
    with pytest.raises(ValueError, match="3 logits"):
        live_probability(np.array([1.0, 2.0]))


# -- missing weights -----


@pytest.mark.parametrize(
    ("build", "model_id"),
    [
        (YuNetSFaceAnalyzer, "yunet-2023mar"),
        (InsightFaceAnalyzer, "buffalo_l"),
        (MiniFasNetLiveness, "minifasnet-v2"),
    ],
)
def test_a_backend_without_its_weights_names_the_model_and_the_fix(
    build: type, model_id: str, tmp_path: Path
) -> None:
    with pytest.raises(ModelUnavailableError, match=f"innsight models fetch {model_id}"):
        build(tmp_path)


# -- one gallery, one embedding model -----


class RenamedModel:
    """The real dlib backend claiming to be another embedding model (as a YuNet+SFace edge
    would be, with its 128-d embeddings of another space)."""

    def __init__(self, inner: DlibFaceAnalyzer, model_id: str) -> None:
        self.inner = inner
        self._model_id = model_id
        self.embedded = 0

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def detect(self, image: Image) -> list[DetectedFace]:
        return self.inner.detect(image)

    def embed(self, image: Image, face: DetectedFace) -> Embedding:
        self.embedded += 1
        return self.inner.embed(image, face)


def test_a_gallery_refuses_another_models_embeddings(
    analyzer: DlibFaceAnalyzer, astronaut: Image
) -> None:
    (face,) = analyzer.detect(astronaut)
    index = HnswFaceIndex()
    index.replace(
        GallerySnapshot(
            version=3,
            model_id=analyzer.model_id,
            dim=analyzer.dim,
            created_at=T0,
            people=[
                GalleryPerson(
                    person_id="eileen",
                    embeddings_b64=encode_embeddings(analyzer.embed(astronaut, face)[None, :]),
                )
            ],
        )
    )
    assert index.model_id == "dlib-resnet-v1"

    def names(face_backend: DlibFaceAnalyzer | RenamedModel) -> set[str | None]:
        pipeline = FacePipeline(face_backend, index)
        events = []
        for i in range(4):
            stamp = T0 + timedelta(milliseconds=100 * i)
            events += pipeline.process(Frame("door", i, stamp, astronaut))
        events += pipeline.flush(T0 + timedelta(seconds=1))
        assert events
        return {e.payload.person_id for e in events if isinstance(e.payload, FacePayload)}

    assert names(analyzer) == {"eileen"}  # the right model: recognised
    other = RenamedModel(analyzer, "sface-2021dec")
    assert names(other) == {None}  # same dimension, another space: refused, never matched
    assert other.embedded == 0  # not even embedded: nothing to compare with
    # an embedding of another size cannot even be searched
    with pytest.raises(ValueError, match="512 dims"):
        index.search(np.ones(512, dtype=np.float32) / math.sqrt(512))
