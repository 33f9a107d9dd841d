"""Edge agent benchmark by the wall clock: 1, 2 and 4 cameras at 640x480 through the real agent.

Every run is a real :class:`edge_agent.app.EdgeAgent` in its own process (clean CPU and RSS
figures): capture (OpenCV, MJPG files paced at the camera's frame rate and read like a live
camera, keeping only the newest frame) -> motion gate -> detect / optical-flow track -> liveness
cues -> quality gate -> embed -> match (hnswlib gallery) -> events -> SQLite outbox -> MQTT
(a real Mosquitto on loopback). The clips (benchmarks/edge_clips.py) show people walking in and
out of a real scene with idle stretches, built from the packaged photos, with ground truth.

Reported per configuration:

- frames/s by the wall clock: frames the pipeline processed / seconds from the cameras' start to
  the end of their clips, aggregate and per camera (``offered``: what the cameras delivered;
  ``dropped``: frames replaced by a newer one before the pipeline took them);
- time from a face being entirely inside the frame to its ``new`` event leaving the pipeline for
  the outbox (median, p95; an event raised while part of the face was still outside counts 0);
  the cameras' start is taken just before their threads start, so the figure errs high by the
  few ms it takes to open a file;
- CPU (process CPU seconds / wall seconds: 2.0 is both cores of this machine), CPU ms per
  processed frame (less sensitive to other load on the machine than frames/s) and peak RSS;
- recall of appearances (one or more events overlapping the ground-truth face) and identities
  (an enrolled person's appearance whose event named them in any of its messages: the clips are
  photos, and liveness, in its default ``flag`` mode, rightly calls a photo that never blinks
  ``spoof`` and withdraws the name in a later ``update``), plus appearances given someone
  else's name, strangers (not enrolled) given a name, and events that match no appearance.

``new`` is the scheduled pipeline (motion gate, detection stride + optical flow, embeddings on
schedule) with the configured face stack (``--model``: a ``recognition.model`` backend tag or
JSON object; default: the configuration's default); ``old`` is dlib HOG on every frame,
embeddings every third sighting (``schedule.enabled: false``), the path the 2026-11-23 figures
measured. The ``backend`` column names the analyzer class (its detector) and embedding model.

    .venv/bin/python -m benchmarks.edge_pipeline [--cameras 1 2 4] [--paths new old]
        [--fps 15] [--model '{"backend": "dlib", "detector": "hog"}'] [--unpaced] [--repeats 3]

``--repeats``: each configuration runs that many times, a row each, and the latencies are
pooled over the runs (one run at four cameras has 20 appearances: its p95 is its second-slowest
event).

``--unpaced`` reads the files as fast as they decode (no frame dropped): frames/s is then the
capacity; latency is not measured (there is no camera time to measure it against).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.edge_clips import CLIP_SECONDS, Appearance, build_clips, iou_xywh, portraits
from contracts.messages import FacePayload, GalleryPerson, GallerySnapshot, Phase
from edge_agent.app import EdgeAgent
from edge_agent.config import CameraConfig, EdgeConfig, MqttConfig, RecognitionConfig
from edge_agent.domain.events import PendingEvent
from edge_agent.index.hnsw_gallery import encode_embeddings
from edge_agent.services import host_stats
from innsight.broker import MosquittoBroker
from testkit.machine import describe_machine

STRANGERS = frozenset({"t1-1", "t1-4"})
"""Never enrolled: the stranger who crosses each camera's view."""
IOU_MATCH = 0.2


@dataclass(frozen=True)
class Spec:
    path: str  # "new" | "old"
    cameras: int
    fps: float
    backend: str | None
    unpaced: bool
    clips: list[str]
    mqtt_port: int
    workdir: str


# -- one run, in its own process ----------------------------------------------------------------


OLD_MODEL = {"backend": "dlib", "detector": "hog", "upsample": 1}
"""The older path's face stack: dlib's HOG detector (upsample 1) and ResNet embedder."""


def _recognition(spec: Spec) -> RecognitionConfig:
    data: dict[str, Any] = {}
    if spec.path == "old":
        data = {"model": OLD_MODEL, "schedule": {"enabled": False}}
    elif spec.backend is not None:
        model = spec.backend
        data = {"model": json.loads(model) if model.startswith("{") else {"backend": model}}
    return RecognitionConfig.model_validate(data)


def _enrol(agent: EdgeAgent) -> None:
    analyzer = agent.analyzer
    people = []
    for person_id, photo in portraits():
        if person_id in STRANGERS:
            continue
        faces = analyzer.detect(photo)
        if not faces:
            raise RuntimeError(
                f"{analyzer.model_id}: no face in the enrolment photo of {person_id}"
            )
        face = max(faces, key=lambda f: f.box.area)
        vector = analyzer.embed(photo, face)
        people.append(
            GalleryPerson(person_id=person_id, embeddings_b64=encode_embeddings(vector[None, :]))
        )
    agent.index.replace(
        GallerySnapshot(
            version=1,
            model_id=analyzer.model_id,
            dim=analyzer.dim,
            created_at=datetime.now(UTC),
            people=people,
        )
    )


