"""Issue 22 item 3, the per-model logic: LBPH templates (the second CPU face model), the hub's
embedders by model id, the enrolment's templates for the other models, the edge's composition
of the LBPH backend, and reading an edge's face model from its heartbeat. Real dlib weights and
real packaged photos (the astronaut, Tom Hanks)."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.config import LbphFaceConfig, RecognitionConfig
from edge_agent.face_setup import build_analyzer, face_model_ids, match_threshold
from hub.gallery import _Prepared, embed_other_models, face_model_of
from hub.gallery_models import FaceEmbedders
from innsight.demo import photos
from models import face_lbph
from models.face_dlib import DlibFaceAnalyzer
from models.faces import DetectedFace, Image, ModelUnavailableError
from testkit.face_photos import jpeg, scale


@pytest.fixture(scope="module")
def dlib() -> DlibFaceAnalyzer:
    return DlibFaceAnalyzer(landmarks68=False)


def _face(analyzer: DlibFaceAnalyzer, image: Image) -> DetectedFace:
    return max(analyzer.detect(image), key=lambda f: f.box.area)


def _lbph(analyzer: DlibFaceAnalyzer, image: Image) -> np.ndarray:
    return face_lbph.LbphFaceAnalyzer(analyzer, analyzer).embed(image, _face(analyzer, image))


def test_lbp_codes_of_a_flat_image_are_one_uniform_code() -> None:
    codes = face_lbph.lbp_codes(np.full((8, 8), 100, dtype=np.uint8))
    assert codes.shape == (6, 6)
    assert len(set(codes.ravel().tolist())) == 1  # every neighbour >= centre: code 255
    assert codes[0, 0] != face_lbph.BINS - 1  # 255 is uniform


def test_lbph_matches_its_own_face_and_not_another(dlib: DlibFaceAnalyzer) -> None:
    astronaut, hanks = photos.astronaut_portrait(), photos.tom_hanks()
    enrolled = _lbph(dlib, astronaut)
    assert enrolled.shape == (face_lbph.EMBEDDING_DIM,) == (944,)
    assert float(np.linalg.norm(enrolled)) == pytest.approx(1.0, abs=1e-5)
    edits = [jpeg(astronaut, 60), scale(astronaut, 0.7), (astronaut * 0.8).astype(np.uint8)]
    assert min(float(_lbph(dlib, e) @ enrolled) for e in edits) >= face_lbph.THRESHOLD
    assert float(_lbph(dlib, hanks) @ enrolled) < face_lbph.THRESHOLD
    # a different template space from dlib's ResNet: not even the same dimension
    assert dlib.dim != face_lbph.EMBEDDING_DIM


def test_the_hub_embeds_by_model_id_and_says_why_it_cannot(dlib: DlibFaceAnalyzer) -> None:
    embedders = FaceEmbedders(dlib)
    assert embedders.get("dlib-resnet-v1") is dlib
    lbph = embedders.get("lbph-u2-4x4")
    assert (lbph.model_id, lbph.dim) == ("lbph-u2-4x4", 944)
    assert embedders.get("lbph-u2-4x4") is lbph  # loaded once
    with pytest.raises(ModelUnavailableError, match="sface-2021dec"):
        embedders.get("sface-2021dec")  # not in any package: `innsight models fetch`
    with pytest.raises(ModelUnavailableError, match="cannot embed with face model 'nope'"):
        embedders.get("nope")


def test_one_enrolment_embeds_every_other_model_it_can(dlib: DlibFaceAnalyzer) -> None:
    image = photos.astronaut_portrait()
    prepared = _Prepared(sources=[(image, _face(dlib, image))])
    made, skipped = embed_other_models(
        FaceEmbedders(dlib), ["lbph-u2-4x4", "sface-2021dec"], prepared
    )
    assert set(made) == {"lbph-u2-4x4"}
    assert set(skipped) == {"sface-2021dec"}
    dim, blobs = made["lbph-u2-4x4"]
    assert dim == 944
    assert [len(b) for b in blobs] == [944 * 4]
    assert "fetch" in skipped["sface-2021dec"]


def test_the_edge_composes_the_lbph_backend() -> None:
    recognition = RecognitionConfig(model=LbphFaceConfig(detector="hog"))
    analyzer = build_analyzer(recognition)
    assert analyzer.model_id == "lbph-u2-4x4"
    assert analyzer.dim == 944
    assert "lbph-u2-4x4" in face_model_ids(recognition)
    assert match_threshold(recognition, analyzer.model_id) == face_lbph.THRESHOLD


@pytest.mark.parametrize(
    ("beat", "model"),
    [
        ({"models": {"face": "lbph-u2-4x4", "hazard.x": "x"}}, "lbph-u2-4x4"),
        ({"models": {}}, None),
        ({"models": {"face": ""}}, None),
        ({"models": "dlib"}, None),
        (None, None),
        ("not a heartbeat", None),
    ],
)
def test_an_edges_face_model_is_read_from_its_heartbeat(beat: object, model: str | None) -> None:
    assert face_model_of(beat) == model
