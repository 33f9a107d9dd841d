"""BlazeFace (MediaPipe short-range, Apache-2.0) as a face detector, through models/session.py.

The full-range model (``blazeface-full``: faces further away, a 192 px input) is selectable with
``BlazeFaceDetector(variant="blazeface-full")``; short-range stays the default
(benchmarks/blazeface_range.py compares the two on small faces).

:class:`BlazeFaceDetector` searches a frame in square windows (``models.blazeface_decode.windows``)
batched into one ONNX Runtime call (TensorRT -> CUDA -> CPU), decodes the anchors and merges the
detections with MediaPipe's weighted NMS. :class:`BlazeFaceDlibAnalyzer` pairs it with dlib's
ResNet embedder (``dlib-resnet-v1``): galleries enrolled with the dlib backend keep working, only
detection changes. Embeddings are taken from a crop of the full-resolution image around the face,
so a 12-megapixel photo costs no full-frame colour conversion.

dlib's 5-point shape predictor was trained on dlib's HOG boxes, which sit a little lower and
tighter on the face than BlazeFace's; :func:`dlib_like_box` moves a BlazeFace box to where HOG
would have put it (the constants were measured on the packaged photos: t1.jpg, Tom Hanks, the
astronaut) so that alignment, and so the embedding, stays what the dlib backend gives.

Five landmarks in :class:`~models.faces.DetectedFace` (right eye, left eye, nose tip, mouth
corners): BlazeFace gives the eyes, the nose tip and the mouth *centre*; the two corners are
placed either side of the mouth centre along the eye line (0.4 interocular distances out), which
is what the pose estimate of the quality gate needs (it reads the eyes and nose only).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models import blazeface_decode as bf
from models.faces import AlignedFace, DetectedFace, Embedding, FaceBox, Image, resolve_model_file
from models.pixels import shrink_to

logger = logging.getLogger(__name__)

MODEL_ID = "blazeface-short"
MOUTH_HALF_WIDTH = 0.4
"""Mouth corners: this many interocular distances either side of the mouth centre."""
# BlazeFace box -> dlib HOG box: centre shift and size, in BlazeFace box sides (measured, see
# the module docstring).
DLIB_DX, DLIB_DY, DLIB_SCALE = 0.0, -0.02, 0.98
CONFIRM_BELOW = 0.9
MIN_PRESENCE = 0.5
"""A detection BlazeFace scores under :data:`CONFIRM_BELOW` is kept only if Face Mesh, run on
it, says a face is there (presence >= :data:`MIN_PRESENCE`). Measured on the demo clip: the
astronaut's suit patch scores 0.60-0.77 as a face, its mesh presence 0.001-0.002; every real
face of the clip (detector scores 0.69-0.98) has a presence of 1.0."""
EMBED_CROP_MARGIN = 1.0
"""The crop the embedder sees: the box plus this many box sides on every side."""


def five_points(keypoints: np.ndarray) -> np.ndarray:
    """BlazeFace's six keypoints -> the five-point form (mouth corners estimated)."""
    k = np.asarray(keypoints, dtype=np.float32).reshape(bf.NUM_KEYPOINTS, 2)
    right_eye, left_eye, nose, mouth = k[0], k[1], k[2], k[3]
    half = (left_eye - right_eye) * MOUTH_HALF_WIDTH
    return np.stack([right_eye, left_eye, nose, mouth - half, mouth + half]).astype(np.float32)


def dlib_like_box(box: FaceBox, width: int, height: int) -> FaceBox:
    """Where dlib's HOG detector would have boxed the face BlazeFace boxed as ``box``."""
    side = max(box.w, box.h) * DLIB_SCALE
    cx = box.x + box.w / 2 + DLIB_DX * box.w
    cy = box.y + box.h / 2 + DLIB_DY * box.h
    x0, y0 = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    x1, y1 = min(width, round(cx + side / 2)), min(height, round(cy + side / 2))
    return FaceBox(x0, y0, max(1, x1 - x0), max(1, y1 - y0))


