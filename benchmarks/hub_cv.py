"""Hub CV API benchmark on CPU: per-endpoint latency (median, p95) through real HTTP, and face
recognition requests/s with 2 uvicorn workers.

Endpoints: ``/face/recognize`` (a 260x260 portrait and a 640x480 frame; gallery of 6 people
enrolled from real photos), ``/room/analyze`` (800x600, a room composed of real photos;
``analysis_depth`` detailed and quick), ``/anomaly/detect`` in the seed's request shape
(insightface's t1.jpg, 1280x886, the YOLOv8 fire and person/fall models when present; and
fire + flood + intrusion on a 640x480 floor with its camera's dry-floor reference). The OCR
and image-search figures come from ``benchmarks.ocr.ocr_latencies`` and
``benchmarks.image_search`` when those modules exist.

    .venv/bin/python -m benchmarks.hub_cv [--requests 30] [--rps-seconds 20] [--clients 4]

Seed targets: recognise < 200 ms, image search < 500 ms, OCR < 2 s.
"""

from __future__ import annotations

import argparse
import base64
import functools
import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, astuple
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
from fastapi import FastAPI

from hub.api.app import create_app
from hub.auth.keys import with_secrets
from hub.auth.local import issue_admin_token
from hub.db import create_engine, create_session_factory, init_db
from hub.gallery import detect_faces
from hub.serve import HubServerThread
from hub.settings import HubSettings
from hub.tables import Room
from hub.vision.decode import decode_image_bytes
from innsight.broker import free_port
from innsight.demo import photos
from models.face_blazeface import hub_face_analyzer
from models.face_dlib import DlibFaceAnalyzer
from models.faces import DetectedFace, FaceAnalyzer, FaceBox, Image
from testkit.machine import describe_machine

TARGETS_MS = {"recognise": 200.0, "image search": 500.0, "OCR": 2000.0}
YOLO_TYPES = ["fire", "smoke", "fall", "person"]
"""Every kind the two YOLO models report (what ``/anomaly/detect`` ran before issue 13)."""
JSON_BODY = {"content-type": "application/json"}


def _b64(image: Image, ext: str = ".jpg") -> str:
    ok, encoded = cv2.imencode(ext, image)
    if not ok:
        raise RuntimeError("encode failed")
    return base64.b64encode(encoded.tobytes()).decode()


def _recognise(image_b64: str, *, check_liveness: bool = False) -> dict[str, Any]:
    """The seed's request shape (004): image, camera_id, timestamp, check_liveness."""
    return {
        "image": image_b64,
        "camera_id": "cam_bench_01",
        "timestamp": "2025-01-17T08:30:00Z",
        "check_liveness": check_liveness,
    }


