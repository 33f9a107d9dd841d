"""Perception benchmark (CPU): face backends, the full face pipeline, gallery search at scale.

Prints, with the machine and the command:
1. ``invariance``: the operating threshold against edited copies (flip, scale, rotation,
   brightness, JPEG) of the very photo that was enrolled, 8 identities. This says the embedding
   does not move under those edits; it is not a recognition accuracy;
2. ``recognition``: genuine pairs that are *other images* of the person than the enrolment crop
   (the face as it appears in a 640x480 camera frame of the group photo or of the edge
   benchmark's scene, side-lit, in low light with sensor noise, motion-blurred, turned by a
   perspective warp) and impostor pairs among all 8 identities: TAR at the operating threshold,
   FAR, the impostor margin with a bootstrap interval over identities, and what 8 identities
   cannot show. Every probe is still derived from the one photo of each person the packages
   ship (no package ships two photos of one person): none of it measures ageing, expression,
   hair, glasses or a real 3-D head turn;
3. per-model latency (median, p95) at 640x480 for every face backend whose weights are present
   (dlib always; YuNet+SFace, InsightFace buffalo_l and MiniFASNet when fetched), plus the 68
   landmarks, the quality gate and the liveness cues;
4. frames/s of the full pipeline (detect, landmarks, liveness, quality gate, embed, match,
   events) with a gallery of 8 real faces + 992 random unit vectors: speed only (the filler
   changes search time, not who is recognised; accuracy is section 2);
5. hnswlib search at 10k and 100k identities: p50/p99 latency of one query and recall@1 against
   exact numpy search, for several ``ef`` (and ``M``).

    .venv/bin/python -m benchmarks.perception [--quick] [--only SECTION ...]

Gallery vectors for the search benchmark are random unit vectors (128-d), the hard case for a
graph index (no cluster structure); queries are gallery vectors moved to cosine 0.95 (a probe of
an enrolled person, like the same face in another frame) and, separately, fresh random vectors
(strangers).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import cv2
import hnswlib
import numpy as np
import numpy.typing as npt

from contracts.messages import GalleryPerson, GallerySnapshot
from edge_agent.domain.liveness import LivenessObservation, LivenessPolicy, TrackLiveness
from edge_agent.domain.matching import DEFAULT_THRESHOLD
from edge_agent.domain.pipeline import FacePipeline
from edge_agent.domain.tracking import TrackerConfig
from edge_agent.index.hnsw_gallery import HnswFaceIndex, encode_embeddings
from edge_agent.ports import Frame
from models.face_dlib import DlibFaceAnalyzer
from models.face_quality import assess
from models.faces import FaceAnalyzer, Image, ModelUnavailableError
from testkit.face_photos import (
    VARIANTS,
    packaged_photo,
    people_photos,
    robustness,
)
from testkit.machine import describe_machine

Vectors = npt.NDArray[np.float32]


# photos, edits and the invariance check: testkit/face_photos.py (shared with the tests)


# -- timing helpers -------------------------------------------------------------------------------


def _ms(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    arr = np.asarray(values) * 1000
    return (
        f"median {np.median(arr):8.3f} ms  p95 {np.percentile(arr, 95):8.3f} ms  "
        f"p99 {np.percentile(arr, 99):8.3f} ms  (n={len(arr)})"
    )


def _timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def t1_frame() -> Image:
    """t1.jpg letterboxed into a 640x480 frame: six faces of ~52 px."""
    t1 = packaged_photo("t1.jpg")
    height = round(t1.shape[0] * 640 / t1.shape[1])
    frame = np.full((480, 640, 3), 90, dtype=np.uint8)
    top = (480 - height) // 2
    frame[top : top + height] = cv2.resize(t1, (640, height), interpolation=cv2.INTER_AREA)
    return frame


def _backends() -> list[tuple[str, Callable[[], FaceAnalyzer]]]:
    from models.face_insightface import InsightFaceAnalyzer
    from models.face_yunet import YuNetSFaceAnalyzer

    return [
        ("dlib (HOG upsample=1 + ResNet on dlib)", lambda: DlibFaceAnalyzer(embedder="dlib")),
        ("dlib (HOG upsample=0 + ResNet on dlib)", lambda: _dlib(0, "dlib")),
        ("dlib (HOG upsample=1 + ResNet on ONNX Runtime)", lambda: _dlib(1, "onnx")),
        ("YuNet + SFace", YuNetSFaceAnalyzer),
        ("InsightFace buffalo_l (SCRFD-10G + ArcFace R50)", InsightFaceAnalyzer),
    ]


def _dlib(upsample: int, embedder: str, threads: int | None = None) -> DlibFaceAnalyzer:
    return DlibFaceAnalyzer(upsample=upsample, embedder=embedder, onnx_threads=threads)


def bench_embedders(repeat: int) -> None:
    """dlib's ResNet per face: dlib's forward pass against the same network on ONNX Runtime
    (CPU), with 1 and 2 intra-op threads, batches of 1 and 4 chips, and two caller threads at
    once (dlib holds the GIL and its lock; ONNX Runtime releases both)."""
    from concurrent.futures import ThreadPoolExecutor

    frame = t1_frame()
    reference = _dlib(1, "dlib")
    faces = reference.detect(frame)
    chips = [reference.align(frame, f).image for f in faces][:4]
    print(f"\n-- dlib ResNet per face ({len(chips)} chips of t1.jpg, 150 px, CPU) --")
    rows: list[tuple[str, DlibFaceAnalyzer]] = [("dlib", reference)]
    for threads in (1, 2):
        rows.append((f"ONNX Runtime, {threads} thread(s)", _dlib(1, "onnx", threads)))
    for label, analyzer in rows:
        for batch in (1, 4):

            def batches(a: DlibFaceAnalyzer = analyzer, b: int = batch) -> None:
                for i in range(0, len(chips), b):
                    a.embed_chips(chips[i : i + b])

            times = _timed(batches, repeat)
            print(f"  {label:28s} batch {batch}: {_per_face(times, len(chips))}  (per face)")
        with ThreadPoolExecutor(2) as pool:

            def two_callers(a: DlibFaceAnalyzer = analyzer) -> None:
                list(pool.map(lambda c: a.embed_chips([c]), chips))

            two = _timed(two_callers, repeat)
        print(f"  {label:28s} 2 callers: {_per_face(two, len(chips))}  (wall per face)")


def _per_face(times: list[float], faces: int) -> str:
    return _ms([t / faces for t in times])


def _bench_dlib_extras(analyzer: DlibFaceAnalyzer, frame: Image, repeat: int) -> None:
    faces = analyzer.detect(frame)
    if not faces:
        return
    lm = _timed(lambda: [analyzer.landmarks68(frame, f) for f in faces], repeat)
    print(f"  68 landmarks    : {_per_face(lm, len(faces))}  (per face)")
    points = [analyzer.landmarks68(frame, f) for f in faces]
    qa = _timed(lambda: [assess(frame, f, p) for f, p in zip(faces, points, strict=True)], repeat)
    print(f"  quality gate    : {_per_face(qa, len(faces))}  (per face)")
    b = faces[0].box
    gray = np.asarray(
        cv2.cvtColor(frame[b.y : b.y + b.h, b.x : b.x + b.w], cv2.COLOR_BGR2GRAY), dtype=np.uint8
    )
    live = TrackLiveness(LivenessPolicy())
    obs = LivenessObservation(landmarks68=points[0], face_gray=gray, glare=0.0)
    live.observe(obs)

    def one_frame() -> None:
        live.observe(obs)
        live.result()

    print(f"  liveness cues   : {_ms(_timed(one_frame, repeat))}  (per face and frame)")


def _bench_backend(name: str, analyzer: FaceAnalyzer, frame: Image, repeat: int) -> None:
    faces = analyzer.detect(frame)
    print(f"{name} [{analyzer.model_id}], {len(faces)} faces found")
    print(f"  detect          : {_ms(_timed(lambda: analyzer.detect(frame), repeat))}")
    if faces:
        emb = _timed(lambda: [analyzer.embed(frame, f) for f in faces], repeat)
        print(f"  embed (per face): {_per_face(emb, len(faces))}")


def bench_models(repeat: int) -> None:
    frame = t1_frame()
    print("\n-- per-model latency, 640x480 frame with six faces (CPU) --")
    for name, build in _backends():
        try:
            analyzer = build()
        except ModelUnavailableError as err:
            print(f"{name}: not measured: {err}")
            continue
        _bench_backend(name, analyzer, frame, repeat)
        if isinstance(analyzer, DlibFaceAnalyzer):
            _bench_dlib_extras(analyzer, frame, repeat)
    try:
        from models.liveness import MiniFasNetLiveness

        passive = MiniFasNetLiveness()
    except ModelUnavailableError as err:
        print(f"MiniFASNet-V2: not measured: {err}")
    else:
        face = DlibFaceAnalyzer().detect(frame)[0]
        print(f"  MiniFASNet-V2   : {_ms(_timed(lambda: passive(frame, face), repeat))}")


# -- pipeline speed: 8 real faces + 992 random unit vectors ----------------------------------


def _gallery(analyzer: DlibFaceAnalyzer, size: int) -> tuple[HnswFaceIndex, int]:
    people = people_photos(analyzer)
    rows: dict[str, npt.NDArray[np.float32]] = {}
    for person, photo in people.items():
        (face,) = analyzer.detect(photo)
        rows[person] = analyzer.embed(photo, face)[None, :]
    rng = np.random.default_rng(7)
    filler = rng.normal(size=(size - len(rows), analyzer.dim)).astype(np.float32)
    filler /= np.linalg.norm(filler, axis=1, keepdims=True)
    for i, vector in enumerate(filler):
        rows[f"filler-{i:05d}"] = vector[None, :]
    index = HnswFaceIndex()
    index.replace(
        GallerySnapshot(
            version=1,
            model_id=analyzer.model_id,
            dim=analyzer.dim,
            created_at=datetime.now(UTC),
            people=[
                GalleryPerson(person_id=p, embeddings_b64=encode_embeddings(v))
                for p, v in rows.items()
            ],
        )
    )
    return index, len(people)


def bench_pipeline(frames: int) -> None:
    analyzer = DlibFaceAnalyzer(upsample=1)
    index, real = _gallery(analyzer, 1000)
    base = t1_frame()
    clip = []
    for i in range(frames):  # the group sways a little, as people standing do
        matrix = np.array([[1, 0, 2 * np.sin(i / 3)], [0, 1, np.cos(i / 4)]], dtype=np.float32)
        moved = cv2.warpAffine(base, matrix, (640, 480), borderMode=cv2.BORDER_REPLICATE)
        clip.append(np.asarray(moved, dtype=np.uint8))
    print(
        f"\n-- full pipeline speed, 640x480, six faces a frame; gallery of {real} real faces + "
        f"{len(index) - real} random unit vectors (speed only: accuracy is the recognition "
        f"section) --"
    )
    for label, config, gate in (
        ("recognition only", TrackerConfig(), None),
        ("+ quality gate + liveness", TrackerConfig(liveness=LivenessPolicy()), assess),
    ):
        pipeline = FacePipeline(
            analyzer, index, config, quality_gate=gate, landmarker=analyzer if gate else None
        )
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        start = time.perf_counter()
        for i, image in enumerate(clip):
            pipeline.process(Frame("bench", i, t0 + timedelta(milliseconds=100 * i), image))
        elapsed = time.perf_counter() - start
        s = pipeline.stats
        print(
            f"{label:28s}: {frames / elapsed:6.2f} frames/s over {frames} frames; per frame: "
            f"detect {1000 * s.detect_s / frames:.1f} ms, embed {1000 * s.embed_s / frames:.1f} ms "
            f"({s.embeddings} embeddings), match {1000 * s.match_s / frames:.2f} ms, "
            f"landmarks+liveness {1000 * s.liveness_s / frames:.1f} ms; "
            f"quality-rejected {s.quality_rejected}"
        )


# -- gallery search at scale --------------------------------------------------------------------


def _unit(rng: np.random.Generator, n: int, dim: int) -> Vectors:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return np.asarray(v / np.linalg.norm(v, axis=1, keepdims=True), dtype=np.float32)


def _near(rng: np.random.Generator, base: Vectors, cos: float) -> Vectors:
    noise = _unit(rng, len(base), base.shape[1])
    noise -= (noise * base).sum(axis=1, keepdims=True) * base
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    return np.asarray(cos * base + np.sqrt(1 - cos**2) * noise, dtype=np.float32)


def _exact_times(gallery: Vectors, query: Vectors, repeat: int) -> list[float]:
    return _timed(lambda: np.argmax(gallery @ query), repeat)


def bench_search(sizes: Sequence[int], ms: Sequence[int], efs: Sequence[int], queries: int) -> None:
    dim = 128
    print(f"\n-- gallery search: hnswlib (cosine, one thread) vs exact numpy, {dim}-d --")
    for size in sizes:
        rng = np.random.default_rng(size)
        gallery = _unit(rng, size, dim)
        owners = rng.integers(0, size, queries)
        probes = _near(rng, gallery[owners], 0.95)
        strangers = _unit(rng, queries, dim)
        exact_probe = np.argmax(probes @ gallery.T, axis=1)
        exact_stranger = np.argmax(strangers @ gallery.T, axis=1)
        numpy_times = _exact_times(gallery, probes[0], 200)
        print(f"{size:>7} identities: exact numpy search {_ms(numpy_times)}")
        for m in ms:
            index = hnswlib.Index(space="cosine", dim=dim)
            t0 = time.perf_counter()
            index.init_index(max_elements=size, ef_construction=200, M=m)
            index.add_items(gallery, np.arange(size))
            build_s = time.perf_counter() - t0
            index.set_num_threads(1)
            for ef in efs:
                index.set_ef(ef)
                latency = []
                found = np.empty(queries, dtype=np.int64)
                for i, q in enumerate(probes):
                    t1 = time.perf_counter()
                    labels, _ = index.knn_query(q[None, :], k=1)
                    latency.append(time.perf_counter() - t1)
                    found[i] = labels[0, 0]
                stranger_labels, _ = index.knn_query(strangers, k=1)
                recall = float((found == exact_probe).mean())
                recall_s = float((stranger_labels[:, 0] == exact_stranger).mean())
                arr = np.asarray(latency) * 1000
                print(
                    f"  M={m:<3d} ef={ef:<4d} (build {build_s:6.1f} s): recall@1 probes "
                    f"{recall:.4f}, strangers {recall_s:.4f}; latency median "
                    f"{np.median(arr):.3f} ms, p99 {np.percentile(arr, 99):.3f} ms"
                )


SECTIONS = ("invariance", "recognition", "models", "embedders", "pipeline", "search")


def report_recognition() -> None:
    from benchmarks.face_accuracy import report

    report(DlibFaceAnalyzer(upsample=1), DEFAULT_THRESHOLD)


def report_invariance() -> None:
    result = robustness(DlibFaceAnalyzer(upsample=1))
    lowest_genuine, highest_impostor = result.closest()
    print(
        f"\n-- invariance: edited copies of the enrolment photo itself "
        f"(cosine {result.threshold}, dlib-resnet-v1) --"
    )
    print(
        "(not a recognition accuracy: every probe is the enrolled photo, edited; see the "
        "recognition section)"
    )
    print(
        f"{len({p.person for p in result.probes})} people x {len(VARIANTS)} edits "
        f"({', '.join(VARIANTS)}) = {result.genuine} edited copies, "
        f"{result.impostor_pairs} comparisons with other people"
    )
    print(
        f"edited copies above threshold for another person {len(result.false_accepts)} / "
        f"{result.impostor_pairs}; below threshold for their own "
        f"{len(result.false_rejects)} + {len(result.missed)} with no face found = "
        f"{len(result.false_rejects) + len(result.missed)} / {result.genuine}"
    )
    print(
        f"lowest genuine similarity {lowest_genuine:.3f}, highest impostor {highest_impostor:.3f}"
    )
    for p in result.missed:
        print(f"  no single face: {p.person} {p.variant} ({p.faces_found} found)")
    rejected = result.gate_rejected
    print(f"quality gate (defaults) objects to {len(rejected)} / {result.genuine} probes")
    for p in rejected:
        print(f"  gate: {p.person} {p.variant}: {'; '.join(p.quality)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--only", choices=SECTIONS, action="append", help="run only these sections (repeatable)"
    )
    args = parser.parse_args()
    sections = args.only or list(SECTIONS)
    print(f"perception benchmark — {time.strftime('%Y-%m-%d %H:%M')}")
    hnsw_version = importlib.metadata.version("hnswlib")
    print(f"machine : {describe_machine()}, OpenCV {cv2.__version__}, hnswlib {hnsw_version}")
    flags = (" --quick" if args.quick else "") + "".join(f" --only {s}" for s in args.only or [])
    print(f"command : .venv/bin/python -m benchmarks.perception{flags}")
    if "invariance" in sections:
        report_invariance()
    if "recognition" in sections:
        report_recognition()
    if "models" in sections:
        bench_models(repeat=5 if args.quick else 30)
    if "embedders" in sections:
        bench_embedders(repeat=5 if args.quick else 20)
    if "pipeline" in sections:
        bench_pipeline(frames=10 if args.quick else 40)
    if "search" in sections:
        if args.quick:
            bench_search([10_000], [32], [32, 64], 300)
        else:
            bench_search([10_000, 100_000], [16, 32], [16, 32, 64, 128], 2000)


if __name__ == "__main__":
    main()
