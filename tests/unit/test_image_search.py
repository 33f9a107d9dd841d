"""Image search: the pure helpers and the per-category hnswlib index (persistence, staleness,
removal, filtered queries, recall against exact search)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from hub.vision.image_index import EXACT_FILTER_MAX, CategoryIndex, Fingerprint, IndexParams
from hub.vision.image_search import (
    ImageCategory,
    check_metadata,
    make_thumbnail,
    merge_hits,
    thumbnail_size,
    vector_from_bytes,
    vector_to_bytes,
)

DIM = 64


def _unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _index(tmp_path: Path, **params: int) -> CategoryIndex:
    return CategoryIndex(tmp_path / "m" / "room.hnsw", DIM, "model-a", IndexParams(**params))


# ---- pure helpers -------------------------------------------------------------------------


def test_categories_are_a_fixed_documented_set() -> None:
    assert [c.value for c in ImageCategory] == [
        "lost_found",
        "room",
        "amenity",
        "incident",
        "general",
    ]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((600, 400), (256, 171)),
        ((400, 600), (171, 256)),
        ((100, 80), (100, 80)),
        ((256, 9), (256, 9)),
    ],
)
def test_thumbnail_size_keeps_aspect_and_never_upscales(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert thumbnail_size(*size) == expected


def test_make_thumbnail_is_a_small_jpeg() -> None:
    image = np.zeros((400, 600, 3), np.uint8)
    image[:, 300:] = (0, 0, 255)
    data = make_thumbnail(image)
    assert data[:2] == b"\xff\xd8"
    thumb = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert thumb.shape == (171, 256, 3)
    assert thumb[80, 200, 2] > 200  # the red half stayed red
    assert thumb[80, 50].max() < 30


def test_check_metadata_limits() -> None:
    assert check_metadata({"b": 1, "a": "x"}) == '{"a":"x","b":1}'
    assert check_metadata({"name": "Nguyễn"}) == '{"name":"Nguyễn"}'
    with pytest.raises(ValueError, match="keys"):
        check_metadata({str(i): i for i in range(33)})
    with pytest.raises(ValueError, match="bytes"):
        check_metadata({f"k{i}": "x" * 500 for i in range(20)})


def test_vector_bytes_round_trip() -> None:
    vector = np.array([0.5, -0.25, 1e-8, 3.0], dtype=np.float32)
    data = vector_to_bytes(vector)
    assert len(data) == 16
    assert data[:4] == np.float32(0.5).tobytes()  # little-endian float32
    assert np.array_equal(vector_from_bytes(data), vector)


def test_merge_hits_thresholds_sorts_and_cuts() -> None:
    hits = [(3, 0.4), (1, 0.9), (7, 0.9), (2, 0.55), (5, 0.2)]
    assert merge_hits(hits, top_k=3, threshold=0.5) == [(1, 0.9), (7, 0.9), (2, 0.55)]
    assert merge_hits(hits, top_k=10, threshold=0.95) == []
    assert merge_hits([], top_k=5, threshold=0.0) == []


# ---- the index ----------------------------------------------------------------------------


def test_query_returns_cosine_similarity_best_first(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    vectors = _unit(rng, 50)
    index = _index(tmp_path)
    index.rebuild(list(range(100, 150)), vectors)
    hits = index.query(vectors[7], 5)
    assert hits[0][0] == 107
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
    expected = sorted(
        ((100 + i, float(vectors[i] @ vectors[7])) for i in range(50)), key=lambda p: -p[1]
    )
    assert [h[0] for h in hits] == [p[0] for p in expected[:5]]
    assert [h[1] for h in hits] == pytest.approx([p[1] for p in expected[:5]], abs=1e-5)
    assert len(index.query(vectors[0], 500)) == 50  # k larger than the index


def test_add_grows_past_capacity_and_ignores_repeats(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    vectors = _unit(rng, 40)
    index = _index(tmp_path, initial_capacity=16)
    for i, vector in enumerate(vectors):
        index.add(i + 1, vector)
    index.add(1, vectors[0])
    assert len(index) == 40
    assert index.query(vectors[39], 1)[0][0] == 40
    assert index.fingerprint == Fingerprint(40, 40, sum(range(1, 41)))


def test_remove_hides_an_image(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    vectors = _unit(rng, 10)
    index = _index(tmp_path)
    index.rebuild(list(range(1, 11)), vectors)
    assert index.remove(4)
    assert not index.remove(4)
    assert 4 not in [h[0] for h in index.query(vectors[3], 10)]
    assert len(index.query(vectors[3], 10)) == 9
    assert index.query(vectors[3], 3, allowed={4}) == []


def test_allowed_ids_restrict_the_answer(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    vectors = _unit(rng, 60)
    index = _index(tmp_path)
    index.rebuild(list(range(1, 61)), vectors)
    allowed = {2, 9, 33, 41, 999}
    hits = index.query(vectors[8], 10, allowed=allowed)
    assert {h[0] for h in hits} == {2, 9, 33, 41}
    assert hits[0] == (9, pytest.approx(1.0, abs=1e-5))
    assert index.query(vectors[8], 10, allowed=set()) == []


def test_filtered_search_above_the_exact_limit_uses_hnsw(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = EXACT_FILTER_MAX + 600
    vectors = _unit(rng, n, 16)
    index = CategoryIndex(tmp_path / "big.hnsw", 16, "model-a", IndexParams())
    index.rebuild(list(range(1, n + 1)), vectors)
    allowed = set(range(1, n + 1, 1))  # every id: the filtered knn path
    allowed.discard(1)
    hits = index.query(vectors[0], 5, allowed=allowed)
    assert len(hits) == 5
    assert 1 not in [h[0] for h in hits]
    exact = vectors[1:] @ vectors[0]
    best = set((np.argsort(-exact)[:5] + 2).tolist())
    assert len(best & {h[0] for h in hits}) >= 4


def test_recall_against_exact_search(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    vectors = _unit(rng, 2000, 128)
    queries = _unit(rng, 50, 128)
    index = CategoryIndex(tmp_path / "r.hnsw", 128, "model-a", IndexParams())
    index.rebuild(list(range(2000)), vectors)
    found = 0
    for query in queries:
        truth = set(np.argsort(-(vectors @ query))[:10].tolist())
        found += len(truth & {h[0] for h in index.query(query, 10)})
    assert found / (10 * len(queries)) >= 0.95


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    vectors = _unit(rng, 30)
    ids = list(range(5, 35))
    index = _index(tmp_path)
    index.rebuild(ids, vectors)
    meta = json.loads(index.sidecar.read_text())
    assert meta["ids"] == ids
    assert meta["model_id"] == "model-a"
    again = _index(tmp_path)
    assert again.load(Fingerprint.of(ids))
    assert len(again) == 30
    assert again.query(vectors[3], 1)[0][0] == 8
    again.add(99, _unit(rng, 1)[0])
    again.save()
    assert json.loads(again.sidecar.read_text())["ids"] == [*ids, 99]


def test_load_refuses_what_does_not_match(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    ids = [1, 2, 3]
    index = _index(tmp_path)
    index.rebuild(ids, _unit(rng, 3))
    # a different set of rows in the database
    assert not _index(tmp_path).load(Fingerprint.of([1, 2, 3, 4]))
    assert not _index(tmp_path).load(Fingerprint.of([1, 2]))
    # another model or dimension
    other = CategoryIndex(index.path, DIM, "model-b", IndexParams())
    assert not other.load(Fingerprint.of(ids))
    wider = CategoryIndex(index.path, DIM * 2, "model-a", IndexParams())
    assert not wider.load(Fingerprint.of(ids))
    # a file that is not the one the sidecar describes (torn write, corruption)
    good = index.path.read_bytes()
    index.path.write_bytes(good[:200] + bytes([good[200] ^ 0xFF]) + good[201:])
    assert not _index(tmp_path).load(Fingerprint.of(ids))
    index.path.write_bytes(good)
    assert _index(tmp_path).load(Fingerprint.of(ids))
    index.sidecar.write_text("{not json")
    assert not _index(tmp_path).load(Fingerprint.of(ids))
    index.sidecar.unlink()
    assert not _index(tmp_path).load(Fingerprint.of(ids))


def test_empty_index(tmp_path: Path) -> None:
    index = _index(tmp_path)
    index.rebuild([], np.zeros((0, DIM), np.float32))
    assert index.query(np.ones(DIM, np.float32) / 8, 5) == []
    assert _index(tmp_path).load(Fingerprint(0, 0, 0))