def _stats(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    arr = np.asarray(values) * 1000.0
    return f"median {np.median(arr):8.1f} ms  p95 {np.percentile(arr, 95):8.1f} ms  (n={len(arr)})"


def _frame_with(face: Image, width: int = 640, height: int = 480) -> Image:
    canvas = np.full((height, width, 3), 90, np.uint8)
    h, w = face.shape[:2]
    y, x = (height - h) // 2, (width - w) // 2
    canvas[y : y + h, x : x + w] = face
    return canvas


def _settings(data_dir: Path, port: int) -> HubSettings:
    return with_secrets(
        HubSettings.model_validate(
            {
                "data_dir": data_dir,
                "api_port": port,
                "public_base_url": f"http://127.0.0.1:{port}",
                "mqtt_enabled": False,
                "rate_limit_heavy_burst": 10_000,
                "rate_limit_heavy_per_minute": 60_000,
                "rate_limit_recognize_burst": 10_000,
                "rate_limit_recognize_per_minute": 60_000,
            }
        )
    )


async def _seed_rooms(settings: HubSettings) -> None:
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        await init_db(engine)
        async with create_session_factory(engine)() as session:
            session.add(Room(room_number="101", room_type="double", floor=1, status="cleaning"))
            await session.commit()
    finally:
        await engine.dispose()


def _time(call: Callable[[], httpx.Response], n: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        response = call()
        response.raise_for_status()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = call()
        times.append(time.perf_counter() - started)
        response.raise_for_status()
    return times


def _enrol(http: httpx.Client) -> dict[str, Image]:
    people = {"emp-astronaut": photos.astronaut_portrait(), "emp-tom": photos.tom_hanks()}
    analyzer = DlibFaceAnalyzer(upsample=1)
    group = photos.group_photo()
    for index, face in enumerate(analyzer.detect(group)):
        b = face.box
        pad = b.w // 2
        crop = group[max(0, b.y - pad) : b.y + b.h + pad, max(0, b.x - pad) : b.x + b.w + pad]
        people[f"emp-t1-{index}"] = np.ascontiguousarray(crop)
    for person, image in people.items():
        consent = {  # enrolment needs a recorded consent (issue 17)
            "employee_id": person,
            "purpose": "attendance",
            "notice_version": "face-v1",
            "notice_language": "en",
            "method": "electronic",
        }
        http.post("/api/v1/privacy/consents", json=consent).raise_for_status()
        response = http.post(
            "/api/v1/cv/face/enroll",
            json={
                "employee_id": person,
                "images": [_b64(image, ".png")],
                "metadata": {"name": person, "department": "benchmark"},
            },
        )
        if response.status_code == 422:  # the quality gate's refusal (a turned face)
            print(f"enrolment of {person} refused: {response.text[:300]}")
            continue
        response.raise_for_status()
    return people


# -- phone-sized photos: the hub's face path beside face_recognition 1.3.0 (issue 22 item 6) ----


def _noisy(image: Image, seed: int) -> Image:
    """Sensor-like noise (sigma 3) so an upscaled photo compresses like a camera's."""
    noise = np.random.default_rng(seed).normal(0.0, 3.0, image.shape)
    return np.asarray(np.clip(image.astype(np.float32) + noise, 0, 255), dtype=np.uint8)


def _fit(image: Image, width: int, height: int) -> Image:
    """``image`` scaled (bicubic) to cover ``width`` x ``height``, centre-cropped."""
    h, w = image.shape[:2]
    factor = max(width / w, height / h)
    big = cv2.resize(image, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_CUBIC)
    y, x = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    return np.ascontiguousarray(big[y : y + height, x : x + width])


def phone_photos() -> dict[str, tuple[bytes, str]]:
    """JPEG (quality 90) phone-sized photos built from the packaged ones, with the enrolled
    person each should be recognised as (its largest face):

    - the astronaut's portrait upscaled to 0.8 MP (1024 x 768) and 12 MP (3024 x 4032);
    - insightface's t1.jpg (six people) as shipped (1.1 MP) and upscaled to 3 MP and 12 MP;
    - Tom Hanks's 112 px face upscaled 6x and pasted on a blurred, upscaled t1.jpg, 2 MP.
    Upscaled images get sensor-like noise, so they compress (and decode) like camera files."""
    portrait = photos.astronaut_portrait()
    t1 = photos.group_photo()
    scene = np.asarray(cv2.GaussianBlur(_fit(t1, 1200, 1600), (0, 0), 12), dtype=np.uint8)
    hanks = cv2.resize(photos.tom_hanks(), (672, 672), interpolation=cv2.INTER_CUBIC)
    scene[400:1072, 264:936] = hanks
    built = {
        "astronaut 1024x768": (_noisy(_fit(portrait, 1024, 768), 1), "emp-astronaut"),
        "astronaut 3024x4032": (_noisy(_fit(portrait, 3024, 4032), 2), "emp-astronaut"),
        "t1 1280x886": (t1, "t1"),
        "t1 2048x1418": (_noisy(_fit(t1, 2048, 1418), 3), "t1"),
        "t1 4000x2769": (_noisy(_fit(t1, 4000, 2769), 4), "t1"),
        "hanks 1200x1600": (_noisy(scene, 5), "emp-tom"),
    }
    out = {}
    for name, (image, person) in built.items():
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise RuntimeError("encode failed")
        out[name] = (data.tobytes(), person)
    return out


def _face_recognition_baseline(
    jpegs: Mapping[str, bytes], gallery_images: Mapping[str, Image], repeats: int
) -> tuple[dict[str, list[float]], dict[str, str | None]]:
    """``face_recognition`` 1.3.0 on the same JPEG bytes: load (PIL), HOG (upsample 1), encode
    the faces, nearest enrolled person under its 0.6 tolerance (the largest face's)."""
    import io

    fr: Any = importlib.import_module("face_recognition")
    names, known = [], []
    for person, image in gallery_images.items():
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        found = fr.face_encodings(rgb)
        if found:
            names.append(person)
            known.append(found[0])
    times: dict[str, list[float]] = {}
    who: dict[str, str | None] = {}
    for name, data in jpegs.items():
        for _ in range(repeats):
            started = time.perf_counter()
            rgb = fr.load_image_file(io.BytesIO(data))
            boxes = fr.face_locations(rgb)
            largest = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]), default=None)
            answer = None
            if largest is not None:
                encoding = fr.face_encodings(rgb, [largest])[0]
                distances = fr.face_distance(known, encoding)
                best = int(np.argmin(distances))
                answer = names[best] if distances[best] <= 0.6 else None
            times.setdefault(name, []).append(time.perf_counter() - started)
            who[name] = answer
    return times, who


