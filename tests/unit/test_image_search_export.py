"""The EfficientNet-Lite0 exporter's pure parts (the export itself needs torch: it runs in the
build venv of `innsight models fetch`, and the model it writes is tested in
test_image_search_embed.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from models.export import efficientnet_lite0 as exporter
from models.image_embed import KNOWN_SPECS, spec_from_metadata


def test_metadata_describes_the_input_the_runtime_reads(tmp_path: Path) -> None:
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"weights")
    digest = exporter.sha256_file(weights)
    assert digest == hashlib.sha256(b"weights").hexdigest()
    meta = exporter.metadata(digest, weights.name)
    assert meta["source_sha256"] == digest
    assert meta["model_id"] == "efficientnet-lite0"
    assert json.loads(meta["outputs"]) == {"embedding": 1280, "logits": 1000}
    assert all(isinstance(v, str) for v in meta.values())  # ONNX metadata_props are strings
    # what the exporter writes is what the runtime would assume for this model anyway
    assert spec_from_metadata(meta) == KNOWN_SPECS["efficientnet-lite0"]


def test_cli_refuses_a_missing_weights_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        exporter.main(["--weights", str(tmp_path / "none.pth"), "--out", str(tmp_path / "x.onnx")])
    assert exit_info.value.code == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()
