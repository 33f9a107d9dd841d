"""What the GPU tests need to know about this machine: an NVIDIA GPU with onnxruntime-gpu's CUDA
provider, and TensorRT with onnxruntime's TensorRT provider (tests/gpu; ``pytest -m gpu``)."""

from __future__ import annotations

import pytest

from models.session import CUDA, TENSORRT, available_providers, detect_gpu
from models.trt import import_tensorrt

GPU = detect_gpu()
HAS_CUDA = GPU is not None and CUDA in available_providers()
HAS_TRT = HAS_CUDA and TENSORRT in available_providers() and import_tensorrt() is not None

GPU_MARKS = [
    pytest.mark.gpu,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not HAS_CUDA, reason="needs an NVIDIA GPU and onnxruntime-gpu"),
]
"""``pytestmark`` of a GPU test module: marked ``gpu``, skipped where there is no CUDA."""

NEEDS_TRT = pytest.mark.skipif(
    not HAS_TRT, reason="needs TensorRT and onnxruntime's TensorRT provider"
)