def _stage_times(
    analyzer: FaceAnalyzer, data: bytes, *, reduce: bool, repeats: int
) -> tuple[list[float], list[list[float]], Image, DetectedFace | None]:
    """Wall seconds of decode -> detect -> embed (the largest face) in this process, and the CPU
    seconds of each stage (decode, detect, embed) per run."""
    walls: list[float] = []
    cpus: list[list[float]] = []
    image: Image = np.zeros((1, 1, 3), np.uint8)
    largest = None
    for _ in range(repeats):
        wall, t0 = time.perf_counter(), time.process_time()
        image = decode_image_bytes(data, max_bytes=64 * 1024 * 1024, reduce=reduce)
        t1 = time.process_time()
        faces = detect_faces(analyzer, image)
        largest = max(faces, key=lambda f: f.box.area, default=None)
        t2 = time.process_time()
        if largest is not None:
            analyzer.embed(image, largest)
        walls.append(time.perf_counter() - wall)
        cpus.append([t1 - t0, t2 - t1, time.process_time() - t2])
    return walls, cpus, image, largest


def _overlap(a: FaceBox, b: FaceBox) -> int:
    return max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x)) * max(
        0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    )


def _ms(values: Sequence[float], q: float = 50) -> float:
    return float(np.percentile(values, q)) * 1e3


def old_and_new_paths(repeats: int, old_repeats: int = 1) -> None:
    """The hub's face path before issue 22 (full decode, dlib HOG upsample 1 at <= 1280 px) and
    now (reduced decode, BlazeFace at 640 px, dlib embedding from the crop), in this process:
    wall time (contended on a shared machine), CPU time (what an idle core would take) per
    stage, and whether both embed the largest face alike (cosine of the two embeddings). The
    old path embeds with dlib's own forward pass; the new one with whatever the hub runs (the
    same ResNet on ONNX Runtime where ``dlib-resnet-v1-onnx`` is fetched)."""
    old = DlibFaceAnalyzer(upsample=1, landmarks68=False, embedder="dlib")
    new = hub_face_analyzer()
    print("\nin-process decode -> detect -> embed (largest face); old = dlib HOG, new = BlazeFace")
    print(f"(embedding: old on dlib, new on {new.embedder.embedder})")
    print("(CPU ms: process time, what an idle core takes; wall ms: contended on this machine)")
    for name, (data, _) in phone_photos().items():
        ow, oc, oim, oface = _stage_times(old, data, reduce=False, repeats=old_repeats)
        nw, nc, nim, nface = _stage_times(new, data, reduce=True, repeats=repeats)
        same = "n/a"
        if oface is not None and nface is not None:  # the same person: the box over old's
            scale = nim.shape[1] / oim.shape[1]
            target = FaceBox(*(round(v * scale) for v in astuple(oface.box)))
            nface = max(detect_faces(new, nim), key=lambda f: _overlap(f.box, target))
            same = f"{float(old.embed(oim, oface) @ new.embed(nim, nface)):.3f}"
        total = [sum(run) for run in nc]
        stages = " / ".join(f"{_ms([run[i] for run in nc]):.0f}" for i in range(3))
        print(
            f"  {name:20s} new CPU median {_ms(total):5.0f} p95 {_ms(total, 95):5.0f} "
            f"(decode / detect / embed {stages}), wall median {_ms(nw):5.0f} p95 "
            f"{_ms(nw, 95):5.0f} | old CPU {_ms([sum(r) for r in oc]):6.0f} wall {_ms(ow):6.0f}"
            f" | cosine old/new {same}"
        )


