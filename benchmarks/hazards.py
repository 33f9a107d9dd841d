"""Hazard detector latency at 640x480 on CPU: per model, per stage, and the edge's hazard stage.

For each YOLOv8 hazard model present (fire-yolov8-flame, fall-yolov8n): the median and p95 of
``detect()`` on real 640x480 frames (letterbox + ONNX Runtime + decode + NMS), and of the bare
``session.run`` inside it, with ONNX Runtime's default threads and with one thread; then the
water watcher on one floor zone, and the whole edge stage (:class:`HazardWatch`: both models,
water, zones, N-of-M) per processed frame.

    /tmp/venv/bin/python -m benchmarks.hazards [--runs 30] [--models-dir var/models]

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

from benchmarks.machine import describe_machine
from edge_agent.domain.hazards import HazardPolicy, TimeWindow, Zone
from edge_agent.ports import Frame
from edge_agent.services.hazard_watch import HazardWatch
from innsight.demo import photos
from models.anomaly_water import WaterDetector
from models.anomaly_yolo import HAZARD_MODEL_IDS, YoloHazardDetector, load_hazard_detectors
from models.faces import Image
from models.session import available_providers
from models.yolo_decode import letterbox_geometry, place, to_input

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--models-dir", type=Path, default=None)
    args = parser.parse_args()
    logging.getLogger("edge_agent.services.hazard_watch").setLevel(logging.ERROR)  # alarms

    print(f"machine: {describe_machine()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"onnxruntime providers: {', '.join(available_providers())}")
    print(f"frames: {W}x{H} (insightface t1.jpg, scikit-image astronaut and rocket), CPU")
    frames = _frames()

    results: list[str] = []
    for threads in (None, 1):
        detectors, reasons = load_hazard_detectors(
            args.models_dir, model_ids=HAZARD_MODEL_IDS, intra_op_threads=threads
        )
        for reason in reasons:
            print(f"  skipped: {reason}")
        label = "default threads" if threads is None else f"{threads} thread"
        results.append(f"ONNX Runtime, {label}:")
        for detector in detectors:
            if isinstance(detector, YoloHazardDetector):
                results += _bench_yolo(detector, frames, args.runs)
        if threads is None:
            default_detectors = detectors

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

    results.append("edge hazard stage (HazardWatch, default threads):")
    results.append(_line("all models + water + zones per frame", _time(stage, args.runs)))
    for line in results:
        print(line)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
