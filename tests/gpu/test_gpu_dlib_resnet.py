"""dlib's ResNet on ONNX Runtime's GPU providers (``dlib-resnet-v1-onnx``): the descriptors of
real face chips agree with the CPU's, one chip or a batch. Skipped where there is no NVIDIA GPU
with ``onnxruntime-gpu``; run with ``pytest -m gpu tests/gpu``."""

from __future__ import annotations

import numpy as np
import pytest

from models.dlib_resnet_onnx import DlibResnetOnnx, normalise_rows
from models.face_dlib import DlibFaceAnalyzer
from models.faces import Image
from models.session import CPU, CUDA, TENSORRT
from testkit.face_photos import packaged_photo
from testkit.gpu import GPU_MARKS, NEEDS_TRT

pytestmark = GPU_MARKS


@pytest.fixture(scope="module")
def chips() -> list[Image]:
    analyzer = DlibFaceAnalyzer(upsample=1, landmarks68=False, embedder="dlib")
    photo = packaged_photo("t1.jpg")
    return [analyzer.align(photo, face).image for face in analyzer.detect(photo)]


@pytest.fixture(scope="module")
def on_cpu(chips: list[Image]) -> np.ndarray:
    return normalise_rows(DlibResnetOnnx(providers=[CPU]).descriptors(chips))


def test_cuda_descriptors_agree_with_the_cpu(chips: list[Image], on_cpu: np.ndarray) -> None:
    gpu = DlibResnetOnnx(providers=[CUDA])
    assert gpu.provider == CUDA
    batch = normalise_rows(gpu.descriptors(chips))
    single = normalise_rows(gpu.descriptors(chips[:1]))
    assert len(chips) == 6
    assert (batch * on_cpu).sum(axis=1).min() >= 0.9999
    assert float(single[0] @ on_cpu[0]) >= 0.9999


@NEEDS_TRT
def test_tensorrt_fp16_descriptors_stay_in_dlibs_space(
    chips: list[Image], on_cpu: np.ndarray
) -> None:
    trt = DlibResnetOnnx(providers=[TENSORRT, CUDA])
    assert trt.provider == TENSORRT
    ours = normalise_rows(trt.descriptors(chips))
    assert (ours * on_cpu).sum(axis=1).min() >= 0.999  # FP16 engine
