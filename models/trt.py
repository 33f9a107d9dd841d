"""``innsight models build-trt ID``: a TensorRT engine for one ONNX model, built on the device.

An engine is tied to the GPU model and the TensorRT version that built it, so it is written to
``<models_dir>/<id>/trt/<device key>/<stem>-<sha256[:16]>-trt<version>.plan`` (device key from
:func:`models.session.device_key`). Where onnxruntime offers its TensorRT provider, the command
also warms that provider's engine cache (:func:`models.session.create_session` uses it), so the
first camera frame does not pay for the build.

The ``tensorrt`` Python package comes with JetPack on a Jetson and from NVIDIA's index on x86
(``pip install tensorrt`` from PyPI is only a stub that needs ``--extra-index-url
https://pypi.nvidia.com``); :func:`missing_requirements` says what is absent, in words.
"""

from __future__ import annotations

import importlib
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.session import (
    TENSORRT,
    GpuInfo,
    available_providers,
    create_session,
    detect_gpu,
    device_key,
)

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    "install TensorRT's Python package: on a Jetson it comes with JetPack "
    "(apt install python3-libnvinfer); on x86 with an NVIDIA driver: "
    "pip install --extra-index-url https://pypi.nvidia.com tensorrt "
    "(plus onnxruntime-gpu for the runtime's TensorRT provider)"
)


class TrtUnavailableError(RuntimeError):
    """TensorRT, a GPU or an input shape is missing; the message says which and the fix."""


@dataclass(frozen=True, slots=True)
class EngineResult:
    engine: Path
    seconds: float
    fp16: bool
    ort_cache_warmed: bool


def import_tensorrt() -> Any | None:
    try:
        return importlib.import_module("tensorrt")
    except ImportError:
        return None
    except OSError:  # the wheel is there, libnvinfer is not
        return None


def missing_requirements(trt: Any | None, gpu: GpuInfo | None) -> list[str]:
    """What stops an engine build here, in words (empty: nothing)."""
    missing: list[str] = []
    if trt is None:
        missing.append(f"the `tensorrt` Python package is not installed: {INSTALL_HINT}")
    if gpu is None:
        missing.append(
            "no NVIDIA GPU is visible (nvidia-smi is absent or lists none): TensorRT engines are "
            "built on the device that runs them"
        )
    return missing


def engine_path(
    directory: Path, model_file: Path, sha256: str, gpu: GpuInfo | None, version: str
) -> Path:
    return (
        directory / "trt" / device_key(gpu) / f"{model_file.stem}-{sha256[:16]}-trt{version}.plan"
    )


def static_shape(shape: Sequence[Any], *, batch: int = 1) -> tuple[int, ...]:
    """An ONNX input shape with a symbolic batch made ``batch``; other symbolic dims refuse."""
    dims: list[int] = []
    for i, dim in enumerate(shape):
        if isinstance(dim, int) and dim > 0:
            dims.append(dim)
        elif i == 0:
            dims.append(batch)
        else:
            raise TrtUnavailableError(
                f"input dimension {i} is dynamic ({dim!r}): build-trt handles a dynamic batch "
                "only; export the model with a fixed input size"
            )
    return tuple(dims)


def build_engine(
    trt: Any,
    onnx_path: Path,
    out: Path,
    *,
    fp16: bool = True,
    workspace_gib: float = 2.0,
    max_batch: int = 1,
) -> bool:
    """Parse ``onnx_path`` and write a serialized engine to ``out``; returns whether FP16 was
    used. TensorRT 8.6/10 API."""
    log = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(log)
    explicit = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(explicit)
    parser = trt.OnnxParser(network, log)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise TrtUnavailableError(f"TensorRT cannot parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    use_fp16 = fp16 and bool(builder.platform_has_fast_fp16)
    if use_fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = None
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shape = list(tensor.shape)
        if any(d < 0 for d in shape):
            opt = static_shape([d if d >= 0 else "?" for d in shape], batch=1)
            top = (max_batch, *opt[1:])
            profile = profile or builder.create_optimization_profile()
            profile.set_shape(tensor.name, opt, opt, top)
    if profile is not None:
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TrtUnavailableError(f"TensorRT could not build an engine for {onnx_path.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(bytes(serialized))
    Path(name).replace(out)
    return use_fp16


def warm_ort_cache(onnx_path: Path, sha256: str, trt_cache_dir: Path | None) -> bool:
    """Open the model on onnxruntime's TensorRT provider and run one zero frame, so its engine
    cache is filled; False where the provider is not offered or the input is not static."""
    if TENSORRT not in available_providers():
        return False
    import numpy as np

    session = create_session(
        onnx_path, providers=[TENSORRT], trt_cache_dir=trt_cache_dir, sha256=sha256
    )
    if session.get_providers()[0] != TENSORRT:
        return False
    feeds: dict[str, Any] = {}
    for inp in session.get_inputs():
        try:
            shape = static_shape(inp.shape)
        except TrtUnavailableError:
            return False
        dtype = np.float16 if "float16" in inp.type else np.float32
        feeds[inp.name] = np.zeros(shape, dtype=dtype)
    session.run(None, feeds)
    return True


def build_for_model(
    model_id: str,
    *,
    models_dir: Path | None = None,
    fp16: bool = True,
    max_batch: int = 1,
    device_id: int = 0,
) -> EngineResult:
    """Build ``model_id``'s engine (its ONNX file verified first by the registry)."""
    from models.registry import cached_sha256, default_models_dir, load_manifest, model_path

    entry = load_manifest().get(model_id)
    if entry.format != "onnx" or entry.unpack is not None:
        raise TrtUnavailableError(
            f"{model_id} is a {entry.format}{' archive' if entry.unpack else ''} model: "
            "build-trt takes one ONNX file"
        )
    onnx_path = model_path(model_id, models_dir=models_dir)
    trt = import_tensorrt()
    gpu = detect_gpu(device_id)
    missing = missing_requirements(trt, gpu)
    if missing or trt is None:
        raise TrtUnavailableError(
            f"cannot build a TensorRT engine for {model_id}: " + "; ".join(missing)
        )
    sha = cached_sha256(onnx_path)
    directory = (models_dir or default_models_dir()) / model_id
    out = engine_path(directory, onnx_path, sha, gpu, str(trt.__version__))
    started = time.perf_counter()
    used_fp16 = build_engine(trt, onnx_path, out, fp16=fp16, max_batch=max_batch)
    root = models_dir / "trt-cache" if models_dir is not None else None
    warmed = warm_ort_cache(onnx_path, sha, root)
    elapsed = time.perf_counter() - started
    logger.info("TensorRT engine for %s: %s (%.1f s)", model_id, out, elapsed)
    return EngineResult(engine=out, seconds=elapsed, fp16=used_fp16, ort_cache_warmed=warmed)