def phone_photo_comparison(
    http: httpx.Client,
    gallery_images: Mapping[str, Image],
    repeats: int,
    baseline_repeats: int,
    own_process: httpx.Client | None = None,
) -> dict[str, list[float]]:
    """``/face/recognize`` on :func:`phone_photos` through HTTP, and face_recognition 1.3.0 on
    the same bytes in the same run; prints who each recognised. Returns the timings.

    ``http`` reaches the hub in a thread of this process; ``own_process`` (when given) the same
    database served by ``uvicorn`` in a process of its own, as the hub runs in production. Each
    request body is JSON-encoded once, before the clock starts: the client's encoding of a
    2-16 MB body is the client's cost, not the hub's. In one process the client and the hub
    also share the interpreter lock, so the thread figures include the client's own work."""
    built = phone_photos()
    results: dict[str, list[float]] = {}
    hub_who: dict[str, str | None] = {}
    servers = {"thread": http} | ({"process": own_process} if own_process is not None else {})
    for name, (data, _) in built.items():
        body = json.dumps(_recognise(base64.b64encode(data).decode())).encode()
        for where, client in servers.items():
            post = functools.partial(
                client.post, "/api/v1/cv/face/recognize", content=body, headers=JSON_BODY
            )
            results[f"face/recognize {name} ({where})"] = _time(post, repeats)
            hub_who[f"{name} ({where})"] = post().json()["employee_id"]
    try:
        fr_times, fr_who = _face_recognition_baseline(
            {k: v[0] for k, v in built.items()}, gallery_images, baseline_repeats
        )
    except ImportError:
        print("face_recognition is not installed: pip install --no-deps face_recognition==1.3.0")
        fr_times, fr_who = {}, {}
    print("\nphone-sized photos (JPEG q90), /face/recognize vs face_recognition 1.3.0:")
    for name, (data, expected) in built.items():
        print(f"  {name:20s} {len(data) / 1e6:4.1f} MB")
        for where in servers:
            hub = results[f"face/recognize {name} ({where})"]
            print(f"  {'':20s} hub ({where:7s}) {_stats(hub)}")
        named = ", ".join(f"hub ({where}) {hub_who[f'{name} ({where})']}" for where in servers)
        print(
            f"  {'':20s} face_recognition {_stats(fr_times.get(name, []))}\n"
            f"  {'':20s} expected {expected}, {named}, "
            f"face_recognition {fr_who.get(name, 'n/a')}"
        )
    for where in servers:
        hub_all = [v for k, vs in results.items() if k.endswith(f"({where})") for v in vs]
        print(f"  all photos, hub ({where}): {_stats(hub_all)}")
    old_and_new_paths(repeats)
    return results


