"""Real face photos that ship inside packages, and the invariance check over edits of them.

Shared by the tests (tests/integration/test_face_robustness.py, test_face_backends.py) and the
benchmarks (benchmarks/perception.py): the eight people are the astronaut (scikit-image), Tom
Hanks and the six of ``t1.jpg`` (the insightface wheel). The edits of :data:`VARIANTS` move an
enrolled photo, so :func:`robustness` measures invariance of the embedding to those edits, not
recognition of a person in another photo (benchmarks/face_accuracy.py does that).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from edge_agent.domain.matching import DEFAULT_THRESHOLD
from models.face_dlib import DlibFaceAnalyzer
from models.face_quality import assess
from models.faces import FaceAnalyzer, Image


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
