"""One factory for ONNX Runtime sessions: providers in the order TensorRT -> CUDA -> CPU, keeping
only those this onnxruntime build offers, and a log line naming the one the session got.

Every ONNX model in innsight (hazards, image embeddings, optional face backends) is opened here.

TensorRT engines are specific to a GPU model and a TensorRT version, so their cache is a folder
per device and per model: ``<trt_cache_dir>/<device key>/<model sha256[:16]>/`` where the device
key names the GPU and its compute capability (``nvidia-h100-80gb-hbm3-sm90``). A cache copied to
another kind of GPU is simply not found, never loaded by mistake.

The decisions (which providers, their options, the cache folder) are pure functions, tested
without a GPU; :func:`create_session` only wires them to onnxruntime.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.faces import ModelUnavailableError

logger = logging.getLogger(__name__)

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

PREFERRED_PROVIDERS: tuple[str, ...] = (TENSORRT, CUDA, CPU)

ProviderArg = str | tuple[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """What names a TensorRT engine's target: the GPU model and its compute capability."""

    name: str
    compute_capability: str
    """``"9.0"`` for an H100, ``"8.7"`` for a Jetson Orin."""


def available_providers() -> list[str]:
    """The providers this onnxruntime build offers, in its own order ([] when not installed)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return []
    return list(ort.get_available_providers())


def choose_providers(available: Sequence[str], wanted: Sequence[str] | None = None) -> list[str]:
    """``wanted`` (or TensorRT -> CUDA -> CPU) kept to what is ``available``; CPU always last."""
    order = list(wanted) if wanted is not None else list(PREFERRED_PROVIDERS)
    chosen = [p for p in order if p in available]
    if CPU not in chosen:
        chosen.append(CPU)
    return chosen


def device_key(gpu: GpuInfo | None) -> str:
    """A folder name for a device: ``nvidia-h100-80gb-hbm3-sm90``; ``unknown-gpu`` when the GPU
    could not be identified (engines built there are still kept apart from named GPUs)."""
    if gpu is None:
        return "unknown-gpu"
    slug = re.sub(r"[^a-z0-9]+", "-", gpu.name.lower()).strip("-") or "gpu"
    sm = re.sub(r"[^0-9]", "", gpu.compute_capability) or "x"
    return f"{slug}-sm{sm}"


def trt_cache_path(root: Path, gpu: GpuInfo | None, model_sha256: str) -> Path:
    """``<root>/<device key>/<model sha256[:16]>``: one engine cache per device and model."""
    if not re.fullmatch(r"[0-9a-f]{16,64}", model_sha256):
        raise ValueError(f"not a sha256 hex digest: {model_sha256!r}")
    return root / device_key(gpu) / model_sha256[:16]


def provider_options(
    chosen: Sequence[str],
    *,
    trt_cache: Path | None,
    device_id: int = 0,
    fp16: bool = True,
) -> list[ProviderArg]:
    """The ``providers=`` argument for ``InferenceSession``: TensorRT with its engine cache and
    FP16, CUDA on ``device_id``, CPU as is."""
    args: list[ProviderArg] = []
    for name in chosen:
        if name == TENSORRT:
            options: dict[str, Any] = {"device_id": device_id, "trt_fp16_enable": fp16}
            if trt_cache is not None:
                options |= {
                    "trt_engine_cache_enable": True,
                    "trt_engine_cache_path": str(trt_cache),
                    "trt_timing_cache_enable": True,
                    "trt_timing_cache_path": str(trt_cache),
                }
            args.append((name, options))
        elif name == CUDA:
            args.append((name, {"device_id": device_id}))
        else:
            args.append(name)
    return args


def parse_nvidia_smi(output: str) -> GpuInfo | None:
    """The first line of ``nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader``."""
    for line in output.splitlines():
        name, sep, cap = line.rpartition(",")
        if sep and name.strip() and re.fullmatch(r"\s*\d+\.\d+\s*", cap):
            return GpuInfo(name=name.strip(), compute_capability=cap.strip())
    return None


def detect_gpu(device_id: int = 0) -> GpuInfo | None:
    """The GPU ``device_id`` as ``nvidia-smi`` names it; None where there is no NVIDIA driver."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv
            [
                smi,
                f"--id={device_id}",
                "--query-gpu=name,compute_cap",
                "--format=csv,noheader",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_nvidia_smi(result.stdout) if result.returncode == 0 else None


def default_trt_cache_dir() -> Path:
    """``<models dir>/trt-cache``: one root for every model (the folders below it are keyed by
    device and model sha256, so packaged models need no writable folder of their own)."""
    from models.registry import default_models_dir

    return default_models_dir() / "trt-cache"


def model_sha256(model_path: Path) -> str:
    from models.registry import cached_sha256

    return cached_sha256(model_path)


def create_session(
    model_path: Path,
    *,
    providers: Sequence[str] | None = None,
    trt_cache_dir: Path | None = None,
    intra_op_threads: int | None = None,
    device_id: int = 0,
    sha256: str | None = None,
    spin: bool = False,
) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``model_path`` (typed ``Any``: onnxruntime ships no
    stubs); the path must come verified from :mod:`models.registry` (``model_path`` or
    ``verify_model_file``), which every caller in models/ does. TensorRT engines are cached
    under ``trt_cache_dir`` (default: :func:`default_trt_cache_dir`), in a folder per GPU kind
    and model (:func:`trt_cache_path`); ``sha256`` names the model there (computed when not
    given). If the GPU providers fail to start the session, it is opened again on CPU, with a
    warning.

    ``spin``: whether ONNX Runtime's intra-op threads spin-wait for work between calls. Off by
    default: each of our processes runs several inference callers beside other work (camera
    loops, API requests), and a spinning pool burns the cores they need. Measured on this 2-core
    machine (process CPU time around one ``run`` followed by 10 ms idle, BlazeFace with two
    threads): ~11 ms of CPU per call goes to spinning after it; and the
    four-camera edge benchmark used 1.25 cores with ONNX Runtime's default pool, 0.99 with
    spinning off (benchmarks/RESULTS.md)."""
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ModelUnavailableError(
            "onnxruntime is not installed: pip install onnxruntime (or onnxruntime-gpu on CUDA)"
        ) from err
    if not model_path.is_file():
        raise ModelUnavailableError(f"ONNX model {model_path} is missing")
    chosen = choose_providers(ort.get_available_providers(), providers)
    trt_cache: Path | None = None
    if TENSORRT in chosen:
        root = trt_cache_dir or default_trt_cache_dir()
        trt_cache = trt_cache_path(root, detect_gpu(device_id), sha256 or model_sha256(model_path))
        trt_cache.mkdir(parents=True, exist_ok=True)
    options = ort.SessionOptions()
    if intra_op_threads is not None:
        options.intra_op_num_threads = intra_op_threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    args = provider_options(chosen, trt_cache=trt_cache, device_id=device_id)
    try:
        session = ort.InferenceSession(str(model_path), sess_options=options, providers=args)
    except Exception as err:  # onnxruntime raises its own untyped failures
        if chosen == [CPU]:
            raise
        logger.warning(
            "onnx session %s failed on %s (%s); opening it on CPU",
            model_path.name,
            ", ".join(chosen[:-1]),
            err,
        )
        session = ort.InferenceSession(str(model_path), sess_options=options, providers=[CPU])
    got = session.get_providers()
    level = logging.WARNING if got[0] != chosen[0] else logging.INFO
    logger.log(
        level,
        "onnx session %s on %s (asked %s%s)",
        model_path.name,
        got[0],
        ", ".join(chosen),
        f"; TensorRT cache {trt_cache}" if trt_cache is not None and got[0] == TENSORRT else "",
    )
    return session
