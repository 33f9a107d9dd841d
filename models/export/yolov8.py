"""Export an ultralytics YOLOv8 detection checkpoint (``.pt``) to ONNX, ultralytics-style.

Run by the build venv's Python (it has torch and ultralytics; the runtime venv never does)::

    python -m models.export.yolov8 --weights light_yolov8_flame.pt --out fire-yolov8-flame.onnx \
        --layers-from fire_detector.modules --model-id fire-yolov8-flame

The graph: input ``images`` float32 [1, 3, S, S] (RGB / 255, letterboxed with grey 114), output
``output0`` float32 [1, 4 + nc, anchors] (cx, cy, w, h in input pixels, then one sigmoid score per
class; 8400 anchors at S = 640). No NMS in the graph: the runtime does it. The ONNX metadata carries
what a loader needs (``names``, ``imgsz``, ``stride``, ``normalisation``, ``source_sha256``).

``--layers-from PKG.MODULE`` loads a module's file WITHOUT importing its package (fire-detector's
``__init__`` drags in torchvision and ultralytics' predictor) and publishes its classes on
``__main__``: checkpoints trained from a script pickle their custom layers as ``__main__.Class``.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.export import (
    EXPORTER_VERSION,
    file_sha256,
    write_metadata,
)

NORMALISATION = "rgb/255; letterbox to imgsz keeping aspect, pad 114; NCHW float32"


def load_layers(dotted: str) -> list[str]:
    """Load ``pkg.module`` from its file without running ``pkg/__init__`` and publish its classes
    on ``__main__``; returns the class names published."""
    package, _, module = dotted.rpartition(".")
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"--layers-from {dotted}: package {package!r} is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / f"{module}.py"
    if not path.is_file():
        raise SystemExit(f"--layers-from {dotted}: {path} does not exist")
    mod_spec = importlib.util.spec_from_file_location(f"_innsight_layers_{module}", path)
    if mod_spec is None or mod_spec.loader is None:
        raise SystemExit(f"--layers-from {dotted}: cannot load {path}")
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    main = sys.modules["__main__"]
    published = []
    for name, obj in vars(mod).items():
        if inspect.isclass(obj) and obj.__module__ == mod.__name__:
            setattr(main, name, obj)
            published.append(name)
    return published


def export(
    weights: Path,
    out: Path,
    *,
    imgsz: int = 640,
    opset: int = 17,
    layers_from: Sequence[str] = (),
    model_id: str = "",
) -> dict[str, str]:
    """Write ``out`` (atomically) and return the metadata written into it."""
    import torch
    from ultralytics.nn.modules import Detect

    for dotted in layers_from:
        load_layers(dotted)
    ckpt: Any = torch.load(weights, map_location="cpu", weights_only=False)
    model = (ckpt.get("ema") or ckpt["model"]) if isinstance(ckpt, dict) else ckpt
    model = model.float().eval()
    for p in model.parameters():
        p.requires_grad = False
    model = model.fuse(verbose=False)
    heads = [m for m in model.modules() if isinstance(m, Detect)]
    if not heads:
        raise SystemExit(f"{weights}: no YOLO Detect head: not a detection checkpoint")
    for m in heads:
        m.dynamic = False
        m.export = True
        m.format = "onnx"
        m.shape = None
    names = {int(k): str(v) for k, v in dict(model.names).items()}
    stride = int(max(model.stride.tolist()))
    im = torch.zeros(1, 3, imgsz, imgsz)
    with torch.no_grad():
        y = model(im)
    y0 = y[0] if isinstance(y, (list, tuple)) else y
    expected = 4 + len(names)
    if y0.shape[1] != expected:
        raise SystemExit(f"{weights}: output {tuple(y0.shape)} is not [1, {expected}, anchors]")

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        raw = Path(tmp) / "raw.onnx"
        with warnings.catch_warnings():
            # torch >= 2.9 calls the TorchScript exporter "legacy"; it is the one ultralytics uses
            # and the one that gives the fixed [1, 4 + nc, 8400] graph the runtime expects
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                (im,),
                str(raw),
                opset_version=opset,
                input_names=["images"],
                output_names=["output0"],
                dynamo=False,
            )
        train_args = ckpt.get("train_args", {}) if isinstance(ckpt, dict) else {}
        metadata = {
            "description": f"YOLOv8 detector exported from {weights.name}",
            "author": "innsight models.export.yolov8",
            "task": "detect",
            "batch": "1",
            "imgsz": str([imgsz, imgsz]),
            "stride": str(stride),
            "names": str(names),
            "channels": "3",
            "normalisation": NORMALISATION,
            "output": f"output0 [1, {expected}, {int(y0.shape[2])}]: cx, cy, w, h, class scores",
            "source_file": weights.name,
            "source_sha256": file_sha256(weights),
            "ultralytics_version": str(ckpt.get("version", "")) if isinstance(ckpt, dict) else "",
            "train_imgsz": str(train_args.get("imgsz", "")),
            "torch_version": torch.__version__,
            "opset": str(opset),
            "exporter": f"models.export.yolov8 {EXPORTER_VERSION}",
        }
        if model_id:
            metadata["model_id"] = model_id
        write_metadata(raw, raw, metadata)
        raw.replace(out)
    return metadata


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.export.yolov8", description=__doc__)
    parser.add_argument("--weights", type=Path, required=True, help="ultralytics .pt checkpoint")
    parser.add_argument("--out", type=Path, required=True, help="destination .onnx")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument(
        "--layers-from",
        action="append",
        default=[],
        metavar="PKG.MODULE",
        help="custom layers the checkpoint pickled as __main__.X (e.g. fire_detector.modules)",
    )
    parser.add_argument("--model-id", default="", help="recorded in the ONNX metadata")
    args = parser.parse_args(argv)
    if not args.weights.is_file():
        sys.stderr.write(f"{args.weights}: no such checkpoint\n")
        return 2
    started = time.perf_counter()
    meta = export(
        args.weights,
        args.out,
        imgsz=args.imgsz,
        opset=args.opset,
        layers_from=args.layers_from,
        model_id=args.model_id,
    )
    sys.stdout.write(
        f"exported {args.out} ({args.out.stat().st_size} bytes, classes {meta['names']}) "
        f"in {time.perf_counter() - started:.1f}s\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