def _in_process(args: argparse.Namespace, data_dir: Path) -> dict[str, list[float]]:
    import asyncio

    from testkit.rooms import REGIONS, another_shot, reference_room

    port = free_port()
    settings = _settings(data_dir, port)
    asyncio.run(_seed_rooms(settings))
    app = create_app(settings, start_ingest=False)
    results: dict[str, list[float]] = {}
    with (
        HubServerThread(app, port=port) as server,
        httpx.Client(
            base_url=server.base_url,
            timeout=60.0,
            headers={"Authorization": f"Bearer {issue_admin_token(settings)}"},
        ) as http,
    ):
        people = _enrol(http)
        if args.phone_photos:
            with (
                _hub_process(data_dir, http.headers, workers=1) as base_url,
                httpx.Client(base_url=base_url, timeout=60.0, headers=http.headers) as own,
            ):
                results |= phone_photo_comparison(
                    http, people, args.requests, args.baseline_repeats, own_process=own
                )
            if args.phone_photos_only:
                return results
        portrait = _b64(photos.astronaut_portrait())
        frame = _b64(_frame_with(photos.astronaut_portrait()))
        n = args.requests
        results["face/recognize 260x260"] = _time(
            lambda: http.post("/api/v1/cv/face/recognize", json=_recognise(portrait)), n
        )
        results["face/recognize 640x480"] = _time(
            lambda: http.post("/api/v1/cv/face/recognize", json=_recognise(frame)), n
        )
        results["face/recognize 260x260 check_liveness"] = _time(
            lambda: http.post(
                "/api/v1/cv/face/recognize", json=_recognise(portrait, check_liveness=True)
            ),
            n,
        )
        regions = [{**asdict(r), "kind": r.kind.value} for r in REGIONS]
        http.put(
            "/api/v1/cv/room/reference/double",
            json={"image": _b64(reference_room(), ".png"), "regions": regions},
        ).raise_for_status()
        shot = _b64(another_shot(reference_room()))
        for depth in ("detailed", "quick"):  # the seed's request shape; quick skips the archive
            body = {"image": shot, "room_number": "101", "analysis_depth": depth}
            results[f"room/analyze 800x600 {depth}"] = _time(
                functools.partial(http.post, "/api/v1/cv/room/analyze", json=body), n
            )
        _time_anomalies(http, results, n)
        if not args.skip_others:
            ocr = _optional("benchmarks.ocr", "ocr_latencies")
            if ocr is None:
                print("benchmarks.ocr.ocr_latencies: not present, skipped")
            else:
                _merge(results, "benchmarks.ocr.ocr_latencies", lambda: ocr(http, repeats=5))
    return results


def _time_anomalies(http: httpx.Client, results: dict[str, list[float]], n: int) -> None:
    """``/anomaly/detect`` in the seed's shape: both YOLO models on t1.jpg (fire, smoke, fall,
    person), and flood + intrusion on a 640x480 floor against its camera's dry reference."""
    from testkit import floors  # real floor photos; imported here like the rooms

    t1 = _b64(photos.group_photo())
    yolo = {"image": t1, "camera_id": "cam_lobby_01", "detection_types": YOLO_TYPES}
    detect = http.post("/api/v1/cv/anomaly/detect", json=yolo)
    if detect.status_code != 200:
        print(f"anomaly/detect skipped: {detect.status_code} {detect.text[:200]}")
        return
    results["anomaly/detect 1280x886"] = _time(
        lambda: http.post("/api/v1/cv/anomaly/detect", json=yolo), n
    )
    print(f"hazard models: {', '.join(detect.json()['models'])}")
    http.put(
        "/api/v1/cv/anomaly/reference/cam_hallway_03",
        json={
            "image": _b64(floors.dry_floor(), ".png"),
            "floor_zone": floors.FLOOR_ZONE,
            "restricted_zones": [{"name": "door", "polygon": [[0, 0], [0.2, 0], [0.2, 0.3]]}],
        },
    ).raise_for_status()
    seed = {
        "image": _b64(floors.wet_floor()),
        "camera_id": "cam_hallway_03",
        "detection_types": ["fire", "flood", "intrusion"],
        "timestamp": "2025-01-17T14:30:00Z",
    }
    results["anomaly/detect 640x480 fire+flood+intrusion"] = _time(
        lambda: http.post("/api/v1/cv/anomaly/detect", json=seed), n
    )


def worker_app() -> FastAPI:
    """The app each uvicorn worker builds (``--factory``), configured from the environment."""
    return create_app(HubSettings.from_env(os.environ), start_ingest=False)


