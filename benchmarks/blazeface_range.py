"""BlazeFace short-range vs full-range on small faces (people further from the camera), CPU.

Frames: real photos shrunk so that their faces are 16-64 px wide, pasted on scikit-image's
brick wall at 640x480 (benchmarks/edge_clips.scene), with sensor noise and JPEG compression:
insightface's ``t1.jpg`` (six faces) and scikit-image's ``astronaut`` (one). Ground truth: the
faces BlazeFace short-range finds in the full-size photo (all of them; checked by eye), scaled
with the photo. A face counts as found when a detection's centre lies inside its box and the
sizes agree within a factor of two; any other detection is a false one.

    .venv/bin/python -m benchmarks.blazeface_range [--runs 3]

Rows: the detector as the edge configures it (``min_face_px``: the smallest face it searches
for, which sets how many windows a frame costs) for each model.
"""

from __future__ import annotations

import argparse
import os
import time

import cv2
import numpy as np

from benchmarks.edge_clips import HEIGHT, WIDTH, scene
from innsight.demo import photos
from models.face_blazeface import BlazeFaceDetector
from models.faces import Image
from testkit.machine import describe_machine

FACE_SIZES = (16, 20, 24, 32, 40, 48, 64)
CONFIGS = (
    ("blazeface-short", 48),
    ("blazeface-short", 24),
    ("blazeface-short", 16),
    ("blazeface-full", 48),
    ("blazeface-full", 24),
    ("blazeface-full", 16),
)


def _truth(detector: BlazeFaceDetector, photo: Image) -> list[tuple[float, float, float, float]]:
    found = detector.detect_raw(photo)
    return [tuple(float(v) for v in box) for box in found.boxes]  # type: ignore[misc]


def frames(
    reference: BlazeFaceDetector, face_px: int, seed: int = 7
) -> list[tuple[Image, list[tuple[float, float, float, float]]]]:
    """One frame per photo with its faces ``face_px`` wide (median face), and their boxes."""
    rng = np.random.default_rng(seed + face_px)
    out = []
    for photo in (photos.group_photo(), photos.astronaut()):
        boxes = _truth(reference, photo)
        median_w = float(np.median([b[2] - b[0] for b in boxes]))
        scale = face_px / median_w
        h, w = photo.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
        if small.shape[0] > HEIGHT or small.shape[1] > WIDTH:
            continue
        x0 = int(rng.integers(0, WIDTH - small.shape[1] + 1))
        y0 = int(rng.integers(0, HEIGHT - small.shape[0] + 1))
        frame = scene()
        frame[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
        noisy = np.clip(frame.astype(np.float32) + rng.normal(0, 3, frame.shape), 0, 255)
        ok, jpeg = cv2.imencode(".jpg", noisy.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        image = np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), dtype=np.uint8)
        placed = [
            (b[0] * scale + x0, b[1] * scale + y0, b[2] * scale + x0, b[3] * scale + y0)
            for b in boxes
        ]
        out.append((image, placed))
    return out


def score(found: np.ndarray, truth: list[tuple[float, float, float, float]]) -> tuple[int, int]:
    """(faces found, false detections)."""
    hit = [False] * len(truth)
    false = 0
    for box in found:
        cx, cy, side = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0]
        for i, (x0, y0, x1, y1) in enumerate(truth):
            if x0 <= cx <= x1 and y0 <= cy <= y1 and 0.5 <= side / max(x1 - x0, 1e-6) <= 2.0:
                hit[i] = True
                break
        else:
            false += 1
    return sum(hit), false


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per frame")
    args = parser.parse_args()
    print(f"machine: {describe_machine()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    reference = BlazeFaceDetector(min_face_px=40)
    sets = {px: frames(reference, px) for px in FACE_SIZES}
    total = {px: sum(len(t) for _, t in sets[px]) for px in FACE_SIZES}
    head = " | ".join(f"{px} px" for px in FACE_SIZES)
    print(f"| model | min_face_px | {head} | false | ms a frame (median) |")
    print("|---|---|" + "---|" * len(FACE_SIZES) + "---|---|")
    for variant, min_px in CONFIGS:
        detector = BlazeFaceDetector(min_face_px=min_px, variant=variant)
        cells, false, times = [], 0, []
        for px in FACE_SIZES:
            hits = 0
            for image, truth in sets[px]:
                detector.detect_raw(image)  # warm
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    found = detector.detect_raw(image)
                    times.append(time.perf_counter() - t0)
                h, f = score(found.boxes, truth)
                hits, false = hits + h, false + f
            cells.append(f"{hits}/{total[px]}")
        ms = float(np.median(times)) * 1000
        print(f"| {variant} | {min_px} | {' | '.join(cells)} | {false} | {ms:.1f} |")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
