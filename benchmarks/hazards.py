"""Hazard detector latency at 640x480 on CPU: per model, per stage, and the edge's hazard stage.

For each YOLOv8 hazard model present (fire-yolov8-flame, fall-yolov8n): the median and p95 of
``detect()`` on real 640x480 frames (letterbox + ONNX Runtime + decode + NMS), and of the bare
``session.run`` inside it, with ONNX Runtime's default threads and with one thread; the same
``detect()`` figure for the BlazePose fall detector (pose-landmark-full: person detector + one
landmark run per person found); then the water watcher on one floor zone, and the whole edge
stage (:class:`HazardWatch`: the edge's default models, ``edge_agent.config.HAZARD_MODELS``,
water, zones, N-of-M) per processed frame.

    .venv/bin/python -m benchmarks.hazards [--runs 30] [--models-dir var/models]
    .venv/bin/python -m benchmarks.hazards --falls [--extra PHOTO ...] [--only NAME ...]

``--falls`` compares the two fall detectors on the clips of :mod:`benchmarks.fall_clips` (real
photos tipping over; ground truth per frame): ``fall-yolov8n`` (AGPL) and ``pose-landmark-full``
(BlazePose person detector + landmarks + :mod:`models.fall_pose`'s rule, Apache-2.0). Per
detector: precision and recall per frame at fall thresholds 0.5 and 0.6 (the edge default),
events (the edge's N-of-M alarm: 3 of 5 processed frames, ends after 5 without) found and false,
people found in the upright frames, and ms per frame (median, p95).

The machine line says what it ran on; the load average is printed because a shared machine's
other work shows up in these figures.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent.config import HAZARD_MODELS
from edge_agent.domain.hazards import HazardPolicy, TimeWindow, Zone
from edge_agent.ports import Frame
from edge_agent.services.hazard_watch import HazardWatch
from innsight.demo import photos
from models.anomaly import HazardDetector
from models.anomaly_water import WaterDetector
from models.anomaly_yolo import (
    SELECTABLE_HAZARD_MODEL_IDS,
    YoloHazardDetector,
    load_hazard_detectors,
)
from models.faces import Image
from models.session import available_providers
from models.yolo_decode import letterbox_geometry, place, to_input
from testkit.machine import describe_machine

W, H = 640, 480


def _frames() -> list[Image]:
    from skimage import data

    rocket = np.asarray(data.rocket(), dtype=np.uint8)[:, :, ::-1]  # type: ignore[no-untyped-call]
    images = [photos.group_photo(), photos.astronaut(), np.ascontiguousarray(rocket)]
    return [
        np.ascontiguousarray(cv2.resize(i, (W, H), interpolation=cv2.INTER_AREA)) for i in images
    ]


def _time(fn: Callable[[], Any], runs: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _line(name: str, seconds: list[float]) -> str:
    ms = np.array(seconds) * 1000
    return (
        f"  {name:<44} median {np.median(ms):8.2f} ms  p95 {np.percentile(ms, 95):8.2f} ms"
        f"  (n={len(ms)})"
    )


def _bench_detect(detector: HazardDetector, frames: list[Image], runs: int) -> str:
    cycle = iter(range(10**9))

    def detect() -> None:
        detector.detect(frames[next(cycle) % len(frames)])

    return _line(f"{detector.model_id} detect()", _time(detect, runs))


def _bench_yolo(detector: YoloHazardDetector, frames: list[Image], runs: int) -> list[str]:
    cycle = iter(range(10**9))

    def detect() -> None:
        detector.detect(frames[next(cycle) % len(frames)])

    session = detector.session
    box = letterbox_geometry(W, H, *detector.input_size)
    resized = np.asarray(cv2.resize(frames[0], (box.new_w, box.new_h)), dtype=np.uint8)
    blob = to_input(place(resized, box))
    name = session.get_inputs()[0].name

    def run() -> None:
        session.run(None, {name: blob})

    return [
        _line(f"{detector.model_id} detect()", _time(detect, runs)),
        _line(f"{detector.model_id} session.run only", _time(run, runs)),
    ]


FALL_THRESHOLDS = (0.5, 0.6)
ALARM_WINDOW, ALARM_HITS, ALARM_CLEAR = 5, 3, 5


def alarms(signals: list[bool]) -> list[tuple[int, int]]:
    """(first, last) frame of each alarm the edge's N-of-M rule raises on ``signals``: on when
    :data:`ALARM_HITS` of the last :data:`ALARM_WINDOW` frames signal, off after
    :data:`ALARM_CLEAR` frames without a signal (edge_agent.domain.hazards' defaults)."""
    out: list[tuple[int, int]] = []
    start: int | None = None
    quiet = 0
    for i, signal in enumerate(signals):
        recent = signals[max(0, i - ALARM_WINDOW + 1) : i + 1]
        if start is None:
            if sum(recent) >= ALARM_HITS:
                start, quiet = i, 0
            continue
        quiet = 0 if signal else quiet + 1
        if quiet >= ALARM_CLEAR:
            out.append((start, i))
            start = None
    if start is not None:
        out.append((start, len(signals) - 1))
    return out


def _falls(args: argparse.Namespace) -> None:
    from benchmarks import fall_clips
    from models.fall_pose_detector import PoseFallDetector

    detectors: list[Any] = []
    loaded, reasons = load_hazard_detectors(
        args.models_dir, model_ids=("fall-yolov8n",), intra_op_threads=args.threads, min_score=0.2
    )
    detectors += loaded
    for reason in reasons:
        print(f"  skipped: {reason}")
    detectors.append(PoseFallDetector(args.models_dir, intra_op_threads=args.threads, min_fall=0.2))
    print(f"clips: benchmarks/fall_clips.py, {W}x{H}; detectors: {[d.model_id for d in detectors]}")
    # per detector: (fall score, person found, truth, clip, frame index) per frame, and times
    rows: dict[str, list[tuple[float, bool, bool | None, str, int]]] = {
        d.model_id: [] for d in detectors
    }
    times: dict[str, list[float]] = {d.model_id: [] for d in detectors}
    for d in detectors:  # warm-up
        d.detect(_frames()[0])
    for clip in fall_clips.build(args.extra, only=args.only):
        for index, frame in enumerate(clip.frames):
            for d in detectors:
                t0 = time.perf_counter()
                found = d.detect(frame.image)
                times[d.model_id].append(time.perf_counter() - t0)
                fall = max((x.score for x in found if x.kind == "fall"), default=0.0)
                person = any(x.score >= 0.5 for x in found)
                rows[d.model_id].append((fall, person, frame.truth, clip.name, index))
        print(f"  {clip.name}: done ({len(clip.frames)} frames)", flush=True)
    for model_id, data in rows.items():
        print(f"{model_id}:")
        print(_line("detect() per frame", times[model_id]))
        upright = [r for r in data if r[2] is False and not r[3].startswith(("coffee", "chelsea"))]
        print(
            f"  people found in upright frames (any box >= 0.5): "
            f"{sum(r[1] for r in upright)}/{len(upright)}"
        )
        for threshold in FALL_THRESHOLDS:
            scored = [r for r in data if r[2] is not None]
            tp = sum(1 for r in scored if r[0] >= threshold and r[2])
            fp = sum(1 for r in scored if r[0] >= threshold and not r[2])
            fn = sum(1 for r in scored if r[0] < threshold and r[2])
            precision = tp / (tp + fp) if tp + fp else float("nan")
            recall = tp / (tp + fn) if tp + fn else float("nan")
            events = found_events = false_alarms = 0
            false_in: list[str] = []
            for clip_name in dict.fromkeys(r[3] for r in data):
                clip_rows = [r for r in data if r[3] == clip_name]
                lying = [r[4] for r in clip_rows if r[2]]
                raised = alarms([r[0] >= threshold for r in clip_rows])
                if lying:
                    events += 1
                    first, last = min(lying), max(lying)
                    if any(a <= last and b >= first for a, b in raised):
                        found_events += 1
                wrong = [(a, b) for a, b in raised if not lying or b < min(lying) or a > max(lying)]
                false_alarms += len(wrong)
                false_in += [clip_name] * len(wrong)
            print(
                f"  fall >= {threshold}: frames precision {precision:.2f} recall {recall:.2f}"
                f" (tp {tp}, fp {fp}, fn {fn}); events found {found_events}/{events},"
                f" false alarms {false_alarms} {sorted(set(false_in))}"
            )
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--falls", action="store_true", help="compare the fall detectors")
    parser.add_argument("--extra", type=Path, nargs="*", default=[], help="more photos (--falls)")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (--falls)")
    parser.add_argument("--only", nargs="*", default=None, help="these photos only (--falls)")
    args = parser.parse_args()
    if args.falls:
        print(f"machine: {describe_machine()}")
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        _falls(args)
        return
    logging.getLogger("edge_agent.services.hazard_watch").setLevel(logging.ERROR)  # alarms

    print(f"machine: {describe_machine()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"onnxruntime providers: {', '.join(available_providers())}")
    print(f"frames: {W}x{H} (insightface t1.jpg, scikit-image astronaut and rocket), CPU")
    frames = _frames()

    results: list[str] = []
    for threads in (None, 1):
        detectors, reasons = load_hazard_detectors(
            args.models_dir, model_ids=SELECTABLE_HAZARD_MODEL_IDS, intra_op_threads=threads
        )
        for reason in reasons:
            print(f"  skipped: {reason}")
        label = "default threads" if threads is None else f"{threads} thread"
        results.append(f"ONNX Runtime, {label}:")
        for detector in detectors:
            if isinstance(detector, YoloHazardDetector):
                results += _bench_yolo(detector, frames, args.runs)
            else:  # the pose fall detector: two models per call, no single session to time
                results.append(_bench_detect(detector, frames, args.runs))
        if threads is None:  # the edge's default models (edge_agent.config.HAZARD_MODELS)
            default_detectors = [d for d in detectors if d.model_id in HAZARD_MODELS]

    water = WaterDetector([(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)], learn_frames=3)
    for _ in range(3):
        water.detect(frames[1])
    results.append("water (classical, one floor zone of half the frame):")
    results.append(_line("water detect()", _time(lambda: water.detect(frames[1]), args.runs)))

    zone = Zone(
        "vault",
        "cam",
        ((0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (0.0, 1.0)),
        (TimeWindow(datetime.min.time(), datetime.min.time()),),
    )
    floor = Zone("floor", "cam", ((0.0, 0.6), (1.0, 0.6), (1.0, 1.0), (0.0, 1.0)), water=True)
    watch = HazardWatch(
        default_detectors,
        zones=[zone, floor],
        policy=HazardPolicy(),
        stride=1,
        water_factory=lambda z: WaterDetector(z.polygon, learn_frames=3),
    )
    t0 = datetime(2026, 11, 23, tzinfo=UTC)
    counter = iter(range(10**9))

    def stage() -> None:  # a fixed camera: the same scene every frame (t1.jpg)
        i = next(counter)
        watch.process(Frame("cam", i, t0 + timedelta(seconds=i), frames[0]))

    names = " + ".join(d.model_id for d in default_detectors)
    results.append(f"edge hazard stage (HazardWatch, default threads): {names}")
    results.append(_line("all models + water + zones per frame", _time(stage, args.runs)))
    for line in results:
        print(line)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