class _PeakRss:
    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, host_stats.rss_mb() or 0.0)
            self._stop.wait(0.1)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_one(spec: Spec) -> dict[str, Any]:
    workdir = Path(spec.workdir)
    config = EdgeConfig(
        device_id="edge-bench",
        site="bench",
        data_dir=workdir / "edge",
        mqtt=MqttConfig(host="127.0.0.1", port=spec.mqtt_port),
        cameras=[
            CameraConfig(
                id=f"cam{i}",
                url=clip,
                realtime=not spec.unpaced,
                live=not spec.unpaced,
            )
            for i, clip in enumerate(spec.clips)
        ],
        recognition=_recognition(spec),
        heartbeat_interval_s=3600.0,
    )
    seen: list[tuple[float, str, PendingEvent]] = []
    lock = threading.Lock()

    def observe(camera_id: str, events: list[PendingEvent]) -> None:
        now = time.time()
        with lock:
            seen.extend((now, camera_id, e) for e in events)

    agent = EdgeAgent(config, on_events=observe)
    _enrol(agent)
    agent.start()
    rss = _PeakRss()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.time()
    agent.start_cameras()
    agent.wait_cameras()
    wall = time.time() - start
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    peak = rss.stop()
    agent.stop(drain_timeout_s=2.0)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    stats = {cid: c.pipeline for cid, c in agent.cameras.items()}
    return {
        "backend": f"{type(agent.analyzer).__name__} [{agent.analyzer.model_id}]",
        "wall_s": wall,
        "cpu_cores": cpu / wall,
        "peak_rss_mb": peak,
        "start": start,
        "frames": {cid: c.frames for cid, c in agent.cameras.items()},
        "dropped": {cid: c.dropped_frames for cid, c in agent.cameras.items()},
        "detections": sum(s.detections for s in stats.values()),
        "idle_frames": sum(s.idle_frames for s in stats.values()),
        "tracked_frames": sum(s.tracked_frames for s in stats.values()),
        "embeddings": sum(s.embeddings for s in stats.values()),
        "events": [
            {
                "at": at,
                "camera": cam,
                "event_id": str(e.event_id),
                "phase": e.phase.value,
                "started_at": e.started_at.timestamp(),
                "person_id": e.payload.person_id if isinstance(e.payload, FacePayload) else None,
                "bbox": _bbox(e),
            }
            for at, cam, e in seen
            if isinstance(e.payload, FacePayload)
        ],
    }


def _bbox(event: PendingEvent) -> list[int]:
    payload = event.payload
    assert isinstance(payload, FacePayload)
    b = payload.bbox
    return [b.x, b.y, b.w, b.h]


# -- scoring ------------------------------------------------------------------------------------


@dataclass
class Score:
    appearances: int
    found: int
    enrolled: int
    named: int
    wrong_names: int
    strangers_named: int
    unmatched_events: int
    latencies: list[float]


def score(result: dict[str, Any], truth: list[Appearance], fps: float, paced: bool) -> Score:
    """Match events to ground-truth appearances (same camera, the ``new`` box overlapping the
    face near the frame the event started)."""
    events: dict[str, list[dict[str, Any]]] = {}
    for row in result["events"]:
        events.setdefault(row["event_id"], []).append(row)
    start = float(result["start"])
    matched: dict[int, list[list[dict[str, Any]]]] = {i: [] for i in range(len(truth))}
    unmatched = 0
    for messages in events.values():
        first = messages[0]
        frame = round((first["started_at"] - start) * fps)
        best, best_iou = None, IOU_MATCH
        for i, a in enumerate(truth):
            if a.camera_id != first["camera"]:
                continue
            for f in range(frame - 4, frame + 5):
                box = a.boxes.get(f)
                if box is not None and iou_xywh(box, first["bbox"]) >= best_iou:
                    best, best_iou = i, iou_xywh(box, first["bbox"])
        if best is None:
            unmatched += 1
        else:
            matched[best].append(messages)
    latencies = []
    named = wrong = strangers_named = 0
    for i, a in enumerate(truth):
        found = matched[i]
        names = {row["person_id"] for m in found for row in m} - {None}
        if a.enrolled and a.person_id in names:
            named += 1
        wrong += bool(names - {a.person_id})
        strangers_named += bool(not a.enrolled and names)
        if found and paced:
            news = [m[0]["at"] for m in found if m[0]["phase"] == Phase.NEW.value]
            if news:
                latencies.append(max(0.0, min(news) - (start + a.enter / fps)))
    return Score(
        appearances=len(truth),
        found=sum(bool(v) for v in matched.values()),
        enrolled=sum(a.enrolled for a in truth),
        named=named,
        wrong_names=wrong,
        strangers_named=strangers_named,
        unmatched_events=unmatched,
        latencies=latencies,
    )


# -- the driver ---------------------------------------------------------------------------------