@contextmanager
def _hub_process(data_dir: Path, headers: Mapping[str, str], workers: int) -> Iterator[str]:
    """The hub on ``data_dir`` served by ``uvicorn`` with ``workers`` processes, as in
    production (no ingest); yields its base URL once every worker has loaded its face models
    (``headers``: an admin's, for those first requests)."""
    port = free_port()
    env = {
        **os.environ,
        "INNSIGHT_DATA_DIR": str(data_dir),
        "INNSIGHT_MQTT_ENABLED": "false",
        "INNSIGHT_API_PORT": str(port),
        "INNSIGHT_RATE_LIMIT_HEAVY_BURST": "10000",
        "INNSIGHT_RATE_LIMIT_HEAVY_PER_MINUTE": "60000",
        "INNSIGHT_RATE_LIMIT_RECOGNIZE_BURST": "10000",
        "INNSIGHT_RATE_LIMIT_RECOGNIZE_PER_MINUTE": "60000",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.hub_cv:worker_app",
        "--factory",
        "--workers",
        str(workers),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "asyncio",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = subprocess.Popen(command, env=env)  # noqa: S603 - our own interpreter and module
    base = f"http://127.0.0.1:{port}"
    image = _b64(photos.astronaut_portrait())
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/cv/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("uvicorn workers did not start")
            time.sleep(0.2)
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            for _ in range(4 * workers):  # every worker loads its models on its first request
                http.post("/api/v1/cv/face/recognize", json=_recognise(image)).raise_for_status()
        yield base
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def _requests_per_second(
    args: argparse.Namespace, data_dir: Path, workers: int
) -> tuple[float, list[float]]:
    headers = {"Authorization": f"Bearer {issue_admin_token(_settings(data_dir, free_port()))}"}
    image = _b64(photos.astronaut_portrait())
    with _hub_process(data_dir, headers, workers) as base:
        latencies: list[float] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + args.rps_seconds
        done = [0]

        def client() -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
                while time.monotonic() < stop_at:
                    started = time.perf_counter()
                    response = http.post("/api/v1/cv/face/recognize", json=_recognise(image))
                    elapsed = time.perf_counter() - started
                    response.raise_for_status()
                    with lock:
                        latencies.append(elapsed)
                        done[0] += 1

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return done[0] / (time.perf_counter() - started), latencies


def _optional(module: str, function: str) -> Callable[..., Any] | None:
    try:
        found = importlib.import_module(module)
    except ImportError:
        return None
    candidate = getattr(found, function, None)
    return candidate if callable(candidate) else None


def _merge(results: dict[str, list[float]], what: str, call: Callable[[], Any]) -> None:
    """Add ``{name: [seconds, ...]}`` from another benchmark's function (OCR, image search)."""
    try:
        found = call()
    except Exception as err:  # noqa: BLE001 - a benchmark we only include
        print(f"{what} failed: {type(err).__name__}: {err}")
        return
    if isinstance(found, Mapping):
        for name, values in found.items():
            results[str(name)] = [float(v) for v in values]


def _report_image_search(results: dict[str, list[float]]) -> None:
    """The image-search benchmark starts its own hub (its model and 59 indexed photos)."""
    call = _optional("benchmarks.image_search", "search_latencies")
    if call is None:
        print("benchmarks.image_search.search_latencies: not present, skipped")
        return
    _merge(results, "benchmarks.image_search.search_latencies", call)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30, help="timed requests per endpoint")
    parser.add_argument("--rps-seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients for req/s")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-others", action="store_true", help="no OCR/image-search")
    parser.add_argument(
        "--no-phone-photos",
        dest="phone_photos",
        action="store_false",
        help="skip the phone-sized photos (and their face_recognition 1.3.0 baseline)",
    )
    parser.add_argument(
        "--phone-photos-only", action="store_true", help="only the phone-sized photos section"
    )
    parser.add_argument(
        "--baseline-repeats", type=int, default=3, help="face_recognition runs per photo"
    )
    args = parser.parse_args(argv)

    print(f"machine: {describe_machine()}")
    print(f"command: python -m benchmarks.hub_cv {' '.join(argv or sys.argv[1:])}")
    print("load average at start: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="hub-cv-bench-") as tmp:
        data_dir = Path(tmp) / "hub"
        results = _in_process(args, data_dir)
        if args.phone_photos_only:
            return 0
        if not args.skip_others:
            _report_image_search(results)
        print("\nper endpoint, through HTTP on loopback (one uvicorn worker):")
        for name, values in results.items():
            print(f"  {name:32s} {_stats(values)}")
        rps, latencies = _requests_per_second(args, data_dir, args.workers)
        print(
            f"\nface/recognize 260x260 with {args.workers} uvicorn workers, {args.clients} "
            f"clients, {args.rps_seconds:.0f} s: {rps:.1f} requests/s; {_stats(latencies)}"
        )
    print("load average at the end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    print("\nseed targets: " + ", ".join(f"{k} < {v:.0f} ms" for k, v in TARGETS_MS.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
