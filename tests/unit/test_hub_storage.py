from __future__ import annotations

from pathlib import Path

import pytest
from minio.error import InvalidResponseError

from hub.settings import HubSettings, HubSettingsError
from hub.storage import (
    InvalidObjectKeyError,
    LocalFolderStore,
    ObjectNotFoundError,
    ObjectStore,
    S3ObjectStore,
    _s3_code,
    parse_s3_endpoint,
    validate_key,
)


@pytest.fixture
def store(tmp_path: Path) -> LocalFolderStore:
    return LocalFolderStore(tmp_path / "objects")


def test_put_get_exists_round_trip(store: LocalFolderStore) -> None:
    as_protocol: ObjectStore = store
    as_protocol.put("snapshots/edge-1/abc.jpg", b"\xff\xd8jpeg", "image/jpeg")
    assert as_protocol.exists("snapshots/edge-1/abc.jpg")
    assert as_protocol.get("snapshots/edge-1/abc.jpg") == b"\xff\xd8jpeg"
    assert (store.root / "snapshots" / "edge-1" / "abc.jpg").read_bytes() == b"\xff\xd8jpeg"


def test_overwrite_is_atomic_and_leaves_no_temp_files(store: LocalFolderStore) -> None:
    store.put("galleries/1.json", b"old", "application/json")
    store.put("galleries/1.json", b"new", "application/json")
    assert store.get("galleries/1.json") == b"new"
    assert sorted(p.name for p in (store.root / "galleries").iterdir()) == ["1.json"]


def test_missing_object(store: LocalFolderStore) -> None:
    assert not store.exists("nothing/here.bin")
    with pytest.raises(ObjectNotFoundError):
        store.get("nothing/here.bin")


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../escape.txt",
        "a/../../escape.txt",
        "/etc/passwd",
        "a//b",
        "a/./b",
        ".hidden",
        "a\\b",
        "trailing/",
        "x" * 600,
        "spaces are bad",
    ],
)
def test_unsafe_keys_are_refused(store: LocalFolderStore, key: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidObjectKeyError):
        store.put(key, b"x", "text/plain")
    with pytest.raises(InvalidObjectKeyError):
        store.get(key)
    assert not (tmp_path / "escape.txt").exists()


def test_valid_keys() -> None:
    for key in ("a", "snapshots/edge-1/0190a-b.jpg", "galleries/12.json", "A_b.c-d/e"):
        assert validate_key(key) == key


def test_url_for(tmp_path: Path) -> None:
    plain = LocalFolderStore(tmp_path)
    assert plain.url_for("a/b.jpg") == (tmp_path.resolve() / "a" / "b.jpg").as_uri()
    served = LocalFolderStore(tmp_path, base_url="http://hub:8000/objects/")
    assert served.url_for("a/b.jpg") == "http://hub:8000/objects/a/b.jpg"


def test_delete_is_idempotent(store: LocalFolderStore) -> None:
    store.put("a/b.jpg", b"x", "image/jpeg")
    store.delete("a/b.jpg")
    assert not store.exists("a/b.jpg")
    store.delete("a/b.jpg")


# ---- S3ObjectStore (pure parts; the real server is in tests/integration/test_s3_store.py) ----


@pytest.mark.parametrize(
    ("endpoint", "secure", "expected"),
    [
        ("minio:9000", False, ("minio:9000", False)),
        ("minio:9000", True, ("minio:9000", True)),
        ("http://10.0.0.5:9000", True, ("10.0.0.5:9000", False)),
        ("https://s3.hotel.lan/", False, ("s3.hotel.lan", True)),
        (" [::1]:9000 ", False, ("[::1]:9000", False)),
    ],
)
def test_parse_s3_endpoint(endpoint: str, secure: bool, expected: tuple[str, bool]) -> None:
    assert parse_s3_endpoint(endpoint, secure=secure) == expected


@pytest.mark.parametrize("endpoint", ["", "ftp://x:21", "http://h:9000/bucket", "h:9000/path"])
def test_parse_s3_endpoint_refuses(endpoint: str) -> None:
    with pytest.raises(ValueError, match="host"):
        parse_s3_endpoint(endpoint, secure=False)


class _NoCalls:
    """A client that must not be reached (key checks come first)."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the client was called: {name}")


@pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "", ".hidden"])
def test_s3_store_refuses_unsafe_keys_before_any_request(key: str) -> None:
    store = S3ObjectStore(_NoCalls(), "bucket")
    for call in (
        lambda: store.put(key, b"x", "text/plain"),
        lambda: store.get(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.url_for(key),
    ):
        with pytest.raises(InvalidObjectKeyError):
            call()


def test_s3_error_codes_are_read_from_text_xml_bodies() -> None:
    # rclone sends its XML errors as text/xml: the minio client raises InvalidResponseError
    body = "<?xml version='1.0'?><Error><Code>NoSuchKey</Code><Resource>a</Resource></Error>"
    err = InvalidResponseError(404, "text/xml; charset=utf-8", body)
    assert _s3_code(err) == "NoSuchKey"
    assert _s3_code(InvalidResponseError(502, "text/html", "<html>bad gateway</html>")) is None
    assert _s3_code(ValueError("x")) is None


def test_s3_settings_from_the_environment() -> None:
    settings = HubSettings.from_env(
        {
            "INNSIGHT_S3_ENDPOINT": "http://minio:9000",
            "INNSIGHT_S3_ACCESS_KEY": "innsight",
            "INNSIGHT_S3_SECRET_KEY": "very-secret-key",
            "INNSIGHT_S3_BUCKET": "hotel-objects",
            "INNSIGHT_IMAGE_SEARCH_THRESHOLD": "0.7",
            "INNSIGHT_IMAGE_SEARCH_URLS": "store",
        }
    )
    assert settings.s3_endpoint == "http://minio:9000"
    assert settings.s3_secret_key is not None
    assert settings.s3_secret_key.get_secret_value() == "very-secret-key"
    assert "very-secret-key" not in repr(settings)
    assert settings.s3_region == "us-east-1"
    assert settings.image_search_threshold == 0.7
    assert settings.image_search_urls == "store"
    assert HubSettings().s3_endpoint is None  # the local folder by default


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("INNSIGHT_S3_BUCKET", "Bad_Bucket"),
        ("INNSIGHT_S3_ENDPOINT", "minio:9000/path"),
        ("INNSIGHT_IMAGE_SEARCH_THRESHOLD", "1.5"),
        ("INNSIGHT_IMAGE_SEARCH_URLS", "cdn"),
    ],
)
def test_bad_storage_settings_name_their_variable(name: str, value: str) -> None:
    with pytest.raises(HubSettingsError, match=name):
        HubSettings.from_env({name: value})
