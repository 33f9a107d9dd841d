"""dlib's ResNet face embedder (``dlib-resnet-v1``) on ONNX Runtime: the same network and weights,
converted by models/export/dlib_resnet.py (manifest id ``dlib-resnet-v1-onnx``).

Why: dlib's own forward pass costs 110-170 ms a face on a 2-core CPU and holds the GIL, so the
edge's camera threads and the hub's requests wait on each other; ONNX Runtime releases the GIL
while it runs, batches several chips into one run, and takes TensorRT or CUDA where there is a GPU
(models/session.py).

Same space: the input is the chip ``dlib.get_face_chip`` makes (150 px, padding 0.25), the graph
is dlib's forward pass (cosine >= 0.9999 to ``compute_face_descriptor`` on real chips,
tests/unit/test_dlib_resnet_onnx.py), so a descriptor from either path matches templates made by
the other: the templates keep the model id ``dlib-resnet-v1``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.faces import Image, resolve_model_file

logger = logging.getLogger(__name__)

ONNX_MODEL_ID = "dlib-resnet-v1-onnx"
CHIP_SIZE = 150
INPUT_NAME = "input"


def chips_to_input(chips: Sequence[Image]) -> npt.NDArray[np.float32]:
    """BGR uint8 150 x 150 chips -> the model's ``[N, 3, 150, 150]`` float32 RGB input (0..255;
    the graph subtracts dlib's mean and divides by 256)."""
    if not chips:
        raise ValueError("no chips to embed")
    for chip in chips:
        if chip.shape != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"a dlib chip is {CHIP_SIZE} x {CHIP_SIZE} x 3, got {chip.shape}")
    batch = np.stack(chips)[:, :, :, ::-1].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32)


def normalise_rows(descriptors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Each row L2-normalised (a zero or non-finite row is an error, as in ``l2_normalise``)."""
    norms = np.linalg.norm(descriptors, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0.0):
        raise ValueError("cannot normalise a zero or non-finite embedding")
    return np.asarray(descriptors / norms, dtype=np.float32)


class DlibResnetOnnx:
    """``dlib-resnet-v1``'s descriptors from the exported ONNX model (verified against the
    manifest by :func:`models.registry.model_path`). ``session.run`` is thread-safe and releases
    the GIL: no lock is held around it."""

    def __init__(
        self,
        models_dir: Path | None = None,
        *,
        intra_op_threads: int | None = None,
        providers: Sequence[str] | None = None,
    ) -> None:
        from models.session import create_session

        path = resolve_model_file(ONNX_MODEL_ID, models_dir)
        self._session: Any = create_session(
            path, providers=providers, intra_op_threads=intra_op_threads
        )
        self.provider: str = str(self._session.get_providers()[0])

    def descriptors(self, chips: Sequence[Image]) -> npt.NDArray[np.float32]:
        """dlib's raw 128-d descriptors of ``chips`` (BGR 150 px), one run for all of them."""
        out = self._session.run(None, {INPUT_NAME: chips_to_input(chips)})[0]
        return np.asarray(out, dtype=np.float32)

    def embed_chips(self, chips: Sequence[Image]) -> list[npt.NDArray[np.float32]]:
        """L2-normalised embeddings of ``chips``, in order."""
        return list(normalise_rows(self.descriptors(chips)))
