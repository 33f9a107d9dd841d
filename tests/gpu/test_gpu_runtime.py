"""The CUDA and TensorRT paths of the session factory and ``build-trt``, on a real GPU.

Skipped where there is none: they need ``onnxruntime-gpu`` (CUDA provider) and an NVIDIA
driver; the TensorRT tests also need the ``tensorrt`` package and onnxruntime's TensorRT
provider. Run them on the edge box or a GPU runner: ``pytest -m gpu tests/gpu``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.registry import cached_sha256, model_path
from models.session import (
    CPU,
    CUDA,
    TENSORRT,
    create_session,
    device_key,
    trt_cache_path,
)
from models.trt import build_for_model
from testkit.gpu import GPU, GPU_MARKS, NEEDS_TRT

pytestmark = GPU_MARKS


def _frame(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((1, 3, 640, 640), dtype=np.float32)


def test_cuda_session_runs_on_the_gpu_and_agrees_with_cpu() -> None:
    path = model_path("fall-yolov8n")
    gpu = create_session(path, providers=[CUDA])
    cpu = create_session(path, providers=[CPU])
    assert gpu.get_providers()[0] == CUDA
    x = _frame()
    a = gpu.run(None, {"images": x})[0]
    b = cpu.run(None, {"images": x})[0]
    assert a.shape == b.shape == (1, 6, 8400)
    # boxes in pixels, scores in [0, 1]: fp16 weights, different kernels
    assert np.abs(a[:, 4:] - b[:, 4:]).max() < 1e-2
    assert np.abs(a[:, :4] - b[:, :4]).max() < 1.0


def test_default_order_prefers_the_gpu() -> None:
    session = create_session(model_path("fall-yolov8n"))
    assert session.get_providers()[0] in {TENSORRT, CUDA}


@NEEDS_TRT
def test_tensorrt_engines_are_cached_per_device(tmp_path: Path) -> None:
    path = model_path("fall-yolov8n")
    session = create_session(path, providers=[TENSORRT], trt_cache_dir=tmp_path)
    assert session.get_providers()[0] == TENSORRT
    session.run(None, {"images": _frame()})
    cache = trt_cache_path(tmp_path, GPU, cached_sha256(path))
    assert cache.parent.name == device_key(GPU)
    assert any(cache.iterdir()), "the TensorRT provider wrote no engine into its cache"


@NEEDS_TRT
def test_build_trt_writes_an_engine_and_warms_the_runtime_cache(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    result = build_for_model("fall-yolov8n", models_dir=models_dir)
    assert result.engine.is_file()
    assert result.engine.stat().st_size > 1_000_000
    assert result.engine.parent.name == device_key(GPU)
    assert result.ort_cache_warmed
    assert any((models_dir / "trt-cache" / device_key(GPU)).rglob("*"))
