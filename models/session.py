"""One factory for ONNX Runtime sessions: providers in the order TensorRT -> CUDA -> CPU, keeping
only those this onnxruntime build offers, and a log line naming the one the session got.

Every ONNX model in innsight (hazards, image embeddings, optional face backends) is opened here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.faces import ModelUnavailableError

logger = logging.getLogger(__name__)

PREFERRED_PROVIDERS: tuple[str, ...] = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)


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
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def create_session(
    model_path: Path,
    *,
    providers: Sequence[str] | None = None,
    trt_cache_dir: Path | None = None,
    intra_op_threads: int | None = None,
) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``model_path`` (typed ``Any``: onnxruntime ships no
    stubs). TensorRT engines are cached under ``trt_cache_dir`` (default: beside the model)."""
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ModelUnavailableError(
            "onnxruntime is not installed: pip install onnxruntime (or onnxruntime-gpu on CUDA)"
        ) from err
    if not model_path.is_file():
        raise ModelUnavailableError(f"ONNX model {model_path} is missing")
    chosen = choose_providers(ort.get_available_providers(), providers)
    options = ort.SessionOptions()
    if intra_op_threads is not None:
        options.intra_op_num_threads = intra_op_threads
    provider_args: list[Any] = []
    for name in chosen:
        if name == "TensorrtExecutionProvider":
            cache = trt_cache_dir or model_path.parent / "trt-cache"
            cache.mkdir(parents=True, exist_ok=True)
            provider_args.append(
                (
                    name,
                    {
                        "trt_engine_cache_enable": True,
                        "trt_engine_cache_path": str(cache),
                        "trt_fp16_enable": True,
                    },
                )
            )
        else:
            provider_args.append(name)
    session = ort.InferenceSession(str(model_path), sess_options=options, providers=provider_args)
    got = session.get_providers()
    logger.info("onnx session %s on %s (asked %s)", model_path.name, got[0], ", ".join(chosen))
    return session
