"""The dlib backend, the hnswlib gallery and the face pipeline on real photos.

Photos ship inside packages (ENVIRONMENT-NOTES): insightface's t1.jpg (six people) and
Tom_Hanks_54745.png, and scikit-image's astronaut (Eileen Collins). Every test runs the real
detector and embedder on CPU.
"""

from __future__ import annotations

import base64
import importlib.metadata
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
from skimage import data as skimage_data

from contracts.messages import FacePayload, GalleryPerson, GallerySnapshot, Phase
from edge_agent.capture.snapshots import JpegSnapshotEncoder
from edge_agent.domain.events import PendingEvent
from edge_agent.domain.geometry import iou
from edge_agent.domain.matching import DEFAULT_THRESHOLD, decide
from edge_agent.domain.pipeline import FacePipeline
from edge_agent.index.hnsw_gallery import HnswFaceIndex, encode_embeddings
from edge_agent.ports import Frame
from models.face_dlib import DlibFaceAnalyzer
from models.faces import DetectedFace, Embedding, Image

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
ASTRONAUT = "eileen-collins"
HANKS = "tom-hanks"


def _insightface_image(name: str) -> Image:
    try:
        dist = importlib.metadata.distribution("insightface")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("insightface (for its sample photos) is not installed")
    image = cv2.imread(str(dist.locate_file(f"insightface/data/images/{name}")))
    assert image is not None, name
    return np.asarray(image, dtype=np.uint8)


@pytest.fixture(scope="module")
def analyzer() -> DlibFaceAnalyzer:
    return DlibFaceAnalyzer(upsample=1)


@pytest.fixture(scope="module")
def t1() -> Image:
    """t1.jpg at 640 px wide: faces of about 52 px, as a 640x480 camera would see them."""
    image = _insightface_image("t1.jpg")
    height = round(image.shape[0] * 640 / image.shape[1])
    return np.asarray(cv2.resize(image, (640, height), interpolation=cv2.INTER_AREA))


@pytest.fixture(scope="module")
def hanks() -> Image:
    return _insightface_image("Tom_Hanks_54745.png")


@pytest.fixture(scope="module")
def astronaut_head() -> Image:
    """The astronaut's head only: on the whole photo HOG also fires on a patch of her suit."""
    rgb = skimage_data.astronaut()  # type: ignore[no-untyped-call]
    return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)[16:236, 120:320])


def only_face(analyzer: DlibFaceAnalyzer, image: Image) -> DetectedFace:
    faces = analyzer.detect(image)
    assert len(faces) == 1, faces
    return faces[0]


def embedding_of(analyzer: DlibFaceAnalyzer, image: Image) -> Embedding:
    return analyzer.embed(image, only_face(analyzer, image))


def gallery(analyzer: DlibFaceAnalyzer, people: dict[str, Embedding]) -> HnswFaceIndex:
    index = HnswFaceIndex()
    index.replace(
        GallerySnapshot(
            version=1,
            model_id=analyzer.model_id,
            dim=analyzer.dim,
            created_at=T0,
            people=[
                GalleryPerson(person_id=pid, embeddings_b64=encode_embeddings(emb[None, :]))
                for pid, emb in people.items()
            ],
        )
    )
    return index


@pytest.fixture(scope="module")
def astronaut_gallery(analyzer: DlibFaceAnalyzer, astronaut_head: Image) -> HnswFaceIndex:
    return gallery(analyzer, {ASTRONAUT: embedding_of(analyzer, astronaut_head)})


def test_all_six_faces_of_t1_are_found(analyzer: DlibFaceAnalyzer, t1: Image) -> None:
    faces = analyzer.detect(t1)
    assert len(faces) == 6
    assert all(iou(a.box, b.box) == 0 for i, a in enumerate(faces) for b in faces[i + 1 :])
    assert all(40 <= f.box.w <= 70 for f in faces)


def _rotate(image: Image, degrees: float) -> Image:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return np.asarray(cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE))


def _jpeg(image: Image, quality: int) -> Image:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR))


