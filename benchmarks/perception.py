"""Perception benchmark (CPU): face backends, the full face pipeline, gallery search at scale.

Prints, with the machine and the command:
1. robustness of the operating threshold on the packaged photos: false accepts / false rejects;
2. per-model latency (median, p95) at 640x480 for every face backend whose weights are present
   (dlib always; YuNet+SFace, InsightFace buffalo_l and MiniFASNet when fetched), plus the 68
   landmarks, the quality gate and the liveness cues;
3. frames/s of the full pipeline (detect, landmarks, liveness, quality gate, embed, match, events)
   against a 1,000-person gallery;
4. hnswlib search at 10k and 100k identities: p50/p99 latency of one query and recall@1 against
   exact numpy search, for several ``ef`` (and ``M``).

    /tmp/venv/bin/python -m benchmarks.perception [--quick] [--only SECTION ...]

Gallery vectors for the search benchmark are random unit vectors (128-d), the hard case for a
graph index (no cluster structure); queries are gallery vectors moved to cosine 0.95 (a probe of
an enrolled person, like the same face in another frame) and, separately, fresh random vectors
(strangers). The 1,000-person pipeline gallery is 8 real people plus 992 random filler vectors:
filler changes search time, not who is recognised.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import cv2
import hnswlib
import numpy as np
import numpy.typing as npt

from benchmarks.machine import describe_machine
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

Vectors = npt.NDArray[np.float32]


# -- photos and variants (shared with tests/integration/test_face_robustness.py) ---------------


def packaged_photo(name: str) -> Image:
    """A photo shipped in the insightface wheel (``t1.jpg``, ``Tom_Hanks_54745.png``)."""
    dist = importlib.metadata.distribution("insightface")
    image = cv2.imread(str(dist.locate_file(f"insightface/data/images/{name}")))
    if image is None:
        raise FileNotFoundError(name)
    return np.asarray(image, dtype=np.uint8)


def astronaut_head() -> Image:
    from skimage import data as skimage_data

    rgb = skimage_data.astronaut()  # type: ignore[no-untyped-call]
    return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)[16:236, 120:320])


def people_photos(analyzer: FaceAnalyzer) -> dict[str, Image]:
    """Eight people: the astronaut, Tom Hanks and the six of t1.jpg (each cropped with a margin
    of 0.6 face widths from the full-size photo, left to right)."""
    people = {"astronaut": astronaut_head(), "hanks": packaged_photo("Tom_Hanks_54745.png")}
    t1 = packaged_photo("t1.jpg")
    for i, face in enumerate(sorted(analyzer.detect(t1), key=lambda f: f.box.x)):
        b = face.box
        margin = int(b.w * 0.6)
        crop = t1[
            max(0, b.y - margin) : b.y + b.h + margin, max(0, b.x - margin) : b.x + b.w + margin
        ]
        people[f"t1-{i}"] = np.ascontiguousarray(crop)
    return people


def rotate(image: Image, degrees: float) -> Image:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return np.asarray(cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE))


def jpeg(image: Image, quality: int) -> Image:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), dtype=np.uint8)


def scale(image: Image, factor: float) -> Image:
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(image, None, fx=factor, fy=factor, interpolation=interpolation))


VARIANTS: dict[str, Callable[[Image], Image]] = {
    "flipped": lambda im: np.ascontiguousarray(im[:, ::-1]),
    "scale-0.5": lambda im: scale(im, 0.5),
    "scale-2.0": lambda im: scale(im, 2.0),
    "rotated+15": lambda im: rotate(im, 15),
    "rotated-15": lambda im: rotate(im, -15),
    "brighter-30%": lambda im: np.asarray(cv2.convertScaleAbs(im, alpha=1.3)),
    "darker-30%": lambda im: np.asarray(cv2.convertScaleAbs(im, alpha=0.7)),
    "jpeg-40": lambda im: jpeg(im, 40),
}


@dataclass(frozen=True)
class Probe:
    person: str
    variant: str
    faces_found: int
    similarities: dict[str, float]  # to every enrolled person (empty when no single face)
    quality: tuple[str, ...] = ()  # the quality gate's objections (empty: passed)


@dataclass(frozen=True)
class Robustness:
    threshold: float
    probes: list[Probe]

    @property
    def genuine(self) -> int:
        return len(self.probes)

    @property
    def impostor_pairs(self) -> int:
        return sum(len(p.similarities) - 1 for p in self.probes if p.similarities)

    @property
    def missed(self) -> list[Probe]:
        """Probes in which the detector found no face (or several): a false reject too."""
        return [p for p in self.probes if not p.similarities]

    @property
    def gate_rejected(self) -> list[Probe]:
        """Probes the quality gate would keep from matching (a false reject in the pipeline)."""
        return [p for p in self.probes if p.quality]

    @property
    def false_rejects(self) -> list[Probe]:
        """Probes with one face whose similarity to their own enrolment is below threshold."""
        return [
            p for p in self.probes if p.similarities and p.similarities[p.person] < self.threshold
        ]

    @property
    def false_accepts(self) -> list[tuple[Probe, str]]:
        return [
            (p, other)
            for p in self.probes
            for other, s in p.similarities.items()
            if other != p.person and s >= self.threshold
        ]

    def closest(self) -> tuple[float, float]:
        """(lowest genuine similarity, highest impostor similarity)."""
        genuine = [p.similarities[p.person] for p in self.probes if p.similarities]
        impostor = [s for p in self.probes for o, s in p.similarities.items() if o != p.person]
        return min(genuine), max(impostor)


def robustness(analyzer: FaceAnalyzer, threshold: float = DEFAULT_THRESHOLD) -> Robustness:
    """Enrol each person from their photo, then probe with every variant of every photo (and
    ask the quality gate about each probe, with 68 landmarks where the backend has them)."""
    landmarker = analyzer if isinstance(analyzer, DlibFaceAnalyzer) else None
    people = people_photos(analyzer)
    enrolled: dict[str, npt.NDArray[np.float32]] = {}
    for person, photo in people.items():
        faces = analyzer.detect(photo)
        if len(faces) != 1:
            raise ValueError(f"{person}: {len(faces)} faces in the enrolment photo")
        enrolled[person] = analyzer.embed(photo, faces[0])
    probes = []
    for person, photo in people.items():
        for name, make in VARIANTS.items():
            image = make(photo)
            faces = analyzer.detect(image)
            sims: dict[str, float] = {}
            objections: tuple[str, ...] = ()
            if len(faces) == 1:
                vector = analyzer.embed(image, faces[0])
                sims = {other: float(e @ vector) for other, e in enrolled.items()}
                points = None if landmarker is None else landmarker.landmarks68(image, faces[0])
                objections = assess(image, faces[0], points).reasons
            probes.append(Probe(person, name, len(faces), sims, objections))
    return Robustness(threshold, probes)


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
        ("dlib (HOG upsample=1 + ResNet)", lambda: DlibFaceAnalyzer(upsample=1)),
        ("dlib (HOG upsample=0 + ResNet)", lambda: DlibFaceAnalyzer(upsample=0)),
        ("YuNet + SFace", YuNetSFaceAnalyzer),
        ("InsightFace buffalo_l (SCRFD-10G + ArcFace R50)", InsightFaceAnalyzer),
    ]


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


# -- the pipeline with a 1,000-person gallery ------------------------------------------------------


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
        f"\n-- full pipeline, 640x480, six faces a frame, gallery of {len(index)} people "
        f"({real} real) --"
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


SECTIONS = ("robustness", "models", "pipeline", "search")


def report_robustness() -> None:
    result = robustness(DlibFaceAnalyzer(upsample=1))
    lowest_genuine, highest_impostor = result.closest()
    print(
        f"\n-- robustness at the operating threshold (cosine {result.threshold}, dlib-resnet-v1) --"
    )
    print(
        f"{len({p.person for p in result.probes})} people x {len(VARIANTS)} variants "
        f"({', '.join(VARIANTS)}) = {result.genuine} genuine probes, "
        f"{result.impostor_pairs} impostor comparisons"
    )
    print(
        f"false accepts {len(result.false_accepts)} / {result.impostor_pairs}; "
        f"false rejects {len(result.false_rejects)} below threshold + {len(result.missed)} "
        f"with no face found = {len(result.false_rejects) + len(result.missed)} / {result.genuine}"
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
    print(f"command : /tmp/venv/bin/python -m benchmarks.perception{flags}")
    if "robustness" in sections:
        report_robustness()
    if "models" in sections:
        bench_models(repeat=5 if args.quick else 30)
    if "pipeline" in sections:
        bench_pipeline(frames=10 if args.quick else 40)
    if "search" in sections:
        if args.quick:
            bench_search([10_000], [32], [32, 64], 300)
        else:
            bench_search([10_000, 100_000], [16, 32], [16, 32, 64, 128], 2000)


if __name__ == "__main__":
    main()
