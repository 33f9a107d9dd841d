"""Image index and search through the HTTP API, on real photos and the real EfficientNet-Lite0
(ONNX Runtime, CPU): 59 indexed images of varied content (scikit-image's data images and crops
of them), queried with transformed copies (rotated, cropped, brighter or darker)."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import cv2
import numpy as np
import pytest
from sqlalchemy.engine import make_url

from hub.auth.scopes import Scope
from testkit.hub import RunningHub, hub_settings, running_hub, scoped_headers
from testkit.image_sets import (
    Item,
    brighten,
    indexed_items,
    jpeg_b64,
    load_bgr,
    png_b64,
    queries,
    require_image_model,
    rotate,
)
from testkit.postgres import PostgresServer

pytestmark = pytest.mark.integration

INDEX = "/api/v1/cv/image/index"
SEARCH = "/api/v1/cv/image/search"
BASE_DAY = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class IndexedHub:
    hub: RunningHub
    ids: dict[str, str]  # item name -> image id
    days: dict[str, datetime]  # item name -> captured_at


def _index(
    hub: RunningHub, item: Item, category: str, captured_at: datetime | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "image": png_b64(item.image),
        "category": category,
        "metadata": {"name": item.name, "found_in": "lobby"},
        "tags": [item.name.split("/")[0]],
    }
    if captured_at is not None:
        body["captured_at"] = captured_at.isoformat()
    response = hub.http.post(INDEX, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _search(hub: RunningHub, image_b64: str, **fields: Any) -> dict[str, Any]:
    response = hub.http.post(SEARCH, json={"image": image_b64, **fields})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexedHub]:
    model = require_image_model()
    settings = hub_settings(
        tmp_path_factory.mktemp("image-hub"), None, image_search_model_path=model
    )
    with running_hub(settings, start_ingest=False) as hub:
        ids: dict[str, str] = {}
        days: dict[str, datetime] = {}
        for number, item in enumerate(indexed_items()):
            day = BASE_DAY + timedelta(days=number)
            done = _index(hub, item, "lost_found", day)
            ids[item.name] = done["image_id"]
            days[item.name] = day
        yield IndexedHub(hub, ids, days)


def test_every_transformed_query_finds_its_own_item_first(indexed: IndexedHub) -> None:
    assert len(indexed.ids) >= 50
    misses = []
    for query in queries():
        body = _search(
            indexed.hub, png_b64(query.image), category="lost_found", top_k=5, threshold=0.0
        )
        results = body["results"]
        assert body["searched"] == len(indexed.ids)
        assert len(results) == 5
        sims = [r["similarity"] for r in results]
        assert sims == sorted(sims, reverse=True)
        if results[0]["image_id"] != indexed.ids[query.name]:
            misses.append((query.name, results[0]["metadata"]["name"]))
        else:
            metadata = results[0]["metadata"]
            assert {k: metadata[k] for k in ("name", "found_in", "category")} == {
                "name": query.name,
                "found_in": "lobby",
                "category": "lost_found",
            }
            assert metadata["tags"] == [query.name.split("/")[0]]
            assert metadata["upload_time"].endswith("Z")
    assert misses == []


def test_results_carry_urls_that_serve_the_original_and_a_thumbnail(indexed: IndexedHub) -> None:
    coffee = load_bgr("coffee")
    query = jpeg_b64(cv2.resize(coffee[40:360, 60:540], (320, 213)), quality=70)
    body = _search(indexed.hub, query, category="lost_found", top_k=1)
    (best,) = body["results"]
    assert best["image_id"] == indexed.ids["coffee/full"]
    assert best["similarity"] > 0.75
    assert (best["width"], best["height"]) == (600, 400)
    assert best["tags"] == ["coffee"]
    original = indexed.hub.http.get(best["url"])
    assert original.status_code == 200
    assert original.headers["content-type"] == "image/png"
    decoded = cv2.imdecode(np.frombuffer(original.content, np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(decoded, coffee)  # the original, byte for byte (PNG is lossless)
    thumb = indexed.hub.http.get(best["thumbnail_url"])
    assert thumb.headers["content-type"] == "image/jpeg"
    small = cv2.imdecode(np.frombuffer(thumb.content, np.uint8), cv2.IMREAD_COLOR)
    assert small.shape[:2] == (171, 256)
    assert indexed.hub.anonymous.get(best["url"]).status_code == 401


def test_date_range_keeps_only_images_captured_inside_it(indexed: IndexedHub) -> None:
    day = indexed.days["rocket/full"]
    query = png_b64(load_bgr("rocket")[20:400, 30:600])
    inside = _search(
        indexed.hub,
        query,
        top_k=3,
        threshold=0.0,
        date_from=(day - timedelta(hours=1)).isoformat(),
        date_to=(day + timedelta(days=5)).isoformat(),
    )
    assert inside["results"][0]["image_id"] == indexed.ids["rocket/full"]
    for result in inside["results"]:
        captured = datetime.fromisoformat(result["captured_at"])
        assert day - timedelta(hours=1) <= captured <= day + timedelta(days=5)
    after = _search(
        indexed.hub,
        query,
        category="lost_found",
        top_k=10,
        threshold=0.0,
        date_from=(day + timedelta(hours=1)).isoformat(),
    )
    assert indexed.ids["rocket/full"] not in [r["image_id"] for r in after["results"]]
    assert all(datetime.fromisoformat(r["captured_at"]) > day for r in after["results"])


def test_threshold_and_categories(indexed: IndexedHub) -> None:
    hub = indexed.hub
    chelsea = load_bgr("chelsea")
    turned = png_b64(brighten(rotate(chelsea, 10), 1.1, 5))
    exact = _search(hub, png_b64(chelsea), category="lost_found", top_k=1, threshold=0.99)
    assert [(r["image_id"], r["similarity"]) for r in exact["results"]] == [
        (indexed.ids["chelsea/full"], pytest.approx(1.0, abs=1e-4))
    ]
    assert _search(hub, turned, category="lost_found", threshold=0.99)["results"] == []
    loose = _search(hub, turned, category="lost_found", top_k=3, threshold=0.0)
    assert loose["results"][0]["image_id"] == indexed.ids["chelsea/full"]
    assert len(loose["results"]) == 3
    default = _search(hub, turned, category="lost_found")
    assert default["threshold"] == hub.settings.image_search_threshold
    assert all(r["similarity"] >= default["threshold"] for r in default["results"])
    assert len(default["results"]) < len(indexed.ids)
    # an image in another category is found there, and in an all-category search
    done = _index(hub, Item("cat/amenity", chelsea[::-1].copy()), "amenity")
    only = _search(hub, png_b64(chelsea), category="amenity", threshold=0.0)
    assert [r["image_id"] for r in only["results"]] == [done["image_id"]]
    assert only["searched"] == 1
    everywhere = _search(hub, png_b64(chelsea), top_k=2, threshold=0.0)
    assert {r["image_id"] for r in everywhere["results"]} == {
        done["image_id"],
        indexed.ids["chelsea/full"],
    }


def _assert_refused(
    hub: RunningHub, path: str, body: dict[str, Any], status: int, field: str
) -> dict[str, Any]:
    response = hub.http.post(path, json=body)
    assert response.status_code == status, response.text
    payload: dict[str, Any] = response.json()
    assert payload["errors"], payload
    assert payload["errors"][0]["field"] == field, payload
    assert payload["errors"][0]["reason"]
    return payload


def test_bad_input_gets_a_4xx_with_a_reason(indexed: IndexedHub) -> None:
    hub = indexed.hub
    good = png_b64(load_bgr("astronaut")[:200, :200])
    tiny = png_b64(np.zeros((1, 1, 3), np.uint8))
    pdf = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoK"
    text = "aGVsbG8gd29ybGQsIG5vdCBhbiBpbWFnZQ=="
    noise = np.random.default_rng(5).integers(0, 256, (3700, 3700, 3), dtype=np.uint8)
    ok, big = cv2.imencode(".png", noise, [cv2.IMWRITE_PNG_COMPRESSION, 0])
    assert ok
    assert big.nbytes > 40_000_000
    huge = base64.b64encode(big.tobytes()).decode("ascii")
    for path, field in ((INDEX, "image"), (SEARCH, "query_image")):
        base: dict[str, Any] = {"category": "lost_found"}
        payload = _assert_refused(hub, path, {**base, field: "not base64!!"}, 422, field)
        assert "base64" in payload["detail"]
        payload = _assert_refused(hub, path, {**base, field: pdf}, 415, field)
        assert "PDF" in payload["detail"]
        _assert_refused(hub, path, {**base, field: text}, 415, field)
        payload = _assert_refused(hub, path, {**base, field: tiny}, 422, field)
        assert "1x1" in payload["detail"]
        _assert_refused(hub, path, {**base, field: huge}, 413, field)
        _assert_refused(hub, path, {field: good, "category": "kitchen_sink"}, 422, "category")
    _assert_refused(
        hub,
        SEARCH,
        {
            "query_image": good,
            "filters": {"date_range": {"start": "2025-02-01", "end": "2025-01-01"}},
        },
        422,
        "filters.date_range",
    )
    _assert_refused(
        hub, SEARCH, {"query_image": good, "filters": {"room": "201"}}, 422, "filters.room"
    )
    _assert_refused(hub, SEARCH, {"image": good, "top_k": 0}, 422, "top_k")
    _assert_refused(hub, SEARCH, {"image": good, "threshold": 1.5}, 422, "threshold")
    _assert_refused(
        hub,
        SEARCH,
        {"image": good, "date_from": "2026-02-01T00:00:00Z", "date_to": "2026-01-01T00:00:00Z"},
        422,
        "date_to",
    )
    _assert_refused(hub, INDEX, {"image": good}, 422, "metadata.category")
    _assert_refused(
        hub,
        INDEX,
        {"image": good, "category": "room", "metadata": {"category": "amenity"}},
        422,
        "metadata.category",
    )
    _assert_refused(
        hub,
        INDEX,
        {"image": good, "metadata": {"category": "room", "tags": "clean"}},
        422,
        "metadata",
    )
    _assert_refused(
        hub,
        INDEX,
        {"image": good, "category": "general", "metadata": {str(i): i for i in range(40)}},
        422,
        "metadata",
    )
    _assert_refused(
        hub,
        INDEX,
        {"image": good, "category": "general", "metadata": {"note": "x" * 1001}},
        422,
        "metadata",
    )
    _assert_refused(
        hub,
        INDEX,
        {"image": good, "category": "general", "metadata": {"nested": {"a": 1}}},
        422,
        "metadata",
    )
    _assert_refused(
        hub,
        INDEX,
        {"image": good, "category": "general", "metadata": {"bad key": 1}},
        422,
        "metadata.bad key.[key]",
    )
    _assert_refused(hub, INDEX, {"image": good, "category": "general", "extra": 1}, 422, "extra")
    for path in ("/api/v1/cv/image/999999", "/api/v1/cv/image/999999/file"):
        assert hub.http.get(path).status_code == 404
    for missing in ("0", str(2**31), "IMG_LF_999999", "IMG_ROOM_1"):  # IMG_LF_1 exists
        assert hub.http.get(f"/api/v1/cv/image/{missing}").status_code == 404, missing
    assert hub.http.get("/api/v1/cv/image/IMG%20LF").status_code == 422


def _metric(text: str, operation: str, outcome: str) -> float:
    prefix = (
        f'innsight_cv_image_search_requests_total{{operation="{operation}",outcome="{outcome}"}} '
    )
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0


def test_metrics_count_index_and_search_outcomes(indexed: IndexedHub) -> None:
    before = indexed.hub.anonymous.get("/metrics").text
    for path in (INDEX, SEARCH):
        indexed.hub.http.post(path, json={"image": "%%", "category": "room"})
    _search(indexed.hub, png_b64(load_bgr("clock")))
    after = indexed.hub.anonymous.get("/metrics").text
    assert _metric(after, "index", "success") >= len(indexed.ids)
    assert _metric(after, "search", "success") == _metric(before, "search", "success") + 1
    for operation in ("index", "search"):
        assert _metric(after, operation, "refused") == _metric(before, operation, "refused") + 1
    # the seed's names: cv_image_search_total{category}, cv_image_search_duration_seconds
    assert _seed_metric(after, 'cv_image_search_total{category="all"}') == (
        _seed_metric(before, 'cv_image_search_total{category="all"}') + 1
    )
    assert _seed_metric(after, "cv_image_search_duration_seconds_count") >= 1


def _seed_metric(text: str, name: str) -> float:
    lines = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0


def test_scopes(indexed: IndexedHub) -> None:
    hub = indexed.hub
    good = png_b64(load_bgr("astronaut")[:200, :200])
    reader = scoped_headers(hub.settings, Scope.CV_READ)
    refused = hub.http.post(INDEX, json={"image": good, "category": "room"}, headers=reader)
    assert refused.status_code == 403
    assert "cv:write" in refused.json()["detail"]
    allowed = hub.http.post(SEARCH, json={"image": good}, headers=reader)
    assert allowed.status_code == 200
    assert hub.anonymous.post(SEARCH, json={"image": good}).status_code == 401
    ml_only = scoped_headers(hub.settings, Scope.ML_READ)
    assert hub.http.post(SEARCH, json={"image": good}, headers=ml_only).status_code == 403


def test_delete_removes_record_files_and_index_entry(indexed: IndexedHub) -> None:
    hub = indexed.hub
    moon = load_bgr("moon")
    done = _index(hub, Item("moon/copy", moon), "incident")
    before = _search(hub, png_b64(moon), category="incident", threshold=0.0)
    assert before["results"][0]["image_id"] == done["image_id"]
    reader = scoped_headers(hub.settings, Scope.CV_READ)
    assert (
        hub.http.delete(f"/api/v1/cv/image/{done['image_id']}", headers=reader).status_code == 403
    )
    gone = hub.http.delete(f"/api/v1/cv/image/{done['image_id']}")
    assert gone.status_code == 200
    assert gone.json() == {"success": True, "image_id": done["image_id"], "category": "incident"}
    after = _search(hub, png_b64(moon), category="incident", threshold=0.0)
    assert after["results"] == []
    assert hub.http.get(done["url"]).status_code == 404
    objects = hub.settings.objects_dir
    assert sorted(p.name for p in (objects / "images" / "incident").iterdir()) == []
    assert sorted(p.name for p in (objects / "thumbnails" / "incident").iterdir()) == []
    assert hub.http.delete(f"/api/v1/cv/image/{done['image_id']}").status_code == 404


def _row(public_id: str) -> int:
    """The row id inside a public image id (IMG_ROOM_42 -> 42)."""
    return int(public_id.rsplit("_", 1)[1])


def _answers(hub: RunningHub, probes: list[Item]) -> list[list[tuple[str, float]]]:
    out = []
    for probe in probes:
        body = _search(hub, png_b64(probe.image), category="room", top_k=4, threshold=0.0)
        out.append([(r["image_id"], round(r["similarity"], 4)) for r in body["results"]])
    return out


async def _pg_admin(async_url: str, statement: str) -> None:
    dsn = make_url(async_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` (SQLite in the data dir) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"images_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(server.async_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server.async_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(server.async_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_index_is_rebuilt_from_the_database(tmp_path: Path, database_url: str | None) -> None:
    model = require_image_model()
    settings = hub_settings(
        tmp_path / "hub", None, database_url=database_url, image_search_model_path=model
    )
    items = indexed_items()[:10]
    probes = [q for q in queries() if q.name in {i.name for i in items}]
    index_dir = settings.data_dir / "image_index" / "efficientnet-lite0"
    with running_hub(settings, start_ingest=False) as hub:
        first = [_index(hub, item, "room")["image_id"] for item in items[:5]]
        expected_first = _answers(hub, probes)
    # what was saved at shutdown holds the first five
    saved = json.loads((index_dir / "room.hnsw.json").read_text())
    assert saved["ids"] == [_row(i) for i in first]
    stale = tmp_path / "stale"
    shutil.copytree(index_dir, stale)
    with running_hub(settings, start_ingest=False) as hub:
        assert _answers(hub, probes) == expected_first  # loaded from the file
        rest = [_index(hub, item, "room")["image_id"] for item in items[5:]]
        expected = _answers(hub, probes)
    assert [answer[0][0] for answer in expected] == first + rest  # each finds its own item

    # 1. the index file is gone: rebuilt from the embeddings in the database
    (index_dir / "room.hnsw").unlink()
    with running_hub(settings, start_ingest=False) as hub:
        assert _answers(hub, probes) == expected
    assert json.loads((index_dir / "room.hnsw.json").read_text())["ids"] == [
        _row(i) for i in first + rest
    ]

    # 2. a stale file (saved before the last five were indexed, as after a crash): rebuilt
    shutil.rmtree(index_dir)
    shutil.copytree(stale, index_dir)
    with running_hub(settings, start_ingest=False) as hub:
        assert _answers(hub, probes) == expected

    # 3. a corrupt file with a matching sidecar: rebuilt, not a 500
    (index_dir / "room.hnsw").write_bytes(b"\x00" * 100)
    with running_hub(settings, start_ingest=False) as hub:
        assert _answers(hub, probes) == expected


def test_hub_starts_without_the_model_and_answers_503(tmp_path: Path) -> None:
    settings = hub_settings(
        tmp_path / "hub", None, image_search_model_path=tmp_path / "missing.onnx"
    )
    good = png_b64(load_bgr("astronaut")[:200, :200])
    with running_hub(settings, start_ingest=False) as hub:
        for path, body in ((INDEX, {"image": good, "category": "room"}), (SEARCH, {"image": good})):
            response = hub.http.post(path, json=body)
            assert response.status_code == 503
            assert "missing.onnx" in response.json()["detail"]
        status = hub.http.get("/api/v1/cv/image/status").json()
        assert status["model_loaded"] is False
        assert "missing.onnx" in status["reason"]
        assert status["storage"] == "ok"
        # bad input is still named before the model is needed
        assert hub.http.post(SEARCH, json={"image": "%%"}).status_code == 422