class BlazeFaceDetector:
    """Faces in a BGR frame, by BlazeFace short-range in windows; ``min_face_px`` sets how small
    a face is searched for (more windows for smaller faces)."""

    def __init__(
        self,
        models_dir: Path | None = None,
        *,
        min_face_px: int = 40,
        min_score: float | None = None,
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
        variant: str = MODEL_ID,
    ) -> None:
        """``variant``: ``blazeface-short`` (the default) or ``blazeface-full``
        (:data:`models.blazeface_decode.VARIANTS`); ``min_score`` defaults to the variant's
        (0.7 short-range, 0.6 full-range)."""
        from models.session import create_session

        if variant not in bf.VARIANTS:
            raise ValueError(f"unknown BlazeFace variant {variant!r} ({sorted(bf.VARIANTS)})")
        self.variant = bf.VARIANTS[variant]
        path = resolve_model_file(self.variant.model_id, models_dir)
        self._session: Any = create_session(
            path, providers=providers, intra_op_threads=intra_op_threads
        )
        self._input = self._session.get_inputs()[0].name
        v = self.variant
        self._anchors = bf.ssd_anchors(v.input_size, v.strides, v.per_layer)
        self.min_face_px = min_face_px
        self.min_score = v.min_score if min_score is None else min_score
        self._lock = threading.Lock()

    def _batch(self, image: Image, windows: list[bf.Window]) -> np.ndarray:
        """The windows as one [B, 3, S, S] float32 batch (S: the model's input side), RGB in
        -1..1, black past the edge."""
        size = self.variant.input_size
        height, width = image.shape[:2]
        batch = np.zeros((len(windows), size, size, 3), dtype=np.uint8)
        levels: dict[int, np.ndarray] = {}
        for i, win in enumerate(windows):
            scale = size / win.side
            level = levels.get(win.side)
            if level is None:
                shape = (max(1, round(width * scale)), max(1, round(height * scale)))
                level = cv2.resize(image, shape, interpolation=cv2.INTER_AREA)
                levels[win.side] = level
            x0, y0 = round(win.x * scale), round(win.y * scale)
            sx0, sy0 = max(x0, 0), max(y0, 0)
            sx1 = min(x0 + size, level.shape[1])
            sy1 = min(y0 + size, level.shape[0])
            if sx1 > sx0 and sy1 > sy0:
                batch[i, sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = level[sy0:sy1, sx0:sx1]
        rgb = batch[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32)
        return np.ascontiguousarray(rgb / 127.5 - 1.0, dtype=np.float32)

    def _run(self, image: Image, wins: list[bf.Window]) -> list[bf.Detections]:
        batch = self._batch(image, wins)
        with self._lock:
            regressors, logits = self._session.run(None, {self._input: batch})
        parts = []
        for i, win in enumerate(wins):
            found = bf.decode(
                regressors[i],
                logits[i],
                self._anchors,
                input_size=self.variant.input_size,
                min_score=self.min_score,
            )
            if len(found):
                parts.append(found.mapped(win.side / self.variant.input_size, win.x, win.y))
        return parts

    def detect_raw(
        self,
        image: Image,
        *,
        coarse_first: bool = False,
        within: Sequence[FaceBox] | None = None,
    ) -> bf.Detections:
        """All faces as boxes, keypoints and scores in ``image`` pixels (after weighted NMS).

        ``coarse_first``: the window sizes are tried largest first, and the search stops at the
        first size that finds a face: a portrait costs one 128 px inference, a group photo
        still gets every size down to ``min_face_px``, but faces much smaller than the ones
        found (people in the background) are not looked for.

        ``within``: only the windows that touch one of these boxes are searched (None: all), so a
        face with any part inside them is found (:func:`models.blazeface_decode.touching`) and a
        frame whose motion is on one side costs a few windows."""
        height, width = image.shape[:2]
        wins = bf.windows(
            width, height, self.min_face_px, face_fraction_min=self.variant.face_fraction_min
        )
        if within is not None:
            wins = bf.touching(wins, [(b.x, b.y, b.w, b.h) for b in within])
            if not wins:
                return bf.Detections.empty()
        if not coarse_first:
            return bf.weighted_nms(bf.Detections.concat(self._run(image, wins)))
        for side in sorted({w.side for w in wins}, reverse=True):
            parts = self._run(image, [w for w in wins if w.side == side])
            if parts:
                return bf.weighted_nms(bf.Detections.concat(parts))
        return bf.Detections.empty()

    def detect(
        self,
        image: Image,
        *,
        coarse_first: bool = False,
        within: Sequence[FaceBox] | None = None,
    ) -> list[DetectedFace]:
        """The faces of :meth:`detect_raw` as :class:`DetectedFace` (five-point landmarks)."""
        height, width = image.shape[:2]
        found = self.detect_raw(image, coarse_first=coarse_first, within=within)
        faces = []
        for box, points, score in zip(found.boxes, found.keypoints, found.scores, strict=True):
            x0, y0 = max(0, round(float(box[0]))), max(0, round(float(box[1])))
            x1, y1 = min(width, round(float(box[2]))), min(height, round(float(box[3])))
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            face_box = FaceBox(x0, y0, x1 - x0, y1 - y0)
            faces.append(DetectedFace(face_box, float(score), five_points(points)))
        return faces


class BlazeFaceDlibAnalyzer:
    """:class:`models.faces.FaceAnalyzer`: BlazeFace finds the faces, dlib's ResNet embeds them
    (``model_id`` is dlib's: the same galleries). ``detect`` returns dlib-like boxes
    (:func:`dlib_like_box`), so every consumer of the boxes (crops, the quality gate, liveness)
    sees what it saw with the dlib backend."""

    def __init__(
        self,
        detector: BlazeFaceDetector,
        embedder: Any,
        *,
        detect_max_side: int | None = None,
        coarse_first: bool = False,
        verifier: Any = None,
        confirm_below: float = CONFIRM_BELOW,
    ) -> None:
        """``detect_max_side``: larger images are searched in a copy scaled down to this
        longest side (boxes mapped back; embeddings still from the full image).
        ``coarse_first``: see :meth:`BlazeFaceDetector.detect_raw`. ``verifier``: a
        :class:`models.face_mesh.FaceMeshLandmarker` whose face-presence score must reach
        :data:`MIN_PRESENCE` for a detection scored under ``confirm_below`` to be kept."""
        self._detector = detector
        self._embedder = embedder
        self._max_side = detect_max_side
        self._coarse_first = coarse_first
        self._verifier = verifier
        self._confirm_below = confirm_below

    @property
    def model_id(self) -> str:
        return str(self._embedder.model_id)

    @property
    def dim(self) -> int:
        return int(self._embedder.dim)

    @property
    def detect_max_side(self) -> int | None:
        """Larger images are searched in a copy scaled down to this longest side."""
        return self._max_side

    @property
    def detector(self) -> BlazeFaceDetector:
        return self._detector

    @property
    def embedder(self) -> Any:
        """The dlib analyzer that embeds (and aligns: other models reuse its chip)."""
        return self._embedder

    def detect(self, image: Image) -> list[DetectedFace]:
        return self._detect(image, None)

    def detect_within(self, image: Image, regions: Sequence[FaceBox]) -> list[DetectedFace]:
        """The faces with a part inside ``regions``: only BlazeFace's windows that touch them
        are searched (:meth:`BlazeFaceDetector.detect_raw`)."""
        return self._detect(image, regions)

    def _detect(self, image: Image, regions: Sequence[FaceBox] | None) -> list[DetectedFace]:
        height, width = image.shape[:2]
        scale = 1.0
        small = image
        if self._max_side is not None:
            small, scale = shrink_to(image, self._max_side)
        within = None
        if regions is not None:
            within = [
                FaceBox(
                    math.floor(b.x * scale),
                    math.floor(b.y * scale),
                    math.ceil(b.w * scale) + 1,
                    math.ceil(b.h * scale) + 1,
                )
                for b in regions
            ]
        faces = []
        found_faces = self._detector.detect(small, coarse_first=self._coarse_first, within=within)
        for found in found_faces:
            if self._verifier is not None and found.score < self._confirm_below:
                _, presence = self._verifier.mesh(small, found)
                if presence < MIN_PRESENCE:
                    continue
            b = found.box
            box = FaceBox(
                round(b.x / scale), round(b.y / scale), round(b.w / scale), round(b.h / scale)
            )
            points = None if found.landmarks is None else found.landmarks / np.float32(scale)
            faces.append(DetectedFace(dlib_like_box(box, width, height), found.score, points))
        return faces

    def embed(self, image: Image, face: DetectedFace) -> Embedding:
        """dlib's embedding from a crop around the face (the same pixels the shape predictor and
        the chip read in the whole image)."""
        crop, local = self._embed_crop(image, face)
        vector: Embedding = self._embedder.embed(crop, local)
        return vector

    @staticmethod
    def _embed_crop(image: Image, face: DetectedFace) -> tuple[Image, DetectedFace]:
        """The crop around ``face`` that the embedder reads, and the face in its coordinates."""
        height, width = image.shape[:2]
        b = face.box
        mx, my = round(b.w * EMBED_CROP_MARGIN), round(b.h * EMBED_CROP_MARGIN)
        x0, y0 = max(0, b.x - mx), max(0, b.y - my)
        x1, y1 = min(width, b.x + b.w + mx), min(height, b.y + b.h + my)
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        return crop, DetectedFace(FaceBox(b.x - x0, b.y - y0, b.w, b.h), face.score, None)

    def align(self, image: Image, face: DetectedFace) -> AlignedFace:
        """The chip :meth:`embed` embeds (dlib's, placed in the same crop); its ``landmarks``
        are in that crop's coordinates."""
        crop, local = self._embed_crop(image, face)
        aligned: AlignedFace = self._embedder.align(crop, local)
        return aligned

    def embed_aligned_batch(self, aligned: Sequence[AlignedFace]) -> list[Embedding]:
        """Several chips of :meth:`align` in one run of the embedder."""
        vectors: list[Embedding] = self._embedder.embed_aligned_batch(aligned)
        return vectors

    @property
    def embed_provider(self) -> str:
        """Where the embedder runs (an ONNX Runtime provider, or ``dlib``)."""
        return str(getattr(self._embedder, "embed_provider", "unknown"))


HUB_DETECT_MAX_SIDE = 640
HUB_MIN_FACE_PX = 48
"""The hub searches uploaded photos at 640 px for faces of 48 px and up there (7.5 % of the
photo's longer side: a 300 px face in a 12-megapixel photo, the six people of t1.jpg)."""


def hub_face_analyzer(
    *, hog_upsample: int = 1, models_dir: Path | None = None
) -> BlazeFaceDlibAnalyzer:
    """The hub's face backend for ``/face/recognize`` and enrolment: BlazeFace on a 640 px copy,
    coarse first, uncertain detections confirmed by Face Mesh, dlib's ResNet from the
    full-resolution crop (the same ``dlib-resnet-v1``
    templates as before). ``hog_upsample`` configures the dlib analyzer kept for embedding."""
    from models.face_dlib import DlibFaceAnalyzer
    from models.face_mesh import FaceMeshLandmarker

    # one thread: the API serves requests in parallel, and an idle-spinning pool per request
    # only steals the cores the other requests need
    detector = BlazeFaceDetector(models_dir, min_face_px=HUB_MIN_FACE_PX, intra_op_threads=1)
    embedder = DlibFaceAnalyzer(upsample=hog_upsample, landmarks68=False, models_dir=models_dir)
    verifier = FaceMeshLandmarker(models_dir, intra_op_threads=1)
    return BlazeFaceDlibAnalyzer(
        detector,
        embedder,
        detect_max_side=HUB_DETECT_MAX_SIDE,
        coarse_first=True,
        verifier=verifier,
    )
