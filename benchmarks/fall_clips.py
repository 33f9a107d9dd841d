"""Fall / not-fall clips for the fall-detector comparison (``benchmarks.hazards --falls``), built
from real photos, with ground truth per frame and per event.

No package we can install ships a photo or video of a person lying on a floor (we looked through
scikit-image's and insightface's data, the mediapipe wheel, human-fall-detection's and
fire-detector's wheels). So, as docs/hazards.md does for the YOLO model, **a lying person is a
real photo of people turned 90°**: the photo (people and the background they stand in) is placed
upright on scikit-image's brick wall, standing on the floor line, then tips over about its foot
to one side, lies there, and gets up again. That is a known limitation: a turned photo is not a
body on a floor (no foreshortening, no floor contact, the photo's own background turns too), and
the people in these photos are mostly upper bodies. The clips measure whether a detector tells a
body at 90° from one upright, and what it costs; not how it does on real falls.

Per clip, 34 frames (one processed hazard frame each; the edge runs hazards on a stride):

======= ==========================================================================
 frames  what
======= ==========================================================================
 0-7     upright, swaying ±3°                              ground truth: no fall
 8-11    tipping over: 22.5°, 45°, 67.5°, 90°              < 60° ignored, >= 60° fall
 12-23   lying, 90° ± 4°                                   fall (the event)
 24-27   getting up: 67.5°, 45°, 22.5°, 0°                 as above
 28-33   upright                                           no fall
======= ==========================================================================

Photos (real, in installed packages; licences as skimage/data/_fetchers.py states them):
scikit-image's ``astronaut`` (Eileen Collins, NASA, public domain) and ``camera`` (a man with a
camera on a tripod, CC0, Lav Varshney), insightface's ``t1.jpg`` (six people, upper bodies; as
the other benchmarks use it); each tips to the left and to the right. Negatives doing the same
motion (no person, ground truth never a fall): scikit-image's ``coffee`` (CC0) and ``chelsea``
(the cat, public domain; the YOLO model once called it a person); the brick wall is CC0.
``--extra PATH`` adds more photos (e.g. ultralytics' ``bus.jpg`` from a scratch copy; not in git).
Each frame gets sensor noise (sigma 3) and JPEG compression (quality 80).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage import data as skimage_data

from benchmarks.edge_clips import HEIGHT, WIDTH, scene
from innsight.demo import photos
from models.faces import Image

FLOOR_Y = 465
MAX_SIDE = 420
FALL_FROM_DEG = 60.0
UPRIGHT_UNDER_DEG = 30.0
UPRIGHT, TIP, LYING, RISE, AFTER = 8, 4, 12, 4, 6


@dataclass(frozen=True)
class ClipFrame:
    image: Image
    angle: float
    truth: bool | None
    """True: someone is lying (fall); False: nobody is; None: in between (not scored)."""


@dataclass(frozen=True)
class Clip:
    name: str
    person: bool
    frames: list[ClipFrame]


def _skimage(name: str) -> Image:
    rgb = np.asarray(getattr(skimage_data, name)(), dtype=np.uint8)
    if rgb.ndim == 2:
        return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_GRAY2BGR))
    return np.ascontiguousarray(rgb[:, :, ::-1])


def sources(extra: list[Path] | None = None) -> list[tuple[str, Image, bool]]:
    """(name, BGR photo, has people) for every clip subject."""
    out = [
        ("astronaut", photos.astronaut(), True),
        ("camera", _skimage("camera"), True),
        ("t1", photos.group_photo(), True),
    ]
    for path in extra or []:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"--extra {path}: not an image")
        out.append((path.stem, np.ascontiguousarray(image), True))
    out += [("coffee", _skimage("coffee"), False), ("chelsea", _skimage("chelsea"), False)]
    return out


def angles(rng: np.random.Generator) -> list[float]:
    """The tilt of each frame, in degrees (see the module docstring)."""
    tip = [22.5, 45.0, 67.5, 90.0]
    return (
        [float(rng.uniform(-3, 3)) for _ in range(UPRIGHT)]
        + tip
        + [90.0 + float(rng.uniform(-4, 4)) for _ in range(LYING)]
        + tip[::-1][1:]
        + [0.0]
        + [float(rng.uniform(-3, 3)) for _ in range(AFTER)]
    )


def render(background: Image, photo: Image, degrees: float, cx: float) -> Image:
    """``photo`` turned by ``degrees`` (positive: clockwise) resting on the floor line at ``cx``."""
    h, w = photo.shape[:2]
    scale = MAX_SIDE / max(h, w)
    small = cv2.resize(photo, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    matrix = cv2.getRotationMatrix2D((sw / 2, sh), -degrees, 1.0)
    corners = np.array([[0, 0, 1], [sw, 0, 1], [0, sh, 1], [sw, sh, 1]], dtype=np.float64)
    placed = corners @ matrix.T
    x0, x1 = placed[:, 0].min(), placed[:, 0].max()
    y1 = placed[:, 1].max()
    half = (x1 - x0) / 2
    centre = float(np.clip(cx, half + 5, WIDTH - half - 5))
    matrix[0, 2] += centre - (x0 + x1) / 2
    matrix[1, 2] += FLOOR_Y - y1
    warped = cv2.warpAffine(small, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.full((sh, sw), 255, np.uint8), matrix, (WIDTH, HEIGHT))
    out = background.copy()
    out[mask > 127] = warped[mask > 127]
    return out


def _finish(image: Image, rng: np.random.Generator) -> Image:
    noisy = np.clip(image.astype(np.float32) + rng.normal(0, 3, image.shape), 0, 255)
    ok, jpeg = cv2.imencode(".jpg", noisy.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), dtype=np.uint8)


def truth(degrees: float, person: bool) -> bool | None:
    if not person:
        return False
    tilt = abs(degrees)
    if tilt >= FALL_FROM_DEG:
        return True
    if tilt <= UPRIGHT_UNDER_DEG:
        return False
    return None


def build(
    extra: list[Path] | None = None, seed: int = 22, only: list[str] | None = None
) -> Iterator[Clip]:
    """The clips, one photo and direction at a time (frames are made as they are yielded);
    ``only``: the photos by name (the random draws stay those of the full set)."""
    background = scene()
    rng = np.random.default_rng(seed)
    for name, photo, person in sources(extra):
        for side, sign in (("left", -1.0), ("right", 1.0)):
            cx = WIDTH / 2 + float(rng.uniform(-60, 60))
            frames = []
            for degrees in angles(rng):
                tilt = sign * degrees
                image = _finish(render(background, photo, tilt, cx), rng)
                frames.append(ClipFrame(image, tilt, truth(tilt, person)))
            if not only or name in only:
                yield Clip(f"{name}-{side}", person, frames)
