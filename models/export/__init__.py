"""Exporters: turn a packaged PyTorch checkpoint into the ONNX file the runtime loads.

Each exporter is a module ``models.export.<name>`` run as
``python -m models.export.<name> --weights SRC --out DST`` by the build venv's Python (it has torch;
the runtime venv never does, see ``models/build_venv.py``). This package is imported by that Python
too, so it stays stdlib-only at import time; ``onnx`` is imported where it is used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

EXPORTER_VERSION = "1"
"""Bumped when an exporter's output changes for the same source: the build cache keys on it."""

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_metadata(src: Path, dst: Path, metadata: Mapping[str, str]) -> None:
    """Copy the ONNX model ``src`` to ``dst`` (may be the same path) with ``metadata`` set as its
    ``metadata_props`` (existing keys replaced)."""
    import onnx

    model = onnx.load(str(src))
    props = {p.key: p.value for p in model.metadata_props}
    props.update({str(k): str(v) for k, v in metadata.items()})
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key = key
        entry.value = value
    onnx.save(model, str(dst))
