"""Liveness on clips made from real photos, through the real dlib pipeline (detector, 68-point
landmarks, embedder) and a real hnswlib gallery.

What the clips are (and are not): every clip starts from one still photo (the astronaut), so a
*replayed photo* is the real thing here; the blink (the eyes inpainted shut and a lid line drawn
for two frames), the head turn (the nose region pushed sideways by a smooth warp, as a turning
head moves the nose against the cheeks) and the screen (a fine oblique stripe pattern, as a filmed
display's pixel grid leaves) are synthetic. They show that each cue reacts to what it is meant to
see; they do not measure how often a real person blinks within the window or what a real phone
replay looks like: no such recordings exist in this environment.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
from skimage import data as skimage_data

from contracts.messages import FacePayload, GalleryPerson, GallerySnapshot, LivenessVerdict
from edge_agent.domain.events import PendingEvent
from edge_agent.domain.liveness import LivenessPolicy
from edge_agent.domain.pipeline import FacePipeline
from edge_agent.domain.tracking import TrackerConfig
from edge_agent.index.hnsw_gallery import HnswFaceIndex, encode_embeddings
from edge_agent.ports import Frame
from models.face_dlib import DlibFaceAnalyzer
from models.face_quality import assess
from models.faces import DetectedFace, Embedding, Image, Landmarks

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
ASTRONAUT = "eileen-collins"
POLICY = LivenessPolicy(window_frames=20)
FRAMES = 22


class CachedDlib:
    """The real dlib backend, remembering its answers per image (clips repeat frames across
    tests; HOG takes ~70 ms a 640x480 frame on this CPU)."""

    def __init__(self) -> None:
        self.inner = DlibFaceAnalyzer(upsample=1)
        self._detections: dict[bytes, list[DetectedFace]] = {}
        self._embeddings: dict[tuple[bytes, DetectedFace], Embedding] = {}
        self._landmarks: dict[tuple[bytes, DetectedFace], Landmarks] = {}

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    @staticmethod
    def _key(image: Image) -> bytes:
        return hashlib.sha1(image.tobytes(), usedforsecurity=False).digest()

    def detect(self, image: Image) -> list[DetectedFace]:
        key = self._key(image)
        if key not in self._detections:
            self._detections[key] = self.inner.detect(image)
        return self._detections[key]

    def embed(self, image: Image, face: DetectedFace) -> Embedding:
        key = (self._key(image), face)
        if key not in self._embeddings:
            self._embeddings[key] = self.inner.embed(image, face)
        return self._embeddings[key]

    def landmarks68(self, image: Image, face: DetectedFace) -> Landmarks:
        key = (self._key(image), face)
        if key not in self._landmarks:
            self._landmarks[key] = self.inner.landmarks68(image, face)
        return self._landmarks[key]


@pytest.fixture(scope="module")
def analyzer() -> CachedDlib:
    return CachedDlib()


@pytest.fixture(scope="module")
def portrait() -> Image:
    """The astronaut's head at 1.5x (a face of ~130 px, a person ~1.5 m from a lobby camera)."""
    rgb = skimage_data.astronaut()  # type: ignore[no-untyped-call]
    head = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)[16:236, 120:320]
    return np.ascontiguousarray(cv2.resize(head, None, fx=1.5, fy=1.5))


@pytest.fixture(scope="module")
def landmarks(analyzer: CachedDlib, portrait: Image) -> np.ndarray:
    (face,) = analyzer.detect(portrait)
    return analyzer.landmarks68(portrait, face)


@pytest.fixture(scope="module")
def index(analyzer: CachedDlib, portrait: Image) -> HnswFaceIndex:
    (face,) = analyzer.detect(portrait)
    gallery = HnswFaceIndex()
    gallery.replace(
        GallerySnapshot(
            version=1,
            model_id=analyzer.model_id,
            dim=analyzer.dim,
            created_at=T0,
            people=[
                GalleryPerson(
                    person_id=ASTRONAUT,
                    embeddings_b64=encode_embeddings(analyzer.embed(portrait, face)[None, :]),
                )
            ],
        )
    )
    return gallery


