"""The sha256 cache behind model verification, and :func:`models.registry.verify_model_file`.

A digest is remembered by the file's (size, mtime, ctime, inode) in the process and in a cache
file, so a verified model is not hashed again on every load or in every new process; any change
to the file (its mtime put back included) is hashed again and refused."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from models import registry
from models.export import file_sha256
from models.faces import ModelUnavailableError
from models.registry import (
    PROVENANCE,
    Manifest,
    clear_digest_cache,
    model_path,
    parse_manifest,
    verify_model_file,
)

DATA = b"model bytes, version 1"


def _manifest(**overrides: object) -> Manifest:
    entry: dict[str, object] = {
        "id": "demo-model",
        "family": "test",
        "version": "1",
        "source": "https://models.example/demo.onnx",
        "sha256": hashlib.sha256(DATA).hexdigest(),
        "licence": {"name": "MIT", "commercial": "yes"},
        "input": {"colour": "RGB", "dtype": "float32", "size": [8, 8], "layout": "NCHW"},
        "normalisation": "x / 255",
        "output": "scores",
    }
    entry.update(overrides)
    return parse_manifest(yaml.safe_dump({"schema": 1, "models": [entry]}))


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "cache" / "model-sha256.json"
    monkeypatch.setenv(registry.DIGEST_CACHE_ENV, str(path))
    clear_digest_cache()
    yield path
    clear_digest_cache()


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files actually read and hashed."""
    calls: list[str] = []

    def counting(path: Path) -> str:
        calls.append(str(path))
        return file_sha256(path)

    monkeypatch.setattr(registry, "file_sha256", counting)
    return calls


def _model(root: Path) -> Path:
    target = root / "demo-model" / "demo.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(DATA)
    return target


def test_a_verified_file_is_hashed_once_per_version_across_processes(
    tmp_path: Path, store: Path, hashed: list[str]
) -> None:
    manifest = _manifest()
    target = _model(tmp_path / "models")
    for _ in range(3):
        assert model_path("demo-model", models_dir=tmp_path / "models", manifest=manifest) == target
    assert len(hashed) == 1  # in this process: remembered
    recorded = json.loads(store.read_text(encoding="utf-8"))
    assert recorded[str(target.resolve())]["sha256"] == hashlib.sha256(DATA).hexdigest()
    clear_digest_cache()  # as a new process would start
    assert model_path("demo-model", models_dir=tmp_path / "models", manifest=manifest) == target
    assert len(hashed) == 1  # from the cache file


def test_a_changed_file_is_hashed_again_even_with_its_mtime_put_back(
    tmp_path: Path, store: Path, hashed: list[str]
) -> None:
    manifest = _manifest()
    target = _model(tmp_path / "models")
    model_path("demo-model", models_dir=tmp_path / "models", manifest=manifest)
    before = target.stat()
    time.sleep(0.05)  # past the file system's timestamp tick
    target.write_bytes(DATA.replace(b"1", b"2"))  # same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert target.stat().st_size == before.st_size
    assert target.stat().st_mtime_ns == before.st_mtime_ns
    for _ in range(2):  # this process, then a new one reading the cache file
        with pytest.raises(ModelUnavailableError, match="fails its sha256 check") as info:
            model_path("demo-model", models_dir=tmp_path / "models", manifest=manifest)
        assert "innsight models fetch demo-model" in str(info.value)
        clear_digest_cache()
    assert len(hashed) == 2  # the original once, the changed file once


def test_a_corrupt_cache_file_costs_only_a_rehash(
    tmp_path: Path, store: Path, hashed: list[str]
) -> None:
    store.parent.mkdir(parents=True)
    store.write_text("{not json", encoding="utf-8")
    target = _model(tmp_path / "models")
    assert model_path("demo-model", models_dir=tmp_path / "models", manifest=_manifest()) == target
    assert len(hashed) == 1
    assert str(target.resolve()) in json.loads(store.read_text(encoding="utf-8"))


def test_a_forged_cache_entry_for_another_file_version_is_not_trusted(
    tmp_path: Path, store: Path, hashed: list[str]
) -> None:
    target = _model(tmp_path / "models")
    st = target.stat()
    stale = f"{st.st_size}:{st.st_mtime_ns - 1}:{st.st_ctime_ns}:{st.st_dev}:{st.st_ino}"
    store.parent.mkdir(parents=True)
    forged = {str(target.resolve()): {"stat": stale, "sha256": "0" * 64}}
    store.write_text(json.dumps(forged), encoding="utf-8")
    assert model_path("demo-model", models_dir=tmp_path / "models", manifest=_manifest()) == target
    assert len(hashed) == 1


def test_the_cache_file_can_be_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hashed: list[str]
) -> None:
    monkeypatch.setenv(registry.DIGEST_CACHE_ENV, "off")
    assert registry.digest_cache_file() is None
    _model(tmp_path / "models")
    for _ in range(2):
        clear_digest_cache()
        model_path("demo-model", models_dir=tmp_path / "models", manifest=_manifest())
    assert len(hashed) == 2


def test_the_cache_file_follows_the_cache_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(registry.DIGEST_CACHE_ENV, raising=False)
    monkeypatch.setenv(registry.CACHE_DIR_ENV, "/srv/innsight-cache")
    assert registry.digest_cache_file() == Path("/srv/innsight-cache/model-sha256.json")


# ------------------------------------------------------------------ verify_model_file


def test_a_configured_file_is_verified_against_the_manifest(tmp_path: Path, store: Path) -> None:
    manifest = _manifest()
    path = tmp_path / "anywhere.onnx"
    path.write_bytes(DATA)
    assert verify_model_file("demo-model", path, manifest=manifest) == path
    path.write_bytes(DATA + b"!")
    with pytest.raises(ModelUnavailableError, match="innsight models fetch demo-model"):
        verify_model_file("demo-model", path, manifest=manifest)
    with pytest.raises(ModelUnavailableError, match=r"missing\.onnx is missing"):
        verify_model_file("demo-model", tmp_path / "missing.onnx", manifest=manifest)
    with pytest.raises(ModelUnavailableError, match="unknown model id 'other'"):
        verify_model_file("other", path, manifest=manifest)


def test_a_configured_export_is_verified_against_its_provenance(
    tmp_path: Path, store: Path
) -> None:
    manifest = _manifest(
        source="pypi:fire-detector==1.0.3:fire_detector/models/light_yolov8_flame.pt",
        sha256="b" * 64,
        file="demo.onnx",
        export={"module": "models.export.yolov8"},
    )
    path = tmp_path / "renamed.onnx"
    path.write_bytes(DATA)
    with pytest.raises(ModelUnavailableError, match=r"no valid provenance\.json"):
        verify_model_file("demo-model", path, manifest=manifest)
    provenance = {
        "schema": 1,
        "model_id": "demo-model",
        "file": "renamed.onnx",
        "sha256": hashlib.sha256(DATA).hexdigest(),
        "source": "pypi:...",
        "source_sha256": "b" * 64,
    }
    (tmp_path / PROVENANCE).write_text(json.dumps(provenance), encoding="utf-8")
    assert verify_model_file("demo-model", path, manifest=manifest) == path
    other = tmp_path / "other.onnx"
    other.write_bytes(DATA)
    with pytest.raises(ModelUnavailableError, match=r"describes renamed\.onnx, not other\.onnx"):
        verify_model_file("demo-model", other, manifest=manifest)
    path.write_bytes(DATA + b"!")
    with pytest.raises(ModelUnavailableError, match="fails its sha256 check"):
        verify_model_file("demo-model", path, manifest=manifest)
