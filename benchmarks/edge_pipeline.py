"""Edge pipeline benchmark on the demo clip at 640x480 (CPU).

Prints per-stage medians and p95 (decode, detect, embed, match, outbox enqueue, MQTT publish to
PUBACK through a real Mosquitto on loopback) and end-to-end frames/s of decode + pipeline.

    .venv/bin/python -m benchmarks.edge_pipeline [--passes 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.machine import describe_machine
from contracts.messages import GalleryPerson, GallerySnapshot
from edge_agent.capture.opencv_source import OpenCvFrameSource
from edge_agent.capture.snapshots import JpegSnapshotEncoder
from edge_agent.domain.pipeline import FacePipeline
from edge_agent.index.hnsw_gallery import HnswFaceIndex, encode_embeddings
from edge_agent.outbox.sqlite_outbox import SqliteOutbox
from innsight.broker import MosquittoBroker, mosquitto_binary
from innsight.demo import photos
from innsight.demo.clip import build_clip
from models.face_dlib import DlibFaceAnalyzer


def _ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    arr = np.array(values) * 1000
    return f"median {np.median(arr):7.2f} ms  p95 {np.percentile(arr, 95):7.2f} ms  (n={len(arr)})"


def _gallery(analyzer: DlibFaceAnalyzer) -> HnswFaceIndex:
    portrait = photos.astronaut_portrait()
    face = max(analyzer.detect(portrait), key=lambda f: f.box.area)
    vector = analyzer.embed(portrait, face)
    index = HnswFaceIndex()
    index.replace(
        GallerySnapshot(
            version=1,
            model_id=analyzer.model_id,
            dim=analyzer.dim,
            created_at=datetime.now(UTC),
            people=[
                GalleryPerson(person_id="emp-astronaut", embeddings_b64=encode_embeddings([vector]))
            ],
        )
    )
    return index


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="innsight-bench-"))
    manifest = build_clip(workdir / "clip.avi", "emp-astronaut")
    analyzer = DlibFaceAnalyzer(upsample=1)
    index = _gallery(analyzer)

    decode: list[float] = []
    detect: list[float] = []
    embed: list[float] = []
    match: list[float] = []
    e2e_fps: list[float] = []
    events_total = 0
    pending = []
    for _ in range(args.passes):
        source = OpenCvFrameSource("lobby", str(manifest.path))
        pipeline = FacePipeline(analyzer, index, snapshot_encoder=JpegSnapshotEncoder())
        frames = 0
        tick = time.perf_counter()
        for frame in source.frames():
            decode.append(time.perf_counter() - tick)
            t0 = time.perf_counter()
            faces = analyzer.detect(frame.image)
            detect.append(time.perf_counter() - t0)
            for face in faces[:2]:  # isolated per-face cost, outside the pipeline's schedule
                t0 = time.perf_counter()
                vector = analyzer.embed(frame.image, face)
                embed.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                index.search(vector, k=1)
                match.append(time.perf_counter() - t0)
            events = pipeline.process(frame)
            pending.extend(events)
            frames += 1
            tick = time.perf_counter()
        pending.extend(pipeline.flush(frame.timestamp))
        source.close()
        stats = pipeline.stats
        decode_total = sum(decode[-frames:])
        e2e_fps.append(frames / (decode_total + stats.detect_s + stats.embed_s + stats.match_s))
        events_total = stats.events

    # outbox enqueue (SQLite WAL, synchronous=FULL) and MQTT publish -> PUBACK
    enqueue: list[float] = []
    outbox = SqliteOutbox(workdir / "outbox.db", "edge-bench", "bench")
    envelopes = []
    for event in pending:
        t0 = time.perf_counter()
        envelopes.append(outbox.enqueue(event))
        enqueue.append(time.perf_counter() - t0)
    outbox.close()

    puback: list[float] = []
    if mosquitto_binary():
        broker = MosquittoBroker(workdir=workdir / "mosquitto")
        broker.start()
        acked = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench", clean_session=False)
        client.on_publish = lambda *_a: acked.set()
        client.connect(broker.host, broker.port)
        client.loop_start()
        for _ in range(5):
            for env in envelopes:
                acked.clear()
                t0 = time.perf_counter()
                client.publish("innsight/bench/edge-bench/events/face", env.to_json_bytes(), qos=1)
                acked.wait(5)
                puback.append(time.perf_counter() - t0)
        client.loop_stop()
        client.disconnect()
        broker.stop()

    print(f"edge pipeline benchmark — {time.strftime('%Y-%m-%d')}")
    print(f"machine : {describe_machine()}, OpenCV {cv2.__version__}")
    print(
        f"clip    : {manifest.frames} frames 640x480, {manifest.appearances} appearances, "
        f"{args.passes} passes; dlib HOG upsample=1, gallery of 1"
    )
    print(f"decode  : {_ms(decode)}")
    print(f"detect  : {_ms(detect)}  (per frame)")
    print(f"embed   : {_ms(embed)}  (per face)")
    print(f"match   : {_ms(match)}  (hnswlib, per query)")
    print(f"enqueue : {_ms(enqueue)}  (outbox, SQLite WAL synchronous=FULL)")
    print(f"publish : {_ms(puback)}  (QoS 1 publish -> PUBACK, Mosquitto on loopback)")
    print(
        f"end-to-end: median {statistics.median(e2e_fps):.2f} frames/s "
        f"(decode + detect + scheduled embeds + match); "
        f"{events_total} messages (new/update/end) per pass"
    )


if __name__ == "__main__":
    main()
