"""Simulated phone photos of a flat page (a scan or a rendered document): the page tilted in 3-D
in front of a pinhole camera, turned in the plane, laid on a real texture, under a soft shadow
and a light gradient, with sensor noise and JPEG compression, at phone resolution.

SIMULATED, not photographed: the geometry and lighting are synthetic; the page and the textures
are real images. Backgrounds are scikit-image's packaged samples (all CC0): ``brick``, ``grass``,
``gravel`` (CC0Textures / DeviantArt linolafett, grey 512 px textures, tinted here) and
``coffee`` (a table photo, Rachel Michetti). Everything is drawn from the ``rng`` passed in:
the same seed gives the same photo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from skimage import data as skdata

Bgr = npt.NDArray[np.uint8]
Corners = npt.NDArray[np.float64]  # (4, 2) x, y: the page's top-left, top-right, ...

BACKGROUNDS = ("brick", "grass", "gravel", "coffee")
# BGR tints for the grey textures: a brick wall, a green mat, a grey stone counter
_TINTS = {"brick": (70, 95, 160), "grass": (70, 130, 90), "gravel": (125, 125, 120)}


@dataclass(frozen=True)
class PhotoSpec:
    pitch: float  # camera tilt about the page's horizontal axis, degrees
    yaw: float  # about its vertical axis, degrees
    roll: float  # in-plane turn, degrees (counter-clockwise)
    quarter: int  # further quarter turns of the whole photo, counter-clockwise (0..3)
    fill: float  # the page's extent as a share of the photo's (limiting axis)
    shift: tuple[float, float]  # where in the free room the page sits, 0..1 per axis
    background: str
    shadow_angle: float  # direction of the shadow's edge, degrees
    shadow_depth: float  # how much light the shadow takes, 0..1
    gradient: float  # light falling off across the photo, 0..1
    noise: float  # sensor noise sigma, grey levels
    quality: int  # JPEG quality
    size: tuple[int, int] = (3000, 4000)  # width, height before the quarter turns (12 MP)


def random_spec(
    rng: np.random.Generator,
    *,
    max_tilt: float = 15.0,
    max_roll: float = 10.0,
    quarters: tuple[float, float, float, float] = (0.6, 0.15, 0.1, 0.15),
) -> PhotoSpec:
    return PhotoSpec(
        pitch=float(rng.uniform(-max_tilt, max_tilt)),
        yaw=float(rng.uniform(-max_tilt, max_tilt)),
        roll=float(rng.uniform(-max_roll, max_roll)),
        quarter=int(rng.choice(4, p=np.asarray(quarters))),
        fill=float(rng.uniform(0.6, 0.85)),
        shift=(float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.2, 0.8))),
        background=str(rng.choice(BACKGROUNDS)),
        shadow_angle=float(rng.uniform(0, 360)),
        shadow_depth=float(rng.uniform(0.2, 0.45)),
        gradient=float(rng.uniform(0.0, 0.25)),
        noise=float(rng.uniform(1.5, 4.0)),
        quality=int(rng.integers(80, 93)),
    )


def _rotation(pitch: float, yaw: float, roll: float) -> npt.NDArray[np.float64]:
    a, b, c = (math.radians(v) for v in (pitch, yaw, roll))
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), math.sin(c), 0], [-math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return np.asarray(rz @ ry @ rx, dtype=np.float64)


def page_corners(spec: PhotoSpec, page_w: int, page_h: int) -> Corners:
    """Where the page's corners land in the photo (before the quarter turns): the page rotated
    in 3-D at 1.4 page-lengths from a pinhole camera, projected, then scaled and placed."""
    longest = max(page_w, page_h)
    half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) / 2
    flat = half * np.array([page_w / longest, page_h / longest])
    points = np.column_stack([flat, np.zeros(4)]) @ _rotation(spec.pitch, spec.yaw, spec.roll).T
    depth = points[:, 2] + 1.4
    projected = points[:, :2] / depth[:, None]
    low, high = projected.min(axis=0), projected.max(axis=0)
    width, height = spec.size
    scale = spec.fill * min(width / (high[0] - low[0]), height / (high[1] - low[1]))
    placed = (projected - low) * scale
    room = np.array([width, height]) - (high - low) * scale
    return np.asarray(placed + room * np.array(spec.shift), dtype=np.float64)


def background(name: str, width: int, height: int) -> Bgr:
    """A real texture covering ``width`` x ``height``: a grey sample tinted and mirror-tiled at
    twice its size, or the colour table photo stretched."""
    if name == "coffee":
        rgb = np.asarray(skdata.coffee(), dtype=np.uint8)  # type: ignore[no-untyped-call]
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        return np.ascontiguousarray(cv2.resize(bgr, (width, height)), dtype=np.uint8)
    grey = np.asarray(getattr(skdata, name)(), dtype=np.uint8)
    grey = np.asarray(cv2.resize(grey, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR), np.uint8)
    tile = np.block([[grey, grey[:, ::-1]], [grey[::-1, :], grey[::-1, ::-1]]])
    reps = (math.ceil(height / tile.shape[0]), math.ceil(width / tile.shape[1]))
    texture = np.tile(tile, reps)[:height, :width].astype(np.float32) / 255.0
    tint = np.array(_TINTS[name], dtype=np.float32)
    tinted = (0.45 + 0.9 * texture[:, :, None]) * tint
    return np.ascontiguousarray(np.clip(tinted, 0, 255), dtype=np.uint8)


def _lighting(spec: PhotoSpec, width: int, height: int) -> npt.NDArray[np.float32]:
    """Light falling on the scene: a linear fall-off and a soft-edged shadow (a hand or a phone)
    across part of it."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    theta = math.radians(spec.shadow_angle)
    nx, ny = math.cos(theta), math.sin(theta)
    along = ((xs - width / 2) * nx + (ys - height / 2) * ny) / math.hypot(width, height)
    light = 1.0 - spec.gradient * (along + 0.5)
    soft = 0.04
    edge = 0.15  # the shadow covers the side beyond this line
    shadow = 1.0 / (1.0 + np.exp(-(along - edge) / soft))
    return np.asarray(light * (1.0 - spec.shadow_depth * shadow), dtype=np.float32)


