"""MediaPipe BlazeFace + Face Mesh, converted to ONNX at fetch time, on real photos: the edge's
default detector and landmarker against dlib's HOG, 68-point predictor and embeddings."""

from __future__ import annotations

import functools
import importlib.metadata

import cv2
import numpy as np
import pytest

from edge_agent.domain.liveness import eye_openness, interocular
from models.face_blazeface import BlazeFaceDetector, BlazeFaceDlibAnalyzer
from models.face_dlib import DlibFaceAnalyzer
from models.face_mesh import FaceMeshLandmarker
from models.face_quality import estimate_pose
from models.faces import DetectedFace, FaceBox, Image
from models.registry import load_manifest, model_path


def _t1() -> Image:
    dist = importlib.metadata.distribution("insightface")
    image = cv2.imread(str(dist.locate_file("insightface/data/images/t1.jpg")))
    assert image is not None
    return np.asarray(image, dtype=np.uint8)


def _iou_with(box: FaceBox, face: DetectedFace) -> float:
    return _iou(box, face.box)


def _iou(a: FaceBox, b: FaceBox) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / (a.area + b.area - inter)


@pytest.fixture(scope="module")
def t1() -> Image:
    return _t1()


@pytest.fixture(scope="module")
def dlib() -> DlibFaceAnalyzer:
    return DlibFaceAnalyzer(upsample=1)


@pytest.fixture(scope="module")
def blaze(dlib: DlibFaceAnalyzer) -> BlazeFaceDlibAnalyzer:
    return BlazeFaceDlibAnalyzer(BlazeFaceDetector(min_face_px=40), dlib)


@pytest.fixture(scope="module")
def pairs(
    t1: Image, dlib: DlibFaceAnalyzer, blaze: BlazeFaceDlibAnalyzer
) -> list[tuple[DetectedFace, DetectedFace]]:
    """(HOG's face, BlazeFace's face) for each of the six people."""
    theirs = dlib.detect(t1)
    ours = blaze.detect(t1)
    assert len(ours) == len(theirs) == 6
    pairs = []
    for face in theirs:
        pairs.append((face, max(ours, key=functools.partial(_iou_with, face.box))))
    return pairs


def test_the_converted_files_are_the_pinned_ones() -> None:
    import onnxruntime as ort

    manifest = load_manifest()
    for model_id in ("blazeface-short", "facemesh-468"):
        entry = manifest.get(model_id)
        path = model_path(model_id)  # verifies provenance and the pinned export sha256
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        meta = session.get_modelmeta().custom_metadata_map
        assert meta["source_sha256"] == entry.sha256
        assert meta["licence"] == "Apache-2.0"
        assert session.get_inputs()[0].shape[1:] == [3, *entry.input.size]


def test_blazeface_finds_the_faces_hog_finds_and_the_embeddings_stay_dlibs(
    t1: Image,
    dlib: DlibFaceAnalyzer,
    blaze: BlazeFaceDlibAnalyzer,
    pairs: list[tuple[DetectedFace, DetectedFace]],
) -> None:
    """All six people of t1.jpg; the boxes land where HOG puts them; the embedding from the
    BlazeFace box (a crop of the photo) is the dlib backend's own, so galleries keep matching."""
    for theirs, ours in pairs:
        assert _iou(theirs.box, ours.box) >= 0.55
        assert ours.landmarks is not None
        assert ours.landmarks.shape == (5, 2)
        same = float(dlib.embed(t1, theirs) @ blaze.embed(t1, ours))
        assert same >= 0.97
    assert blaze.model_id == "dlib-resnet-v1"


def test_searching_part_of_a_frame_finds_the_faces_there_with_fewer_windows(
    t1: Image, blaze: BlazeFaceDlibAnalyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``detect_within``: the faces with a part inside the regions, found by the windows that
    touch them only; the same boxes as a whole-frame search."""
    runs: list[int] = []
    run = BlazeFaceDetector._run

    def counting(self: BlazeFaceDetector, image: Image, wins: list) -> list:  # type: ignore[type-arg]
        runs.append(len(wins))
        return run(self, image, wins)

    monkeypatch.setattr(BlazeFaceDetector, "_run", counting)
    everyone = blaze.detect(t1)
    whole = sum(runs)
    leftmost = min(everyone, key=lambda f: f.box.x)
    b = leftmost.box
    runs.clear()
    found = blaze.detect_within(t1, [FaceBox(b.x + b.w // 3, b.y + b.h // 3, b.w // 3, b.h // 3)])
    assert sum(runs) < whole
    assert [f.box for f in found if _iou(f.box, b) > 0.5] == [b]
    assert all(f.box.x < t1.shape[1] // 2 for f in found)  # nobody from the far side
    runs.clear()
    assert blaze.detect_within(t1, []) == []
    assert sum(runs) == 0  # nothing to search: no inference


def test_the_mesh_gives_dlibs_68_point_eyes_and_pose(
    t1: Image, dlib: DlibFaceAnalyzer, pairs: list[tuple[DetectedFace, DetectedFace]]
) -> None:
    """The 68-point layout of Face Mesh against dlib's iBUG predictor on the same faces: eye
    points within 13 % of the eye distance, the same yaw to 20 degrees (on the most turned face,
    the mesh and BlazeFace's own keypoints both read ~-52 degrees where dlib reads -36)."""
    mesh = FaceMeshLandmarker()
    for theirs, ours in pairs:
        reference = dlib.landmarks68(t1, theirs)
        points = mesh.landmarks68(t1, ours)
        iod = interocular(reference)
        eyes = np.linalg.norm(points[36:48] - reference[36:48], axis=1) / iod
        assert float(eyes.mean()) < 0.13
        assert abs(estimate_pose(points).yaw_deg - estimate_pose(reference).yaw_deg) < 20
        assert 0.15 < eye_openness(points) < 0.6  # open eyes
