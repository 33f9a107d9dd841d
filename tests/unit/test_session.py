"""The session factory's decisions (providers, options, TensorRT cache folder, GPU parsing) as
pure functions, the build-trt preconditions, and one real CPU session on a packaged model."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from models.faces import ModelUnavailableError
from models.registry import model_path
from models.session import (
    CPU,
    CUDA,
    TENSORRT,
    GpuInfo,
    choose_providers,
    create_session,
    device_key,
    parse_nvidia_smi,
    provider_options,
    trt_cache_path,
)
from models.trt import (
    INSTALL_HINT,
    TrtUnavailableError,
    engine_path,
    missing_requirements,
    static_shape,
)

H100 = GpuInfo(name="NVIDIA H100 80GB HBM3", compute_capability="9.0")
ORIN = GpuInfo(name="Orin (nvgpu)", compute_capability="8.7")
SHA = "245e585e026e52cf736a19f6b18d4dcedba0636ceeba7ba7898dde1f398cef56"


@pytest.mark.parametrize(
    ("available", "wanted", "expected"),
    [
        ([TENSORRT, CUDA, CPU], None, [TENSORRT, CUDA, CPU]),
        ([CUDA, TENSORRT, CPU], None, [TENSORRT, CUDA, CPU]),  # our order, not the build's
        ([CUDA, CPU], None, [CUDA, CPU]),
        ([CPU], None, [CPU]),
        (["AzureExecutionProvider", CPU], None, [CPU]),
        ([], None, [CPU]),
        ([TENSORRT, CUDA, CPU], [CUDA], [CUDA, CPU]),  # CPU always there as the fallback
        ([CPU], [TENSORRT], [CPU]),  # asked for, not offered
        ([TENSORRT, CUDA, CPU], [CPU], [CPU]),
    ],
)
def test_choose_providers(
    available: list[str], wanted: list[str] | None, expected: list[str]
) -> None:
    assert choose_providers(available, wanted) == expected


def test_device_key_names_the_gpu_model_and_compute_capability() -> None:
    assert device_key(H100) == "nvidia-h100-80gb-hbm3-sm90"
    assert device_key(ORIN) == "orin-nvgpu-sm87"
    assert device_key(None) == "unknown-gpu"


def test_trt_cache_is_per_device_and_per_model(tmp_path: Path) -> None:
    a = trt_cache_path(tmp_path, H100, SHA)
    assert a == tmp_path / "nvidia-h100-80gb-hbm3-sm90" / SHA[:16]
    assert trt_cache_path(tmp_path, ORIN, SHA) != a
    assert trt_cache_path(tmp_path, H100, "0" * 64) != a
    with pytest.raises(ValueError, match="sha256"):
        trt_cache_path(tmp_path, H100, "../../etc")


def test_provider_options_wire_the_cache_into_tensorrt_only(tmp_path: Path) -> None:
    args = provider_options([TENSORRT, CUDA, CPU], trt_cache=tmp_path, device_id=1)
    trt, cuda, cpu = args
    assert isinstance(trt, tuple)
    assert trt[0] == TENSORRT
    assert trt[1]["trt_engine_cache_enable"] is True
    assert trt[1]["trt_engine_cache_path"] == str(tmp_path)
    assert trt[1]["trt_fp16_enable"] is True
    assert trt[1]["device_id"] == 1
    assert cuda == (CUDA, {"device_id": 1})
    assert cpu == CPU
    no_cache = provider_options([TENSORRT], trt_cache=None, fp16=False)[0]
    assert isinstance(no_cache, tuple)
    assert "trt_engine_cache_path" not in no_cache[1]
    assert no_cache[1]["trt_fp16_enable"] is False
    assert provider_options([CPU], trt_cache=tmp_path) == [CPU]


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("NVIDIA H100 80GB HBM3, 9.0\n", H100),
        ("Orin (nvgpu), 8.7", ORIN),
        (
            "NVIDIA A100-SXM4-40GB, 8.0\nNVIDIA A100-SXM4-40GB, 8.0\n",
            GpuInfo("NVIDIA A100-SXM4-40GB", "8.0"),
        ),
        ("No devices were found\n", None),
        ("", None),
        ("NVIDIA X, [N/A]", None),
    ],
)
def test_parse_nvidia_smi(output: str, expected: GpuInfo | None) -> None:
    assert parse_nvidia_smi(output) == expected


def test_build_trt_says_what_is_missing() -> None:
    missing = missing_requirements(None, None)
    assert len(missing) == 2
    assert INSTALL_HINT in missing[0]
    assert "no NVIDIA GPU" in missing[1]
    assert missing_requirements(object(), H100) == []


def test_engine_path_is_keyed_by_device_model_and_tensorrt_version(tmp_path: Path) -> None:
    path = engine_path(tmp_path, Path("fire.onnx"), SHA, H100, "10.3.0")
    assert (
        path == tmp_path / "trt" / "nvidia-h100-80gb-hbm3-sm90" / f"fire-{SHA[:16]}-trt10.3.0.plan"
    )


def test_static_shape_fixes_a_dynamic_batch_only() -> None:
    assert static_shape([1, 3, 640, 640]) == (1, 3, 640, 640)
    assert static_shape(["N", 3, 224, 224], batch=4) == (4, 3, 224, 224)
    with pytest.raises(TrtUnavailableError, match="dimension 2 is dynamic"):
        static_shape(["N", 3, "H", "W"])


def test_cpu_session_on_a_packaged_model_logs_its_provider(
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = model_path("fall-yolov8n")
    with caplog.at_level(logging.INFO, logger="models.session"):
        session = create_session(path, providers=[CPU], intra_op_threads=1)
    assert session.get_providers() == [CPU]
    assert f"onnx session {path.name} on {CPU}" in caplog.text
    inp = session.get_inputs()[0]
    out = session.run(None, {inp.name: np.zeros((1, 3, 640, 640), dtype=np.float32)})[0]
    assert out.shape == (1, 6, 8400)


def test_sessions_do_not_spin_unless_asked() -> None:
    """A spinning intra-op pool burns the cores the other callers of the process need."""
    path = model_path("blazeface-short")
    quiet = create_session(path, providers=[CPU], intra_op_threads=2).get_session_options()
    assert quiet.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert quiet.intra_op_num_threads == 2
    spinning = create_session(path, providers=[CPU], spin=True).get_session_options()
    assert spinning.get_session_config_entry("session.intra_op.allow_spinning") == "1"


def test_create_session_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="missing"):
        create_session(tmp_path / "absent.onnx")


def test_a_gpu_provider_that_cannot_start_falls_back_to_cpu_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """As on a box with onnxruntime-gpu but no working CUDA: the build lists the provider, the
    session cannot use it; the factory still returns a CPU session and says so."""
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    path = model_path("fall-yolov8n")
    with caplog.at_level(logging.INFO, logger="models.session"):
        session = create_session(path, intra_op_threads=1)
    assert session.get_providers() == [CPU]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings, caplog.text
    assert f"on {CPU} (asked {CUDA}, {CPU}" in caplog.text
