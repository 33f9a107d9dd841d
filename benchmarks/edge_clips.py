"""Camera clips for the edge benchmark: people walking in and out of a real scene, with idle
stretches, built from real photos (as the demo's clip is) and written with their ground truth.

The scene is scikit-image's brick wall (a real photo, textured, tinted and lit from one side);
the people are the eight packaged portraits (the astronaut, Tom Hanks, the six of insightface's
``t1.jpg``, each cut out head and shoulders from the full-size photo). Per camera, 34 s:

======= ==================================================================================
  s      what
======= ==================================================================================
 0-2     empty scene
 2-8     one person walks in from the left (1.5 s), stands swaying a little for 3 s, walks
         out to the right (1.5 s)
 8-10    empty
 10-16.5 two people walk in from both sides, stand about 3 s, walk out the way they came
 16.5-19 empty
 19-27   one person walks in and stands perfectly still for 5 s (a still scene), walks out
 27-29   empty
 29-32   a stranger (not enrolled) crosses the frame without stopping
 32-34   empty
======= ==================================================================================

Every camera sees other people in that script (the list is rotated by the camera's number).
Each frame gets sensor noise (Gaussian, sigma 3 grey levels) and MJPG compression. The ground
truth of an appearance is its person, and the first and last frame in which the whole face box is
inside the frame (``enter`` / ``leave``): a face half outside is not expected to be found.

The faces are the enrolment photos moved, scaled, relit and compressed: recall here measures the
pipeline (gating, detection, tracking, scheduling, voting), not how the embedder copes with new
photos of a person (benchmarks/perception.py says what can be said about that).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage import data as skimage_data

from innsight.demo import photos
from models.face_dlib import DlibFaceAnalyzer
from models.faces import FaceBox, Image

WIDTH, HEIGHT = 640, 480
CLIP_SECONDS = 34.0
FACE_PX = 96
"""Face box width in the clip (a person a few metres from a lobby camera at 640x480)."""


@dataclass(frozen=True)
class Person:
    person_id: str
    cutout: Image
    face: FaceBox  # the face box inside ``cutout``


@dataclass(frozen=True)
class Appearance:
    camera_id: str
    person_id: str
    enrolled: bool
    enter: int
    leave: int
    boxes: dict[int, tuple[int, int, int, int]]
    """Frame -> the face box (x, y, w, h), for every frame in which the cutout is on screen."""


@dataclass(frozen=True)
class _Walk:
    person: Person
    start: int  # first frame on screen (partly)
    walk_in: int
    dwell: int
    walk_out: int
    from_left: bool
    stop_x: int
    y: int
    sway: bool
    brightness: float
    back: bool = False  # leaves on the side it came from (two people never cross)

    @property
    def end(self) -> int:
        return self.start + self.walk_in + self.dwell + self.walk_out


def portraits() -> list[tuple[str, Image]]:
    """The eight people at full resolution (their enrolment photos)."""
    sources: list[tuple[str, Image]] = [
        ("astronaut", photos.astronaut_portrait()),
        ("hanks", photos.tom_hanks()),
    ]
    group = photos.group_photo()
    detector = DlibFaceAnalyzer(upsample=1)  # labels the source photo: ground truth only
    for i, face in enumerate(sorted(detector.detect(group), key=lambda f: f.box.x)):
        b = face.box
        mx, top, bottom = int(b.w * 0.7), int(b.h * 0.6), int(b.h * 1.0)
        crop = group[max(0, b.y - top) : b.y + b.h + bottom, max(0, b.x - mx) : b.x + b.w + mx]
        sources.append((f"t1-{i}", np.ascontiguousarray(crop)))
    return sources


def people() -> list[Person]:
    """The eight portraits, scaled so their face box is ``FACE_PX`` wide."""
    detector = DlibFaceAnalyzer(upsample=1)
    out = []
    for person_id, image in portraits():
        (face,) = detector.detect(image)
        k = FACE_PX / face.box.w
        cutout = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        b = face.box
        box = FaceBox(round(b.x * k), round(b.y * k), round(b.w * k), round(b.h * k))
        out.append(Person(person_id, np.asarray(cutout, dtype=np.uint8), box))
    return out


def scene() -> Image:
    """The brick wall, tinted warm and lit from the left."""
    brick = np.asarray(skimage_data.brick(), dtype=np.float32)  # type: ignore[no-untyped-call]
    wall = cv2.resize(brick, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)
    light = np.linspace(1.15, 0.7, WIDTH, dtype=np.float32)[None, :]
    lit = wall * light
    bgr = np.stack([lit * 0.85, lit * 0.95, lit * 1.05], axis=2)
    return np.asarray(np.clip(bgr, 0, 255), dtype=np.uint8)


def iou_xywh(a: tuple[int, ...] | list[int], b: tuple[int, ...] | list[int]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _position(w: _Walk, frame: int) -> tuple[int, int] | None:
    """Top-left of the cutout at ``frame`` (None: not on screen)."""
    k = frame - w.start
    if k < 0 or frame >= w.end:
        return None
    cw = w.person.cutout.shape[1]
    off_left, off_right = -cw, WIDTH
    enter_x = off_left if w.from_left else off_right
    exit_x = off_right if w.from_left != w.back else off_left
    if k < w.walk_in:
        x = enter_x + (w.stop_x - enter_x) * k / max(w.walk_in, 1)
    elif k < w.walk_in + w.dwell:
        x = w.stop_x + (3 * np.sin(k / 4.0) if w.sway else 0.0)
    else:
        t = (k - w.walk_in - w.dwell) / max(w.walk_out, 1)
        x = w.stop_x + (exit_x - w.stop_x) * t
    y = w.y + (round(2 * np.sin(k / 3.0)) if w.sway and k < w.walk_in + w.dwell else 0)
    return round(x), int(y)


def _face_inside(w: _Walk, frame: int) -> bool:
    pos = _position(w, frame)
    if pos is None:
        return False
    f = w.person.face
    x, y = pos[0] + f.x, pos[1] + f.y
    return x >= 0 and y >= 0 and x + f.w <= WIDTH and y + f.h <= HEIGHT


def _paste(frame: Image, w: _Walk, pos: tuple[int, int]) -> None:
    cut = w.person.cutout
    if w.brightness != 1.0:
        cut = np.asarray(cv2.convertScaleAbs(cut, alpha=w.brightness), dtype=np.uint8)
    x0, y0 = pos
    h, cw = cut.shape[:2]
    sx, sy = max(0, -x0), max(0, -y0)
    dx, dy = max(0, x0), max(0, y0)
    ww, hh = min(cw - sx, WIDTH - dx), min(h - sy, HEIGHT - dy)
    if ww > 0 and hh > 0:
        frame[dy : dy + hh, dx : dx + ww] = cut[sy : sy + hh, sx : sx + ww]


def _script(cast: list[Person], fps: float) -> list[_Walk]:
    """The table of the module docstring; ``cast``: the four enrolled people then a stranger."""

    def s(seconds: float) -> int:
        return round(seconds * fps)

    return [
        _Walk(cast[0], s(2), s(1.5), s(3), s(1.5), True, 200, 90, True, 1.0),
        _Walk(cast[1], s(10), s(1.5), s(3), s(1.5), True, 60, 100, True, 0.85, back=True),
        _Walk(cast[2], s(10.5), s(1.5), s(2.5), s(1.5), False, 390, 80, True, 1.15, back=True),
        _Walk(cast[3], s(19), s(1.5), s(5), s(1.5), False, 300, 110, False, 1.0),
        _Walk(cast[4], s(29), s(1.5), 0, s(1.5), True, 260, 120, False, 0.95),
    ]


def build_camera_clip(
    path: Path,
    camera_id: str,
    camera_index: int,
    cast_pool: list[Person],
    strangers: set[str],
    fps: float,
    seconds: float = CLIP_SECONDS,
) -> list[Appearance]:
    """Write one camera's clip (MJPG AVI) and return its appearances."""
    enrolled = [p for p in cast_pool if p.person_id not in strangers]
    unknown = [p for p in cast_pool if p.person_id in strangers]
    r = camera_index % len(enrolled)
    rotated = enrolled[r:] + enrolled[:r]
    cast = [*rotated[:4], unknown[camera_index % len(unknown)]]
    walks = _script(cast, fps)
    background = scene()
    rng = np.random.default_rng(camera_index)
    noise = rng.normal(0.0, 3.0, (12, HEIGHT, WIDTH, 3)).round().astype(np.int16)
    frames = round(seconds * fps)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    try:
        for i in range(frames):
            frame = background.copy()
            for w in walks:
                pos = _position(w, i)
                if pos is not None:
                    _paste(frame, w, pos)
            grain = noise[int(rng.integers(len(noise)))]
            writer.write(np.asarray(np.clip(frame + grain, 0, 255), dtype=np.uint8))
    finally:
        writer.release()
    appearances = []
    for w in walks:
        inside = [i for i in range(w.start, min(w.end, frames)) if _face_inside(w, i)]
        if inside:
            pid = w.person.person_id
            boxes = {}
            for i in range(w.start, min(w.end, frames)):
                pos = _position(w, i)
                if pos is not None:
                    f = w.person.face
                    boxes[i] = (pos[0] + f.x, pos[1] + f.y, f.w, f.h)
            appearances.append(
                Appearance(camera_id, pid, pid not in strangers, inside[0], inside[-1], boxes)
            )
    return appearances


def build_clips(
    workdir: Path, cameras: int, fps: float, strangers: set[str]
) -> tuple[list[Path], list[Appearance]]:
    """Clips for ``cameras`` cameras (cached in ``workdir``) and their ground truth."""
    workdir.mkdir(parents=True, exist_ok=True)
    truth = workdir / f"truth-{cameras}-{fps:g}.json"
    paths = [workdir / f"cam{i}-{fps:g}.avi" for i in range(cameras)]
    if truth.is_file() and all(p.is_file() for p in paths):
        rows = json.loads(truth.read_text())
        for row in rows:
            row["boxes"] = {int(k): tuple(v) for k, v in row["boxes"].items()}
        return paths, [Appearance(**row) for row in rows]
    pool = people()
    appearances: list[Appearance] = []
    for i, path in enumerate(paths):
        appearances += build_camera_clip(path, f"cam{i}", i, pool, strangers, fps)
    truth.write_text(json.dumps([asdict(a) for a in appearances]))
    return paths, appearances