def _run_in_subprocess(spec: Spec) -> dict[str, Any]:
    proc = subprocess.run(  # noqa: S603 - our own module, our own arguments
        [sys.executable, "-m", "benchmarks.edge_pipeline", "--run-one", json.dumps(spec.__dict__)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"run {spec.path}/{spec.cameras} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    arr = np.asarray(values) * 1000
    return f"{np.median(arr):.0f} / {np.percentile(arr, 95):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--paths", nargs="+", choices=["new", "old"], default=["new", "old"])
    parser.add_argument("--fps", type=float, default=15.0, help="the cameras' frame rate")
    parser.add_argument(
        "--model",
        dest="backend",
        default=None,
        help="recognition.model of 'new': a backend tag or a JSON object "
        '(e.g. \'{"backend": "dlib", "detector": "hog"}\'); default: the configured default',
    )
    parser.add_argument("--unpaced", action="store_true", help="read files as fast as possible")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="run each configuration this many times; latencies are also pooled over the runs "
        "(20 appearances at four cameras make one run's p95 its second-slowest event)",
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--run-one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_one is not None:
        print(json.dumps(run_one(Spec(**json.loads(args.run_one)))))
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="innsight-edge-bench-"))
    clips, truth = build_clips(workdir / "clips", max(args.cameras), args.fps, set(STRANGERS))
    broker = MosquittoBroker(workdir=workdir / "mosquitto")
    broker.start()
    rows = []
    try:
        runs = [(p, n, r) for r in range(args.repeats) for p in args.paths for n in args.cameras]
        for path, n, repeat in runs:
            ids = {f"cam{i}" for i in range(n)}
            cam_truth = [a for a in truth if a.camera_id in ids]
            spec = Spec(
                path=path,
                cameras=n,
                fps=args.fps,
                backend=args.backend,
                unpaced=args.unpaced,
                clips=[str(c) for c in clips[:n]],
                mqtt_port=broker.port,
                workdir=str(workdir / f"run-{path}-{n}-{repeat}"),
            )
            load = os.getloadavg()[0]
            result = _run_in_subprocess(spec)
            rows.append(
                (path, n, load, result, score(result, cam_truth, args.fps, not args.unpaced))
            )
            print(f"  done: {path} x{n} (load average {load:.2f} before the run)", flush=True)
    finally:
        broker.stop()

    print(f"\nedge agent benchmark (wall clock) — {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"machine : {describe_machine()}")
    flags = " ".join(sys.argv[1:])
    print(f"command : .venv/bin/python -m benchmarks.edge_pipeline {flags}".rstrip())
    frames_per_clip = round(CLIP_SECONDS * args.fps)
    print(
        f"clips   : 640x480 MJPG, {args.fps:g} frames/s, {frames_per_clip} frames "
        f"({CLIP_SECONDS:g} s) a camera, "
        f"5 appearances each (4 enrolled people, 1 stranger), idle stretches; "
        f"{'unpaced' if args.unpaced else 'paced like a live camera (newest frame only)'}"
    )
    print(
        "\n| path | backend | cameras | load avg | aggregate fps | per-camera fps | dropped | "
        "new-event latency median / p95 (ms) | CPU (cores) | CPU ms a frame | peak RSS (MB) | "
        "appearances found | "
        "identities named | wrong / strangers named | unmatched events | detector runs | "
        "embeddings |"
    )
    print("|" + "---|" * 17)
    for path, n, load, r, s in rows:
        frames = r["frames"]
        total = sum(frames.values())
        per_cam = ", ".join(f"{frames[c] / r['wall_s']:.1f}" for c in sorted(frames))
        print(
            f"| {path} | {r['backend']} | {n} | {load:.2f} | {total / r['wall_s']:.1f} | "
            f"{per_cam} | "
            f"{sum(r['dropped'].values())} | {_ms(s.latencies)} | {r['cpu_cores']:.2f} | "
            f"{1000 * r['cpu_cores'] * r['wall_s'] / max(total, 1):.0f} | "
            f"{r['peak_rss_mb']:.0f} | {s.found}/{s.appearances} | {s.named}/{s.enrolled} | "
            f"{s.wrong_names} / {s.strangers_named} | {s.unmatched_events} | "
            f"{r['detections']} of {total} | {r['embeddings']} |"
        )
    lat = [x for *_, s in rows for x in s.latencies]
    if lat:
        print(f"\nall latencies: median {statistics.median(lat) * 1000:.0f} ms over {len(lat)}")
    if args.repeats > 1 and not args.unpaced:
        print("\npooled over the runs (new-event latency median / p95):")
        for path in args.paths:
            for n in args.cameras:
                scores = [sc for p, m, _, _, sc in rows if p == path and m == n]
                pooled = [x for sc in scores for x in sc.latencies]
                per_run = ", ".join(
                    f"{np.percentile(np.asarray(sc.latencies) * 1000, 95):.0f}"
                    for sc in scores
                    if sc.latencies
                )
                print(
                    f"  {path} x{n}: {_ms(pooled)} ms over {len(pooled)} appearances in "
                    f"{len(scores)} runs (p95 of each run: {per_run} ms)"
                )


if __name__ == "__main__":
    main()