def closed_eyes(image: Image, points: np.ndarray) -> Image:
    """The eyes inpainted with the skin around them, and a dark lid line from corner to corner."""
    out = image.copy()
    for eye in (points[36:42], points[42:48]):
        centre = eye.mean(axis=0)
        width = float(np.linalg.norm(eye[3] - eye[0]))
        blank = np.zeros(image.shape[:2], dtype=np.uint8)
        hull = cv2.convexHull(((eye - centre) * 1.5 + centre).astype(np.int32))
        cv2.fillConvexPoly(blank, hull, 255)
        mask = np.asarray(cv2.dilate(blank, np.ones((3, 3), np.uint8)), dtype=np.uint8)
        out = np.asarray(
            cv2.inpaint(out, mask, max(3, int(width / 4)), cv2.INPAINT_TELEA), dtype=np.uint8
        )
        lid = np.array([eye[0], (eye[0] + eye[3]) / 2 + [0, width * 0.12], eye[3]], np.int32)
        cv2.polylines(out, [lid], False, (40, 30, 30), max(1, round(width / 10)), cv2.LINE_AA)
    return np.asarray(out, dtype=np.uint8)


def turned(image: Image, points: np.ndarray, amount: float) -> Image:
    """The nose region pushed sideways by ``amount`` interocular distances (smoothly)."""
    iod = float(np.linalg.norm(points[42:48].mean(axis=0) - points[36:42].mean(axis=0)))
    nose = points[30]
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    weight = np.exp(-((xx - nose[0]) ** 2 + (yy - nose[1]) ** 2) / (2 * (0.45 * iod) ** 2))
    dx = (amount * iod * weight).astype(np.float32)
    return np.asarray(
        cv2.remap(image, xx - dx, yy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    )


def on_screen(frame: Image) -> Image:
    yy, xx = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]].astype(np.float32)
    stripes = 10 * np.sin(2 * np.pi * (xx * math.cos(0.5) + yy * math.sin(0.5)) / 3.0)
    return np.asarray(np.clip(frame + stripes[..., None], 0, 255), dtype=np.uint8)


def camera(face: Image, i: int, *, wave: bool = True) -> Image:
    """``face`` held in front of a 640x480 camera: moved, turned and tilted like a photo in a
    hand (when ``wave``), with sensor noise and JPEG 80 like a real stream."""
    canvas = np.full((480, 640, 3), 90, dtype=np.uint8)
    h, w = face.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    if wave:
        dx, dy, angle = 8 * math.sin(i / 2), 5 * math.cos(i / 3), 6 * math.sin(i / 4)
        scale, tilt = 1 + 0.08 * math.sin(i / 5), 0.08 * math.sin(i / 3)
    else:
        dx = dy = angle = tilt = 0.0
        scale = 1.0
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[:, 2] += [320 + dx - w / 2, 240 + dy - h / 2]
    dst = np.asarray(cv2.transform(src[None], m)[0], dtype=np.float32)
    dst[0, 0] += tilt * w
    dst[1, 0] -= tilt * w
    warp = cv2.getPerspectiveTransform(src, dst)
    cv2.warpPerspective(face, warp, (640, 480), dst=canvas, borderMode=cv2.BORDER_TRANSPARENT)
    noise = np.random.default_rng(i).normal(0, 3, canvas.shape)
    noisy = np.clip(canvas + noise, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), dtype=np.uint8)


