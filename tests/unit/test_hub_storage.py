from __future__ import annotations

from pathlib import Path

import pytest

from hub.storage import (
    InvalidObjectKeyError,
    LocalFolderStore,
    ObjectNotFoundError,
    ObjectStore,
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