def photograph_page(page: Bgr, spec: PhotoSpec, rng: np.random.Generator) -> tuple[bytes, Corners]:
    """The JPEG of ``page`` photographed as ``spec`` says, and the page's corners in it
    (top-left, top-right, bottom-right, bottom-left of the page, after the quarter turns)."""
    width, height = spec.size
    page_h, page_w = page.shape[:2]
    corners = page_corners(spec, page_w, page_h)
    source = np.array(
        [[0, 0], [page_w - 1, 0], [page_w - 1, page_h - 1], [0, page_h - 1]], dtype=np.float32
    )
    matrix = cv2.getPerspectiveTransform(source, corners.astype(np.float32))
    warped = cv2.warpPerspective(page, matrix, (width, height), flags=cv2.INTER_CUBIC)
    alpha = cv2.warpPerspective(
        np.ones((page_h, page_w), np.float32), matrix, (width, height), flags=cv2.INTER_LINEAR
    )
    scene = background(spec.background, width, height).astype(np.float32)
    scene = scene * (1 - alpha[:, :, None]) + warped.astype(np.float32) * alpha[:, :, None]
    scene *= _lighting(spec, width, height)[:, :, None]
    scene = np.asarray(cv2.GaussianBlur(scene, (0, 0), 0.8), dtype=np.float32)
    scene += rng.normal(0.0, spec.noise, scene.shape).astype(np.float32)
    photo = np.clip(scene, 0, 255).astype(np.uint8)
    for _ in range(spec.quarter):
        photo = np.ascontiguousarray(np.rot90(photo))
        # a counter-clockwise quarter turn maps (x, y) to (y, old_width - 1 - x)
        corners = np.column_stack([corners[:, 1], width - 1 - corners[:, 0]])
        width, height = height, width
    ok, encoded = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, spec.quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return encoded.tobytes(), np.asarray(corners, dtype=np.float64)