def run_clip(
    analyzer: CachedDlib,
    index: HnswFaceIndex,
    frames: list[Image],
    *,
    require_live: bool = False,
) -> list[FacePayload]:
    pipeline = FacePipeline(
        analyzer,
        index,
        TrackerConfig(liveness=POLICY, require_live=require_live, update_every=1),
        quality_gate=assess,
        landmarker=analyzer,
    )
    events: list[PendingEvent] = []
    stamps = [T0 + timedelta(milliseconds=100 * i) for i in range(len(frames))]
    for i, (image, stamp) in enumerate(zip(frames, stamps, strict=True)):
        events += pipeline.process(Frame("lobby", i, stamp, image))
    events += pipeline.flush(stamps[-1])
    assert len({e.event_id for e in events}) == 1, "one appearance"
    payloads = [e.payload for e in events]
    assert all(isinstance(p, FacePayload) for p in payloads)
    return [p for p in payloads if isinstance(p, FacePayload)]


Clip = Callable[[Image, np.ndarray], list[Image]]


@pytest.fixture(scope="module")
def replayed(portrait: Image) -> list[Image]:
    """The photo waved in front of the camera for 22 frames (2.2 s at 10 frames/s)."""
    return [camera(portrait, i) for i in range(FRAMES)]


def test_a_static_photo_replayed_as_a_clip_is_rejected(
    analyzer: CachedDlib, index: HnswFaceIndex, replayed: list[Image]
) -> None:
    payloads = run_clip(analyzer, index, replayed)
    assert payloads[0].liveness is LivenessVerdict.UNCHECKED
    assert payloads[0].person_id == ASTRONAUT  # recognised, but not (yet) checked
    final = payloads[-1]
    assert final.liveness is LivenessVerdict.SPOOF
    assert final.person_id is None  # a failed check never names anyone
    assert final.liveness_score is not None
    assert final.liveness_score < 0.5
    assert final.score >= 0.93  # the face did match: only liveness withheld the name


def test_with_require_live_a_replayed_photo_is_never_named(
    analyzer: CachedDlib, index: HnswFaceIndex, replayed: list[Image]
) -> None:
    payloads = run_clip(analyzer, index, replayed, require_live=True)
    assert {p.person_id for p in payloads} == {None}
    assert payloads[-1].liveness is LivenessVerdict.SPOOF


def test_a_blink_makes_the_clip_live_and_the_face_is_named(
    analyzer: CachedDlib, index: HnswFaceIndex, portrait: Image, landmarks: np.ndarray
) -> None:
    shut = closed_eyes(portrait, landmarks)
    faces = [portrait] * 8 + [shut] * 2 + [portrait] * 6
    frames = [camera(face, i, wave=False) for i, face in enumerate(faces)]
    payloads = run_clip(analyzer, index, frames, require_live=True)
    assert payloads[0].person_id is None  # not live yet: withheld
    final = payloads[-1]
    assert final.liveness is LivenessVerdict.LIVE
    assert final.person_id == ASTRONAUT
    assert final.liveness_score is not None
    assert final.liveness_score > 0.9


def test_a_head_turn_makes_the_clip_live(
    analyzer: CachedDlib, index: HnswFaceIndex, portrait: Image, landmarks: np.ndarray
) -> None:
    amounts = [0.0, 0.0, 0.0, 0.15, 0.3, 0.4, 0.4, 0.3, 0.15, 0.0, -0.15, -0.3, -0.4, -0.4]
    frames = [camera(turned(portrait, landmarks, a), i, wave=False) for i, a in enumerate(amounts)]
    payloads = run_clip(analyzer, index, frames, require_live=True)
    final = payloads[-1]
    assert final.liveness is LivenessVerdict.LIVE
    assert final.person_id == ASTRONAUT
    assert final.liveness_score is not None
    assert 0.6 <= final.liveness_score <= 0.9


def test_a_screen_replay_is_rejected_even_when_the_face_blinks(
    analyzer: CachedDlib, index: HnswFaceIndex, portrait: Image, landmarks: np.ndarray
) -> None:
    shut = closed_eyes(portrait, landmarks)
    faces = [portrait] * 6 + [shut] * 2 + [portrait] * 4
    frames = [on_screen(camera(face, i, wave=False)) for i, face in enumerate(faces)]
    payloads = run_clip(analyzer, index, frames)
    final = payloads[-1]
    assert final.liveness is LivenessVerdict.SPOOF
    assert final.person_id is None
