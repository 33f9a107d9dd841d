"""Build the demo's camera clip: real photos composed into 640x480 frames with camera motion.

Each segment shows one photo for a few frames (slow zoom/pan, lighting change), followed by empty
frames so every face leaves the scene: one segment's faces are one appearance each. The builder
returns the ground truth (appearances and the enrolled person's id) the demo is scored against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from innsight.demo import photos
from models.faces import Image

WIDTH, HEIGHT = 640, 480


@dataclass(frozen=True)
class Segment:
    name: str
    image: Image
    faces: int
    person_id: str | None
    scale: float
    mirror: bool = False
    brightness: float = 1.0


@dataclass(frozen=True)
class ClipManifest:
    path: Path
    frames: int
    fps: float
    appearances: int
    known_person_ids: tuple[str, ...]
    unknown_appearances: int


def _background() -> Image:
    """An empty, evenly lit wall: a smooth gradient with no texture a detector could fire on."""
    ramp = np.linspace(70, 150, WIDTH, dtype=np.float32)
    wall = np.tile(ramp, (HEIGHT, 1))
    return np.repeat(wall[:, :, None], 3, axis=2).astype(np.uint8)


def _place(segment: Segment, t: float) -> Image:
    """Frame at progress t in [0, 1]: the photo zooms in by 6% and drifts 12 px to the right."""
    frame = _background()
    image = cv2.flip(segment.image, 1) if segment.mirror else segment.image
    height, width = image.shape[:2]
    fit = min(WIDTH / width, HEIGHT / height) * segment.scale * (1.0 + 0.06 * t)
    new_w, new_h = max(1, int(width * fit)), max(1, int(height * fit))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    x0 = (WIDTH - new_w) // 2 + int(12 * t) - 6
    y0 = (HEIGHT - new_h) // 2
    # paste with clipping
    sx0, sy0 = max(0, -x0), max(0, -y0)
    dx0, dy0 = max(0, x0), max(0, y0)
    w = min(new_w - sx0, WIDTH - dx0)
    h = min(new_h - sy0, HEIGHT - dy0)
    frame[dy0 : dy0 + h, dx0 : dx0 + w] = resized[sy0 : sy0 + h, sx0 : sx0 + w]
    if segment.brightness != 1.0:
        frame = np.asarray(
            cv2.convertScaleAbs(frame, alpha=segment.brightness, beta=0), dtype=np.uint8
        )
    return frame


def demo_segments(enrolled_person_id: str) -> list[Segment]:
    return [
        # the enrolled person, seen mirrored, larger and in dimmer light than her enrolment photo
        Segment(
            "astronaut",
            photos.astronaut_portrait(),
            1,
            enrolled_person_id,
            0.8,
            mirror=True,
            brightness=0.8,
        ),
        Segment("group", photos.group_photo(), 6, None, 1.0),
        Segment("tom-hanks", photos.tom_hanks(), 1, None, 0.55),
    ]


def build_clip(
    path: Path,
    enrolled_person_id: str,
    *,
    frames_per_segment: int = 10,
    gap_frames: int = 4,
    fps: float = 10.0,
    segments: Callable[[str], list[Segment]] = demo_segments,
) -> ClipManifest:
    """Write the clip (MJPG AVI) and return its ground truth."""
    chosen = segments(enrolled_person_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter.fourcc(*"MJPG")
    writer = cv2.VideoWriter(str(path), fourcc, fps, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    count = 0
    try:
        for _ in range(gap_frames):
            writer.write(_background())
            count += 1
        for segment in chosen:
            for i in range(frames_per_segment):
                writer.write(_place(segment, i / max(frames_per_segment - 1, 1)))
                count += 1
            for _ in range(gap_frames):
                writer.write(_background())
                count += 1
    finally:
        writer.release()
    known = tuple(sorted({s.person_id for s in chosen if s.person_id is not None}))
    return ClipManifest(
        path=path,
        frames=count,
        fps=fps,
        appearances=sum(s.faces for s in chosen),
        known_person_ids=known,
        unknown_appearances=sum(s.faces for s in chosen if s.person_id is None),
    )
