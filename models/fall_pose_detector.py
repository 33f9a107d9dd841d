"""Falls from BlazePose keypoints as a :class:`~models.anomaly.HazardDetector` (Apache-2.0 weights).

``pose-detect`` finds the people in the frame (one 224 px inference), ``pose-landmark-full``
reads each one in a crop turned upright by the detector's body axis (one 256 px inference per
person, batched), and :func:`models.fall_pose.posture` scores the posture. Every person is
reported as ``person`` (the detector's score; intrusion uses it), and as ``fall`` too when the
posture score reaches ``min_fall`` (the edge's thresholds sit above it). Geometry and the rule:
:mod:`models.fall_pose`. Both sessions come from :func:`models.session.create_session`
(TensorRT -> CUDA -> CPU); the files are verified against the manifest first.

Select it on the edge with ``hazards.models: [fire-yolov8-flame, pose-landmark-full]`` in place
of ``fall-yolov8n`` (docs/hazards.md).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models import blazeface_decode as bf
from models import fall_pose as fp
from models.anomaly import HazardDetection, HazardKind
from models.faces import FaceBox, Image, resolve_model_file
from models.pixels import swap_red_blue

MODEL_ID = "pose-landmark-full"
DETECT_MODEL_ID = "pose-detect"
DEFAULT_MIN_FALL = 0.25
"""A ``fall`` below this posture score is not reported at all (the edge's threshold, 0.6 by
default, decides the alarm)."""
MIN_PRESENCE = 0.5
"""The landmark model's own "a person is in this crop" score; a crop under it is dropped."""
MAX_PEOPLE = 6


class PoseFallDetector:
    """People and falls in a BGR frame from BlazePose (see the module docstring)."""

    def __init__(
        self,
        models_dir: Path | None = None,
        *,
        min_person: float = fp.DETECT_MIN_SCORE,
        min_fall: float = DEFAULT_MIN_FALL,
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
    ) -> None:
        from models.session import create_session

        self._detect: Any = create_session(
            resolve_model_file(DETECT_MODEL_ID, models_dir),
            providers=providers,
            intra_op_threads=intra_op_threads,
        )
        self._landmark: Any = create_session(
            resolve_model_file(MODEL_ID, models_dir),
            providers=providers,
            intra_op_threads=intra_op_threads,
        )
        self._anchors = bf.ssd_anchors(fp.DETECT_SIZE, fp.DETECT_STRIDES)
        self.min_person = min_person
        self.min_fall = min_fall
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def kinds(self) -> frozenset[HazardKind]:
        return frozenset(("person", "fall"))

    def people(self, image: Image) -> bf.Detections:
        """The detector's people: boxes and the four keypoints in image pixels, weighted NMS."""
        height, width = image.shape[:2]
        side = max(height, width)
        scale = fp.DETECT_SIZE / side
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        small = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        canvas = np.full((fp.DETECT_SIZE, fp.DETECT_SIZE, 3), 128, dtype=np.uint8)
        ox, oy = (fp.DETECT_SIZE - new_w) // 2, (fp.DETECT_SIZE - new_h) // 2
        canvas[oy : oy + new_h, ox : ox + new_w] = small
        blob = canvas[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1.0
        with self._lock:
            regressors, logits = self._detect.run(None, {"input": blob})
        found = bf.decode(
            regressors[0],
            logits[0],
            self._anchors,
            input_size=fp.DETECT_SIZE,
            min_score=self.min_person,
            num_keypoints=fp.DETECT_KEYPOINTS,
        )
        found = bf.weighted_nms(found)
        return found.mapped(1.0 / scale, -ox / scale, -oy / scale)

    def detect(self, image: Image) -> list[HazardDetection]:
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
            raise ValueError(f"expected a BGR H x W x 3 image, got shape {image.shape}")
        height, width = image.shape[:2]
        people = self.people(image)
        count = min(len(people), MAX_PEOPLE)
        if count == 0:
            return []
        size = fp.LANDMARK_SIZE
        rgb = swap_red_blue(image)
        crops = np.zeros((count, size, size, 3), dtype=np.uint8)
        matrices = []
        for i in range(count):
            points = people.keypoints[i]
            roi = fp.roi_from_detection(
                (float(points[0, 0]), float(points[0, 1])),
                (float(points[1, 0]), float(points[1, 1])),
            )
            matrix = fp.crop_matrix(roi)
            matrices.append(matrix)
            crops[i] = cv2.warpAffine(
                rgb,
                matrix,
                (size, size),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=(0, 0, 0),
            )
        blob = crops.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        with self._lock:
            landmarks, flags = self._landmark.run(["Identity", "Identity_1"], {"input": blob})
        raw = np.asarray(landmarks, dtype=np.float32).reshape(count, fp.NUM_LANDMARKS, 5)
        presence = np.asarray(flags, dtype=np.float32).reshape(count)  # a probability already
        detections: list[HazardDetection] = []
        for i in range(count):
            if float(presence[i]) < MIN_PRESENCE:
                continue
            points = fp.crop_to_image(raw[i, :, :2], matrices[i])
            visibility = fp.sigmoid(raw[i, :, 3])
            hip, circle = people.keypoints[i, 0], people.keypoints[i, 1]
            axis = fp.angle_from_vertical(circle, hip)
            pose = fp.posture(points, visibility, axis)
            box = fp.body_box(points, width, height)
            if box is None:
                continue
            face_box = FaceBox(*box)
            score = float(people.scores[i])
            detections.append(HazardDetection("person", score, face_box, MODEL_ID))
            if pose.score >= self.min_fall and not math.isnan(pose.score):
                detections.append(HazardDetection("fall", pose.score, face_box, MODEL_ID))
        return detections
