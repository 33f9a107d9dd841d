"""Water on a floor zone: change against a learned dry background, kept only where it looks wet.

No model in any package sees water, so this is classical vision over one fixed camera and one
floor polygon. The detector first learns the dry floor (the mean of its first ``learn_frames``
frames, then a slow running average while nothing is flagged), then marks a pixel *wet* when,
against that background, it is

- **darker and smoother**: a film of water darkens a floor and hides its fine texture. Texture is
  measured *relative to local brightness* (|Laplacian| / local mean), so a shadow, which darkens
  texture and brightness alike, is not wet; or
- **a specular highlight**: much brighter than the dry floor and nearly colourless (a lamp
  reflected in a puddle).

Global lighting changes are cancelled first (the frame is rescaled so that the zone's median
brightness matches the background's). Boxes of people are masked out (a person standing on the
floor is not a puddle), and patches smaller than ``min_area`` of the zone are ignored. The wet
patch's box is reported as a ``water`` :class:`~models.anomaly.HazardDetection`; persistence over
frames is the edge's N-of-M filter's job.

What it cannot see: water on a floor that was already wet or glossy when it learned; clear water
on a smooth, textureless, matt floor under flat light (no darkening, no texture to lose, no
highlight); water outside the zone; anything while the camera moves (the background is per
fixed view; call :meth:`WaterDetector.reset` after a camera is moved).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from models.anomaly import HazardDetection
from models.faces import FaceBox, Image

MODEL_ID = "water-background-v1"
WORK_SIDE = 200
"""The zone is analysed at most this many pixels on its longer side (speed; puddles are big)."""

Float = npt.NDArray[np.float32]


def _texture(grey: Float) -> tuple[Float, Float]:
    """(local mean brightness, relative texture = blurred |Laplacian| / local mean)."""
    mean = cv2.GaussianBlur(grey, (0, 0), 3.0)
    lap = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=3))
    tex = cv2.GaussianBlur(lap, (0, 0), 3.0)
    return mean.astype(np.float32), (tex / (mean + 8.0)).astype(np.float32)


class WaterDetector:
    """The water watcher of one floor zone of one camera (stateful: keep one per zone)."""

    def __init__(
        self,
        polygon: Sequence[tuple[float, float]],
        *,
        learn_frames: int = 10,
        min_area: float = 0.02,
        dark_ratio: float = 0.12,
        smooth_ratio: float = 0.55,
        glare_ratio: float = 1.35,
        glare_max_saturation: int = 60,
        adapt_rate: float = 0.02,
    ) -> None:
        if len(polygon) < 3:
            raise ValueError("a water zone needs a polygon of at least 3 points")
        if learn_frames < 1:
            raise ValueError(f"learn_frames must be >= 1, got {learn_frames}")
        if not 0.0 < min_area <= 1.0:
            raise ValueError(f"min_area must be in (0, 1], got {min_area}")
        self._polygon = [(float(x), float(y)) for x, y in polygon]
        self._learn_frames = learn_frames
        self._min_area = min_area
        self._dark_ratio = dark_ratio
        self._smooth_ratio = smooth_ratio
        self._glare_ratio = glare_ratio
        self._glare_sat = glare_max_saturation
        self._adapt = adapt_rate
        self.reset()

    model_id = MODEL_ID

    @property
    def learned(self) -> bool:
        return self._seen >= self._learn_frames

    def reset(self) -> None:
        """Forget the background (the camera moved, or the floor was re-laid)."""
        self._seen = 0
        self._shape: tuple[int, int] | None = None
        self._bg: Float | None = None
        self._bg_tex: Float | None = None

    def _geometry(self, width: int, height: int) -> tuple[int, int, int, int, float, Float]:
        """The zone's bounding rectangle in the frame, the work scale and the zone mask."""
        pts = np.array([(x * width, y * height) for x, y in self._polygon], dtype=np.float32)
        lo, hi = np.floor(pts.min(axis=0)), np.ceil(pts.max(axis=0))
        x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
        x1, y1 = min(int(hi[0]), width), min(int(hi[1]), height)
        if x1 - x0 < 4 or y1 - y0 < 4:
            raise ValueError("the water zone is smaller than 4 pixels in this frame")
        scale = min(1.0, WORK_SIDE / max(x1 - x0, y1 - y0))
        w, h = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
        mask = np.zeros((h, w), dtype=np.uint8)
        local = ((pts - [x0, y0]) * scale).round().astype(np.int32)
        cv2.fillPoly(mask, [local], 1)
        return x0, y0, x1, y1, scale, (mask > 0).astype(np.float32)

    def detect(self, image: Image, ignore: Sequence[FaceBox] = ()) -> list[HazardDetection]:
        """One frame: learns while :attr:`learned` is False (reports nothing), then reports the
        largest wet patch in the zone, if any. ``ignore``: boxes of people (frame pixels)."""
        height, width = image.shape[:2]
        if self._shape != (height, width):
            self.reset()
            self._shape = (height, width)
        x0, y0, x1, y1, scale, zone = self._geometry(width, height)
        h, w = zone.shape
        crop = cv2.resize(image[y0:y1, x0:x1], (w, h), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)
        saturation = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)[:, :, 1].astype(np.float32)
        valid = zone.copy()
        for box in ignore:  # people, grown a little: their shadows and feet
            bx0 = round((box.x - x0 - 0.1 * box.w) * scale)
            by0 = round((box.y - y0 - 0.1 * box.h) * scale)
            bx1 = round((box.x + box.w - x0 + 0.1 * box.w) * scale)
            by1 = round((box.y + box.h - y0 + 0.1 * box.h) * scale)
            valid[max(by0, 0) : max(by1, 0), max(bx0, 0) : max(bx1, 0)] = 0.0

        if not self.learned or self._bg is None or self._bg_tex is None:
            mean, tex = _texture(grey)
            n = self._seen
            self._bg = (
                mean if self._bg is None else ((self._bg * n + mean) / (n + 1)).astype(np.float32)
            )
            self._bg_tex = (
                tex
                if self._bg_tex is None
                else ((self._bg_tex * n + tex) / (n + 1)).astype(np.float32)
            )
            self._seen += 1
            return []

        inside = valid > 0
        if inside.sum() < 0.2 * zone.sum():
            return []  # mostly hidden by people: no opinion this frame
        gain = float(np.median(self._bg[inside])) / max(float(np.median(grey[inside])), 1.0)
        mean, tex = _texture(grey * np.float32(gain))
        bg, bg_tex = self._bg, self._bg_tex
        darker = mean < bg * (1.0 - self._dark_ratio)
        smoother = tex < bg_tex * self._smooth_ratio
        glare = (mean > bg * self._glare_ratio) & (saturation < self._glare_sat)
        wet = ((darker & smoother) | glare) & inside
        wet_u8 = cv2.morphologyEx(wet.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
        count, _labels, stats, _ = cv2.connectedComponentsWithStats(wet_u8, connectivity=8)
        zone_area = float(zone.sum())
        best = 0
        for label in range(1, count):
            if stats[label, cv2.CC_STAT_AREA] > stats[best, cv2.CC_STAT_AREA] or best == 0:
                best = label
        fraction = 0.0 if best == 0 else float(stats[best, cv2.CC_STAT_AREA]) / zone_area
        if fraction < self._min_area:
            # dry: let the background follow slow changes (daylight), outside people
            rate = np.float32(self._adapt) * valid
            self._bg = (bg * (1 - rate) + mean * rate).astype(np.float32)
            self._bg_tex = (bg_tex * (1 - rate) + tex * rate).astype(np.float32)
            return []
        bx, by, bw, bh = (int(stats[best, i]) for i in range(4))
        box = FaceBox(
            x0 + int(bx / scale),
            y0 + int(by / scale),
            max(1, round(bw / scale)),
            max(1, round(bh / scale)),
        )
        score = min(1.0, 0.5 + 5.0 * (fraction - self._min_area))
        return [HazardDetection("water", score, box, MODEL_ID)]