VARIANTS: dict[str, Callable[[Image], Image]] = {
    "flipped": lambda im: np.ascontiguousarray(im[:, ::-1]),
    "scale-0.6": lambda im: np.asarray(
        cv2.resize(im, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    ),
    "scale-1.5": lambda im: np.asarray(cv2.resize(im, None, fx=1.5, fy=1.5)),
    "rotated+15": lambda im: _rotate(im, 15),
    "rotated-15": lambda im: _rotate(im, -15),
    "brighter-30%": lambda im: np.asarray(cv2.convertScaleAbs(im, alpha=1.3)),
    "darker-30%": lambda im: np.asarray(cv2.convertScaleAbs(im, alpha=0.7)),
    "jpeg-40": lambda im: _jpeg(im, 40),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_astronaut_matches_herself_when_the_photo_changes(
    analyzer: DlibFaceAnalyzer,
    astronaut_head: Image,
    astronaut_gallery: HnswFaceIndex,
    variant: str,
) -> None:
    image = VARIANTS[variant](astronaut_head)
    decision = decide(astronaut_gallery.search(embedding_of(analyzer, image)), DEFAULT_THRESHOLD)
    assert decision.person_id == ASTRONAUT


def test_strangers_do_not_match_the_astronaut(
    analyzer: DlibFaceAnalyzer, t1: Image, hanks: Image, astronaut_gallery: HnswFaceIndex
) -> None:
    strangers = [analyzer.embed(t1, face) for face in analyzer.detect(t1)]
    strangers.append(embedding_of(analyzer, hanks))
    assert len(strangers) == 7
    for embedding in strangers:
        matches = astronaut_gallery.search(embedding)
        assert matches[0].person_id == ASTRONAUT  # she is the nearest: the only one enrolled
        assert decide(matches, DEFAULT_THRESHOLD).person_id is None


def _canvas() -> Image:
    return np.full((480, 640, 3), 90, dtype=np.uint8)


def clip_frames(astronaut_head: Image, t1: Image) -> list[Image]:
    """8 frames of the astronaut moving a little, 3 empty frames, 8 frames of t1 (19 in all)."""
    images = []
    h, w = astronaut_head.shape[:2]
    for i in range(8):
        frame = _canvas()
        x, y = 200 + 3 * i, 120 + (i % 3)
        frame[y : y + h, x : x + w] = astronaut_head
        images.append(frame)
    images += [_canvas() for _ in range(3)]
    for i in range(8):
        frame = _canvas()
        top = 18 + (i % 2)
        frame[top : top + t1.shape[0]] = t1
        images.append(frame)
    return images


def test_pipeline_makes_one_event_per_appearance_on_a_real_clip(
    analyzer: DlibFaceAnalyzer, astronaut_head: Image, t1: Image, hanks: Image
) -> None:
    index = gallery(
        analyzer,
        {ASTRONAUT: embedding_of(analyzer, astronaut_head), HANKS: embedding_of(analyzer, hanks)},
    )
    pipeline = FacePipeline(analyzer, index, snapshot_encoder=JpegSnapshotEncoder())
    events: list[PendingEvent] = []
    images = clip_frames(astronaut_head, t1)
    stamps = [T0 + timedelta(milliseconds=100 * i) for i in range(len(images))]
    for i, (image, stamp) in enumerate(zip(images, stamps, strict=True)):
        events += pipeline.process(Frame("lobby", i, stamp, image))
    events += pipeline.flush(stamps[-1])

    appearances: dict[object, list[PendingEvent]] = defaultdict(list)
    for event in events:
        appearances[event.event_id].append(event)
    assert len(appearances) == 1 + 6
    for messages in appearances.values():
        phases = [m.phase for m in messages]
        assert phases[0] is Phase.NEW
        assert phases[-1] is Phase.END
        assert phases.count(Phase.NEW) == phases.count(Phase.END) == 1

    def person(messages: list[PendingEvent]) -> str | None:
        payload = messages[-1].payload
        assert isinstance(payload, FacePayload)
        return payload.person_id

    named = [m for m in appearances.values() if person(m) is not None]
    assert len(named) == 1
    (astronaut,) = named
    assert person(astronaut) == ASTRONAUT
    assert astronaut[0].started_at == stamps[0]
    assert astronaut[-1].ended_at == stamps[7]
    unknown = [m for m in appearances.values() if m is not astronaut]
    assert all(m[0].started_at == stamps[11] for m in unknown)
    assert all(
        isinstance(e.payload, FacePayload) and e.payload.person_id is None
        for m in unknown
        for e in m
    )

    for seq, event in enumerate(events, start=1):
        event.to_envelope("edge-1", seq)  # every message passes the wire contract
        if event.phase is Phase.NEW:
            assert event.snapshot_jpeg_b64 is not None
            jpeg = np.frombuffer(base64.b64decode(event.snapshot_jpeg_b64), dtype=np.uint8)
            crop = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
            assert crop is not None
            assert max(crop.shape[:2]) <= 160

    stats = pipeline.stats
    assert stats.frames == len(images)
    assert stats.embeddings == 4 + 6 * 4  # sightings 1, 2, 5 and 8 of each appearance
    assert stats.detect_s > 0
    assert stats.embed_s > 0
